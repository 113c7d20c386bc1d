# Exactly once across restarts of the server and of the worker, reloads,
# a locked table and a crash inside the ingest transaction:
#	(a) pg_ctl restart -m fast in the middle of a stream of POSTs from four
#		concurrent senders;
#	(b) SIGTERM to the worker (pg_terminate_backend) during a stream: a new
#		worker is started by the postmaster (bgw_restart_time = 5s) and
#		serves the same port;
#	(c) pg_reload_conf() with changed evproc.rotation_interval, evproc.fsync
#		and evproc.max_body_size, several times during a stream: no
#		request fails;
#	(d) evproc.user_metrics locked by another session (as VACUUM FULL or
#		ALTER TABLE do): the worker never waits for the lock, so POSTs keep
#		being answered at once; the archived file waits (logged once, no
#		failed tries), evproc_rotate() times out, a GET meanwhile is
#		answered 503 after 5 s instead of holding up the loop, and once the
#		lock is gone evproc_rotate() ingests at once and the events are
#		counted.  This runs first, so that the lock is met while the worker
#		prepares its plans, and again after (c), when it executes prepared
#		ones;
#	(e) a crash in the middle of the ingest transaction of a large dropped
#		file (20000 users, more than one upsert chunk): after recovery every
#		user of the file is counted exactly once.
# For each: every acknowledged event is counted exactly once, nothing is
# counted twice, nothing that was not sent is counted, archived files are
# each recorded once, and no line is rejected (nothing is torn by a clean
# shutdown, and (e) writes no journal).
#
# Senders POST events with unique userIds (value 1 each), so that "counted
# once" is "revenue exactly 1".  Streams are bounded (4 x 50000 events).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $senders = 4;
my $per_sender = 50000;

