#!/bin/bash
#
# pkgtest_inside.sh: the install test's steps, run by scripts/pkgtest.sh as
# root inside a fresh Debian chroot, the way a user installs the packages:
#
#   pkgtest_inside.sh PGVERSION PGPORT HTTPPORT DEBDIR...
#
# Each DEBDIR holds one build's postgresql-PGVERSION-evproc and
# evproc-client .deb files, oldest first.  The first is installed with apt
# into the distribution's cluster (PGVERSION main) and used: CREATE
# EXTENSION, POST, evproc_rotate(), GET and evproc-client revenue.  Each
# next one is installed over it: restart, ALTER EXTENSION evproc UPDATE,
# every counted value kept, an event sent again not counted again.  Then
# apt remove: what the cluster needs to start again.
# PGPORT and HTTPPORT: free ports (a chroot shares the host's network).
set -euo pipefail
shopt -s inherit_errexit
V=$1 PGPORT=$2 HTTP=$3
shift 3
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8
CONF=/etc/postgresql/$V/main/conf.d/evproc.conf
step() { echo "== $(date -u +%T) $*"; }
fail() {
	echo "pkgtest: FAIL: $*" >&2
	tail -n 30 /var/log/postgresql/postgresql-"$V"-main.log >&2 || true
	exit 1
}
sql() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres -c "$1"; }
client() { evproc-client --url "http://127.0.0.1:$HTTP" "$@"; }

# The packages' scripts start no service in this chroot: the test starts
# the cluster itself, once it has its ports.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d

step "apt-get update; curl (for the test's POST and GET)"
apt-get update -qq
apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null

# install DEBDIR: apt install ./postgresql-V-evproc_*.deb ./evproc-client_*.deb
install_debs() {
	local dir=$1
	step "apt install $(cd "$dir" && echo ./*.deb)"
	(cd "$dir" && apt-get install -y -q --no-install-recommends ./postgresql-"$V"-evproc_*.deb ./evproc-client_*.deb) \
		> /tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; fail "apt install"; }
	dpkg-query -W postgresql-"$V"-evproc evproc-client
}

# the events the test counts: per round, three users, add and subtract,
# each with an eventId (sent twice: counted once)
post_events() {
	local round=$1 body code
	body="{\"userId\": \"alice\", \"name\": \"add_revenue\", \"value\": 10.25, \"eventId\": \"r$round-a1\"}
{\"userId\": \"alice\", \"name\": \"subtract_revenue\", \"value\": 0.25, \"eventId\": \"r$round-a2\"}
{\"userId\": \"bob\", \"name\": \"add_revenue\", \"value\": 7, \"eventId\": \"r$round-b1\"}
{\"userId\": \"user/3\", \"name\": \"add_revenue\", \"value\": 1.5, \"eventId\": \"r$round-c1\"}"
	for attempt in 1 2; do
		code=$(curl -s -o /tmp/post.out -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
			--data-binary "$body" "http://127.0.0.1:$HTTP/liveEvent")
		case $code in 200|201|202) ;; *) cat /tmp/post.out; fail "POST round $round attempt $attempt: HTTP $code";; esac
	done
	sql "SELECT evproc_rotate()" >/dev/null
}

# wait_http: the worker answers on HTTP (after a start)
wait_http() {
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$HTTP/health" && return 0
		sleep 0.2
	done
	fail "no HTTP answer on port $HTTP"
}

restart() {
	step "pg_ctlcluster $V main restart"
	pg_ctlcluster "$V" main restart || fail "restart"
	wait_http
}

# every counted value, in one text: the per-user totals and the events seen
counted() {
	sql "SELECT user_id || ' ' || revenue FROM evproc.user_revenue ORDER BY user_id COLLATE \"C\""
	if [ "$(sql "SELECT to_regclass('evproc.user_metrics') IS NOT NULL")" = t ]; then
		sql "SELECT user_id || ' ' || metric || ' ' || value FROM evproc.user_metrics ORDER BY user_id COLLATE \"C\", metric COLLATE \"C\""
	fi
	if [ "$(sql "SELECT to_regclass('evproc.event_types') IS NOT NULL")" = t ]; then
		sql "SELECT name || ' ' || metric || ' ' || effect FROM evproc.event_types ORDER BY name COLLATE \"C\""
	fi
	sql "SELECT 'seen ' || count(*) FROM evproc.seen_events"
	sql "SELECT 'files ' || count(*) FROM evproc.processed_files"
}

# same_number A B: A and B are the same number (10 and 10.00 are)
same_number() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 == b + 0) }'; }

