#!/bin/bash
#
# setup.sh: installs what evproc needs (Debian 12), builds and installs it,
# and runs a throwaway PostgreSQL 15 cluster with the evproc worker
# serving HTTP.  Run as root (or as a user who may sudo).
#
#   scripts/setup.sh [start]    install packages, build, install, and
#                               (re)start the cluster; creates it if needed
#   scripts/setup.sh restart    restart the cluster (no build)
#   scripts/setup.sh stop       stop it
#   scripts/setup.sh status     is it running, on which ports, and does
#                               the HTTP port speak HTTPS
#   scripts/setup.sh reset      stop it, delete it, start a new empty one
#                               (on the same ports)
#   scripts/setup.sh uninstall  stop it, delete it, remove evproc from
#                               PostgreSQL's directories and the link
#                               /usr/local/bin/evproc-client
#
#   EVPROC_PGDATA     cluster directory      (default /var/tmp/evproc-cluster)
#   EVPROC_PGPORT     PostgreSQL port        (default 5499)
#   EVPROC_HTTP_PORT  evproc HTTP port       (default 8000)
#   EVPROC_START=0    start: install and build only
#   EVPROC_PGBIN      PostgreSQL 15's bin directory
#                     (default /usr/lib/postgresql/15/bin)
#
# The ports are kept in <cluster>/evproc-setup.conf, included by its
# postgresql.conf.  EVPROC_PGPORT and EVPROC_HTTP_PORT, when set, are
# written there on start, restart and reset, so they apply to an existing
# cluster too; when not set, the cluster keeps the ports it has.
#
# Start succeeds only once evproc itself answers on the HTTP port: the
# worker logged "evproc: listening on" since this start, the listening
# socket belongs to the worker (pg_stat_activity, ss), and an unknown path
# gets evproc's JSON 404.  Otherwise it says why (a port taken, and by
# what), stops the cluster again and exits 1.
#
# HTTPS (evproc.tls_cert_file and evproc.tls_key_file, set with ALTER
# SYSTEM) stays on across start and restart.  The checks and status find
# out whether the port speaks TLS by asking it (evproc answers plain HTTP
# on its HTTPS port with a 400 that says so), and then check over HTTPS;
# without checking the certificate (curl -k): they ask whether evproc
# answers, not who it is.
#
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=${EVPROC_PGBIN:-/usr/lib/postgresql/15/bin}
PGDATA=${EVPROC_PGDATA:-/var/tmp/evproc-cluster}
LOG=$PGDATA/server.log
CONF=$PGDATA/evproc-setup.conf
LINK=/usr/local/bin/evproc-client
VERB=${1:-start}

if [ "$(id -u)" = 0 ]; then
	SUDO=
	AS_PG="runuser -u postgres --"
else
	SUDO=sudo
	AS_PG=
fi

die() {
	echo "setup.sh: $*" >&2
	exit 1
}

pg_ctl() {
	(cd /tmp && $AS_PG $PGBIN/pg_ctl -D "$PGDATA" "$@")
}

running() {
	[ -f "$PGDATA/postmaster.pid" ] && pg_ctl status >/dev/null 2>&1
}

# conf_value FILE NAME: the last value of setting NAME in FILE, unquoted
conf_value() {
	[ -f "$1" ] || return 0
	sed -nE "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*'?([^'#[:space:]]*)'?.*/\\1/p" "$1" | tail -n 1
}

