# LISTEN evproc_updates: the ingest transaction of a file notifies the
# users whose metrics it changed, with their new state, delivered at
# commit and only then; a file that changes more users than
# evproc.notify_max_users sends one notification naming the file.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EvprocTest;

my $node = evproc_node('notify', "evproc.notify_max_users = 3\n");
my $port = http_port($node);

# listen_rotate($sql) runs, in one psql session: LISTEN, $sql, then
# evproc_rotate(), and returns the payloads of the notifications psql
# printed (it prints them after each command; evproc_rotate() returns once
# the files are ingested and committed).
sub listen_rotate
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'),
			'-c', 'LISTEN evproc_updates',
			'-c', $sql // 'SELECT 1',
			'-c', 'SELECT evproc_rotate() IS NOT NULL',
			'-c', 'SELECT 1'
		],
		'<', \undef, '>', \$out, '2>', \$err);
	my @payloads =
	  $out =~ /^Asynchronous notification "evproc_updates" with payload "(.*)" received from server process with PID \d+\.$/mg;
	return @payloads;
}

$node->safe_psql('postgres',
	"SELECT evproc_define_event_type('purchase', 'purchases', 'count')");
sleep 1;

# a file with two users: one notification each, with the new state
for my $e (
	[ 'n1', 'add_revenue', 10 ], [ 'n1', 'purchase', undef ],
	[ 'n2', 'add_revenue', 2.5 ])
{
	my $body =
	  defined $e->[2]
	  ? qq({"userId":"$e->[0]","name":"$e->[1]","value":$e->[2]})
	  : qq({"userId":"$e->[0]","name":"$e->[1]"});
	my ($status) = http_post($port, '/liveEvent', $body);
	is($status, 200, "$e->[0] $e->[1] acknowledged");
}
my @got = listen_rotate();
is_deeply(
	[ sort @got ],
	[
		'{"userId": "n1", "revenue": 10, "metrics": {"revenue": 10, "purchases": 1}}',
		'{"userId": "n2", "revenue": 2.5, "metrics": {"revenue": 2.5}}'
	],
	'one notification per user, with the state GET gives');

# more users than evproc.notify_max_users: one summary naming the file
for my $u (1 .. 5)
{
	my ($status) = http_post($port, '/liveEvent',
		qq({"userId":"many$u","name":"add_revenue","value":1}));
	is($status, 200, "many$u acknowledged");
}
@got = listen_rotate();
is(scalar @got, 1, 'a file with 5 users sends one notification');
like($got[0] // '', qr/^\{"file": "events-[^"]+\.jsonl", "users": 5\}$/,
	'... naming the file and the number of users');

# a transaction that fails notifies nobody; its retry, once, at commit
my $dir = journal_dir($node);
$node->safe_psql('postgres',
	'ALTER TABLE evproc.user_metrics RENAME TO user_metrics_moved');
my ($status) = http_post($port, '/liveEvent',
	'{"userId":"late","name":"add_revenue","value":1}');
is($status, 200, 'late acknowledged');
my ($out, $err) = ('', '');
IPC::Run::run(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'),
		'-c', 'LISTEN evproc_updates',
		'-c', 'SELECT evproc_rotate(3000)',
		'-c', 'SELECT 1'
	],
	'<', \undef, '>', \$out, '2>', \$err);
like($err, qr/could not ingest/, 'ingest fails while the table is missing');
unlike($out, qr/Asynchronous notification/,
	'... and its rolled-back transaction notified nobody');
@got = listen_rotate(
	'ALTER TABLE evproc.user_metrics_moved RENAME TO user_metrics');
is_deeply(\@got, ['{"userId": "late", "revenue": 1, "metrics": {"revenue": 1}}'],
	'after the fix, the commit notifies once');

done_testing();
