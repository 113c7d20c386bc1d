# Connection handling of the HTTP server under abuse, on one node:
#	(a) log flood: a burst of aborted requests writes at most LOG_BURST (20)
#		lines of server messages in a 10 s window, then one line that
#		counts the suppressed ones;
#	(b) peers that close mid-request (a byte, a request line, headers, part
#		of a body, then close) are let go at once: their descriptors are
#		gone within 2 s (libmicrohttpd alone kept them in CLOSE-WAIT until
#		the idle timeout), and GET is served meanwhile;
#	(c) evproc.request_timeout: a slowloris (a header byte every 0.5 s) and
#		a slow body are cut after the timeout, while others are served; a
#		kept-alive connection may stay idle longer than the timeout;
#	(d) a client that half-closes its side after a complete request
#		(HTTP/1.0 or Connection: close, then shutdown(SHUT_WR)) gets its
#		reply, with another keep-alive connection open: 50 tries, every one
#		a 200, and exactly 50 events counted (likewise GET lookups);
#	(e) evproc.max_body_memory: with the budget taken by slow uploads, a
#		further POST gets 503 with Retry-After and a JSON error, by
#		Content-Length or chunked; once the uploads finish, POSTs are
#		accepted again, and only the accepted events count;
#	(f) a burst of 500 connections announcing 1 MB bodies and sending
#		900 kB of them keeps the worker's resident memory bounded, and the
#		memory is given back once they close;
#	(g) open files: a worker started with a soft limit of 256 and a hard
#		limit of 400 raises the soft one to 400, serves at most 400 - 128
#		connections and says so in the log; with more connections than
#		that open, evproc_rotate() and ingest work, and GET works again
#		once they close.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IO::Select;
use IO::Socket::INET;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Socket qw(SHUT_WR);
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

$SIG{PIPE} = 'IGNORE';

my $node = evproc_node(
	'conn', qq(
evproc.request_timeout = 3
evproc.max_body_size = '16kB'
evproc.max_body_memory = '64kB'
));
my $port = http_port($node);
my $pid = worker_pid($node);
like($pid, qr/^\d+$/, "the worker runs (pid $pid)");

# --- helpers ---

# one_reply($sock, $timeout) reads one reply with a Content-Length body;
# returns (status, head, body), status undef if none came.
sub one_reply
{
	my %r = raw_reply(@_);
	return $r{end} eq 'reply' ? ($r{status}, $r{head}, $r{body}) : (undef, '', '');
}

# request($method, $path, $body, @headers): one request on a new connection
# (Connection: close); returns (status, head, body).
sub request
{
	my %r = raw_request($port, @_);
	return ($r{end} eq 'reply' ? $r{status} : undef, $r{head}, $r{body});
}

sub post
{
	my ($user) = @_;
	return request('POST', '/liveEvent', event_json($user, 'add_revenue', 1));
}

sub get_status
{
	my ($status) = request('GET', '/userEvents/conn-nobody', undef);
	return $status // 'none';
}

# fd_count($pid): open descriptors of a process.
sub fd_count
{
	my ($p) = @_;
	opendir(my $dh, "/proc/$p/fd") or return -1;
	my $n = grep { !/^\./ } readdir($dh);
	closedir($dh);
	return $n;
}

# wait_fds($pid, $at_most, $timeout): waits until the process has at most
# $at_most descriptors; returns the seconds it took, or undef.
sub wait_fds
{
	my ($p, $at_most, $timeout) = @_;
	my $start = time;
	while (time - $start < $timeout)
	{
		return time - $start if fd_count($p) <= $at_most;
		usleep(50_000);
	}
	return undef;
}

# vm_rss($pid): resident memory in kB.
sub vm_rss
{
	my ($p) = @_;
	open(my $fh, '<', "/proc/$p/status") or return -1;
	while (<$fh>)
	{
		return $1 if /^VmRSS:\s+(\d+)/;
	}
	return -1;
}

# aborted_requests(): the partial requests of an aborted client.
my @partial = (
	'G',
	'GET /userEvents/x HTTP/1.1',
	"GET /userEvents/x HTTP/1.1\r\nHost: 127.0.0.1\r\n",
	"POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"userId\"",
	"POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"use",
);

# warm up: the lookup opens the tables, so the descriptor count is stable
is(get_status(), 404, 'a GET is served');

# --- (a) the server's messages are rate-limited ---

