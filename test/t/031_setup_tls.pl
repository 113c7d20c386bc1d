# scripts/setup.sh on a cluster whose HTTP port speaks HTTPS, and HTTPS
# turned off again.
#
# A node of the test framework stands for the set-up cluster (setup.sh's
# restart and status need no root and build nothing; EVPROC_PGDATA and
# EVPROC_PGBIN point them at it).  With evproc.tls_cert_file and
# evproc.tls_key_file set (ALTER SYSTEM, as the README shows):
#	- "setup.sh status" says "HTTPS port N";
#	- "setup.sh restart" succeeds (its check goes over HTTPS), says https://,
#	  and the port speaks HTTPS after it;
# then ALTER SYSTEM RESET of both and a reload, nothing else:
#	- plain curl gets 200 again, and a POST is taken;
#	- "setup.sh status" says "HTTP port N", and "setup.sh restart" works.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $setup = "$FindBin::RealBin/../../scripts/setup.sh";
my $tmp = PostgreSQL::Test::Utils::tempdir();
make_cert($tmp, 'one', 1);

my $node = evproc_node('setup_tls');
my $port = http_port($node);
my $pgport = $node->port;
my $bindir = $node->config_data('--bindir');

# setup($verb): runs scripts/setup.sh $verb on the node; (exit status,
# stdout and stderr)
sub setup
{
	my ($verb) = @_;
	my $out = '';
	local $ENV{EVPROC_PGDATA} = $node->data_dir;
	local $ENV{EVPROC_PGBIN} = $bindir;
	local $ENV{EVPROC_PGPORT} = $pgport;
	local $ENV{EVPROC_HTTP_PORT} = $port;
	IPC::Run::run([ 'bash', $setup, $verb ], '<', \undef, '>&', \$out);
	return ($? >> 8, $out);
}

# sql($sql): runs $sql where setup.sh's cluster listens (its socket is in
# /tmp after a restart by setup.sh, not where the framework put it)
sub sql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			"$bindir/psql", '-XAtq', '-h', '/tmp', '-p', $pgport,
			'-U', 'postgres', '-d', 'postgres', '-c', $sql
		],
		'<', \undef, '>', \$out, '2>', \$err);
	chomp $out;
	return $out;
}

# curl(@args): the HTTP status curl gets (000 if none)
sub curl
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'curl', '-s', '--max-time', '10', '-o', '/dev/null',
			'-w', '%{http_code}', @_ ], '<', \undef, '>', \$out, '2>', \$err);
	return $out;
}

# until_curl($want, @args): waits (30 s) until curl(@args) gives $want
sub until_curl
{
	my ($want, @args) = @_;
	my $deadline = time + 30;
	while (time < $deadline)
	{
		return 1 if curl(@args) eq $want;
		usleep(100_000);
	}
	return 0;
}

my $https = "https://127.0.0.1:$port/health";
my @ca = ('--cacert', "$tmp/one.crt");

# HTTPS on, as the README shows it (here applied by a restart)
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_cert_file = '$tmp/one.crt'");
$node->safe_psql('postgres',
	"ALTER SYSTEM SET evproc.tls_key_file = '$tmp/one.key'");
$node->restart;
ok(until_curl('200', @ca, $https), 'the port speaks HTTPS');

my ($rc, $out) = setup('status');
is($rc, 0, 'status with HTTPS on: exit status 0');
like($out, qr/\(PostgreSQL port $pgport, HTTPS port $port\)/,
	'... it says "HTTPS port"')
  or diag($out);

($rc, $out) = setup('restart');
is($rc, 0, 'restart with HTTPS on: exit status 0') or diag($out);
like($out, qr{evproc is running\n\s+HTTPS: https://127\.0\.0\.1:$port },
	'... it says https://')
  or diag($out);
ok(until_curl('200', @ca, $https), '... and the port speaks HTTPS after it');

# HTTPS off: RESET and a reload, nothing else
sql('ALTER SYSTEM RESET evproc.tls_cert_file');
sql('ALTER SYSTEM RESET evproc.tls_key_file');
sql('SELECT pg_reload_conf()');
ok(until_curl('200', "http://127.0.0.1:$port/health"),
	'after RESET and a reload, plain curl gets 200 again');
is(curl('-H', 'Content-Type: application/json', '-d',
		event_json('setup-tls', 'add_revenue', 1),
		"http://127.0.0.1:$port/liveEvent"),
	'200', '... and a POST is taken');

($rc, $out) = setup('status');
like($out, qr/\(PostgreSQL port $pgport, HTTP port $port\)/,
	'status with HTTPS off: "HTTP port"')
  or diag($out);
($rc, $out) = setup('restart');
is($rc, 0, 'restart with HTTPS off: exit status 0') or diag($out);
like($out, qr{evproc is running\n\s+HTTP:\s+http://127\.0\.0\.1:$port },
	'... it says http://')
  or diag($out);

$node->stop;
done_testing();
