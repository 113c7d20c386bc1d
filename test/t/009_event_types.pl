# Event types defined in SQL: an event counts under the definition it was
# accepted with, whatever happens to that definition before its file is
# ingested, even across a crash of the postmaster.
#
# Types are defined and events of each effect acknowledged; then, before
# any of them is ingested, one type is redefined (other effect), one is
# dropped and one moved to another metric, and the postmaster is killed
# with SIGKILL.  After recovery everything is ingested and every
# acknowledged event has counted exactly once, under its old definition.
# Then new events count under the new definitions, a dropped type is
# refused with 400, and a file dropped in by hand (lines without a
# recorded type) is read with the definitions current at ingest, its
# unknown types going to evproc.rejected_lines.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

use EvprocTest;

my $node = evproc_node('types');
my $port = http_port($node);

# post($user, $name, $value) POSTs one event; $value undef: none given
sub post
{
	my ($user, $name, $value) = @_;
	my $body =
	  defined $value
	  ? qq({"userId":"$user","name":"$name","value":$value})
	  : qq({"userId":"$user","name":"$name"});
	return http_post($port, '/liveEvent', $body);
}

# until_status($status, @event) posts the event until it gets $status
# (the worker has taken a definition into account); returns the seconds
# it took, or undef after 10 s.
sub until_status
{
	my ($want, @event) = @_;
	my $start = time;
	while (time - $start < 10)
	{
		my ($status) = post(@event);
		return time - $start if defined $status && $status == $want;
		usleep(20_000);
	}
	return undef;
}

sub metrics_of
{
	my ($user) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(evproc_user_metrics('$user')::text, 'none')");
}

# 1. define types; each takes effect without a restart or reload
my $t0 = time;
$node->safe_psql('postgres', q{
	SELECT evproc_define_event_type('refund', 'revenue', 'subtract');
	SELECT evproc_define_event_type('purchase', 'purchases', 'count');
	SELECT evproc_define_event_type('credit', 'credits', 'add');
});
my $took = until_status(200, 'probe', 'credit', 1);
ok(defined $took, 'a new type is accepted without a restart or reload');
note sprintf('new type accepted %.3f s after its commit', $took // -1);

# 2. events of each effect, acknowledged under these definitions
my @acked;
for my $event (
	[ 'u1', 'add_revenue', 10 ],
	[ 'u1', 'refund', 4 ],
	[ 'u1', 'purchase', undef ],
	[ 'u1', 'purchase', 99 ],    # a count's value is ignored
	[ 'u2', 'credit', '7.5' ],
	[ 'u2', 'refund', 1 ])
{
	my ($status, $body) = post(@$event);
	is($status, 200, "$event->[0] $event->[1] acknowledged");
	push @acked, $event if defined $status && $status == 200;
}
is(scalar @acked, 6, 'all six events acknowledged');

# 3. before any of them is ingested: redefine, drop, move to another metric
$node->safe_psql('postgres', q{
	SELECT evproc_define_event_type('refund', 'revenue', 'add');
	SELECT evproc_drop_event_type('purchase');
	SELECT evproc_define_event_type('credit', 'bonus', 'add');
});
ok(defined until_status(400, 'probe2', 'purchase', undef),
	'a dropped type is refused once the worker has seen the change');
is($node->safe_psql('postgres', 'SELECT count(*) FROM evproc.processed_files'),
	'0', 'nothing ingested yet');

# 4. crash before ingest
ok(kill9_and_wait($node, 60), 'postmaster killed, old processes gone');
$node->start;
ok(wait_for_http($port, 60), 'evproc serves again after recovery');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');

# 5. every acknowledged event counted once, under the definition it was
# accepted with
is(metrics_of('u1'), '{"revenue": 6, "purchases": 2}',
	'u1: 10 - 4 (refund was subtract), 2 purchases (dropped since)');
is(metrics_of('u2'), '{"credits": 7.5, "revenue": -1}',
	'u2: credits (not bonus, its new metric), refund subtracted');
is($node->safe_psql('postgres', 'SELECT evproc_user_revenue(\'u1\')'),
	'6', 'evproc_user_revenue reads the revenue metric');
is($node->safe_psql('postgres',
		'SELECT sum(events) >= 7, sum(rejected) FROM evproc.processed_files'),
	't|0', 'the six events and the probes, no rejected line');

# 6. new events count under the new definitions
my ($status, $body) = post('u3', 'refund', 3);
is($status, 200, 'refund under its new definition');
($status, $body) = post('u3', 'credit', 4);
is($status, 200, 'credit under its new definition');
($status, $body) = post('u3', 'purchase', 1);
is($status, 400, 'a dropped type gets 400');
like($body, qr/event \\?"purchase\\?" is not a defined type/,
	'the 400 names the event and says it is not a defined type');
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
is(metrics_of('u3'), '{"bonus": 4, "revenue": 3}',
	'u3: refund added, credit into bonus');

# 7. GET shows every metric; a user known only by other metrics has
# revenue 0
my $conn = http_connect($port);
my ($get_status, $get_body) =
  http_request($conn, 'GET', '/userEvents/probe', undef, 5);
close($conn->{sock});
is($get_status, 200, 'GET of a user with credits only');
is($get_body, qq({"userId": "probe", "revenue": 0, "metrics": {"credits": 1}}\n),
	'revenue 0 and the metrics');

# 8. a file dropped in by hand: read with the definitions current at
# ingest; an unknown type goes to rejected_lines
my $dir = journal_dir($node);
open(my $fh, '>', "$dir/drop.tmp") or die "cannot write: $!";
print $fh qq({"userId":"d1","name":"refund","value":2}\n);
print $fh qq({"userId":"d1","name":"purchase","value":1}\n);
print $fh qq({"userId":"d1","name":"credit","value":5}\n);
close($fh);
rename("$dir/drop.tmp", "$dir/events-drop-types.jsonl") or die "rename: $!";
$node->safe_psql('postgres', 'SELECT evproc_rotate()');
is(metrics_of('d1'), '{"bonus": 5, "revenue": 2}',
	'a dropped-in file is read with the current definitions');
is($node->safe_psql('postgres',
		q{SELECT line_number || ': ' || reason FROM evproc.rejected_lines
		  WHERE filename = 'events-drop-types.jsonl'}),
	'2: event "purchase" is not a defined type',
	'its unknown type is a rejected line');

done_testing();
