# HTTPS: evproc.tls_cert_file and evproc.tls_key_file, with self-signed
# certificates made by openssl here.
#	- a reload that turns HTTPS on with one setting only, or with a key
#	  that does not match, only logs and the port stays plain; with both
#	  good, the worker restarts itself and the port speaks TLS only;
#	- POST (counted once), GET, an SSE stream and a WebSocket (wss://) over
#	  HTTPS, and POSTs pipelined in records written at once; plain HTTP on
#	  the port gets a 400 saying to use https://;
#	- each reply goes out as one TLS record, at once; a client that does
#	  not read its pipelined replies gets them all, while the worker holds
#	  one at a time and answers others meanwhile, and is cut once it has
#	  read nothing for evproc.connection_timeout;
#	- a renewed certificate is picked up on reload: new connections get it,
#	  while the worker, its journal and a stream opened before go on;
#	- a bad certificate, a key that does not match, a key file that group
#	  or others may read, or one setting without the other: logged on
#	  reload, and the certificate in force stays; at start the worker does
#	  not start (and starts once the key file is fixed);
#	- a reload that turns HTTPS off restarts the worker too: plain HTTP
#	  again, without pg_terminate_backend.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Copy;
use IO::Select;
use IO::Socket::SSL;
use Socket qw(IPPROTO_TCP);
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $client = "$FindBin::RealBin/../ws_client.py";
my $tls_client = "$FindBin::RealBin/../tls_client.py";

make_cert($tmp, 'one', 1);
make_cert($tmp, 'two', 2);
make_cert($tmp, 'three', 3);

my $node = evproc_node('tls');
my $port = http_port($node);
my $data = $node->data_dir;

# the certificate in force is a copy in the data directory, named
# relatively, as a renewal job would overwrite it
sub install_cert
{
	my ($crt, $key) = @_;
	copy("$tmp/$crt.crt", "$data/server.crt.new") or die "copy: $!";
	copy("$tmp/$key.key", "$data/server.key.new") or die "copy: $!";
	chmod 0600, "$data/server.key.new";
	rename("$data/server.crt.new", "$data/server.crt") or die "rename: $!";
	rename("$data/server.key.new", "$data/server.key") or die "rename: $!";
}

# curl_https($ca, @args): curl against the node over HTTPS, checking its
# certificate with $ca; returns (HTTP status or 0, body)
sub curl_https
{
	my ($ca, $method, $path, $body) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (
		'curl', '-s', '--max-time', '10', '--cacert', "$tmp/$ca.crt",
		'-o', '-', '-w', '\n%{http_code}', '-X', $method);
	push @cmd, ('-H', 'Content-Type: application/json', '-d', $body)
	  if defined $body;
	IPC::Run::run([ @cmd, "https://127.0.0.1:$port$path" ],
		'<', \undef, '>', \$out, '2>', \$err);
	my ($reply, $status) = $out =~ /^(.*)\n(\d+)$/s;
	return (($status // 0) + 0, $reply // '');
}

sub post
{
	my ($ca, $user, $value) = @_;
	my ($status) = curl_https($ca, 'POST', '/liveEvent',
		qq({"userId":"$user","name":"add_revenue","value":$value}));
	return $status;
}

# peer_cert: the subject and serial of the certificate a new connection gets
sub peer_cert
{
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'openssl', 's_client', '-connect', "127.0.0.1:$port" ],
		'<', \undef, '|',
		[ 'openssl', 'x509', '-noout', '-subject', '-serial' ],
		'>', \$out, '2>', \$err);
	my ($cn) = $out =~ /CN ?= ?(\S+)/;
	my ($serial) = $out =~ /serial=(\w+)/;
	return ($cn // 'none') . ' ' . ($serial // 'none');
}

# sse($ca, $path): an SSE subscriber over HTTPS (curl -N)
my $sse_n = 0;
sub sse
{
	my ($ca, $path) = @_;
	my $out = "$tmp/sse" . ++$sse_n;
	my $h = IPC::Run::start(
		[
			'curl', '-sN', '--cacert', "$tmp/$ca.crt", '-o', $out,
			"https://127.0.0.1:$port$path"
		],
		'<', \undef);
	return { h => $h, out => $out };
}

# sse_wait($sub, $regexp): waits (10 s) until the stream has $regexp
sub sse_wait
{
	my ($s, $re) = @_;
	my $deadline = time + 10;
	while (time < $deadline)
	{
		return 1 if -s $s->{out} && slurp_file($s->{out}) =~ $re;
		usleep(50_000);
	}
	diag('stream: ' . (-e $s->{out} ? slurp_file($s->{out}) : '(nothing)'));
	return 0;
}

# ws($ca, $path, $mode, $seconds): the WebSocket client's lines, over wss://
sub ws
{
	my ($ca, $path, $mode, $seconds) = @_;
	my ($out, $err) = ('', '');
	local $ENV{WS_CA} = "$tmp/$ca.crt";
	IPC::Run::run([ 'python3', $client, $port, $path, $mode, $seconds ],
		'<', \undef, '>', \$out, '2>', \$err);
	diag($err) if $err ne '';
	return split /\n/, $out;
}

# tls_client($mode, @args): test/tls_client.py's lines (over HTTPS, the
# certificate "one")
sub tls_client
{
	my ($mode, @args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'python3', $tls_client, $mode, $port, "$tmp/one.crt", @args ],
		'<', \undef, '>', \$out, '2>', \$err);
	diag($err) if $err ne '';
	return split /\n/, $out;
}

