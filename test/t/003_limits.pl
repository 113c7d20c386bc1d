# Limits of the HTTP server, authentication by token file, and journal
# write faults, all on one node whose worker must never crash:
#	(a) a slow sender (half a request line, then nothing) is disconnected
#		after evproc.connection_timeout, and the worker keeps answering;
#	(b) with evproc.max_connections = 8, of 20 connections opened at once
#		at most 8 are served; the next ones (the overflow band, 4) get 503
#		at once, and libmicrohttpd stops accepting past the band, so the
#		rest wait in the kernel's listen backlog; once they are all closed,
#		requests are served again;
#	(c) request headers over evproc.max_header_size get 431;
#	(d) a body over evproc.max_body_size gets a JSON 413, whether its size
#		is announced by Content-Length or only known at the end of a
#		chunked upload; far too large chunked bodies get the connection
#		closed; a small chunked body is accepted;
#	(e) evproc.auth_token_file: the token of its first line is required
#		("Bearer <token>" or "<token>"), a changed file takes effect on
#		pg_reload_conf(), an unreadable, empty or missing file refuses
#		every request (401), and the token never reaches the server log;
#	(f) journal write faults ('journal-enospc', 'journal-eio') answer 503
#		with a JSON error and keep nothing; the same worker accepts again
#		once the fault is reset; a journal directory removed while the
#		server runs is made again by the next write (with a WARNING), both
#		when events.jsonl was open and when it had just been rotated
#		(with EVPROC_TEST_JOURNAL_STORAGE=database, where there is no
#		journal file, only the POSTs after the removal are checked);
#	(g) after all of that, the worker is the one that started (same pid).
#
# Every POSTed event has its own userId (value 1), so that "counted once"
# is "revenue exactly 1", and refused events must have no revenue at all.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Path qw(rmtree);
use IO::Select;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node(
	'limits', qq(
evproc.connection_timeout = 2
evproc.max_connections = 8
evproc.max_header_size = '8kB'
evproc.max_body_size = '1kB'
));
my $port = http_port($node);
my $dir = journal_dir($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();

# --- helpers ---

# request($method, $path, $body, @headers) sends one request on a new
# connection and returns ($status, $body); $status is undef without a
# reply.  A POST gets a Content-Length.
sub request
{
	my %r = raw_request($port, @_);
	return ($r{status}, $r{body});
}

# post($user, @headers) POSTs one event (add_revenue 1) for $user.
sub post
{
	my ($user, @headers) = @_;
	return request('POST', '/liveEvent', event_json($user, 'add_revenue', 1),
		@headers);
}

# until_status($what, $want, $timeout, $try) calls $try->() (which returns
# an HTTP status) every 50ms until it returns $want; true if it did.  Used
# to wait for the worker to act on a reload.
sub until_status
{
	my ($want, $timeout, $try) = @_;
	my $deadline = time + $timeout;
	my $status;

	while (time < $deadline)
	{
		$status = $try->() // 'none';
		return 1 if $status eq $want;
		usleep(50_000);
	}
	diag "still $status, not $want, after ${timeout}s";
	return 0;
}

# check_counted($what, \@acked, \@refused) rotates, then checks that each
# acknowledged user has revenue 1 and each refused one none.
sub check_counted
{
	my ($what, $acked, $refused) = @_;

	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	my $rev = revenue_of($node, @$acked);
	my @wrong = grep { ($rev->{$_} // 'none') ne '1' } @$acked;
	is(scalar(@wrong), 0,
		"$what: " . scalar(@$acked) . ' acknowledged events counted once'
		  . (@wrong ? " (first wrong: $wrong[0])" : ''));
	$rev = revenue_of($node, @$refused);
	is_deeply($rev, {},
		"$what: none of the " . scalar(@$refused) . ' refused events counted');
}

my $pid = worker_pid($node);
like($pid, qr/^\d+$/, "the worker runs (pid $pid)");

# --- (a) a slow sender is disconnected after connection_timeout ---

{
	my $sock = raw_connect($port);
	ok($sock, 'slow: connected');
	raw_send($sock, 'POST /liveEv');
	my $start = time;

	# meanwhile the worker serves others
	my ($status) = post('slow-1');
	is($status, 200, 'slow: others are served while it waits');

	my %r = raw_reply($sock, 8);
	my $took = time - $start;
	is($r{end}, 'closed', 'slow: the server closed the idle connection');
	is($r{head}, '', 'slow: without a reply');
	ok($took >= 1.5 && $took <= 5,
		sprintf('slow: closed after %.1fs (connection_timeout = 2s)', $took));
	close($sock);
	($status) = post('slow-2');
	is($status, 200, 'slow: the worker still answers');
	check_counted('slow', [ 'slow-1', 'slow-2' ], []);
}

# --- (b) more connections than evproc.max_connections ---

{
	my $n = 20;
	my @socks;
	for my $i (1 .. $n)
	{
		my $sock = raw_connect($port);
		push @socks, $sock if $sock;
	}
	note scalar(@socks) . " of $n connections established (TCP)";

	# one request on each, then give the served ones 1s to answer: less
	# than connection_timeout, after which idle ones would be closed and
	# waiting ones let in
	my $start = time;
	raw_send($_, "GET /userEvents/conn-limit HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	  for @socks;
	my (%replied, %closed, %busy);
	my $sel = IO::Select->new(@socks);
	my %buf;
	while ((my $left = $start + 1 - time) > 0 && $sel->count)
	{
		for my $sock ($sel->can_read($left))
		{
			my $got = sysread($sock, my $chunk, 65536);
			if (!$got)
			{
				$closed{ fileno($sock) } = 1;
				$sel->remove($sock);
				next;
			}
			$buf{ fileno($sock) } .= $chunk;
			if ($buf{ fileno($sock) } =~ m{^HTTP/1\.1 404 .*\r\n\r\n.*\}}s)
			{
				$replied{ fileno($sock) } = 1;
				$sel->remove($sock);
			}
			elsif ($buf{ fileno($sock) } =~
				m{^HTTP/1\.1 503 .*\r\nRetry-After: 1\r\n.*\r\n\r\n.*\}}s)
			{
				$busy{ fileno($sock) } = 1;
				$sel->remove($sock);
			}
		}
	}
	my $served = keys %replied;
	my $unserved = @socks - $served;
	note "limit: $served served, "
	  . scalar(keys %closed)
	  . " closed by the server, "
	  . ($unserved - keys %closed)
	  . ' left waiting';
	cmp_ok($served, '>=', 1, 'limit: some connections are served');
	cmp_ok($served, '<=', 8, 'limit: at most max_connections are served');
	cmp_ok($unserved, '>=', @socks - 8,
		'limit: the others are closed or left waiting, not served');
	cmp_ok(scalar(keys %busy), '>=', 1,
		'limit: beyond it, connections get 503 with Retry-After at once');

	close($_) for @socks;
	ok(wait_for_http($port, 10),
		'limit: requests are served again once they are closed');
	my ($status) = post('limit-1');
	is($status, 200, 'limit: POST accepted again');
	check_counted('limit', ['limit-1'], []);
}

# --- (c) headers over evproc.max_header_size (8kB) ---

{
	my ($status, $body) = request('GET', '/userEvents/hdr', undef,
		'X-Padding: ' . ('p' x 2000));
	is($status, 404, 'headers: 2kB of headers are fine');

	($status, $body) = request('GET', '/userEvents/hdr', undef,
		'X-Padding: ' . ('p' x 10000));
	is($status, 431, 'headers: 10kB of headers get 431');

	($status, $body) = post('hdr-refused', 'X-Padding: ' . ('p' x 10000));
	is($status, 431, 'headers: a POST with 10kB of headers gets 431');

	($status) = post('hdr-1', 'X-Padding: ' . ('p' x 2000));
	is($status, 200, 'headers: a POST with 2kB of headers is accepted');
	check_counted('headers', ['hdr-1'], ['hdr-refused']);
}

# --- (d) bodies over evproc.max_body_size (1kB) ---

{
	my $event = event_json('body-big', 'add_revenue', 1);
	my $padded = $event . (' ' x (2000 - length($event)));

	# Content-Length too large to read and drop (over 64 kB): refused as
	# soon as the headers are in, before the body is sent (a small one is
	# read first, and the connection kept: 029_http_edges.pl)
	my $sock = raw_connect($port);
	raw_send($sock,
		    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		  . "Content-Length: 200000\r\n\r\n");
	my %r = raw_reply($sock, 10);
	is($r{status}, 413, 'body: Content-Length 200000 gets 413 before the body');
	like($r{body}, qr/^\{"error": ".*max_body_size.*"\}$/,
		'body: the 413 is a JSON error');
	close($sock);

	# ... and with the body sent along
	my ($status, $body) = request('POST', '/liveEvent', $padded);
	is($status, 413, 'body: 2000 bytes with Content-Length get 413');

	# chunked: the size is known only at the end
	my $chunk = ' ' x 500;
	my $chunked =
	    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	  . "Transfer-Encoding: chunked\r\n\r\n"
	  . sprintf("%x\r\n%s\r\n", length($event), $event)
	  . join('', map { sprintf("%x\r\n%s\r\n", length($chunk), $chunk) } 1 .. 3)
	  . "0\r\n\r\n";
	$sock = raw_connect($port);
	raw_send($sock, $chunked);
	%r = raw_reply($sock, 10);
	is($r{status}, 413, 'body: a chunked body of 1.5kB gets 413');
	like($r{body}, qr/^\{"error": ".*max_body_size.*"\}$/,
		'body: the chunked 413 is a JSON error');
	close($sock);

	# far beyond the limit the server stops reading and closes
	my $big = ' ' x 1000;
	$sock = raw_connect($port);
	raw_send($sock,
		    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		  . "Transfer-Encoding: chunked\r\n\r\n"
		  . sprintf("%x\r\n%s\r\n", length($event), $event)
		  . join('', map { sprintf("%x\r\n%s\r\n", length($big), $big) } 1 .. 8)
		  . "0\r\n\r\n");
	%r = raw_reply($sock, 10);
	ok(($r{status} // 413) == 413 && $r{end} ne 'timeout',
		'body: a chunked body of 8kB is refused or its connection closed');
	close($sock);

	# a chunked body within the limit is fine
	my $small = event_json('body-chunked', 'add_revenue', 1);
	$sock = raw_connect($port);
	raw_send($sock,
		    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		  . "Transfer-Encoding: chunked\r\n\r\n"
		  . sprintf("%x\r\n%s\r\n0\r\n\r\n", length($small), $small));
	%r = raw_reply($sock, 10);
	is($r{status}, 200, 'body: a small chunked body is accepted');
	close($sock);

	check_counted('body', ['body-chunked'], ['body-big']);
}

# --- (e) evproc.auth_token_file ---
#
# The token is kept out of the server log: the log only ever names the
# file.  Note that the plain evproc.auth_token setting does not have this
# property: PostgreSQL itself logs 'parameter "evproc.auth_token" changed
# to "..."' with the value on every reload that changes it (and so does
# any error about postgresql.conf).  Hence auth_token_file.

{
	my $tok1 = 'tok1-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
	my $tok2 = 'tok2-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
	my $file = "$tmp/token";
	my $write_token = sub {
		my ($text) = @_;
		open(my $fh, '>', "$file.tmp") or die "could not write $file.tmp: $!";
		print $fh $text;
		close($fh);
		rename("$file.tmp", $file) or die "could not rename: $!";
	};
	my $n = 0;
	my (@acked, @refused);
	my $post_as = sub {
		my (@headers) = @_;
		my $user = 'auth-' . ++$n;
		my ($status) = post($user, @headers);
		push @acked, $user if ($status // 0) == 200;
		push @refused, $user if ($status // 0) != 200;
		return $status // 'none';
	};

	$write_token->("$tok1\nsecond line is ignored\n");
	set_conf($node, 'evproc.auth_token_file', $file);
	ok(until_status(401, 10, sub { $post_as->() }),
		'auth: a POST without a token gets 401 once the file is in force');
	is($post_as->("Authorization: Bearer $tok1"), 200, 'auth: Bearer token');
	is($post_as->("Authorization: $tok1"), 200, 'auth: plain token');
	is($post_as->("Authorization: bearer $tok1"),
		200, 'auth: "bearer" in lower case');
	is($post_as->("Authorization: Bearer ${tok1}x"), 401, 'auth: longer token');
	is($post_as->('Authorization: Bearer ' . substr($tok1, 0, -1)),
		401, 'auth: shorter token');
	is($post_as->('Authorization: Bearer second line is ignored'),
		401, 'auth: only the first line is the token');
	my ($status) = request('GET', '/userEvents/auth-1', undef);
	is($status, 401, 'auth: GET without a token gets 401');
	($status) = request('GET', '/userEvents/auth-nobody', undef,
		"Authorization: Bearer $tok1");
	is($status, 404, 'auth: GET with the token is served');

	# a new token in the file, on reload
	$write_token->("$tok2\r\n");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(until_status(200, 10, sub { $post_as->("Authorization: Bearer $tok2") }),
		'auth: the new token (CRLF-ended) works after pg_reload_conf()');
	is($post_as->("Authorization: Bearer $tok1"), 401,
		'auth: the old token does not any more');

	# unreadable, empty or missing file: everything refused
	SKIP:
	{
		chmod(0000, $file) or die "chmod: $!";
		skip 'running as root: chmod does not make the file unreadable', 3
		  if -r $file;
		$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
		ok( until_status(
				401, 10, sub { $post_as->("Authorization: Bearer $tok2") }),
			'auth: unreadable file: the token is refused');
		is($post_as->(), 401, 'auth: unreadable file: no token refused');
		is($post_as->("Authorization: \001unreadable"),
			401, 'auth: unreadable file: a control character token refused');
	}
	$write_token->('');
	chmod(0600, $file);
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(until_status(401, 10, sub { $post_as->("Authorization: Bearer $tok2") }),
		'auth: empty file: the old token is refused');
	is($post_as->(), 401, 'auth: empty file: no token refused');
	is($post_as->('Authorization: Bearer '), 401,
		'auth: empty file: an empty token refused');

	$write_token->("$tok1\n");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(until_status(200, 10, sub { $post_as->("Authorization: $tok1") }),
		'auth: a token again after the empty file');

	# a first line too long to be a token refuses everything, its start too
	$write_token->(('T' x 2000) . "\n");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(until_status(401, 10, sub { $post_as->("Authorization: $tok1") }),
		'auth: too long a line in the file: the old token is refused');
	is($post_as->('Authorization: ' . ('T' x 1023)),
		401, 'auth: too long a line in the file: its first 1023 bytes are refused');
	$write_token->("$tok1\n");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(until_status(200, 10, sub { $post_as->("Authorization: $tok1") }),
		'auth: a token again after the too long line');
	unlink($file) or die "unlink: $!";
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok(until_status(401, 10, sub { $post_as->("Authorization: $tok1") }),
		'auth: missing file: the token is refused');

	# the file takes precedence over evproc.auth_token
	$write_token->("$tok2\n");
	set_conf($node, 'evproc.auth_token', 'plain-token-in-conf');
	ok(until_status(200, 10, sub { $post_as->("Authorization: $tok2") }),
		'auth: with both set, the file token works');
	is($post_as->('Authorization: plain-token-in-conf'), 401,
		'auth: with both set, evproc.auth_token is not used');
	set_conf($node, 'evproc.auth_token', undef);

	# back to no authentication
	set_conf($node, 'evproc.auth_token_file', undef);
	ok(until_status(200, 10, sub { $post_as->() }),
		'auth: no token needed once the setting is reset');

	# a plain evproc.auth_token too long to be used refuses everything
	my $long = 'L' x 1100;
	set_conf($node, 'evproc.auth_token', $long);
	ok(until_status(401, 10, sub { $post_as->() }),
		'auth: too long evproc.auth_token: no token refused');
	is($post_as->("Authorization: $long"), 401,
		'auth: too long evproc.auth_token: that token refused');
	is($post_as->("Authorization: \001too long"), 401,
		'auth: too long evproc.auth_token: a control character token refused');
	set_conf($node, 'evproc.auth_token', undef);
	ok(until_status(200, 10, sub { $post_as->() }),
		'auth: no token needed once evproc.auth_token is reset');

	check_counted('auth', \@acked, \@refused);
	note scalar(@acked) . ' accepted, ' . scalar(@refused) . ' refused';

	my $log = slurp_file($node->logfile);
	unlike($log, qr/\Q$tok1\E/, 'auth: the first token is not in the log');
	unlike($log, qr/\Q$tok2\E/, 'auth: the second token is not in the log');
	like($log,
		qr/could not read a token from evproc.auth_token_file "\Q$file\E"/,
		'auth: the log names the unreadable file');
}

# --- (f) journal write faults ---

# with the journal in the database there is no journal file to fail: a
# failing group commit is 033_database_journal.pl's (16 tests a fault)
SKIP:
{
	skip 'the journal is in the database: no journal file to fail', 32
	  if journal_in_database($node);
	for my $fault ('journal-enospc', 'journal-eio')
	{
		my $n = 0;
		my (@acked, @refused);
		my $errors = 0;
		my $post_one = sub {
			my $user = "$fault-" . ++$n;
			my ($status, $body) = post($user);
			$status //= 'none';
			if ($status eq '200')
			{
				push @acked, $user;
			}
			else
			{
				push @refused, $user;
				$errors++ unless $status eq '503' && $body =~ /^\{"error": "[^"]+"\}$/;
			}
			return $status;
		};
		my $offset = -s $node->logfile;

		set_conf($node, 'evproc.fault_injection', $fault);
		ok(until_status(503, 10, $post_one), "$fault: POST gets 503");
		my $size = -s "$dir/events.jsonl";
		is($post_one->(), 503, "$fault: and again") for 1 .. 3;
		is(-s "$dir/events.jsonl", $size,
			"$fault: the journal is cut back to its last good length");
		is($errors, 0, "$fault: every refusal is a 503 with a JSON error");
		my $errno = $fault eq 'journal-enospc' ? 'No space left on device' : 'Input/output error';
		ok( defined log_match($node,
				qr/evproc: could not write the journal in "[^"]*": \Q$errno\E/,
				$offset, 10),
			"$fault: the failure is logged");

		# rotating while failing archives nothing that was refused
		$node->safe_psql('postgres', 'SELECT evproc_rotate()');
		is_deeply(revenue_of($node, @refused), {},
			"$fault: after a rotation the refused events are not counted");

		set_conf($node, 'evproc.fault_injection', undef);
		ok(until_status(200, 10, $post_one), "$fault: POST accepted after reset");
		is($post_one->(), 200, "$fault: and again") for 1 .. 3;
		ok(defined log_match($node, qr/writing the journal succeeds again/, $offset, 10),
			"$fault: the recovery is logged");
		is(worker_pid($node), $pid, "$fault: the same worker serves");
		check_counted($fault, \@acked, \@refused);
		note "$fault: " . scalar(@acked) . ' accepted, ' . scalar(@refused) . ' refused';
	}
}

# the journal directory removed behind the worker's back: first when the
# journal was just rotated (nothing open), then with events.jsonl open
for my $when ('rotated', 'open')
{
	my $offset = -s $node->logfile;
	my @acked;

	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	if ($when eq 'open')
	{
		# an event acknowledged into the file that is about to be removed
		# is lost with it (the WARNING says so); it is not checked here
		my ($status) = post('rmdir-lost');
		is($status, 200, "rmdir $when: an event in the open journal");
	}
	rmtree($dir);
	ok(!-e $dir, "rmdir $when: journal directory removed");

	my ($status, $body) = post("rmdir-$when-1");
	is($status, 200, "rmdir $when: the next POST is accepted")
	  or diag "reply: $body";
	push @acked, "rmdir-$when-1" if ($status // 0) == 200;
	SKIP:
	{
		skip 'the journal is in the database: no journal file to make again', 2
		  if journal_in_database($node);
		ok(-f "$dir/events.jsonl", "rmdir $when: the journal is made again");
		ok( defined log_match(
				$node, qr/WARNING:.*evproc: the journal .* was removed/,
				$offset, 5),
			"rmdir $when: a WARNING is logged");
	}
	for my $i (2 .. 5)
	{
		($status) = post("rmdir-$when-$i");
		push @acked, "rmdir-$when-$i" if ($status // 0) == 200;
	}
	is(scalar(@acked), 5, "rmdir $when: the following POSTs are accepted");
	check_counted("rmdir $when", \@acked, []);
	ok(-d "$dir/processed", "rmdir $when: processed/ is made again");
}

# --- (g) none of this crashed or restarted the worker ---

is(worker_pid($node), $pid, 'the worker is the one that started');
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|exited with exit code/,
	'no process crashed or exited');
unlike($log, qr/could not prune/,
	'the worker prunes old eventIds without error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM evproc.rejected_lines'),
	'0', 'no rejected lines');

$node->stop;
done_testing();
