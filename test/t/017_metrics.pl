# GET /metrics: Prometheus's text format, checked by promtool without a
# warning, scraped by a real Prometheus server, with figures that match
# what was done (events accepted, requests by route and code, the journal,
# ingest, the build's versions).

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

plan skip_all => 'promtool and prometheus (Debian package prometheus) are not installed'
  unless -x '/usr/bin/promtool' && -x '/usr/bin/prometheus';

my $node = evproc_node('metrics');
my $port = http_port($node);
my $tmp = PostgreSQL::Test::Utils::tempdir();

sub scrape
{
	my %r = raw_request($port, 'GET', '/metrics');
	return ($r{status} // 0, $r{head} // '', $r{body} // '');
}

sub value
{
	my ($text, $series) = @_;
	return $text =~ /^\Q$series\E (\S+)$/m ? $1 : undef;
}

for my $i (1 .. 5)
{
	my ($status) = http_post($port, '/liveEvent',
		qq({"userId":"m$i","name":"add_revenue","value":1}));
	is($status, 200, "m$i acknowledged");
}
my ($status) = http_post($port, '/liveEvent', '{"userId":"m","name":"x"}');
is($status, 400, 'one refused');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');

my ($st, $head, $text) = scrape();
is($st, 200, '/metrics answers');
like($head, qr{^Content-Type: text/plain; version=0\.0\.4}mi, '... in the text format 0.0.4');
is(value($text, 'evproc_events_accepted_total'), 5, 'events accepted: 5');
is(value($text, 'evproc_http_requests_total{route="liveEvent",code="200"}'), 5,
	'requests: liveEvent 200 x5');
is(value($text, 'evproc_http_requests_total{route="liveEvent",code="400"}'), 1,
	'requests: liveEvent 400 x1');
is(value($text, 'evproc_http_request_duration_seconds_count{route="liveEvent"}'), 6,
	'the duration histogram counts them');
is(value($text, 'evproc_ingested_events_total'), 5, 'events ingested: 5');
cmp_ok(value($text, 'evproc_journal_bytes_total') // 0, '>', 0, 'journal bytes');
is(value($text, 'evproc_journal_fsync_seconds_count'), 5, 'five group commits timed');

# build info: one series, value 1, with evproc's version (evproc.control),
# the server's and the libraries'
open(my $control, '<', "$FindBin::RealBin/../../evproc.control") or die $!;
my ($version) = join('', <$control>) =~ /^default_version = '([^']+)'/m;
close($control);
my $server = $node->safe_psql('postgres', 'SHOW server_version');
my ($mhd, $tls) = $text =~
  /^evproc_build_info\{.*,libmicrohttpd="(\d+\.\d+\.\d+)",tls="(GnuTLS \d+\.\d+\.\d+)"\} /m;
ok(defined $tls, 'evproc_build_info: libmicrohttpd="x.y.z",tls="GnuTLS x.y.z"');
is( value(
		$text,
		qq(evproc_build_info{version="$version",postgresql="$server",)
		  . qq(libmicrohttpd="@{[$mhd // '']}",tls="@{[$tls // '']}"})),
	1,
	"... and evproc $version, PostgreSQL $server, value 1");
like($text, qr/^# TYPE evproc_build_info gauge$/m, '... a gauge');

# promtool: no error, no warning
my ($out, $err) = ('', '');
IPC::Run::run([ 'promtool', 'check', 'metrics' ], '<', \$text, '>', \$out, '2>', \$err);
is($? >> 8, 0, 'promtool check metrics accepts it');
is($out . $err, '', '... without a warning');

# a real Prometheus server scrapes it
my $pport = PostgreSQL::Test::Cluster::get_free_port();
open(my $fh, '>', "$tmp/prometheus.yml") or die $!;
print $fh <<"YML";
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: evproc
    static_configs:
      - targets: ['127.0.0.1:$port']
YML
close($fh);
my $prom = IPC::Run::start(
	[
		'prometheus', "--config.file=$tmp/prometheus.yml",
		"--storage.tsdb.path=$tmp/tsdb", "--web.listen-address=127.0.0.1:$pport"
	],
	'<', \undef, '>', "$tmp/prometheus.log", '2>&1');
my $got = '';
my $deadline = time + 60;
while (time < $deadline)
{
	my $reply = `curl -s 'http://127.0.0.1:$pport/api/v1/query?query=evproc_events_accepted_total'`;
	if ($reply =~ /"value":\[[\d.]+,"(\d+)"\]/)
	{
		$got = $1;
		last;
	}
	usleep(500_000);
}
is($got, '5', 'Prometheus scraped evproc_events_accepted_total = 5');
my $up = `curl -s 'http://127.0.0.1:$pport/api/v1/query?query=up'`;
like($up, qr/"value":\[[\d.]+,"1"\]/, 'and the target is up');
$prom->kill_kill;

done_testing();
