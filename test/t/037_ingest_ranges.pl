# A file with more (user, metric) pairs than ingest sums in memory at once
# (FOLD_RANGE_PAIRS, 115,000, in src/ingest/fold_sums.h): it is applied in
# ranges of users, the file read again for each, all in its one
# transaction.  A file of 9,000 users with 26 metrics each (234,000 pairs,
# so at least three ranges), each pair's events spread over the file, some
# with eventIds (repeated in the file, or seen in an earlier file), some
# laid out as the journal writes them and some not (spaces, an escaped
# user id, a repeated "userId" key: the last one wins):
#
#	(a) the worker crashes between two ranges (fault point
#		ingest-between-ranges): nothing of the file is counted, no
#		eventId of it is recorded as seen;
#	(b) once the fault is off, the file is counted exactly once (lookups
#		meanwhile read the value before it, whatever range was applied): every
#		row of evproc.user_metrics has its exact sum, the file's row its
#		counts; each user is notified once on evproc_updates
#		(evproc.notify_max_users = 10000) with its final state, once on
#		its stream, and once in the replicated feed (evproc.user_changes);
#		the top lists are SQL's order of the table.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use Digest::MD5 qw(md5_hex);
use File::Copy qw(move);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EvprocTest;

if (journal_in_database(undef))
{
	plan skip_all => 'drops files into the journal directory';
}

my $node = evproc_node('ranges',
	"evproc.notify_max_users = 10000\nevproc.fsync = off\nevproc.read_rate_limit_per_client = 0\n"
);
my $port = http_port($node);
my $dir = journal_dir($node);
my $tmp = PostgreSQL::Test::Utils::tempdir;

my $users = 9000;
my @metrics = map { sprintf('m%02d', $_) } 1 .. 25;
$node->safe_psql('postgres',
	join(', ',
		'SELECT 1',
		map { "evproc_define_event_type('t$_', '$_', 'add')" } @metrics));
sleep 1;    # the worker takes the new types within a second

my %want;    # "user metric" => sum
my $file_no = 0;

sub uid { return sprintf('r%05d', $_[0]); }

# drop_file(@lines): a file of these lines in the journal directory
sub drop_file
{
	my $name = sprintf('events-20200101T000000Z-%06d.jsonl', ++$file_no);
	open(my $fh, '>', "$dir/$name.tmp") or die $!;
	print $fh "$_\n" for @_;
	close($fh);
	rename("$dir/$name.tmp", "$dir/$name") or die $!;
	return $name;
}

# rows_md5(): the table's rows, as "user metric value" lines in bytes'
# order, hashed
sub rows_md5
{
	return $node->safe_psql('postgres',
		q{SELECT md5(coalesce(string_agg(user_id || ' ' || metric || ' ' || value, E'\n'
			ORDER BY user_id COLLATE "C", metric COLLATE "C"), ''))
		  FROM evproc.user_metrics});
}

sub want_md5
{
	return md5_hex(join("\n",
			map { "$_ $want{$_}" } sort { $a cmp $b } keys %want));
}

# user_state($user): the user's state as evproc_updates and streams give it
sub user_state
{
	my ($user) = @_;
	my @m = sort { length($a) <=> length($b) || $a cmp $b }
	  grep { defined $want{"$user $_"} } (@metrics, 'revenue');
	return sprintf('{"userId": "%s", "revenue": %s, "metrics": {%s}',
		$user, $want{"$user revenue"} // 0,
		join(', ', map { qq("$_": ) . $want{"$user $_"} } @m));
}

# --- an earlier file: eventIds old0, old100, ... (revenue 1) ---
my @old;
for (my $i = 0; $i < $users; $i += 100)
{
	push @old,
	  qq({"userId":"@{[uid($i)]}","name":"add_revenue","value":1,"eventId":"old$i"});
	$want{ uid($i) . ' revenue' } += 1;
}
drop_file(@old);
rotate($node);
is(rows_md5(), want_md5(), 'the earlier file is counted');

