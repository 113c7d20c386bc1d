# What one WebSocket client, or many at once, may cost the worker:
#	- a ping flood from a client that never reads: the pongs waiting for it
#	  are bounded (the worker's memory stays put) and the connection ends;
#	- a ping flood from a client that reads its pongs: it gets its share of
#	  each pass of the loop, and POSTs and /health are answered meanwhile;
#	- over wss://, once the close handshake is over (the server's close
#	  frame, the client's answer) the TLS connection ends at once, as a
#	  client library that waits for it expects; without an answer, it ends
#	  after the server's wait for it;
#	- 120 subscribers whose streams are closed together (a token created:
#	  1008) and that close together: /health answers, and the worker stops
#	  on pg_ctl stop -m fast (it used to spin forever on the closed sockets).
# The clients are test/ws_client.py's (Python's standard library).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

# 120 streams from one address: over the default per-client share of
# evproc.max_streams_per_client, which is not what this test is about
my $node = evproc_node('ws_limits', "evproc.max_streams_per_client = 0\n");
my $port = http_port($node);
my $client = "$FindBin::RealBin/../ws_client.py";
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $path = '/userEvents/l1/stream';

is(add_revenue($port, 'l1', 5), 200, 'an event for the streams');
rotate($node);

# timed_get($path, $timeout): (status or undef, seconds) of a GET
sub timed_get
{
	my ($p, $timeout) = @_;
	my $t = time;
	my $conn = http_connect($port);
	return (undef, time - $t) unless $conn;
	my ($status) = http_request($conn, 'GET', $p, undef, $timeout);
	close($conn->{sock});
	return ($status, time - $t);
}

# timed_post: (status or undef, seconds) of one event POSTed
sub timed_post
{
	my ($user, $timeout) = @_;
	my $t = time;
	my $conn = http_connect($port);
	return (undef, time - $t) unless $conn;
	my ($status) = http_request($conn, 'POST', '/liveEvent',
		event_json($user, 'add_revenue', 1), $timeout);
	close($conn->{sock});
	return ($status, time - $t);
}

# rss_kb($pid): the resident memory of a process, in kB
sub rss_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return 0;
	my ($kb) = join('', <$fh>) =~ /^VmRSS:\s+(\d+)/m;
	return $kb // 0;
}

# client($mode, $seconds, @headers): a WebSocket client started in the
# background; returns (handle, \$out)
sub client
{
	my ($mode, $seconds, @headers) = @_;
	my $out = '';
	my $h = IPC::Run::start(
		[ 'python3', $client, $port, $path, $mode, $seconds, @headers ],
		'<', \undef, '>', \$out, '2>', \*STDERR);
	return ($h, \$out);
}

# wait_out($h, $out, $re, $timeout): pumps a client until its output
# matches $re; true if it did in time
sub wait_out
{
	my ($h, $out, $re, $timeout) = @_;
	my $deadline = time + $timeout;
	while ($$out !~ $re && time < $deadline && $h->pumpable)
	{
		$h->pump_nb;
		usleep(50_000);
	}
	return $$out =~ $re;
}

my $wpid = worker_pid($node);