# check_round N: the totals after N rounds of post_events, over HTTP and
# with the client
check_round() {
	local n=$1 got value
	for user in alice:10 user%2F3:1.5; do
		got=$(curl -sf "http://127.0.0.1:$HTTP/userEvents/${user%%:*}") || fail "GET /userEvents/${user%%:*}"
		echo "GET /userEvents/${user%%:*}: $got"
		value=$(echo "$got" | sed -nE 's/.*"revenue": *"?(-?[0-9.]+).*/\1/p')
		same_number "$value" "$(awk -v n="$n" -v u="${user#*:}" 'BEGIN { print n * u }')" ||
			fail "${user%%:*}'s revenue after $n rounds: $got"
	done
	got=$(client revenue bob | head -1) || fail "evproc-client revenue bob"
	echo "evproc-client revenue bob: $got"
	same_number "$got" "$((n * 7))" || fail "bob's revenue after $n rounds: $got"
}

first=$1
shift
install_debs "$first"

step "the cluster: $V main (pg_createcluster if apt made none), conf.d/evproc.conf"
[ -d /etc/postgresql/"$V"/main ] || pg_createcluster "$V" main >/dev/null
cat > "$CONF" <<CONF
# evproc: load the library at server start, its HTTP port
shared_preload_libraries = 'evproc'
evproc.port = $HTTP
# the test's own: a free port (the chroot shares the host's network)
port = $PGPORT
CONF
restart

step "CREATE EXTENSION evproc; POST, evproc_rotate(), GET, evproc-client revenue"
sql "CREATE EXTENSION evproc"
echo "extension version: $(sql "SELECT extversion FROM pg_extension WHERE extname = 'evproc'")"
round=1
post_events $round
check_round $round

for dir in "$@"; do
	before=$(counted)
	install_debs "$dir"
	restart
	step "ALTER EXTENSION evproc UPDATE"
	sql "ALTER EXTENSION evproc UPDATE"
	ext=$(sql "SELECT extversion FROM pg_extension WHERE extname = 'evproc'")
	def=$(sql "SELECT default_version FROM pg_available_extensions WHERE name = 'evproc'")
	echo "extension version: $ext (default $def)"
	[ "$ext" = "$def" ] || fail "extension at $ext after the update, not $def"
	after=$(counted)
	[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after") || true; fail "counted values changed by the upgrade"; }
	echo "counted values kept ($(echo "$after" | wc -l) lines):"; echo "$after" | sed "s/^/    /"
	check_round $round
	step "the events of round 1 sent again: not counted again; round $((round + 1))"
	post_events 1
	check_round $round
	round=$((round + 1))
	post_events $round
	check_round $round
done

step "apt remove postgresql-$V-evproc"
apt-get remove -y -q postgresql-"$V"-evproc > /tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; fail "apt remove"; }
if pg_ctlcluster "$V" main restart >/tmp/restart.log 2>&1; then
	fail "the cluster started with shared_preload_libraries naming a removed library"
fi
echo "restart with the library removed but still in shared_preload_libraries fails:"
reason=$(grep -h -E 'could not (access file|load library) "evproc"' /tmp/restart.log \
	/var/log/postgresql/postgresql-"$V"-main.log || true)
[ -n "$reason" ] || fail "the failed start does not say why"
echo "${reason%%$'\n'*}"
step "rm $CONF's preload line; the cluster starts"
sed -i '/^shared_preload_libraries/d' "$CONF"
pg_ctlcluster "$V" main start || fail "start without evproc"
sql "SELECT 'kept: ' || count(*) || ' users' FROM evproc.user_revenue"
step "DROP EXTENSION evproc (its files are gone with the package)"
sql "DROP EXTENSION evproc"
pg_ctlcluster "$V" main stop
step "pkgtest: PASS"
