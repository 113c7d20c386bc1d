# Crashes at exact points of rotation and ingest, a torn journal tail, and
# a file dropped into the journal directory.
#
# evproc.fault_injection makes the worker SIGKILL itself at a named point;
# the postmaster then runs crash recovery and restarts it.  After each
# crash, every event must be counted exactly once:
#	(a) ingest-after-commit: the file is recorded but not moved; the
#		restarted worker finds its name recorded and only moves it;
#	(b) ingest-before-commit: nothing of the file is committed; the
#		restarted worker ingests it again, from scratch;
#	(b2) ingest-before-start: after a rotation, before ingest starts; the
#		same;
#	(c) rotate-after-rename: the renamed journal is ingested after restart;
#	(d) a torn last line in events.jsonl (a crash in the middle of a write)
#		is rejected, and the next acknowledged event is not glued to it;
#	(e) a file dropped in by a user is ingested: valid lines counted,
#		invalid ones rejected with a reason, a last line without a newline
#		taken if it is whole;
#	(f) a backlog of dropped files is ingested one file after another,
#		without waiting for the periodic directory scan in between.
# The rotation interval is an hour: rotations happen only on
# evproc_rotate() and at start-up.
#
# With EVPROC_TEST_JOURNAL_STORAGE=database the crash points of (a), (b)
# and (b2) hit a sealed segment instead of a file, and the events must be
# counted exactly once all the same; what is about files (moved to
# processed/, a recorded name found again, the renamed journal of (c), the
# torn tail of (d)) is skipped: a segment is deleted by the transaction
# that counts it, and a group commit is a row, whole or absent.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EvprocTest;

my $node = evproc_node('faults');
my $port = http_port($node);
my $dir = journal_dir($node);
my $fillers = 0;    # filler events posted when a fault did not fire

# post_events($what, [$user, $name, $value], ...) posts events on one
# connection; all of them must be acknowledged.
sub post_events
{
	my ($what, @events) = @_;
	my $conn = http_connect($port);
	my $acked = 0;

	if ($conn)
	{
		for my $e (@events)
		{
			my ($status, $body) =
			  http_request($conn, 'POST', '/liveEvent', event_json(@$e));
			if (defined $status && $status == 200)
			{
				$acked++;
			}
			else
			{
				diag "$what: event for $e->[0]: "
				  . ($status // 'no reply') . ": $body";
				last;
			}
		}
		close($conn->{sock});
	}
	is($acked, scalar(@events), "$what: events acknowledged");
}

# revenues($prefix) returns user => revenue for the users whose id starts
# with $prefix.
sub revenues
{
	my ($prefix) = @_;
	return {
		map { split /\|/ } split /\n/,
		$node->safe_psql(
			'postgres',
			"SELECT user_id, revenue FROM evproc.user_revenue "
			  . "WHERE user_id LIKE '$prefix%' ORDER BY user_id")
	};
}

# rotate_expecting_crash($point, $what) calls evproc_rotate(), which must
# fail because the worker kills itself at $point: with an error, or with
# the session terminated by crash recovery; the log must show the fault.
# Should the worker not have acted on the new setting yet, the rotated
# file is ingested normally; then a filler event is posted and it is tried
# again, at most 3 times.  Returns the log offset from before the crash
# and the number of fillers.
sub rotate_expecting_crash
{
	my ($point, $what) = @_;
	my $offset = -s $node->logfile;
	my $crashed = 0;
	my $tries_filled = 0;

	for my $try (1 .. 3)
	{
		my ($rc, $out, $err) =
		  $node->psql('postgres', 'SELECT evproc_rotate(30000)');
		if ($rc != 0)
		{
			note "$what: evproc_rotate() failed: $err";
			$crashed = defined log_match($node,
				qr/evproc: fault injection at "\Q$point\E"/, $offset);
			diag "$what: evproc_rotate() failed, but not by the fault: $err"
			  unless $crashed;
			last;
		}
		note "$what: no crash on try $try; posting a filler event";
		$fillers++;
		$tries_filled++;
		post_events("$what: filler", [ "filler-$fillers", 'add_revenue', 1 ]);
	}
	ok($crashed, "$what: evproc_rotate() failed, the worker crashed at $point");
	return ($offset, $tries_filled);
}

# wait_for_recovery($what) waits until the node accepts queries again and
# the restarted worker answers HTTP.
sub wait_for_recovery
{
	my ($what) = @_;
	ok(query_until($node, 'SELECT true', 't'), "$what: crash recovery done");
	ok(wait_for_http($port, 60), "$what: worker answers HTTP again");
}

# file_events($name) is "<rows in processed_files>:<events recorded>" for a
# file.
sub file_events
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) || ':' || coalesce(sum(events), 0) "
		  . "FROM evproc.processed_files WHERE filename = '$name'");
}

# recorded_files() returns the names in evproc.processed_files.
sub recorded_files
{
	my %state = archive_state($node);
	return @{ $state{recorded} };
}

