# Kill -9 of the postmaster while events stream in: every acknowledged
# event must be counted exactly once after recovery.
#
# Four senders POST events with unique userIds (value 1 each) over
# keep-alive connections, each recording the ids whose 200 reply it read.
# With a rotation every second, rotations and ingests run during the
# stream.  Once enough events are acknowledged the postmaster is killed
# with SIGKILL; the node is started again and evproc_rotate() ingests
# everything.  Then:
#	- every acknowledged userId has revenue exactly 1;
#	- no userId has any other revenue (nothing counted twice);
#	- the users counted are at least those acknowledged and at most those
#	  sent (an event may be durable without its reply having arrived);
#	- the ingested files add up: events recorded = total revenue, and each
#	  file in processed/ is recorded once;
#	- at most one rejected (torn) line per kill.
# The number of events is bounded (4 x 25000); the kill comes once 2000
# are acknowledged and two rotated files have been ingested.  The
# kill/restart cycle runs twice on the same node.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $cycles = 2;
my $senders = 4;
my $per_sender = 25000;
my $kill_after = 2000;    # acknowledged events before the kill
my $ingests_before_kill = 2;    # files ingested during the stream

my $node = evproc_node('crash', "evproc.rotation_interval = '1s'\n");
my $port = http_port($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $kills = 0;

for my $cycle (1 .. $cycles)
{
	my $start = time;

	# stream, and kill -9 the postmaster in the middle of it, once enough
	# events are acknowledged and rotated files have been ingested
	my (@pids, @files);
	my $processed_before = count_ingested($node);
	for my $s (1 .. $senders)
	{
		my $file = "$tmp/acked-c$cycle-s$s";
		push @files, $file;
		push @pids, start_sender($port, "c${cycle}s$s", $per_sender, $file);
	}
	my ($acked, $ingested) = (0, 0);
	my $deadline = time + 60;
	while (time < $deadline)
	{
		$acked = 0;
		$acked += count_lines($_) for @files;
		$ingested = count_ingested($node) - $processed_before;
		last if $acked >= $kill_after && $ingested >= $ingests_before_kill;
		last unless grep { !-e "$_.sent" } @files;    # all senders done
		usleep(20_000);
	}
	cmp_ok($acked, '>=', $kill_after,
		"cycle $cycle: $kill_after events acknowledged before the kill");
	cmp_ok($ingested, '>=', 1,
		"cycle $cycle: files rotated and ingested during the stream");
	note "cycle $cycle: killing after $acked acknowledged events, "
	  . "$ingested files ingested, "
	  . sprintf('%.1f', time - $start) . 's';
	ok(kill9_and_wait($node, 60),
		"cycle $cycle: postmaster killed, old processes gone");
	$kills++;
	is(wait_for_senders(\@pids, 60), 0, "cycle $cycle: senders stopped");

	# what the senders saw
	my (%acked_ids, %sent);
	for my $file (@files)
	{
		$acked_ids{$_} = 1 for read_lines($file);
		my ($n, $why) = read_sent($file);
		ok(defined $n, "cycle $cycle: sender of $file reported")
		  or next;
		note "sender $file: $n sent, stopped: $why";
		$sent{$file} = $n;
	}
	my $total_sent = 0;
	$total_sent += $_ for values %sent;
	note "cycle $cycle: "
	  . scalar(keys %acked_ids)
	  . " acknowledged, $total_sent sent, senders stopped after "
	  . sprintf('%.1f', time - $start) . 's';

	# restart and ingest everything
	$node->start;
	ok(wait_for_http($port, 60), "cycle $cycle: HTTP answers after restart");
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');

	# every acknowledged event counted exactly once, nothing not sent
	my %sent_by_sender;
	for my $s (1 .. $senders)
	{
		$sent_by_sender{"c${cycle}s$s"} = $sent{"$tmp/acked-c$cycle-s$s"} // 0;
	}
	check_counted_once($node, "cycle $cycle", "c${cycle}s%", \%acked_ids,
		\%sent_by_sender);
	is( $node->safe_psql(
			'postgres',
			'SELECT count(*) FROM evproc.user_revenue WHERE revenue <> 1'),
		'0',
		"cycle $cycle: no user of any cycle counted twice (or partly)");

	# the bookkeeping adds up
	check_books($node, "cycle $cycle");

	# a kill of the postmaster lets the worker finish its write, but allow
	# one torn line per kill
	my $rejected = $node->safe_psql('postgres',
		'SELECT count(*) FROM evproc.rejected_lines');
	note "cycle $cycle: $rejected rejected lines: "
	  . $node->safe_psql('postgres',
		'SELECT string_agg(filename || \':\' || line_number || \' \' || reason, \'; \') FROM evproc.rejected_lines'
	  ) if $rejected;
	cmp_ok($rejected, '<=', $kills,
		"cycle $cycle: at most one rejected line per kill");

	note "cycle $cycle took " . sprintf('%.1f', time - $start) . 's';
}

$node->stop;
done_testing();