# cpu_ticks($pid): the CPU time (user and system) of process $pid so far,
# in clock ticks (/proc/PID/stat, fields counted after the command's ")")
sub cpu_ticks
{
	my ($pid) = @_;
	my @f = split ' ', slurp_file("/proc/$pid/stat") =~ s/^.*\) //sr;
	return $f[11] + $f[12];
}

sub reload
{
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
}

# restart_worker: ends the worker, which the postmaster starts again
# within 5 s; waits until it is gone
sub restart_worker
{
	my $pid = worker_pid($node);
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	query_until($node,
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0', 30);
}

# wait_https($ca): waits (30 s) until the port answers over HTTPS
sub wait_https
{
	my ($ca) = @_;
	my $deadline = time + 30;
	while (time < $deadline)
	{
		my ($status) = curl_https($ca, 'GET', '/health');
		return 1 if $status == 200;
		usleep(100_000);
	}
	return 0;
}

# 1. Turning HTTPS on by reload: not with one setting only, nor with a key
# that does not match (the port stays plain); with both good, the worker
# restarts itself.
install_cert('one', 'two');
my $offset = -s $node->logfile;
my $pid_before = worker_pid($node);
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_cert_file = 'server.crt'");
reload();
ok(log_match($node, qr/evproc.tls_cert_file is set but evproc.tls_key_file is not; the HTTP server still speaks plain HTTP/, $offset),
	'a reload with the certificate alone says the port stays plain');
$offset = -s $node->logfile;
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_key_file = 'server.key'");
reload();
ok(log_match($node, qr/HTTPS was not turned on; the HTTP server still speaks plain HTTP/, $offset),
	'a reload with a key that does not match says the port stays plain');
my ($status) = http_post($port, '/liveEvent',
	'{"userId":"p1","name":"add_revenue","value":1}');
is($status, 200, '... and the port still speaks plain HTTP');
is(worker_pid($node), $pid_before, '... by the same worker');

install_cert('one', 'one');
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/HTTPS is turned on: the worker restarts to apply it/, $offset),
	'a reload with both files good turns HTTPS on: the worker restarts');
ok(wait_https('one'), '... and the port speaks HTTPS');
isnt(worker_pid($node), $pid_before, '... served by a new worker');
ok(log_match($node, qr/HTTPS certificate loaded: "CN=evproc-test-one", serial 01/, $offset),
	'... and the certificate loaded is logged');
