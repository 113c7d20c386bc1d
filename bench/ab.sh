#!/bin/bash
#
# bench/ab.sh: an A/B run of two or more builds under one POST load, on
# one machine at one time, so that they meet the same drift (root: it
# installs each build into a copy of PostgreSQL's directories, and runs
# the clusters as postgres).
#
#   bench/ab.sh [--batch] [--tls] [--conns N] [--rounds N] [--seconds N] REV...
#
# Each REV (a git revision of this repository; "." for the working tree)
# is built and installed with DESTDIR into its own copy of PostgreSQL 15's
# directories under $EVPROC_AB_DIR (default /tmp/evproc-ab), and gets a
# throwaway cluster of its own.  Each round runs wrk for --seconds against
# the reference server (bench/ref_server: an append and a group-commit
# fdatasync), then against each build in turn; a line per round gives
# req/s, the CPU per request of the server's process (user + system,
# from /proc) and the ratio to the reference; the last line gives each
# build's req/s over the first build's, summed over the rounds.
#
#   --batch     bench/post_batch.lua (100 events a request) instead of
#               bench/post.lua; the reference receives the same bodies
#   --tls       the builds serve HTTPS (a self-signed certificate); the
#               reference stays plain HTTP, so its ratio is only a scale
#   --conns N   wrk's connections (64)
#   --rounds N  rounds (6)
#   --seconds N seconds per run of wrk (2)
#
# Ports: PostgreSQL 5660 + i, HTTP 18660 + i, the reference 18660
# (EVPROC_AB_PGPORT and EVPROC_AB_HTTP_PORT move both bases).  Everything
# goes to 127.0.0.1 and the socket directory /tmp.
#
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)

script=bench/post.lua batch='' tls='' conns=64 rounds=6 secs=2
while [ $# -gt 0 ]; do
	case $1 in
	--batch) script=bench/post_batch.lua batch=100 ;;
	--tls) tls=1 ;;
	--conns) conns=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--seconds) secs=$2; shift ;;
	-*) echo "usage: $0 [--batch] [--tls] [--conns N] [--rounds N] [--seconds N] REV..." >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 2 ] || { echo "bench/ab.sh: give two builds or more (git revisions, . for the tree)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench/ab.sh: run as root (DESTDIR installs, clusters as postgres)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench/ab.sh: wrk is needed (apt-get install wrk)" >&2; exit 2; }

PGLIB=/usr/lib/postgresql/15
PGSHARE=/usr/share/postgresql/15
dir=${EVPROC_AB_DIR:-/tmp/evproc-ab}
pgbase=${EVPROC_AB_PGPORT:-5660}
httpbase=${EVPROC_AB_HTTP_PORT:-18660}
scheme=http
[ -z "$tls" ] || scheme=https
export BATCH=${batch:-1}

builds=("$@")
declare -a desc root port http worker
cleanup() {
	local i
	for i in "${!builds[@]}"; do
		[ -f "$dir/$i/data/postmaster.pid" ] &&
			runuser -u postgres -- "${root[$i]}$PGLIB/bin/pg_ctl" -D "$dir/$i/data" -m fast -w stop >/dev/null 2>&1
	done
	[ -z "${ref_pid:-}" ] || kill "$ref_pid" 2>/dev/null || true
	# the revisions' trees: the builds under $dir stay, the checkouts go
	for i in "${!builds[@]}"; do
		[ ! -d "$dir/$i/src" ] || git -C "$here" worktree remove --force "$dir/$i/src" 2>/dev/null || true
	done
}
trap cleanup EXIT

rm -rf "$dir"
git -C "$here" worktree prune		# the trees of a run that was killed
mkdir -p "$dir"
make -s -C "$here" PG_CONFIG=$PGLIB/bin/pg_config bench/ref_server >/dev/null