my $node = evproc_node('restarts', "evproc.rotation_interval = '1s'\n");
my $port = http_port($node);
my $dir = journal_dir($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();

# --- helpers ---

# start_stream($case, $count) starts the senders of a case: sender $s
# posts $count users "$case-s$s-<i>" (default $per_sender).  Returns a hash:
# pids, files (of acknowledged ids), count.
sub start_stream
{
	my ($case, $count) = @_;
	my (@pids, @files);

	$count //= $per_sender;

	for my $s (1 .. $senders)
	{
		my $file = "$tmp/acked-$case-s$s";
		push @files, $file;
		push @pids, start_sender($port, "$case-s$s", $count, $file);
	}
	return (pids => \@pids, files => \@files, count => $count);
}

# acked(\%stream) counts the events acknowledged so far.
sub acked
{
	my ($stream) = @_;
	my $n = 0;
	$n += count_lines($_) for @{ $stream->{files} };
	return $n;
}

# senders_done(\%stream): have all senders finished?
sub senders_done
{
	my ($stream) = @_;
	return !grep { !-e "$_.sent" } @{ $stream->{files} };
}

# wait_while_acking(\%stream) waits until all senders have finished, for as
# long as events keep being acknowledged: it gives up after 30s without a
# new acknowledgement, or after 300s in all.  With evproc.fsync on, the rate
# is that of fdatasync, which another process writing to the same disk can
# make ten times slower (5 ms a request instead of 0.5 ms): a fixed time
# for a whole stream fails there although nothing is wrong, while a stall
# (no request answered for 30s) still fails.
sub wait_while_acking
{
	my ($stream) = @_;
	my $last = -1;
	my $stall = time + 30;
	my $cap = time + 300;

	while (!senders_done($stream) && time < $stall && time < $cap)
	{
		usleep(500_000);
		my $n = acked($stream);
		($last, $stall) = ($n, time + 30) if $n > $last;
	}
	return;
}

# wait_for_stream($case, \%stream, $acked, $ingested) waits (at most 60s)
# until $acked events are acknowledged and $ingested more files have been
# ingested since the stream started.
sub wait_for_stream
{
	my ($case, $stream, $want_acked, $want_ingested) = @_;
	my $processed_before = $stream->{processed_before};
	my $deadline = time + 60;
	my ($acked, $ingested) = (0, 0);

	while (time < $deadline)
	{
		$acked = acked($stream);
		$ingested = count_ingested($node) - $processed_before;
		last if $acked >= $want_acked && $ingested >= $want_ingested;
		last if senders_done($stream);
		usleep(20_000);
	}
	cmp_ok($acked, '>=', $want_acked, "$case: $want_acked events acknowledged");
	cmp_ok($ingested, '>=', $want_ingested,
		"$case: $want_ingested files ingested during the stream");
	note "$case: $acked acknowledged, $ingested files ingested";
}

# check_stream($case, \%stream, $all_acked) reaps the senders, rotates and
# checks that the case's users were counted exactly once.  With
# $all_acked, every sender must have sent and had acknowledged all its
# events.
sub check_stream
{
	my ($case, $stream, $all_acked) = @_;

	is(wait_for_senders($stream->{pids}, 60), 0, "$case: senders stopped");

	my (%acked_ids, %sent);
	for my $s (1 .. $senders)
	{
		my $file = $stream->{files}[ $s - 1 ];
		$acked_ids{$_} = 1 for read_lines($file);
		my ($n, $why) = read_sent($file);
		ok(defined $n, "$case: sender $s reported") or next;
		note "$case: sender $s: $n sent, stopped: $why";
		$sent{"$case-s$s"} = $n;
		if ($all_acked)
		{
			is($why, 'all sent', "$case: sender $s sent everything");
			is(count_lines($file), $stream->{count},
				"$case: sender $s had everything acknowledged");
		}
	}
	my $total_sent = 0;
	$total_sent += $_ for values %sent;

	$node->safe_psql('postgres', 'SELECT evproc_rotate()');

	my $counted =
	  check_counted_once($node, $case, "$case-s%", \%acked_ids, \%sent);
	note "$case: $counted counted, $total_sent sent";
	check_node($case);
}

# check_node($case) checks the bookkeeping of the whole node (check_books)
# and that no line was rejected.
sub check_node
{
	my ($case) = @_;

	check_books($node, $case);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM evproc.rejected_lines'),
		'0', "$case: no rejected lines")
	  or diag $node->safe_psql('postgres',
		"SELECT string_agg(filename || ':' || line_number || ' ' || reason, '; ') "
		  . 'FROM evproc.rejected_lines');
}

