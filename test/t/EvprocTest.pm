# EvprocTest: helpers shared by the evproc TAP tests.
#
# A node with evproc preloaded and its HTTP server on a free loopback port,
# a small HTTP/1.1 client (keep-alive, Content-Length replies), background
# senders that stream events and record which ones were acknowledged, and
# the waits needed around a kill -9 of the postmaster.
#
# Every wait here is bounded in time; the callers decide what a timeout
# means for the test.

package EvprocTest;

use strict;
use warnings;

use Exporter 'import';
use File::Path ();
use File::Spec;
use FindBin;
use IO::Select;
use IO::Socket::INET;
use IPC::Run ();
use POSIX ();
use Test::More ();
use Time::HiRes qw(time usleep);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(
	sse_subscribe
	sse_messages sse_wait_messages make_cert chromium_path
  evproc_node evproc_standby http_port journal_dir query_until log_match
  http_connect http_request http_send http_read_reply http_post event_json
  raw_connect raw_send raw_reply raw_request read_until_eof revenue_of
  wait_for_http
  start_sender wait_for_senders count_lines read_lines read_sent
  node_pids wait_for_pids_gone kill9_and_wait
  worker_pid ingest_transaction_open evproc_client_path add_revenue rotate
  count_processed count_ingested archive_state check_archives check_books check_counted_once set_conf
  set_fault reset_conf_offline journal_in_database
);

# HTTP port of each node made by evproc_node, by node name.
my %http_ports;

# journal_in_database($node): does $node keep its journal in the database
# (evproc.journal_storage)?  Without $node: will the nodes made by
# evproc_node, as EVPROC_TEST_JOURNAL_STORAGE=database asks (a test's own
# setting still wins)?  Assertions about the journal's files skip then,
# saying why.
sub journal_in_database
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT current_setting('evproc.journal_storage')") eq 'database'
	  if defined $node;
	return ($ENV{EVPROC_TEST_JOURNAL_STORAGE} // 'files') eq 'database';
}

# evproc_node($name, $extra_conf) creates and starts a node with evproc in
# shared_preload_libraries and its HTTP server on a free port of 127.0.0.1,
# creates the extension in the worker's database ("postgres") and waits
# until the HTTP server answers.  restart_after_crash is on (the test
# framework turns it off), so that a crash of the worker is followed by
# crash recovery and a restart.  $extra_conf is appended last, so it can
# override the defaults set here.  %init goes to init (allows_streaming
# => 1 for a primary of evproc_standby).  Returns the node.
sub evproc_node
{
	my ($name, $extra_conf, %init) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $port = PostgreSQL::Test::Cluster::get_free_port();

	$node->init(%init);
	$node->append_conf(
		'postgresql.conf', qq(
shared_preload_libraries = 'evproc'
evproc.listen_address = '127.0.0.1'
evproc.port = $port
evproc.database = 'postgres'
evproc.rotation_interval = '1h'
restart_after_crash = on
));
	$node->append_conf('postgresql.conf',
		"evproc.journal_storage = '$ENV{EVPROC_TEST_JOURNAL_STORAGE}'\n")
	  if defined $ENV{EVPROC_TEST_JOURNAL_STORAGE};
	$node->append_conf('postgresql.conf', $extra_conf) if defined $extra_conf;
	$http_ports{$name} = $port;

	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION evproc');
	die "evproc HTTP server on port $port does not answer"
	  unless wait_for_http($port, 60);
	return $node;
}

