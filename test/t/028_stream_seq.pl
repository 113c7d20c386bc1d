# Live updates: the sequence numbers and the resume points, over
# Server-Sent Events (curl -N) and WebSocket (test/ws_client.py).
#	- a resume point the server never reached (Last-Event-ID or ?since=
#	  of 2^64 - 2, 2^64 - 1) gets the current state with the server's seq,
#	  and moves nothing: later subscribers get current seqs, and the
#	  streams already open keep getting changes, in increasing seq, and
#	  are sent nothing when others subscribe;
#	- a client resuming with its last seq gets nothing until the next
#	  change; with an older one, the current state; with 0, the current
#	  state; with garbage, a 400;
#	- a subscriber of several users (SSE and WebSocket) and one of every
#	  user get each state once while other clients subscribe to those
#	  users, and each change once.

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
my $node = evproc_node('stream_seq');
my $port = http_port($node);
my $client = "$FindBin::RealBin/../ws_client.py";
my $huge = '18446744073709551614';
my $max = '18446744073709551615';

sub subscribe { return sse_subscribe($port, $tmp, @_); }
sub stop { my ($s) = @_; $s->{h}->kill_kill; }


# ws_start($path, $seconds): a WebSocket subscriber reading for $seconds
sub ws_start
{
	my ($path, $seconds) = @_;
	my %w = (out => '');
	$w{h} = IPC::Run::start([ 'python3', $client, $port, $path, 'read', $seconds ],
		'<', \undef, '>', \$w{out}, '2>', \$w{err});
	return \%w;
}

