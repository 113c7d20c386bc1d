# HTTP edges: cross-origin browser requests, methods, kept connections and
# plain HTTP on the HTTPS port.
#	- a cross-origin POST (text/plain, which a browser sends without a
#	  preflight) from an origin not in evproc.allowed_origins gets 403
#	  naming the setting and journals nothing, as does one that carries a
#	  token, and its preflight; same-origin requests, requests without
#	  Origin (curl) and cross-origin GETs without a token are served;
#	  once the origin is listed, its preflight gets 204 with the
#	  Access-Control-* headers and its POST is taken, with
#	  Access-Control-Allow-Origin; in headless Chromium, a page served
#	  from another port posts with fetch(): refused, then, with its
#	  origin allowed, taken;
#	- a method evproc does not implement gets 501 (405 on a known route),
#	  not 404; OPTIONS gets 204 with Allow;
#	- 401, 403, 404, 429, 413 (a small body, read and dropped) and /health
#	  keep the connection: a second request on the same socket is answered;
#	- plain HTTP on the HTTPS port gets a 400 saying to use https://, at
#	  once, and HTTPS still works.

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

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $node = evproc_node('edges', "evproc.max_body_size = '256B'\n");
my $port = http_port($node);
my $event = qq({"userId":"%s","name":"add_revenue","value":1});