# post_timed($user) POSTs one event on a new connection.  Returns (status,
# seconds taken).
sub post_timed
{
	my ($user) = @_;
	my $start = time;
	my ($status) =
	  http_post($port, '/liveEvent', event_json($user, 'add_revenue', 1));
	return ($status // 'none', time - $start);
}

# lock_case($case) runs case (d): evproc.user_metrics locked by another
# session.
sub lock_case
{
	my ($case) = @_;
	my $start = time;
	my $pid = worker_pid($node);
	my @acked;
	my $n = 0;
	my $post = sub {
		my ($status, $took) = post_timed("$case-" . ++$n);
		push @acked, "$case-$n" if $status eq '200';
		return ($status, $took);
	};

	# the journal is empty here: nothing was sent, or it was rotated
	my $offset = -s $node->logfile;
	my $locker = $node->background_psql('postgres');
	$locker->query_safe(
		'BEGIN; LOCK TABLE evproc.user_metrics IN ACCESS EXCLUSIVE MODE');
	my $locked_at = time;

	my ($status, $took);
	($status, $took) = $post->() for 1 .. 20;
	is(scalar(@acked), 20, "$case: POSTs accepted while the table is locked");
	# a GET waits for the lock in the background, without holding up POSTs
	my $get_sock = raw_connect(http_port($node));
	my $get_start = time;
	raw_send($get_sock, "GET /userEvents/$case-1 HTTP/1.1\r\nHost: x\r\n\r\n");

	my ($rc, $out, $err) =
	  $node->psql('postgres', 'SELECT evproc_rotate(3000)');
	isnt($rc, 0, "$case: evproc_rotate(3000) fails while the table is locked");
	like($err, qr/did not finish rotating and ingesting within 3000 ms/,
		"$case: ... because the file waits for the lock");

	# answered at once after a failed try (the next waits a back-off)
	($status, $took) = $post->();
	is($status, 200, "$case: a POST right after the failure is accepted");
	cmp_ok($took, '<', 1, sprintf("$case: ... within 1s (%.3fs)", $took));

	# POSTs all along the lock: the worker never waits for it
	my $max = 0;
	my $all_ok = 1;
	while (time < $locked_at + 6)
	{
		($status, $took) = $post->();
		$all_ok = 0 unless $status eq '200';
		$max = $took if $took > $max;
		usleep(100_000);
	}
	ok($all_ok, "$case: every POST during the lock accepted");
	cmp_ok($max, '<', 1,
		sprintf("$case: no POST waited for the lock (longest %.3fs)", $max));

	# the GET got its 503 once it had waited 5 s, not at the first try
	my %get = raw_reply($get_sock, 5);
	my $get_took = time - $get_start;
	is($get{status}, 503, "$case: a GET during the lock is answered 503");
	like($get{body}, qr/user_metrics is locked/, "$case: ... saying why");
	cmp_ok($get_took, '>=', 4.5,
		sprintf("$case: ... after waiting for the lock (%.1fs)", $get_took));
	close $get_sock;

	$locker->query_safe('COMMIT');
	$locker->quit;
	note sprintf('%s: lock held for %.1fs', $case, time - $locked_at);

	# at once, not when the back-off is over
	my $t0 = time;
	($rc, $out, $err) = $node->psql('postgres', 'SELECT evproc_rotate()');
	$took = time - $t0;
	is($rc, 0, "$case: evproc_rotate() succeeds once the lock is gone")
	  or diag $err;
	cmp_ok($took, '<', 2,
		sprintf("$case: ... without waiting for the back-off (%.3fs)", $took));
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || ':' || count(*) FILTER (WHERE revenue = 1) "
			  . "FROM evproc.user_revenue WHERE user_id LIKE '$case-%'"),
		scalar(@acked) . ':' . scalar(@acked),
		"$case: the " . scalar(@acked) . ' events counted exactly once');

	# no failed tries: the file waited for the lock, which is logged once
	my $log = slurp_file($node->logfile, $offset);
	my @fails = ($log =~ /evproc: could not ingest/g);
	is(scalar(@fails), 0, "$case: no failed ingest tries");
	my @waits = ($log =~ /evproc: file "[^"]+" waits for a lock/g);
	cmp_ok(scalar(@waits), '>=', 1, "$case: the wait for the lock is logged");
	cmp_ok(scalar(@waits), '<=', 7,
		"$case: ... once per file (" . scalar(@waits) . ')');
	is(worker_pid($node), $pid, "$case: the same worker throughout");
	check_node($case);
	note sprintf('%s took %.1fs', $case, time - $start);
}

# --- (d) first, while the worker has not ingested anything yet ---
#
# So the lock is met while the worker prepares its plans: a try that fails
# there must not leave them half prepared for the next one.

lock_case('lock1');

# --- (a) pg_ctl restart -m fast during a stream ---

