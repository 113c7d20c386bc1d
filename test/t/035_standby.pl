# The worker on a hot standby, and at promotion (issue 22, files mode).
#
# A primary and a streaming standby made from its base backup, both with
# evproc preloaded:
#	(a) the standby's worker starts (at consistent state) and serves reads
#		from the replicated tables: GET /userEvents/:id has the primary's
#		counted values once replay has them, /topUsers, /health,
#		/metrics, /dashboard and a stream's first state answer; evproc.stats
#		says "standby";
#	(a') a stream on the standby gets a change counted on the primary once
#		replay brings it (evproc.user_changes, read as replay advances),
#		within a second or so of the primary's commit;
#	(b) it never writes: POST /liveEvent (one event, or a batch) gets 503
#		{"error": "...standby...", "role": "standby"} with Retry-After, no
#		journal directory or file is created, evproc_rotate() refuses, and
#		the log has no "read-only transaction" error, token uses included;
#	(c) GET /ready?role=primary is 200 on the primary and 503 on the
#		standby, ?role=standby the reverse, ?role=any and no role 200 on
#		both, another role 400; the body names the role;
#	(d) the tokens' copy follows the primary's evproc.tokens by the
#		periodic re-read (no trigger fires on a standby);
#	(e) after promote, while the copies cannot be set aside (journal
#		directory not writable), the worker stays a standby (POST 503,
#		WARNING); once they can, the same worker process (HTTP never down)
#		accepts a POST within a few seconds, counts it once, and
#		/ready?role=primary is 200 there;
#	(f) the journal the base backup copied (events.jsonl holding an event
#		the primary counts after the backup) is set aside at the standby's
#		start into from-backup-<stamp>/, with one WARNING naming it: after
#		promotion the event is counted once (the primary's count,
#		replicated), not twice; a file put into the standby's journal
#		directory later is set aside at promotion, before the journal is
#		opened.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

# files mode whatever EVPROC_TEST_JOURNAL_STORAGE says: the base backup's
# copy of the journal files is what (a0) and (e) check; 034_replication
# has the standby in database mode
my $primary = evproc_node('primary', "evproc.journal_storage = 'files'\n",
	allows_streaming => 1);
my $pport = http_port($primary);

is(add_revenue($pport, 'sb-a', 5), 200, 'primary: POST 200');
is(add_revenue($pport, 'sb-b', 7), 200, 'primary: another POST 200');
rotate($primary);
# (f) in the primary's live journal, not yet rotated: the base backup
# copies it (and the primary counts it at its next rotation, below)
is(add_revenue($pport, 'sb-bk', 6), 200, 'primary: a POST left in its live journal');
ok(-s journal_dir($primary) . '/events.jsonl', '... which is not empty');

my $standby = evproc_standby($primary, 'standby');
my $sport = http_port($standby);
my @aside = glob(journal_dir($standby) . '/from-backup-*');
is(scalar @aside, 1, 'standby: the base backup\'s journal copy is set aside at start');
ok(-s "$aside[0]/events.jsonl", '... the copied live journal in it, not deleted');
ok(!-e journal_dir($standby) . '/events.jsonl', '... and no longer in the journal');
ok(-d journal_dir($standby) . '/processed', '... processed/ left as it was');

# req($port, $method, $path, $body, @headers): raw_request's reply
sub req
{
	my ($port, $method, $path, $body, @headers) = @_;
	my %r = raw_request($port, $method, $path, $body, @headers);
	$r{status} //= 0;
	return %r;
}

# status_of($port, $method, $path, ...): the status of req's reply
sub status_of
{
	my %r = req(@_);
	return $r{status};
}

# until_status($port, $path, $want, $timeout, @headers): GETs $path until
# it answers $want; the last reply
sub until_status
{
	my ($port, $path, $want, $timeout, @headers) = @_;
	my $deadline = time + $timeout;
	my %r;
	while (1)
	{
		%r = req($port, 'GET', $path, undef, @headers);
		last if $r{status} == $want || time >= $deadline;
		usleep(100_000);
	}
	return %r;
}

