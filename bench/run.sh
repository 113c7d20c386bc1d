#!/bin/bash
#
# bench/run.sh: the evproc benchmark (make bench).  Starts a throwaway
# cluster with evproc preloaded and a reference server, drives both with
# wrk on loopback, and prints one table of figures.
#
#   bench/run.sh            a few minutes
#   bench/run.sh --quick    a smoke run under 20 s: small sizes (100,000
#                           events, 20,000 users for /topUsers), 1 s steps,
#                           one round at 64 connections with fsync on,
#                           100 subscribers; without the rows that restart
#                           the cluster (subscribers held, HTTPS, two
#                           workers), fsync off, and POST beside /topUsers
#   bench/run.sh --long     30 s per load step
#
# All load is bounded in time and goes to 127.0.0.1 only: PostgreSQL on
# port 5498 (socket in /tmp), evproc on 18800, the reference server on
# 18801 (EVPROC_BENCH_PGPORT, EVPROC_BENCH_HTTP_PORT, EVPROC_BENCH_REF_PORT
# change them; EVPROC_PGBIN names another PostgreSQL 15's bin directory,
# EVPROC_BENCH_DIR the work directory).  Installs wrk with apt-get if it is missing (as root); the HTTPS
# step makes its certificate with openssl.
#
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

DUR=5
EVENTS=10000000
USERS=100000
ROUNDS=3
CONNS="16 64 256"
FSYNCS="on off"
QUICK=0
ONLY=
SUBS=1000			# idle subscribers, and subscribers of the fan-out
FAN_REPS=10			# changes timed in the fan-out
SUBS_MANY=10000		# subscribers held at once
case "${1:-}" in
	--quick) DUR=1; EVENTS=100000; USERS=1000; ROUNDS=1; CONNS=64; FSYNCS=on; QUICK=1
		SUBS=100; FAN_REPS=3; SUBS_MANY=1000 ;;
	--long) DUR=30 ;;
	--db) DUR=2; ROUNDS=1; QUICK=1; ONLY=db ;;	# the database journal's rows only
	"") ;;
	*) echo "usage: $0 [--quick|--long|--db]" >&2; exit 2 ;;
esac

PGBIN=${EVPROC_PGBIN:-/usr/lib/postgresql/15/bin}
BENCH=${EVPROC_BENCH_DIR:-/tmp/evproc-bench}
PGPORT=${EVPROC_BENCH_PGPORT:-5498}
HTTP=${EVPROC_BENCH_HTTP_PORT:-18800}
REF=${EVPROC_BENCH_REF_PORT:-18801}
if [ "$(id -u)" = 0 ]; then AS_PG="runuser -u postgres --"; else AS_PG=; fi

command -v wrk >/dev/null || {
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
	else
		echo "bench needs wrk (apt-get install wrk)" >&2
		exit 1
	fi
}

