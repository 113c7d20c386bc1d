# Streaming replication with a synchronous standby, database journal
# (issue 22): losing the primary's machine loses no acknowledged event.
#
# A primary and a hot standby made from its base backup, both with evproc
# preloaded and evproc.journal_storage = database, the standby named in the
# primary's synchronous_standby_names:
#	(a) with the standby stopped, a POST on the primary gets no answer (its
#		commit waits for the standby) while GETs are answered; it is
#		answered 200 once the standby is back, and counted once;
#	(b) writers post events with eventIds (value 1, a user each) to the
#		primary and retry every unanswered one, alternating between the
#		primary's and the standby's port, while a reader GETs
#		/userEvents/:id from the standby; the primary's postmaster is
#		killed with SIGKILL and its data directory deleted (the machine is
#		gone), the standby promoted.  On the new primary every acknowledged
#		event is counted exactly once, an unacknowledged one at most once,
#		nothing unsent is counted; writes are accepted again within a few
#		seconds of the promotion; every read on the standby was answered.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Path;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use POSIX;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $primary = evproc_node(
	'primary', qq(
evproc.journal_storage = 'database'
evproc.rotation_interval = '2s'
),
	allows_streaming => 1);
my $pport = http_port($primary);
my $standby = evproc_standby($primary, 'standby');
my $sport = http_port($standby);
ok(journal_in_database($primary) && journal_in_database($standby),
	'both nodes journal in the database');

# the standby's application_name is its node name (has_streaming)
$primary->safe_psql('postgres',
	"ALTER SYSTEM SET synchronous_standby_names = 'standby'");
$primary->reload;
ok( query_until(
		$primary,
		"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'",
		'sync', 60),
	'the standby is synchronous');
is(add_revenue($pport, 'rep-0', 1), 200, 'primary: a POST with the standby up');

# --- (a) the standby stopped: POSTs wait, GETs are answered ---
$standby->stop('fast');
my $conn = http_connect($pport);
is(http_send($conn, 'POST', '/liveEvent', event_json('rep-sync', 'add_revenue', 1)),
	undef, 'POST sent with the standby stopped');
my ($status, $body) = http_read_reply($conn, 3);
is($status, undef, '... no answer while the standby is away');
my %r = raw_request($pport, 'GET', '/userEvents/rep-0');
is($r{status}, 200, 'GET answered meanwhile');
%r = raw_request($pport, 'GET', '/health');
is($r{status}, 200, '/health answered meanwhile');
($status, $body) = http_read_reply($conn, 1);
is($status, undef, '... and the POST still waits');
$standby->start;
($status, $body) = http_read_reply($conn, 120);
is($status, 200, 'the POST is answered once the standby is back');
close($conn->{sock});
ok(wait_for_http($sport, 60), 'the standby\'s worker answers again');
rotate($primary);
is(revenue_of($primary, 'rep-sync')->{'rep-sync'}, 1, '... and counted once');
$primary->wait_for_catchup($standby);

# --- (b) the primary's machine is lost ---
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $stop = "$tmp/stop";

# writer($prefix): forks a process that posts events "$prefix-<i>" (a user
# each, value 1, eventId "$prefix-<i>-id") one at a time until $stop
# exists.  An event not answered 200 is sent again, with the same eventId,
# every 100 ms, to the primary's and the standby's port in turn, until it
# is.  Each acknowledged user is appended to "$tmp/$prefix.acked" (after
# its 200); on exit "$tmp/$prefix.acked.sent" gets the number of events
# sent at least once.
sub writer
{
	my ($prefix) = @_;
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	return $pid if $pid;

	$SIG{PIPE} = 'IGNORE';
	my $file = "$tmp/$prefix.acked";
	my $sent = 0;
	my @ports = ($pport, $sport);
	my $at = 0;
	open(my $acked, '>>', $file) or POSIX::_exit(1);
	$acked->autoflush(1);
  EVENT:
	for (my $i = 0; !-e $stop; $i++)
	{
		my $user = "$prefix-$i";
		my $json = qq({"userId":"$user","name":"add_revenue","value":1,"eventId":"$user-id"});
		$sent++;
		while (1)
		{
			my ($st) = eval { http_post($ports[$at], '/liveEvent', $json) };
			if (defined $st && $st == 200)
			{
				print $acked "$user\n";
				last;
			}
			last EVENT if -e $stop;
			$at = 1 - $at;
			usleep(100_000);
		}
	}
	close($acked);
	if (open(my $fh, '>', "$file.sent"))
	{
		print $fh "$sent\nstopped\n";
		close($fh);
	}
	POSIX::_exit(0);
}

