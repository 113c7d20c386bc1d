# Back-pressure and readiness.  With ingest held up (its tables locked by
# another session) and a tiny evproc.max_backlog, POST /liveEvent answers
# 503 with Retry-After once the events not yet counted exceed the limit,
# GET /ready says why, and once ingest catches up the POSTs are accepted
# again by themselves; every event acknowledged is counted, none refused
# is.  Under evproc.min_free_space the same, for the disk.  GET /health
# answers without a token.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('pressure',
	"evproc.max_backlog = '2kB'\nevproc.auth_token = 'sesame'\nevproc.rotation_interval = '1s'\n");
my $port = http_port($node);

sub get
{
	my ($path) = @_;
	my $conn = http_connect($port);
	my @r = http_request($conn, 'GET', $path, undef, 5);
	close($conn->{sock});
	return @r;
}

sub post
{
	my ($user) = @_;
	my %r = raw_request($port, 'POST', '/liveEvent',
		qq({"userId":"$user","name":"add_revenue","value":1}),
		'Authorization: sesame');
	return ($r{status} // 0, $r{body} // '', $r{head} // '');
}

my ($status, $body) = get('/health');
is($status, 200, '/health answers without a token');
is($body, qq({"status": "ok"}\n), '... {"status": "ok"}');
# the worker sees the new extension's tables at its next look
for (1 .. 100)
{
	($status, $body) = get('/ready');
	last if $status == 200;
	usleep(100_000);
}
is($status, 200, '/ready: ready');
like($body, qr/"status": "ready"/, '... saying so');

# hold ingest up: another session locks the tables
my $locker = $node->background_psql('postgres');
$locker->query_safe(
	'BEGIN; LOCK TABLE evproc.user_metrics IN ACCESS EXCLUSIVE MODE');

# POST until refused: each event is about 150 bytes in the journal, which
# rotates and waits for ingest (every second); the backlog is measured once
# a second too
my (@accepted, $refused, $hdrs);
for my $i (1 .. 200)
{
	my ($s, $b, $h) = post("bp$i");
	if ($s == 200) { push @accepted, "bp$i"; }
	elsif ($s == 503) { ($refused, $hdrs) = ($b, $h); last; }
	usleep(20_000);
}
ok(defined $refused, 'past evproc.max_backlog: 503 (after '
	  . scalar(@accepted) . ' accepted)');
like($refused // '', qr/evproc\.max_backlog/, '... saying why');
like($hdrs, qr/^Retry-After: \d+\r?$/mi, '... with Retry-After');
($status, $body) = get('/ready');
is($status, 503, '/ready: 503');
like($body, qr/"backlog": "failing/, '... naming the backlog check');

# let ingest catch up: accepted again by itself
$locker->query_safe('ROLLBACK');
$locker->quit;
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
my $ok = 0;
for (1 .. 100)
{
	my ($s) = post('after');
	if ($s == 200) { $ok = 1; last; }
	usleep(100_000);
}
ok($ok, 'once ingest caught up, POSTs are accepted again');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
my $list = join(',', map { "'$_'" } @accepted);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id IN ($list) AND revenue = 1"),
	scalar(@accepted), 'every acknowledged event is counted once');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'bp%'"),
	scalar(@accepted), 'and the refused one is not');

# the disk: more free space asked for than there is
$node->append_conf('postgresql.conf', "evproc.min_free_space = '2000000MB'\n");
$node->reload;
my $disk;
for (1 .. 50)
{
	my ($s, $b) = post('disk');
	if ($s == 503) { $disk = $b; last; }
	usleep(100_000);
}
like($disk // '', qr/evproc\.min_free_space/, 'under evproc.min_free_space: 503, saying why');
($status, $body) = get('/ready');
like($body, qr/"disk": "failing/, '/ready names the disk check');

done_testing();
