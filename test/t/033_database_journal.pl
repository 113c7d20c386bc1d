# The journal kept in the database (evproc.journal_storage = database).
#
#	- A POST's events are one row of the current segment's journal table,
#	  the journal lines byte for byte, and no journal file is written;
#	  evproc_rotate() seals the segment and ingest counts it once, under
#	  the segment's name in processed_files, and deletes its row.
#	- A POST is answered only once its group commit has committed: with
#	  synchronous_standby_names naming a standby that does not exist, the
#	  reply waits for it (the commit is local, the worker polls the
#	  standbys' position), while reads are served and the next POST is
#	  committed too; once the setting is cleared both get their 200.  A group commit that fails (the
#	  journal tables locked by another session past lock_timeout) answers
#	  503 and nothing of it is counted; the next one succeeds.
#	- The worker killed (fault points) just before a group commit's
#	  commit: its event is not counted; just after: counted once, though
#	  never answered.
#	- Kill -9 of the postmaster while senders stream events, twice: every
#	  acknowledged event counted exactly once (the segment left unsealed is
#	  sealed at start and ingested).
#	- Sustained posting with rotations: the ring of journal tables is
#	  truncated, so the rows of at most a few counted segments are left at
#	  once, and nothing once everything is ingested.
#	- A segment is sealed by rotation only, as a file is (not at a size of
#	  its own): over 4 MB in 330 group commits stay one segment, which
#	  ingest reads a few rows at a time, then again inside the transaction
#	  (its eventIds, and a second range of its 120,000 users): every event
#	  counted once, resent eventIds not again, its size and fingerprint
#	  those of its bytes.
#	- A segment of 120,000 rows (one POSTed, copied by SQL) is read 16
#	  passes at a time: every event counted once, and the heap pages ingest
#	  touches stay within 4 a piece (not a scan per piece).
#	- The journal directory removed behind the worker's back: the next
#	  POST is accepted and counted (ingest makes the directory again,
#	  with a WARNING).
#	- A truncation that missed its lock (a session reading the tables) is
#	  tried again when the next segment is sealed, ingest paused (so that
#	  no segment is counted meanwhile).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Path ();
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('dbjournal',
	"evproc.journal_storage = 'database'\nevproc.rotation_interval = '1h'\n"
	  . "wal_level = replica\nmax_wal_senders = 2\n");
