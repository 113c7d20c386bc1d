# evproc-client against a real node: the end-to-end script, a kill -9 of
# the postmaster in the middle of a send, and a file sent in several runs.
#
#	(a) test/client_e2e.sh against the node exits 0 and its last line is
#		"N passed, 0 failed".
#	(b) crash: 100 000 events, each with its own userId and value 1 and no
#		eventId, are streamed by "evproc-client send" (4 requests of 500
#		events in flight, up to 30 retries, --timeout 2).  As soon as 5 000
#		of them are in the journal the client is stopped (SIGSTOP); once
#		the server has journaled what the client had in flight, the
#		postmaster is killed with SIGKILL.  The client is resumed (SIGCONT)
#		after its requests' timeout, while the server is still down, and
#		the node is started again half a second later.  So the batches in
#		flight were journaled but their replies are lost; the client sends
#		them again, with the ids it gave their events before the first
#		send, through refused connections and back-off, to a worker that
#		no longer remembers those ids, and sends the rest of the file.  It
#		must end with all 100 000 accepted and exit status 0.  After
#		evproc_rotate(): exactly 100 000 users with revenue 1, no user with
#		another revenue, sum(revenue) = 100 000, the ingested files add up
#		(events counted = total revenue), and the events sent again were
#		dropped at ingest (evproc.seen_events).
#	(c) a file given its eventIds by "assign-ids" is sent in two runs:
#		the second run is accepted as duplicates.  After a kill -9 and a
#		restart (the worker forgets the ids it saw) a third run is
#		journaled again and dropped at ingest.  Every event counts once.
# (b) runs first, on a fresh node, so that it can check the totals of the
# whole database; then (c), then (a), with userIds of their own.
#
# The client is the installed one (evproc-client in the PATH, which the TAP
# harness puts the PostgreSQL bindir in front of), else client/evproc-client
# of the tree.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Spec;
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $crash_events = 100_000;
my $kill_after = 5_000;    # events journaled when the client is stopped
my $client_timeout = 2;    # seconds, for a request of the crash test
my $twice_events = 30_000;

my $client = evproc_client_path();
plan skip_all => "no evproc-client (run make install)" unless -x $client;
note "client: $client";

my $node = evproc_node('client', "evproc.rotation_interval = '1s'\n");
my $port = http_port($node);
my $url = "http://127.0.0.1:$port";
my $tmp = PostgreSQL::Test::Utils::tempdir();

# the client of the crash test: never leave it stopped (SIGSTOP) behind
my $crash_client;

END
{
	if ($crash_client && $crash_client->pumpable)
	{
		$crash_client->signal('CONT');
		$crash_client->kill_kill;
	}
}

# write_events($file, $prefix, $n) writes $n add_revenue events of value 1,
# without eventIds, with userIds "${prefix}1" to "$prefix$n".
sub write_events
{
	my ($file, $prefix, $n) = @_;
	open(my $fh, '>', $file) or die "open $file: $!";
	for my $i (1 .. $n)
	{
		print $fh qq({"userId": "$prefix$i", "name": "add_revenue", "value": 1}\n);
	}
	close($fh) or die "close $file: $!";
}

# summary_of($file) parses a send summary: a hash of its counts
sub summary_of
{
	my ($file) = @_;
	my %sum;
	for (read_lines($file))
	{
		$sum{$1} = $2 if /^(\w+):\s+(\d+)/;
		$sum{retries} = $1 if /^requests:.*\(retries: (\d+)\)/;
	}
	return %sum;
}