# --- the big file ---
my (@lines, $events, $duplicates);
my %big;    # what it adds
for my $round (0, 1)
{
	for my $i (0 .. $users - 1)
	{
		my $u = uid($i);
		for my $j (0 .. $#metrics + 1)
		{
			my ($name, $metric) =
			  $j <= $#metrics ? ("t$metrics[$j]", $metrics[$j]) : ('add_revenue', 'revenue');
			my $v = ($i * 7 + $j * 3 + $round) % 50 + 1;
			# every other user's lines as the journal writes them (no
			# spaces: read again only for the user's range)
			push @lines,
			  $i % 2
			  ? qq({"userId": "$u", "name": "$name", "value": $v})
			  : qq({"userId":"$u","name":"$name","value":$v});
			$big{"$u $metric"} += $v;
			$events++;
		}
		next unless $i % 100 == 50;
		# an eventId, repeated in the other round: counted once
		push @lines,
		  qq({"userId":"$u","name":"add_revenue","value":1000,"eventId":"big$i"});
		$events++;
		if ($round == 0) { $big{"$u revenue"} += 1000; }
		else             { $duplicates++; }
		# an eventId of the earlier file: not counted
		push @lines,
		  qq({"userId":"$u","name":"add_revenue","value":7,"eventId":"old@{[$i - 50]}"});
		$events++;
		$duplicates++;
	}
}
# the last user's revenue, by a line that names the first user first (the
# last "userId" wins), and by one with an escaped user id
push @lines,
  qq({"userId":"r00000","name":"add_revenue","value":3,"userId":"@{[uid($users - 1)]}"}),
  qq({"userId":"r0899\\u0039","name":"add_revenue","value":4});
$big{ uid($users - 1) . ' revenue' } += 7;
$events += 2;
push @lines, '{"userId": "bad"', '';    # rejected, and a blank line
my $big = drop_file(@lines);

# --- (a) a crash between two ranges: nothing counted ---
my $before = rows_md5();
my $seen = $node->safe_psql('postgres', 'SELECT count(*) FROM evproc.seen_events');
set_fault($node, 'ingest-between-ranges');
my $offset = -s $node->logfile;
my ($rc) = $node->psql('postgres', 'SELECT evproc_rotate(60000)');
isnt($rc, 0, 'crash: evproc_rotate() failed');
ok(defined log_match($node, qr/evproc: fault injection at "ingest-between-ranges"/, $offset),
	'crash: the worker crashed between two ranges of the file');
# the restarted worker would crash there again: the file is set aside,
# the setting reset offline
$node->stop('immediate');
ok(move("$dir/$big", "$tmp/$big"), 'crash: the file was not moved');
reset_conf_offline($node, 'evproc.fault_injection');
$node->start;
ok(wait_for_http($port, 60), 'crash: the worker answers HTTP again');
is(rows_md5(), $before, 'crash: no sum of the file counted');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM evproc.processed_files WHERE filename = '$big'"),
	'0', 'crash: the file is not recorded');
is($node->safe_psql('postgres', 'SELECT count(*) FROM evproc.seen_events'),
	$seen, 'crash: none of its eventIds recorded');

# --- (b) counted once ---
move("$tmp/$big", "$dir/$big") or die $!;
my @watched = (uid(1), uid(4501), uid($users - 1));
my @subs = map { sse_subscribe($port, $tmp, "/userEvents/$_/stream") } @watched;
is_deeply([ map { $_->{status} } @subs ], [ 200, 200, 200 ], 'streams open');
my $feed_seq = $node->safe_psql('postgres',
	'SELECT coalesce(max(seq), 0) FROM evproc.user_changes');
my ($out, $err) = ('', '');
my $listen = IPC::Run::start(
	[
		'psql', '-XAtq', '-d', $node->connstr('postgres'),
		'-c', 'LISTEN evproc_updates',
		'-c', 'SELECT evproc_rotate(120000) IS NOT NULL',
		'-c', 'SELECT 1'
	],
	'<', \undef, '>', \$out, '2>', \$err);
