# GET /ready when events cannot be counted or kept, for real.
#
# The revenue table locked by another session: ingest waits for the lock,
# /ready answers 503 naming the database check, POSTs are still journaled
# (200), lookups wait and then answer 503, and once the lock is released
# /ready is 200 again and every event is counted once.
#
# A full disk: evproc.directory on a small tmpfs (16 MB) that scripts/test.sh
# mounts as root and names in EVPROC_TEST_TMPFS.  First under
# evproc.min_free_space (8 MB), crossed by POSTing: 503 with a reason and
# Retry-After, /ready names the disk check, and once the files are ingested
# and removed from processed/ POSTs are accepted again by themselves.  Then
# the disk really full (evproc.min_free_space 0, the tmpfs filled to the
# last byte): POSTs that cannot be made durable get a 5xx JSON error, never
# 200, /ready names the journal check, the worker keeps running, and once
# space is freed it is ready again by itself.  Every acknowledged event is
# counted exactly once.  Without the tmpfs this half fails under CI=true
# and is skipped, saying why, elsewhere.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Errno qw(ENOSPC);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

# get($port, $path) sends a GET on a new connection: ($status, $body)
sub get
{
	my ($port, $path) = @_;
	my $conn = http_connect($port);
	my @r = http_request($conn, 'GET', $path, undef, 15);
	close($conn->{sock});
	return @r;
}

# post_batch($port, $prefix, $n) POSTs $n events (users $prefix0..9, value
# 1) as one JSON array: ($status, $body, $head)
my $seq = 0;

