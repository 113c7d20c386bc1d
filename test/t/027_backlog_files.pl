# The backlog's limit and the files the worker opens (issue 19):
#	- evproc.max_backlog is kept to the byte: with ingest paused, several
#	  clients sending batches at once get 503 before the journal passes
#	  the limit by more than a batch or two (it was checked once a second:
#	  25 times over);
#	- once ingest resumes, POSTs are accepted again within seconds, even
#	  with evproc.rotation_interval = 1h: the live journal that keeps the
#	  backlog over the limit is rotated and ingested by itself;
#	- an entry named like an archive that cannot be moved (a directory the
#	  server's user may not write to) holds back nothing: it is skipped,
#	  logged once, shown in evproc.journal_files, the events after it are
#	  counted and evproc_rotate() succeeds; fixed, it is set aside;
#	- a FIFO named as evproc.auth_token_file or evproc.tls_cert_file does
#	  not block the worker at reload: it is refused, logged, and what was
#	  in force stays.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Fcntl;
use IPC::Run;
use POSIX qw(mkfifo);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $tmp = PostgreSQL::Test::Utils::tempdir();

my $node = evproc_node('backlog', "evproc.max_backlog = '64kB'\n");
my $port = http_port($node);
my $dir = journal_dir($node);

# journaled($dir): bytes in the journal directory not yet counted (the live
# journal and the archived files)
sub journaled
{
	my $bytes = 0;

	# the journal in the database: the live segments' rows
	return $node->safe_psql('postgres',
		'SELECT coalesce(sum(octet_length(j.lines)), 0) FROM ('
		  . ' SELECT worker, seg, lines FROM evproc.journal_0'
		  . ' UNION ALL SELECT worker, seg, lines FROM evproc.journal_1'
		  . ' UNION ALL SELECT worker, seg, lines FROM evproc.journal_2) AS j'
		  . ' JOIN evproc.journal_segments AS s USING (worker, seg)')
	  if journal_in_database($node);
	opendir(my $dh, $dir) or die "opendir $dir: $!";
	for my $f (grep { /^events(-.*)?\.jsonl$/ } readdir($dh))
	{
		$bytes += -s "$dir/$f" if -f "$dir/$f";
	}
	closedir($dh);
	return $bytes;
}

# batch($prefix, $n): a JSON array of $n events of users of their own
sub batch
{
	my ($prefix, $n) = @_;
	return '['
	  . join(',', map { event_json("$prefix-$_", 'add_revenue', 1) } 0 .. $n - 1)
	  . ']';
}

# --- max_backlog counted to the byte, 4 clients, batches of 20 ---

$node->safe_psql('postgres', 'SELECT evproc_pause_ingest()');
my ($status) = http_post($port, '/liveEvent', batch('bl-first', 20));
is($status, 200, 'a first batch is accepted');
my $batch_bytes = journaled();
note "one batch of 20 events is $batch_bytes bytes in the journal";

my @kids;
for my $c (1 .. 4)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		my ($acked, $last) = (0, 'none');
		for my $i (1 .. 3000)
		{
			my ($s) = http_post($port, '/liveEvent', batch("bl$c-$i", 20));
			$last = $s // 'none';
			last if $last ne '200';
			$acked++;
		}
		open(my $fh, '>', "$tmp/client$c") or die;
		print $fh "$acked $last\n";
		close($fh);
		POSIX::_exit(0);
	}
	push @kids, $pid;
}
waitpid($_, 0) for @kids;
my ($acked_batches, @last) = (1);
for my $c (1 .. 4)
{
	my ($n, $last) = split ' ', slurp_file("$tmp/client$c");
	$acked_batches += $n;
	push @last, $last;
}
is_deeply(\@last, [ 503, 503, 503, 503 ],
	'every client ends up refused with 503');
my $bytes = journaled();
my $limit = 64 * 1024;
note "journaled $bytes bytes for a limit of $limit ($acked_batches batches acknowledged)";
ok($bytes <= $limit + 2 * $batch_bytes,
	"the backlog passes max_backlog by at most a batch or two ($bytes bytes, limit $limit, batch $batch_bytes)");
ok($bytes > $limit, '... and it did reach the limit');

# --- after the resume, the backlog drains by itself (rotation_interval 1h) ---