# build i: REV's tree built and installed into $dir/i/root, a copy of
# PostgreSQL 15's directories, and a cluster of its own started
for i in "${!builds[@]}"; do
	rev=${builds[$i]}
	src=$here
	if [ "$rev" != . ]; then
		src=$dir/$i/src
		git -C "$here" worktree add -q --detach "$src" "$rev"
	fi
	desc[i]=$(git -C "$src" describe --always --dirty)
	root[i]=$dir/$i/root
	mkdir -p "${root[$i]}$PGLIB" "${root[$i]}$PGSHARE"
	cp -a "$PGLIB/." "${root[$i]}$PGLIB"
	cp -a "$PGSHARE/." "${root[$i]}$PGSHARE"
	make -s -C "$src" PG_CONFIG=$PGLIB/bin/pg_config >/dev/null
	make -s -C "$src" PG_CONFIG=$PGLIB/bin/pg_config install DESTDIR="${root[$i]}" >/dev/null
	port[i]=$((pgbase + i + 1))
	http[i]=$((httpbase + i + 1))
	data=$dir/$i/data
	chown -R postgres: "$dir/$i"
	(cd /tmp && runuser -u postgres -- "${root[$i]}$PGLIB/bin/initdb" -D "$data" -E UTF8 \
		--locale=C.UTF-8 -U postgres -A trust >/dev/null)
	cat >>"$data/postgresql.conf" <<CONF
port = ${port[$i]}
listen_addresses = ''
unix_socket_directories = '/tmp'
shared_preload_libraries = 'evproc'
evproc.port = ${http[$i]}
evproc.max_connections = 4096
max_wal_size = '4GB'
evproc.read_rate_limit_per_client = 0
CONF
	if [ -n "$tls" ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
			-keyout "$data/server.key" -out "$data/server.crt" 2>/dev/null
		chmod 600 "$data/server.key"
		chown postgres: "$data/server.key" "$data/server.crt"
		echo "evproc.tls_cert_file = 'server.crt'" >>"$data/postgresql.conf"
		echo "evproc.tls_key_file = 'server.key'" >>"$data/postgresql.conf"
	fi
	(cd /tmp && runuser -u postgres -- "${root[$i]}$PGLIB/bin/pg_ctl" -D "$data" \
		-l "$dir/$i/server.log" -w start >/dev/null)
	psql=("${root[$i]}$PGLIB/bin/psql" -X -q -At -h /tmp -p "${port[$i]}" -U postgres)
	"${psql[@]}" -c "CREATE EXTENSION evproc"
	for _ in $(seq 1 50); do
		worker[i]=$("${psql[@]}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc'")
		[ -n "${worker[$i]}" ] && curl -sk -o /dev/null "$scheme://127.0.0.1:${http[$i]}/health" && break
		sleep 0.1
	done
	echo "build $i: $rev (${desc[i]})"
done

bench/ref_server "$httpbase" "$dir/ref.jsonl" &
ref_pid=$!
sleep 0.3

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# one URL PID: wrk's req/s and PID's CPU per request in us; fails on errors
one() {
	local t0 out n
	t0=$(ticks "$2")
	out=$(wrk -t2 -c"$conns" -d"$secs"s -s "$script" "$1" 2>&1)
	if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
		echo "bench/ab.sh: errors from $1:" >&2
		echo "$out" >&2
		return 1
	fi
	n=$(awk '/ requests in / { print $1 }' <<<"$out")
	awk -v n="$n" -v t=$(($(ticks "$2") - t0)) -v u=$((1000000 / $(getconf CLK_TCK))) \
		'/Requests\/sec:/ { printf "%d %.1f\n", $2, (n > 0 ? t * u / n : 0) }' <<<"$out"
}

declare -a sum
for r in $(seq 1 "$rounds"); do
	out=$(one "http://127.0.0.1:$httpbase/liveEvent" "$ref_pid")
	read -r rr rc <<<"$out"
	line="round $r: ref $rr req/s (${rc}us)"
	for i in "${!builds[@]}"; do
		"${root[$i]}$PGLIB/bin/psql" -X -q -At -h /tmp -p "${port[$i]}" -U postgres \
			-c "SELECT evproc_rotate(600000)" >/dev/null
		out=$(one "$scheme://127.0.0.1:${http[$i]}/liveEvent" "${worker[$i]}")
		read -r br bc <<<"$out"
		sum[i]=$((${sum[i]:-0} + br))
		line="$line | $i: $br req/s (${bc}us) $(awk -v a="$br" -v b="$rr" 'BEGIN { printf "%.2fx", a / b }')"
	done
	echo "$line"
done
line="over build 0, summed:"
for i in "${!builds[@]}"; do
	line="$line $i: $(awk -v a="${sum[$i]}" -v b="${sum[0]}" 'BEGIN { printf "%.2fx", a / b }')"
done
echo "$line"