# meanwhile, the first user (of the first range, upserted first) reads as
# committed before: revenue 1, until the commit
my $conn = http_connect($port);
my (%seen, $during);
while ($listen->pumpable)
{
	$listen->pump_nb;
	my $open = ingest_transaction_open($node);
	my (undef, $body) = http_request($conn, 'GET', '/userEvents/r00000');
	my ($rev) = ($body // '') =~ /"revenue": (\d+)/;
	$seen{ $rev // 'x' }++;
	$during++ if $open && ($rev // '') eq '1' && ingest_transaction_open($node);
	select(undef, undef, undef, 0.02);
}
$listen->finish;
is($err, '', 'the file is ingested');
$want{$_} += $big{$_} for keys %big;
note 'r00000 read ' . join(', ', map { "$_ x$seen{$_}" } sort keys %seen);
cmp_ok($during // 0, '>', 0, 'lookups answered inside the transaction');
is_deeply([ sort grep { $_ ne '1' && $_ ne $want{'r00000 revenue'} } keys %seen ], [],
	'... each the value before the file or after its commit');
is(rows_md5(), want_md5(), 'every (user, metric) has its exact sum');
is($node->safe_psql('postgres',
		"SELECT events || ' ' || duplicates || ' ' || rejected FROM evproc.processed_files WHERE filename = '$big'"),
	"$events $duplicates 1", "the file's row: events, duplicates, rejected");

my @notes =
  $out =~ /^Asynchronous notification "evproc_updates" with payload "(.*)" received/mg;
my %per_user;
$per_user{$_}++ for map { /^\{"userId": "([^"]+)"/ ? $1 : 'none' } @notes;
is(scalar(keys %per_user), $users, 'every user of the file notified');
is(scalar(grep { $_ != 1 } values %per_user), 0, '... each once');
my %note = map { /^\{"userId": "([^"]+)"/ ? ($1 => $_) : () } @notes;
is_deeply([ map { $note{$_} } @watched ], [ map { user_state($_) . '}' } @watched ],
	'... with the final state (users of the first, middle and last range)');

for my $k (0 .. $#watched)
{
	my @m = sse_wait_messages($subs[$k], 1);
	usleep_ms(300);
	@m = sse_messages($subs[$k]);
	is(scalar(@m), 1, "stream of $watched[$k]: one message");
	is($m[0][1] // '', user_state($watched[$k]) . ', "seq": ' . ($m[0][0] // '') . '}',
		"stream of $watched[$k]: the final state");
	$subs[$k]{h}->kill_kill;
}

is($node->safe_psql('postgres',
		"SELECT string_agg(cardinality(users) || ' ' || (SELECT count(DISTINCT u) FROM unnest(users) u), ',')
		 FROM evproc.user_changes WHERE seq > $feed_seq"),
	"$users $users", 'the replicated feed names each user once, in one row');

# the top lists: SQL's order of the table
my $bad = 0;
for my $metric ('revenue', 'm07')
{
	my $rows = $node->safe_psql('postgres',
		qq(SELECT string_agg(format('{"userId": "%s", "value": "%s"}', user_id, value), ', ')
		   FROM (SELECT user_id, value FROM evproc.user_metrics WHERE metric = '$metric'
		         ORDER BY value DESC, user_id COLLATE "C" LIMIT 100) s));
	my %r = raw_request($port, 'GET', "/topUsers?metric=$metric&limit=100");
	next if ($r{status} // 0) == 200
	  && $r{body} eq qq({"metric": "$metric", "users": [$rows]}\n);
	$bad++;
	diag "$metric: " . substr($r{body} // '', 0, 300) . "\nwant " . substr($rows, 0, 300);
}
is($bad, 0, 'the top lists are the table\'s order');
check_archives($node, 'ranges');

sub usleep_ms { select(undef, undef, undef, $_[0] / 1000); }

done_testing();
