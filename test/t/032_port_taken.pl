# A second server never shares the first one's HTTP port.
#
# Two clusters of the same user, both with evproc.workers = 2 (so both
# bind with SO_REUSEPORT, which Linux would let them share), on one HTTP
# port:
#	- the first one's two workers serve it;
#	- the second one's workers refuse the port: the log says "HTTP port N
#	  is in use by another process", and they try again later (the message
#	  comes again);
#	- the first one answers every request: 50 GETs on new connections all
#	  get its user's revenue (the second cluster has no such user: 404);
#	- once the first cluster stops, the second one's workers take the port.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use EvprocTest;

my $first = evproc_node('port_first', "evproc.workers = 2\n");
my $port = http_port($first);

my @pids = split /\n/, worker_pid($first);
is(scalar(@pids), 2, 'the first cluster runs two workers');
is(add_revenue($port, 'port-owner', 7), 200, 'a POST to the first cluster');
rotate($first);

# the second cluster, on the same HTTP port (not evproc_node: it would
# wait for its own port to answer)
my $second = PostgreSQL::Test::Cluster->new('port_second');
$second->init;
$second->append_conf(
	'postgresql.conf', qq(
shared_preload_libraries = 'evproc'
evproc.listen_address = '127.0.0.1'
evproc.port = $port
evproc.database = 'postgres'
evproc.workers = 2
));
$second->start;
$second->safe_psql('postgres', 'CREATE EXTENSION evproc');

my $refused = qr/evproc: HTTP port $port is in use by another process/;
ok(log_match($second, $refused, 0, 30),
	'the second cluster\'s workers refuse the port, saying so');
my $log = slurp_file($second->logfile);
unlike($log, qr/evproc: listening on 127\.0\.0\.1:$port,/,
	'... and no worker of it listens');

# every request reaches the first cluster
my %got;
for my $i (1 .. 50)
{
	my %r = raw_request($port, 'GET', '/userEvents/port-owner');
	my $what = ($r{status} // 'none') . ' ' . ($r{body} // '');
	$what =~ s/\s+$//;
	$got{$what}++;
}
my @answers = keys %got;
is(scalar(@answers), 1, '50 GETs got one answer')
  or diag(explain(\%got));
like($answers[0], qr/^200 .*"revenue": 7\b/,
	'... the first cluster\'s user: every GET reached it');

# it keeps refusing (the worker is started again after bgw_restart_time)
my $offset = length($log);
ok(log_match($second, $refused, $offset, 30),
	'the second cluster tries again, and refuses again');

# once the port is free, the second cluster takes it
$first->stop;
ok(log_match($second, qr/evproc: listening on 127\.0\.0\.1:$port,/, 0, 30),
	'once the first cluster stops, the second one listens');
ok(wait_for_http($port, 30), '... and answers');
my %r = raw_request($port, 'GET', '/userEvents/port-owner');
is($r{status}, 404, '... with its own data (no such user)');

$second->stop;
done_testing();
