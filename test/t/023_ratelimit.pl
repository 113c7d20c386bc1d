# Rate limits per client address (evproc.rate_limit_per_client = 50 events
# per second, a burst of 50): a batch counts as its events and is accepted
# or refused whole; over the limit, 429 with Retry-After, the RateLimit-*
# headers and a JSON error, and nothing journaled; a batch larger than the
# burst gets 413; a client over its limit is refused before its body is
# read; GETs are not counted against it; a burst from parallel clients is counted
# exactly (accepted = counted); evproc-client retries the 429s until every
# event is in, each counted once; /metrics counts them as code="429"; with
# the limit off, no 429 and no RateLimit headers.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Spec;
use IPC::Run;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('ratelimit',
	"evproc.rate_limit_per_client = 50\nevproc.fsync = off\n");
my $port = http_port($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();

# header($head, $name): the value of a reply's header field, or undef
sub header
{
	my ($head, $name) = @_;
	return $head =~ /^\Q$name\E:[ \t]*([^\r\n]*?)[ \t]*\r?$/mi ? $1 : undef;
}

# batch_body($prefix, $n): a JSON array of $n events, userIds
# "${prefix}1".."$prefix$n", value k for the k-th
sub batch_body
{
	my ($prefix, $n) = @_;
	return '['
	  . join(',', map { event_json("$prefix$_", 'add_revenue', $_) } 1 .. $n)
	  . ']';
}

# post($body): one POST /liveEvent on a new connection; the reply as a hash
sub post
{
	my ($body) = @_;
	my %r = raw_request($port, 'POST', '/liveEvent', $body);
	$r{status} //= 0;
	return \%r;
}

sub revenue_sum
{
	my ($like) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) || ' ' || coalesce(sum(revenue), 0) FROM evproc.user_revenue WHERE user_id LIKE '$like'"
	);
}

# wait_full: a second without POSTs fills the bucket again
sub wait_full { usleep(1_100_000); }

# --- a batch counts as its events ------------------------------------------

my $r = post(batch_body('one-', 10));
is($r->{status}, 200, 'a batch of 10 on a full bucket: 200');
is(header($r->{head}, 'RateLimit-Limit'), '50', '... RateLimit-Limit: 50');
is(header($r->{head}, 'RateLimit-Remaining'),
	'40', '... RateLimit-Remaining: 40 (the batch counts as 10)');
is(header($r->{head}, 'RateLimit-Reset'), '1', '... RateLimit-Reset: 1');
$r = post(event_json('one-single', 'add_revenue', 1));
is($r->{status}, 200, 'one event: 200');
like(header($r->{head}, 'RateLimit-Remaining') // '',
	qr/^(39|40)$/, '... with RateLimit-* headers (remaining 39, or 40 if refilled)');
like($r->{body}, qr/^\{"accepted": 1\}/, '... and the usual body');