# (a) reads, after replay of what the primary counted since the backup
is(add_revenue($pport, 'sb-a', 3), 200, 'primary: a POST after the backup');
rotate($primary);
$primary->wait_for_catchup($standby);
my %r = req($sport, 'GET', '/userEvents/sb-a');
is($r{status}, 200, 'standby: GET /userEvents/:id 200');
like($r{body}, qr/"revenue": 8\b/, '... with the value counted on the primary and replayed');
%r = req($sport, 'GET', '/topUsers?limit=2');
is($r{status}, 200, 'standby: GET /topUsers 200');
like($r{body}, qr/sb-a.*sb-b/s, '... in order');
is(status_of($sport, 'GET', '/health'), 200, 'standby: /health 200');
%r = req($sport, 'GET', '/metrics');
is($r{status}, 200, 'standby: /metrics 200');
like($r{body}, qr/^evproc_/m, '... with the series');
is(status_of($sport, 'GET', '/dashboard'), 200, 'standby: /dashboard 200');
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $sub = sse_subscribe($sport, $tmp, '/userEvents/sb-b/stream');
is($sub->{status}, 200, 'standby: a stream opens');
my @m = sse_wait_messages($sub, 1);
like($m[0][1] // '', qr/"revenue": 7\b/, '... with the user\'s state');

# (a') the stream follows what replay brings (evproc.user_changes)
is(add_revenue($pport, 'sb-b', 2), 200, 'primary: a POST for the stream');
rotate($primary);
my $t_commit = time;
my $t_seen;
while (time < $t_commit + 10)
{
	@m = sse_messages($sub);
	if (@m >= 2)
	{
		$t_seen = time;
		last;
	}
	usleep(10_000);
}
like($m[1][1] // '', qr/"revenue": 9\b/,
	'standby: the stream gets the change replay brought');
ok(defined $t_seen && $t_seen - $t_commit < 3,
	'... soon after the primary\'s commit');
note sprintf('primary commit to standby stream message: %.3f s',
	($t_seen // time) - $t_commit);
$sub->{h}->kill_kill;
is( $primary->safe_psql('postgres',
		"SELECT users FROM evproc.user_changes ORDER BY seq DESC LIMIT 1"),
	'{sb-b}',
	'primary: the commit\'s changed users are recorded for standbys');
is($standby->safe_psql('postgres', 'SELECT state FROM evproc.stats'),
	'standby', 'evproc.stats says the worker is on a standby');

# (b) writes refused, nothing journaled
for my $body (event_json('sb-c', 'add_revenue', 1),
	'[' . event_json('sb-c', 'add_revenue', 1) . ',' . event_json('sb-d', 'add_revenue', 1) . ']')
{
	%r = req($sport, 'POST', '/liveEvent', $body, 'Content-Type: application/json');
	is($r{status}, 503, 'standby: POST 503');
	like($r{body}, qr/^\{"error": "[^"]*standby[^"]*", "role": "standby"\}\n\z/,
		'... a JSON error naming the role');
	like($r{head}, qr/^Retry-After: \d+\r?$/mi, '... with Retry-After');
}
my @journal = grep { !m{/from-backup-[^/]*$} }
  glob(journal_dir($standby) . '/*.jsonl');
is_deeply(\@journal, [], 'standby: no journal file was written');
my ($ret, $out, $err) = $standby->psql('postgres', 'SELECT evproc_rotate()');
isnt($ret, 0, 'standby: evproc_rotate() fails');
like($err, qr/hot standby/, '... saying why');

# (c) readiness by role
sub ready
{
	my ($port, $query) = @_;
	return req($port, 'GET', '/ready' . $query);
}
%r = until_status($pport, '/ready?role=primary', 200, 10);
is($r{status}, 200, 'primary: /ready?role=primary 200');
like($r{body}, qr/"role": "primary"/, '... naming the role');
is(status_of($pport, 'GET', '/ready' . '?role=standby'), 503, 'primary: /ready?role=standby 503');
%r = until_status($sport, '/ready?role=standby', 200, 10);
is($r{status}, 200, 'standby: /ready?role=standby 200');
like($r{body}, qr/"role": "standby"/, '... naming the role');
%r = ready($sport, '?role=primary');
is($r{status}, 503, 'standby: /ready?role=primary 503');
like($r{body}, qr/"role": "standby"/, '... naming the role');
for my $q ('', '?role=any')
{
	is(status_of($pport, 'GET', '/ready' . $q), 200, "primary: /ready$q 200");
	is(status_of($sport, 'GET', '/ready' . $q), 200, "standby: /ready$q 200");
}
is(status_of($sport, 'GET', '/ready' . '?role=master'), 400, 'another role: 400');

# (d) the tokens' copy follows the primary's table (re-read every 10 s)
my $token = $primary->safe_psql('postgres', "SELECT evproc_create_token('tap-sb')");
$primary->wait_for_catchup($standby);
%r = until_status($sport, '/userEvents/sb-a', 401, 30);
is($r{status}, 401, 'standby: a token created on the primary closes the standby too');
%r = req($sport, 'GET', '/userEvents/sb-a', undef, "Authorization: Bearer $token");
is($r{status}, 200, '... and lets its holder read there');
$primary->safe_psql('postgres', 'DELETE FROM evproc.tokens');
$primary->wait_for_catchup($standby);
%r = until_status($sport, '/userEvents/sb-a', 200, 30);
is($r{status}, 200, 'standby: open again once the primary deleted the tokens');

# (e) promotion: the same worker takes up writes
my $pid = worker_pid($standby);
my $processed_before = count_processed($standby);
# a file put into the standby's journal directory after its start is set
# aside at promotion, before the journal is opened
my $late = 'events-20261205T000000Z-late.jsonl';
open(my $lf, '>', journal_dir($standby) . "/$late") or die "$late: $!";
print $lf event_json('sb-late', 'add_revenue', 1), "\n";
close($lf);
sleep 1;	# another second: another from-backup-<stamp>/
# while the copies cannot be set aside (the directory not writable), the
# promoted server's worker goes on as a standby and tries again each pass
my $jdir = journal_dir($standby);
my $log_offset = -s $standby->logfile;
chmod(0500, $jdir) or die "chmod $jdir: $!";
$standby->promote;
ok( defined log_match(
		$standby, qr/could not set aside the journal files the base backup copied/,
		$log_offset, 60),
	'promoted, the copies not set aside: a WARNING says so');
is(add_revenue($sport, 'sb-held', 1), 503, '... and POSTs are still refused');
is(status_of($sport, 'GET', '/ready' . '?role=standby'), 200,
	'... the worker still serves as a standby');
ok(!-e "$jdir/events.jsonl", '... with no journal opened');
chmod(0700, $jdir) or die "chmod $jdir: $!";
my $t0 = time;
my $status = 0;
while (time < $t0 + 30)
{
	$status = add_revenue($sport, 'sb-e', 4) // 0;
	last if $status == 200;
	usleep(50_000);
}
my $took = time - $t0;
is($status, 200, 'promoted: POST 200');
cmp_ok($took, '<', 5, "... within a few seconds once they can be set aside ($took s)");
note sprintf('set-aside possible to accepted POST: %.2f s', $took);
is(worker_pid($standby), $pid, '... by the same worker process (HTTP stayed up)');
rotate($standby);
is(revenue_of($standby, 'sb-e')->{'sb-e'}, 4, '... and counted once');
is(status_of($sport, 'GET', '/ready' . '?role=primary'), 200,
	'promoted: /ready?role=primary 200');
cmp_ok(count_processed($standby), '>', $processed_before,
	'promoted: the journal is there now, its file ingested');

# (f) the events the base backup copied are counted once, by the primary
is(revenue_of($standby, 'sb-bk')->{'sb-bk'}, 6,
	'promoted: the events of the copied journal counted once, not twice');
ok(-s "$aside[0]/events.jsonl", '... their file still set aside');
my @aside2 = grep { $_ ne $aside[0] } glob(journal_dir($standby) . '/from-backup-*');
is(scalar @aside2, 1, 'promoted: a file put there meanwhile set aside at promotion');
ok(-s "$aside2[0]/$late", '... into a directory of its own');
is_deeply(revenue_of($standby, 'sb-late'), {}, '... and not counted');

my $log = slurp_file($standby->logfile);
unlike($log, qr/read-only transaction/, 'standby: nothing tried to write');
like($log, qr/as a hot standby/, 'standby: the worker said it started on a standby');
like($log, qr/the server was promoted: accepting events/, '... and when it took up writes');
my @warned = $log =~ /WARNING:  evproc: \d+ journal file\(s\) copied by the base backup set aside in "([^"]*)"/g;
is_deeply(\@warned, [ $aside[0], $aside2[0] ],
	'a WARNING each time names the directory the files were set aside in');
like($log, qr/primary counted, or will count/, '... saying why');

done_testing();
