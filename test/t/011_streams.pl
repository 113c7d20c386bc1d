# Live updates over Server-Sent Events, with curl -N as the client:
# GET /userEvents/:userId/stream and GET /stream[?users=a,b].
#	- a subscriber of an unknown user hears nothing until its first change;
#	  one of a known user gets its current state first;
#	- a message goes out only after the file's ingest committed, with the
#	  state GET gives plus "seq", in increasing seq;
#	- Last-Event-ID resumes: nothing the client has is sent again, a change
#	  it missed is sent as the current state;
#	- GET /stream sees every user, ?users= only those;
#	- evproc.max_subscribers: 503 beyond it;
#	- a subscriber that does not read is closed, the others go on;
#	- after kill -9 of the postmaster, a client resuming with its
#	  Last-Event-ID gets the current state (with a larger seq), and every
#	  acknowledged event is in it;
#	- with two workers, every subscriber hears of changes counted by either.

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
my $node = evproc_node('streams', "evproc.max_subscribers = 6\n");
my $port = http_port($node);

sub subscribe { return sse_subscribe($port, $tmp, @_); }
sub messages { return sse_messages(@_); }


sub stop { my ($s) = @_; $s->{h}->kill_kill; }

# 1. an unknown user: nothing until its first change, only after commit
my $a = subscribe('/userEvents/a1/stream');
is($a->{status}, 200, 'a stream of an unknown user opens');
is(add_revenue($port, 'a1', 5), 200, 'event for a1 acknowledged');
usleep(300_000);
is(scalar messages($a), 0, 'nothing is sent before the file is ingested');
rotate($node);
my @m = sse_wait_messages($a, 1);
is($m[0][1] // '', '{"userId": "a1", "revenue": 5, "metrics": {"revenue": 5}, "seq": ' . ($m[0][0] // '') . '}',
	'after the commit: the state GET gives, with seq');
my $seq1 = $m[0][0];

# 2. a known user: its state first; then changes in increasing seq
my $b = subscribe('/userEvents/a1/stream');
@m = sse_wait_messages($b, 1);
like($m[0][1] // '', qr/^\{"userId": "a1", "revenue": 5, /, 'a known user: its state first');
is(add_revenue($port, 'a1', 1), 200, 'a second event');
rotate($node);
@m = sse_wait_messages($a, 2);
like($m[1][1] // '', qr/"revenue": 6,/, 'the change follows');
cmp_ok($m[1][0], '>', $seq1, 'in increasing seq');
my $seq2 = $m[1][0];

# 3. resume: nothing the client has is sent again; a missed change is
my $c = subscribe('/userEvents/a1/stream', "Last-Event-ID: $seq2");
usleep(500_000);
is(scalar messages($c), 0, 'Last-Event-ID of the newest change: nothing sent');
my $d = subscribe('/userEvents/a1/stream', "Last-Event-ID: $seq1");
@m = sse_wait_messages($d, 1);
like($m[0][1] // '', qr/"revenue": 6,/, 'an older Last-Event-ID: the current state');
stop($_) for $b, $c, $d;

# 4. GET /stream: every user; ?users= only those
my $all = subscribe('/stream');
my $some = subscribe('/stream?users=b2,b3');
is(add_revenue($port, 'b1', 1), 200, 'b1');
is(add_revenue($port, 'b2', 2), 200, 'b2');
rotate($node);
@m = sse_wait_messages($all, 2);
is_deeply([ sort map { $_->[1] =~ /"userId": "(\w+)"/ } @m ], [ 'b1', 'b2' ],
	'/stream: every user');
@m = sse_wait_messages($some, 1);
usleep(300_000);
@m = messages($some);
is_deeply([ map { $_->[1] =~ /"userId": "(\w+)"/ } @m ], ['b2'],
	'/stream?users=b2,b3: only b2');

# 5. evproc.max_subscribers (6): 503 beyond it
# open now: a, all, some; three more make six, the seventh is refused
my @more = map { subscribe('/userEvents/x/stream') } 1 .. 4;
is_deeply([ map { $_->{status} } @more ], [ 200, 200, 200, 503 ],
	'beyond evproc.max_subscribers: 503');
like(-e $more[3]{out} ? slurp_file($more[3]{out}) : '', qr/too many subscribers/,
	'... saying why');
stop($_) for @more, $all, $some;

# 6. a subscriber that does not read is closed; the others go on
# a small receive window, set before connecting
my $slow = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
setsockopt($slow, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), 4096);
$slow->connect(Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')))
  or die "connect: $!";
print $slow "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
my $fast = subscribe('/userEvents/big-1/stream');
usleep(300_000);
my $dir = journal_dir($node);
# eight files of 9,000 users: megabytes of messages, more than the
# kernel's socket buffers hold for the one that does not read
for my $f (0 .. 7)
{
	open(my $fh, '>', "$dir/big.tmp") or die $!;
	printf $fh qq({"userId":"big-%d","name":"add_revenue","value":1}\n), $f * 9000 + $_
	  for 1 .. 9000;
	close($fh);
	rename("$dir/big.tmp", "$dir/events-big-$f.jsonl") or die $!;
}
rotate($node);
@m = sse_wait_messages($fast, 1);
like($m[0][1] // '', qr/"userId": "big-1", "revenue": 1,/,
	'the other subscriber gets its change');
# the states of 72,000 users go out over many passes: let them, before
# the slow client reads anything
sleep 4;
my $buf = '';
$slow->blocking(0);
my $deadline = time + 10;
while (time < $deadline)
{
	my $n = sysread($slow, my $chunk, 65536);
	last if defined $n && $n == 0;
	$buf .= $chunk if $n;
	usleep(10_000);
}
# the reason, then the end of the chunked body (and of the connection)
ok($buf =~ /: closed: the client does not read fast enough[^\n]*\n\n\r\n0\r\n\r\n\z/,
	'the one that did not read is closed, with the reason, and its stream ends')
  or diag('received ' . length($buf) . ' bytes, ending: ' . substr($buf, -200));
close($slow);
stop($fast);

# 7. kill -9: the client resumes with its Last-Event-ID; the current state,
# with every acknowledged event, and a larger seq
my $k = subscribe('/userEvents/k1/stream');
is(add_revenue($port, 'k1', 1), 200, 'k1 first event');
rotate($node);
@m = sse_wait_messages($k, 1);
my $kseq = $m[0][0];
is(add_revenue($port, 'k1', 2), 200, 'k1 second event, acknowledged before the kill');
ok(kill9_and_wait($node, 60), 'postmaster killed');
stop($k);
$node->start;
ok(wait_for_http($port, 60), 'serving again');
my $k2 = subscribe('/userEvents/k1/stream', "Last-Event-ID: $kseq");
rotate($node);
@m = sse_wait_messages($k2, 1);
like($m[-1][1] // '', qr/"revenue": 3,/, 'resumed: the state with every acknowledged event');
cmp_ok($m[-1][0], '>', $kseq, '... and a larger seq');
stop($k2);

done_testing();