# evproc_standby($primary, $name) makes and starts a hot standby of
# $primary (made by evproc_node with allows_streaming => 1) from a new base
# backup, streaming from it, with its own HTTP port, and waits until its
# worker answers.  The journal files the base backup copies are the
# primary's: the standby's worker sets them aside (see
# docs/high-availability.md).  Returns the node.
sub evproc_standby
{
	my ($primary, $name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $port = PostgreSQL::Test::Cluster::get_free_port();

	$primary->backup("${name}_backup");
	$node->init_from_backup($primary, "${name}_backup", has_streaming => 1);
	$node->append_conf('postgresql.conf', "evproc.port = $port\n");
	$http_ports{$name} = $port;
	$node->start;
	die "evproc HTTP server of the standby on port $port does not answer"
	  unless wait_for_http($port, 60);
	return $node;
}

# query_until($node, $sql, $expected, $timeout) runs $sql in a new session
# every 100ms until its output is $expected.  Unlike poll_query_until it
# passes the query with -c, not on stdin, so a server that refuses
# connections (crash recovery) is no problem.  Returns true on success.
sub query_until
{
	my ($node, $sql, $expected, $timeout) = @_;
	my $deadline = time + ($timeout // 60);
	my $out = '';
	my $err = '';

	while (time < $deadline)
	{
		($out, $err) = ('', '');
		eval {
			IPC::Run::run(
				[
					'psql', '-XAtq', '-d', $node->connstr('postgres'),
					'-c', $sql
				],
				'<', \undef, '>', \$out, '2>', \$err);
		};
		chomp $out;
		return 1 if $out eq $expected;
		usleep(100_000);
	}
	Test::More::diag("query_until: \"$sql\" gave \"$out\", not \"$expected\": $err");
	return 0;
}

# log_match($node, $regexp, $offset, $timeout) waits until the server log,
# from $offset on, matches $regexp.  Returns the first capture group (or
# the whole match), or undef after $timeout seconds.
sub log_match
{
	my ($node, $regexp, $offset, $timeout) = @_;
	my $deadline = time + ($timeout // 30);

	while (1)
	{
		my $log = PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset);
		return $1 // $& if $log =~ $regexp;
		last if time >= $deadline;
		usleep(100_000);
	}
	return undef;
}

# http_port($node) is the evproc HTTP port of a node made by evproc_node.
sub http_port
{
	my ($node) = @_;
	return $http_ports{ $node->name };
}

# journal_dir($node) is the node's journal directory (the default one).
sub journal_dir
{
	my ($node) = @_;
	return $node->data_dir . '/evproc';
}

# http_connect($port) opens a keep-alive connection to 127.0.0.1:$port.
# Returns a connection (a hash with the socket and a read buffer), or undef.
sub http_connect
{
	my ($port) = @_;
	my $sock = raw_connect($port);

	return $sock ? { sock => $sock, buf => '' } : undef;
}

# _read_more($conn, $deadline) appends what the socket has to the buffer,
# waiting at most until $deadline.  Returns false on EOF, error or timeout.
sub _read_more
{
	my ($conn, $deadline) = @_;
	my $sel = IO::Select->new($conn->{sock});

	# can_read may return early when a signal arrives: go round until the
	# deadline
	while ((my $left = $deadline - time) > 0)
	{
		next unless $sel->can_read($left);
		my $n = sysread($conn->{sock}, my $chunk, 65536);
		return 0 unless $n;    # EOF or error
		$conn->{buf} .= $chunk;
		return 1;
	}
	return 0;
}

# http_request($conn, $method, $path, $body, $timeout) sends one request on
# a keep-alive connection and reads its reply (which must carry a
# Content-Length, as libmicrohttpd's replies from a buffer do).  Returns
# ($status, $body), or (undef, $error) on a connection error or timeout.
sub http_request
{
	my ($conn, $method, $path, $body, $timeout) = @_;

	my $error = http_send($conn, $method, $path, $body);
	return (undef, $error) if defined $error;
	return http_read_reply($conn, $timeout);
}

# http_send($conn, $method, $path, $body) writes one request (the first half
# of http_request).  Returns undef, or an error message.
sub http_send
{
	my ($conn, $method, $path, $body) = @_;
	$body //= '';

	my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	$req .= "Content-Type: application/json\r\n"
	  . "Content-Length: "
	  . length($body) . "\r\n"
	  if $method eq 'POST';
	$req .= "\r\n" . $body;

	# write it all
	for (my $off = 0; $off < length($req);)
	{
		my $n = syswrite($conn->{sock}, $req, length($req) - $off, $off);
		return "write failed: $!" unless defined $n && $n > 0;
		$off += $n;
	}
	return undef;
}

# http_read_reply($conn, $timeout) reads one reply (the second half of
# http_request).  Returns ($status, $body), or (undef, $error).
sub http_read_reply
{
	my ($conn, $timeout) = @_;
	$timeout //= 30;

	# headers, then exactly Content-Length bytes of body
	my $deadline = time + $timeout;
	my $hend;
	while (($hend = index($conn->{buf}, "\r\n\r\n")) < 0)
	{
		return (undef, 'connection closed or timed out before the reply')
		  unless _read_more($conn, $deadline);
	}
	my $head = substr($conn->{buf}, 0, $hend);
	return (undef, "bad status line: $head")
	  unless $head =~ m{^HTTP/1\.[01] (\d{3})};
	my $status = $1;
	return (undef, "reply without Content-Length: $head")
	  unless $head =~ m{^Content-Length:\s*(\d+)\s*$}mi;
	my $len = $1;
	while (length($conn->{buf}) < $hend + 4 + $len)
	{
		return (undef, 'connection closed or timed out inside the reply')
		  unless _read_more($conn, $deadline);
	}
	my $reply = substr($conn->{buf}, $hend + 4, $len);
	$conn->{buf} = substr($conn->{buf}, $hend + 4 + $len);
	return ($status, $reply);
}

# raw_connect($port, $from) opens a plain TCP connection to
# 127.0.0.1:$port, for requests written byte by byte (or not in full);
# from local address $from if given (another client: 127.0.0.2, ...).
# Returns the socket, or undef.
sub raw_connect
{
	my ($port, $from) = @_;
	my $sock = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		(defined $from ? (LocalAddr => $from) : ()),
		Proto => 'tcp',
		Timeout => 5);
	binmode($sock) if $sock;
	return $sock;
}

# raw_send($sock, $bytes) writes all of $bytes; false on error.
sub raw_send
{
	my ($sock, $bytes) = @_;
	local $SIG{PIPE} = 'IGNORE';

	for (my $off = 0; $off < length($bytes);)
	{
		my $n = syswrite($sock, $bytes, length($bytes) - $off, $off);
		return 0 unless defined $n && $n > 0;
		$off += $n;
	}
	return 1;
}

# raw_reply($sock, $timeout) reads one reply: until its headers and
# Content-Length bytes of body are in, or the connection ends, or $timeout
# seconds pass.  Returns a hash: status (undef if no status line came),
# head, body, and end: 'reply' (a whole reply), 'closed' (EOF or reset
# first) or 'timeout'.
sub raw_reply
{
	my ($sock, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	my $deadline = time + $timeout;
	my $buf = '';
	my $end = 'timeout';

	while ((my $left = $deadline - time) > 0)
	{
		if ($buf =~ /\A(.*?)\r\n\r\n/s)
		{
			my $head = $1;
			my $len = $head =~ /^Content-Length:\s*(\d+)/mi ? $1 : 0;
			if (length($buf) >= length($head) + 4 + $len)
			{
				$end = 'reply';
				last;
			}
		}
		next unless $sel->can_read($left);
		my $n = sysread($sock, my $chunk, 65536);
		if (!$n)
		{
			$end = 'closed';
			last;
		}
		$buf .= $chunk;
	}
	my ($head, $body) = split /\r\n\r\n/, $buf, 2;
	$head //= '';
	return (
		status => ($head =~ m{^HTTP/1\.[01] (\d{3})} ? $1 : undef),
		head => $head,
		body => $body // '',
		end => $end);
}

# raw_request($port, $method, $path, $body, @headers) sends one request on
# a new connection (Connection: close, and a Content-Length if $body is
# defined) and returns its reply as raw_reply does, within 10 seconds.
sub raw_request
{
	my ($port, $method, $path, $body, @headers) = @_;
	my $sock = raw_connect($port)
	  or return (status => undef, head => '', body => "could not connect: $!",
		end => 'closed');
	my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\n";

	$req .= "$_\r\n" for @headers;
	$req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
	$req .= "Connection: close\r\n\r\n" . ($body // '');
	raw_send($sock, $req);
	my %r = raw_reply($sock, 10);
	close($sock);
	return %r;
}

# read_until_eof($sock, $timeout) reads until the server closes the
# connection; returns (what was read, 'closed' or 'timeout').
sub read_until_eof
{
	my ($sock, $timeout) = @_;
	my $sel = IO::Select->new($sock);
	my $deadline = time + $timeout;
	my $buf = '';

	while ((my $left = $deadline - time) > 0)
	{
		next unless $sel->can_read($left);
		my $n = sysread($sock, my $chunk, 65536);
		return ($buf, 'closed') unless $n;
		$buf .= $chunk;
	}
	return ($buf, 'timeout');
}

# revenue_of($node, @users) returns user => revenue for those of @users
# that have one.
sub revenue_of
{
	my ($node, @users) = @_;
	return {} unless @users;
	my $list = join(',', map { "'$_'" } @users);
	return {
		map { split /\|/ } split /\n/,
		$node->safe_psql('postgres',
			"SELECT user_id, revenue FROM evproc.user_revenue WHERE user_id IN ($list)"
		)
	};
}

# http_post($port, $path, $body) sends one POST on a new connection.
# Returns ($status, $body), or (undef, $error).
sub http_post
{
	my ($port, $path, $body) = @_;
	my $conn = http_connect($port);

	return (undef, "could not connect: $!") unless $conn;
	my @reply = http_request($conn, 'POST', $path, $body);
	close($conn->{sock});
	return @reply;
}

# event_json($user, $name, $value) is the JSON body of an event.  $user and
# $name must not need escaping; $value is put in as given (a JSON number).
sub event_json
{
	my ($user, $name, $value) = @_;
	return qq({"userId":"$user","name":"$name","value":$value});
}

# wait_for_http($port, $timeout) waits until the evproc HTTP server answers
# a request (any status).  Returns true if it did within $timeout seconds.
sub wait_for_http
{
	my ($port, $timeout) = @_;
	my $deadline = time + $timeout;

	while (time < $deadline)
	{
		my $conn = http_connect($port);
		if ($conn)
		{
			my ($status) =
			  http_request($conn, 'GET', '/userEvents/evproc-test-ping',
				undef, 5);
			close($conn->{sock});
			return 1 if defined $status;
		}
		usleep(50_000);
	}
	return 0;
}

# start_sender($port, $prefix, $count, $acked_file) forks a process that
# POSTs up to $count events "<prefix>-<i>" (add_revenue, value 1) over one
# keep-alive connection.  It appends each userId to $acked_file, flushed,
# only after reading its 200 reply, and stops at the first connection error
# or other reply.  On exit it writes to "$acked_file.sent" the number of
# requests it started to send and why it stopped.  Returns the child's pid.
sub start_sender
{
	my ($port, $prefix, $count, $acked_file) = @_;
	my $pid = fork();

	die "fork failed: $!" unless defined $pid;
	return $pid if $pid;

	# child: never return into the test, never run its END blocks
	$SIG{PIPE} = 'IGNORE';
	my $sent = 0;
	my $why = 'all sent';
	eval {
		open(my $acked, '>>', $acked_file) or die "open $acked_file: $!";
		$acked->autoflush(1);
		my $conn = http_connect($port) or die "could not connect: $!";
		for my $i (0 .. $count - 1)
		{
			my $id = "$prefix-$i";
			$sent++;
			my ($status, $body) =
			  http_request($conn, 'POST', '/liveEvent',
				event_json($id, 'add_revenue', 1));
			if (!defined $status)
			{
				$why = "request $i: $body";
				last;
			}
			if ($status != 200)
			{
				$why = "request $i: status $status: $body";
				last;
			}
			print $acked "$id\n";
		}
		close($acked);
	};
	$why = "error: $@" if $@;
	if (open(my $fh, '>', "$acked_file.sent"))
	{
		print $fh "$sent\n$why\n";
		close($fh);
	}
	POSIX::_exit(0);
}

# wait_for_senders(\@pids, $timeout) reaps the sender processes.  Those
# still running after $timeout seconds are killed.  Returns how many had
# to be killed.
sub wait_for_senders
{
	my ($pids, $timeout) = @_;
	my %left = map { $_ => 1 } @$pids;
	my $deadline = time + $timeout;

	while (%left && time < $deadline)
	{
		for my $pid (keys %left)
		{
			my $r = waitpid($pid, POSIX::WNOHANG());
			delete $left{$pid} if $r == $pid || $r == -1;
		}
		usleep(20_000) if %left;
	}
	my $killed = scalar(keys %left);
	for my $pid (keys %left)
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	return $killed;
}

# count_lines($file) counts the complete lines of a file (0 if it does not
# exist yet).
sub count_lines
{
	my ($file) = @_;
	open(my $fh, '<', $file) or return 0;
	my $n = 0;
	while (sysread($fh, my $chunk, 65536))
	{
		$n += ($chunk =~ tr/\n//);
	}
	close($fh);
	return $n;
}

# read_lines($file) returns the complete lines of a file, without newlines.
sub read_lines
{
	my ($file) = @_;
	open(my $fh, '<', $file) or return ();
	local $/;
	my $text = <$fh> // '';
	close($fh);
	$text =~ s/[^\n]*\z//;    # drop an incomplete last line
	return split /\n/, $text;
}

# read_sent($acked_file) returns what a finished sender wrote about itself:
# (number of requests started, why it stopped); (undef, undef) if nothing.
sub read_sent
{
	my ($acked_file) = @_;
	my ($sent, $why) = read_lines("$acked_file.sent");
	return ($sent, $why);
}

# node_pids($node) lists the pids of a running node: the postmaster, the
# processes in pg_stat_activity and (on Linux) every child of the
# postmaster.
sub node_pids
{
	my ($node) = @_;
	my $postmaster = $node->{_pid};
	my %pids;

	$pids{$postmaster} = 1 if defined $postmaster;
	$pids{$_} = 1
	  for grep { /^\d+$/ }
	  split /\n/, $node->safe_psql('postgres', 'SELECT pid FROM pg_stat_activity');
	if (defined $postmaster && opendir(my $dh, '/proc'))
	{
		for my $pid (grep { /^\d+$/ } readdir($dh))
		{
			open(my $fh, '<', "/proc/$pid/stat") or next;
			my $stat = <$fh> // '';
			close($fh);
			# "pid (comm) state ppid ...": comm may hold anything
			$pids{$pid} = 1
			  if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $postmaster;
		}
		closedir($dh);
	}
	return sort { $a <=> $b } keys %pids;
}

# wait_for_pids_gone(\@pids, $timeout) waits until none of the processes
# exists any more (kill 0 fails; an unreaped zombie still counts as
# existing, as it does for the postmaster.pid check of a new postmaster).
# Returns the pids still there after $timeout seconds.
sub wait_for_pids_gone
{
	my ($pids, $timeout) = @_;
	my $deadline = time + $timeout;
	my @left = @$pids;

	while (@left && time < $deadline)
	{
		@left = grep { kill(0, $_) } @left;
		usleep(50_000) if @left;
	}
	return @left;
}

# kill9_and_wait($node, $timeout) kills the postmaster with SIGKILL, as
# $node->kill9 does, then waits until all of the node's processes (the
# evproc worker included, which holds the HTTP port) are gone, so that the
# node can be started again.  Returns true if they all went in time.
sub kill9_and_wait
{
	my ($node, $timeout) = @_;
	my @pids = node_pids($node);

	$node->kill9;
	my @left = wait_for_pids_gone(\@pids, $timeout);
	return 1 unless @left;
	Test::More::diag("processes still alive after kill -9: @left");
	return 0;
}

# worker_pid($node) is the pid of the node's running evproc worker ('' if
# none).
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc'");
}

# evproc_client_path(): the evproc-client to test: the one in the PATH,
# else the one built in the tree (which may not exist: check -x).
sub evproc_client_path
{
	for my $dir (File::Spec->path)
	{
		return "$dir/evproc-client" if -x "$dir/evproc-client" && !-d _;
	}
	return "$FindBin::RealBin/../../client/evproc-client";
}

# add_revenue($port, $user, $value): POSTs one add_revenue event; its
# status
sub add_revenue
{
	my ($port, $user, $value) = @_;
	my ($status) = http_post($port, '/liveEvent',
		event_json($user, 'add_revenue', $value));
	return $status;
}

# rotate($node): rotates the journal and ingests what is waiting
sub rotate
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SELECT evproc_rotate()');
}

# ingest_transaction_open($node): is the worker's transaction of a file
# open (pg_stat_activity says "evproc: ingesting ..." and active)?
sub ingest_transaction_open
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'evproc' AND query LIKE 'evproc: ingesting %' AND state = 'active'"
	) eq '1';
}

