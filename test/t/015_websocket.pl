# Live updates over WebSocket (RFC 6455), with a client written on
# Python's standard library (test/ws_client.py): the upgrade, the first
# state, a change after its commit, ?since= resume, ping/pong, the close
# handshake, and frames that break the protocol (unmasked, too large,
# a message where none is expected, a close code that may not be sent),
# each closed with its code; a bad handshake is a 400.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use EvprocTest;

my $node = evproc_node('websocket');
my $port = http_port($node);
my $client = "$FindBin::RealBin/../ws_client.py";

# ws($path, $mode, $seconds): the client's output lines
sub ws
{
	my ($path, $mode, $seconds) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'python3', $client, $port, $path, $mode, $seconds ],
		'<', \undef, '>', \$out, '2>', \$err);
	diag($err) if $err ne '';
	return split /\n/, $out;
}

sub post
{
	my ($user, $value) = @_;
	my ($status) = http_post($port, '/liveEvent',
		qq({"userId":"$user","name":"add_revenue","value":$value}));
	return $status;
}

is(post('w1', 5), 200, 'w1 acknowledged');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');

# the upgrade and the first state
my @out = ws('/userEvents/w1/stream', 'read', 1);
is($out[0], 'HTTP/1.1 101 Switching Protocols', 'the connection is upgraded');
like($out[1] // '', qr/^1 \{"userId": "w1", "revenue": 5, "metrics": \{"revenue": 5\}, "seq": (\d+)\}$/,
	'a text frame with the current state and seq');
my ($seq) = ($out[1] // '') =~ /"seq": (\d+)/;

# a change, sent once committed
my $h = IPC::Run::start(
	[ 'python3', $client, $port, '/userEvents/w1/stream', 'read', 4 ],
	'<', \undef, '>', \my $live);
usleep(500_000);
is(post('w1', 2), 200, 'a second event');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
$h->finish;
my @frames = grep { /^1 / } split /\n/, $live;
like($frames[-1] // '', qr/"revenue": 7,/, 'the change follows, over WebSocket');

# ?since=: nothing the client has is sent again; an older one gets the
# state, and so does one the server never reached (it is unknown)
my ($seq7) = ($frames[-1] // '') =~ /"seq": (\d+)/;
@out = ws("/userEvents/w1/stream?since=" . ($seq7 + 1000000000000), 'read', 1);
like((grep { /^1 / } @out)[0] // '', qr/"revenue": 7,.*"seq": $seq7\}$/,
	'?since= beyond the server: the current state, with the server\'s seq');
@out = ws("/userEvents/w1/stream?since=$seq7", 'read', 1);
is(scalar(grep { /^1 / } @out), 0, '?since= of the last seq: nothing sent');
@out = ws("/userEvents/w1/stream?since=$seq", 'read', 1);
like((grep { /^1 / } @out)[0] // '', qr/"revenue": 7,/, '?since= of an older seq: the current state');

# control frames and the close handshake
@out = ws('/userEvents/w1/stream', 'ping', 1);
ok((grep { $_ eq '10 abc' } @out), 'a ping gets its pong');
@out = ws('/userEvents/w1/stream', 'close', 1);
is($out[-1], '8 03e8', 'a close frame is answered with 1000');

# frames that break the protocol: closed with the right code
@out = ws('/userEvents/w1/stream', 'unmasked', 1);
is($out[-1], '8 03ea', 'an unmasked frame: 1002');
@out = ws('/userEvents/w1/stream', 'big', 1);
is($out[-1], '8 03f1', 'a 100 kB message: 1009');
@out = ws('/userEvents/w1/stream', 'text', 1);
is($out[-1], '8 03eb', 'a message on a stream that takes none: 1003');
@out = ws('/userEvents/w1/stream', 'badclose', 1);
is($out[-1], '8 03ea', 'a close code that may not be sent (1005): 1002');

# a bad handshake
@out = ws('/userEvents/w1/stream', 'version12', 1);
is($out[0], 'HTTP/1.1 400 Bad Request', 'Sec-WebSocket-Version 12: 400');
like($out[1] // '', qr/Sec-WebSocket-Version must be 13/, '... saying why');

# the server still serves
is(post('w1', 1), 200, 'POST still served after all that');

done_testing();
