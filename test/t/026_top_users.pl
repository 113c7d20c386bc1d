# GET /topUsers at a million users, and the read rate limit.
#
#	(a) a million users (ties at the top, ids whose byte order is not the
#		collation's): the top lists are in order, largest first, ties by
#		userId in bytes, the values exact; each call costs about what a
#		GET does (a median well under 50 ms; a sequential scan and a sort
#		of a million rows took 300 ms to 1 s), and a POST made while a
#		client loops on /topUsers is answered as fast (the worker is not
#		stalled);
#	(b) during a file's ingest transaction (the file lowers the top users
#		and raises others above them), each top list is the committed one:
#		the list before the file, never a file half counted; after the
#		commit the new one;
#	(c) reads are rate limited per client address
#		(evproc.read_rate_limit_per_client, 2 per second here): GET
#		/topUsers, /userEvents/:id
#		and a stream's opening past the limit get 429 with Retry-After, the
#		RateLimit-* headers and a JSON error; a second later they are
#		served again; POSTs are not counted against it; 0 turns it off;
#	(d) at shutdown, the top lists and the user lookups that wait for the
#		worker (evproc.user_metrics is locked) are all answered 503
#		"server is shutting down", none left without a reply.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('top_users',
	"evproc.read_rate_limit_per_client = 0\nevproc.fsync = off\n"
	  . "max_prepared_transactions = 1\n");
my $port = http_port($node);
my $dir = journal_dir($node);