# count_ingested($node) counts what ingest has done: the files in the
# journal's processed/, or with the journal in the database the names
# recorded as ingested (segments, and files dropped in).
sub count_ingested
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		'SELECT count(*) FROM evproc.processed_files')
	  if journal_in_database($node);
	return count_processed($node);
}

# count_processed($node) counts the files in the journal's processed/.
sub count_processed
{
	my ($node) = @_;
	opendir(my $dh, journal_dir($node) . '/processed') or return 0;
	my $n = grep { /^events-.*\.jsonl$/ } readdir($dh);
	closedir($dh);
	return $n;
}

# archive_state($node) compares the journal directory with the database.
# Returns a hash: waiting => archived files not yet ingested (names),
# processed => files in processed/, recorded => names in
# evproc.processed_files.
sub archive_state
{
	my ($node) = @_;
	my $dir = journal_dir($node);
	my (@waiting, @processed);

	if (opendir(my $dh, $dir))
	{
		@waiting = sort grep { /^events-.*\.jsonl$/ } readdir($dh);
		closedir($dh);
	}
	if (opendir(my $dh, "$dir/processed"))
	{
		@processed = sort grep { /^events-.*\.jsonl$/ } readdir($dh);
		closedir($dh);
	}
	my @recorded = split /\n/,
	  $node->safe_psql('postgres',
		'SELECT filename FROM evproc.processed_files ORDER BY filename COLLATE "C"');
	return (
		waiting => \@waiting,
		processed => \@processed,
		recorded => \@recorded);
}

