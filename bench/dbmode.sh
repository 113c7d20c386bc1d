# bench/dbmode.sh: the rows of the journal kept in the database (issue 22).
# Sourced by bench/run.sh after its other rows: it uses run.sh's cluster,
# variables and functions (run_wrk, settle, row, ab_add, ab_ratio).
#
#   - durable POST at 64 connections, database mode against files mode,
#     taking turns ROUNDS times (evproc.journal_storage takes a restart);
#   - the same with a synchronous standby on this machine (pg_basebackup,
#     synchronous_standby_names), database mode against files mode;
#   - ingest of sealed segments: events posted in batches of 100 while
#     ingest is paused, then timed from evproc_resume_ingest() until every
#     segment is counted;
#   - the journal tables' size under SUSTAIN seconds of sustained load
#     (600 in a full run), sampled every SAMPLE seconds: it must stay flat.

STANDBY_PORT=${EVPROC_BENCH_STANDBY_PGPORT:-$((PGPORT + 1))}
STANDBY_HTTP=${EVPROC_BENCH_STANDBY_HTTP_PORT:-$((HTTP + 2))}
if [ "$QUICK" = 1 ]; then SUSTAIN=10 SAMPLE=2; else SUSTAIN=600 SAMPLE=60; fi

# restart_primary: restart_server, then (with the standby) until it is the
# synchronous one again
restart_primary() {
	restart_server
	[ -n "${STANDBY_UP:-}" ] && wait_sync
	return 0
}
# wait_sync: until the standby streams again as the synchronous one
wait_sync() {
	for _ in $(seq 1 200); do
		[ "$($PSQL -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bench_standby'")" = sync ] && return
		sleep 0.1
	done
}
# set_storage files|database: restarts with that journal storage
set_storage() {
	$PSQL -c "ALTER SYSTEM SET evproc.journal_storage = '$1'" >/dev/null
	restart_primary
}
# journal_tables_kb: the size of the journal tables and their indexes
journal_tables_kb() {
	$PSQL -c "SELECT (coalesce(sum(pg_total_relation_size(c.oid)), 0) / 1024)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'evproc' AND c.relkind = 'r' AND c.relname LIKE 'journal\_%'"
}
# post_ab LABEL: files mode (rps0) against database mode (rps1), ROUNDS
# turns of RDUR seconds, then a row
post_ab() {
	sum0=0 sum1=0 err=0 p50=0us p99=0us p99_0=0us ratios=
	for _ in $(seq 1 $ROUNDS); do
		set_storage files
		settle
		read -r rps0 _ p99r0 _ < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64 "$RDUR")
		set_storage database
		settle
		read -r rps1 p50r p99r errr < <(run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post.lua 64 "$RDUR")
		ab_add
	done
	ab_ratio
	row "$1" 64 "$((sum1 / ROUNDS))" "$p50" "$p99" "$err" \
		"$ratio of files mode in the same run ($((sum0 / ROUNDS)) req/s, p99 $p99_0); rounds $range; $2"
}

echo "== journal in the database: POST against files mode ($ROUNDS rounds of ${RDUR}s each)" >&2
post_ab "POST evproc, database journal, fsync on" "target >= 0.7x"

echo "== journal in the database: ingest of sealed segments" >&2
set_storage database
settle
$PSQL -c "SELECT evproc_pause_ingest()" >/dev/null
before=$($PSQL -c "SELECT coalesce(sum(events), 0) FROM evproc.processed_files")
read -r brps _ _ berr < <(BATCH=100 run_wrk "http://127.0.0.1:$HTTP/liveEvent" bench/post_batch.lua 64 "$DUR")
nseg=$($PSQL -c "SELECT count(*) FROM evproc.journal_segments")
read -r t0 _ < /proc/uptime
# evproc_rotate seals the current segment and waits until all are counted
$PSQL -c "SELECT evproc_resume_ingest()" -c "SELECT evproc_rotate(600000)" >/dev/null
read -r t1 _ < /proc/uptime
left=$($PSQL -c "SELECT count(*) FROM evproc.journal_segments WHERE sealed_at IS NOT NULL")
evs=$(( $($PSQL -c "SELECT coalesce(sum(events), 0) FROM evproc.processed_files") - before ))
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
row "ingest of database segments" "-" "$(awk -v e="$evs" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? e / s : 0) }') events/s" \
	"${secs}s total" "-" "-" "$evs events in $nseg segments ($left left after); target >= 1M events/s"

echo "== journal in the database: tables under ${SUSTAIN}s of sustained load" >&2
sizes=
start_kb=$(journal_tables_kb)
wrk -t2 -c16 -d"${SUSTAIN}"s --latency -s bench/post.lua "http://127.0.0.1:$HTTP/liveEvent" >"$BENCH/wrk-sustain.txt" 2>&1 &
SUS_PID=$!
for _ in $(seq 1 $((SUSTAIN / SAMPLE))); do
	sleep "$SAMPLE"
	sizes="$sizes $(journal_tables_kb)"
done
wait $SUS_PID || true
read -r srps _ _ serr < <(wrk_stats <"$BENCH/wrk-sustain.txt")
first=$(echo $sizes | awk '{ print $1 }')
last=$(echo $sizes | awk '{ print $NF }')
max=$(printf '%s\n' $sizes | sort -n | tail -1)
row "journal tables under sustained POST (database journal)" 16 "$srps" "-" "-" "$serr" \
	"${SUSTAIN}s; size in kB every ${SAMPLE}s:$sizes (start $start_kb, max $max); last/first $(awk -v a="$last" -v b="$first" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'); target: flat"

# A synchronous standby on this machine: a base backup of the bench's
# cluster, streaming, named in synchronous_standby_names; database mode is
# then acknowledged once the standby has flushed.  Its own worker starts
# too (on another HTTP port) and serves reads.
echo "== journal in the database with a synchronous standby ($ROUNDS rounds of ${RDUR}s each)" >&2
set_storage files
rm -rf "$BENCH/standby"
(cd /tmp && $AS_PG $PGBIN/pg_basebackup -h /tmp -p "$PGPORT" -U postgres -D "$BENCH/standby" -R -X stream >/dev/null)
# postgresql.auto.conf: after the primary_conninfo that -R wrote there
cat >>"$BENCH/standby/postgresql.auto.conf" <<CONF
port = $STANDBY_PORT
evproc.port = $STANDBY_HTTP
primary_conninfo = 'host=/tmp port=$PGPORT user=postgres application_name=bench_standby'
wal_retrieve_retry_interval = '100ms'
CONF
(cd /tmp && $AS_PG $PGBIN/pg_ctl -D "$BENCH/standby" -l "$BENCH/standby.log" -w start >/dev/null)
STANDBY_UP=1
$PSQL -c "ALTER SYSTEM SET synchronous_standby_names = 'bench_standby'" -c "SELECT pg_reload_conf()" >/dev/null
wait_sync
post_ab "POST evproc, database journal, synchronous standby, fsync on" \
	"standby $($PSQL -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bench_standby'") on this machine; target >= 0.5x"
$PSQL -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
(cd /tmp && $AS_PG $PGBIN/pg_ctl -D "$BENCH/standby" -m fast -w stop >/dev/null)
STANDBY_UP=
set_storage files