{
	my $case = 'restart';
	my $start = time;
	my %stream = (start_stream($case), processed_before => count_ingested($node));
	wait_for_stream($case, \%stream, 2000, 2);

	ok(!senders_done(\%stream), "$case: the stream is still running");
	# eventIds past evproc.dedupe_retention (7 days) are pruned by the
	# worker when it starts; recent ones stay
	$node->safe_psql('postgres',
		"INSERT INTO evproc.seen_events (event_id, seen_at) VALUES "
		  . "('prune-old', now() - interval '8 days'), "
		  . "('prune-recent', now() - interval '6 days')");
	my $offset = -s $node->logfile;
	$node->restart;    # pg_ctl restart: fast shutdown
	note sprintf('%s: restarted after %.1fs', $case, time - $start);
	ok( defined log_match($node, qr/evproc: worker shut down/, $offset, 1),
		"$case: the worker shut down cleanly");
	unlike(slurp_file($node->logfile, $offset),
		qr/terminated by signal|Fatal error in GNU libmicrohttpd/,
		"$case: no process crashed");
	ok(wait_for_http($port, 60), "$case: HTTP answers after the restart");
	check_stream($case, \%stream, 0);
	ok( $node->poll_query_until(
			'postgres',
			"SELECT string_agg(event_id, ',' ORDER BY event_id) "
			  . "FROM evproc.seen_events WHERE event_id LIKE 'prune-%'",
			'prune-recent'),
		"$case: the restarted worker pruned the eventId past retention only");
	note sprintf('%s took %.1fs', $case, time - $start);
}

# --- (b) SIGTERM to the worker during a stream ---

{
	my $case = 'sigterm';
	my $start = time;
	my $old = worker_pid($node);
	like($old, qr/^\d+$/, "$case: the worker runs");
	my %stream = (start_stream($case), processed_before => count_ingested($node));
	wait_for_stream($case, \%stream, 2000, 1);

	ok(!senders_done(\%stream), "$case: the stream is still running");
	my $offset = -s $node->logfile;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($old)"),
		't', "$case: worker $old terminated");
	my $t0 = time;
	ok( query_until(
			$node,
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'evproc' AND pid <> $old",
			'1', 20),
		"$case: a new worker runs");
	ok(wait_for_http($port, 10), "$case: it serves the same port");
	my $took = time - $t0;
	note sprintf('%s: new worker %s serving after %.1fs', $case, worker_pid($node), $took);
	cmp_ok($took, '<=', 12, "$case: back within the restart delay (5s) and some");
	ok( defined log_match($node, qr/evproc: worker shut down/, $offset, 1),
		"$case: the old worker shut down cleanly");
	ok( defined log_match($node,
			qr/background worker "evproc[^"]*" \(PID $old\) exited with exit code 1/,
			$offset, 1),
		"$case: it exited with code 1, so that it is restarted");
	unlike(slurp_file($node->logfile, $offset),
		qr/terminated by signal|Fatal error in GNU libmicrohttpd|all server processes terminated/,
		"$case: no crash (stopping the HTTP server with requests coming in)");
	check_stream($case, \%stream, 0);
	note sprintf('%s took %.1fs', $case, time - $start);
}

# --- (c) reloads with changed settings during a stream ---

{
	my $case = 'reload';
	my $start = time;
	my $pid = worker_pid($node);
	my %stream = (start_stream($case, 25000),
		processed_before => count_ingested($node));
	my @settings = (
		[ '2s', 'off', '4kB' ],
		[ '1s', 'on', '2MB' ],
		[ '3s', 'off', '1MB' ],
		[ '1s', 'on', '64kB' ]);
	my $reloads = 0;
	my $during = 0;    # reloads done with the stream still running after
	my $deadline = time + 40;
	while (time < $deadline && !senders_done(\%stream) && $reloads < 12)
	{
		usleep(100_000);
		my ($interval, $fsync, $max_body) = @{ $settings[ $reloads % @settings ] };
		$node->safe_psql(
			'postgres', qq(
ALTER SYSTEM SET evproc.rotation_interval = '$interval';
ALTER SYSTEM SET evproc.fsync = $fsync;
ALTER SYSTEM SET evproc.max_body_size = '$max_body';
SELECT pg_reload_conf();
));
		$reloads++;
		$during++ unless senders_done(\%stream);
	}
	note "$case: $reloads reloads, $during during the stream, "
	  . acked(\%stream)
	  . ' acknowledged by the last';
	cmp_ok($during, '>=', 4, "$case: at least 4 reloads during the stream");
	# back to the node's settings (rotation every second)
	set_conf($node, 'evproc.rotation_interval', '1s');
	set_conf($node, 'evproc.fsync', 'on');
	set_conf($node, 'evproc.max_body_size', '1MB');
	wait_while_acking(\%stream);
	is(wait_for_senders($stream{pids}, 10), 0, "$case: senders done");
	check_stream($case, \%stream, 1);
	is(worker_pid($node), $pid, "$case: the same worker throughout");
	note sprintf('%s took %.1fs', $case, time - $start);
}