# 6 batches of 10 at once: 5 exhaust the bucket, the sixth is refused
wait_full();
{
	my @socks;
	for my $i (1 .. 6)
	{
		my $body = batch_body("six-$i-", 10);
		my $sock = raw_connect($port) or die "connect: $!";
		raw_send($sock,
			    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  . 'Content-Length: '
			  . length($body)
			  . "\r\nConnection: close\r\n\r\n$body");
		push @socks, $sock;
	}
	my (%by_status, $refused);
	for my $sock (@socks)
	{
		my %rr = raw_reply($sock, 10);
		close($sock);
		$by_status{ $rr{status} // 'none' }++;
		$refused = \%rr if ($rr{status} // 0) == 429;
	}
	is_deeply(\%by_status, { 200 => 5, 429 => 1 },
		'6 batches of 10 at once: 5 accepted, 1 refused (429)');
	ok($refused, 'the refused one:');
	$refused //= { head => '', body => '' };
	my $retry = header($refused->{head}, 'Retry-After');
	like($retry // '', qr/^[1-9]\d*$/, '... Retry-After: whole seconds, at least 1');
	is(header($refused->{head}, 'RateLimit-Limit'), '50', '... RateLimit-Limit');
	like(header($refused->{head}, 'RateLimit-Remaining') // '',
		qr/^\d$/, '... RateLimit-Remaining (under 10)');
	is(header($refused->{head}, 'RateLimit-Reset'), '1', '... RateLimit-Reset');
	like($refused->{body},
		qr/^\{"error": "rate limit exceeded: at most 50 events per second from one client address \(evproc.rate_limit_per_client\); retry after 1 s"\}/,
		'... a JSON error');

	# waiting Retry-After lets the next one in
	sleep($retry // 1);
	$r = post(batch_body('after-', 10));
	is($r->{status}, 200, 'after Retry-After seconds, a batch of 10 is accepted');
}

# --- a client over its limit is refused before its body is read ------------

# empty the bucket, then announce a body and send none of it.  One event
# comes back every 20 ms: on a busy machine the request may come after
# one has, and is then rightly let in to send its body; such a try is
# given up after 2 s and made again, five times at most.
{
	my ($first, %rr, $took);
	for my $try (1 .. 5)
	{
		wait_full();
		$r = post(batch_body('drain-', 50));
		if (!$first++)
		{
			is($r->{status}, 200, 'a batch of 50 (the whole burst) is accepted');
			is(header($r->{head}, 'RateLimit-Remaining'),
				'0', '... leaving 0');
		}
		my $sock = raw_connect($port) or die "connect: $!";
		raw_send($sock,
			"POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n");
		my $t0 = time;
		%rr = raw_reply($sock, 2);
		$took = time - $t0;
		close($sock);
		last if ($rr{status} // 0) == 429;
		note("try $try: no 429 (" . ($rr{status} // 'no reply')
			  . "): an event came back before the request");
	}
	is($rr{status}, 429,
		'with the bucket empty, 429 before the body is sent');
	ok($took < 1, '... at once');
	like(header($rr{head}, 'Retry-After') // '', qr/^[1-9]/, '... with Retry-After');
}

# GETs are not counted against it (they have a limit of their own,
# evproc.read_rate_limit_per_client, 1000 by default: see 026_top_users.pl)
{
	my %rr = raw_request($port, 'GET', '/userEvents/one-1');
	# 404 as long as nothing is ingested: what matters is that it is no 429
	like($rr{status} // '', qr/^(200|404)$/,
		'a GET while the bucket is empty: not limited');
	is(header($rr{head}, 'RateLimit-Limit'),
		'1000', '... its RateLimit headers are the read limit\'s');
}

# --- a batch larger than the burst ----------------------------------------

wait_full();
$r = post(batch_body('big-', 51));
is($r->{status}, 413, 'a batch of 51, more than the burst of 50: 413');
like($r->{body},
	qr/^\{"error": "the batch has 51 events, more than the 50 per second allowed from one client address \(evproc.rate_limit_per_client\); send smaller batches"\}/,
	'... saying to send smaller batches');
is(header($r->{head}, 'RateLimit-Limit'), '50', '... with RateLimit-Limit');
is(header($r->{head}, 'RateLimit-Remaining'), '50', '... nothing taken');
$r = post(batch_body('big-ok-', 50));
is($r->{status}, 200, 'the same client, a batch of 50 right after: 200');

# --- a burst from 8 parallel clients ---------------------------------------

wait_full();
my $procs = 8;
my $requests = 25;
my @pids;
my $burst_start = time;
for my $p (1 .. $procs)
{
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		open(my $out, '>', "$tmp/par$p") or POSIX::_exit(1);
		for my $q (1 .. $requests)
		{
			my $n = 1 + ($p + $q) % 5;
			my %rr = raw_request($port, 'POST', '/liveEvent',
				batch_body("par-$p-$q-", $n));
			my $h = $rr{head} // '';
			my $body = $rr{body} // '';
			$body =~ s/\n//g;
			print $out join("\t",
				$rr{status} // 0, $n,
				map({ header($h, $_) // '-' }
					qw(Retry-After RateLimit-Limit RateLimit-Remaining RateLimit-Reset)),
				$body),
			  "\n";
		}
		close($out);
		POSIX::_exit(0);
	}
	push @pids, $pid;
}
waitpid($_, 0) for @pids;
my $burst_time = time - $burst_start;

my ($ok200, $ok429, $other, $events, $values) = (0, 0, 0, 0, 0);
my ($bad429, $bad200) = (0, 0);
for my $p (1 .. $procs)
{
	for my $line (split /\n/, slurp_file("$tmp/par$p"))
	{
		my ($st, $n, $retry, $limit, $remaining, $reset, $body) = split /\t/,
		  $line, 7;
		if ($st == 200)
		{
			$ok200++;
			$events += $n;
			$values += $n * ($n + 1) / 2;
			$bad200++
			  unless $limit eq '50' && $remaining =~ /^\d+$/ && $reset =~ /^\d+$/;
		}
		elsif ($st == 429)
		{
			$ok429++;
			$bad429++
			  unless $retry =~ /^[1-9]\d*$/
			  && $limit eq '50'
			  && $remaining =~ /^\d+$/
			  && $reset =~ /^\d+$/
			  && $body =~ /^\{"error": "rate limit exceeded: [^"]*"\}$/;
		}
		else { $other++; diag("unexpected: $line"); }
	}
}
note sprintf('burst: %d accepted (%d events), %d refused, in %.2f s',
	$ok200, $events, $ok429, $burst_time);
ok($ok200 > 0, 'parallel burst: some requests accepted');
ok($ok429 > 0, '... some refused with 429');
is($other, 0, '... nothing else');
is($ok200 + $ok429, $procs * $requests, '... every request answered');
is($bad429, 0, '... every 429 has Retry-After, RateLimit-* and a JSON error');
is($bad200, 0, '... every 200 has the RateLimit-* headers');
ok($events <= 50 + 50 * ($burst_time + 0.1),
	'... no more events accepted than the burst and the rate allow');

$node->safe_psql('postgres', 'SELECT evproc_rotate()');
is(revenue_sum('par-%'), "$events $values",
	'accepted = counted: the events of the 200s, their values summed, nothing of the 429s');
is(revenue_sum('big-%'), '50 1275', 'the 413 batch journaled nothing');
is(revenue_sum('six-%'), '50 275', 'the refused batch of 10 journaled nothing');

# /metrics counts them
{
	my %rr = raw_request($port, 'GET', '/metrics');
	my ($n429) = ($rr{body} // '') =~
	  /^evproc_http_requests_total\{route="liveEvent",code="429"\} (\d+)$/m;
	ok(($n429 // 0) >= $ok429 + 2, "/metrics: code=\"429\" counted ($n429)");
}

# --- evproc-client retries 429 honouring Retry-After -----------------------

my $client = evproc_client_path();
SKIP:
{
	skip 'no evproc-client (run make install)', 4 unless -x $client;
	my $file = "$tmp/client.jsonl";
	open(my $fh, '>', $file) or die "open $file: $!";
	print $fh event_json("cli-$_", 'add_revenue', $_), "\n" for 1 .. 200;
	close($fh);
	wait_full();
	my ($out, $err) = ("$tmp/client.out", "$tmp/client.err");
	my $t0 = time;
	my $h = IPC::Run::start(
		[
			$client, 'send', '--no-progress',
			'--url', "http://127.0.0.1:$port",
			'--batch-size', '20', '--concurrency', '4', $file
		],
		'<', '/dev/null', '>', $out, '2>', $err,
		IPC::Run::timeout(120));
	my $rc = eval { $h->finish; $h->result(0) } // -1;
	my $elapsed = time - $t0;
	my $summary = slurp_file($out);
	my $messages = slurp_file($err);
	is($rc, 0, 'evproc-client send of 200 events at 50/s: exit status 0')
	  or diag("stdout:\n$summary\nstderr:\n$messages");
	like($messages, qr/HTTP 429: rate limit exceeded/,
		'... it was refused with 429 and retried');
	ok($elapsed >= 2, sprintf('... which took %.1f s (at least 150 events over the burst at 50/s)', $elapsed));
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(revenue_sum('cli-%'), '200 20100',
		'... every event counted once (batches retried whole, never twice)');
}

# --- the limit off ----------------------------------------------------------

$node->append_conf('postgresql.conf', "evproc.rate_limit_per_client = 0\n");
$node->reload;
my $off = 0;
for (1 .. 100)
{
	$r = post(event_json('off-probe', 'add_revenue', 1));
	if ($r->{status} == 200 && !defined header($r->{head}, 'RateLimit-Limit'))
	{
		$off = 1;
		last;
	}
	usleep(100_000);
}
ok($off, 'limit off (0) after a reload: no RateLimit headers');
my %off_status;
my $off_headers = 0;
for my $i (1 .. 10)
{
	$r = post(batch_body("off-$i-", 40));
	$off_status{ $r->{status} }++;
	$off_headers++ if defined header($r->{head}, 'RateLimit-Remaining');
}
is_deeply(\%off_status, { 200 => 10 }, '... 400 events at once: all accepted, no 429');
is($off_headers, 0, '... and no RateLimit headers');

# --- a token's rate_limit ---------------------------------------------------

# a token with 20 events per second: its batches are limited by it, the
# client's limit being off; another token without a limit is not
my $limited = $node->safe_psql('postgres',
	"SELECT evproc_create_token('rl-limited', '{write,read}', 20)");
my $free = $node->safe_psql('postgres',
	"SELECT evproc_create_token('rl-free', '{write,read}')");
sub post_as
{
	my ($token, $body) = @_;
	my %r = raw_request($port, 'POST', '/liveEvent', $body,
		"Authorization: Bearer $token");
	$r{status} //= 0;
	return \%r;
}
# the worker reads the new tokens within a second
my $known = 0;
for (1 .. 50)
{
	$r = post_as($limited, event_json('tok-probe', 'add_revenue', 1));
	if ($r->{status} == 200) { $known = 1; last; }
	usleep(100_000);
}
ok($known, 'the limited token is accepted');
wait_full();
my @tok_status = map { post_as($limited, batch_body("tok-$_-", 10))->{status} } 1 .. 3;
is("@tok_status", '200 200 429', "a token's rate_limit of 20: two batches of 10, then 429");
$r = post_as($limited, batch_body('tok-x-', 10));
like($r->{body} // '', qr/token/, '... the error names the token\'s limit');
ok(defined header($r->{head}, 'Retry-After'), '... with Retry-After');
is(header($r->{head}, 'RateLimit-Limit'), '20', '... and RateLimit-Limit 20');
wait_full();
is(post_as($limited, batch_body('tok-big-', 21))->{status}, 413,
	'a batch larger than the token\'s burst: 413');
my @free_status = map { post_as($free, batch_body("free-$_-", 10))->{status} } 1 .. 5;
is("@free_status", '200 200 200 200 200', 'a token without rate_limit is not limited');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
is(revenue_sum('tok-%'), '21 111', 'accepted = counted: the probe and the two batches');

$node->stop;
done_testing();
