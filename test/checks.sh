# checks.sh: the counting of the shell tests' checks (sourced by
# client_e2e.sh and client_watch.sh), and the client they test.
#
# pass DESC / fail DESC print one TAP-like line; check DESC COMMAND...
# passes if the command succeeds; finish prints "N passed, N failed" and
# exits non-zero if a check failed.

here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
client=${EVPROC_CLIENT:-$here/../client/evproc-client}
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1"; }
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

# check DESCRIPTION COMMAND...: the command must succeed
check() {
	local desc=$1
	shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}