is(peer_cert(), 'evproc-test-one 01', 'a connection gets the certificate');

# 2. Everything over HTTPS
is(post('one', 'u1', 5), 200, 'POST over HTTPS: 200');
rotate($node);
is(revenue_of($node, 'u1')->{u1}, 5, '... counted once');
my $body;
($status, $body) = curl_https('one', 'GET', '/userEvents/u1');
is($status, 200, 'GET over HTTPS: 200');
like($body, qr/"revenue": 5\b/, '... with the revenue');
($status, $body) = curl_https('one', 'GET', '/health');
is($status, 200, 'a plain GET (/health) over HTTPS: 200');
($status, $body) = curl_https('one', 'GET', '/dashboard');
is($status, 200, 'the dashboard over HTTPS: 200');
like($body, qr/<html/i, '... the page');
($status, $body) = curl_https('one', 'GET', '/topUsers?limit=1');
is($status, 200, '/topUsers over HTTPS: 200');
like($body, qr/"userId": "u1"/, '... with the top user');

# Three POSTs in three TLS records sent in one TCP segment (the client's
# socket corked while they are written), then the client's side closed:
# the worker reads ahead of GnuTLS (tls_probe.c), one recv takes all three,
# and the records behind the first sit read but not yet taken; each is
# answered, and counted once.
{
	my $tls = IO::Socket::SSL->new(
		PeerAddr => "127.0.0.1:$port",
		SSL_ca_file => "$tmp/one.crt",
		SSL_verify_mode => SSL_VERIFY_PEER,
		Timeout => 10) or die "TLS connect: $IO::Socket::SSL::SSL_ERROR";
	my $event = '{"userId":"piped","name":"add_revenue","value":1}';
	my $request = "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	  . "Content-Type: application/json\r\nContent-Length: "
	  . length($event) . "\r\n\r\n$event";
	my $cork = 3;		# TCP_CORK (Linux)
	setsockopt($tls, IPPROTO_TCP, $cork, 1) or die "TCP_CORK: $!";
	$tls->syswrite($request) for 1 .. 3;
	setsockopt($tls, IPPROTO_TCP, $cork, 0) or die "TCP_CORK: $!";
	shutdown($tls, 1);
	my ($replies, $got) = ('', 0);
	my $deadline = time + 10;
	while ($got < 3)
	{
		my $left = $deadline - time;
		last if $left <= 0;
		last
		  unless $tls->pending || IO::Select->new($tls)->can_read($left);
		my $n = $tls->sysread(my $chunk, 65536);
		last if !$n;
		$replies .= $chunk;
		$got = () = $replies =~ m{^HTTP/1\.1 200 }mg;
	}
	is($got, 3, 'three POSTs written at once over one TLS connection: three 200s');
	close($tls);
	rotate($node);
	is(revenue_of($node, 'piped')->{piped}, 3, '... each counted once');
}