{
	# no server message for a whole window: the burst starts a new one
	sleep(11);
	my $offset = -s $node->logfile;
	my @socks;
	for my $i (0 .. 299)
	{
		my $sock = raw_connect($port) or next;
		raw_send($sock, $partial[ $i % @partial ]);
		push @socks, $sock;
	}
	# separately from the partial requests, so that even libmicrohttpd
	# alone reads the end of file and logs each
	usleep(300_000);
	close($_) for @socks;
	sleep(2);
	my $log = slurp_file($node->logfile, $offset);
	my $lines = () = $log =~ /evproc: HTTP server: /g;
	note "$lines server messages logged for 300 aborted requests";
	cmp_ok($lines, '<=', 20,
		'log: at most 20 server messages for a burst of 300 aborted requests');
	ok( defined log_match(
			$node, qr/evproc: HTTP server: (\d+) more messages suppressed in 10 s/,
			$offset, 15),
		'log: the suppressed messages are counted in one line');
}

# --- (b) peers that close mid-request are let go at once ---

{
	my $base = fd_count($pid);
	my $start = time;
	for my $i (0 .. 399)
	{
		my $sock = raw_connect($port) or next;
		raw_send($sock, $partial[ $i % @partial ]);
		close($sock);
	}
	note sprintf('400 aborted connections made in %.2fs', time - $start);
	is(get_status(), 404, 'closed peers: GET served meanwhile');
	my $took = wait_fds($pid, $base + 5, 10);
	ok(defined $took && $took <= 2,
		'closed peers: the worker let go of all 400 within 2s'
		  . (defined $took ? sprintf(' (%.2fs)', $took) : ' (not within 10s)'))
	  or diag 'descriptors: ' . fd_count($pid) . ", before: $base";
  SKIP:
	{
		my $ss = `ss -Htn state close-wait '( sport = :$port )' 2>/dev/null`;
		skip 'ss is not available', 1 if $?;
		my $n = () = $ss =~ /\n/g;
		is($n, 0, 'closed peers: no connection left in CLOSE-WAIT');
	}
	is(get_status(), 404, 'closed peers: GET served after');
}

# --- (c) evproc.request_timeout (3s) ---

{
	# a slowloris: the request line and headers, a byte every 0.5s
	my $slow = raw_connect($port);
	my $bytes = "GET /userEvents/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: "
	  . ('p' x 40);
	my $start = time;
	my $sel = IO::Select->new($slow);
	my $cut;
	my $served = 0;
	for my $byte (split //, $bytes)
	{
		last unless raw_send($slow, $byte);
		$served++ if get_status() eq '404';
		if ($sel->can_read(0.5))
		{
			$cut = time - $start unless sysread($slow, my $buf, 100);
			last if defined $cut;
		}
	}
	ok(defined $cut && $cut >= 2.5 && $cut <= 5,
		'slowloris: cut after the request timeout'
		  . (defined $cut ? sprintf(' (%.1fs)', $cut) : ' (never)'));
	cmp_ok($served, '>=', 3, "slowloris: others served meanwhile ($served GETs)");
	close($slow);

	# a slow body: its headers at once, then a byte every 0.5s
	$slow = raw_connect($port);
	raw_send($slow,
		"POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n");
	$start = time;
	$sel = IO::Select->new($slow);
	undef $cut;
	for my $i (1 .. 20)
	{
		last unless raw_send($slow, ' ');
		if ($sel->can_read(0.5))
		{
			$cut = time - $start unless sysread($slow, my $buf, 100);
			last if defined $cut;
		}
	}
	ok(defined $cut && $cut <= 5,
		'slow body: cut after the request timeout'
		  . (defined $cut ? sprintf(' (%.1fs)', $cut) : ' (never)'));
	close($slow);

	# idle between requests is not request time
	my $conn = http_connect($port);
	my ($status) =
	  http_request($conn, 'GET', '/userEvents/conn-nobody', undef, 5);
	is($status, 404, 'keep-alive: first request');
	sleep(4);
	($status) = http_request($conn, 'GET', '/userEvents/conn-nobody', undef, 5);
	is($status, 404, 'keep-alive: served again after 4s idle');
	close($conn->{sock});

	ok( defined log_match(
			$node,
			qr/closed \d+ HTTP connections whose request did not arrive within evproc.request_timeout/,
			0, 15),
		'request timeout: logged');
}

# --- (d) a client that half-closes after its request gets its reply ---

{
	my $idle = http_connect($port);
	my ($status) =
	  http_request($idle, 'GET', '/userEvents/conn-nobody', undef, 5);
	is($status, 404, 'half-close: an idle keep-alive connection is open');

	my (%replied, @users);
	for my $i (1 .. 50)
	{
		my $user = "halfclose-$i";
		my $body = event_json($user, 'add_revenue', 1);
		my $sock = raw_connect($port);
		my $req =
		    ($i % 2 ? "POST /liveEvent HTTP/1.0\r\n" : "POST /liveEvent HTTP/1.1\r\nConnection: close\r\n")
		  . "Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
		  . 'Content-Length: '
		  . length($body)
		  . "\r\n\r\n$body";
		raw_send($sock, $req);
		shutdown($sock, SHUT_WR);
		my ($reply) = read_until_eof($sock, 10);
		close($sock);
		push @users, $user;
		$replied{$user} = 1 if $reply =~ m{^HTTP/1\.[01] 200 };
	}
	is(scalar(keys %replied), 50, 'half-close: 50 of 50 POSTs got their 200');

	my $got = 0;
	for my $i (1 .. 10)
	{
		my $sock = raw_connect($port);
		raw_send($sock,
			"GET /userEvents/conn-nobody HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
		shutdown($sock, SHUT_WR);
		my ($reply) = read_until_eof($sock, 10);
		close($sock);
		$got++ if $reply =~ m{^HTTP/1\.[01] 404 };
	}
	is($got, 10, 'half-close: 10 of 10 lookups got their reply');

	($status) = http_request($idle, 'GET', '/userEvents/conn-nobody', undef, 5);
	is($status, 404, 'half-close: the idle connection still works');
	close($idle->{sock});

	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) || ' ' || sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'halfclose-%'"
		),
		'50 50',
		'half-close: exactly the 50 events counted, each once');
}

