# Connection slots: streams can never take the slots that requests need,
# and no connection is ever left without an answer.  With
# evproc.max_connections = 24, evproc.reserved_connections = 8 and
# evproc.max_streams_per_client = 6:
#	(a) one client opens 30 idle streams (a WebSocket, then Server-Sent
#		Events): 6 are served, every other one gets 429 with Retry-After
#		and a JSON error at once (never silence, never a bare close);
#	(b) /health, GET and POST are answered promptly, from that client and
#		from another one;
#	(c) a WebSocket stream that closes gives its client's share back;
#	(d) two more clients: streams stop at max_connections less the reserve
#		(16), the next get 503 with Retry-After, and requests are still
#		answered;
#	(e) the remaining slots taken by idle connections: a new connection is
#		answered 503 with Retry-After and Connection: close at once (the
#		overflow band), logged; once they close, requests are served again.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node(
	'slots', qq(
evproc.max_connections = 24
evproc.reserved_connections = 8
evproc.max_streams_per_client = 6
evproc.connection_timeout = 60
evproc.request_timeout = 30
));
my $port = http_port($node);

# what "promptly" means here: far below the 30 s and more of a silent wait
my $prompt = 5;

# open_stream($from, $ws): a stream request from local address $from (a
# WebSocket upgrade if $ws); returns the socket and the reply (raw_reply),
# whose end is 'timeout' if nothing came within $prompt seconds.
sub open_stream
{
	my ($from, $ws) = @_;
	my $sock = raw_connect($port, $from)
	  or return (undef, status => undef, end => "no connection: $!");
	my $req = "GET /userEvents/slots-u/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	$req .=
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	  . "Sec-WebSocket-Version: 13\r\n"
	  . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	  if $ws;
	raw_send($sock, "$req\r\n");
	return ($sock, raw_reply($sock, $prompt));
}

# open_many($from, $n, $first_ws): $n streams from $from; returns the
# sockets of those served (101 or 200), the refusals' replies, and how many
# got no answer (the first one ends the attempt: the rest would wait too)
sub open_many
{
	my ($from, $n, $first_ws) = @_;
	my (@held, @refused, $silent);
	$silent = 0;
	for my $i (1 .. $n)
	{
		my ($sock, %r) = open_stream($from, $first_ws && $i == 1);
		if (defined $r{status} && ($r{status} == 101 || $r{status} == 200))
		{
			push @held, $sock;
			next;
		}
		close($sock) if $sock;
		if (!defined $r{status})
		{
			$silent++;
			note "stream $i from $from: no answer ($r{end})";
			last;
		}
		push @refused, \%r;
	}
	return (\@held, \@refused, $silent);
}

# refusals_ok($refused, $status, $what): each is $status with Retry-After,
# a JSON error and Connection: close
sub refusals_ok
{
	my ($refused, $status, $what) = @_;
	my @bad = grep {
		!(     $_->{status} == $status
			&& $_->{head} =~ /^Retry-After: \d+\r?$/mi
			&& $_->{head} =~ /^Connection: close\r?$/mi
			&& $_->{body} =~ /^\{"error": ".+"\}/)
	} @$refused;
	is(scalar @bad, 0,
		"$what: each refusal is $status + Retry-After + JSON, and closes")
	  or diag explain $bad[0];
}

# requests_ok($what): /health, GET and POST, from the first client and
# from another, each answered within $prompt seconds and not refused
my $posted = 0;

sub requests_ok
{
	my ($what) = @_;
	for my $from ('127.0.0.1', '127.0.0.2')
	{
		my @tries = (
			[ 'GET', '/health', undef ],
			[ 'GET', '/userEvents/slots-u', undef ],
			[
				'POST', '/liveEvent',
				event_json('slots-p', 'add_revenue', 1)
			]);
		for my $t (@tries)
		{
			my ($method, $path, $body) = @$t;
			my $sock = raw_connect($port, $from);
			my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n";
			$req .=
			    "Content-Type: application/json\r\nContent-Length: "
			  . length($body) . "\r\n"
			  if defined $body;
			raw_send($sock, "${req}Connection: close\r\n\r\n" . ($body // ''))
			  if $sock;
			my $start = time;
			my %r = $sock ? raw_reply($sock, $prompt) : (end => 'no connection');
			close($sock) if $sock;
			my $status = $r{status} // "none ($r{end})";
			ok( defined $r{status} && $r{status} =~ /^(200|404)$/,
				sprintf('%s: %s %s from %s answered (%s in %.1fs)',
					$what, $method, $path, $from, $status, time - $start));
			$posted++ if defined $body && ($r{status} // 0) == 200;
		}
	}
}

# --- (a) one client, many idle streams ---

my ($a_held, $a_refused, $silent) = open_many('127.0.0.1', 30, 1);
is($silent, 0, 'per client: no stream request is left unanswered');
is(scalar @$a_held, 6,
	'per client: evproc.max_streams_per_client (6) streams are served');
is(scalar @$a_refused, 24, 'per client: the other 24 are refused');
refusals_ok($a_refused, 429, 'per client');

# --- (b) requests still answered ---

requests_ok('one client holding its streams');

# --- (c) a WebSocket stream that closes gives its slot back ---

close(shift @$a_held);    # the WebSocket
my ($again, %r);
my $deadline = time + 10;
while (time < $deadline)
{
	($again, %r) = open_stream('127.0.0.1', 0);
	last if ($r{status} // 0) == 200;
	close($again) if $again;
	usleep(100_000);
}
is($r{status}, 200, 'per client: a closed WebSocket stream frees its share');
push @$a_held, $again if ($r{status} // 0) == 200;

# --- (d) the streams' share: max_connections less the reserve ---

my ($c_held, $c_refused) = open_many('127.0.0.3', 6, 0);
my ($d_held, $d_refused, $d_silent) = open_many('127.0.0.4', 6, 1);
is(@$c_held + @$d_held, 10,
	'share: streams stop at 16 (max_connections 24 less 8 reserved)');
is($d_silent, 0, 'share: no stream request is left unanswered');
refusals_ok($d_refused, 503, 'share');
requests_ok('streams holding their share');

# --- (e) every slot taken: the overflow band answers 503 at once ---

# 16 streams are held; take the other 8 slots with idle connections
usleep(500_000);    # the requests' connections are closed by now
my @idle;
for (1 .. 8)
{
	my $sock = raw_connect($port, '127.0.0.2');
	push @idle, $sock if $sock;
}
usleep(500_000);
my $offset = -s $node->logfile;
for my $i (1 .. 3)
{
	my $start = time;
	my %o = raw_request($port, 'GET', '/health');
	ok( ($o{status} // 0) == 503
		  && $o{head} =~ /^Retry-After: \d+\r?$/mi
		  && $o{head} =~ /^Connection: close\r?$/mi
		  && $o{body} =~ /^\{"error": ".*max_connections/
		  && time - $start < $prompt,
		sprintf('full: connection %d beyond the limit gets 503 at once (%s in %.1fs)',
			$i, $o{status} // "none ($o{end})", time - $start))
	  or diag explain \%o;
}
ok( defined log_match(
		$node, qr/answered \d+ HTTP connections with 503: all 24 connection slots were taken/,
		$offset, 15),
	'full: the refusals are logged');
close($_) for @idle;
ok(wait_for_http($port, 10), 'full: served again once the idle ones close');
requests_ok('after the idle connections closed');

close($_) for @$a_held, @$c_held, @$d_held;
rotate($node);
is(revenue_of($node, 'slots-p')->{'slots-p'}, $posted,
	'every acknowledged POST is counted');

$node->stop;
done_testing();