# check_archives($node, $what) checks that no archived file waits and that
# the files in processed/ are exactly those recorded (two tests).
sub check_archives
{
	my ($node, $what) = @_;
	my %state = archive_state($node);

	if (journal_in_database($node))
	{
		# the journal's segments instead of its files; processed/ holds
		# only files journaled before, each recorded
		Test::More::is(
			$node->safe_psql('postgres',
				'SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NOT NULL'
			),
			'0',
			"$what: no sealed journal segment left");
		my %recorded = map { $_ => 1 } @{ $state{recorded} };
		Test::More::is_deeply([ grep { !$recorded{$_} } @{ $state{processed} } ],
			[], "$what: each file in processed/ recorded");
		return;
	}
	Test::More::is_deeply($state{waiting}, [], "$what: no archived file left");
	Test::More::is_deeply($state{processed}, $state{recorded},
		"$what: each file in processed/ recorded once");
}

# check_books($node, $what) checks the bookkeeping of a node where every
# event adds 1: the events recorded in evproc.processed_files, less the
# duplicates dropped, add up to the total revenue; then check_archives.
sub check_books
{
	my ($node, $what) = @_;
	Test::More::is(
		$node->safe_psql(
			'postgres',
			'SELECT (SELECT coalesce(sum(events - duplicates), 0) FROM evproc.processed_files) = '
			  . '(SELECT coalesce(sum(revenue), 0) FROM evproc.user_revenue)'),
		't',
		"$what: events recorded in processed_files = total revenue");
	check_archives($node, $what);
}

