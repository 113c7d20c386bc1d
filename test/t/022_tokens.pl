# Tokens of evproc.tokens never leak, and evproc.auth_token works beside
# them.
#
# With every statement logged (log_statement = 'all', log_min_messages =
# debug1, durations, and auto_explain's plans of nested statements), tokens
# are created (one in a session that stays open), used over HTTP (accepted,
# refused for their scope, revoked), a creation fails; then no token is in
# the server log, in pg_stat_activity (the open session's and the worker's
# activity included), in any of evproc's tables (every row's text), in the
# journal, or in any file of the data directory after a checkpoint.  Only
# its SHA-256 is kept, and last_used is written by the worker.
#
# evproc.auth_token (set in postgresql.conf at start: PostgreSQL logs it
# when it changes on reload) works beside the table's tokens with every
# scope, also once they are all revoked; and the server does not become
# open while revoked tokens remain: only deleting every row of the table
# opens it again (a new token closes it).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Digest::SHA qw(sha256_hex);
use File::Find;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $setting_token = 'tap-setting-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 24);
my $explain = -e '/usr/lib/postgresql/15/lib/auto_explain.so'
  || -e (`pg_config --pkglibdir` =~ s/\s+$//r) . '/auto_explain.so';
my $node = evproc_node(
	'tokens', qq(
evproc.auth_token = '$setting_token'
log_statement = 'all'
log_min_messages = debug1
log_min_duration_statement = 0
log_min_error_statement = debug1
log_parameter_max_length = -1
log_parameter_max_length_on_error = -1
)
	  . ($explain ? qq(
session_preload_libraries = 'auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_verbose = on
) : ''));
my $port = http_port($node);

# req($method, $path, $token, $body): the status of a request with the token
# (undef: none)
sub req
{
	my ($method, $path, $token, $body) = @_;
	my %r = raw_request($port, $method, $path, $body,
		defined $token ? ("Authorization: Bearer $token") : ());
	return $r{status} // 'none';
}

my $n = 0;

sub post
{
	my ($token) = @_;
	$n++;
	return req('POST', '/liveEvent', $token,
		event_json("tap-tok-$n", 'add_revenue', 1));
}

# until_status($want, $timeout, $sub): calls $sub until it returns $want
sub until_status
{
	my ($want, $timeout, $sub) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if $sub->() eq $want;
		usleep(20_000);
	}
	return 0;
}

# the setting's token is in force: no token, 401; it lets in both ways
is(post(undef), 401, 'setting: no token gets 401');
is(post($setting_token), 200, 'setting: its token may POST');
is(req('GET', '/topUsers', $setting_token), 200,
	'setting: its token may GET');

# tokens: one created in a session that stays open
my $bg = $node->background_psql('postgres');
my $tok_bg = $bg->query_safe("SELECT evproc_create_token('tap-bg', '{read}')");
chomp $tok_bg;
my $tok_both = $node->safe_psql('postgres', "SELECT evproc_create_token('tap-both')");
my $tok_w = $node->safe_psql('postgres',
	"SELECT evproc_create_token('tap-write', '{write}', 100)");
my $tok_r = $node->safe_psql('postgres',
	"SELECT evproc_create_token('tap-read', ARRAY['read'], NULL, now() + interval '1 hour')");
my @tokens = ($tok_bg, $tok_both, $tok_w, $tok_r);
like($_, qr/^evp_[A-Za-z0-9_-]{43}$/, 'a token is evp_ and 43 base64url characters')
  for @tokens;

ok(until_status(200, 5, sub { post($tok_w) }), 'write token: POST 200');
is(req('GET', '/topUsers', $tok_w), 403, 'write token: GET 403');
is(post($tok_r), 403, 'read token: POST 403');
is(req('GET', '/topUsers', $tok_r), 200, 'read token: GET 200');
is(req('GET', '/metrics', $tok_bg), 200, 'the open session\'s token: /metrics 200');
is(post($tok_both), 200, 'both scopes: POST 200');
is(req('GET', '/topUsers', $tok_both), 200, 'both scopes: GET 200');
is(post("${tok_both}x"), 401, 'a longer token: 401');
is(post(substr($tok_both, 0, -1)), 401, 'a shorter token: 401');

