# Compressed request bodies on POST /liveEvent (Content-Encoding):
#	(a) gzip: one event, a batch, two concatenated members; deflate as
#		zlib and as raw deflate; "identity"; each counted exactly once
#		after evproc_rotate();
#	(b) a decompression bomb (20 MB of events in 60 kB of gzip) gets a
#		JSON 413 past evproc.max_body_size, journals nothing, and the same
#		worker serves the next request;
#	(c) a truncated gzip stream, garbage, and bytes after the end get a
#		JSON 400 naming the problem, and journal nothing;
#	(d) br, compress, zstd, "gzip, br" and two Content-Encoding headers
#		get 415 with "Accept-Encoding: gzip, deflate";
#	(e) a chunked upload of a gzip body split at awkward places (inside
#		the magic, the header, the data, the trailer), by hand with pauses
#		and by curl;
#	(f) "evproc-client send" compresses by default (a recording server
#		sees Content-Encoding: gzip and a body that inflates to the
#		events), and not with --no-compress; both against the node are
#		counted once.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Compress::Zlib ();
use File::Find;
use File::Spec;
use IO::Compress::Deflate ();
use IO::Compress::RawDeflate ();
use IPC::Run ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use EvprocTest;

my $node = evproc_node('compressed', "evproc.max_body_size = '64kB'\n");
my $port = http_port($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();

# post($body, @headers): one POST (Content-Type: application/json unless
# @headers has one); returns (status, body, head)
sub post
{
	my ($body, @headers) = @_;
	push @headers, 'Content-Type: application/json'
	  unless grep { /^Content-Type:/i } @headers;
	my %r = raw_request($port, 'POST', '/liveEvent', $body, @headers);
	return ($r{status} // 0, $r{body} // '', $r{head} // '');
}

sub gz { return Compress::Zlib::memGzip($_[0]); }

sub ndjson
{
	my ($prefix, $n) = @_;
	return join('', map { event_json("$prefix$_", 'add_revenue', 1) . "\n" } 1 .. $n);
}

# journaled($text): is $text in any journal file (live, archived or
# processed)?
sub journaled
{
	my ($text) = @_;
	my $found = 0;
	find(
		sub {
			return unless -f $_;
			$found ||= index(slurp_file($_), $text) >= 0;
		},
		journal_dir($node));
	return $found;
}

my $pid = worker_pid($node);

# --- (a) gzip, deflate, identity ---------------------------------------------
my ($status, $body, $head) =
  post(gz(event_json('gz-one', 'add_revenue', 7)), 'Content-Encoding: gzip');
is($status, 200, 'gzip: one event accepted');
is($body, qq({"accepted": 1}\n), '... {"accepted": 1}');

($status, $body) = post(gz(ndjson('gz-batch-', 50)),
	'Content-Encoding: GZIP', 'Content-Type: application/x-ndjson');
is($status, 200, 'gzip: an NDJSON batch of 50 accepted') or diag($body);
is($body, qq({"accepted": 50}\n), '... all 50');

my $array = '[' . join(',', map { event_json("gz-array-$_", 'add_revenue', 1) } 1 .. 40) . ']';
($status, $body) = post(gz($array), 'Content-Encoding: gzip');
is($status, 200, 'gzip: a JSON array of 40 accepted');
is($body, qq({"accepted": 40}\n), '... all 40');

($status, $body) = post(
	gz(event_json('gz-member-1', 'add_revenue', 1) . "\n")
	  . gz(event_json('gz-member-2', 'add_revenue', 1) . "\n"),
	'Content-Encoding: x-gzip', 'Content-Type: application/x-ndjson');
is($status, 200, 'gzip: two concatenated members are one body');
is($body, qq({"accepted": 2}\n), '... of both members\' events');

my $zlib;
IO::Compress::Deflate::deflate(\(event_json('deflate-zlib', 'add_revenue', 3)), \$zlib)
  or die 'deflate failed';
($status, $body) = post($zlib, 'Content-Encoding: deflate');
is($status, 200, 'deflate (zlib format) accepted');

my $raw;
IO::Compress::RawDeflate::rawdeflate(\(event_json('deflate-raw', 'add_revenue', 4)), \$raw)
  or die 'rawdeflate failed';
($status, $body) = post($raw, 'Content-Encoding: deflate');
is($status, 200, 'raw deflate accepted too');

($status, $body) = post(event_json('identity', 'add_revenue', 5),
	'Content-Encoding: identity');
is($status, 200, 'Content-Encoding: identity is no coding');

# --- (b) a bomb -----------------------------------------------------------
my $bomb_plain = '[' . join(',', (event_json('bomb-1', 'add_revenue', 1)) x 400_000) . ']';
my $bomb = gz($bomb_plain);
note 'bomb: ' . length($bomb_plain) . ' bytes in ' . length($bomb) . ' of gzip';
ok(length($bomb) < 64 * 1024, 'the bomb is smaller than evproc.max_body_size');
($status, $body) = post($bomb, 'Content-Encoding: gzip');
is($status, 413, 'bomb: 413');
like(
	$body,
	qr/^\{"error": "the inflated gzip body is over the limit \(evproc\.max_body_size\)"\}$/,
	'... JSON error: inflated past evproc.max_body_size');
($status, $body) = post(event_json('after-bomb', 'add_revenue', 1));
is($status, 200, 'bomb: the next request is served');
is(worker_pid($node), $pid, '... by the same worker');

# --- (c) truncated, garbage, trailing bytes ---------------------------------
my $whole = gz(event_json('bad-truncated', 'add_revenue', 1));
($status, $body) =
  post(substr($whole, 0, length($whole) - 4), 'Content-Encoding: gzip');
is($status, 400, 'truncated gzip: 400');
like($body, qr/^\{"error": "the gzip body is truncated"\}$/, '... saying so');

($status, $body) = post(event_json('bad-garbage', 'add_revenue', 1),
	'Content-Encoding: gzip');
is($status, 400, 'garbage with Content-Encoding: gzip: 400');
like($body, qr/not gzip data/, '... saying so');

($status, $body) = post("\x1f\x8b" . ('x' x 40), 'Content-Encoding: gzip');
is($status, 400, 'a gzip header with garbage after it: 400');
like($body, qr/not valid gzip data/, '... saying so');

($status, $body) = post(gz(event_json('bad-trailing', 'add_revenue', 1)) . "\n",
	'Content-Encoding: gzip');
is($status, 400, 'bytes after the end of the gzip data: 400');
like($body, qr/trailing bytes after the end of the gzip data/, '... saying so');

($status, $body) = post($zlib . 'x', 'Content-Encoding: deflate');
is($status, 400, 'bytes after the end of the deflate data: 400');

# --- (d) unsupported codings ------------------------------------------------
for my $coding ('br', 'compress', 'zstd', 'gzip, br')
{
	($status, $body, $head) = post(gz(event_json('bad-coding', 'add_revenue', 1)),
		"Content-Encoding: $coding");
	is($status, 415, "Content-Encoding: $coding: 415");
	like($head, qr/^Accept-Encoding: gzip, deflate\r?$/mi,
		'... with Accept-Encoding: gzip, deflate');
	like($body, qr/^\{"error": "Content-Encoding .*not supported/, '... JSON error');
}
($status, $body, $head) = post(gz(event_json('bad-coding', 'add_revenue', 1)),
	'Content-Encoding: gzip', 'Content-Encoding: gzip');
is($status, 415, 'two Content-Encoding headers: 415');

# --- (e) chunked uploads split at awkward places ----------------------------
my $chunked_plain = ndjson('chunked-', 30);
my $chunked_gz = gz($chunked_plain);
my @cuts = (1, 2, 3, 10, 11, 25, length($chunked_gz) - 8, length($chunked_gz) - 3,
	length($chunked_gz) - 1);
my $sock = raw_connect($port) or die "connect: $!";
raw_send($sock,
	    "POST /liveEvent HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	  . "Content-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\n"
	  . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
my $from = 0;
for my $cut (@cuts, length($chunked_gz))
{
	my $piece = substr($chunked_gz, $from, $cut - $from);
	$from = $cut;
	raw_send($sock, sprintf("%x\r\n", length($piece)) . $piece . "\r\n");
	usleep(30_000);    # so that each piece comes in a callback of its own
}
raw_send($sock, "0\r\n\r\n");
my %r = raw_reply($sock, 10);
close($sock);
is($r{status}, 200, 'chunked gzip upload split at ' . join(',', @cuts) . ': 200');
is($r{body}, qq({"accepted": 30}\n), '... all 30 events');

my $file = "$tmp/curl.gz";
my $curl_plain = ndjson('curl-', 1000);
open(my $fh, '>:raw', $file) or die;
print $fh gz($curl_plain);
close($fh);
my ($out, $err) = ('', '');
IPC::Run::run(
	[
		'curl', '-sS', '-H', 'Transfer-Encoding: chunked', '-H',
		'Content-Encoding: gzip', '-H', 'Content-Type: application/x-ndjson',
		'--data-binary', "\@$file", "http://127.0.0.1:$port/liveEvent"
	],
	'>', \$out, '2>', \$err);
is($out, qq({"accepted": 1000}\n), 'curl: a chunked gzip upload of 1000 events')
  or diag($err);

# --- counted once ------------------------------------------------------------
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
my %want = (
	'gz-one' => 7,
	'gz-batch-1' => 1, 'gz-batch-50' => 1,
	'gz-array-1' => 1, 'gz-array-40' => 1,
	'gz-member-1' => 1, 'gz-member-2' => 1,
	'deflate-zlib' => 3, 'deflate-raw' => 4, 'identity' => 5,
	'after-bomb' => 1, 'chunked-1' => 1, 'chunked-30' => 1,
	'curl-1' => 1, 'curl-1000' => 1);
is_deeply(revenue_of($node, keys %want), \%want,
	'every event accepted is counted exactly once');
is( $node->safe_psql('postgres',
		"SELECT count(*), sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'gz-batch-%' OR user_id LIKE 'gz-array-%' OR user_id LIKE 'chunked-%' OR user_id LIKE 'curl-%'"
	),
	'1120|1120',
	'... every event of the batches, once');
is_deeply(revenue_of($node, 'bomb-1', 'bad-truncated', 'bad-garbage', 'bad-trailing', 'bad-coding'),
	{}, 'nothing refused is counted');
ok(!journaled('bomb-1'), 'the bomb journaled nothing');
ok(!journaled('bad-'), 'the refused bodies journaled nothing');

# --- (f) evproc-client send --------------------------------------------------
my $client = evproc_client_path();

SKIP:
{
	skip 'no evproc-client (run make install)', 11 unless -x $client;
	note "client: $client";

	# a server that records each request's headers and body, and accepts
	my $recorder = "$tmp/recorder.py";
	open($fh, '>', $recorder) or die;
	print $fh <<'EOF';
import gzip, http.server, sys
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global n
        body = self.rfile.read(int(self.headers['Content-Length']))
        plain = gzip.decompress(body) if self.headers['Content-Encoding'] else body
        n += 1
        with open('%s/req%d.head' % (sys.argv[1], n), 'w') as f:
            f.write(str(self.headers))
        with open('%s/req%d.body' % (sys.argv[1], n), 'wb') as f:
            f.write(body)
        reply = b'{"accepted": %d}' % plain.count(b'\n')
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
	close($fh);

	my $events = "$tmp/client.jsonl";
	open($fh, '>', $events) or die;
	print $fh ndjson('client-', 300);
	close($fh);

	for my $case (['compressed', []], ['plain', ['--no-compress']])
	{
		my ($what, $opts) = @$case;
		my $dir = "$tmp/rec-$what";
		mkdir $dir or die;
		my ($rout, $rerr) = ('', '');
		my $h = IPC::Run::start([ 'python3', $recorder, $dir ],
			'>', \$rout, '2>', \$rerr, IPC::Run::timeout(60));
		$h->pump until $rout =~ /^(\d+)\n/;
		my $rport = $1;
		my ($cout, $cerr) = ('', '');
		IPC::Run::run(
			[
				$client, 'send', '--no-progress', '--batch-size', '100',
				'--url', "http://127.0.0.1:$rport", @$opts, $events
			],
			'>', \$cout, '2>', \$cerr);
		$h->kill_kill;
		like($cout, qr/accepted:\s+300\b/, "client, $what: 300 accepted")
		  or diag("$cout\n$cerr");
		my $heads = join('', map { slurp_file($_) } glob("$dir/req*.head"));
		my @bodies = map { slurp_file($_) } glob("$dir/req*.body");
		is(scalar(@bodies), 3, "client, $what: 3 requests of 100 events");
		my $sent = '';
		if ($what eq 'compressed')
		{
			my @enc = $heads =~ /^Content-Encoding: gzip$/mig;
			is(scalar(@enc), 3, '... each with Content-Encoding: gzip');
			for my $b (@bodies)
			{
				my $plain = Compress::Zlib::memGunzip($b);
				$sent .= $plain // '';
			}
		}
		else
		{
			unlike($heads, qr/^Content-Encoding/mi,
				'... none with Content-Encoding');
			$sent = join('', @bodies);
		}
		my @ids = $sent =~ /"userId": ?"(client-\d+)"/g;
		is(scalar(@ids), 300, '... whose bodies hold the 300 events');
	}

	# against the node, both ways
	for my $case (['compressed', 'cc-', []], ['plain', 'cp-', ['--no-compress']])
	{
		my ($what, $prefix, $opts) = @$case;
		my $f = "$tmp/$prefix.jsonl";
		open($fh, '>', $f) or die;
		print $fh ndjson($prefix, 3000);
		close($fh);
		my ($cout, $cerr) = ('', '');
		IPC::Run::run(
			[
				$client, 'send', '--no-progress',
				'--url', "http://127.0.0.1:$port", @$opts, $f
			],
			'>', \$cout, '2>', \$cerr);
		# batches of 1000 events with their eventIds are over 64 kB
		# inflated: the node answers 413 and the client halves them
		like($cout, qr/accepted:\s+3000\b/, "client, $what, to the node: 3000 accepted")
		  or diag("$cout\n$cerr");
	}
	$node->safe_psql('postgres', 'SELECT evproc_rotate()');
	is( $node->safe_psql('postgres',
			"SELECT count(*), sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'cc-%' OR user_id LIKE 'cp-%'"
		),
		'6000|6000',
		'client: every event sent counted once');
}

is(worker_pid($node), $pid, 'the worker is the one that started');

$node->stop;
done_testing();