cleanup() {
	[ -n "${REF_PID:-}" ] && kill "$REF_PID" 2>/dev/null || true
	[ -n "${SUB_PID:-}" ] && kill "$SUB_PID" 2>/dev/null || true
	[ -f "$BENCH/standby/postmaster.pid" ] &&
		$AS_PG $PGBIN/pg_ctl -D "$BENCH/standby" -m immediate -w stop >/dev/null 2>&1 || true
	[ -f "$BENCH/data/postmaster.pid" ] &&
		$AS_PG $PGBIN/pg_ctl -D "$BENCH/data" -m immediate -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

cleanup
rm -rf "$BENCH"
mkdir -p "$BENCH"
[ -n "$AS_PG" ] && chown postgres: "$BENCH"
# the bench's programs (the Makefile's BENCH_TOOLS)
make -s -j2 bench/fold_ceiling bench/ref_server bench/gen_events bench/subscribers

# the worker (which inherits it from pg_ctl) and bench/subscribers each hold
# SUBS_MANY sockets at once
want_files=$((SUBS_MANY + 2048))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_files" ]; then
	ulimit -n "$want_files" 2>/dev/null || {
		echo "bench needs an open file limit of $want_files (ulimit -n; the hard limit is $(ulimit -Hn))" >&2
		exit 1
	}
fi

(cd /tmp && $AS_PG $PGBIN/initdb -D "$BENCH/data" -E UTF8 --locale=C.UTF-8 \
	-U postgres -A trust >/dev/null)
cat >>"$BENCH/data/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = ''
unix_socket_directories = '/tmp'
shared_preload_libraries = 'evproc'
evproc.port = $HTTP
evproc.max_connections = 4096
max_wal_size = '4GB'
track_commit_timestamp = on
# the load below comes from one address: it measures what the server
# can do, not the limits of reads and streams per client
evproc.read_rate_limit_per_client = 0
evproc.max_streams_per_client = 0
CONF
(cd /tmp && $AS_PG $PGBIN/pg_ctl -D "$BENCH/data" -l "$BENCH/server.log" -w start >/dev/null)
PSQL="$PGBIN/psql -X -q -At -h /tmp -p $PGPORT -U postgres -d postgres"
$PSQL -c "CREATE EXTENSION evproc"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$HTTP/" && break; sleep 0.1; done
WORKER=$($PSQL -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc'")

# wrk_stats reads wrk's output and prints "rps p50 p99 errors";
# run_wrk URL SCRIPT CONNS [DURATION] runs wrk and prints that.  With
# CPU_OF=PID it also writes "requests ticks" to $BENCH/wrk_cpu: the
# requests wrk completed and the CPU time (user and system, in clock ticks)
# process PID used meanwhile, for cpu_us.
wrk_stats() {
	awk '
		/Requests\/sec:/ { rps = $2 }
		$1 == "50%" { p50 = $2 }
		$1 == "99%" { p99 = $2 }
		/Non-2xx/ { err += $NF }
		/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
		END { printf "%d %s %s %d\n", rps, p50, p99, err }'
}
run_wrk() {
	local out t0=
	[ -z "${CPU_OF:-}" ] || t0=$(cpu_ticks "$CPU_OF")
	out=$(wrk -t2 -c"$3" -d"${4:-$DUR}"s --latency -s "$2" "$1" 2>&1)
	[ -z "$t0" ] || echo "$(awk '/ requests in / { print $1 }' <<<"$out") \
$(($(cpu_ticks "$CPU_OF") - t0))" >"$BENCH/wrk_cpu"
	wrk_stats <<<"$out"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# cpu_us TICKS REQUESTS: microseconds of CPU per request
cpu_us() { awk -v t="$1" -v n="$2" -v u="$TICK_US" 'BEGIN { printf "%.1f", (n > 0 ? t * u / n : 0) }'; }
# journal_counters: evproc's events accepted and bytes journaled, from /metrics
journal_counters() {
	curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^evproc_events_accepted_total/ { a += $NF }
		/^evproc_journal_bytes_total/ { b += $NF } END { printf "%d %d\n", a, b }'
}

# drain: rotate and ingest what is journaled; evproc_rotate() returns when
# every file is ingested
drain() {
	$PSQL -c "SELECT evproc_rotate(600000)" >/dev/null
}

# settle: drain, then write back what the last step left dirty in the page
# cache (sync), so that neither an ingest of an earlier step nor the
# kernel's writeback of it runs during the next one: a journal fdatasync
# queued behind seconds of writeback is a stall of tens of milliseconds
# that the next step would count
settle() {
	drain
	sync
}

# restart_server [SCHEME]: restarts the bench's cluster, waits (up to 10 s)
# for evproc's /health over SCHEME (http by default), and takes the
# worker's new pid (the first one's, with several)
restart_server() {
	(cd /tmp && $AS_PG $PGBIN/pg_ctl -D "$BENCH/data" -l "$BENCH/server.log" -w -m fast restart >/dev/null)
	for _ in $(seq 1 100); do curl -sk -o /dev/null "${1:-http}://127.0.0.1:$HTTP/health" && break; sleep 0.1; done
	WORKER=$($PSQL -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc' ORDER BY backend_start LIMIT 1")
}

# An A/B comparison over rounds: ab_add adds a round's figures (rps0 and
# p99r0 without, rps1 p50r p99r errr with) to the sums; ab_ratio sets ratio
# (of the sums) and range (of the rounds' ratios).
ab_add() {
	sum0=$((sum0 + rps0)) sum1=$((sum1 + rps1)) err=$((err + errr))
	p50=$(slower "$p50" "$p50r") p99=$(slower "$p99" "$p99r") p99_0=$(slower "$p99_0" "$p99r0")
	ratios="$ratios $(awk -v a="$rps1" -v b="$rps0" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
}
ab_ratio() {
	ratio=$(awk -v a="$sum1" -v b="$sum0" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
	range=$(printf '%s\n' $ratios | sort -n | sed -n '1p;$p' | paste -sd- -)
}

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s | %s |' "$@")"); }
print_table() {
	echo
	echo "| test | conns | req/s | p50 | p99 | errors | notes |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s\n' "${ROWS[@]}"
}

# The reference and evproc take turns, ROUNDS times per configuration, so
# that both see the same drift of this shared machine.  Printed: mean
# req/s, the highest p50 and p99 of the rounds, the ratio of the totals and
# the range of the ratios of single rounds.
RDUR=$(( DUR > 3 ? DUR / 2 : 1 ))
# slower LAT1 LAT2: the higher of two wrk latencies ("812.00us", "1.07ms")
slower() {
	awk -v a="$1" -v b="$2" 'function us(x) {
			if (x ~ /us$/) return x + 0; if (x ~ /ms$/) return x * 1000
			if (x ~ /s$/) return x * 1000000; return x + 0 }
		BEGIN { print (us(a) >= us(b) ? a : b) }'
}

if [ "$ONLY" = db ]; then
	. bench/dbmode.sh
	print_table
	exit 0
fi

set_fsync() {
	$PSQL -c "ALTER SYSTEM SET evproc.fsync = $1" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.3
}

# rss_start: reset the worker's peak RSS and sample its private memory
# (RssAnon) and the pages of shared memory it has touched (RssShmem:
# shared_buffers, WAL buffers) until rss_stop, which sets peak_kb, anon_kb
# and shmem_kb
rss_start() {
	echo 5 >"/proc/$WORKER/clear_refs" 2>/dev/null || true	# reset the peak RSS
	touch "$BENCH/sampling"
	echo 0 0 >"$BENCH/rss"
	(
		anon=0 shmem=0
		while [ -f "$BENCH/sampling" ]; do
			read -r a s < <(awk '/RssAnon/ { a = $2 } /RssShmem/ { s = $2 }
				END { print a + 0, s + 0 }' "/proc/$WORKER/status" 2>/dev/null || echo 0 0)
			[ "$a" -gt "$anon" ] && anon=$a
			[ "$s" -gt "$shmem" ] && shmem=$s
			echo "$anon $shmem" >"$BENCH/rss"
			sleep 0.05
		done
	) &
}
rss_stop() {
	peak_kb=$(awk '/VmHWM/ { print $2 }' "/proc/$WORKER/status")
	rm -f "$BENCH/sampling"
	sleep 0.1
	read -r anon_kb shmem_kb <"$BENCH/rss"
}
rss_note() {
	echo "worker peak RSS $((peak_kb / 1024)) MB (private $((anon_kb / 1024)) MB, shared memory touched $((shmem_kb / 1024)) MB)"
}

# Ingest first, while the worker is new: its RSS then shows what this
# ingest needs, not the shared buffers it touched in earlier steps.  The
# file is ingested alone (the rate compared with the fold ceiling, which
# runs alone too), then a copy of it under another name while POSTs run
# (what the POSTs' latency is while ingest shares the worker with them).
echo "== ingest of $EVENTS events over $USERS users" >&2
settle
bench/gen_events "$EVENTS" "$USERS" >"$BENCH/data/evproc/bench.tmp"
cp "$BENCH/data/evproc/bench.tmp" "$BENCH/data/evproc/bench2.tmp"
[ -n "$AS_PG" ] && chown postgres: "$BENCH/data/evproc/bench.tmp" "$BENCH/data/evproc/bench2.tmp"
# on disk before they are timed, as a rotated journal file is (the group
# commit synced it): else the kernel writes these 2 x EVENTS lines back
# while the POSTs below are measured, and their fdatasyncs wait behind it
sync
# the fold ceiling: the same file parsed and summed per user by the same
# parser, no database (bench/fold_ceiling.c); read once before, so that
# both find it in the page cache
cat "$BENCH/data/evproc/bench.tmp" >/dev/null
read -r csecs _ <<<"$(bench/fold_ceiling "$BENCH/data/evproc/bench.tmp")"

# ingest_file NAME: drops bench.tmp into the journal directory as NAME,
# and sets secs to the time until it is ingested
ingest_file() {
	local start end
	start=$(date +%s.%N)
	mv "$BENCH/data/evproc/bench.tmp" "$BENCH/data/evproc/$1"
	drain
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
}

rss_start
ingest_file events-0000-bench.jsonl
rss_stop
evs=$(awk -v n="$EVENTS" -v s="$secs" 'BEGIN { printf "%d", n / s }')
alone=$secs
got=$($PSQL -c "SELECT count(*) || ' users, ' || sum(revenue) FROM evproc.user_revenue WHERE user_id LIKE 'user%'")
row "ingest $EVENTS events (file drop)" "-" "$evs events/s" "${secs}s total" "-" "-" "$(rss_note); $got"
cevs=$(awk -v n="$EVENTS" -v s="$csecs" 'BEGIN { printf "%d", n / s }')
row "fold ceiling, same file (no database)" "-" "$cevs events/s" "${csecs}s total" "-" "-" \
	"ingest at $(awk -v a="$csecs" -v b="$secs" 'BEGIN { printf "%.2f", a / b }')x of it (target >= 0.5x)"

mv "$BENCH/data/evproc/bench2.tmp" "$BENCH/data/evproc/bench.tmp"
wrk -t2 -c64 -d$((DUR * 6))s --latency -s bench/post.lua "http://127.0.0.1:$HTTP/liveEvent" >"$BENCH/wrk-ingest.txt" 2>&1 &
WRK_PID=$!
sleep 1
ingest_file events-0000-bench2.jsonl
kill -INT $WRK_PID 2>/dev/null || true
wait $WRK_PID 2>/dev/null || true
read -r irps ip50 ip99 ierr < <(wrk_stats <"$BENCH/wrk-ingest.txt")
evs=$(awk -v n="$EVENTS" -v s="$secs" 'BEGIN { printf "%d", n / s }')
row "ingest $EVENTS events again, while POSTs run" "-" "$evs events/s" "${secs}s total" "-" "-" \
	"$(awk -v a="$alone" -v b="$secs" 'BEGIN { printf "%.2f", a / b }')x of ingest alone"
row "POST while ingesting, fsync on" 64 "$irps" "$ip50" "$ip99" "$ierr" "during the ingest of the row above (target p99 <= 15 ms)"

# Ingest of a file of five event types into three metrics, users
# mixed0..mixed<U-1>: add_revenue and subtract_revenue (built in), refund
# (revenue, subtract), purchase (purchases, count) and credit (credits,
# add), defined in SQL first.  Its lines record no definition, like a file
# dropped by hand, so ingest applies the table's.  Every value is 1; the
# totals are checked against gen_events' counts of each name.  Outside
# --quick the cluster restarts first, so that the worker is new again and
# its peak RSS is this ingest's alone (with --quick it also holds the
# shared buffers the first ingest touched).
echo "== ingest of $EVENTS events of 5 types over $USERS users" >&2
$PSQL -c "SELECT evproc_define_event_type('refund', 'revenue', 'subtract'),
		evproc_define_event_type('purchase', 'purchases', 'count'),
		evproc_define_event_type('credit', 'credits', 'add')" >/dev/null
if [ "$QUICK" = 0 ]; then
	restart_server
fi
# the worker takes new definitions within a second of their commit
for i in $(seq 1 50); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		-d '{"userId": "bench-probe", "name": "credit", "value": 1}' \
		"http://127.0.0.1:$HTTP/liveEvent")" = 200 ] && break
	[ "$i" = 50 ] && { echo "bench: the worker does not accept the type credit" >&2; exit 1; }
	sleep 0.1
done
settle
bench/gen_events -t add_revenue,subtract_revenue,refund,purchase,credit -p mixed \
	"$EVENTS" "$USERS" >"$BENCH/data/evproc/bench.tmp" 2>"$BENCH/mixed-counts.txt"
[ -n "$AS_PG" ] && chown postgres: "$BENCH/data/evproc/bench.tmp"
sync	# on disk, as a rotated journal file is (see above)
rss_start
start=$(date +%s.%N)
mv "$BENCH/data/evproc/bench.tmp" "$BENCH/data/evproc/events-0001-mixed.jsonl"
drain
end=$(date +%s.%N)
rss_stop
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
evs=$(awk -v n="$EVENTS" -v s="$secs" 'BEGIN { printf "%d", n / s }')
want=$(awk '$1 == "add_revenue" { r += $2 } $1 == "subtract_revenue" || $1 == "refund" { r -= $2 }
	$1 == "purchase" { p = $2 } $1 == "credit" { c = $2 }
	END { printf "%d users, revenue %d, purchases %d, credits %d", '"$USERS"', r, p, c }' \
	"$BENCH/mixed-counts.txt")
got=$($PSQL -c "SELECT count(m) || ' users, revenue ' || trim_scale(coalesce(sum((m->>'revenue')::numeric), 0))
		|| ', purchases ' || trim_scale(coalesce(sum((m->>'purchases')::numeric), 0))
		|| ', credits ' || trim_scale(coalesce(sum((m->>'credits')::numeric), 0))
	FROM (SELECT evproc_user_metrics('mixed' || i) AS m
		  FROM generate_series(0, $USERS - 1) i) s")
[ "$got" = "$want" ] && check="totals ok" || check="TOTALS WRONG: want $want"
# What any backend touches that writes those rows once: a new session
# updates every row the ingest wrote (a new version each, as the ingest's
# upserts make), reads its own /proc status, and rolls back.
sqlmem=$($PSQL -c "BEGIN" \
	-c "UPDATE evproc.user_revenue SET revenue = revenue WHERE user_id LIKE 'mixed%'" \
	-c "UPDATE evproc.user_metrics SET value = value WHERE user_id LIKE 'mixed%'" \
	-c "SELECT pg_read_file('/proc/self/status')" -c "ROLLBACK" |
	awk '/^VmHWM/ { p = $2 } /^RssShmem/ { s = $2 }
		END { printf "a SQL session updating the same rows: peak RSS %d MB, shared memory touched %d MB", p / 1024, s / 1024 }')
row "ingest $EVENTS events, mixed types (file drop)" "-" "$evs events/s" "${secs}s total" "-" "-" "$(rss_note); $sqlmem; 5 types into 3 metrics; $got; $check"

# versus_ref SCRIPT CONNS [nofsync]: ROUNDS rounds of the reference server
# then evproc, both sent the same requests by wrk's SCRIPT; sets sum and
# rsum (req/s of evproc and of the reference, summed over the rounds), err,
# p50, p99, rp99 (the reference's p99), ratio and range (of single rounds);
# cpu (each server's CPU per request) and jbytes (each one's bytes
# journaled per event; BATCH events a request)
versus_ref() {
	local rrps rp99r rps p50r p99r errr ratios= n t rn=0 rt=0 en=0 et=0
	local ev0 eb0 ev1 eb1 rb0
	bench/ref_server $REF "$BENCH/ref.jsonl" ${3:-} &
	REF_PID=$!
	sleep 0.3
	rb0=$(stat -c %s "$BENCH/ref.jsonl" 2>/dev/null || echo 0)
	read -r ev0 eb0 < <(journal_counters)
	sum=0 rsum=0 err=0 p50=0us p99=0us rp99=0us
	for _ in $(seq 1 $ROUNDS); do
		sync	# as settle does before evproc's round
		read -r rrps _ rp99r _ < <(CPU_OF=$REF_PID run_wrk "http://127.0.0.1:$REF/liveEvent" "$1" "$2" "$RDUR")
		read -r n t <"$BENCH/wrk_cpu"
		rn=$((rn + n)) rt=$((rt + t))
		settle
		read -r rps p50r p99r errr < <(CPU_OF=$WORKER run_wrk "http://127.0.0.1:$HTTP/liveEvent" "$1" "$2" "$RDUR")
		read -r n t <"$BENCH/wrk_cpu"
		en=$((en + n)) et=$((et + t))
		sum=$((sum + rps)) rsum=$((rsum + rrps)) err=$((err + errr))
		p50=$(slower "$p50" "$p50r") p99=$(slower "$p99" "$p99r") rp99=$(slower "$rp99" "$rp99r")
		ratios="$ratios $(awk -v a="$rps" -v b="$rrps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
	done
	read -r ev1 eb1 < <(journal_counters)
	jbytes="journaled per event: evproc $(awk -v b=$((eb1 - eb0)) -v e=$((ev1 - ev0)) \
		'BEGIN { printf "%.0f", (e > 0 ? b / e : 0) }') bytes, ref $(awk \
		-v b=$(($(stat -c %s "$BENCH/ref.jsonl") - rb0)) -v e=$((rn * ${BATCH:-1})) \
		'BEGIN { printf "%.0f", (e > 0 ? b / e : 0) }') bytes"
	kill $REF_PID; wait $REF_PID 2>/dev/null || true; REF_PID=
	ratio=$(awk -v a="$sum" -v b="$rsum" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }')
	range=$(printf '%s\n' $ratios | sort -n | sed -n '1p;$p' | paste -sd- -)
	cpu="CPU per request: evproc $(cpu_us $et $en)us, ref $(cpu_us $rt $rn)us"
}
echo "== POST /liveEvent ($ROUNDS rounds of ${RDUR}s per step)" >&2
for fsync in $FSYNCS; do
	set_fsync $fsync
	for conns in $CONNS; do
		versus_ref bench/post.lua "$conns" $([ $fsync = off ] && echo nofsync)
		row "POST evproc, fsync $fsync" "$conns" "$((sum / ROUNDS))" "$p50" "$p99" "$err" \
			"$ratio of ref ($((rsum / ROUNDS)) req/s, p99 $rp99); rounds $range; $cpu"
	done
done
set_fsync on

# sub_start MODE N PATH [OPTION...] starts bench/subscribers (N connections
# to PATH, "%d" the connection's number) and waits for its "ready" line;
# it reads commands from the fifo SUB_IN and writes lines to subs.out.
# sub_wait PREFIX waits (up to 90 s) for its last line starting with PREFIX
# and sets SUB_LINE (sub_failed: the connections that got no 200); sub_stop sends "stop" and waits for its last line.
sub_start() {
	rm -f "$BENCH/subs.in" "$BENCH/subs.out"
	mkfifo "$BENCH/subs.in"
	bench/subscribers -p $HTTP -m "$1" -n "$2" "${@:4}" "$3" \
		<"$BENCH/subs.in" >"$BENCH/subs.out" 2>>"$BENCH/subs.err" &
	SUB_PID=$!
	exec {SUB_IN}>"$BENCH/subs.in"
	sub_wait ready
	read -r _ sub_ok sub_failed <<<"$SUB_LINE"
	[ "$sub_failed" = 0 ] ||
		echo "bench: $sub_failed of $2 subscribers to $3 got no 200 (see $BENCH/subs.err)" >&2
}
sub_wait() {
	SUB_LINE=
	for _ in $(seq 1 1800); do
		SUB_LINE=$(grep "^$1 " "$BENCH/subs.out" | tail -1 || true)
		[ -n "$SUB_LINE" ] && return
		sleep 0.05
	done
	echo "bench: no \"$1\" from bench/subscribers within 90 s (see $BENCH/subs.err)" >&2
	exit 1
}
sub_stop() {
	echo stop >&"$SUB_IN"
	wait "$SUB_PID" || true
	SUB_PID=
	exec {SUB_IN}>&-
	SUB_LINE=$(tail -1 "$BENCH/subs.out")
}

# POST with SUBS idle subscribers connected (to users idle0.., which
# post.lua never names) against the same server without them: they take
# turns as above, without first in odd rounds, with first in even ones;
# every round the subscribers connect anew, and must all still be open at
# its end.
echo "== POST with and without $SUBS idle subscribers ($ROUNDS rounds of ${RDUR}s each)" >&2
sum0=0 sum1=0 err=0 p50=0us p99=0us p99_0=0us ratios= closed=0 refused=0
for round in $(seq 1 $ROUNDS); do
	for with in $([ $((round % 2)) = 1 ] && echo 0 1 || echo 1 0); do
		if [ "$with" = 0 ]; then
			settle
			read -r rps0 _ p99r0 _ < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64 "$RDUR")
			continue
		fi
		sub_start hold "$SUBS" '/userEvents/idle%d/stream'
		refused=$((refused + sub_failed))
		settle
		read -r rps1 p50r p99r errr < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64 "$RDUR")
		sub_stop
		read -r _ _ sclosed _ _ <<<"$SUB_LINE"
		closed=$((closed + sclosed))
	done
	ab_add
done
ab_ratio
row "POST evproc + $SUBS idle SSE subscribers, fsync on" 64 "$((sum1 / ROUNDS))" "$p50" "$p99" "$err" \
	"$ratio of no subscribers ($((sum0 / ROUNDS)) req/s, p99 $p99_0); rounds $range; subscribers refused $refused, closed by the server $closed"

# Fan-out: SUBS subscribers of one user (unknown before, so no first
# state); FAN_REPS times one event for it is POSTed and evproc_rotate()
# ingests it; psql reads the clock as soon as evproc_rotate() returns, just
# after the commit, and bench/subscribers times from there the first byte
# of the message on each connection (so the figures slightly
# underestimate; negative: before evproc_rotate() returned).  Printed: p50
# and p99 over every subscriber of every change, errors = messages missed
# or subscribers refused.  The notes also time the same arrivals from the
# commit itself: the commit timestamp of the user's row
# (track_commit_timestamp, taken just before the commit record is written
# and flushed).
echo "== fan-out of one change to $SUBS subscribers of one user ($FAN_REPS changes)" >&2
settle
sub_start latency "$SUBS" /userEvents/fanout/stream
frefused=$sub_failed
for r in $(seq 1 $FAN_REPS); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		-d '{"userId": "fanout", "name": "add_revenue", "value": 1}' "http://127.0.0.1:$HTTP/liveEvent")
	[ "$code" = 200 ] || { echo "bench: POST for fanout: HTTP $code" >&2; exit 1; }
	t=$($PSQL -c "SELECT evproc_rotate(600000)" -c "SELECT extract(epoch FROM clock_timestamp())
		|| coalesce(' ' || extract(epoch FROM pg_xact_commit_timestamp(xmin)), '')
		FROM evproc.user_metrics WHERE user_id = 'fanout' AND metric = 'revenue'" | tail -1)
	echo "go $t" >&"$SUB_IN"
	sub_wait "round $r"
done
sub_stop
read -r _ _ fgot fmissed _ fp50 _ fp99 _ fmax _ _ flp50 _ flmax _ _ cp50 _ cp99 _ cmax _ _ clp50 _ clmax <<<"$SUB_LINE"
row "SSE fan-out, one change to $SUBS subscribers" "$SUBS" "-" "${fp50}ms" "${fp99}ms" "$((fmissed + frefused))" \
	"from the return of evproc_rotate() (just after the commit) to the first byte on each subscriber, $FAN_REPS changes: max ${fmax}ms; last subscriber of a change: p50 ${flp50}ms, max ${flmax}ms; from the commit timestamp: p50 ${cp50:-?}ms, p99 ${cp99:-?}ms, max ${cmax:-?}ms, last subscriber p50 ${clp50:-?}ms, max ${clmax:-?}ms"

echo "== GET /userEvents/:userId over $USERS users" >&2
settle
read -r grps gp50 gp99 gerr < <(USERS=$USERS run_wrk "http://127.0.0.1:$HTTP" bench/get.lua 64)
row "GET evproc" 64 "$grps" "$gp50" "$gp99" "$gerr" "-"

# GET /topUsers with TOP_USERS more users of revenue (top0.., values
# spread over a million, put in with SQL): one call at a time over one
# connection (per-call latency), limit 10 (the default) and 100 (the
# most); then POST (64 connections) alone and while 8 clients loop on
# /topUsers?limit=100, back to back.  Printed: the worker's peak RSS over
# the POSTs with the readers.
TOP_USERS=$([ "$QUICK" = 1 ] && echo 20000 || echo 1000000)
echo "== GET /topUsers over $TOP_USERS users" >&2
$PSQL -c "INSERT INTO evproc.user_metrics (user_id, metric, value)
	SELECT 'top' || i, 'revenue', (i::bigint * 7919) % 1000003 FROM generate_series(0, $TOP_USERS - 1) AS i" \
	-c "VACUUM ANALYZE evproc.user_metrics" >/dev/null
settle
for limit in 10 100; do
	wrk -t1 -c1 -d"$DUR"s --latency "http://127.0.0.1:$HTTP/topUsers?limit=$limit" >"$BENCH/wrk-top.txt" 2>&1
	read -r trps tp50 tp99 terr < <(wrk_stats <"$BENCH/wrk-top.txt")
	row "GET /topUsers?limit=$limit, $TOP_USERS users, one call at a time" 1 "$trps" "$tp50" "$tp99" "$terr" \
		"calls/s over one connection"
done
if [ "$QUICK" = 0 ]; then
	settle
	read -r rps0 _ p99r0 _ < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64)
	settle
	rss_start
	wrk -t1 -c8 -d$((DUR + 2))s --latency "http://127.0.0.1:$HTTP/topUsers?limit=100" >"$BENCH/wrk-top8.txt" 2>&1 &
	TOP_PID=$!
	sleep 1
	read -r rps1 p50r p99r errr < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64)
	wait $TOP_PID || true
	rss_stop
	read -r t8rps t8p50 t8p99 t8err < <(wrk_stats <"$BENCH/wrk-top8.txt")
	row "POST evproc while 8 clients loop on /topUsers, fsync on" 64 "$rps1" "$p50r" "$p99r" "$errr" \
		"$(awk -v a="$rps1" -v b="$rps0" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }') of POST alone just before ($rps0 req/s, p99 $p99r0); /topUsers?limit=100: $t8rps calls/s, p50 $t8p50, p99 $t8p99, $t8err errors; $(rss_note)"
fi

# One GET /metrics scrape (the issue: under 5 ms with 10 route/code pairs
# and 4 histograms).  The counters hold what the steps above did, and one
# request of each kind below, so that at least 10 route/code pairs and the
# histograms of every route are populated; then wrk scrapes over one
# connection, one scrape after the other, for the step's duration.
# Printed: p50 and p99 of a scrape in ms, and the size of a scrape and
# what it holds.
echo "== GET /metrics, one scrape at a time" >&2
URL="http://127.0.0.1:$HTTP"
req() { curl -s -o /dev/null --max-time 5 "$@" || true; }
req -d '{"userId": "metrics-bench", "name": "add_revenue", "value": 1}' "$URL/liveEvent"
req -d '{"userId": ' "$URL/liveEvent"			# 400
req "$URL/liveEvent"							# 405
head -c $((2 * 1024 * 1024)) /dev/zero | req --data-binary @- "$URL/liveEvent"	# 413
req "$URL/userEvents/user1"						# 200
req "$URL/userEvents/metrics-bench-unknown"		# 404
req -X POST "$URL/userEvents/user1"				# 405
req -X POST "$URL/userEvents/user1/stream"		# 405
req "$URL/health"
req "$URL/ready"
req -X POST "$URL/health"						# 405
req "$URL/no-such-route"						# 404
req "$URL/metrics"
curl -s "$URL/metrics" >"$BENCH/metrics.txt"
mbytes=$(wc -c <"$BENCH/metrics.txt")
mpairs=$(grep -c '^evproc_http_requests_total{' "$BENCH/metrics.txt" || true)
mhists=$(grep -c '_bucket{.*le="+Inf"' "$BENCH/metrics.txt" || true)
wrk -t1 -c1 -d"$DUR"s --latency "$URL/metrics" >"$BENCH/wrk-metrics.txt" 2>&1
read -r mrps mp50 mp99 merr < <(wrk_stats <"$BENCH/wrk-metrics.txt")
# ms WRK_LATENCY: a wrk latency ("812.00us", "1.07ms") in ms
ms() {
	awk -v x="$1" 'BEGIN { v = x + 0; if (x ~ /us$/) v /= 1000
		else if (x ~ /[^mu]s$/) v *= 1000; printf "%.3fms", v }'
}
row "GET /metrics, one scrape at a time" 1 "$mrps" "$(ms "$mp50")" "$(ms "$mp99")" "$merr" \
	"scrapes/s over one connection; a scrape: $mbytes bytes, $mpairs route/code pairs, $mhists histograms"

echo "== batched POST (100 events per request)" >&2
settle
# the reference receives the same bodies and journals each as one line
BATCH=100 versus_ref bench/post_batch.lua 64
row "POST batch of 100, fsync on" 64 "$((sum / ROUNDS))" "$p50" "$p99" "$err" \
	"$((sum / ROUNDS * 100)) events/s; $ratio of ref ($((rsum / ROUNDS * 100)) events/s, p99 $rp99); rounds $range; $cpu; $jbytes"

echo "== evproc-client send" >&2
settle
CLIENT_EVENTS=$((EVENTS / 10))
CLIENT=$(command -v evproc-client || echo "$PGBIN/evproc-client")
"$CLIENT" generate "$CLIENT_EVENTS" --users 1000 --seed 1 >"$BENCH/client.jsonl"
start=$(date +%s.%N)
"$CLIENT" send "$BENCH/client.jsonl" --url "http://127.0.0.1:$HTTP" --no-progress >"$BENCH/client.txt" 2>&1 || true
end=$(date +%s.%N)
csecs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
cevs=$(awk -v n="$CLIENT_EVENTS" -v s="$csecs" 'BEGIN { printf "%d", n / s }')
row "evproc-client send $CLIENT_EVENTS events" 4 "-" "-" "-" "-" "$cevs events/s in ${csecs}s; $(grep -m1 -i accepted "$BENCH/client.txt" | tr -s ' ')"

# --quick stops here: the rows below restart the cluster
if [ "$QUICK" = 1 ]; then
	print_table
	echo
	echo "(--quick: not run: fsync off, POST beside /topUsers, $SUBS_MANY subscribers held, HTTPS, two workers)"
	exit 0
fi

# SUBS_MANY subscribers (of users held0.., unknown: no first state) held
# at once by a new worker, with the limits raised for this step; the rows
# after it run with them too (they only allow more).  Printed: the worker's
# peak RSS over the connecting and holding; errors = subscribers refused or
# closed by the server.
echo "== $SUBS_MANY subscribers held" >&2
settle	# by the old worker: the new one then touches few shared buffers
# A connection's memory in libmicrohttpd is about half of
# evproc.max_header_size (touched as the request is read): this step runs
# with its default (8 kB), as the target is with the default settings.
# The subscribers all come from 127.0.0.1: one client address.
$PSQL -c "ALTER SYSTEM SET evproc.max_connections = $((SUBS_MANY + 1000))" \
	-c "ALTER SYSTEM SET evproc.max_subscribers = $((SUBS_MANY + 1000))" \
	-c "ALTER SYSTEM SET evproc.max_streams_per_client = 0" >/dev/null
restart_server
settle
read -r before_kb before_anon_kb < <(awk '/VmRSS/ { r = $2 } /RssAnon/ { a = $2 } END { print r, a }' "/proc/$WORKER/status")
rss_start
start=$(date +%s.%N)
sub_start hold "$SUBS_MANY" '/userEvents/held%d/stream'
end=$(date +%s.%N)
hrefused=$sub_failed
sleep "$RDUR"
sub_stop
rss_stop
read -r _ hopen hclosed _ _ <<<"$SUB_LINE"
row "SSE subscribers held" "$SUBS_MANY" "-" "-" "-" "$((hrefused + hclosed))" \
	"$(rss_note), RSS $((before_kb / 1024)) MB (private $((before_anon_kb / 1024)) MB) before they connected; evproc.max_header_size $($PSQL -c "SHOW evproc.max_header_size"); all connected in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')s, held ${RDUR}s, $hopen open at the end"

# Durable POST over HTTPS (keep-alive, 64 connections) against plain HTTP:
# they take turns ROUNDS times, plain first; turning TLS on or off takes a
# restart (a pg_ctl restart here).  The certificate is self-signed, RSA
# 2048; wrk does not check it.
echo "== POST over HTTPS and over plain HTTP ($ROUNDS rounds of ${RDUR}s each)" >&2
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$BENCH/data/server.key" \
	-out "$BENCH/data/server.crt" 2>/dev/null
chmod 600 "$BENCH/data/server.key"
[ -n "$AS_PG" ] && chown postgres: "$BENCH/data/server.key" "$BENCH/data/server.crt"
# set_tls on|off: restarts with HTTPS on or off; sets SCHEME
set_tls() {
	if [ "$1" = on ]; then
		$PSQL -c "ALTER SYSTEM SET evproc.tls_cert_file = 'server.crt'" \
			-c "ALTER SYSTEM SET evproc.tls_key_file = 'server.key'" >/dev/null
		SCHEME=https
	else
		$PSQL -c "ALTER SYSTEM RESET evproc.tls_cert_file" \
			-c "ALTER SYSTEM RESET evproc.tls_key_file" >/dev/null
		SCHEME=http
	fi
	restart_server $SCHEME
}
# the worker's CPU per request in both schemes: the ratio of req/s follows
# it while the worker is the busiest process (issue 23's notes)
sum0=0 sum1=0 err=0 p50=0us p99=0us p99_0=0us ratios= n0=0 t0=0 n1=0 t1=0
for _ in $(seq 1 $ROUNDS); do
	settle
	read -r rps0 _ p99r0 _ < <(CPU_OF=$WORKER run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64 "$RDUR")
	read -r n t <"$BENCH/wrk_cpu"
	n0=$((n0 + n)) t0=$((t0 + t))
	set_tls on
	settle
	read -r rps1 p50r p99r errr < <(CPU_OF=$WORKER run_wrk "https://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64 "$RDUR")
	read -r n t <"$BENCH/wrk_cpu"
	n1=$((n1 + n)) t1=$((t1 + t))
	[ -n "${tls_used:-}" ] || tls_used=$(openssl s_client -connect "127.0.0.1:$HTTP" </dev/null 2>/dev/null |
		sed -n 's/^New, \(.*\), Cipher is \(.*\)/\1 \2/p')
	set_tls off
	ab_add
done
ab_ratio
row "POST evproc over HTTPS (keep-alive), fsync on" 64 "$((sum1 / ROUNDS))" "$p50" "$p99" "$err" \
	"$ratio of plain HTTP in the same run ($((sum0 / ROUNDS)) req/s, p99 $p99_0); rounds $range; ${tls_used:-?}; worker CPU per request: HTTPS $(cpu_us $t1 $n1)us, plain $(cpu_us $t0 $n0)us"

echo "== one worker, then two (evproc.workers = 2)" >&2
# measured back to back, so that the ratio is of like conditions
settle
read -r w1rps _ _ _ < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64)
$PSQL -c "ALTER SYSTEM SET evproc.workers = 2" >/dev/null
restart_server
settle
read -r w2rps w2p50 w2p99 w2err < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64)
row "POST evproc x2 workers, fsync on" 64 "$w2rps" "$w2p50" "$w2p99" "$w2err" "$(awk -v a="$w2rps" -v b="$w1rps" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }') of 1 worker ($w1rps req/s just before)"
$PSQL -c "ALTER SYSTEM RESET evproc.workers" >/dev/null

# the journal kept in the database (evproc.journal_storage = database)
. bench/dbmode.sh

print_table
