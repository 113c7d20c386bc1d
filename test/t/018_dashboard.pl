# GET /topUsers and GET /dashboard.
#
#	(a) /topUsers: the users with the largest revenue, largest first, ties
#		by userId in bytes, values as exact decimal strings; limit (1 to
#		100, default 10) and metric (the metric-name rule) checked: 400
#		with a JSON error; 405 for other methods;
#	(b) during a file's ingest transaction (a file of 200000 users, many
#		passes), the top list is the committed one: never the file half
#		counted, nor a user the file brings in before its commit;
#	(c) with a token: /topUsers and /metrics need it (401), /dashboard
#		does not (the same bytes for everyone); the page's headers
#		(text/html, no-cache, a Content-Security-Policy of its own origin
#		and its inline script's and style's hashes) and no URL of another
#		host in it;
#	(d) the page in headless Chromium, driven over the DevTools protocol
#		(--remote-debugging-pipe: the page keeps its stream open, so
#		--dump-dom would wait forever), its token in the URL's fragment:
#		the rendered total of events accepted is what /metrics says and
#		what was posted, the top users are SQL's, the backlog and ingest
#		figures are numbers; events posted while it is open show up (the
#		top list from the stream, the total from polling); no console
#		error, no exception, no request to another host, and the token is
#		gone from the address bar.
#
# (d) is skipped when Chromium is not installed (scripts/deps.sh installs it).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use File::Spec;
use IO::Select;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('dashboard');
my $port = http_port($node);
my $dir = journal_dir($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $token = '';

sub get
{
	my ($path, @headers) = @_;
	push @headers, "Authorization: Bearer $token" if $token ne '';
	my %r = raw_request($port, 'GET', $path, undef, @headers);
	return ($r{status} // 0, $r{body} // '', $r{head} // '');
}

sub post_events
{
	my @events = @_;
	my $body = '[' . join(',', map { event_json(@$_) } @events) . ']';
	my @h = ('Content-Type: application/json');
	push @h, "Authorization: Bearer $token" if $token ne '';
	my %r = raw_request($port, 'POST', '/liveEvent', $body, @h);
	return $r{status} // 0;
}

# the top list as SQL gives it, as /topUsers writes it
sub sql_top
{
	my ($limit) = @_;
	my $rows = $node->safe_psql('postgres',
		"SELECT user_id, revenue FROM evproc.user_revenue ORDER BY revenue DESC, user_id COLLATE \"C\" LIMIT $limit");
	return '{"metric": "revenue", "users": ['
	  . join(', ',
		map { my ($u, $v) = split /\|/; qq({"userId": "$u", "value": "$v"}) }
		  split /\n/, $rows)
	  . ']}';
}

# --- (a) /topUsers ---
my @events = (
	[ 'u-low', 'add_revenue', 1 ],
	[ 'u-mid', 'add_revenue', '12.345' ],
	[ 'tie-a', 'add_revenue', 50 ],
	[ 'tie-B', 'add_revenue', 50 ],
	[ 'u-big', 'add_revenue', '123456789012345678.25' ],
	[ 'u-neg', 'subtract_revenue', 7 ],
	[ 'u-zero', 'add_revenue', 0 ],
	map { [ "u$_", 'add_revenue', $_ ] } 1 .. 12);
my $posted = scalar @events;
is(post_events(@events), 200, "$posted events posted");
rotate($node);

my ($status, $body) = get('/topUsers');
is($status, 200, '/topUsers answers');
is($body, sql_top(10) . "\n", 'default: the top 10 as SQL orders them');
like($body,
	qr/^\{"metric": "revenue", "users": \[\{"userId": "u-big", "value": "123456789012345678\.25"\}, \{"userId": "tie-B", "value": "50"\}, \{"userId": "tie-a", "value": "50"\}, \{"userId": "u-mid", "value": "12\.345"\}, \{"userId": "u12", "value": "12"\}/,
	'largest first, exact decimals, ties by userId in bytes')
  or diag($body);
($status, $body) = get('/topUsers?limit=3');
is($body, sql_top(3) . "\n", 'limit=3');
($status, $body) = get('/topUsers?limit=100');
is($body, sql_top(100) . "\n", 'limit=100: all of them');
like($body, qr/"userId": "u-neg", "value": "-7"\}\]\}$/, '... the negative one last');
($status, $body) = get('/topUsers?limit=1&metric=revenue');
is($body, sql_top(1) . "\n", 'metric=revenue');
($status, $body) = get('/topUsers?metric=clicks');
is("$status $body", qq(200 {"metric": "clicks", "users": []}\n),
	'a metric nobody has: an empty list');

for my $bad ('limit=0', 'limit=101', 'limit=-1', 'limit=abc', 'limit=1x',
	'limit=', 'limit=99999999999999999999')
{
	($status, $body) = get("/topUsers?$bad");
	is($status, 400, "$bad: 400");
	like($body, qr/^\{"error": "limit must be an integer from 1 to 100"\}$/,
		"$bad: a JSON error");
}
for my $bad ('metric=1abc', 'metric=', 'metric=a%20b', 'metric=' . ('m' x 64))
{
	($status, $body) = get("/topUsers?$bad");
	is($status, 400, "$bad: 400");
	like($body, qr/^\{"error": "metric must /, "$bad: a JSON error naming the rule");
}
my %r = raw_request($port, 'POST', '/topUsers', '');
is($r{status}, 405, 'POST /topUsers: 405');
%r = raw_request($port, 'HEAD', '/topUsers');
is($r{status}, 200, 'HEAD /topUsers: 200');

# --- (b) during a file's ingest transaction ---
{
	# "aaa" (first upsert chunk) gets a sum that would put it on top, and
	# "aab", new, too: neither may be seen before the file's commit
	my $data = '';
	for my $i (0 .. 199999)
	{
		my ($user, $value) =
			$i == 0 ? ('aaa', '900000000000000000')
		  : $i == 1 ? ('aab', '990000000000000000')
		  : (sprintf('m%06d', $i), 1);
		$data .=
		  qq({"userId": "$user", "name": "add_revenue", "value": $value, "eventId": "during-$i"}\n);
	}
	is(post_events([ 'aaa', 'add_revenue', 3 ]), 200, 'during: aaa known before');
	rotate($node);
	my $before = sql_top(5) . "\n";
	open(my $fh, '>', "$dir/events-during.jsonl") or die $!;
	print $fh $data;
	close($fh);

	my $rotate = $node->background_psql('postgres');
	$rotate->query_until(qr/started/, "\\echo started\nSELECT evproc_rotate();\n");
	my %seen;
	my ($during, $wrong) = (0, 0);
	my $t_end = time + 60;
	while (time < $t_end)
	{
		my $open_before = ingest_transaction_open($node);
		($status, $body) = get('/topUsers?limit=5');
		$seen{ $body eq $before ? 'before' : 'other' }++;
		if ($body eq $before)
		{
			$during++ if $open_before && ingest_transaction_open($node);
			next;
		}
		# anything else only once the file is recorded
		note "during: $status $body";
		$wrong++
		  unless $node->safe_psql('postgres',
			"SELECT count(*) FROM evproc.processed_files WHERE filename = 'events-during.jsonl'"
		  ) eq '1';
		last;
	}
	$rotate->quit;
	note 'during: ' . join(', ', map { "$_ x$seen{$_}" } sort keys %seen);
	is($wrong, 0, 'during: no top list saw the file before its commit');
	cmp_ok($during, '>', 0,
		"during: top lists answered while the transaction was open ($during)");
	($status, $body) = get('/topUsers?limit=5');
	is($body, sql_top(5) . "\n", 'during: after the commit, the new top');
	like($body, qr/^\{"metric": "revenue", "users": \[\{"userId": "aab", "value": "990000000000000000"\}, \{"userId": "aaa", "value": "900000000000000003"\}/,
		'during: ... with the file counted');
	$posted += 1;
}

# --- (c) with a token ---
set_conf($node, 'evproc.auth_token', 'dash-secret');
($status, $body) = get('/topUsers');
is($status, 401, 'token: /topUsers without it: 401');
like($body, qr/^\{"error": /, '... with a JSON error');
($status) = get('/metrics');
is($status, 401, 'token: /metrics without it: 401');
$token = 'dash-secret';
($status, $body) = get('/topUsers');
is($status, 200, 'token: /topUsers with it: 200');
$token = '';

my $head;
($status, $body, $head) = get('/dashboard');
is($status, 200, 'token: /dashboard needs none');
like($head, qr{^Content-Type: text/html; charset=utf-8\r?$}mi, 'dashboard: text/html');
like($head, qr{^Cache-Control: no-cache\r?$}mi, 'dashboard: no-cache');
my ($csp) = $head =~ /^Content-Security-Policy: (.*?)\r?$/mi;
$csp //= '';
like($csp, qr/^default-src 'self'; script-src 'sha256-[A-Za-z0-9+\/]{43}='; style-src 'sha256-[A-Za-z0-9+\/]{43}='; /,
	"dashboard: CSP of its own origin and its inline script's and style's hashes");
unlike($csp, qr/unsafe|http|\*/, 'dashboard: CSP lets in nothing else');
unlike($body, qr{(https?|wss?):/}i, 'dashboard: no URL of another host in the page');
like($body, qr/id="total-accepted"/, 'dashboard: the page');
%r = raw_request($port, 'HEAD', '/dashboard');
is($r{status}, 200, 'HEAD /dashboard: 200');
%r = raw_request($port, 'POST', '/dashboard', '');
is($r{status}, 405, 'POST /dashboard: 405');

# --- (d) the page in Chromium ---
my $chromium = chromium_path();
SKIP:
{
	skip 'no chromium (scripts/deps.sh installs it)', 1 unless $chromium;
	$token = 'dash-secret';

	# Chromium reads the protocol's messages (JSON, each ended by a NUL)
	# on fd 3 and writes on fd 4
	pipe(my $to_r, my $to_w) or die $!;
	pipe(my $from_r, my $from_w) or die $!;
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		# (POSIX::dup's descriptors are kept across exec; the lower goes first)
		my ($in, $out) = (POSIX::dup(fileno($to_r)), POSIX::dup(fileno($from_w)));
		POSIX::dup2($in, 3);
		POSIX::dup2($out, 4);
		open(STDOUT, '>', "$tmp/chromium.out");
		open(STDERR, '>', "$tmp/chromium.err");
		$ENV{HOME} = "$tmp/home";
		exec('timeout', '180', $chromium, '--headless', '--no-sandbox',
			'--disable-gpu', '--no-first-run', '--disable-extensions',
			'--disable-background-networking', "--user-data-dir=$tmp/profile",
			'--remote-debugging-pipe', 'about:blank') or POSIX::_exit(127);
	}
	close($to_r);
	close($from_w);
	$to_w->autoflush(1);

	my $json = JSON::PP->new->canonical;
	my ($next_id, $inbuf, @events_seen) = (1, '');
	my $sel = IO::Select->new($from_r);

	# cdp($method, $params, $session): sends a command and returns its
	# result (dies on an error); the events meanwhile go to @events_seen
	my $cdp = sub {
		my ($method, $params, $session) = @_;
		my $id = $next_id++;
		my %msg = (id => $id, method => $method, params => $params // {});
		$msg{sessionId} = $session if $session;
		syswrite($to_w, $json->encode(\%msg) . "\0") or die "write: $!";
		my $deadline = time + 30;
		while (time < $deadline)
		{
			while ($inbuf =~ s/^([^\0]*)\0//)
			{
				my $m = $json->decode($1);
				if (defined $m->{id} && $m->{id} == $id)
				{
					die "$method: " . $json->encode($m->{error}) if $m->{error};
					return $m->{result};
				}
				push @events_seen, $m if $m->{method};
			}
			next unless $sel->can_read(0.2);
			my $n = sysread($from_r, my $chunk, 1 << 20);
			die 'chromium closed the pipe: ' . slurp_file("$tmp/chromium.err") unless $n;
			$inbuf .= $chunk;
		}
		die "$method: no answer";
	};

	my $target = $cdp->('Target.createTarget', { url => 'about:blank' })->{targetId};
	my $session = $cdp->('Target.attachToTarget', { targetId => $target, flatten => JSON::PP::true })->{sessionId};
	$cdp->($_, {}, $session) for 'Runtime.enable', 'Log.enable', 'Network.enable', 'Page.enable';
	my $eval = sub {
		my ($expr) = @_;
		my $r = $cdp->('Runtime.evaluate', { expression => $expr, returnByValue => JSON::PP::true }, $session);
		return $r->{result}{value};
	};
	my $wait_for = sub {
		my ($expr, $timeout) = @_;
		my $deadline = time + $timeout;
		while (time < $deadline)
		{
			my $v = $eval->($expr);
			return $v if $v;
			usleep(200_000);
		}
		return undef;
	};
	my $page_state = q{JSON.stringify({
		total: document.getElementById('total-accepted').textContent,
		ingested: document.getElementById('total-ingested').textContent,
		files: document.getElementById('backlog-files').getAttribute('data-value'),
		bytes: document.getElementById('backlog-bytes').getAttribute('data-value'),
		lag: document.getElementById('ingest-lag').getAttribute('data-value'),
		rejected: document.getElementById('rejected-lines').textContent,
		status: document.getElementById('status').getAttribute('data-state'),
		stream: document.getElementById('stream-status').textContent,
		url: location.href,
		top: Array.prototype.map.call(document.querySelectorAll('#top-users tr.top-user'),
			function (tr) { return [tr.getAttribute('data-user'), tr.getAttribute('data-value')]; })
	})};

	my $base = "http://127.0.0.1:$port";
	$cdp->('Page.navigate', { url => "$base/dashboard#token=$token" }, $session);
	ok($wait_for->(q{document.body && document.body.getAttribute('data-ready') === '1'}, 60),
		'browser: the page has rendered its figures');
	my $state = $json->decode($eval->($page_state) // '{}');

	($status, my $metrics) = get('/metrics');
	my ($accepted) = $metrics =~ /^evproc_events_accepted_total (\d+)$/m;
	is($state->{total}, $accepted, "browser: total accepted is what /metrics says ($accepted)");
	is($state->{total}, $posted, "browser: ... and what was posted ($posted)");
	my $sql = $node->safe_psql('postgres',
		"SELECT string_agg(user_id || '=' || revenue, ',' ORDER BY revenue DESC, user_id COLLATE \"C\") FROM (SELECT * FROM evproc.user_revenue ORDER BY revenue DESC, user_id COLLATE \"C\" LIMIT 10) t");
	is(join(',', map { "$_->[0]=$_->[1]" } @{ $state->{top} // [] }), $sql,
		'browser: the top users are SQL\'s');
	like($state->{files} // '', qr/^\d+$/, "browser: backlog files a number ($state->{files})");
	like($state->{bytes} // '', qr/^\d+$/, "browser: backlog bytes a number ($state->{bytes})");
	like($state->{lag} // '', qr/^\d+(\.\d+)?$/, "browser: ingest lag a number ($state->{lag})");
	my ($ingested) = $metrics =~ /^evproc_ingested_events_total (\d+)$/m;
	is($state->{ingested}, $ingested, "browser: events ingested is /metrics' ($ingested)");
	is($state->{status}, 'live', 'browser: the status says live');
	unlike($state->{url}, qr/token|secret/, 'browser: the token is gone from the address bar');
	ok($wait_for->(q{document.getElementById('stream-status').textContent === 'connected'}, 30),
		'browser: the stream is connected');

	# while it is open: a new top user (the stream) and more events (polling)
	is(post_events([ 'live-top', 'add_revenue', '999999999999999999.5' ], [ 'u1', 'add_revenue', 1 ]),
		200, 'browser: two more events posted');
	$posted += 2;
	rotate($node);
	ok($wait_for->(q{(function () { var tr = document.querySelector('#top-users tr.top-user');
		return tr && tr.getAttribute('data-user') === 'live-top'
			&& tr.getAttribute('data-value') === '999999999999999999.5'; })()}, 30),
		'browser: the new top user shows up, exact');
	ok($wait_for->("document.getElementById('total-accepted').textContent === '$posted'", 30),
		"browser: the total follows ($posted)");
	$state = $json->decode($eval->($page_state) // '{}');
	$sql = $node->safe_psql('postgres',
		"SELECT string_agg(user_id || '=' || revenue, ',' ORDER BY revenue DESC, user_id COLLATE \"C\") FROM (SELECT * FROM evproc.user_revenue ORDER BY revenue DESC, user_id COLLATE \"C\" LIMIT 10) t");
	is(join(',', map { "$_->[0]=$_->[1]" } @{ $state->{top} // [] }), $sql,
		'browser: the top users are still SQL\'s');

	# what the page did meanwhile: same-origin requests only, no error
	$eval->('1');		# collects the last events
	my @urls = map { $_->{params}{request}{url} }
	  grep { ($_->{method} // '') eq 'Network.requestWillBeSent' } @events_seen;
	cmp_ok(scalar(@urls), '>=', 3, 'browser: the page made requests (' . scalar(@urls) . ')');
	is(join(' ', grep { !m{^\Q$base\E/} && !m{^data:} } @urls), '',
		'browser: none to another host');
	my @errors = map { $json->encode($_->{params}) }
	  grep {
		my $m = $_->{method} // '';
		$m eq 'Runtime.exceptionThrown'
		  || ($m eq 'Runtime.consoleAPICalled' && $_->{params}{type} =~ /error|warn/)
		  || ($m eq 'Log.entryAdded' && $_->{params}{entry}{level} =~ /error|warn/)
	  } @events_seen;
	is(join("\n", @errors), '', 'browser: no console error or exception');

	# without the token, the page says so
	$cdp->('Page.navigate', { url => "$base/dashboard" }, $session);
	$eval->('sessionStorage.clear(); location.reload(); 1');
	ok($wait_for->(q{document.getElementById('status') && document.getElementById('status').getAttribute('data-state') === 'token'}, 30),
		'browser: without the token the page asks for it');

	eval { $cdp->('Browser.close') };
	close($to_w);
	waitpid($pid, 0);
	$token = '';
}

done_testing();
