#!/bin/bash
#
# test.sh: runs the whole evproc test suite: unit tests of the
# backend-free code, scripts/setup.sh on a cluster of its own (as root),
# every example of the README and the docs (make doccheck),
# pg_regress (SQL and HTTP via curl, on a temporary instance) and the TAP
# crash tests.  Builds and installs first.
#
# initdb refuses to run as root, so as root the server-side tests run as
# the postgres user on a copy of the tree.
#
set -euo pipefail
cd "$(dirname "$0")/.."

PGBIN=/usr/lib/postgresql/15/bin
MAKE="make -s PG_CONFIG=$PGBIN/pg_config"

if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi

$MAKE WERROR=1
$SUDO $MAKE install

echo "== unit tests, then again under valgrind"
$MAKE unitcheck
$MAKE structurecheck
$MAKE valgrindcheck
echo "valgrind: clean"

echo "== evproc-client watch against a fake event-stream server"
$MAKE client-watchcheck

echo "== fuzzing the event parser for ${EVPROC_FUZZ_SECONDS:-30}s"
$MAKE fuzz FUZZ_SECONDS="${EVPROC_FUZZ_SECONDS:-30}" 2>&1 | grep -E '^(Done|stat::number_of_executed_units)'
echo "== fuzzing the WebSocket frame decoder for ${EVPROC_FUZZ_SECONDS:-30}s"
$MAKE fuzz-ws FUZZ_SECONDS="${EVPROC_FUZZ_SECONDS:-30}" 2>&1 | grep -E '^(Done|stat::number_of_executed_units)'
echo "== fuzzing the inflater of compressed bodies for ${EVPROC_FUZZ_SECONDS:-30}s"
$MAKE fuzz-inflate FUZZ_SECONDS="${EVPROC_FUZZ_SECONDS:-30}" 2>&1 | grep -E '^(Done|stat::number_of_executed_units)'

echo "== scripts/setup.sh on a cluster of its own (test/setup_check.sh)"
if [ "$(id -u)" = 0 ]; then
	bash test/setup_check.sh
else
	echo "skipped: it runs as root only"
fi

echo "== every example of the README and the docs, in order (scripts/doccheck.py)"
$MAKE doccheck

# A small tmpfs for the full-disk half of test/t/019_ready.pl, which runs
# as the user of the tests (postgres as root): mounting needs root.  Its
# path goes to the tests in EVPROC_TEST_TMPFS; without it that half fails
# under CI=true and is skipped (saying why) elsewhere.
if [ "$(id -u)" = 0 ]; then TESTER=postgres; else TESTER=$(id -un); fi
TMPFS=$(mktemp -d /tmp/evproc-tmpfs.XXXXXX)
drop_tmpfs() {
	$SUDO umount "$TMPFS" 2>/dev/null || true
	rmdir "$TMPFS" 2>/dev/null || true
}
trap drop_tmpfs EXIT
if $SUDO mount -t tmpfs -o size=16m,mode=0700 evproc-test "$TMPFS" &&
	$SUDO chown "$TESTER": "$TMPFS"; then
	export EVPROC_TEST_TMPFS=$TMPFS
else
	echo "could not mount a tmpfs on $TMPFS: the full-disk test of 019_ready.pl fails under CI=true" >&2
fi

echo "== pg_regress and TAP tests"
status=0
if [ "$(id -u)" = 0 ]; then
	work=$(mktemp -d /tmp/evproc-test.XXXXXX)
	cp -a . "$work/tree"
	chown -R postgres: "$work"
	(cd "$work/tree" && runuser -u postgres -- \
		env ${EVPROC_TEST_TMPFS:+EVPROC_TEST_TMPFS="$EVPROC_TEST_TMPFS"} $MAKE installcheck) || status=$?
	dir="$work/tree"
else
	$MAKE installcheck || status=$?
	dir=.
fi

if [ "$status" != 0 ]; then
	echo "== FAILED; details follow" >&2
	[ -f "$dir/regression.diffs" ] && cat "$dir/regression.diffs" >&2
	for f in "$dir"/tmp_check/log/*; do
		[ -f "$f" ] || continue
		echo "--- $f" >&2
		tail -n 60 "$f" >&2
	done
	exit "$status"
fi
[ -n "${work:-}" ] && rm -rf "$work"
echo "== all tests passed"
