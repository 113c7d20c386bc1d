# Back-pressure and readiness.  With ingest held up (its tables locked by
# another session) and a tiny evproc.max_backlog, POST /liveEvent answers
# 503 with Retry-After once the events not yet counted exceed the limit,
# GET /ready says why, and once ingest catches up the POSTs are accepted
# again by themselves; every event acknowledged is counted, none refused
# is.  The same with ingest paused by evproc_pause_ingest(), a pause and
# counters that survive the worker's restart.  Under
# evproc.min_free_space the same, for the disk.  GET /health answers
# without a token.

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

sub get_auth
{
	my ($path) = @_;
	my %r = raw_request($port, 'GET', $path, undef, 'Authorization: sesame');
	return ($r{status} // 0, $r{body} // '');
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

# ingest paused for maintenance: the same back-pressure, and the pause
# survives the worker's restart, as do its counters
$node->safe_psql('postgres', 'SELECT evproc_pause_ingest()');
is($node->safe_psql('postgres', 'SELECT state FROM evproc.stats'), 'paused',
	'evproc_pause_ingest(): the worker says it is paused');
my (@paused_ok, $paused_refused, $paused_hdrs);
for my $i (1 .. 200)
{
	my ($s, $b, $h) = post("pz$i");
	if ($s == 200) { push @paused_ok, "pz$i"; }
	elsif ($s == 503) { ($paused_refused, $paused_hdrs) = ($b, $h); last; }
	usleep(20_000);
}
ok(defined $paused_refused, 'paused: past evproc.max_backlog, 503 (after '
	  . scalar(@paused_ok) . ' accepted)');
like($paused_hdrs // '', qr/^Retry-After: \d+\r?$/mi, '... with Retry-After');
# the journal rotates every second, and the rotated files wait (with the
# journal in the database: the sealed segments)
my $waiting = 0;
for (1 .. 50)
{
	$waiting = $node->safe_psql('postgres',
		journal_in_database($node)
		? 'SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NOT NULL'
		: "SELECT count(*) FROM evproc.journal_files WHERE state = 'waiting'");
	last if $waiting > 0;
	usleep(100_000);
}
ok($waiting > 0, "... the files wait (evproc.journal_files: $waiting)");
my ($pid, $accepted_before) = split /\|/, $node->safe_psql('postgres',
	'SELECT pid, events_accepted FROM evproc.stats');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $after = '';
for (1 .. 300)
{
	$after = $node->safe_psql('postgres',
		"SELECT pid <> $pid AND state = 'paused', events_accepted FROM evproc.stats WHERE pid IS NOT NULL");
	last if $after =~ /^t\|/;
	usleep(100_000);
}
like($after, qr/^t\|/, 'a restarted worker stays paused');
my ($restarted, $accepted_after) = split /\|/, $after;
ok(defined $accepted_after && $accepted_after >= $accepted_before,
	"... and its counters went on ($accepted_before, then "
	  . ($accepted_after // 'none') . ')');
my ($m_status, $metrics) = get_auth('/metrics');
like($metrics, qr/^evproc_events_accepted_total (\d+)$/m, '/metrics after the restart');
my ($scraped) = $metrics =~ /^evproc_events_accepted_total (\d+)$/m;
ok(($scraped // 0) >= $accepted_before,
	"... counts what the worker accepted before it ($scraped >= $accepted_before)");
$node->safe_psql('postgres', 'SELECT evproc_resume_ingest()');
$ok = 0;
for (1 .. 100)
{
	my ($s) = post('pz-after');
	if ($s == 200) { $ok = 1; last; }
	usleep(100_000);
}
ok($ok, 'resumed: POSTs are accepted again');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
$list = join(',', map { "'$_'" } @paused_ok);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id IN ($list) AND revenue = 1"),
	scalar(@paused_ok), 'every event acknowledged while paused is counted once');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'pz%' AND user_id <> 'pz-after'"),
	scalar(@paused_ok), 'and the refused one is not');

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
