#!/bin/bash
#
# matrix.sh: builds and tests evproc against the PostgreSQL of other Debian
# releases, each in a chroot of scripts/chroot.sh (as root).
#
#   matrix.sh SUITE...     e.g. "matrix.sh trixie sid": PostgreSQL 17 and 18
#
# In each suite's chroot (made, or reused from its cache), on a copy of the
# tree: the build with -Werror, make install into the chroot's PostgreSQL,
# make unitcheck, then as postgres (initdb refuses root) pg_regress and the
# TAP tests of MATRIX_TAP (default: the crash and stream tests, the HTTPS
# test, whose replies depend on libmicrohttpd's version, and the
# browser and metrics tests, which run where the chroot has chromium and
# prometheus, EVPROC_CHROOT_EXTRA="chromium prometheus" as .ci/run makes
# them, and skip elsewhere; "all" runs every one).  The suites run one after the other, or at once with
# MATRIX_PARALLEL=1 (each test has its own ports, see below).  Each step's time
# is printed; the exit status is 1 if any suite failed.
#
# Every test picks free ports (pg_regress's by the Makefile), so that two
# suites, or another run on the machine, do not meet.
#
set -euo pipefail
cd "$(dirname "$0")/.."

MATRIX_TAP=${MATRIX_TAP:-"test/t/001_crash.pl test/t/002_ingest_faults.pl \
test/t/009_event_types.pl test/t/011_streams.pl test/t/012_browser.pl \
test/t/015_websocket.pl test/t/017_metrics.pl test/t/021_tls.pl"}
[ "$MATRIX_TAP" = all ] && MATRIX_TAP=
CHROOTS=${EVPROC_CHROOTS:-/var/cache/evproc-chroots}

[ "$(id -u)" = 0 ] || {
	echo "matrix.sh: run as root" >&2
	exit 1
}
[ $# -ge 1 ] || {
	echo "usage: matrix.sh SUITE..." >&2
	exit 1
}

# files of the tree to copy: what git tracks and what it would add, without
# build products (a host-built test binary would look up to date)
tree_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z -c -o --exclude-standard
	else
		find . -path ./.git -prune -o -path ./tmp_check -prune -o \
			-path ./tmp_regress -prune -o -type f ! -name '*.o' \
			! -name '*.so' ! -name '*.bc' -print0
	fi
}

# step NAME CMD...: runs CMD, prints its time; a failure ends the suite
step() {
	local name=$1 t0=$SECONDS
	shift
	if "$@"; then
		echo "== [$SUITE] $name: ok, $((SECONDS - t0)) s"
	else
		echo "== [$SUITE] $name: FAILED after $((SECONDS - t0)) s"
		return 1
	fi
}

# suite SUITE: the whole run for one suite (in a subshell: SUITE is its own)
suite() {
	SUITE=$1
	local dir=$CHROOTS/$SUITE pgv pgc work f
	step "chroot" bash scripts/chroot.sh create "$SUITE" "$dir" |
		sed "s/^/[$SUITE] /"
	[ "${PIPESTATUS[0]}" = 0 ] || return 1
	pgv=$(bash scripts/chroot.sh pgversion "$dir")
	pgc=/usr/lib/postgresql/$pgv/bin/pg_config
	inch() { bash scripts/chroot.sh run "$dir" "$@"; }

	# a fresh copy of the tree, owned by postgres
	rm -rf "$dir/tmp/evproc-matrix"
	mkdir -p "$dir/tmp/evproc-matrix"
	work=/tmp/evproc-matrix
	tree_files | tar --null -T - -cf - | tar -xf - -C "$dir$work"
	inch chown -R postgres: "$work"

	echo "== [$SUITE] PostgreSQL $(inch "$pgc" --version | cut -d' ' -f2)," \
		"libmicrohttpd $(inch dpkg-query -W -f '${Version}' libmicrohttpd-dev)," \
		"json-c $(inch dpkg-query -W -f '${Version}' libjson-c-dev)"
	# as postgres: the build and the tests; as root: make install
	asp() { inch runuser -u postgres -- env PATH="/usr/lib/postgresql/$pgv/bin:/usr/bin:/bin" \
		LANG=C.UTF-8 make -C "$work" -s PG_CONFIG="$pgc" "$@"; }
	# "make" as the README's users run it: it must build the module and the
	# client here, with -Werror (else "make install" would, without)
	step "build (-Werror)" asp -j2 WERROR=1 &&
		step "built by make" test -f "$dir$work/evproc.so" -a -f "$dir$work/client/evproc-client" &&
		step "install" inch make -C "$work" -s PG_CONFIG="$pgc" install &&
		step "unitcheck" asp unitcheck &&
		step "pg_regress" asp installcheck PROVE_TESTS=none.pl TAP_TESTS= &&
		step "TAP ${MATRIX_TAP:-(all)}" asp installcheck REGRESS= \
			${MATRIX_TAP:+PROVE_TESTS="$MATRIX_TAP"} || {
		# what failed, then the logs
		[ -f "$dir$work/regression.diffs" ] && head -n 80 "$dir$work/regression.diffs"
		for f in "$dir$work"/tmp_check/log/regress_log_* "$dir$work"/log/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f"
			tail -n 40 "$f"
		done
		return 1
	}
	rm -rf "${dir:?}$work"
}

status=0
if [ "${MATRIX_PARALLEL:-0}" = 1 ]; then
	pids=
	for s in "$@"; do
		(suite "$s") &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p" || status=1; done
else
	for s in "$@"; do
		(suite "$s") || status=1
	done
fi
exit $status