sub post_batch
{
	my ($port, $prefix, $n) = @_;
	my @events;
	for (1 .. $n)
	{
		$seq++;
		push @events, event_json($prefix . ($seq % 10), 'add_revenue', 1);
	}
	my %r = raw_request($port, 'POST', '/liveEvent',
		'[' . join(',', @events) . ']', 'Content-Type: application/json');
	return ($r{status} // 0, $r{body} // '', $r{head} // '');
}

# ready_until($port, $status, $re, $timeout): polls /ready until it answers
# $status with a body matching $re; returns the last ($status, $body)
sub ready_until
{
	my ($port, $want, $re, $timeout) = @_;
	my $deadline = time + ($timeout // 20);
	my ($status, $body);
	while (1)
	{
		($status, $body) = get($port, '/ready');
		last if defined $status && $status == $want && $body =~ $re;
		last if time >= $deadline;
		usleep(100_000);
	}
	return ($status // 0, $body // '');
}

# counted($node, $prefix): the revenue counted for users $prefix*
sub counted
{
	my ($node, $prefix) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(sum(revenue), 0) FROM evproc.user_revenue WHERE user_id LIKE '$prefix%'"
	);
}

#
# The revenue table locked by another session
#
{
	my $node = evproc_node('locked', "evproc.rotation_interval = '1s'\n");
	my $port = http_port($node);
	my ($status, $body) = ready_until($port, 200, qr/"status": "ready"/);
	is($status, 200, 'locked: /ready is 200 at first');

	my $locker = $node->background_psql('postgres');
	$locker->query_safe(
		'BEGIN; LOCK TABLE evproc.user_metrics IN ACCESS EXCLUSIVE MODE');
	my $accepted = 0;
	my $refused = 0;
	for (1 .. 5)
	{
		my ($s) = post_batch($port, 'lock', 10);
		$s == 200 ? ($accepted += 10) : $refused++;
	}
	is($refused, 0, 'locked: POSTs are still accepted (journaled)');

	# the journal rotates within a second; ingest then waits for the lock
	($status, $body) = ready_until($port, 503, qr/"database": "failing/);
	is($status, 503, 'locked: /ready answers 503 while ingest waits');
	like($body,
		qr/"database": "failing: a table of evproc is locked by another session; ingest waits"/,
		'... naming the database check');
	like($body, qr/"journal": "ok".*"disk": "ok".*"backlog": "ok"/,
		'... and no other');
	($status) = get($port, '/health');
	is($status, 200, 'locked: /health is 200');

	# a lookup waits for the lock up to 5 s, then fails (not lock_timeout:
	# the worker only ever tries the lock)
	my $start = time;
	($status, $body) = get($port, '/userEvents/lock1');
	my $took = time - $start;
	is($status, 503, 'locked: a lookup answers 503');
	like($body, qr/\{"error": "evproc\.user_metrics is locked; try again"\}/,
		'... with a JSON error');
	cmp_ok($took, '>=', 4, sprintf('... after waiting for the lock (%.1f s)', $took));
	($status) = post_batch($port, 'lock', 10);
	is($status, 200, 'locked: POSTs are accepted after the lookup too');
	$accepted += 10 if $status == 200;

	$locker->query_safe('ROLLBACK');
	$locker->quit;
	($status, $body) = ready_until($port, 200, qr/"status": "ready"/);
	is($status, 200, 'lock released: /ready is 200 again by itself');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(counted($node, 'lock'), $accepted,
		"lock released: the $accepted acknowledged events are counted once");
	$node->stop;
}

#
# A full disk: a tmpfs as evproc.directory
#
my $tmpfs = $ENV{EVPROC_TEST_TMPFS};
my $why;
if (!defined $tmpfs || $tmpfs eq '')
{
	$why = 'EVPROC_TEST_TMPFS is not set: scripts/test.sh mounts a tmpfs for it as root';
}
elsif (!-d $tmpfs || !-w $tmpfs)
{
	$why = "EVPROC_TEST_TMPFS=$tmpfs is not a writable directory";
}
elsif (`stat -f -c %T \Q$tmpfs\E 2>/dev/null` !~ /^tmpfs$/m)
{
	$why = "EVPROC_TEST_TMPFS=$tmpfs is not a tmpfs";
}

if (defined $why)
{
	# in CI the check must run: a missing tmpfs is a failure there
	if (($ENV{CI} // '') !~ /^(|0|false)$/i)
	{
		fail("full disk: $why (CI=$ENV{CI})");
	}
	else
	{
	  SKIP: { skip("full disk: $why", 1); }
	}
	done_testing();
	exit 0;
}

{
	my $dir = "$tmpfs/evproc-019";
	my $filler = "$tmpfs/filler";
	unlink $filler;
	system('rm', '-rf', $dir) == 0 or die "cannot clean $dir";
	my $node = evproc_node('disk', qq(
evproc.directory = '$dir'
evproc.min_free_space = '8MB'
evproc.rotation_size = '1MB'
));
	my $port = http_port($node);
	my $pid = worker_pid($node);
	my ($status, $body) = ready_until($port, 200, qr/"status": "ready"/);
	is($status, 200, 'disk: /ready is 200 on an empty tmpfs');

	# POST until refused: 500 events a POST, about 80 kB of journal; the
	# free space is measured once a second, so slowly enough that the 8 MB
	# left are not filled before it is
	my ($accepted, $refused, $head, $others) = (0, undef, '', 0);
	for (1 .. 1000)
	{
		my ($s, $b, $h) = post_batch($port, 'disk', 500);
		if ($s == 200) { $accepted += 500; }
		elsif ($s == 503) { ($refused, $head) = ($b, $h); last; }
		else { $others++; diag("disk: POST answered $s: $b"); last; }
		usleep(20_000);
	}
	ok(defined $refused, "under evproc.min_free_space: 503 (after $accepted events accepted)");
	like($refused // '', qr/^\{"error": ".*evproc\.min_free_space.*"\}$/,
		'... with a JSON reason');
	like($head, qr/^Retry-After: \d+\r?$/mi, '... and Retry-After');
	is($others, 0, '... and no other answer');
	($status, $body) = get($port, '/ready');
	is($status, 503, 'disk: /ready answers 503');
	like($body, qr/"disk": "failing: less free space than evproc\.min_free_space"/,
		'... naming the disk check');

	# ingest the backlog: the files move to processed/, still on the tmpfs
	# (evproc.processed_retention, a day by default), so still refused
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	opendir(my $dh, "$dir/processed") or die "opendir: $!";
	my @processed = grep { /^events-/ } readdir($dh);
	closedir($dh);
	ok(@processed > 0, 'ingested files stay in processed/ (' . scalar(@processed) . ')');
	($status, $body) = get($port, '/ready');
	like($body, qr/"disk": "failing/, '... so the disk check still fails');
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM evproc.processed_files WHERE filename IN ("
			  . join(',', map { "'$_'" } @processed) . ')'),
		scalar(@processed), '... and they are recorded as ingested');
	# the operator removes them: accepted again by itself
	unlink("$dir/processed/$_") or die "unlink: $!" for @processed;
	($status, $body) = ready_until($port, 200, qr/"status": "ready"/);
	is($status, 200, 'space freed: /ready is 200 again by itself');
	($status) = post_batch($port, 'disk', 500);
	is($status, 200, '... and POSTs are accepted');
	$accepted += 500 if $status == 200;
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(counted($node, 'disk'), $accepted,
		"every acknowledged event is counted once ($accepted)");

	# the disk really full: no free-space limit, the tmpfs filled up
	$node->append_conf('postgresql.conf',
		"evproc.min_free_space = 0\nevproc.processed_retention = 0\n");
	$node->reload;
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	open(my $fh, '>', $filler) or die "open $filler: $!";
	binmode($fh);
	for my $chunk (1024 * 1024, 4096, 1)
	{
		my $buf = 'x' x $chunk;
		# short writes go on until one fails
		while (defined syswrite($fh, $buf)) { }
		die "filling the tmpfs: $!" unless $! == ENOSPC;
	}
	close($fh);
	my $df = `df -B1 --output=avail \Q$tmpfs\E | tail -1`;
	chomp $df;
	note("tmpfs full: $df bytes available");

	# a page of the active journal may still have room: POST until refused
	my ($nospc, $bad) = (0, 0);
	my ($fstatus, $fbody);
	for (1 .. 200)
	{
		my ($s, $b) = post_batch($port, 'nospc', 50);
		if ($s == 200) { $nospc += 50; next; }
		($fstatus, $fbody) = ($s, $b);
		last;
	}
	like($fstatus // 0, qr/^5\d\d$/, "tmpfs full: a POST gets 5xx ($nospc events accepted before)");
	like($fbody // '', qr/^\{"error": "[^"]+"\}$/, '... with a JSON error');
	note("tmpfs full: $fstatus $fbody");
	($status, $body) = post_batch($port, 'nospc', 1);
	isnt($status, 200, '... and so does the next one');
	$nospc += 1 if $status == 200;
	($status, $body) = ready_until($port, 503, qr/"journal": "failing/, 5);
	is($status, 503, 'tmpfs full: /ready answers 503');
	like($body, qr/"journal": "failing: the journal cannot be written"/,
		'... naming the journal check');
	is(worker_pid($node), $pid, 'tmpfs full: the worker keeps running');
	# the worker tries the journal once a second: still full, still failing
	sleep(3);
	($status, $body) = get($port, '/ready');
	like($body, qr/"journal": "failing/, 'tmpfs full: /ready still fails 3 s later');

	# free space; no POST meanwhile: the worker finds out by itself
	unlink($filler) or die "unlink $filler: $!";
	($status, $body) = ready_until($port, 200, qr/"status": "ready"/, 10);
	is($status, 200, 'space freed: /ready is 200 again by itself');
	like($body, qr/"journal": "ok"/, '... the journal check passing');
	($status) = post_batch($port, 'nospc', 50);
	is($status, 200, '... and POSTs are accepted');
	$nospc += 50 if $status == 200;
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(counted($node, 'nospc'), $nospc,
		"every acknowledged event is counted once ($nospc)");
	is(counted($node, 'disk'), $accepted, '... the earlier ones too');
	is(worker_pid($node), $pid, 'the worker never restarted');
	$node->stop;
	system('rm', '-rf', $dir);
}

done_testing();