# reader: forks a process that GETs /userEvents/rep-0 on the standby's port
# every 50 ms until $stop exists, appending "<time> <status>" to
# "$tmp/reads" for each (status 0: no answer within 10 s)
sub reader
{
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	return $pid if $pid;

	$SIG{PIPE} = 'IGNORE';
	open(my $out, '>>', "$tmp/reads") or POSIX::_exit(1);
	$out->autoflush(1);
	while (!-e $stop)
	{
		my %rr = eval { raw_request($sport, 'GET', '/userEvents/rep-0') };
		printf $out "%.3f %d\n", time, $rr{status} // 0;
		usleep(50_000);
	}
	close($out);
	POSIX::_exit(0);
}

# acked_now(): the number of events acknowledged so far, all writers
my @prefixes = map { "fo$_" } 0 .. 2;
sub acked_now
{
	my $n = 0;
	$n += count_lines("$tmp/$_.acked") for @prefixes;
	return $n;
}

# wait_acked($n, $timeout): waits until $n events more than now are acknowledged
sub wait_acked
{
	my ($n, $timeout) = @_;
	my $want = acked_now() + $n;
	my $deadline = time + $timeout;
	usleep(100_000) while acked_now() < $want && time < $deadline;
	return acked_now() >= $want;
}

my @pids = map { writer($_) } @prefixes;
my $reader = reader();
ok(wait_acked(150, 120), 'writers acknowledged on the primary');
# some sealed and counted, some in the current segment: rotation every 2 s
usleep(2_500_000);
ok(wait_acked(30, 60), '... and go on');

my $acked_before_kill = acked_now();
my $t_kill = time;
ok(kill9_and_wait($primary, 60), 'primary: postmaster killed with SIGKILL');
File::Path::rmtree($primary->data_dir);
ok(!-e $primary->data_dir, 'primary: data directory deleted');
$standby->promote;
my $t_promoted = time;

# writes back: a probe of its own, and the writers' retries
my $t_back;
while (time < $t_promoted + 120)
{
	my ($st) = http_post($sport, '/liveEvent',
		'{"userId":"rep-probe","name":"add_revenue","value":1,"eventId":"rep-probe-id"}');
	if (($st // 0) == 200)
	{
		$t_back = time;
		last;
	}
	usleep(50_000);
}
ok(defined $t_back, 'promoted: a POST is accepted');
my $took = ($t_back // time) - $t_promoted;
cmp_ok($took, '<', 15, sprintf('... within a few seconds of the promotion (%.2f s)', $took));
note sprintf('kill to promoted: %.2f s; promoted to writes back: %.2f s',
	$t_promoted - $t_kill, $took);
ok(wait_acked(60, 120), 'the writers\' retries are acknowledged by the new primary');

open(my $sf, '>', $stop) or die "$stop: $!";
close($sf);
is(wait_for_senders([ @pids, $reader ], 120), 0, 'writers and reader stopped');

# everything acknowledged is counted once the replicated segments and the
# new ones are ingested
rotate($standby);
ok( query_until(
		$standby, 'SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NOT NULL',
		'0', 120),
	'new primary: every sealed segment ingested');
rotate($standby);

my (%acked, %sent);
for my $p (@prefixes)
{
	$acked{$_} = 1 for read_lines("$tmp/$p.acked");
	my ($n) = read_sent("$tmp/$p.acked");
	$sent{$p} = $n // 0;
}
note sprintf('acknowledged: %d (%d before the kill)', scalar(keys %acked),
	$acked_before_kill);
my $counted = check_counted_once($standby, 'new primary', 'fo%', \%acked, \%sent);
my $unacked = 0;
$unacked += $sent{$_} for @prefixes;
$unacked -= scalar(keys %acked);
note "counted: $counted; sent but never acknowledged: $unacked";
cmp_ok($counted, '<=', scalar(keys %acked) + $unacked,
	'... unacknowledged events counted at most once');
is(revenue_of($standby, 'rep-sync', 'rep-0')->{'rep-sync'}, 1,
	'new primary: the event of (a) counted once');
is(revenue_of($standby, 'rep-probe')->{'rep-probe'}, 1,
	'new primary: the probe counted once');

# reads on the standby throughout
my (@before, @after);
for (read_lines("$tmp/reads"))
{
	my ($t, $st) = split / /;
	push @{ $t < $t_kill ? \@before : \@after }, $st;
}
cmp_ok(scalar(@before), '>', 10, 'reads on the standby before the kill: ' . scalar(@before));
is(scalar(grep { $_ != 200 } @before), 0, '... all answered 200');
cmp_ok(scalar(@after), '>', 10, 'reads on the standby after the kill: ' . scalar(@after));
is(scalar(grep { $_ != 200 } @after), 0, '... all answered 200 through the promotion');

done_testing();