# rejected_count() counts the rejected lines.
sub rejected_count
{
	return $node->safe_psql('postgres',
		'SELECT count(*) FROM evproc.rejected_lines');
}

# --- (a) crash after the ingest commit, before the move to processed/ ---

post_events(
	'after-commit',
	[ 'a-1', 'add_revenue', 5 ],
	[ 'a-2', 'add_revenue', 3 ],
	[ 'a-1', 'subtract_revenue', 1 ]);
set_fault($node, 'ingest-after-commit');
my ($offset, $filled) =
  rotate_expecting_crash('ingest-after-commit', 'after-commit');
wait_for_recovery('after-commit');

# the restarted worker finds the name recorded and only moves the file
my $in_db = journal_in_database($node);
my $skip_files =
  'journal in the database: no file, the counting transaction deleted the segment';
SKIP:
{
	skip $skip_files, 3 if $in_db;
	my $moved = log_match($node,
		qr/evproc: file "(events-[^"]+)" was already ingested/, $offset);
	ok(defined $moved, "after-commit: restarted worker only moved the file");
	$moved //= 'none';
	set_fault($node, '');
	rotate($node);
	ok(-f "$dir/processed/$moved" && !-e "$dir/$moved",
		"after-commit: $moved is in processed/");
	is(file_events($moved), $filled ? '1:1' : '1:3',
		"after-commit: $moved recorded once");
}
if ($in_db)
{
	set_fault($node, '');
	rotate($node);
}
is_deeply(revenues('a-'), { 'a-1' => '4', 'a-2' => '3' },
	'after-commit: events counted exactly once');
check_archives($node, 'after-commit');

# --- (b) crash inside the ingest transaction, before its commit ---
#
# The postmaster keeps the setting, so the restarted worker crashes again
# at the same point, over and over.  restart_without_fault stops the node,
# resets the setting in postgresql.auto.conf (ALTER SYSTEM RESET, offline),
# and starts it again.

# restart_without_fault($what) does that and returns the name of the one
# archived file that waits (the one the worker crashed on).
sub restart_without_fault
{
	my ($what) = @_;

	$node->stop('immediate');
	my @waiting = grep { /^events-.*\.jsonl$/ } do
	{
		opendir(my $dh, $dir) or die "opendir $dir: $!";
		readdir($dh);
	};
	SKIP:
	{
		skip 'journal in the database: the segment waits in its table', 1
		  if $in_db;
		is(scalar(@waiting), 1, "$what: the file was not moved");
	}

	reset_conf_offline($node, 'evproc.fault_injection');

	$node->start;
	ok(wait_for_http($port, 60), "$what: worker answers HTTP again");
	return $waiting[0] // 'none';
}

# crash_then_count($point, $prefix, @events) posts the events, makes the
# worker crash at $point as it ingests them, restarts it without the
# fault, posts one more event to the new journal, and checks that the file
# was ingested once, from scratch, with every event counted once.
sub crash_then_count
{
	my ($point, $prefix, @events) = @_;
	my %want;

	for my $e (@events)
	{
		my ($user, $name, $value) = @$e;
		$want{$user} += ($name eq 'add_revenue' ? $value : -$value);
	}
	post_events($point, @events);
	set_fault($node, $point);
	my ($offset, $filled) = rotate_expecting_crash($point, $point);
	my $crashed_file = restart_without_fault($point);
	post_events("$point: after", [ "$prefix-after", 'add_revenue', 1 ]);
	rotate($node);
	unlike(
		slurp_file($node->logfile, $offset),
		qr/was already ingested/,
		"$point: the file was not recorded before the crash");
	SKIP:
	{
		skip $skip_files, 2 if $in_db;
		ok(-f "$dir/processed/$crashed_file" && !-e "$dir/$crashed_file",
			"$point: $crashed_file is in processed/");
		is(file_events($crashed_file),
			$filled ? '1:1' : '1:' . scalar(@events),
			"$point: $crashed_file recorded once");
	}
	$want{"$prefix-after"} = 1;
	is_deeply(revenues("$prefix-"), { map { $_ => 0 + $want{$_} } keys %want },
		"$point: events counted exactly once");
	check_archives($node, $point);
}

crash_then_count(
	'ingest-before-commit', 'b',
	[ 'b-1', 'add_revenue', 2 ],
	[ 'b-2', 'add_revenue', 10 ],
	[ 'b-2', 'subtract_revenue', 4 ],
	[ 'b-3', 'add_revenue', '0.5' ]);

# --- (b2) crash after a rotation, before ingest starts ---

crash_then_count(
	'ingest-before-start', 'b2',
	[ 'b2-1', 'add_revenue', 3 ],
	[ 'b2-2', 'subtract_revenue', 1 ]);