my $port = http_port($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $journal_rows = 'SELECT worker, seg, pass, lines FROM evproc.journal_0 '
  . 'UNION ALL SELECT worker, seg, pass, lines FROM evproc.journal_1 '
  . 'UNION ALL SELECT worker, seg, pass, lines FROM evproc.journal_2';

# --- a group commit is a row; rotation and ingest ---
is(sql("SHOW evproc.journal_storage"), 'database', 'journal in the database');
is(add_revenue($port, 'db-1', 1), 200, 'POST answered 200');
is(sql("SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NULL"),
	'1', 'one current segment');
like(
	sql("SELECT convert_from(lines, 'UTF8') FROM ($journal_rows) j"),
	qr/^\{.*"userId":"db-1".*\}\n$/s,
	'its row holds the journal line');
ok(!-s journal_dir($node) . '/events.jsonl', 'no journal file written');
my $name = rotate($node);
like($name, qr/^events-.*\.jsonl$/, 'evproc_rotate() names the segment');
is(revenue_of($node, 'db-1')->{'db-1'}, '1', 'the event is counted');
is(sql("SELECT count(*) FROM evproc.journal_segments"), '0',
	'the segment is gone once counted');
is(sql("SELECT events FROM evproc.processed_files WHERE filename = '$name'"),
	'1', 'recorded under its name in processed_files');

# --- the reply comes after the commit ---
sql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
sql('SELECT pg_reload_conf()');
ok(query_until($node, "SELECT current_setting('synchronous_standby_names')",
		'nobody', 30),
	'a synchronous standby that does not exist');
usleep(300_000);
my $conn = http_connect($port);
is(http_send($conn, 'POST', '/liveEvent', event_json('db-sync', 'add_revenue', 1)),
	undef, 'POST sent');
my ($status, $body) = http_read_reply($conn, 3);
is($status, undef, 'no reply while the commit waits for the standby');
# the worker waits for the standby between its passes, not at commit:
# meanwhile it serves reads, and group-commits what comes next
my $conn2 = http_connect($port);
is(http_send($conn2, 'POST', '/liveEvent', event_json('db-sync2', 'add_revenue', 1)),
	undef, 'a second POST sent');
my $get = http_connect($port);
my $t0 = time;
my ($gstatus, $gbody) = http_request($get, 'GET', '/userEvents/db-1', undef, 10);
is($gstatus, 200, 'GET answered while POSTs wait for the standby');
like($gbody, qr/"revenue"\s*:\s*"?1/, '... with the counted value');
cmp_ok(time - $t0, '<', 5, '... without waiting for the standby');
($gstatus) = http_request($get, 'GET', '/health', undef, 10);
ok(defined $gstatus, '/health answered meanwhile');
close($get->{sock});
is(sql("SELECT count(*) FROM ($journal_rows) j WHERE convert_from(lines, 'UTF8') LIKE '%db-sync%'"),
	'2', 'both POSTs committed locally (each its own group commit)');
($status) = http_read_reply($conn2, 1);
is($status, undef, 'the second waits for the standby too');
is(sql("SELECT wait_event IS DISTINCT FROM 'SyncRep' FROM pg_stat_activity WHERE backend_type = 'evproc'"),
	't', 'the worker does not sleep in SyncRep');
sql("ALTER SYSTEM RESET synchronous_standby_names");
sql('SELECT pg_reload_conf()');
($status, $body) = http_read_reply($conn, 30);
is($status, 200, '200 once the commit ends');
($status, $body) = http_read_reply($conn2, 30);
is($status, 200, 'and the second');
close($conn->{sock});
close($conn2->{sock});

# a failed commit: 503, nothing kept
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE evproc.journal_0, evproc.journal_1, '
	  . 'evproc.journal_2 IN ACCESS EXCLUSIVE MODE');
($status, $body) = http_post($port, '/liveEvent',
	event_json('db-locked', 'add_revenue', 1));
is($status, 503, 'the journal tables locked: 503');
like($body, qr/"error"/, 'with a JSON error');
$locker->query_safe('COMMIT');
$locker->quit;
my $ok = 0;
for (1 .. 100)
{
	($status) = http_post($port, '/liveEvent',
		'{"userId":"db-after","name":"add_revenue","value":1,"eventId":"db-after-1"}');
	if (defined $status && $status == 200) { $ok = 1; last; }
	usleep(100_000);
}
ok($ok, 'accepted again once the lock is gone');
rotate($node);
my $rev = revenue_of($node, 'db-sync', 'db-sync2', 'db-locked', 'db-after');
is($rev->{'db-sync'}, '1', 'the event answered after the wait is counted');
is($rev->{'db-sync2'}, '1', 'and the one committed behind it');
ok(!exists $rev->{'db-locked'}, 'the event refused with 503 is not');
is($rev->{'db-after'}, '1', 'the retried event is counted once');

# --- the worker killed just before or just after a group commit's commit:
# what was committed is counted (even unanswered), what was not is not ---
for my $point ('journal-db-before-commit', 'journal-db-after-commit')
{
	set_fault($node, $point);
	($status, $body) = http_post($port, '/liveEvent',
		event_json("db-$point", 'add_revenue', 1));
	isnt($status, 200, "$point: no 200 (the worker died)");
	ok(wait_for_http($port, 60), "$point: the worker is back");
	set_fault($node, '');
}
rotate($node);
$rev = revenue_of($node, 'db-journal-db-before-commit',
	'db-journal-db-after-commit');
ok(!exists $rev->{'db-journal-db-before-commit'},
	'killed before the commit: not counted');
is($rev->{'db-journal-db-after-commit'}, '1',
	'killed after the commit: counted once');

# --- kill -9 while streaming: exactly once ---
for my $cycle (1 .. 2)
{
	my (@pids, @files);
	for my $s (1 .. 3)
	{
		my $file = "$tmp/acked-c$cycle-s$s";
		push @files, $file;
		push @pids, start_sender($port, "k${cycle}s$s", 20000, $file);
	}
	my $deadline = time + 60;
	# a rotation in the middle, so that a sealed segment and the current
	# one are both there at the kill
	my $rotated = 0;
	while (time < $deadline)
	{
		my $acked = 0;
		$acked += count_lines($_) for @files;
		if ($acked >= 1000 && !$rotated)
		{
			sql('SELECT evproc_rotate()');
			$rotated = 1;
		}
		last if $acked >= 3000;
		usleep(50_000);
	}
	ok(kill9_and_wait($node, 60), "cycle $cycle: all processes gone");
	wait_for_senders(\@pids, 60);
	$node->start;
	ok(wait_for_http($port, 60), "cycle $cycle: back after the restart");
	rotate($node);
	my (%acked, %sent);
	for my $s (1 .. 3)
	{
		$acked{$_} = 1 for read_lines("$tmp/acked-c$cycle-s$s");
		my ($n) = read_sent("$tmp/acked-c$cycle-s$s");
		$sent{"k${cycle}s$s"} = $n // 0;
	}
	ok(scalar(keys %acked) >= 3000, "cycle $cycle: events acknowledged");
	check_counted_once($node, "cycle $cycle", "k${cycle}s%", \%acked, \%sent);
	check_books($node, "cycle $cycle");
}

# --- sustained posting: the ring is truncated ---
# Each poll reads, in one snapshot, the rows of the journal tables and which
# of them belong to a segment already counted (no longer in
# journal_segments).  The worker truncates a table once a segment of it is
# counted and none of it is live, and tries again at the next seal or count
# when its lock was taken (this loop's own reads take it); so the rows of at
# most a few counted segments are ever left at once, however fast events
# come.  Without truncation every counted segment would stay.
my @pids;
for my $s (1 .. 2)
{
	push @pids, start_sender($port, "ring$s", 20000, "$tmp/ring$s");
}
my ($max_rows, $max_dead, %segs_seen) = (0, 0);
my $deadline = time + 60;
my $ring_state = "SELECT j.worker || '/' || j.seg, count(*), bool_and(s.seg IS NULL) "
  . "FROM ($journal_rows) j LEFT JOIN evproc.journal_segments s USING (worker, seg) "
  . "GROUP BY j.worker, j.seg";
while (time < $deadline)
{
	sql('SELECT evproc_rotate()');
	my ($rows, $dead) = (0, 0);
	for my $line (split /\n/, sql($ring_state))
	{
		my ($seg, $n, $counted) = split /\|/, $line;
		$segs_seen{$seg} = 1;
		$rows += $n;
		$dead++ if $counted eq 't';
	}
	$max_rows = $rows if $rows > $max_rows;
	$max_dead = $dead if $dead > $max_dead;
	last unless grep { waitpid($_, POSIX::WNOHANG()) == 0 } @pids;
	usleep(100_000);
}
wait_for_senders(\@pids, 60);
my $acked = count_lines("$tmp/ring1") + count_lines("$tmp/ring2");
rotate($node);
my $segments = scalar(keys %segs_seen);
note("sustained: $acked events acknowledged in $segments segments, "
	  . "at most $max_rows journal rows and $max_dead counted segments' rows at once");
ok($acked > 10000, 'sustained posting acknowledged events');
# the bound below means something only if many segments were counted
ok($segments >= 6, "the events spread over segments ($segments)");
ok($max_dead <= 3,
	"the journal tables keep the rows of few counted segments ($max_dead at most, of $segments)");
# one more rotation with nothing live: every table can go
is(add_revenue($port, 'ring-last', 1), 200, 'one more event');
rotate($node);
ok(query_until($node, "SELECT count(*) FROM ($journal_rows) j", '0', 30),
	'all journal tables truncated once everything is counted');
is(sql("SELECT count(*) FROM evproc.journal_segments"), '0',
	'no segment left');
is(sql("SELECT (SELECT sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'ring%') = "
		. "(SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'ring%')"), 't',
	'each event of the stream counted once');

# --- a large segment, read in pieces ---
# 300 POSTs of 400 events (about 40 kB each; eventIds, a user each: 120,000
# users, more than ingest keeps in memory at once, so the segment is read
# again for a second range of users) and one event without an eventId
# each, then the first 30 POSTs again
sub piece_body
{
	my ($i) = @_;
	my @ev = map {
		qq({"userId":"piece-u$i-$_","name":"add_revenue","value":1,)
		  . qq("eventId":"piece-$i-$_","detail":") . ('x' x 30) . '"}'
	} 1 .. 400;
	push @ev, event_json('piece-plain', 'add_revenue', 1);
	return '[' . join(',', @ev) . ']';
}
my $posted = 0;
for my $i (1 .. 300, 1 .. 30)
{
	my ($status) = http_post($port, '/liveEvent', piece_body($i));
	$posted++ if defined $status && $status == 200;
}
is($posted, 330, 'all 330 POSTs of the large segment answered 200');
my $seg_bytes = sql("SELECT sum(octet_length(lines)) FROM ($journal_rows) j "
	  . "JOIN evproc.journal_segments s USING (worker, seg) WHERE s.sealed_at IS NULL");
cmp_ok($seg_bytes, '>', 4 * 1024 * 1024, "over 4 MB journaled ($seg_bytes bytes)");
is(sql("SELECT count(*) FROM evproc.journal_segments"), '1',
	'still one segment: only rotation seals it');
cmp_ok(sql("SELECT count(*) FROM ($journal_rows) j"), '>=', 330,
	'a row per group commit');
# rows are compressed with lz4 where the server has it, else pglz
my $method = $node->psql('postgres', 'SET default_toast_compression = lz4') == 0 ? 'lz4' : 'pglz';
is(sql("SELECT count(*) > 0 AND count(*) = count(*) FILTER (WHERE pg_column_compression(lines) = '$method') "
	  . "FROM ($journal_rows) j WHERE pg_column_compression(lines) IS NOT NULL"), 't',
	"the journal rows are compressed with $method");
my $fingerprint = sql("SELECT encode(evproc.murmur3_128(string_agg(lines, ''::bytea ORDER BY pass)), 'hex') "
	  . "FROM ($journal_rows) j");
my $piece_name = sql("SELECT name FROM evproc.journal_segments");
rotate($node);
is(sql("SELECT count(*) FROM evproc.journal_segments"), '0',
	'the large segment is ingested');
is(sql("SELECT size = $seg_bytes FROM evproc.processed_files WHERE filename = '$piece_name'"),
	't', 'recorded with the size of its bytes');
is(sql("SELECT encode(murmur3_128, 'hex') FROM evproc.processed_files WHERE filename = '$piece_name'"),
	$fingerprint, 'and their fingerprint (MurmurHash3 x64-128)');
is(sql("SELECT count(*) || ' ' || sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'piece-u%'"),
	'120000 120000',
	'each of the 120,000 events with an eventId counted once, over two ranges of users; resent ones not again');
is(revenue_of($node, 'piece-plain')->{'piece-plain'}, '330',
	'each event without an eventId counted, resent ones too');

# --- a segment of many rows: ingest reads it a range of passes at a time ---
# A segment of 120,000 group commits (rows), made quickly: one event POSTed
# with ingest paused, its row copied by SQL as passes 2 .. 120000 of the
# same segment, for 1,000 users (so that ingest sums them in one read of
# the segment; nothing else is POSTed meanwhile), then sealed by the
# rotation interval.  Whatever plan the table's
# statistics (none: autovacuum is off on it) give, ingest reads each piece
# from a range of 16 passes, so the heap pages it touches grow with the
# rows, not with their square.  Asking for the rows after a pass with
# ORDER BY pass LIMIT 16 instead became, on a table never analyzed and of
# over about 100,000 rows, a bitmap scan of every row after that pass for
# each piece: 0.5 s a piece at 170,000 rows.
sql('SELECT evproc_pause_ingest()');
is(add_revenue($port, 'many-1', 1), 200, 'an event with ingest paused');
my ($many_seg, $many_tab) = split /\|/,
  sql("SELECT seg, tab FROM evproc.journal_segments WHERE sealed_at IS NULL");
sql("INSERT INTO evproc.journal_$many_tab (worker, seg, pass, lines) "
	  . "SELECT worker, seg, g, convert_to(replace(convert_from(lines, 'UTF8'), "
	  . "'\"many-1\"', '\"many-' || g % 1000 || '\"'), 'UTF8') "
	  . "FROM evproc.journal_$many_tab, generate_series(2, 120000) g "
	  . "WHERE seg = $many_seg AND pass = 1");
set_conf($node, 'evproc.rotation_interval', '1s');
ok(query_until($node, "SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NOT NULL",
		'1', 30),
	'the segment of 120,000 rows is sealed');
set_conf($node, 'evproc.rotation_interval', '1h');
# its bytes as the worker would have counted them, had it written them all
sql("UPDATE evproc.journal_segments SET bytes = (SELECT sum(octet_length(lines)) "
	  . "FROM evproc.journal_$many_tab WHERE seg = $many_seg) WHERE seg = $many_seg");
my $many_pages = sql("SELECT pg_relation_size('evproc.journal_$many_tab') / 8192");
# the heap pages of the table read so far, once every session's counts are
# in (the worker sends its own at most once a second)
my $heap_touched = "SELECT heap_blks_hit + heap_blks_read FROM pg_statio_user_tables "
  . "WHERE schemaname = 'evproc' AND relname = 'journal_$many_tab'";
sub settled
{
	my ($query) = @_;
	my $last = sql($query);
	for (1 .. 20)
	{
		usleep(1_200_000);
		my $now = sql($query);
		return $now if $now eq $last;
		$last = $now;
	}
	return $last;
}
my $touched_before = settled($heap_touched);
sql('SELECT evproc_resume_ingest()');
rotate($node);
my $touched = settled($heap_touched) - $touched_before;
is(sql("SELECT count(*) || ' ' || sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'many-%'"),
	'1000 120000', 'the segment of 120,000 rows is ingested, each event counted once');
my $pieces = int((120000 + 15) / 16);
cmp_ok($touched, '<=', 4 * $pieces,
	"ingest touched $touched heap pages of a table of $many_pages for 120,000 rows: "
	  . "at most 4 a piece of 16 rows");

# --- the journal directory removed: ingest makes it again ---
# (no journal write comes in this mode to make it again, and the
# segments must not wait behind a failing scan of the directory)
my $offset = -s $node->logfile;
File::Path::rmtree(journal_dir($node));
is(add_revenue($port, 'rmdir-db', 1), 200, 'POST accepted with the journal directory gone');
rotate($node);
is(revenue_of($node, 'rmdir-db')->{'rmdir-db'}, '1', '... and counted');
ok(defined log_match($node, qr/WARNING:.*evproc: the journal directory .* was removed by someone else; it is made again/,
		$offset, 5),
	'the directory is made again, with a WARNING');
ok(-d journal_dir($node) . '/processed', '... with processed/');

# --- a truncation that missed its lock is tried again at the next seal ---
# (not only when the next segment is counted: here ingest is paused)
$locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE evproc.journal_0, evproc.journal_1, '
	  . 'evproc.journal_2 IN ACCESS SHARE MODE');
is(add_revenue($port, 'retry-1', 1), 200, 'an event while a session reads the journal tables');
my ($seg1, $tab1) = split /\|/,
  sql("SELECT seg, tab FROM evproc.journal_segments WHERE sealed_at IS NULL");
rotate($node);
is(revenue_of($node, 'retry-1')->{'retry-1'}, '1', 'its segment is counted');
cmp_ok(sql("SELECT count(*) FROM evproc.journal_$tab1 WHERE seg = $seg1"), '>', 0,
	'its rows stay: the truncation missed its lock');
sql('SELECT evproc_pause_ingest()');
$locker->query_safe('COMMIT');
$locker->quit;
is(add_revenue($port, 'retry-2', 1), 200, 'an event with ingest paused');
isnt(sql("SELECT tab FROM evproc.journal_segments WHERE sealed_at IS NULL"), $tab1,
	'in a segment of another table');
set_conf($node, 'evproc.rotation_interval', '1s');
ok(query_until($node, "SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NOT NULL",
		'1', 30),
	'its segment is sealed by the rotation interval, not counted');
ok(query_until($node, "SELECT count(*) FROM evproc.journal_$tab1", '0', 10),
	"the first segment's table is truncated at that seal");
set_conf($node, 'evproc.rotation_interval', '1h');
sql('SELECT evproc_resume_ingest()');
rotate($node);
is(revenue_of($node, 'retry-2')->{'retry-2'}, '1', 'the second event is counted once ingest resumes');

done_testing();
