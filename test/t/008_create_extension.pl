# Where CREATE EXTENSION evproc is allowed (the install scripts check it):
#	(a) not without evproc in shared_preload_libraries, even with
#		evproc.database set in postgresql.conf: no worker would run;
#	(b) with evproc preloaded and evproc.database naming another database
#		than "postgres": refused in "postgres", naming both databases, and
#		allowed in the named one, where the worker then serves HTTP.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EvprocTest;

my $node = PostgreSQL::Test::Cluster->new('install');
my $port = PostgreSQL::Test::Cluster::get_free_port();

$node->init;
$node->append_conf('postgresql.conf', "evproc.database = 'appdb'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE appdb');

# (a) not preloaded
my ($rc, $out, $err) = $node->psql('appdb', 'CREATE EXTENSION evproc');
isnt($rc, 0, 'not preloaded: CREATE EXTENSION fails');
like($err, qr/ERROR:  evproc is not loaded via shared_preload_libraries/,
	'not preloaded: the error says so');
like($err, qr/HINT:  Add evproc to shared_preload_libraries, restart the server/,
	'not preloaded: the hint says how');
is($node->safe_psql('appdb',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'evproc'"),
	'0', 'not preloaded: nothing is created');

# (b) preloaded, evproc.database = appdb
$node->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'evproc'
evproc.listen_address = '127.0.0.1'
evproc.port = $port
));
$node->restart;
($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION evproc');
isnt($rc, 0, 'another database: CREATE EXTENSION fails');
like($err,
	qr/ERROR:  evproc can only be created in database "appdb" \(evproc.database\), not in database "postgres"/,
	'another database: the error names both');
like($err,
	qr/HINT:  Connect to database "appdb" and create the extension there, or set evproc.database = 'postgres' and restart the server./,
	'another database: the hint says how');
$node->safe_psql('appdb', 'CREATE EXTENSION evproc');
ok(wait_for_http($port, 60), 'the worker serves HTTP with evproc.database = appdb');
is($node->safe_psql('appdb', 'SELECT evproc_user_revenue(\'nobody\') IS NULL'),
	't', 'the extension works in appdb');

$node->stop;
done_testing();