# beside the table's tokens, the setting's works, with every scope
is(post($setting_token), 200, 'setting beside tokens: POST 200');
is(req('GET', '/metrics', $setting_token), 200, 'setting beside tokens: GET 200');

# a failed creation (its statement logged with the error)
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT evproc_create_token('tap-both')");
like($err, qr/token 'tap-both' already exists/, 'a duplicate name is refused');

# last_used is written by the worker
ok( query_until(
		$node,
		"SELECT count(*) FROM evproc.tokens WHERE last_used IS NOT NULL AND name IN ('tap-bg', 'tap-both', 'tap-write', 'tap-read')",
		'4', 10),
	'last_used is written for the tokens used');

# every token revoked: no token still gets 401 (revoked ones count), they
# get 401, the setting's token still works
$node->safe_psql('postgres',
	"SELECT evproc_revoke_token(name) FROM evproc.tokens");
ok(until_status(401, 5, sub { post($tok_both) }), 'revoked: 401');
is(post($tok_w), 401, 'revoked write token: 401');
is(post(undef), 401, 'all revoked: no token still 401');
is(post($setting_token), 200, 'all revoked: the setting\'s token still works');

# pg_stat_activity: the open session, the worker, everyone
my $activity = $node->safe_psql('postgres',
	"SELECT string_agg(coalesce(query, '') || ' ' || coalesce(application_name, ''), E'\\n') FROM pg_stat_activity");