SKIP:
{
	skip 'journal in the database: rotation renames no file, and a group '
	  . 'commit is one row, never torn (see 033_database_journal.pl)', 21
	  if $in_db;

# --- (c) crash right after the journal was renamed ---

	my %before = map { $_ => 1 } recorded_files();
	post_events(
		'after-rename',
		[ 'c-1', 'add_revenue', 7 ],
		[ 'c-2', 'subtract_revenue', 2 ]);
	set_fault($node, 'rotate-after-rename');
	(undef, $filled) =
	  rotate_expecting_crash('rotate-after-rename', 'after-rename');
	wait_for_recovery('after-rename');
	set_fault($node, '');
	rotate($node);
	my @new = grep { !$before{$_} } recorded_files();
	is(scalar(@new), 1 + $filled,
		'after-rename: the renamed journal was ingested, once');
	is_deeply(revenues('c-'), { 'c-1' => '7', 'c-2' => '-2' },
		'after-rename: events counted exactly once');
	check_archives($node, 'after-rename');
	is(rejected_count(), '0', 'no rejected lines so far');

# --- (d) a torn last line in the journal ---

	post_events(
		'torn',
		[ 'd-1', 'add_revenue', 2 ],
		[ 'd-2', 'add_revenue', 3 ]);
	$node->stop;
	ok(-s "$dir/events.jsonl", 'torn: the acknowledged events are in the journal');
	my $fragment = '{"userId":"torn","name":"add_rev';
	open(my $fh, '>>', "$dir/events.jsonl") or die "could not append: $!";
	print $fh $fragment;
	close($fh);
	$node->start;
	ok(wait_for_http($port, 60), 'torn: worker answers HTTP after restart');
	post_events('torn', [ 'd-3', 'add_revenue', 4 ]);
	rotate($node);
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM evproc.rejected_lines "
			  . "WHERE line = '$fragment' AND line_number = 3 AND reason <> ''"),
		'1',
		'torn: the fragment is rejected with a reason');
	note 'torn: reason: '
	  . $node->safe_psql('postgres',
		"SELECT reason FROM evproc.rejected_lines WHERE line = '$fragment'");
	is(rejected_count(), '1', 'torn: nothing else rejected');
	is_deeply(
		revenues('d-'),
		{ 'd-1' => '2', 'd-2' => '3', 'd-3' => '4' },
		'torn: acknowledged events counted, the new one not swallowed');
	is_deeply(revenues('torn'), {}, 'torn: the fragment counts nothing');
	check_archives($node, 'torn');
}

# --- (e) a file dropped into the journal directory ---

my $drop = 'events-drop-001.jsonl';
my @lines = (
	'{"userId":"e-1","name":"add_revenue","value":5}',
	'{"userId":"e-2","name":"add_revenue","value":7.25}',
	'this is not json',
	'{"userId":"e-1","name":"subtract_revenue","value":2}',
	'{"userId":"e-4","name":"multiply_revenue","value":3}',
	'',
	'{"userId":"e-3","name":"add_revenue","value":4}');
open(my $fh, '>', "$dir/drop.tmp") or die "could not write: $!";
print $fh join("\n", @lines);    # no newline after the last line
close($fh);
rename("$dir/drop.tmp", "$dir/$drop") or die "could not rename: $!";
rotate($node);
ok(-f "$dir/processed/$drop" && !-e "$dir/$drop",
	"drop: $drop is in processed/");
is( $node->safe_psql(
		'postgres',
		"SELECT events || ':' || rejected FROM evproc.processed_files "
		  . "WHERE filename = '$drop'"),
	'4:2',
	'drop: 4 events and 2 rejected lines recorded');
is_deeply(
	revenues('e-'),
	{ 'e-1' => '3', 'e-2' => '7.25', 'e-3' => '4' },
	'drop: valid lines counted, the last one without a newline too');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(line_number || ':' || line, ',' ORDER BY line_number) "
		  . "FROM evproc.rejected_lines WHERE filename = '$drop' AND reason <> ''"),
	'3:this is not json,5:{"userId":"e-4","name":"multiply_revenue","value":3}',
	'drop: invalid lines rejected with a reason');
check_archives($node, 'drop');

# --- (f) a backlog of archived files ---
#
# After a file the worker must look for the next one at once, not at its
# next periodic scan of the directory (every second): otherwise
# evproc_rotate() takes a second per waiting file and times out here.

my $backlog = 20;
for my $i (1 .. $backlog)
{
	open(my $fh, '>', "$dir/drop.tmp") or die "could not write: $!";
	print $fh event_json("f-$i", 'add_revenue', 1), "\n";
	close($fh);
	rename("$dir/drop.tmp", sprintf('%s/events-backlog-%03d.jsonl', $dir, $i))
	  or die "could not rename: $!";
}
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT evproc_rotate(10000)');
is($rc, 0, "backlog: $backlog files ingested by one evproc_rotate(10000)")
  or diag $err;
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'f-%' AND revenue = 1"
	),
	$backlog,
	'backlog: every file counted once');
check_archives($node, 'backlog');

# fillers, if any, were counted once too
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'filler-%' AND revenue = 1"
	),
	$fillers,
	'fillers counted once');
note "fault settings not taken on the first try: $fillers";

$node->stop;
done_testing();
