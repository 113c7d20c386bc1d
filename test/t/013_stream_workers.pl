# Live updates with two workers (evproc.workers = 2): both listen on the
# same port (SO_REUSEPORT), so the kernel decides which worker gets a
# connection.  Subscribers (curl -N) of one user are opened until each
# worker holds some of them (the server side of each connection is found
# in /proc: the socket inodes of a worker's descriptors, against
# /proc/net/tcp); events are then POSTed on new connections, which land on
# both workers (each journals into a directory of its own), and
# evproc_rotate() ingests both journals.
#
#	- two evproc workers run;
#	- subscribers land on both workers;
#	- the POSTs were journaled by both workers;
#	- every subscriber, whichever worker holds it, receives the final
#	  state: the last message's revenue is the total of all the events,
#	  in increasing seq; and again after a second round, with /stream
#	  subscribers too.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = evproc_node('stream_workers', "evproc.workers = 2\n");
my $port = http_port($node);

sub subscribe { return sse_subscribe($port, $tmp, @_); }
sub messages { return sse_messages(@_); }

# wait_revenue($sub, $user, $revenue): waits (20 s) until the last message
# of $sub for $user has that revenue; returns all of $sub's messages.
sub wait_revenue
{
	my ($s, $user, $revenue) = @_;
	my $deadline = time + 20;
	my @m;
	while (time < $deadline)
	{
		@m = messages($s);
		my @mine = grep { $_->[1] =~ /^\{"userId": "\Q$user\E",/ } @m;
		return @m if @mine && $mine[-1][1] =~ /"revenue": $revenue,/;
		usleep(50_000);
	}
	return @m;
}

# established(\@pids): pid => number of established connections to the
# HTTP port whose server side that process holds.
sub established
{
	my ($pids) = @_;
	my %inode_pid;
	for my $pid (@$pids)
	{
		opendir(my $dh, "/proc/$pid/fd") or next;
		for my $fd (readdir($dh))
		{
			my $link = readlink("/proc/$pid/fd/$fd") // next;
			$inode_pid{$1} = $pid if $link =~ /^socket:\[(\d+)\]$/;
		}
		closedir($dh);
	}
	my %count = map { $_ => 0 } @$pids;
	my $local = sprintf(':%04X', $port);
	open(my $fh, '<', '/proc/net/tcp') or die "/proc/net/tcp: $!";
	while (my $line = <$fh>)
	{
		# sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		my @f = split ' ', $line;
		next unless @f > 9 && $f[1] =~ /\Q$local\E$/ && $f[3] eq '01';
		$count{ $inode_pid{ $f[9] } }++ if exists $inode_pid{ $f[9] };
	}
	close($fh);
	return %count;
}

# 1. two workers
my @pids = split /\n/, $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc' ORDER BY pid");
is(scalar(@pids), 2, 'two evproc workers run');

# 2. subscribers of one user, until both workers hold some (at least 8)
my @subs;
my %held;
my $refused;
while (@subs < 64)
{
	my $s = subscribe('/userEvents/w1/stream');
	$refused = $s;
	last unless $s->{status} == 200;
	push @subs, $s;
	%held = established(\@pids);
	last if @subs >= 8 && !grep { $_ == 0 } values %held;
}
ok(@subs >= 8, scalar(@subs) . ' subscribers open (200)')
  or diag('refused: ' . ($refused && -e $refused->{hdr} ? slurp_file($refused->{hdr}) : 'no reply'));
ok(@pids == 2 && !grep({ !$held{$_} } @pids),
	'subscribers on both workers: '
	  . join(', ', map { "$_ holds " . ($held{$_} // 0) } @pids));
is(eval { my $t = 0; $t += $_ for values %held; $t }, scalar(@subs),
	'every subscriber is held by one of them');

# 3. events on new connections, which land on both workers
my $total = 0;
my @bad;
for my $v (1 .. 40)
{
	my $status = add_revenue($port, 'w1', $v) // 'none';
	push @bad, "$v: $status" unless $status eq '200';
	$total += $v;
}
is_deeply(\@bad, [], '40 events acknowledged');
rotate($node);

# both workers journaled some: worker 0 in evproc/, worker 1 in evproc/worker1/
my $dir = journal_dir($node);
my @files = map {
	opendir(my $dh, "$_/processed") or die "$_/processed: $!";
	my @f = grep { /^events-.*\.jsonl$/ } readdir($dh);
	closedir($dh);
	scalar(@f)
} ($dir, "$dir/worker1");
# the journal in the database: the segments recorded, worker 1's named .w1
@files = split /\|/, $node->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE filename NOT LIKE '%.w1.jsonl'), "
	  . "count(*) FILTER (WHERE filename LIKE '%.w1.jsonl') "
	  . 'FROM evproc.processed_files')
  if journal_in_database($node);
ok($files[0] > 0 && $files[1] > 0,
	"both workers journaled events (files ingested: @files)");

is($node->safe_psql('postgres',
		"SELECT revenue FROM evproc.user_revenue WHERE user_id = 'w1'"),
	$total, "w1's revenue is the total, $total");

# the counters of both workers: evproc.stats has a row per worker, and a
# scrape of /metrics, whichever worker answers it, shows both
is($node->safe_psql('postgres',
		"SELECT string_agg(worker || ':' || (pid IS NOT NULL) || ':' || (events_accepted > 0), ',' ORDER BY worker) FROM evproc.stats"),
	'0:true:true,1:true:true', 'evproc.stats: both workers, both accepted events');
my $stats_sum = $node->safe_psql('postgres', 'SELECT sum(events_accepted) FROM evproc.stats');
for my $n (1 .. 4)
{
	my %r = raw_request($port, 'GET', '/metrics');
	my %acc = ($r{body} // '') =~ /^evproc_events_accepted_total\{worker="(\d)"\} (\d+)$/mg;
	is(join(',', sort keys %acc), '0,1', "scrape $n shows both workers' series");
	is(($acc{0} // 0) + ($acc{1} // 0), $stats_sum,
		"... which add up to evproc.stats ($stats_sum)");
}

# 4. every subscriber gets the final state, in increasing seq
sub check_all
{
	my ($what, $user, $revenue, @s) = @_;
	my (@missed, @disorder);
	for my $i (0 .. $#s)
	{
		if ($s[$i]{status} != 200)
		{
			push @missed, $i;
			next;
		}
		my @m = wait_revenue($s[$i], $user, $revenue);
		my @mine = grep { $_->[1] =~ /^\{"userId": "\Q$user\E",/ } @m;
		push @missed, $i unless @mine && $mine[-1][1] =~ /"revenue": $revenue,/;
		push @disorder, $i
		  if grep { $m[$_][0] <= $m[ $_ - 1 ][0] } 1 .. $#m;
	}
	ok(@s && !@missed, "$what: every subscriber's last message has revenue $revenue")
	  or diag('first one missing: ' . join(' | ', map { $_->[1] } messages($s[ $missed[0] ])));
	is_deeply(\@disorder, [], "$what: each in increasing seq");
}
check_all('round 1', 'w1', $total, @subs);

# 5. a second round, with /stream subscribers (on either worker) too
my @all = map { subscribe('/stream?users=w1') } 1 .. 4;
usleep(200_000);
for my $v (1 .. 20)
{
	my $status = add_revenue($port, 'w1', 1) // 'none';
	push @bad, "round 2 $v: $status" unless $status eq '200';
	$total += 1;
}
is_deeply(\@bad, [], '20 more events acknowledged');
rotate($node);
check_all('round 2', 'w1', $total, @subs, @all);

$_->{h}->kill_kill for @subs, @all;
done_testing();
