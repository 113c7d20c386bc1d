# Files in the journal directory that once lost acknowledged events or
# stopped the worker (issue 9 of the attack run), on one node:
#	(a) a dropped file named with the largest 10-digit sequence, then a
#		restart: every later rotation gets a new name (11 digits and up)
#		and every acknowledged event is counted, three times over;
#	(b) a reload with an evproc.directory that cannot be used keeps the
#		journal where it was and HTTP serving; a reload with a usable new
#		directory, then the old directory's archived files moved into it by
#		hand (as the log says): nothing collides, everything is counted;
#	(c) a dropped file of 1,000,000 invalid lines: the worker's memory
#		stays within the ingest budget, every line is counted as rejected,
#		evproc.max_rejected_lines of them are stored;
#	(d) a dropped file with a 300 MB line: ingested, with HTTP answered
#		meanwhile, and the next line counted;
#	(e) evproc.rotation_size rotates a journal that outgrows it between
#		two rotations; evproc.processed_retention = 0 leaves processed/
#		empty, -1 keeps files;
#	(f) GET during a file's ingest transaction: two users of the file, one
#		applied in the first chunk and one in the last, are looked up
#		together many times while it runs: either both before or both
#		after the file, never half of it.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('files', "evproc.max_rejected_lines = 1000\n");
my $port = http_port($node);
my $dir = journal_dir($node);

# post_one($user) POSTs one add_revenue event of value 1; returns the status.
sub post_one
{
	my ($user) = @_;
	my ($status) =
	  http_post($port, '/liveEvent', event_json($user, 'add_revenue', 1));
	return $status // 'none';
}

sub revenue
{
	my ($user) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(evproc_user_revenue('$user')::text, 'NULL')");
}

sub write_file
{
	my ($path, $data) = @_;
	open(my $fh, '>', "$path.tmp") or die "$path.tmp: $!";
	print $fh $data;
	close $fh or die $!;
	rename("$path.tmp", $path) or die "rename $path: $!";
}

# --- (a) the largest 10-digit sequence, then a restart ---
{
	write_file("$dir/events-99991231T235959Z-9999999999.jsonl",
		event_json('seq-drop', 'add_revenue', 1) . "\n");
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(revenue('seq-drop'), '1', 'seq: the dropped file is counted');
	$node->restart;
	ok(wait_for_http($port, 60), 'seq: HTTP answers after the restart');

	my @names;
	for my $i (1 .. 3)
	{
		is(post_one("seq-$i"), '200', "seq: POST $i acknowledged");
		push @names, $node->safe_psql('postgres', 'SELECT evproc_rotate()');
		is(revenue("seq-$i"), '1', "seq: event $i counted once");
	}
	like($names[0], qr/^events-99991231T235959Z-10000000000-[0-9a-f]{16}\.jsonl$/,
		"seq: the next name has 11 digits ($names[0])");
	my %seen;
	$seen{$_}++ for @names;
	is(scalar(keys %seen), 3, 'seq: three different names');
	is_deeply([ sort @names ], \@names, 'seq: ... in creation order');
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM evproc.processed_files WHERE filename LIKE 'events-99991231T235959Z-%'"
		),
		'4',
		'seq: every file recorded');
}