# port_holder PORT: who listens on TCP port PORT ("" if nobody), as ss says
port_holder() {
	local line
	line=$(ss -ltnpH "sport = :$1" 2>/dev/null | head -n 1) || true
	[ -n "$line" ] || return 0
	if [[ $line =~ users:\(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
		echo "${BASH_REMATCH[1]} (pid ${BASH_REMATCH[2]})"
	else
		echo "a process ss cannot name (${line//  / })"
	fi
}

stop_cluster() {
	if [ -f "$PGDATA/postmaster.pid" ]; then
		echo "== stopping the cluster in $PGDATA"
		pg_ctl -m fast -w stop >/dev/null || true
	fi
}

# ours: PGDATA is a cluster that this script made (safe to delete)
ours() {
	[ -f "$PGDATA/PG_VERSION" ] &&
		grep -q "evproc throwaway cluster (scripts/setup.sh)" "$PGDATA/postgresql.conf" 2>/dev/null
}

delete_cluster() {
	[ -e "$PGDATA" ] || return 0
	ours || die "$PGDATA is not a cluster made by scripts/setup.sh; not deleting it"
	stop_cluster
	echo "== deleting the cluster in $PGDATA"
	$SUDO rm -rf "$PGDATA"
}

build_and_install() {
	bash scripts/deps.sh
	echo "== building"
	make -s PG_CONFIG=$PGBIN/pg_config WERROR=1
	$SUDO make -s PG_CONFIG=$PGBIN/pg_config install
	# PostgreSQL's bindir is not on PATH on Debian: a link in /usr/local/bin
	local bin
	bin="$($PGBIN/pg_config --bindir)/evproc-client"
	if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
		echo "setup.sh: $LINK exists and is not a link; left as it is ($bin is the new build)" >&2
	else
		$SUDO ln -sfn "$bin" "$LINK"
	fi
}

create_cluster() {
	echo "== creating a cluster in $PGDATA"
	$SUDO mkdir -p "$PGDATA"
	if [ -n "$AS_PG" ]; then
		chown postgres: "$PGDATA"
	else
		$SUDO chown "$(id -u):$(id -g)" "$PGDATA"
	fi
	chmod 700 "$PGDATA"
	(cd /tmp && $AS_PG $PGBIN/initdb -D "$PGDATA" -E UTF8 --locale=C.UTF-8 \
		-U postgres -A trust >/dev/null)
}

# configure: the ports and settings in evproc-setup.conf, included last by
# postgresql.conf.  Settings of these names in postgresql.auto.conf (ALTER
# SYSTEM) would win over it, so they are removed (the cluster is stopped).
configure() {
	grep -q "evproc throwaway cluster (scripts/setup.sh)" "$PGDATA/postgresql.conf" ||
		echo "
# evproc throwaway cluster (scripts/setup.sh)" | $AS_PG tee -a "$PGDATA/postgresql.conf" >/dev/null
	grep -q "^include_if_exists = 'evproc-setup.conf'" "$PGDATA/postgresql.conf" ||
		echo "# ports and evproc settings, rewritten by scripts/setup.sh on every start
include_if_exists = 'evproc-setup.conf'" | $AS_PG tee -a "$PGDATA/postgresql.conf" >/dev/null

	local auto=$PGDATA/postgresql.auto.conf
	if grep -qE '^[[:space:]]*(port|evproc\.port|unix_socket_directories|listen_addresses)[[:space:]]*=' "$auto" 2>/dev/null; then
		echo "== removing port settings made by ALTER SYSTEM from $auto (setup.sh sets them)"
		$AS_PG sed -i -E '/^[[:space:]]*(port|evproc\.port|unix_socket_directories|listen_addresses)[[:space:]]*=/d' "$auto"
	fi

	cat <<CONF | $AS_PG tee "$CONF" >/dev/null
# evproc-setup.conf: written by scripts/setup.sh on every start; edit the
# ports with EVPROC_PGPORT and EVPROC_HTTP_PORT, not here.
listen_addresses = 'localhost'
port = $PGPORT
unix_socket_directories = '/tmp'
shared_preload_libraries = 'evproc'
evproc.port = $HTTP_PORT
CONF
}

# fail REASON: stop the cluster this run started, and exit 1 with the reason
fail() {
	echo "setup.sh: $*" >&2
	echo "setup.sh: server log: $LOG" >&2
	if [ -f "$LOG" ]; then
		echo "--- last lines of $LOG since this start:" >&2
		tail -c +"$((LOG_OFFSET + 1))" "$LOG" | tail -n 15 >&2
	fi
	stop_cluster >&2
	exit 1
}

# probe PORT: GETs an unknown path on PORT, over HTTPS if the port speaks
# TLS; sets SCHEME (http or https) and REPLY_BODY (the body and status, as
# curl -w ' %{http_code}')
probe() {
	SCHEME=http
	REPLY_BODY=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$1/evproc-setup-check" || true)
	if [[ $REPLY_BODY == *'plain HTTP sent to the HTTPS port'*' 400' ]]; then
		SCHEME=https
		REPLY_BODY=$(curl -sk --max-time 5 -w ' %{http_code}' "https://127.0.0.1:$1/evproc-setup-check" || true)
	fi
}

# verify: evproc itself answers on HTTP_PORT (not just any server)
verify() {
	local since pids holder body listening=
	for _ in $(seq 1 100); do
		since=$(tail -c +"$((LOG_OFFSET + 1))" "$LOG" 2>/dev/null || true)
		if grep -q "evproc: listening on .*:$HTTP_PORT," <<<"$since"; then
			listening=1
			break
		fi
		grep -qE "evproc: (could not start the HTTP server|HTTP port $HTTP_PORT is in use)" <<<"$since" && break
		sleep 0.1
	done
	if [ -z "$listening" ]; then
		holder=$(port_holder "$HTTP_PORT")
		if [ -n "$holder" ]; then
			fail "evproc could not listen on HTTP port $HTTP_PORT: it is taken by $holder; stop that, or choose another port with EVPROC_HTTP_PORT"
		fi
		fail "the evproc worker did not start listening on HTTP port $HTTP_PORT within 10 s"
	fi

	pids=$($PSQL -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'evproc'" 2>/dev/null || true)
	[ -n "$pids" ] || fail "no evproc worker in pg_stat_activity"
	holder=$(port_holder "$HTTP_PORT")
	if [[ -n $holder && $holder =~ pid\ ([0-9]+) ]] &&
		! grep -qx "${BASH_REMATCH[1]}" <<<"$pids"; then
		fail "HTTP port $HTTP_PORT is held by $holder, not by the evproc worker (pid $pids)"
	fi

	# an unknown path: evproc's own JSON 404 (over HTTPS if the port speaks it)
	probe "$HTTP_PORT"
	body=$REPLY_BODY
	[ "$body" = '{"error": "not found"}
 404' ] || fail "the server on $(port_name) $HTTP_PORT does not answer as evproc does (got: ${body:0:200})"
}

# resolve_ports: PGPORT and HTTP_PORT are EVPROC_* if set, else what the
# cluster has (evproc-setup.conf, or postgresql.conf for a cluster made
# before it), else the defaults
resolve_ports() {
	PGPORT=${EVPROC_PGPORT:-$(conf_value "$CONF" port)}
	PGPORT=${PGPORT:-$(conf_value "$PGDATA/postgresql.conf" port)}
	PGPORT=${PGPORT:-5499}
	HTTP_PORT=${EVPROC_HTTP_PORT:-$(conf_value "$CONF" evproc.port)}
	HTTP_PORT=${HTTP_PORT:-$(conf_value "$PGDATA/postgresql.conf" evproc.port)}
	HTTP_PORT=${HTTP_PORT:-8000}
}

# port_name: "HTTPS port" or "HTTP port", as the last probe found
port_name() {
	if [ "${SCHEME:-http}" = https ]; then echo "HTTPS port"; else echo "HTTP port"; fi
}

start_cluster() {
	[ -f "$PGDATA/PG_VERSION" ] || create_cluster
	stop_cluster

	resolve_ports
	[[ $PGPORT =~ ^[0-9]+$ && $HTTP_PORT =~ ^[0-9]+$ ]] ||
		die "ports must be numbers (EVPROC_PGPORT=$PGPORT, EVPROC_HTTP_PORT=$HTTP_PORT)"
	[ "$PGPORT" != "$HTTP_PORT" ] || die "EVPROC_PGPORT and EVPROC_HTTP_PORT are both $PGPORT"
	configure
	PSQL="$PGBIN/psql -X -q -h /tmp -p $PGPORT -U postgres -d postgres"

	LOG_OFFSET=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
	local holder
	holder=$(port_holder "$PGPORT")
	[ -z "$holder" ] ||
		fail "PostgreSQL port $PGPORT is taken by $holder; choose another with EVPROC_PGPORT"
	holder=$(port_holder "$HTTP_PORT")
	[ -z "$holder" ] ||
		fail "HTTP port $HTTP_PORT is taken by $holder; stop that, or choose another port with EVPROC_HTTP_PORT"

	echo "== starting PostgreSQL on port $PGPORT, evproc on HTTP port $HTTP_PORT"
	pg_ctl -l "$LOG" -w start >/dev/null 2>&1 || fail "PostgreSQL did not start"
	$PSQL -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS evproc" ||
		fail "CREATE EXTENSION evproc failed"
	verify

	local https_note=
	[ "$SCHEME" = https ] &&
		https_note="
         (HTTPS only: evproc.tls_cert_file and evproc.tls_key_file are set)"
	cat <<MSG
== evproc is running
  $(printf '%-6s' "${SCHEME^^}:") $SCHEME://127.0.0.1:$HTTP_PORT   (POST /liveEvent, GET /userEvents/:userId)$https_note
  SQL:   psql -h /tmp -p $PGPORT -U postgres
  (the docs call plain psql: export PGHOST=/tmp PGPORT=$PGPORT PGUSER=postgres)
  log:   $LOG
  stop:  scripts/setup.sh stop    (restart, status, reset, uninstall: see scripts/setup.sh)
MSG
}

case "$VERB" in
	start)
		build_and_install
		[ "${EVPROC_START:-1}" = 0 ] && exit 0
		start_cluster
		;;
	restart)
		[ -f "$PGDATA/PG_VERSION" ] || die "no cluster in $PGDATA; run scripts/setup.sh first"
		start_cluster
		;;
	stop)
		if running; then
			stop_cluster
		else
			echo "== no cluster running in $PGDATA"
		fi
		;;
	status)
		if running; then
			EVPROC_PGPORT='' EVPROC_HTTP_PORT='' resolve_ports
			probe "$HTTP_PORT"
			[[ $REPLY_BODY == *' 404' ]] || answer_note=", not answering as evproc does"
			echo "running: $PGDATA (PostgreSQL port $PGPORT, $(port_name) $HTTP_PORT${answer_note:-}); log $LOG"
		else
			echo "not running: $PGDATA"
			exit 3
		fi
		;;
	reset)
		# the new cluster keeps the ports of the old one, unless EVPROC_* say
		if [ -f "$PGDATA/PG_VERSION" ]; then
			resolve_ports
			EVPROC_PGPORT=$PGPORT EVPROC_HTTP_PORT=$HTTP_PORT
		fi
		delete_cluster
		start_cluster
		;;
	uninstall)
		delete_cluster
		echo "== removing evproc from PostgreSQL's directories"
		$SUDO make -s PG_CONFIG=$PGBIN/pg_config uninstall
		if [ -L "$LINK" ]; then
			$SUDO rm -f "$LINK"
		fi
		echo "== evproc is uninstalled (the Debian packages stay: scripts/deps.sh --list names them)"
		;;
	*)
		echo "usage: $0 [start|restart|stop|status|reset|uninstall]" >&2
		exit 2
		;;
esac