# 1. A ping flood from a client that never reads.  Its pongs used to be
# queued without bound (hundreds of MB in seconds); the flood is stopped
# here if the worker grows by more than 200 MB, so that a failure does not
# take the machine's memory.
{
	my $rss0 = rss_kb($wpid);
	my ($h, $out) = client('pingflood', 30);
	my $max = $rss0;
	my ($health, $health_s);
	my $t0 = time;
	while ($h->pumpable && time < $t0 + 40)
	{
		$h->pump_nb;
		my $rss = rss_kb($wpid);
		$max = $rss if $rss > $max;
		if ($rss - $rss0 > 200 * 1024)
		{
			$h->kill_kill;
			last;
		}
		($health, $health_s) = timed_get('/health', 10)
		  if !defined $health && time > $t0 + 2;
		usleep(200_000);
	}
	$h->kill_kill if $h->pumpable;
	$h->finish;
	note("worker RSS $rss0 kB before, $max kB at most; client: $$out");
	cmp_ok($max - $rss0, '<', 50 * 1024,
		'a ping flood that is not read: the worker grows by less than 50 MB');
	like($$out, qr/^dropped after/m,
		'... and the connection is ended (its pongs over the bound)');
	is($health, 200, '/health answers during the flood');
	cmp_ok($health_s // 99, '<', 5, '... promptly');
}

# 2. A ping flood from a client that reads its pongs: POSTs and /health
# are answered meanwhile (the loop used to read it until it paused).
{
	my ($h, $out) = client('pingread', 8);
	usleep(1_500_000);
	my ($slowest, @bad) = (0);
	for my $i (1 .. 5)
	{
		my ($status, $s) = timed_post("flood$i", 10);
		push @bad, ($status // 'none') if ($status // 0) != 200;
		$slowest = $s if $s > $slowest;
	}
	my ($health, $health_s) = timed_get('/health', 10);
	$h->finish;
	note("client: $$out; slowest POST ${slowest}s, /health ${health_s}s");
	is("@bad", '', 'POSTs during a ping flood that is read: all 200');
	cmp_ok($slowest, '<', 3, '... each answered promptly');
	is($health, 200, '... and /health too');
	like($$out, qr/^pongs [1-9]/m, 'the flooding client got its pongs');
}

# 3. Over wss://: once the client answers the server's close frame, the
# TLS connection ends at once (the client does not wait for its timeout).
make_cert($tmp, 'ws');
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_cert_file = '$tmp/ws.crt'");
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_key_file = '$tmp/ws.key'");
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');

# wait_worker($https): a reload that turns HTTPS on or off has the worker
# restart itself (back within 5 s); waits for the new one to answer on its
# port, over HTTPS if $https
sub wait_worker
{
	my ($https) = @_;
	my $deadline = time + 30;
	while (time < $deadline)
	{
		my ($out, $err) = ('', '');
		IPC::Run::run(
			[
				'curl', '-s', '--max-time', '5', '-o', '/dev/null',
				'-w', '%{http_code}',
				$https ? ('--cacert', "$tmp/ws.crt") : (),
				($https ? 'https' : 'http') . "://127.0.0.1:$port/health"
			],
			'<', \undef, '>', \$out, '2>', \$err);
		return 1 if $out eq '200';
		usleep(200_000);
	}
	return 0;
}
ok(wait_worker(1), 'the worker speaks HTTPS');
{
	local $ENV{WS_CA} = "$tmp/ws.crt";
	my ($h, $out) = client('closewait', 15);
	usleep(1_500_000);
	# a token created: every stream is closed (1008)
	my $token = $node->safe_psql('postgres',
		"SELECT evproc_create_token('ws-limits-one')");
	$h->finish;
	note("client: $$out");
	like($$out, qr/^close 03f0 eof \d+$/m,
		'wss://: the server closes with 1008, and the connection ends');
	my ($ms) = $$out =~ /eof (\d+)/;
	cmp_ok($ms // 99999, '<', 1000,
		'... within a second of the client answering the close frame');

	# a client that does not answer: the connection ends after the server's
	# wait for the answer (2 s)
	($h, $out) = client('closemute', 15, "Authorization: Bearer $token");
	usleep(1_500_000);
	$node->safe_psql('postgres', "SELECT evproc_create_token('ws-limits-mute')");
	$h->finish;
	note("client: $$out");
	like($$out, qr/^close 03f0 eof \d+$/m,
		'wss://, a client that does not answer the close: the connection ends');
	($ms) = $$out =~ /eof (\d+)/;
	cmp_ok($ms // 99999, '<', 6000, '... within 6 s');

	# 4. 120 subscribers closed together, over plain HTTP
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET evproc.tls_cert_file');
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET evproc.tls_key_file');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	delete $ENV{WS_CA};
	ok(wait_worker(0), 'the worker speaks plain HTTP again');
	$wpid = worker_pid($node);

	($h, $out) = client('many:120', 30, "Authorization: Bearer $token");
	wait_out($h, $out, qr/^open|^refused/m, 60);
	like($$out, qr/^open 120$/m, '120 WebSocket subscribers');
	$node->safe_psql('postgres', "SELECT evproc_create_token('ws-limits-two')");
	wait_out($h, $out, qr/^closed/m, 40);
	$h->finish;
	like($$out, qr/^closed 120$/m,
		'a token created: each got a close frame, and they all closed');
}
usleep(500_000);
my ($health, $health_s) = timed_get('/health', 10);
is($health, 200, 'then /health answers');
cmp_ok($health_s, '<', 5, '... promptly');

# pg_ctl stop -m fast stops the worker (a bounded wait; kill -9 if not)
my ($sout, $serr) = ('', '');
my $stopped = IPC::Run::run(
	[
		'pg_ctl', '-D', $node->data_dir, '-m', 'fast', '-t', '30', '-w',
		'stop'
	],
	'<', \undef, '>', \$sout, '2>', \$serr);
ok($stopped, 'pg_ctl stop -m fast stops the server');
if (!$stopped)
{
	# no psql now (the postmaster is shutting down): kill -9 the worker
	# and the postmaster, and wait for them
	diag("pg_ctl: $sout $serr");
	my @pids = grep { $_ } ($wpid, $node->{_pid});
	kill 'KILL', $wpid if $wpid;
	$node->kill9;
	wait_for_pids_gone(\@pids, 30);
}
else
{
	$node->_update_pid(0);
}

done_testing();
