# Live updates in a real browser: headless Chromium runs a page whose
# script subscribes with EventSource to GET /userEvents/:userId/stream.
#
#	- the page is a file:// page, so its origin ("null") is not the
#	  server's: the stream must carry Access-Control-Allow-Origin, or
#	  Chromium refuses it (CORS);
#	- the first message is the user's current state; a change counted
#	  while the page listens arrives as the second, with a larger seq
#	  (EventSource's lastEventId is the seq), its data the state
#	  GET /userEvents/:userId gives plus "seq".
#
# The page writes each message into the DOM and to the console; when it has
# two it closes the EventSource and sets the title.  Chromium runs with
# --dump-dom and a virtual time budget: virtual time does not advance while
# a network request (the stream) is open, so the DOM is printed only once
# the page has closed its stream (or, if nothing comes, when the outer
# timeout kills Chromium).  The test learns that the page has its first
# message from the console output on stderr (--enable-logging=stderr),
# and only then posts the change.
#
# Skipped when Chromium is not installed (scripts/deps.sh installs it).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Spec;
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $chromium = chromium_path();
plan skip_all => 'no chromium (scripts/deps.sh installs it)' unless $chromium;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = evproc_node('browser');
my $port = http_port($node);

# the user is known before the page subscribes: its state comes first
is(add_revenue($port, 'br1', 5), 200, 'first event acknowledged');
rotate($node);

my $page = "$tmp/page.html";
open(my $fh, '>', $page) or die "could not write $page: $!";
print $fh <<"EOF";
<!DOCTYPE html>
<html><head><title>waiting</title></head>
<body><pre id="log"></pre>
<script>
var n = 0;
var es = new EventSource('http://127.0.0.1:$port/userEvents/br1/stream');
es.onmessage = function (e) {
	document.getElementById('log').textContent +=
		'message ' + e.lastEventId + ' ' + e.data + '\\n';
	console.log('evproc-message ' + e.lastEventId);
	if (++n == 2) {
		es.close();
		document.title = 'done';
	}
};
es.onerror = function () { console.log('evproc-error ' + es.readyState); };
</script>
</body></html>
EOF
close($fh);

my ($dom, $err) = ("$tmp/dom.html", "$tmp/chromium.err");
my @cmd = (
	'timeout', '90', $chromium, '--headless', '--no-sandbox', '--disable-gpu',
	'--no-first-run', '--disable-extensions', '--disable-background-networking',
	"--user-data-dir=$tmp/profile", '--enable-logging=stderr', '--v=0',
	'--virtual-time-budget=60000', '--dump-dom', "file://$page");
my $h = IPC::Run::start(\@cmd, '<', \undef, '>', $dom, '2>', $err,
	init => sub { $ENV{HOME} = "$tmp/home"; });

# wait_console($regexp, $timeout): waits until Chromium's console output
# matches $regexp; true if it did.
sub wait_console
{
	my ($regexp, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if -e $err && slurp_file($err) =~ $regexp;
		usleep(50_000);
	}
	return 0;
}

# (EventSource gives up, readyState 2, on a refused stream: no wait then)
wait_console(qr/"evproc-(message \d+|error 2)"/, 60);
ok((-e $err ? slurp_file($err) : "") =~ /"evproc-message \d+"/,
	'the page received its first message (the current state)')
  or diag('chromium stderr: ' . (-e $err ? slurp_file($err) : ''));

# the change, counted while the page listens
is(add_revenue($port, 'br1', 2), 200, 'second event acknowledged');
rotate($node);

# Chromium prints the DOM once the page has closed its stream
eval { $h->finish; };
my $html = -e $dom ? slurp_file($dom) : '';
like($html, qr{<title>done</title>}, 'the page received two messages')
  or diag("DOM: $html\nchromium stderr: " . (-e $err ? slurp_file($err) : ''));

my @m = $html =~ /\bmessage (\S*) (.*)$/mg;
my ($id1, $data1, $id2, $data2) = @m;
$_ //= '' for $id1, $data1, $id2, $data2;
like($data1, qr/^\{"userId": "br1", "revenue": 5, .*"seq": \Q$id1\E\}$/,
	'first: the current state, its seq the event id');
like($data2, qr/^\{"userId": "br1", "revenue": 7, .*"seq": \Q$id2\E\}$/,
	'second: the new state, its seq the event id');
ok($id1 =~ /^\d+$/ && $id2 =~ /^\d+$/ && $id2 > $id1, 'in increasing seq');

# the data is what GET gives, plus "seq"
my %r = raw_request($port, 'GET', '/userEvents/br1');
(my $without_seq = $data2) =~ s/, "seq": \d+\}$/}/;
chomp(my $get = $r{body});
is($without_seq, $get, 'the data is the state GET gives, plus seq');

done_testing();