$node->safe_psql('postgres', 'SELECT evproc_resume_ingest()');
my $start = time;
my $ok = 0;
while (time - $start < 20)
{
	($status) = http_post($port, '/liveEvent', batch('bl-after', 1));
	if (($status // 0) == 200) { $ok = 1; last; }
	usleep(250_000);
}
my $took = time - $start;
ok($ok, sprintf('POSTs are accepted again %.1f s after evproc_resume_ingest()', $took));
rotate($node);
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.user_revenue WHERE user_id LIKE 'bl%' AND user_id NOT LIKE 'bl-after-%'"),
	$acked_batches * 20,
	'every event acknowledged is counted once');

# --- an entry that cannot be moved holds back nothing ---

# (the back-pressure out of the way, whatever the result above)
set_conf($node, 'evproc.max_backlog', '0');

SKIP:
{
	skip 'running as root: a directory without write permission can be moved', 9
	  if $> == 0;
	my $stuck = 'events-00000000T000000Z-stuck.jsonl';
	mkdir("$dir/$stuck", 0700) or die "mkdir: $!";
	# moving a directory to another parent writes its "..": not allowed
	chmod(0500, "$dir/$stuck") or die "chmod: $!";
	my $offset = -s $node->logfile;

	is(add_revenue($port, 'stuck-after', 7), 200, 'an event after it is acknowledged');
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT evproc_rotate()');
	is($rc, 0, 'evproc_rotate() succeeds') or diag($err);
	is($node->safe_psql('postgres',
			"SELECT revenue FROM evproc.user_revenue WHERE user_id = 'stuck-after'"),
		'7', 'the event after it is counted');
	ok(log_match($node, qr/"\Q$stuck\E" in ".*" is skipped: .*could not move it to failed\/: Permission denied/,
			$offset, 10),
		'the skipped entry is logged');
	like(
		$node->safe_psql('postgres',
			"SELECT state || ' ' || last_error || ' ' || (next_retry > now()) FROM evproc.journal_files WHERE filename = '$stuck'"),
		qr/^retrying it cannot be ingested \(it is a directory\); could not move it to failed\/: Permission denied true$/,
		'evproc.journal_files shows it as retrying, with why and when');
	# other files go on, and the entry is logged only once
	is(add_revenue($port, 'stuck-later', 1), 200, 'another event is acknowledged');
	$node->psql('postgres', 'SELECT evproc_rotate()');
	is($node->safe_psql('postgres',
			"SELECT revenue FROM evproc.user_revenue WHERE user_id = 'stuck-later'"),
		'1', 'and counted');
	my @warnings = slurp_file($node->logfile, $offset) =~ /is skipped:/g;
	is(scalar(@warnings), 1, 'the skipped entry is logged once');

	# fixed by the operator: set aside at the next scan
	chmod(0700, "$dir/$stuck") or die "chmod: $!";
	ok( query_until(
			$node,
			"SELECT state FROM evproc.journal_files WHERE filename = 'failed/$stuck'",
			'set aside', 20),
		'once it can be moved, it is set aside');
}

# --- FIFOs named as the token file and the certificate file ---

make_cert($tmp, 'fifo');
open(my $tfh, '>', "$tmp/token") or die;
print $tfh "sesame\n";
close($tfh);

my %in_force = (
	'evproc.auth_token_file' => "$tmp/token",
	'evproc.tls_cert_file' => "$tmp/fifo.crt");
my $tls = evproc_node('fifo_tls',
	"evproc.auth_token_file = '$tmp/token'\n");
my $tls_port = http_port($tls);
# HTTPS is turned on when the worker starts
$tls->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_cert_file = '$tmp/fifo.crt'");
$tls->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_key_file = '$tmp/fifo.key'");
$tls->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok(query_until($tls, "SELECT current_setting('evproc.tls_key_file') <> ''", 't', 30),
	'the certificate is set');
$tls->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'evproc'");

# curl_https($path, @headers): (status, seconds) of a GET over HTTPS
sub curl_https
{
	my ($path, @headers) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	IPC::Run::run(
		[
			'curl', '-s', '--max-time', '10', '--cacert', "$tmp/fifo.crt",
			'-o', '/dev/null', '-w', '%{http_code}',
			map({ ('-H', $_) } @headers), "https://127.0.0.1:$tls_port$path"
		],
		'<', \undef, '>', \$out, '2>', \$err);
	return (($out || 0) + 0, time - $t0);
}

my $code = 0;
for (1 .. 150)
{
	($code) = curl_https('/userEvents/nobody', 'Authorization: sesame');
	last if $code == 404;
	usleep(200_000);
}
is($code, 404, 'HTTPS with the token of the file works');
($code) = curl_https('/userEvents/nobody');
is($code, 401, '... and without it is refused');

for my $setting ('evproc.auth_token_file', 'evproc.tls_cert_file')
{
	my $fifo = "$tmp/fifo-" . ($setting =~ /token/ ? 'token' : 'cert');
	mkfifo($fifo, 0600) or die "mkfifo: $!";
	my $offset = -s $tls->logfile;
	$tls->safe_psql('postgres', "ALTER SYSTEM SET $setting = '$fifo'");
	$tls->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok( query_until(
			$tls, "SELECT current_setting('$setting') = '$fifo'", 't', 30),
		"$setting is a FIFO");
	usleep(500_000);
	my ($health, $secs) = curl_https('/health');
	is($health, 200,
		sprintf('%s a FIFO: /health still answers (%.2f s)', $setting, $secs));
	ok( log_match(
			$tls, qr/"\Q$fifo\E" is a FIFO, not a regular file/, $offset, 10),
		"$setting a FIFO: refused, and logged");
	($code) = curl_https('/userEvents/nobody', 'Authorization: sesame');
	is($code, 404, "$setting a FIFO: the token in force stays");
	($code) = curl_https('/userEvents/nobody');
	is($code, 401, "$setting a FIFO: ... and still required");

	# let a worker that did block go (the test must end either way)
	if (sysopen(my $w, $fifo, O_WRONLY | O_NONBLOCK))
	{
		syswrite($w, "x\n");
		close($w);
	}
	set_conf($tls, $setting, $in_force{$setting});
	unlink($fifo);
}
ok(log_match($tls, qr/the HTTPS certificate was not reloaded; new connections still get the one loaded before/, 0, 10),
	'the certificate in force stays');

$tls->stop;
$node->stop;
done_testing();