# check_counted_once($node, $what, $like, \%acked, \%sent) checks a stream
# of events that each add 1 to a user of their own, named "<sender>-<i>"
# for the i-th event (from 0) of a sender: the users LIKE $like that exist
# were each counted exactly once, every acknowledged one among them, and
# none that was not sent.  %acked holds the acknowledged user ids, %sent
# how many events each sender sent.  Returns the number of users counted.
sub check_counted_once
{
	my ($node, $what, $like, $acked, $sent) = @_;
	my %revenue = map { split /\|/ } split /\n/,
	  $node->safe_psql('postgres',
		"SELECT user_id, revenue FROM evproc.user_revenue WHERE user_id LIKE '$like'"
	  );

	my @lost = grep { !exists $revenue{$_} } sort keys %$acked;
	Test::More::is(scalar(@lost), 0,
		"$what: every acknowledged event counted ("
		  . scalar(keys %$acked)
		  . ' acknowledged)'
		  . (@lost ? " (first missing: $lost[0])" : ''));
	my @wrong = grep { $revenue{$_} ne '1' } sort keys %revenue;
	Test::More::is(scalar(@wrong), 0,
		"$what: no event counted twice or in part"
		  . (@wrong ? " (first: $wrong[0]: $revenue{$wrong[0]})" : ''));
	my @unsent = grep {
		!(/^(.*)-(\d+)$/
			&& exists $sent->{$1}
			&& $2 < $sent->{$1})
	} sort keys %revenue;
	Test::More::is(scalar(@unsent), 0,
		"$what: every event counted was sent"
		  . (@unsent ? " (first: $unsent[0])" : ''));
	return scalar(keys %revenue);
}