# summary_is($what, $file, $rc, $want_rc, read, accepted, rejected, failed)
sub summary_is
{
	my ($what, $file, $rc, $want_rc, @want) = @_;
	my %sum = summary_of($file);
	my $got = join(' ', $rc,
		map { $sum{$_} // '-' } qw(read accepted rejected failed));
	my $ok = is($got, join(' ', $want_rc, @want),
		"$what: exit status, read, accepted, rejected, failed");
	diag("summary:\n" . slurp_file($file)) unless $ok;
	return %sum;
}

# journaled($node) counts the event lines in the journal and the rotated
# files, ingested or not
sub journaled
{
	my ($node) = @_;
	my $dir = journal_dir($node);
	my $n = 0;
	for my $d ($dir, "$dir/processed")
	{
		opendir(my $dh, $d) or next;
		$n += count_lines("$d/$_") for grep { /^events.*\.jsonl$/ } readdir($dh);
		closedir($dh);
	}
	return $n;
}

# postmaster_children($node) lists the postmaster and its children, from
# /proc only (no query: it is fast)
sub postmaster_children
{
	my ($node) = @_;
	my $postmaster = $node->{_pid};
	my @pids = ($postmaster);

	opendir(my $dh, '/proc') or return @pids;
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		open(my $fh, '<', "/proc/$pid/stat") or next;
		my $stat = <$fh> // '';
		close($fh);
		push @pids, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $postmaster;
	}
	closedir($dh);
	return @pids;
}

# send_run($what, $file, @options) runs "evproc-client send" to the end
# (at most 120 s).  Returns (exit status, summary file).
sub send_run
{
	my ($what, $file, @options) = @_;
	my ($out, $err) = ("$tmp/$what.out", "$tmp/$what.err");
	my $h = IPC::Run::start(
		[ $client, 'send', '--no-progress', '--url', $url, @options, $file ],
		'<', '/dev/null', '>', $out, '2>', $err, IPC::Run::timeout(120));
	my $rc = eval { $h->finish; $h->result(0) };
	if (!defined $rc)
	{
		diag("$what: $@");
		$h->kill_kill;
		$rc = -1;
	}
	note "$what: " . slurp_file($err) if -s $err;
	return ($rc, $out);
}

sub sql
{
	my ($query) = @_;
	return $node->safe_psql('postgres', $query);
}

# --- (b) kill -9 of the postmaster in the middle of a send ----------------

{
	my $start = time;
	my $file = "$tmp/crash.jsonl";
	write_events($file, 'crash-', $crash_events);

	# the node's processes, listed before the send (and again just before
	# the kill, without a query) so that the kill follows the first
	# acknowledgements at once
	my @pids = node_pids($node);

	my ($out, $err) = ("$tmp/crash.out", "$tmp/crash.err");
	my $h = $crash_client = IPC::Run::start(
		[
			$client, 'send', '--no-progress', '--url', $url,
			'--batch-size', '500', '--concurrency', '4',
			'--max-retries', '30', '--timeout', $client_timeout, $file
		],
		'<', '/dev/null', '>', $out, '2>', $err, IPC::Run::timeout(120));

	# The client sends hundreds of thousands of events a second: stop it
	# as soon as a few batches are in the journal, so that most of the
	# file is still to be sent, and requests are in flight.
	my $deadline = time + 60;
	my $journaled = 0;
	while (time < $deadline && $h->pumpable)
	{
		$journaled = journaled($node);
		last if $journaled >= $kill_after;
		usleep(1_000);
	}
	my $running = $h->pumpable;
	$h->signal('STOP');
	my $stopped_at = time;
	note "crash: client stopped after "
	  . sprintf('%.3f', $stopped_at - $start)
	  . "s: $journaled events journaled";
	# journaled() reads the journal's files: with the journal in the
	# database the client is not stopped early, and may finish first
	my $skip_early =
	  'journal in the database: journaled() counts the lines of the journal files';
	SKIP:
	{
		skip $skip_early, 1 if journal_in_database($node);
		ok($running, 'crash: the client is still sending when it is stopped');
	}

	# The server answers what it has: the replies wait, unread, until the
	# client's requests time out.  Once the journal no longer grows, kill.
	my ($last, $quiet_since) = (-1, time);
	while (time < $deadline && time - $quiet_since < 0.3)
	{
		$journaled = journaled($node);
		($last, $quiet_since) = ($journaled, time) if $journaled != $last;
		usleep(20_000);
	}
	my %pids = map { $_ => 1 } @pids, postmaster_children($node);
	@pids = keys %pids;
	$node->kill9;
	note "crash: killed with $journaled events journaled";
	cmp_ok($journaled, '<', $crash_events,
		'crash: not every event was journaled before the kill');
	my @left = wait_for_pids_gone(\@pids, 60);
	is("@left", '', 'crash: old processes gone after the kill');

	# the client goes on while the server is down: its requests in flight
	# time out (their replies are lost), new ones are refused
	usleep(100_000) while time < $stopped_at + $client_timeout + 0.5;
	$h->signal('CONT');
	usleep(500_000);
	$node->start;
	ok(wait_for_http($port, 60), 'crash: HTTP answers after the restart');

	# the client retries until all is sent
	my $rc = eval { $h->finish; $h->result(0) };
	if (!defined $rc)
	{
		diag("crash: client: $@");
		$h->kill_kill;
		$rc = -1;
	}
	note "crash: client done after " . sprintf('%.1f', time - $start) . 's';
	my $messages = slurp_file($err);
	note "crash: client messages:\n$messages" if $messages ne '';
	my %sum =
	  summary_is('crash', $out, $rc, 0, ($crash_events) x 2, 0, 0);
	SKIP:
	{
		skip $skip_early, 1 if journal_in_database($node);
		cmp_ok($sum{retries} // 0, '>', 0, 'crash: the client retried');
	}
	note "crash: summary:\n" . slurp_file($out);

	sql('SELECT evproc_rotate()');
	is( sql(
			"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'crash-%' AND revenue = 1"
		),
		$crash_events,
		"crash: $crash_events users with revenue 1");
	is(sql('SELECT count(*) FROM evproc.user_revenue WHERE revenue <> 1'),
		'0', 'crash: no user with another revenue');
	is(sql('SELECT sum(revenue) FROM evproc.user_revenue'),
		$crash_events, "crash: total revenue $crash_events");
	# processed_files.events counts the duplicates too
	check_books($node, 'crash');
	my ($dropped, $rejected) = split /\|/,
	  sql('SELECT sum(duplicates), sum(rejected) FROM evproc.processed_files');
	cmp_ok($rejected, '<=', 1, 'crash: at most one torn line');

	# The batches whose reply was lost: the client says "no reply"
	# (timeout) for them.  The server had them whole (it was given time
	# to journal them before the kill), so they were journaled, sent
	# again to a worker that did not remember their ids, journaled again,
	# and dropped at ingest: at least one such batch, and no other events
	# dropped.
	my %lost;
	$lost{$1} = ($2 // $1) - $1 + 1
	  while $messages =~ /^evproc-client: lines? (\d+)(?:-(\d+))?: no reply from/mg;
	my $lost = 0;
	$lost += $_ for values %lost;
	SKIP:
	{
		skip 'the client had no request in flight when it was stopped', 2
		  unless $lost > 0;
		cmp_ok($dropped, '>', 0,
			'crash: events journaled whose reply was lost were dropped at ingest');
		cmp_ok($dropped, '<=', $lost,
			'crash: no other events dropped at ingest');
	}
	note "crash: $lost events in batches whose reply was lost, "
	  . "$dropped duplicates dropped at ingest, "
	  . "$sum{duplicates} reported to the client, $rejected rejected lines, "
	  . sprintf('%.1f', time - $start) . 's';
}

# --- (c) a file with eventIds sent in several runs ------------------------

{
	my $start = time;
	my $plain = "$tmp/twice-plain.jsonl";
	my $file = "$tmp/twice.jsonl";
	write_events($plain, 'twice-', $twice_events);
	my $ids_err = '';
	my $ids_ok = eval {
		IPC::Run::run([ $client, 'assign-ids', $plain ],
			'<', '/dev/null', '>', $file, '2>', \$ids_err,
			IPC::Run::timeout(60));
	};
	is(defined $ids_ok ? $? >> 8 : "timeout: $@", 0,
		'twice: assign-ids exit status 0');
	diag("assign-ids: $ids_err") if $ids_err ne '';
	is(count_lines($file), $twice_events, "twice: $twice_events events with ids");
	my @noid = grep { !/^\{"eventId":"[0-9a-f-]{36}",/ } read_lines($file);
	is(scalar(@noid), 0, 'twice: every event has an eventId');

	my $dropped_before =
	  sql('SELECT coalesce(sum(duplicates), 0) FROM evproc.processed_files');

	my ($rc, $out) = send_run('twice1', $file, '--batch-size', '1000');
	my %sum = summary_is('twice: first run', $out, $rc, 0,
		($twice_events) x 2, 0, 0);
	is($sum{duplicates}, 0, 'twice: first run: no duplicates');

	($rc, $out) =
	  send_run('twice2', $file, '--batch-size', '700', '--concurrency', '8');
	%sum = summary_is('twice: second run', $out, $rc, 0,
		($twice_events) x 2, 0, 0);
	is($sum{duplicates}, $twice_events, 'twice: second run: all duplicates');
	sql('SELECT evproc_rotate()');

	# after a crash the worker no longer remembers the ids: it journals
	# the events again, and ingest must drop them (evproc.seen_events)
	ok(kill9_and_wait($node, 60), 'twice: postmaster killed, old processes gone');
	$node->start;
	ok(wait_for_http($port, 60), 'twice: HTTP answers after the restart');
	($rc, $out) = send_run('twice3', $file, '--batch-size', '1000');
	%sum = summary_is('twice: run after a crash', $out, $rc, 0,
		($twice_events) x 2, 0, 0);
	note "twice: run after a crash: $sum{duplicates} duplicates reported";
	sql('SELECT evproc_rotate()');

	is( sql(
			"SELECT count(*), sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'twice-%'"
		),
		"$twice_events|$twice_events",
		"twice: $twice_events users, each counted once");
	is( sql(
			"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'twice-%' AND revenue <> 1"
		),
		'0',
		'twice: no user counted twice');
	my $dropped = sql(
		'SELECT coalesce(sum(duplicates), 0) FROM evproc.processed_files')
	  - $dropped_before;
	is($dropped, $twice_events - $sum{duplicates},
		'twice: what the worker journaled again after the crash was dropped at ingest');
	note "twice: " . sprintf('%.1f', time - $start) . 's';
}

# --- (a) the end-to-end script --------------------------------------------

{
	my $start = time;
	my $script = "$FindBin::RealBin/../client_e2e.sh";
	my ($out, $err) = ('', '');
	local $ENV{EVPROC_URL} = $url;
	local $ENV{EVPROC_CLIENT} = $client;
	local $ENV{PSQL} =
	  'psql -X -h ' . $node->host . ' -p ' . $node->port . ' -d postgres';
	local $ENV{TMPDIR} = $tmp;
	delete local $ENV{EVPROC_TOKEN};
	my $ok = eval {
		IPC::Run::run([ 'bash', $script ],
			'<', '/dev/null', '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	};
	my $rc = defined $ok ? $? >> 8 : -1;
	diag("client_e2e.sh: $@") unless defined $ok;
	my @lines = split /\n/, $out;
	my $last = @lines ? $lines[-1] : '';
	is($rc, 0, 'client_e2e.sh: exit status 0');
	like($last, qr/^[1-9]\d* passed, 0 failed$/,
		'client_e2e.sh: N passed, 0 failed');
	if ($rc != 0 || $last !~ /passed, 0 failed$/)
	{
		diag("client_e2e.sh output:\n$out");
		diag("client_e2e.sh errors:\n$err");
	}
	else
	{
		note "client_e2e.sh: $last, " . sprintf('%.1f', time - $start) . 's';
	}
}

$node->stop;
done_testing();