like($activity, qr/evproc_create_token\('tap-bg'/,
	'pg_stat_activity shows the open session\'s creation');
for my $i (0 .. $#tokens)
{
	unlike($activity, qr/\Q$tokens[$i]\E/, "token $i is not in pg_stat_activity");
}
$bg->quit;

# the server log, before anything below could put a token there: every
# statement was logged, no token
my $log = slurp_file($node->logfile);
like($log, qr/statement: SELECT evproc_create_token\('tap-both'\)/,
	'log_statement logged the creations');
like($log, qr/tokens read from evproc.tokens/, 'debug1 messages are logged');
like($log, qr/token 'tap-both' already exists/, 'the failed creation is logged');
SKIP:
{
	skip 'auto_explain is not installed', 1 unless $explain;
	like($log, qr/Query Text: INSERT INTO evproc\.tokens/,
		'auto_explain logged the nested INSERT');
}
for my $i (0 .. $#tokens)
{
	unlike($log, qr/\Q$tokens[$i]\E/, "token $i is not in the server log");
}
unlike($log, qr/\Q$setting_token\E/, 'the setting\'s token is not in the server log');

# every row of every table of evproc, as text, searched here (a query that
# named the token would put it in the log); the hashes are SHA-256
my @tables = split /\n/, $node->safe_psql('postgres',
	"SELECT c.oid::regclass FROM pg_class c WHERE c.relnamespace = 'evproc'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')"
);
ok(scalar(grep { $_ eq 'evproc.tokens' } @tables), 'evproc.tokens is scanned');
my $rows = join("\n",
	map { $node->safe_psql('postgres', "SELECT t::text FROM $_ AS t") } @tables);
like($rows, qr/tap-both/, 'the rows were read');
my %hashes = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', "SELECT encode(hash, 'hex') FROM evproc.tokens");
for my $i (0 .. $#tokens)
{
	unlike($rows, qr/\Q$tokens[$i]\E/, "token $i is in no row of evproc's tables");
	ok($hashes{ sha256_hex($tokens[$i]) }, "token $i: its SHA-256 is kept");
}

# no file of the data directory (tables, WAL, journal) holds one, after a
# checkpoint (the server log is above)
$node->safe_psql('postgres', 'CHECKPOINT');
my %found;
my $files = 0;
find(
	{
		no_chdir => 1,
		wanted => sub {
			return unless -f $_;
			return if $_ =~ m{/log/};
			$files++;
			my $data = eval { slurp_file($_) } // '';
			for my $t (@tokens, $setting_token)
			{
				$found{$_} = 1 if index($data, $t) >= 0;
			}
		}
	},
	$node->data_dir);
cmp_ok($files, '>', 100, 'the data directory was read');
# the setting's token is in postgresql.conf, nowhere else
is_deeply([ sort keys %found ], [ $node->data_dir . '/postgresql.conf' ],
	'no token in the files of the data directory (the setting\'s in postgresql.conf)');

# a stream let in by a token ends once the token is revoked (the client
# reconnects and is refused), and once the table loses it: a DROP
# EXTENSION does not open the server
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $tok_stream = $node->safe_psql('postgres',
	"SELECT evproc_create_token('tap-stream', '{read}')");
ok(until_status(200, 5, sub { req('GET', '/userEvents/nobody-here', $tok_stream) eq '404' ? 200 : 0 }),
	'the stream token is known');
my $sub = sse_subscribe($port, $tmp, '/stream', "Authorization: Bearer $tok_stream");
is($sub->{status}, 200, 'a stream opened with the token');
ok(until_status('1', 5, sub { $node->safe_psql('postgres', 'SELECT subscribers FROM evproc.stats') }),
	'... the worker holds it');
$node->safe_psql('postgres', "SELECT evproc_revoke_token('tap-stream')");
my $ended = 0;
for (1 .. 100)
{
	if ($node->safe_psql('postgres', 'SELECT subscribers FROM evproc.stats') eq '0')
	{
		$ended = 1;
		last;
	}
	usleep(50_000);
}
ok($ended, 'revoking the token ends its open stream within 5 s');
$sub->{h}->kill_kill;
is(req('GET', '/stream', $tok_stream), 401, '... and it cannot reconnect');

my $tok_keep = $node->safe_psql('postgres',
	"SELECT evproc_create_token('tap-keep', '{write}')");
ok(until_status(200, 5, sub { post($tok_keep) }), 'a write token works');
# without the setting's token: only the table's tokens close the server
$node->append_conf('postgresql.conf', "evproc.auth_token = ''\n");
$node->reload;
usleep(1_000_000);
is(post(undef), 401, 'without the setting, the table\'s tokens keep the server closed');

# the way back to an open server: revoking every token keeps it closed,
# deleting every row (one statement; the trigger tells the worker) opens it
$node->safe_psql('postgres', "SELECT evproc_revoke_token('tap-keep')");
ok(until_status(401, 5, sub { post($tok_keep) }), 'tap-keep revoked: 401');
is(post(undef), 401, 'all revoked, no setting: no token still 401 (not open)');
is(req('GET', '/topUsers', undef), 401, '... for reads too');
$node->safe_psql('postgres', 'DELETE FROM evproc.tokens');
ok(until_status(200, 5, sub { post(undef) }),
	'DELETE FROM evproc.tokens: the server is open again (no token: 200)');
is(req('GET', '/topUsers', undef), 200, '... for reads too');
$tok_keep = $node->safe_psql('postgres',
	"SELECT evproc_create_token('tap-keep', '{write}')");
ok(until_status(401, 5, sub { post(undef) }),
	'a new token closes it again');
is(post($tok_keep), 200, '... and the new token works');
$node->safe_psql('postgres', 'DROP EXTENSION evproc');
usleep(2_500_000);
is(post(undef), 401, 'after DROP EXTENSION, no token still gets 401 (not open)');
# (with the journal in the database, its tables went with the extension:
# the token is taken, the write refused)
is(post($tok_keep), journal_in_database($node) ? 503 : 200,
	'... the tokens read before stay in force');
ok(log_match($node, qr/evproc\.tokens cannot be read any more; the tokens read before stay in force/),
	'... which the log says');

$node->stop;
done_testing();