# set_conf($node, $name, $value) sets a reloadable setting with ALTER
# SYSTEM (undef resets it, for settings whose default is empty), reloads,
# and waits until a new session sees the new value: the postmaster has
# signalled the worker by then.
sub set_conf
{
	my ($node, $name, $value) = @_;

	$node->safe_psql('postgres',
		defined $value
		? "ALTER SYSTEM SET $name = '$value'"
		: "ALTER SYSTEM RESET $name");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	Test::More::ok(
		query_until(
			$node,
			"SELECT current_setting('$name') = '" . ($value // '') . "'",
			't', 30),
		"$name set to '" . ($value // '') . "'");
}

# set_fault($node, $point) sets evproc.fault_injection ('' resets it) and
# gives the worker a moment to act on the signal.  set_conf has waited until
# a new session sees the value: the postmaster forwards SIGHUP to its
# children before it forks another backend, so the worker has the signal.
sub set_fault
{
	my ($node, $point) = @_;

	set_conf($node, 'evproc.fault_injection', $point eq '' ? undef : $point);
	usleep(200_000);
}

# reset_conf_offline($node, $name) removes a setting from the stopped
# node's postgresql.auto.conf (ALTER SYSTEM RESET, offline): needed when
# the setting makes the worker crash at every start.
sub reset_conf_offline
{
	my ($node, $name) = @_;
	my $auto_conf = $node->data_dir . '/postgresql.auto.conf';
	my $conf = slurp_file($auto_conf);

	$conf =~ s/^\Q$name\E\s*=.*\n//mg;
	open(my $fh, '>', $auto_conf) or die "could not write $auto_conf: $!";
	print $fh $conf;
	close($fh);
}

# sse_subscribe($port, $dir, $path, @headers) starts curl -N on $path of
# the HTTP server on $port, writing into $dir, and returns a handle once
# the response's headers are in (the subscriber is registered): {h} the
# IPC::Run harness, {status} the HTTP status (0 if none came in 10 s),
# {out} the body's file.
my $sse_count = 0;

sub sse_subscribe
{
	my ($port, $dir, $path, @headers) = @_;
	my $n = ++$sse_count;
	my %s = (out => "$dir/sse$n.out", hdr => "$dir/sse$n.hdr");
	my @cmd = ('curl', '-sN', '-D', $s{hdr}, '-o', $s{out},
		map({ ('-H', $_) } @headers), "http://127.0.0.1:$port$path");
	$s{h} = IPC::Run::start(\@cmd, '<', \undef);
	my $deadline = time + 10;
	while (time < $deadline)
	{
		last
		  if -s $s{hdr}
		  && PostgreSQL::Test::Utils::slurp_file($s{hdr}) =~ /\r\n\r\n/;
		usleep(20_000);
	}
	$s{status} =
	  (-s $s{hdr}
		  && PostgreSQL::Test::Utils::slurp_file($s{hdr}) =~ m{^HTTP/1\.1 (\d+)})
	  ? $1
	  : 0;
	return \%s;
}

# sse_messages($sub): the messages a subscriber received so far, as
# [seq, data] pairs; a "resync" event as [seq, 'resync'].
sub sse_messages
{
	my ($s) = @_;
	my $text =
	  -e $s->{out} ? PostgreSQL::Test::Utils::slurp_file($s->{out}) : '';
	my @m;
	for my $block (split /\n\n/, $text)
	{
		my ($id) = $block =~ /^id: (\d+)$/m;
		my ($data) = $block =~ /^data: (.*)$/m;
		next unless defined $id && defined $data;
		push @m, [ $id, $block =~ /^event: resync$/m ? 'resync' : $data ];
	}
	return @m;
}

# sse_wait_messages($sub, $n): waits until $sub has $n messages (10 s);
# the messages it has then
sub sse_wait_messages
{
	my ($s, $n) = @_;
	my $deadline = time + 10;
	my @m;
	while (time < $deadline)
	{
		@m = sse_messages($s);
		return @m if @m >= $n;
		usleep(20_000);
	}
	return @m;
}

# make_cert($dir, $name, $serial): a self-signed certificate for 127.0.0.1
# and localhost, $dir/$name.crt, and its key, $dir/$name.key (0600)
sub make_cert
{
	my ($dir, $name, $serial) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
			'-days', '2', '-set_serial', $serial // 1,
			'-subj', "/CN=evproc-test-$name",
			'-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
			'-keyout', "$dir/$name.key", '-out', "$dir/$name.crt"
		],
		'<', \undef, '>', \$out, '2>', \$err)
	  or die "openssl req: $err";
	chmod 0600, "$dir/$name.key";
	return;
}

# chromium_path: Chromium's path, or undef if it is not installed (the
# browser tests are then skipped, saying why); under CI=true a missing
# Chromium fails instead, so that a skipped check never passes there
sub chromium_path
{
	for my $dir (File::Spec->path)
	{
		for my $name ('chromium', 'chromium-browser')
		{
			return "$dir/$name" if -x "$dir/$name" && !-d _;
		}
	}
	die "no chromium under CI=true (scripts/deps.sh installs it)\n"
	  if ($ENV{CI} // '') eq 'true';
	return undef;
}

1;
