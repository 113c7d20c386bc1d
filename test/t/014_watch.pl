# "evproc-client watch USER" against a real node, through a kill -9 of the
# postmaster.
#
#	- it prints each state as it comes, one JSON line per message, the
#	  same state GET /userEvents/:userId gives plus "seq": the current
#	  state first, then each change once its file is ingested;
#	- after the postmaster is killed (an acknowledged event not yet
#	  ingested) and started again, it reconnects by itself (back-off,
#	  Last-Event-ID) and prints the current state, with every
#	  acknowledged event and a larger seq; no line is printed twice;
#	- SIGTERM ends it with exit status 0.
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

my $client = evproc_client_path();
plan skip_all => "no evproc-client (run make install)" unless -x $client;
note "client: $client";

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = evproc_node('watch');
my $port = http_port($node);
my ($out, $err) = ("$tmp/watch.out", "$tmp/watch.err");

# wait_lines($n, $timeout): waits until watch has printed $n lines;
# returns the lines printed.
sub wait_lines
{
	my ($n, $timeout) = @_;
	my $deadline = time + $timeout;
	my @l;
	while (time < $deadline)
	{
		@l = read_lines($out);
		return @l if @l >= $n;
		usleep(50_000);
	}
	return @l;
}

sub seq_of { return $_[0] =~ /"seq": (\d+)\}$/ ? $1 : 0; }

sub get_state
{
	my %r = raw_request($port, 'GET', '/userEvents/wu1');
	chomp(my $body = $r{body});
	return $body;
}

is(add_revenue($port, 'wu1', 3), 200, 'first event acknowledged');
rotate($node);

my $h = IPC::Run::start(
	[ $client, '--url', "http://127.0.0.1:$port", 'watch', 'wu1' ],
	'<', \undef, '>', $out, '2>', $err);

# 1. the current state first, then each change
my @l = wait_lines(1, 20);
like($l[0] // '', qr/^\{"userId": "wu1", "revenue": 3, .*"seq": \d+\}$/,
	'watch prints the current state first')
  or diag('stderr: ' . slurp_file($err));
is(add_revenue($port, 'wu1', 4), 200, 'second event acknowledged');
rotate($node);
@l = wait_lines(2, 20);
like($l[1] // '', qr/^\{"userId": "wu1", "revenue": 7, .*"seq": \d+\}$/,
	'then the change, as its own line');
(my $state = $l[1] // '') =~ s/, "seq": \d+\}$/}/;
is($state, get_state(), 'the line is the state GET gives, plus seq');
cmp_ok(seq_of($l[1] // ''), '>', seq_of($l[0] // ''), 'in increasing seq');

# 2. kill -9 with an acknowledged event not yet ingested; restart
is(add_revenue($port, 'wu1', 5), 200, 'third event acknowledged, not yet ingested');
ok(kill9_and_wait($node, 60), 'postmaster killed');
usleep(500_000);    # watch sees the connection fail and retries, refused
# held while the server comes back and counts the event: a watch that
# reconnected before that would print the state without it first (right,
# but not what this step checks)
my $watch_pid = $h->{KIDS}[0]{PID};
kill('STOP', $watch_pid);
$node->start;
ok(wait_for_http($port, 60), 'serving again');
rotate($node);
kill('CONT', $watch_pid);

# watch reconnects by itself (its back-off is at most 10 s)
@l = wait_lines(3, 40);
like($l[2] // '', qr/^\{"userId": "wu1", "revenue": 12, .*"seq": \d+\}$/,
	'after the restart: watch reconnected and printed the state with every acknowledged event')
  or diag('stderr: ' . slurp_file($err));
cmp_ok(seq_of($l[2] // ''), '>', seq_of($l[1] // ''), '... with a larger seq');
(my $state3 = $l[2] // '') =~ s/, "seq": \d+\}$/}/;
is($state3, get_state(), '... the state GET gives');

# nothing more comes (no line printed twice)
usleep(1_500_000);
@l = read_lines($out);
is(scalar(@l), 3, 'three lines in all, none twice');
# (IPC::Run's pumpable does not tell: look at the process, without reaping it)
my $stat = '';
if (open(my $sfh, '<', "/proc/$watch_pid/stat"))
{
	$stat = <$sfh> // '';
	close($sfh);
}
ok($stat =~ /\)\s+([A-Z])/ && $1 ne 'Z', 'watch still runs');

# 3. SIGTERM: exit status 0
$h->signal('TERM');
eval { $h->finish; };
is($h->result(0), 0, 'SIGTERM: watch exits with status 0');

done_testing();