# req_text($method, $path, $body, @headers): a request, Host as a browser
# sends it
sub req_text
{
	my ($method, $path, $body, @headers) = @_;
	my $text = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n";
	$text .= "$_\r\n" for @headers;
	$text .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
	return $text . "\r\n" . ($body // '');
}

# request($method, $path, $body, @headers): its reply (raw_reply) on a new
# connection
sub request
{
	my ($method, $path, $body, @headers) = @_;
	my $sock = raw_connect($port)
	  or return (status => undef, head => '', body => '', end => 'closed');
	raw_send($sock,
		req_text($method, $path, $body, @headers, 'Connection: close'));
	my %r = raw_reply($sock, 10);
	close($sock);
	return %r;
}

# until_status($status, @request): repeats request(@request) until it
# gets $status (a reload reaches the worker on its next pass), 10 s at most
sub until_status
{
	my ($status, @request) = @_;
	my $deadline = time + 10;
	my %r;
	do { %r = request(@request); usleep(50_000) if ($r{status} // 0) != $status; }
	  while (($r{status} // 0) != $status && time < $deadline);
	return %r;
}

# counted($user): the user's revenue after a rotation, or 'none'
sub counted
{
	my ($user) = @_;
	rotate($node);
	return revenue_of($node, $user)->{$user} // 'none';
}

# 1. Cross-origin requests
my $evil = 'Origin: http://evil.example';
my %r = request('POST', '/liveEvent', sprintf($event, 'x1'),
	'Content-Type: text/plain', $evil);
is($r{status}, 403, 'a cross-origin text/plain POST: 403');
like($r{body}, qr/"error": ".*evproc\.allowed_origins/,
	'... naming evproc.allowed_origins');
unlike($r{head}, qr/^Access-Control-Allow-Origin/mi,
	'... without Access-Control-Allow-Origin');
%r = request('POST', '/liveEvent', sprintf($event, 'x1'),
	'Content-Type: text/plain', 'Sec-Fetch-Site: cross-site');
is($r{status}, 403, '... also when only Sec-Fetch-Site says so');
%r = request('POST', '/liveEvent', sprintf($event, 'x1'),
	'Origin: http://127.0.0.1:1', 'Sec-Fetch-Site: same-site');
is($r{status}, 403, '... and from the same site, another port');
is(counted('x1'), 'none', 'none of them journaled anything');

%r = request('POST', '/liveEvent', sprintf($event, 'x2'),
	"Origin: http://127.0.0.1:$port");
is($r{status}, 200, 'a POST whose Origin is the Host: 200');
%r = request('POST', '/liveEvent', sprintf($event, 'x2'),
	$evil, 'Sec-Fetch-Site: same-origin');
is($r{status}, 200, 'a POST that Sec-Fetch-Site says is same-origin: 200');
%r = request('POST', '/liveEvent', sprintf($event, 'x2'));
is($r{status}, 200, 'a POST without Origin (curl): 200');
is(counted('x2'), 3, '... all three counted');

%r = request('GET', '/userEvents/x2', undef, $evil);
is($r{status}, 200, 'a cross-origin GET without a token is answered');
unlike($r{head}, qr/^Access-Control-Allow-Origin/mi,
	'... without Access-Control-Allow-Origin (the page cannot read it)');
%r = request('GET', '/userEvents/x2', undef, $evil, 'Authorization: Bearer t');
is($r{status}, 403, 'a cross-origin GET with a token: 403');
%r = request('OPTIONS', '/liveEvent', undef, $evil,
	'Access-Control-Request-Method: POST');
is($r{status}, 403, 'a preflight from another origin: 403');

my $app = 'http://app.example:8080';
set_conf($node, 'evproc.allowed_origins', "https://other.example, $app");
%r = until_status(204, 'OPTIONS', '/liveEvent', undef, "Origin: $app",
	'Access-Control-Request-Method: POST',
	'Access-Control-Request-Headers: content-type, authorization');
is($r{status}, 204, 'a preflight from an allowed origin: 204');
like($r{head}, qr/^Access-Control-Allow-Origin: \Q$app\E\r?$/mi,
	'... with Access-Control-Allow-Origin');
like($r{head}, qr/^Access-Control-Allow-Methods: POST\r?$/mi,
	'... Access-Control-Allow-Methods');
like($r{head}, qr/^Access-Control-Allow-Headers: .*Authorization.*Content-Type.*Content-Encoding/mi,
	'... Access-Control-Allow-Headers');
like($r{head}, qr/^Vary: Origin\r?$/mi, '... and Vary: Origin');
unlike($r{head}, qr/^Content-(Length|Type)/mi, '... and no body');
%r = request('POST', '/liveEvent', sprintf($event, 'x3'),
	'Content-Type: text/plain', "Origin: $app", 'Sec-Fetch-Site: cross-site');
is($r{status}, 200, 'its POST: 200');
like($r{head}, qr/^Access-Control-Allow-Origin: \Q$app\E\r?$/mi,
	'... with Access-Control-Allow-Origin');
%r = request('POST', '/liveEvent', '{', "Origin: $app");
is($r{status}, 400, 'its bad POST: 400');
like($r{head}, qr/^Access-Control-Allow-Origin: \Q$app\E\r?$/mi,
	'... readable by its page too');
%r = request('POST', '/liveEvent', sprintf($event, 'x3'),
	'Content-Type: text/plain', $evil);
is($r{status}, 403, 'another origin still: 403');
is(counted('x3'), 1, 'the allowed origin\'s event counted, once');
my ($ret, $out, $err) = $node->psql('postgres',
	"ALTER SYSTEM SET evproc.allowed_origins = 'http://app.example/path'");
like($err, qr/invalid value for parameter "evproc.allowed_origins"/,
	'an origin with a path is refused as a value');

# 2. Methods
%r = request('FOO', '/nothing');
is($r{status}, 501, 'an unknown method: 501');
%r = request('PUT', '/nothing', 'x');
is($r{status}, 501, 'PUT, which no route takes: 501');
%r = request('DELETE', '/userEvents/x2');
is($r{status}, 405, 'on a known route: 405');
like($r{head}, qr/^Allow: GET, HEAD\r?$/mi, '... with Allow');
%r = request('GET', '/nothing');
is($r{status}, 404, 'GET of an unknown path: 404');
%r = request('OPTIONS', '/liveEvent');
is($r{status}, 204, 'OPTIONS: 204');
like($r{head}, qr/^Allow: POST, OPTIONS\r?$/mi, '... with Allow');

# 3. Replies that keep the connection: the first request, then GET /health
# on the same socket
sub kept
{
	my ($what, $status, $first) = @_;
	my $sock = raw_connect($port);
	raw_send($sock, $first);
	my %a = raw_reply($sock, 10);
	is($a{status}, $status, "$what: $status");
	unlike($a{head}, qr/^Connection: close/mi, "$what: no Connection: close");
	raw_send($sock, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n\r\n");
	my %b = raw_reply($sock, 10);
	is($b{status}, 200, "$what: a second request on the connection is answered");
	close($sock);
}

kept('/health', 200, req_text('GET', '/health'));
kept('404', 404, req_text('GET', '/nothing'));
kept('403 (another origin)', 403,
	req_text('POST', '/liveEvent', sprintf($event, 'k1'), $evil));
kept('413 (a small body, over max_body_size)', 413,
	req_text('POST', '/liveEvent', 'x' x 2000));
kept('501', 501, req_text('FOO', '/nothing'));
set_conf($node, 'evproc.rate_limit_per_client', '1');
until_status(429, 'POST', '/liveEvent', sprintf($event, 'k2'));
kept('429', 429, req_text('POST', '/liveEvent', sprintf($event, 'k2')));
set_conf($node, 'evproc.rate_limit_per_client', '0');
set_conf($node, 'evproc.auth_token', 'secret');
until_status(401, 'GET', '/userEvents/x2');
kept('401', 401, req_text('POST', '/liveEvent', sprintf($event, 'k3')));
set_conf($node, 'evproc.auth_token', undef);
until_status(200, 'GET', '/userEvents/x2');
my $reader =
  $node->safe_psql('postgres', "SELECT evproc_create_token('reader', '{read}')");
until_status(401, 'GET', '/userEvents/x2');
kept('403 (a token without the write scope)', 403,
	req_text('POST', '/liveEvent', sprintf($event, 'k4'),
		"Authorization: Bearer $reader"));
$node->safe_psql('postgres', 'DELETE FROM evproc.tokens');
until_status(200, 'GET', '/userEvents/x2');
is(counted('k1') . counted('k3') . counted('k4'), 'nonenonenone',
	'none of the refused requests journaled anything');

# a body too large to drain: answered at once, and the connection closed
my $sock = raw_connect($port);
raw_send($sock, req_text('POST', '/liveEvent', undef,
	'Content-Length: 1000000'));
my %a = raw_reply($sock, 10);
is($a{status}, 413, 'a large body announced: 413 at once');
like($a{head}, qr/^Connection: close/mi, '... and the connection closed');
close($sock);

# 4. A browser: a page of another origin (served by python3 http.server)
# posts with fetch() and text/plain, as a form would
my $chromium = chromium_path();
SKIP:
{
	skip 'no chromium (scripts/deps.sh installs it)', 4 unless $chromium;
	my $site = "$tmp/site";
	mkdir $site;
	open(my $fh, '>', "$site/post.html") or die "$site/post.html: $!";
	print $fh <<"EOF";
<!DOCTYPE html>
<html><head><title>waiting</title></head><body><pre id="out"></pre>
<script>
var user = location.hash.substring(1);
fetch('http://127.0.0.1:$port/liveEvent', {method: 'POST',
	body: JSON.stringify({userId: user, name: 'add_revenue', value: 5})})
.then(function (r) { return r.text().then(function (t) {
	document.getElementById('out').textContent = 'status ' + r.status + ' ' + t; }); })
.catch(function (e) {
	document.getElementById('out').textContent = 'refused ' + e; })
.finally(function () { document.title = 'done'; });
</script></body></html>
EOF
	close($fh);
	my $site_port = PostgreSQL::Test::Cluster::get_free_port();
	my $server = IPC::Run::start(
		[
			'python3', '-m', 'http.server', $site_port,
			'--bind', '127.0.0.1', '--directory', $site
		],
		'<', \undef, '>', "$tmp/site.out", '2>&1');
	my $deadline = time + 20;
	usleep(100_000) until time > $deadline || IO::Socket::INET->new(
		PeerAddr => '127.0.0.1', PeerPort => $site_port);

	# browse($user): the page's text once its fetch() is done
	my $n = 0;
	my $browse = sub {
		my ($user) = @_;
		my $dom = "$tmp/dom" . ++$n;
		IPC::Run::run(
			[
				'timeout', '60', $chromium, '--headless', '--no-sandbox',
				'--disable-gpu', '--no-first-run', '--disable-extensions',
				'--disable-background-networking',
				"--user-data-dir=$tmp/profile$n", '--virtual-time-budget=20000',
				'--dump-dom', "http://127.0.0.1:$site_port/post.html#$user"
			],
			'<', \undef, '>', $dom, '2>', "$dom.err",
			init => sub { $ENV{HOME} = "$tmp/home"; });
		my $html = -e $dom ? slurp_file($dom) : '';
		my ($text) = $html =~ m{<pre id="out">(.*?)</pre>}s;
		return $text // "(no result) $html";
	};

	my $text = $browse->('b1');
	like($text, qr/^refused/, 'the page\'s fetch() POST is refused');
	is(counted('b1'), 'none', '... and journals nothing');
	set_conf($node, 'evproc.allowed_origins', "http://127.0.0.1:$site_port");
	until_status(204, 'OPTIONS', '/liveEvent', undef,
		"Origin: http://127.0.0.1:$site_port",
		'Access-Control-Request-Method: POST');
	$text = $browse->('b2');
	like($text, qr/^status 200 \{"accepted": 1\}/,
		'with its origin allowed, the page\'s POST is taken');
	is(counted('b2'), 5, '... and counted');
	$server->kill_kill;
}

# 5. Plain HTTP on the HTTPS port
my $data = $node->data_dir;
make_cert($data, 'server');
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_cert_file = 'server.crt'");
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_key_file = 'server.key'");
# the reload turns HTTPS on: the worker restarts itself
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
my $offset;

# curl($url, @args): (status or 0, body, seconds taken)
sub curl
{
	my ($url, @args) = @_;
	my ($o, $e) = ('', '');
	my $start = time;
	IPC::Run::run(
		[
			'curl', '-s', '--max-time', '10', @args, '-o', '-', '-w',
			'\n%{http_code}', $url
		],
		'<', \undef, '>', \$o, '2>', \$e);
	my ($body, $status) = $o =~ /^(.*)\n(\d+)$/s;
	return (($status // 0) + 0, $body // '', time - $start);
}
my @https = ("https://127.0.0.1:$port/health", '--cacert', "$data/server.crt");
my $deadline = time + 30;
usleep(100_000) while (curl(@https))[0] != 200 && time < $deadline;
my ($status, $body) = curl(@https);
is($status, 200, 'HTTPS: /health answers');

my $took;
$offset = -s $node->logfile;
($status, $body, $took) = curl("http://127.0.0.1:$port/health");
is($status, 400, 'plain HTTP on the HTTPS port: 400');
like($body, qr{"error": "plain HTTP sent to the HTTPS port; use https://127\.0\.0\.1:$port/health"},
	'... saying to use https://, with the URL');
ok($took < 5, "... at once ($took s)");
($status) = curl("http://127.0.0.1:$port/liveEvent", '-d',
	sprintf($event, 'p1'));
is($status, 400, 'a plain POST too');
is(counted('p1'), 'none', '... which journals nothing');
($status, $body) = curl(@https);
is($status, 200, 'HTTPS still works');
($status) = curl("https://127.0.0.1:$port/liveEvent", '--cacert',
	"$data/server.crt", '-d', sprintf($event, 'p2'));
is($status, 200, '... POST too');
is(counted('p2'), 1, '... counted');
unlike(slurp_file($node->logfile, $offset), qr/handshake message out of context/,
	'the handshakes ended for plain requests are not logged as errors');

done_testing();