# --- (e) evproc.max_body_memory (64kB) ---

{
	my (@acked, @refused);

	# four uploads of 16kB announced, 1kB sent: the budget is taken
	my @holders;
	for my $i (1 .. 4)
	{
		my $sock = raw_connect($port);
		raw_send($sock,
			    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  . "Content-Type: application/json\r\nContent-Length: 16384\r\n"
			  . "Connection: close\r\n\r\n"
			  . event_json("bodymem-held-$i", 'add_revenue', 1));
		push @holders, $sock;
	}
	usleep(300_000);

	my ($status, $head, $body) = post('bodymem-refused-1');
	push @refused, 'bodymem-refused-1';
	is($status, 503, 'body memory: a further POST gets 503');
	like($head, qr/^Retry-After: 1\r?$/mi, 'body memory: with Retry-After: 1');
	like($body, qr/^\{"error": "[^"]+"\}$/, 'body memory: and a JSON error');

	# chunked: refused when its buffer would pass the budget, at the end
	my $event = event_json('bodymem-refused-2', 'add_revenue', 1);
	push @refused, 'bodymem-refused-2';
	my $sock = raw_connect($port);
	raw_send($sock,
		    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		  . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		  . sprintf("%x\r\n%s\r\n0\r\n\r\n", length($event), $event));
	($status, $head) = one_reply($sock, 10);
	close($sock);
	is($status, 503, 'body memory: a chunked POST gets 503');
	like($head, qr/^Retry-After: 1\r?$/mi, 'body memory: chunked, with Retry-After: 1');

	# the uploads finish (their events padded with spaces) and are accepted
	my $ok = 0;
	for my $i (0 .. 3)
	{
		my $sent = length(event_json("bodymem-held-" . ($i + 1), 'add_revenue', 1));
		raw_send($holders[$i], ' ' x (16384 - $sent));
		my ($st) = one_reply($holders[$i], 10);
		$ok++ if ($st // 0) == 200;
		push @acked, 'bodymem-held-' . ($i + 1);
		close($holders[$i]);
	}
	is($ok, 4, 'body memory: the slow uploads are accepted when they finish');

	($status) = post('bodymem-after');
	push @acked, 'bodymem-after';
	is($status, 200, 'body memory: POSTs are accepted again');

	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	my $rev = revenue_of($node, @acked);
	is(scalar(grep { ($rev->{$_} // '') eq '1' } @acked),
		scalar(@acked), 'body memory: the accepted events counted once');
	is_deeply(revenue_of($node, @refused), {}, 'body memory: the refused ones not');
}

# --- (f) resident memory in a burst of large uploads ---

{
	set_conf($node, 'evproc.max_body_size', '1MB');
	set_conf($node, 'evproc.max_body_memory', '64MB');
	usleep(200_000);
	my $before = vm_rss($pid);
	my $n = 500;
	my $part = 900 * 1024;
	my (@socks, %sent);
	my $head =
	    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	  . "Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n";
	for my $i (1 .. $n)
	{
		my $sock = raw_connect($port) or last;
		$sock->blocking(0);
		syswrite($sock, $head);
		push @socks, $sock;
		$sent{$sock} = 0;
	}
	my $chunk = ' ' x 65536;
	my $deadline = time + 30;
	my $peak = 0;
	my %left = map { $_ => $_ } @socks;
	while (%left && time < $deadline)
	{
		my $sel = IO::Select->new(values %left);
		for my $sock ($sel->can_write(1))
		{
			my $want = $part - $sent{$sock};
			my $w = syswrite($sock, $chunk, $want < 65536 ? $want : 65536);
			next if !defined $w && $!{EAGAIN};
			if (!$w)
			{
				# refused (503) and closed by the server
				delete $left{$sock};
				next;
			}
			$sent{$sock} += $w;
			delete $left{$sock} if $sent{$sock} >= $part;
		}
		my $rss = vm_rss($pid);
		$peak = $rss if $rss > $peak;
	}
	sleep(1);
	my $rss = vm_rss($pid);
	$peak = $rss if $rss > $peak;
	close($_) for @socks;
	my $after;
	for (1 .. 30)
	{
		usleep(100_000);
		$after = vm_rss($pid);
		last if $after < $before + 10 * 1024;
	}
	note sprintf(
		'worker VmRSS: %.0f MB before, %.0f MB at most during the burst, %.0f MB after',
		$before / 1024, $peak / 1024, $after / 1024);
	cmp_ok($peak, '<', 200 * 1024,
		'burst: the worker stays under 200 MB with 500 x 900 kB uploads');
	cmp_ok($after, '<', $before + 10 * 1024,
		'burst: the memory is given back once they close');
	is(get_status(), 404, 'burst: GET served after');
}

# --- (g) open files: the soft limit raised, connections kept below it ---

{
	my $postmaster = $node->{_pid};
	system('prlimit', "--pid=$postmaster", '--nofile=256:400') == 0
	  or BAIL_OUT('prlimit failed');
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	ok( query_until(
			$node,
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'evproc' AND pid <> $pid",
			'1', 30),
		'limits: the worker restarted');
	ok(wait_for_http($port, 30), 'limits: the new worker serves');
	my $wpid = worker_pid($node);

	my $limits = slurp_file("/proc/$wpid/limits");
	like($limits, qr/^Max open files\s+400\s+400\s/m,
		'limits: the worker raised its soft limit from 256 to the hard 400');
	my $soft = $limits =~ /^Max open files\s+(\d+)/m ? $1 : 0;
	ok( defined log_match(
			$node, qr/serving at most 256 HTTP connections, not evproc.max_connections = 1024/,
			$offset, 10),
		'limits: the connection limit and its overflow band kept 128 descriptors below it, logged');

	my ($status) = post('limits-1');
	is($status, 200, 'limits: an event before the burst');

	# more connections than the worker may take: the others wait in the
	# listen backlog; each sends nothing (the request timeout is 3s, so
	# hold them 2s at most)
	my @socks;
	for my $i (1 .. 450)
	{
		my $sock = raw_connect($port) or last;
		push @socks, $sock;
	}
	note scalar(@socks) . ' connections open';
	usleep(500_000);
	my $fds = fd_count($wpid);
	note "worker descriptors with them open: $fds";
	cmp_ok($fds, '<=', $soft - 64,
		"limits: the worker keeps descriptors free for everything else (soft limit $soft)");
	my ($ret, $out, $err) = $node->psql('postgres', 'SELECT evproc_rotate()');
	is($ret, 0, 'limits: evproc_rotate() works meanwhile') or diag $err;
	is(revenue_of($node, 'limits-1')->{'limits-1'}, '1',
		'limits: the event was ingested meanwhile');
	close($_) for @socks;
	ok(wait_for_http($port, 30), 'limits: GET served once they close');
	($status) = post('limits-2');
	is($status, 200, 'limits: POST accepted once they close');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(revenue_of($node, 'limits-2')->{'limits-2'}, '1', 'limits: and counted');
	unlike(slurp_file($node->logfile, $offset), qr/Too many open files/,
		'limits: no "Too many open files"');
}

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no process crashed');

$node->stop;
done_testing();