# ws_messages($w): waits for the client to end; its text frames as
# [seq, data] pairs (a resync as [seq, 'resync'])
sub ws_messages
{
	my ($w) = @_;
	$w->{h}->finish;
	diag($w->{err}) if ($w->{err} // '') ne '';
	my @m;
	for my $line (split /\n/, $w->{out})
	{
		next unless $line =~ /^1 (.*)$/;
		my $data = $1;
		my ($seq) = $data =~ /"seq": (\d+)/;
		push @m, [ $seq, $data =~ /"resync": true/ ? 'resync' : $data ];
	}
	return @m;
}

# ws_once($path, $seconds): the text frames a client gets in $seconds
sub ws_once { return ws_messages(ws_start(@_)); }

# revenue and user of a message
sub revenue { my ($m) = @_; return ($m->[1] =~ /"revenue": (\d+)/)[0] // ''; }
sub user_of { my ($m) = @_; return ($m->[1] =~ /"userId": "([^"]+)"/)[0] // ''; }

# increasing(@m): the seqs only grow
sub increasing
{
	my @m = @_;
	for my $i (1 .. $#m)
	{
		return 0 if $m[$i][0] < $m[ $i - 1 ][0];
	}
	return 1;
}

# copies(@m): "user@seq" => how many times it was sent
sub copies
{
	my %n;
	$n{ user_of($_) . '@' . $_->[0] }++ for @_;
	return %n;
}

is(add_revenue($port, 's1', 5), 200, 's1 acknowledged');
rotate($node);

# 1. streams open before a huge resume point
my $open = subscribe('/userEvents/s1/stream');
my $openall = subscribe('/stream');
my $openws = ws_start('/userEvents/s1/stream', 20);
my @m = sse_wait_messages($open, 1);
like($m[0][1] // '', qr/"revenue": 5,/, 'an open stream gets the current state');
my $seq0 = $m[0][0] // 0;
usleep(500_000);

# 2. resume points the server never reached: the current state, now's seq
my $big = subscribe('/userEvents/s1/stream', "Last-Event-ID: $huge");
@m = sse_wait_messages($big, 1);
like($m[0][1] // '', qr/"revenue": 5,/, "Last-Event-ID $huge: the current state");
is($m[0][0] // '', $seq0, '... with the server\'s seq, not one above the client\'s');
stop($big);
$big = subscribe('/userEvents/s1/stream', "Last-Event-ID: $max");
@m = sse_wait_messages($big, 1);
is($m[0][0] // '', $seq0, "Last-Event-ID $max: the current state with the server's seq");
stop($big);
@m = ws_once("/userEvents/s1/stream?since=$huge", 1);
is(scalar(@m), 1, "?since=$huge over WebSocket: one message");
is($m[0][0] // '', $seq0, '... the current state with the server\'s seq');
@m = ws_once("/stream?users=s1,s2&since=$huge", 1);
is(join(' ', map { user_of($_) . '@' . $_->[0] } @m), "s1\@$seq0",
	"/stream?users=...&since=$huge: the current states");
$big = subscribe('/stream', "Last-Event-ID: $huge");
@m = sse_wait_messages($big, 1);
is_deeply($m[0] // [], [ $seq0, 'resync' ],
	"/stream with Last-Event-ID $huge: a resync at the server's seq");
stop($big);

# a later subscriber: the current state, still with the server's seq
my $later = subscribe('/userEvents/s1/stream');
@m = sse_wait_messages($later, 1);
is($m[0][0] // '', $seq0, 'a later subscriber: the current state, with the same seq');
stop($later);
usleep(300_000);

# 3. the streams already open keep getting changes, in increasing seq
is(add_revenue($port, 's1', 2), 200, 'a change after the huge resume points');
rotate($node);
@m = sse_wait_messages($open, 2);
is(scalar(@m), 2, 'the open SSE stream got the change, and only it');
is(revenue($m[-1]), 7, '... the new state');
cmp_ok($m[-1][0], '>', $seq0, '... with a larger seq');
cmp_ok($m[-1][0], '<', $huge, '... not beyond the huge one');
my $seq1 = $m[-1][0];
@m = sse_wait_messages($openall, 1);
is(join(' ', map { user_of($_) . '@' . $_->[0] } @m), "s1\@$seq1",
	'the open /stream got the change, and only it');
is(add_revenue($port, 's1', 1), 200, 'another change');
rotate($node);
@m = sse_wait_messages($open, 3);
is(revenue($m[-1]), 8, 'the open stream gets the next change too');
ok(increasing(@m), '... seq only grows') or diag(explain(\@m));
my $seq2 = $m[-1][0];
my @w = ws_messages($openws);
is(join(' ', map { revenue($_) } @w), '5 7 8',
	'the open WebSocket stream got every state once');
ok(increasing(@w) && ($w[-1][0] // 0) == $seq2, '... in increasing seq, the last one the same');

# 4. resuming
my $r = subscribe('/userEvents/s1/stream', "Last-Event-ID: $seq2");
usleep(700_000);
is(scalar(sse_messages($r)), 0, 'resuming with the last seq: nothing');
is(add_revenue($port, 's1', 1), 200, 'a change');
rotate($node);
@m = sse_wait_messages($r, 1);
is(revenue($m[0]), 9, '... until the next change');
cmp_ok($m[0][0] // 0, '>', $seq2, '... with a larger seq');
my $seq3 = $m[0][0];
stop($r);
$r = subscribe('/userEvents/s1/stream', "Last-Event-ID: $seq1");
@m = sse_wait_messages($r, 1);
is_deeply($m[0] // [], [ $seq3, $m[0][1] ], 'resuming with an older seq: the current state');
is(revenue($m[0]), 9, '... the newest');
stop($r);
# a file's users share its seq: a client of several users that resumes
# from it may have been cut off in the middle of them, and gets them all
is(add_revenue($port, 'r1', 1), 200, 'two users in one file: r1');
is(add_revenue($port, 'r2', 2), 200, '... and r2');
rotate($node);
my $both = subscribe('/stream?users=r1,r2');
@m = sse_wait_messages($both, 2);
is(scalar(@m), 2, 'a subscriber of both gets both states');
is($m[0][0], $m[1][0], '... with the same seq');
my $seqr = $m[0][0];
stop($both);
$r = subscribe('/stream?users=r1,r2', "Last-Event-ID: $seqr");
@m = sse_wait_messages($r, 2);
is(join(' ', sort map { user_of($_) . '=' . revenue($_) } @m), 'r1=1 r2=2',
	'resuming from that seq: both states again, none lost');
stop($r);
@m = ws_once("/userEvents/s1/stream?since=$seq3", 1);
is(scalar(@m), 0, 'WebSocket, ?since= the last seq: nothing');
@m = ws_once("/userEvents/s1/stream?since=0", 1);
is(revenue($m[0] // []), 9, '?since=0: the current state');
for my $bad ('x', '-1', ' -1', '+1', '1x', '99999999999999999999999')
{
	my %rep = raw_request($port, 'GET', '/userEvents/s1/stream', undef,
		"Last-Event-ID: $bad");
	is($rep{status}, 400, "Last-Event-ID '$bad': 400");
}

# 5. several users: each state once while others subscribe to them
is(add_revenue($port, 'm1', 1), 200, 'm1');
is(add_revenue($port, 'm2', 2), 200, 'm2');
rotate($node);
my $multi = subscribe('/stream?users=m1,m2');
my $all = subscribe('/stream');
my $multiws = ws_start('/stream?users=m1,m2', 10);
@m = sse_wait_messages($multi, 2);
is(scalar(@m), 2, 'a subscriber of m1 and m2 gets both states');
my @others;
for my $i (1 .. 3)
{
	push @others, subscribe('/userEvents/m1/stream');
	push @others, subscribe('/stream?users=m2,m1');
	push @others, ws_start('/stream?users=m1,m2', 1);
	push @others, ws_start('/userEvents/m2/stream', 1);
	usleep(200_000);
}
usleep(1_000_000);
is(add_revenue($port, 'm1', 10), 200, 'a change of m1');
rotate($node);
@m = sse_wait_messages($multi, 3);
usleep(500_000);
@m = sse_messages($multi);
my %n = copies(@m);
is(scalar(@m), 3, 'SSE: the two states and the change, nothing more')
  or diag(explain(\@m));
ok(!grep({ $_ > 1 } values %n), '... no state sent twice') or diag(explain(\%n));
is(revenue($m[-1]), 11, '... the change last');
@m = sse_messages($all);
is(join(' ', map { user_of($_) } @m), 'm1', '/stream: only the change');
@w = ws_messages($multiws);
%n = copies(@w);
is(scalar(@w), 3, 'WebSocket: the two states and the change, nothing more')
  or diag(explain(\@w));
ok(!grep({ $_ > 1 } values %n), '... no state sent twice') or diag(explain(\%n));
for my $o (@others)
{
	if   (exists $o->{hdr}) { stop($o) }
	else                    { ws_messages($o) }
}
stop($_) for $open, $openall, $multi, $all;

done_testing();