# --- (d) again, with the worker's plans prepared ---
#
# Now the lock is met when a prepared plan is executed.

lock_case('lock2');

# --- (e) a crash inside the ingest transaction of a large file ---
#
# The file has more users than one upsert chunk (2500), so the fault point
# 'ingest-mid-transaction' is reached with part of the file applied.  The
# postmaster keeps the setting, so the restarted worker crashes again at
# the same point, over and over (ALTER SYSTEM RESET may not be taken
# before that): stop the node, reset the setting in postgresql.auto.conf
# (as ALTER SYSTEM RESET does, but offline), and start it again.

{
	my $case = 'mid';
	my $start = time;
	my $users = 20000;
	my $drop = 'events-drop-mid.jsonl';
	my %state = archive_state($node);
	my %before = map { $_ => 1 } @{ $state{recorded} };

	set_fault($node, 'ingest-mid-transaction');

	my $offset = -s $node->logfile;
	open(my $fh, '>', "$dir/drop.tmp") or die "could not write: $!";
	print $fh event_json("$case-$_", 'add_revenue', 1), "\n" for 1 .. $users;
	print $fh event_json('mid_known', 'add_revenue', 1), "\n" for 1 .. 3;
	close($fh);
	rename("$dir/drop.tmp", "$dir/$drop") or die "could not rename: $!";

	my ($rc, $out, $err) =
	  $node->psql('postgres', 'SELECT evproc_rotate(30000)');
	isnt($rc, 0, "$case: evproc_rotate() fails: the worker crashed");
	note "$case: evproc_rotate(): $err";
	ok( defined log_match($node,
			qr/evproc: fault injection at "ingest-mid-transaction"/,
			$offset, 30),
		"$case: the worker crashed in the middle of the transaction");

	$node->stop('immediate');
	ok(-f "$dir/$drop", "$case: the file was not moved");
	reset_conf_offline($node, 'evproc.fault_injection');

	$offset = -s $node->logfile;
	$node->start;
	ok(wait_for_http($port, 60), "$case: the worker answers after restart");
	($rc, $out, $err) = $node->psql('postgres', 'SELECT evproc_rotate()');
	is($rc, 0, "$case: evproc_rotate() succeeds") or diag $err;
	unlike(
		slurp_file($node->logfile, $offset),
		qr/was already ingested/,
		"$case: nothing of the file was committed before the crash");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || ':' || count(*) FILTER (WHERE revenue = 1) "
			  . "FROM evproc.user_revenue WHERE user_id LIKE '$case-%'"),
		"$users:$users",
		"$case: all $users users of the file have revenue exactly 1");
	is($node->safe_psql('postgres', "SELECT evproc_user_revenue('mid_known')"),
		'3', "$case: the known user counted once");
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || ':' || sum(events) || ':' || sum(rejected) "
			  . "FROM evproc.processed_files WHERE filename = '$drop'"),
		'1:' . ($users + 3) . ':0',
		"$case: the file is recorded once, with all its events");
	ok(-f "$dir/processed/$drop" && !-e "$dir/$drop",
		"$case: the file is in processed/");
	%state = archive_state($node);
	my @new = grep { !$before{$_} } @{ $state{recorded} };
	is_deeply(\@new, [$drop], "$case: no other file was recorded");
	check_node($case);
	note sprintf('%s took %.1fs', $case, time - $start);
}

unlike(slurp_file($node->logfile), qr/could not prune/,
	'the worker prunes old eventIds without error');

$node->stop;
done_testing();
