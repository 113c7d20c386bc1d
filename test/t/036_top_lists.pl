# The top lists of GET /topUsers kept by ingest (version 1.6:
# evproc.top_users and its floors, no index of evproc.user_metrics on
# value), with two workers (evproc.workers = 2), each of which answers
# /topUsers.  After every step, every list asked for (limits 1, 10 and 100,
# two metrics; new connections, which the kernel spreads over both
# workers) is exactly SQL's order of evproc.user_metrics: largest first,
# ties by userId in bytes.
#
#	(a) a first file of 1500 users (more than the lists keep: they are
#		trimmed, a floor is set); a second one that moves a few of them
#		up (kept from the upserts' rows, without reading the table again);
#		5000 users past the floor in one file (the best 1000 kept, the
#		list cut to 200 without reading it again);
#	(b) a falling value leaves the list: the leader's value falls below
#		the floor; a new leader enters;
#	(c) many members fall (fewer than 100 left above the floor): the list
#		is read again from user_metrics (its floor's gen grows);
#	(d) ties at the floor: users with the floor's value whose ids sort just
#		before and just after it, in bytes;
#	(e) writes to user_metrics outside ingest (UPDATE, DELETE, INSERT,
#		TRUNCATE): the trigger reads the lists again;
#	(f) both workers ingest at once (a file in each one's journal
#		directory, the same users): the lists are the committed state;
#	(g) after a restart, the same lists;
#	(h) the updates of ingest are HOT: no index of user_metrics has value.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use EvprocTest;

my $node = evproc_node('top_lists',
	"evproc.workers = 2\nevproc.fsync = off\nevproc.read_rate_limit_per_client = 0\n");
my $port = http_port($node);
my $dir = journal_dir($node);
my $file_no = 0;

$node->safe_psql('postgres',
	"INSERT INTO evproc.event_types (name, metric, effect) VALUES ('add_points', 'points', 'add'), ('lose_points', 'points', 'subtract')"
);

# ingest(@events): one file of [user, name, value] events, dropped into
# worker 0's journal directory and ingested
sub ingest
{
	my ($sub, @events) = @_;
	$sub //= '';
	my $name = sprintf('events-20200101T000000Z-%06d.jsonl', ++$file_no);
	open(my $fh, '>', "$dir$sub/$name.tmp") or die $!;
	print $fh qq({"userId": "$_->[0]", "name": "$_->[1]", "value": $_->[2]}\n)
	  for @events;
	close($fh);
	rename("$dir$sub/$name.tmp", "$dir$sub/$name") or die $!;
	return $name;
}

# sql_top($metric, $limit): the list as SQL orders user_metrics
sub sql_top
{
	my ($metric, $limit) = @_;
	my $rows = $node->safe_psql('postgres',
		qq(SELECT string_agg(format('{"userId": "%s", "value": "%s"}', user_id, value), ', ')
		   FROM (SELECT user_id, value FROM evproc.user_metrics WHERE metric = '$metric'
		         ORDER BY value DESC, user_id COLLATE "C" LIMIT $limit) s));
	return qq({"metric": "$metric", "users": [$rows]}\n);
}

