#!/bin/bash
#
# setup.sh: installs what evproc needs (Debian 12), builds and installs it,
# and starts a throwaway PostgreSQL 15 cluster with the evproc worker
# serving HTTP.  Run as root, or as a user who may sudo.
#
#   EVPROC_PGDATA     cluster directory      (default /var/tmp/evproc-cluster)
#   EVPROC_PGPORT     PostgreSQL port        (default 5499)
#   EVPROC_HTTP_PORT  evproc HTTP port       (default 8000)
#   EVPROC_START=0    install and build only
#
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=/usr/lib/postgresql/15/bin
PGDATA=${EVPROC_PGDATA:-/var/tmp/evproc-cluster}
PGPORT=${EVPROC_PGPORT:-5499}
HTTP_PORT=${EVPROC_HTTP_PORT:-8000}

if [ "$(id -u)" = 0 ]; then
	SUDO=
	AS_PG="runuser -u postgres --"
else
	SUDO=sudo
	AS_PG=
fi

# 1. dependencies
bash scripts/deps.sh

# 2. build and install, warnings as errors
echo "== building"
make -s PG_CONFIG=$PGBIN/pg_config WERROR=1
$SUDO make -s PG_CONFIG=$PGBIN/pg_config install

[ "${EVPROC_START:-1}" = 0 ] && exit 0

# 3. a throwaway cluster with evproc preloaded
if [ -f "$PGDATA/postmaster.pid" ]; then
	echo "== stopping the running cluster in $PGDATA"
	$AS_PG $PGBIN/pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null || true
fi
if [ ! -f "$PGDATA/PG_VERSION" ]; then
	echo "== creating a cluster in $PGDATA"
	$SUDO mkdir -p "$PGDATA"
	[ -n "$AS_PG" ] && chown postgres: "$PGDATA"
	[ -z "$AS_PG" ] && $SUDO chown "$(id -u):$(id -g)" "$PGDATA"
	chmod 700 "$PGDATA"
	(cd /tmp && $AS_PG $PGBIN/initdb -D "$PGDATA" -E UTF8 --locale=C.UTF-8 \
		-U postgres -A trust >/dev/null)
	cat >>"$PGDATA/postgresql.conf" <<CONF

# evproc throwaway cluster (scripts/setup.sh)
listen_addresses = 'localhost'
port = $PGPORT
unix_socket_directories = '/tmp'
shared_preload_libraries = 'evproc'
evproc.port = $HTTP_PORT
CONF
fi
(cd /tmp && $AS_PG $PGBIN/pg_ctl -D "$PGDATA" -l "$PGDATA/server.log" -w start >/dev/null)
$PGBIN/psql -X -q -h /tmp -p "$PGPORT" -U postgres -d postgres \
	-c "CREATE EXTENSION IF NOT EXISTS evproc"

# 4. wait for the worker to serve HTTP
for _ in $(seq 1 50); do
	curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break
	sleep 0.2
done
curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" || {
	echo "evproc is not answering on port $HTTP_PORT; see $PGDATA/server.log" >&2
	exit 1
}

cat <<MSG
== evproc is running
  HTTP:  http://127.0.0.1:$HTTP_PORT   (POST /liveEvent, GET /userEvents/:userId)
  SQL:   psql -h /tmp -p $PGPORT -U postgres
  log:   $PGDATA/server.log
  stop:  ${AS_PG:+$AS_PG }$PGBIN/pg_ctl -D $PGDATA stop
MSG