# --- (b) evproc.directory changed on reload ---
{
	my $offset = -s $node->logfile;
	my $pid = worker_pid($node);
	is(post_one('dir-before'), '200', 'dir: a POST before the change');
	set_conf($node, 'evproc.directory', '/proc/evproc-nope');
	ok( log_match(
			$node, qr/evproc\.directory "\/proc\/evproc-nope" cannot be used/,
			$offset, 30),
		'dir: the unusable directory is refused in the log');
	is(post_one('dir-refused'), '200', 'dir: POSTs still answered');
	is(worker_pid($node), $pid, 'dir: the same worker');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(revenue('dir-before') . revenue('dir-refused'),
		'11', 'dir: events of the kept directory counted');

	# a usable new directory: events left in the old one are archived there
	# (made unreadable to the worker's ingest by the switch), then moved in
	# by hand; the new journal's names never collide with them
	is(post_one('dir-old-1'), '200', 'dir: a POST into the old directory');
	my $new = "$dir-new";
	$offset = -s $node->logfile;
	set_conf($node, 'evproc.directory', $new);
	ok( log_match(
			$node, qr/journal directory changed from "\Q$dir\E" to "\Q$new\E"/,
			$offset, 30),
		'dir: the switch is logged');
	is(post_one('dir-new-1'), '200', 'dir: a POST into the new directory');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	opendir(my $dh, $dir) or die $!;
	my @left = grep { /^events-.*\.jsonl$/ } readdir($dh);
	closedir $dh;
	SKIP:
	{
		skip 'journal in the database: the POST is a segment, no file', 1
		  if journal_in_database($node);
		is(scalar(@left), 1,
			'dir: one archived file left in the old directory');
	}
	rename("$dir/$_", "$new/$_") or die $! for @left;
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(revenue('dir-old-1') . revenue('dir-new-1'),
		'11', 'dir: both counted once, after the move');
	set_conf($node, 'evproc.directory', 'evproc');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
}

# --- (c) a million rejected lines ---
{
	my $pid = worker_pid($node);
	my $hwm = sub {
		open(my $fh, '<', "/proc/$pid/status") or return 0;
		my ($kb) = join('', <$fh>) =~ /^VmHWM:\s+(\d+)/m;
		return $kb // 0;
	};
	my $before = $hwm->();
	write_file("$dir/events-junk.jsonl", "x\n" x 1_000_000);
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	my $after = $hwm->();
	note sprintf('junk: worker peak RSS %d MB before, %d MB after',
		$before / 1024, $after / 1024);
	cmp_ok(($after - $before) / 1024, '<', 64,
		'junk: the worker peak RSS grew by less than 64 MB');
	is( $node->safe_psql(
			'postgres',
			"SELECT rejected FROM evproc.processed_files WHERE filename = 'events-junk.jsonl'"
		),
		'1000000',
		'junk: every line counted as rejected');
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FROM evproc.rejected_lines WHERE filename = 'events-junk.jsonl'"
		),
		'1000',
		'junk: evproc.max_rejected_lines of them stored');
}

# --- (d) one 300 MB line ---
{
	my $path = "$dir/events-longline.jsonl";
	open(my $fh, '>', "$path.tmp") or die $!;
	my $block = 'y' x (1024 * 1024);
	print $fh $block for 1 .. 300;
	print $fh "\n", event_json('after-long', 'add_revenue', 1), "\n";
	close $fh or die $!;
	rename("$path.tmp", $path) or die $!;

	my $conn = http_connect($port);
	my $worst = 0;
	my $rotate = $node->background_psql('postgres');
	$rotate->query_until(qr/started/, "\\echo started\nSELECT evproc_rotate();\n");
	my $t_end = time + 3;
	while (time < $t_end)
	{
		my $t0 = time;
		my ($status) = http_request($conn, 'GET', '/userEvents/nobody');
		my $took = time - $t0;
		$worst = $took if $took > $worst;
		last unless defined $status;
	}
	$rotate->quit;
	note sprintf('longline: slowest GET while skipping it %.3fs', $worst);
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is(revenue('after-long'), '1', 'longline: the line after it is counted');
	is( $node->safe_psql(
			'postgres',
			"SELECT rejected || ' ' || reason FROM evproc.processed_files JOIN evproc.rejected_lines USING (filename) WHERE filename = 'events-longline.jsonl'"
		),
		'1 line is too long',
		'longline: the long line is rejected');
	cmp_ok($worst, '<', 1, 'longline: GETs answered meanwhile');
}

