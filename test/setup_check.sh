#!/bin/bash
#
# setup_check.sh: scripts/setup.sh as a newcomer runs it, on a cluster of
# its own (under /tmp) and on free ports, so that it never touches
# /var/tmp/evproc-cluster or the default ports 5499 and 8000:
#
#   1. another HTTP server holds the HTTP port: setup fails (exit status
#      not 0), saying the port is taken and by what, and the log path;
#   2. the same, now existing, cluster with new EVPROC_HTTP_PORT and
#      EVPROC_PGPORT: evproc serves on the new HTTP port (its JSON replies,
#      the socket held by the worker) and PostgreSQL on the new port;
#   3. without them, a restart keeps those ports;
#   4. evproc-client resolves on a plain PATH after set-up;
#   5. stop, status and reset.
#
# Run by scripts/test.sh, as root (setup.sh installs packages and builds).
# It runs "make install", so it needs /tmp/evproc-install.lock like
# scripts/test.sh itself: the caller holds it (taking it here, in a child
# of the holder, would wait forever).
#
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "setup_check.sh: run as root" >&2; exit 2; }

PGBIN=/usr/lib/postgresql/15/bin
PLAIN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
work=$(mktemp -d /tmp/evproc-setup-check.XXXXXX)
chmod 755 "$work"
export EVPROC_PGDATA=$work/cluster
FAKE_PID=
failures=0