sub get
{
	my ($path) = @_;
	my %r = raw_request($port, 'GET', $path);
	return ($r{status} // 0, $r{body} // '', $r{head} // '');
}

sub header
{
	my ($head, $name) = @_;
	return $head =~ /^\Q$name\E:[ \t]*([^\r\n]*?)[ \t]*\r?$/mi ? $1 : undef;
}

# json_top($metric, [[user, value], ...]): the body /topUsers writes
sub json_top
{
	my ($metric, $rows) = @_;
	return qq({"metric": "$metric", "users": [)
	  . join(', ', map { qq({"userId": "$_->[0]", "value": "$_->[1]"}) } @$rows)
	  . "]}\n";
}

sub median
{
	my @s = sort { $a <=> $b } @_;
	return $s[ int(@s / 2) ];
}

# --- (a) a million users ------------------------------------------------------

# u0..u999999 with value i % 1000 (1000 users tie at 999), and five more at
# 999 whose ids sort differently in bytes than in most collations
my $n = 1_000_000;
$node->safe_psql('postgres', qq(
	INSERT INTO evproc.user_metrics (user_id, metric, value)
	SELECT 'u' || i, 'revenue', i % 1000 FROM generate_series(0, $n - 1) AS i;
	INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES
		('Zed', 'revenue', 999), ('zed', 'revenue', 999), ('_x', 'revenue', 999),
		('\xC3\xA9t\xC3\xA9', 'revenue', 999), ('v9', 'revenue', 999.5),
		('big', 'revenue', 123456789012345678.25), ('u-x', 'clicks', 3),
		('u-y', 'clicks', 3), ('u-z', 'clicks', 4);
	VACUUM ANALYZE evproc.user_metrics;
));
my @ties = sort { $a cmp $b } ('Zed', 'zed', '_x', "\xC3\xA9t\xC3\xA9",
	map { 'u' . ($_ * 1000 + 999) } 0 .. 999);
ok(1, "$n users");

my @want = ([ 'big', '123456789012345678.25' ], [ 'v9', '999.5' ]);
push @want, map { [ $_, '999' ] } @ties;
my ($status, $body) = get('/topUsers?limit=100');
is($status, 200, 'limit=100 answers');
is($body, json_top('revenue', [ @want[ 0 .. 99 ] ]),
	'largest first, exact decimals, ties by userId in bytes');
($status, $body) = get('/topUsers');
is($body, json_top('revenue', [ @want[ 0 .. 9 ] ]), 'default limit 10');
($status, $body) = get('/topUsers?limit=3&metric=clicks');
is($body, json_top('clicks', [ [ 'u-z', 4 ], [ 'u-x', 3 ], [ 'u-y', 3 ] ]),
	'another metric');

# per-call latency, one call at a time on a new connection each
my @lat;
for (1 .. 30)
{
	my $t0 = time;
	($status) = get('/topUsers?limit=100');
	push @lat, (time - $t0) * 1000;
	last if $status != 200;
}
my $med = median(@lat);
note sprintf('/topUsers?limit=100 at %d users: median %.2f ms, max %.2f ms',
	$n, $med, (sort { $b <=> $a } @lat)[0]);
cmp_ok($med, '<', 50, "/topUsers at $n users: median call under 50 ms");

# a POST while another client loops on /topUsers
my $pid = fork();
die "fork: $!" unless defined $pid;
if ($pid == 0)
{
	# killed by the TERM below, not dying: newer PostgreSQL test modules
	# (17 and 18 here) turn TERM into a die, whose END blocks would stop
	# the parent's node
	$SIG{TERM} = $SIG{INT} = 'DEFAULT';
	my $end = time + 30;
	while (time < $end)
	{
		my %r = raw_request($port, 'GET', '/topUsers?limit=100');
		last unless defined $r{status};
	}
	POSIX::_exit(0);
}
usleep(200_000);
my @post;
for my $i (1 .. 20)
{
	# at random moments, not in step with the loop's calls
	usleep(int(rand(50_000)));
	my $t0 = time;
	my $s = add_revenue($port, "post-$i", 1);
	push @post, (time - $t0) * 1000;
	is($s, 200, "POST $i during the loop: 200") if $s != 200;
}
kill 'TERM', $pid;
waitpid($pid, 0);
$med = median(@post);
note sprintf('POST while a client loops on /topUsers: median %.2f ms, max %.2f ms',
	$med, (sort { $b <=> $a } @post)[0]);
cmp_ok($med, '<', 50, 'a POST during a /topUsers loop: median under 50 ms');
rotate($node);

# --- (b) during a file's ingest transaction ---------------------------------

{
	# a file that takes the top users down and puts others above them,
	# with 200000 users: its transaction spans many passes
	my $before = json_top('revenue', [ @want[ 0 .. 9 ] ]);
	my $data = qq({"userId": "big", "name": "subtract_revenue", "value": 123456789012345678.25}\n)
	  . qq({"userId": "v9", "name": "subtract_revenue", "value": 1000}\n);
	for my $i (0 .. 199_999)
	{
		my ($user, $value) =
			$i < 10 ? ("new-$i", 5000 + $i)
		  : $i < 20 ? ('u' . (($i - 10) * 1000 + 5), 3000 + $i)
		  : ("filler-$i", 1);
		$data .= qq({"userId": "$user", "name": "add_revenue", "value": $value}\n);
	}
	open(my $fh, '>', "$dir/events-during.jsonl") or die $!;
	print $fh $data;
	close($fh);

	my $rotate = $node->background_psql('postgres');
	$rotate->query_until(qr/started/, "\\echo started\nSELECT evproc_rotate();\n");
	my ($during, $wrong, $after) = (0, 0, 0);
	my $t_end = time + 120;
	while (time < $t_end)
	{
		my $open_before = ingest_transaction_open($node);
		($status, $body) = get('/topUsers');
		if ($body eq $before)
		{
			$during++ if $open_before && ingest_transaction_open($node);
			next;
		}
		# anything else only once the file is recorded
		if ($node->safe_psql('postgres',
			"SELECT count(*) FROM evproc.processed_files WHERE filename = 'events-during.jsonl'"
		) ne '1')
		{
			$wrong++;
			diag "during: $status $body";
		}
		$after = 1;
		last;
	}
	$rotate->quit;
	is($wrong, 0, 'during: no top list saw the file before its commit');
	cmp_ok($during, '>', 0,
		"during: top lists answered while the transaction was open ($during)");
	ok($after, 'during: the list changed once the file was counted');
	my @new = map { [ 'new-' . (9 - $_), 5009 - $_ ] } 0 .. 9;
	($status, $body) = get('/topUsers');
	is($body, json_top('revenue', \@new), 'after the commit: the new top');
	# u5, u1005, .. u9005 had 5; the file added 3010 .. 3019
	my @next = map { [ 'u' . ((9 - $_) * 1000 + 5), 3024 - $_ ] } 0 .. 9;
	($status, $body) = get('/topUsers?limit=20');
	is($body, json_top('revenue', [ @new, @next ]),
		'... and below them the users the file raised');
}

# --- (c) the read rate limit --------------------------------------------------

$node->append_conf('postgresql.conf', "evproc.read_rate_limit_per_client = 2\n");
$node->reload;
usleep(1_500_000);

my %codes;
my $refused;
for (1 .. 40)
{
	my ($s, $b, $h) = get('/topUsers');
	$codes{$s}++;
	$refused //= [ $b, $h ] if $s == 429;
}
note 'topUsers x40 at 2/s: ' . join(', ', map { "$_ x$codes{$_}" } sort keys %codes);
cmp_ok($codes{200} // 0, '>=', 2, 'at 2 reads per second: /topUsers served (the burst)');
cmp_ok($codes{429} // 0, '>=', 10, '... the rest refused with 429');
like($refused->[0] // '',
	qr/^\{"error": "rate limit exceeded: at most 2 requests per second from one client address \(evproc\.read_rate_limit_per_client\); retry after \d+ s"\}$/,
	'... with a JSON error naming the setting');
cmp_ok(header($refused->[1] // '', 'Retry-After') // 0, '>=', 1, '... and Retry-After');
is(header($refused->[1] // '', 'RateLimit-Limit'), '2', '... and RateLimit-Limit');

($status) = get('/userEvents/u1');
is($status, 429, 'GET /userEvents/:id over the limit: 429');
($status) = get('/userEvents/u1/stream');
is($status, 429, 'a stream opened over the limit: 429');
is(add_revenue($port, 'limited-reader', 1), 200, 'a POST is not counted against it');

usleep(1_100_000);
($status, $body) = get('/userEvents/u1');
is($status, 200, 'a second later: served again');

$node->append_conf('postgresql.conf', "evproc.read_rate_limit_per_client = 0\n");
$node->reload;
usleep(1_500_000);
%codes = ();
for (1 .. 40)
{
	($status) = get('/topUsers');
	$codes{$status}++;
}
is($codes{200} // 0, 40, 'with 0: no limit');

# (d) requests waiting for the lock when the server stops
# a prepared transaction holds the lock: the shutdown does not release it
$node->safe_psql('postgres',
	"BEGIN; LOCK TABLE evproc.user_metrics IN ACCESS EXCLUSIVE MODE; "
	  . "PREPARE TRANSACTION 'lock_for_the_shutdown'");
my %waiting;
for my $path ('/topUsers', '/topUsers?metric=clicks&limit=3', '/userEvents/u1')
{
	$waiting{$path} = raw_connect($port);
	raw_send($waiting{$path},
		"GET $path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}
usleep(500_000);				# queued, waiting for the lock (up to 5 s)
$node->stop('fast');
for my $path (sort keys %waiting)
{
	my %r = raw_reply($waiting{$path}, 5);
	is($r{status}, 503, "at shutdown: GET $path waiting for the lock: 503");
	is($r{body}, qq({"error": "server is shutting down"}\n),
		'... saying why');
	close $waiting{$path};
}
done_testing();