# --- (e) rotation by size, retention of processed/ ---
{
	set_conf($node, 'evproc.rotation_size', '8kB');
	my $before = $node->safe_psql('postgres',
		'SELECT count(*) FROM evproc.processed_files');
	is(post_one("size-$_"), '200', "size: POST $_") for 1 .. 80;
	ok( query_until(
			$node,
			"SELECT count(*) > $before FROM evproc.processed_files",
			't', 30),
		'size: a journal over 8kB was rotated and ingested without evproc_rotate()');
	set_conf($node, 'evproc.rotation_size', '1GB');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is( $node->safe_psql(
			'postgres',
			"SELECT count(*) FILTER (WHERE revenue = 1) FROM evproc.user_revenue WHERE user_id LIKE 'size-%'"
		),
		'80',
		'size: every event counted once');

	set_conf($node, 'evproc.processed_retention', '0');
	is(post_one('ret-1'), '200', 'retention: a POST');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	my $no_files = 'journal in the database: POSTs make segments, not files in processed/';
	SKIP:
	{
		skip $no_files, 1 if journal_in_database($node);
		is(count_processed($node), 0, 'retention 0: processed/ is empty');
	}
	set_conf($node, 'evproc.processed_retention', '-1');
	is(post_one('ret-2'), '200', 'retention: another POST');
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	SKIP:
	{
		skip $no_files, 1 if journal_in_database($node);
		is(count_processed($node), 1, 'retention -1: the file is kept');
	}
	is(revenue('ret-1') . revenue('ret-2'), '11', 'retention: both counted');
}

# --- (f) lookups during an ingest transaction ---
{
	# users aaa and zzz exist with revenue 1; a file of 200000 users with
	# eventIds (a long transaction of many chunks) adds 1 to both, and to
	# aab, which it brings in
	is(post_one($_), '200', "during: $_ known before") for qw(aaa zzz);
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	my $data = '';
	for my $i (0 .. 199999)
	{
		my $user =
			$i == 0 ? 'aaa'
		  : $i == 1 ? 'aab'
		  : $i == 199999 ? 'zzz'
		  : sprintf('m%06d', $i);
		$data .=
		  qq({"userId": "$user", "name": "add_revenue", "value": 1, "eventId": "during-$i"}\n);
	}
	write_file("$dir/events-during.jsonl", $data);

	# aaa is in the first chunk of upserts, zzz in the last: a lookup that
	# saw the file's sum before its commit would show aaa at 2 while the
	# file is not recorded yet (the check after it can only be later)
	my $conn = http_connect($port);
	my %seen;
	my %seen_new;	# aab: 404 before the commit, 1 after
	my $early = 0;
	my $during = 0;		# answered while the file's transaction was open
	my $rotate = $node->background_psql('postgres');
	$rotate->query_until(qr/started/, "\\echo started\nSELECT evproc_rotate();\n");
	my $t_end = time + 30;
	while (time < $t_end)
	{
		my $open_before = ingest_transaction_open($node);
		my ($status, $body) = http_request($conn, 'GET', '/userEvents/aab');
		my ($new) = ($body // '') =~ /"revenue": (\d+)/;
		$seen_new{ $new // $status // 'x' }++;
		($status, $body) = http_request($conn, 'GET', '/userEvents/aaa');
		my ($rev) = ($body // '') =~ /"revenue": (\d+)/;
		$rev //= 'x';
		$seen{$rev}++;
		$during++ if $open_before && $rev eq '1' && ingest_transaction_open($node);
		next unless $rev eq '2';
		$early++
		  unless $node->safe_psql('postgres',
			"SELECT count(*) FROM evproc.processed_files WHERE filename = 'events-during.jsonl'"
		  ) eq '1';
		last;
	}
	$rotate->quit;
	note 'during: values seen ' . join(', ', map { "$_ x$seen{$_}" } sort keys %seen);
	is($early, 0, 'during: no lookup saw the file before its commit');
	cmp_ok($during, '>', 0,
		"during: lookups answered while the transaction was open ($during)");
	ok(exists $seen{2}, 'during: the file was counted');
	is(join(',', sort keys %seen), '1,2', 'during: only the values before and after');
	note 'during: new user ' . join(', ', map { "$_ x$seen_new{$_}" } sort keys %seen_new);
	is_deeply([ grep { $_ ne '404' && $_ ne '1' } keys %seen_new ], [],
		'during: a user the file brings in is unknown until the commit');
	is(revenue('zzz'), '2', 'during: the last user counted too');
}

is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'evproc'"),
	'1', 'the worker is running');
$node->stop;
done_testing();