cleanup() {
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null
	if [ -f "$EVPROC_PGDATA/postmaster.pid" ]; then
		runuser -u postgres -- $PGBIN/pg_ctl -D "$EVPROC_PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

ok() { echo "ok: $*"; }
not_ok() {
	echo "not ok: $*" >&2
	failures=$((failures + 1))
}

# free_port: a TCP port nobody listens on now (the kernel's choice)
free_port() {
	perl -MIO::Socket::INET -e \
		'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'
}

# fake_http PORT: another HTTP server (200 "hello" to everything) on PORT
fake_http() {
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(Listen => 16, LocalAddr => "127.0.0.1:$ARGV[0]",
			ReuseAddr => 1) or die "fake server: $!";
		$SIG{TERM} = sub { exit 0 };
		print STDOUT "ready\n"; close STDOUT;
		while (my $c = $s->accept) {
			my $req = "";
			while (defined(my $l = <$c>)) { last if $l =~ /^\r?$/; }
			print $c "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
			close $c;
		}' "$1" >"$work/fake.ready" &
	FAKE_PID=$!
	for _ in $(seq 1 50); do
		grep -q ready "$work/fake.ready" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "the fake HTTP server did not start" >&2
	exit 1
}

# worker_listens PORT: the evproc worker of this cluster holds PORT
worker_listens() {
	local pgport=$1 port=$2 pids
	pids=$($PGBIN/psql -X -At -h /tmp -p "$pgport" -U postgres -d postgres \
		-c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc'" 2>/dev/null) || return 1
	[ -n "$pids" ] || return 1
	ss -ltnpH "sport = :$port" | grep -qE "pid=($(paste -sd'|' <<<"$pids")),"
}

# the evproc-client link is made by setup.sh: start without one of ours
if [ -L /usr/local/bin/evproc-client ]; then
	rm -f /usr/local/bin/evproc-client
fi

# 1. a taken HTTP port
HTTP1=$(free_port)
PG1=$(free_port)
fake_http "$HTTP1"
echo "== setup.sh with HTTP port $HTTP1 held by another server"
status=0
EVPROC_HTTP_PORT=$HTTP1 EVPROC_PGPORT=$PG1 bash scripts/setup.sh >"$work/taken.out" 2>&1 || status=$?
if [ "$status" != 0 ]; then
	ok "taken port: setup.sh fails (exit status $status)"
else
	not_ok "taken port: setup.sh exits 0"
fi
if grep -q "HTTP port $HTTP1 is taken by perl (pid $FAKE_PID)" "$work/taken.out" &&
	grep -q "server log: $EVPROC_PGDATA/server.log" "$work/taken.out"; then
	ok "taken port: it says the port is taken, by what, and where the log is"
else
	not_ok "taken port: the reason or the log path is missing"
fi
if grep -q "evproc is running" "$work/taken.out"; then
	not_ok "taken port: it says evproc is running"
fi
[ -f "$EVPROC_PGDATA/PG_VERSION" ] || { not_ok "taken port: no cluster was created"; }
sed 's/^/    /' "$work/taken.out"
kill "$FAKE_PID"
wait "$FAKE_PID" 2>/dev/null || true
FAKE_PID=

# 2. the existing cluster on new ports
HTTP2=$(free_port)
PG2=$(free_port)
echo "== setup.sh on the existing cluster with HTTP port $HTTP2, PostgreSQL port $PG2"
status=0
EVPROC_HTTP_PORT=$HTTP2 EVPROC_PGPORT=$PG2 bash scripts/setup.sh >"$work/new.out" 2>&1 || status=$?
if [ "$status" = 0 ]; then
	ok "new ports: setup.sh succeeds"
else
	not_ok "new ports: setup.sh fails (exit status $status)"
	sed 's/^/    /' "$work/new.out"
fi
reply=$(curl -s --max-time 5 -d '{"userId": "setup-check", "name": "add_revenue", "value": 3}' \
	"http://127.0.0.1:$HTTP2/liveEvent" || true)
if [ "$reply" = '{"accepted": 1}' ]; then
	ok "new ports: evproc answers a POST on HTTP port $HTTP2"
else
	not_ok "new ports: POST on $HTTP2 got '$reply'"
fi
if worker_listens "$PG2" "$HTTP2"; then
	ok "new ports: PostgreSQL answers on $PG2 and its evproc worker holds $HTTP2"
else
	not_ok "new ports: no evproc worker of PostgreSQL on $PG2 holding $HTTP2"
fi
# curl's output ends its line: the reply ends with a newline
if [ "$(curl -s --max-time 5 "http://127.0.0.1:$HTTP2/userEvents/nobody" | tail -c 1 | od -An -c | tr -d ' ')" = '\n' ]; then
	ok "replies end with a newline"
else
	not_ok "a reply without a final newline"
fi

# 3. a restart without EVPROC_* keeps them
status=0
env -u EVPROC_HTTP_PORT -u EVPROC_PGPORT bash scripts/setup.sh restart >"$work/restart.out" 2>&1 || status=$?
if [ "$status" = 0 ] && worker_listens "$PG2" "$HTTP2"; then
	ok "restart: the cluster keeps HTTP port $HTTP2 and PostgreSQL port $PG2"
else
	not_ok "restart: ports not kept (exit status $status)"
	sed 's/^/    /' "$work/restart.out"
fi

# 4. evproc-client on a plain PATH, as the README shows it
if env -i PATH=$PLAIN_PATH bash -c 'command -v evproc-client' >/dev/null &&
	env -i PATH=$PLAIN_PATH evproc-client --help >/dev/null 2>&1; then
	ok "evproc-client resolves on PATH=$PLAIN_PATH"
else
	not_ok "evproc-client: command not found on PATH=$PLAIN_PATH"
fi

# 5. stop, status, reset
bash scripts/setup.sh stop >/dev/null
if bash scripts/setup.sh status >/dev/null; then
	not_ok "stop: the cluster still runs"
elif curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$HTTP2/"; then
	not_ok "stop: HTTP port $HTTP2 still answers"
else
	ok "stop: the cluster is stopped"
fi
status=0
bash scripts/setup.sh reset >"$work/reset.out" 2>&1 || status=$?
if [ "$status" = 0 ] && worker_listens "$PG2" "$HTTP2" &&
	[ "$(curl -s --max-time 5 "http://127.0.0.1:$HTTP2/userEvents/setup-check")" = '{"error": "user not found"}' ]; then
	ok "reset: a new empty cluster on the same ports"
else
	not_ok "reset (exit status $status)"
	sed 's/^/    /' "$work/reset.out"
fi
bash scripts/setup.sh stop >/dev/null

if [ "$failures" != 0 ]; then
	echo "setup_check.sh: $failures failed" >&2
	exit 1
fi
echo "setup_check.sh: all passed"