# check($what): every list, asked 6 times each, is SQL's
sub check
{
	my ($what) = @_;
	my $bad = 0;
	for my $metric ('revenue', 'points')
	{
		for my $limit (1, 10, 100)
		{
			my $want = sql_top($metric, $limit);
			for (1 .. 6)
			{
				my %r = raw_request($port, 'GET',
					"/topUsers?metric=$metric&limit=$limit");
				next if ($r{status} // 0) == 200 && $r{body} eq $want;
				$bad++;
				diag "$what: $metric limit $limit: "
				  . ($r{status} // 'no reply') . ' '
				  . substr($r{body} // '', 0, 300)
				  . "\nwant " . substr($want, 0, 300)
				  if $bad <= 2;
			}
		}
	}
	is($bad, 0, "$what: every list is SQL's, on both workers");
}

sub floor_of
{
	my ($metric) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(value::text, 'all') || ' ' || coalesce(user_id, '') || ' ' || gen FROM evproc.top_floor WHERE metric = '$metric'"
	);
}

sub kept
{
	my ($metric) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.top_users WHERE metric = '$metric'");
}

# --- (a) -----------------------------------------------------------------------
# u0..u1499: revenue i * 7 % 1000 (ties), points i % 300
ingest(undef,
	map { ([ "u$_", 'add_revenue', $_ * 7 % 1000 ], [ "u$_", 'add_points', $_ % 300 ]) }
	  0 .. 1499);
rotate($node);
check('a first file of 1500 users');
like(floor_of('revenue'), qr/^\d+ u\d+ \d+$/, 'a floor is set (not all users kept)');
cmp_ok(kept('revenue'), '>=', 100, 'at least 100 users kept');
cmp_ok(kept('revenue'), '<=', 400, 'at most 400 users kept');
my $gen = (split ' ', floor_of('revenue'))[2];

ingest(undef, [ 'u10', 'add_revenue', 500 ], [ 'u11', 'add_revenue', 1 ],
	[ 'u12', 'add_points', 1000 ], [ 'zz-new', 'add_revenue', 998 ]);
rotate($node);
check('a few users moved up, a new one');
is((split ' ', floor_of('revenue'))[2], $gen,
	'... kept from the upserts (the list was not read again)');

# 5000 users past the floor in one file (ties too): the worker keeps the
# best 1000 of them and the list is cut, not read again
ingest(undef, map { [ "w$_", 'add_revenue', 2000 + $_ % 2500 ] } 0 .. 4999);
rotate($node);
check('5000 users past the floor');
is((split ' ', floor_of('revenue'))[2], $gen,
	'... kept from the upserts (the list was not read again)');
is((split ' ', floor_of('revenue'))[0] . ' ' . (split ' ', floor_of('revenue'))[1], '4400 w4900',
	'... its floor the 200th of them (4499 to 4400, two users each)');

# --- (b) -----------------------------------------------------------------------
my ($leader) = $node->safe_psql('postgres',
	q(SELECT user_id FROM evproc.user_metrics WHERE metric = 'revenue' ORDER BY value DESC, user_id COLLATE "C" LIMIT 1));
ingest(undef, [ $leader, 'subtract_revenue', 5000 ]);
rotate($node);
check('the leader fell');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM evproc.top_users WHERE user_id = '$leader' AND metric = 'revenue'"),
	'0', '... and left the kept users');
ingest(undef, [ 'leader-new', 'add_revenue', 1e6 ], [ 'p-neg', 'add_points', -5 ]);
rotate($node);
check('a new leader, a negative value');

# --- (c) -----------------------------------------------------------------------
my @members = split /\n/, $node->safe_psql('postgres',
	q(SELECT user_id FROM evproc.top_users WHERE metric = 'revenue'));
ingest(undef, map { [ $_, 'subtract_revenue', 10000 ] } @members[ 0 .. $#members - 50 ]);
rotate($node);
check('all but 50 members fell');
cmp_ok((split ' ', floor_of('revenue'))[2], '>', $gen, '... the list was read again');
cmp_ok(kept('revenue'), '>=', 100, '... and keeps at least 100 again');

# --- (d) -----------------------------------------------------------------------
my ($fv, $fu) = split ' ', floor_of('points');
ingest(undef, [ substr($fu, 0, -1), 'add_points', $fv ], [ $fu . '0', 'add_points', $fv ],
	[ 'A', 'add_points', $fv ], [ 'zzz', 'add_points', $fv ]);
rotate($node);
check('ties at the floor');

# --- (e) -----------------------------------------------------------------------
$node->safe_psql('postgres',
	"UPDATE evproc.user_metrics SET value = 2e6 WHERE user_id = 'u3' AND metric = 'revenue'");
check('an UPDATE outside ingest');
$node->safe_psql('postgres', "DELETE FROM evproc.user_metrics WHERE user_id IN ('u3', 'leader-new')");
check('a DELETE outside ingest');
$node->safe_psql('postgres',
	"INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES ('sql-1', 'points', 1e9)");
check('an INSERT outside ingest');

# --- (f) -----------------------------------------------------------------------
# the same users in both workers' files, so that their transactions overlap
my @a = map { [ "u$_", 'add_revenue', ($_ * 13) % 2000 ] } 0 .. 1499;
my @b = map { [ "u$_", 'subtract_revenue', ($_ * 11) % 1500 ] } reverse 0 .. 1499;
ingest(undef, @a);
ingest('/worker1', @b);
rotate($node);
$node->poll_query_until('postgres',
	"SELECT count(*) >= $file_no FROM evproc.processed_files")
  or die 'files not ingested';
check('both workers ingested at once');

# --- (g) -----------------------------------------------------------------------
$node->restart;
wait_for_http($port, 60) or die 'no HTTP after restart';
check('after a restart');

# --- (e') TRUNCATE ----------------------------------------------------------
$node->safe_psql('postgres', 'TRUNCATE evproc.user_metrics');
check('after TRUNCATE');
is($node->safe_psql('postgres', 'SELECT count(*) FROM evproc.top_users'), '0',
	'... nothing kept');
ingest(undef, [ 'again', 'add_revenue', 3 ]);
rotate($node);
check('the first user after TRUNCATE');

# --- (h) -----------------------------------------------------------------------
is($node->safe_psql('postgres',
	q(SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid
	  AND a.attnum = ANY (i.indkey) WHERE i.indrelid = 'evproc.user_metrics'::regclass
	  AND a.attname = 'value')),
	'0', 'no index of user_metrics has value');
my $hot = $node->safe_psql('postgres',
	"SELECT n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'evproc.user_metrics'::regclass");
ingest(undef, map { [ "h$_", 'add_revenue', 1 ] } 0 .. 99);
rotate($node);
ingest(undef, map { [ "h$_", 'add_revenue', 1 ] } 0 .. 99);
rotate($node);
ok($node->poll_query_until('postgres',
	"SELECT n_tup_hot_upd >= $hot + 90 FROM pg_stat_user_tables WHERE relid = 'evproc.user_metrics'::regclass"),
	'the updates of a file are HOT (at least 90 of 100)')
  or diag 'updates, HOT: ' . $node->safe_psql('postgres',
	"SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = 'evproc.user_metrics'::regclass");

done_testing();