# A reply goes out as one TLS record (tls_reply.c), and at once: on a
# keep-alive connection, after a HEAD (its reply a header alone, sent
# before libmicrohttpd corks the socket), each of 20 replies in one
# application-data record, none waiting for the kernel's 200 ms cork timer.
{
	my @out = tls_client('records', 20, '/health');
	is($out[0], 'records ' . join(' ', (1) x 20),
		'20 replies on one keep-alive connection: one TLS record each');
	my ($slowest) = ($out[1] // '') =~ /^slowest (\d+)$/;
	ok(defined $slowest && $slowest < 150,
		'... each within 150 ms (slowest: ' . ($slowest // 'none') . ' ms)');
}

# A new connection's first request, from a client with Nagle's algorithm
# on: the request waits for the ACK of the client's Finished, which the
# worker's kernel sends at once (tls_probe.c), not after its delayed-ACK
# timer (40 ms at least on Linux).  The median of five connections, so
# that one slow moment of a busy machine does not decide.
{
	my @out = tls_client('first', 5, '/health');
	my ($median, $max) = ($out[0] // '') =~ /^first ([\d.]+) ([\d.]+)$/;
	ok(defined $median && $median < 30,
		'a new connection\'s first reply, Nagle on: no delayed-ACK wait (median '
		  . ($median // 'none') . ' ms, slowest ' . ($max // 'none') . ' ms)');
}

# A handshake whose client takes 2 s to send its Finished: the worker
# waits for it (tls_probe.c, http_conn.c's HANDSHAKE_POLL_MS) instead of
# reading the socket again and again, which took the worker's whole CPU
# for those 2 s.  Measured as the worker's CPU time (/proc), not as time.
{
	my $pid = worker_pid($node);
	my $before = cpu_ticks($pid);
	my @out = tls_client('stall', 2, '/health');
	my $used = (cpu_ticks($pid) - $before) / POSIX::sysconf(POSIX::_SC_CLK_TCK);
	is($out[0], 'stall 200', 'a handshake stalled by its client for 2 s: answered');
	ok($used < 0.5,
		sprintf('... and the worker idle meanwhile (%.2f s of CPU)', $used));
}

# A client that does not read its replies: 3,000 GET /metrics (about
# 20 MB of replies) written at once on a connection with a small receive
# buffer, nothing read for 2 s.  The connection waits for its socket to
# drain, holding one reply at a time (the worker grows by less than 4 MB,
# not by the 20 MB a buffer of every reply would take); another client is
# answered meanwhile; then every reply arrives, whole.
{
	my @out = tls_client('unread', 3000, '/metrics', worker_pid($node));
	my ($grew) = ($out[0] // '') =~ /^grew (-?\d+)$/;
	ok(defined $grew && $grew < 4096,
		'a client not reading 3,000 pipelined replies: the worker grows by less than 4 MB ('
		  . ($grew // 'none') . ' kB)');
	my ($ms, $status) = ($out[1] // '') =~ /^other (\d+) (\d+)$/;
	is($status, 200, '... another client is answered meanwhile');
	note("... in $ms ms") if defined $ms;
	like($out[2] // '', qr/^replies 3000 3000 [1-9]\d*$/,
		'... then all 3,000 replies arrive, whole');
}

# The same client reading nothing for longer than evproc.connection_timeout
# (2 s here): its waiting reply gets no byte out, and the connection is
# cut, as libmicrohttpd cuts an idle one (it does not time out the
# suspended connection that waits for the reply).
{
	$node->append_conf('postgresql.conf', "evproc.connection_timeout = 2\n");
	$node->restart;
	ok(wait_https('one'), 'evproc.connection_timeout = 2 s');
	my @out = tls_client('stuck', 3000, '/metrics', 6);
	my ($got, $end) = ($out[0] // '') =~ /^replies (\d+) (\w+)$/;
	is($end, 'eof', 'a client reading nothing for 6 s has its connection cut');
	ok(defined $got && $got < 3000,
		'... before it was sent every reply (' . ($got // 'none')
		  . ' of 3,000 arrived)');
	$node->append_conf('postgresql.conf', "evproc.connection_timeout = 30\n");
	$node->restart;
	ok(wait_https('one'), 'evproc.connection_timeout back to 30 s');
}

my %r = raw_request($port, 'GET', '/userEvents/u1');
is($r{status}, 400, 'plain HTTP on the HTTPS port gets 400');
like($r{body}, qr/use https:/, '... saying to use https://');
($status) = http_post($port, '/liveEvent',
	'{"userId":"u1","name":"add_revenue","value":1}');
ok(!defined $status || $status != 200, '... nor does a plain POST');
rotate($node);
is(revenue_of($node, 'u1')->{u1}, 5, '... which counts nothing');

# SSE over HTTPS: the state, then a change
my $s1 = sse('one', '/userEvents/u1/stream');
ok(sse_wait($s1, qr/"revenue": 5,/), 'an SSE stream over HTTPS sends the state');
is(post('one', 'u1', 2), 200, 'a second event');
rotate($node);
ok(sse_wait($s1, qr/"revenue": 7,/), '... and the change');

# WebSocket over wss://: the state, a change, ping, close
my @out = ws('one', '/userEvents/u1/stream', 'read', 1);
is($out[0], 'HTTP/1.1 101 Switching Protocols', 'a WebSocket upgrade over HTTPS');
like($out[1] // '', qr/^1 \{"userId": "u1", "revenue": 7,/, '... sends the state');
my $live = '';
my $h;
{
	local $ENV{WS_CA} = "$tmp/one.crt";
	$h = IPC::Run::start(
		[ 'python3', $client, $port, '/userEvents/u1/stream', 'read', 4 ],
		'<', \undef, '>', \$live);
}
usleep(800_000);
is(post('one', 'u1', 3), 200, 'a third event');
rotate($node);
$h->finish;
like((grep { /^1 / } split /\n/, $live)[-1] // '', qr/"revenue": 10,/,
	'... the change follows over wss://');
@out = ws('one', '/userEvents/u1/stream', 'ping', 1);
ok((grep { $_ eq '10 abc' } @out), 'a ping over wss:// gets its pong');
# what the worker writes on the upgraded socket goes out through
# libmicrohttpd's TLS at once (it runs libmicrohttpd when the socket pair
# has data), and an idle connection costs no CPU
@out = ws('one', '/userEvents/u1/stream', 'pingtime', 1);
like($out[1] // '', qr/^rtt \d+$/, 'five pings over wss://, each with its pong');
note('slowest pong: ' . ($out[1] // 'none') . ' ms');
cmp_ok(($out[1] // 'rtt 9999') =~ s/rtt //r, '<', 200,
	'... within 200 ms each (the worker\'s loop sleeps up to 1 s)');
my $wpid = worker_pid($node);
my $ticks = cpu_ticks($wpid);
@out = ws('one', '/userEvents/u1/stream', 'read', 3);
cmp_ok(cpu_ticks($wpid) - $ticks, '<', 50,
	'a wss:// stream held for 3 s costs the worker under 0.5 s of CPU');
@out = ws('one', '/userEvents/u1/stream', 'close', 1);
is($out[-1], '8 03e8', 'a close over wss:// is answered with 1000');
@out = ws('one', '/userEvents/u1/stream', 'text', 1);
is($out[-1], '8 03eb', 'a message on a wss:// stream: 1003');

# 3. Renewal: new connections get the new certificate; the worker, its
# journal and the streams open go on
is(post('one', 'r1', 1), 200, 'r1 acknowledged');
rotate($node);
my $s2 = sse('one', '/userEvents/r1/stream');
ok(sse_wait($s2, qr/"userId": "r1", "revenue": 1,/),
	'a stream open before the renewal');
is(post('one', 'r1', 1), 200, 'an event acknowledged before the renewal');
my $pid = worker_pid($node);
my @journal = stat(journal_dir($node) . '/events.jsonl');
usleep(300_000);
install_cert('two', 'two');
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/HTTPS certificate reloaded: "CN=evproc-test-two", serial 02/, $offset),
	'the renewed certificate is reloaded');
is(peer_cert(), 'evproc-test-two 02', 'a new connection gets it');
($status) = curl_https('two', 'GET', '/health');
is($status, 200, '... and is checked against it');
($status) = curl_https('one', 'GET', '/health');
is($status, 0, '... not against the old one');
is(worker_pid($node), $pid, 'the worker was not restarted');
my @after = stat(journal_dir($node) . '/events.jsonl');
is("$after[1] $after[7]", "$journal[1] $journal[7]",
	'its journal is the same file, untouched');
is(post('two', 'r1', 1), 200, 'an event after the renewal');
rotate($node);
is(revenue_of($node, 'r1')->{r1}, 3, 'every event counted once');
ok(sse_wait($s2, qr/"userId": "r1", "revenue": 3,/),
	'the stream opened before the renewal goes on');
ok(sse_wait($s1, qr/"revenue": 10,/), '... as does the first one');

# 4. What cannot be used is logged, and the certificate in force stays
open(my $fh, '>', "$data/server.crt") or die;
print $fh "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
close $fh;
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/could not load certificate file "server.crt"/, $offset),
	'a bad certificate file is logged');
ok(log_match($node, qr/the HTTPS certificate was not reloaded; new connections still get the one loaded before/, $offset),
	'... and not taken');
is(peer_cert(), 'evproc-test-two 02', '... new connections still get the one in force');
is(post('two', 'r2', 1), 200, '... and are served');

install_cert('three', 'two');
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/private key file "server.key" is not the key of the certificate in "server.crt"/, $offset),
	'a key that is not the certificate\'s is logged');
is(peer_cert(), 'evproc-test-two 02', '... and the one in force stays');

install_cert('three', 'three');
chmod 0644, "$data/server.key";
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/private key file "server.key" has group or world access/, $offset),
	'a key file others may read (0644) is refused, with the reason');
is(peer_cert(), 'evproc-test-two 02', '... and the one in force stays');

chmod 0600, "$data/server.key";
$node->safe_psql('postgres', "ALTER SYSTEM SET evproc.tls_key_file = ''");
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/evproc.tls_cert_file is set but evproc.tls_key_file is not; the HTTPS certificate was not reloaded/, $offset),
	'one setting without the other is logged on reload');
is(peer_cert(), 'evproc-test-two 02', '... and the one in force stays');

$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_key_file = 'server.key'");
reload();
ok(log_match($node, qr/HTTPS certificate reloaded: "CN=evproc-test-three", serial 03/, $offset),
	'once fixed, the reload takes the new certificate');
is(peer_cert(), 'evproc-test-three 03', '... which new connections get');

# 5. At start: a key file others may read, and the worker does not start.
# The worker that stops has a wss:// client and SSE streams open.
my $held = '';
{
	local $ENV{WS_CA} = "$tmp/three.crt";
	$h = IPC::Run::start(
		[ 'python3', $client, $port, '/userEvents/u1/stream', 'read', 3 ],
		'<', \undef, '>', \$held);
}
usleep(500_000);
chmod 0644, "$data/server.key";
$offset = -s $node->logfile;
restart_worker();
$h->finish;
like($held, qr/^HTTP\/1.1 101 .*^1 \{"userId": "u1"/ms,
	'a wss:// client was connected when the worker stopped');
ok(!log_match($node, qr/terminated by signal/, $offset, 0),
	'... which stopped cleanly');
ok(log_match($node, qr/private key file "server.key" has group or world access/, $offset),
	'at start, a key file others may read is refused');
ok(log_match($node, qr/could not load the HTTPS certificate and key; the HTTP server does not start/, $offset),
	'... and the HTTP server does not start');
($status) = curl_https('three', 'GET', '/health');
is($status, 0, '... neither over HTTPS');
%r = raw_request($port, 'GET', '/health');
ok(!defined $r{status}, '... nor over plain HTTP');
chmod 0600, "$data/server.key";
ok(wait_https('three'), 'once the key file is fixed, the worker starts again by itself');

# 6. Turning HTTPS off by reload: the worker restarts itself
$node->safe_psql('postgres', 'ALTER SYSTEM RESET evproc.tls_cert_file');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET evproc.tls_key_file');
$offset = -s $node->logfile;
reload();
ok(log_match($node, qr/HTTPS is turned off: the worker restarts to apply it/, $offset),
	'a reload that turns HTTPS off restarts the worker');
ok(!log_match($node, qr/terminated by signal/, $offset, 0),
	'... cleanly');
ok(wait_for_http($port, 30), '... then plain HTTP');
is(post_plain(), 200, '... which takes events');

sub post_plain
{
	my ($st) = http_post($port, '/liveEvent',
		'{"userId":"p2","name":"add_revenue","value":1}');
	return $st;
}

$s1->{h}->kill_kill;
$s2->{h}->kill_kill;
done_testing();
