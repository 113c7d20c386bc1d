#!/bin/bash
#
# client_e2e.sh: end-to-end test of evproc-client against a running evproc
# server: events are generated, given eventIds, sent, sent again (before
# and after a rotation, and by two clients at once), and every total must
# count each event once.  Also: a batch with bad events in it, a pipeline
# without eventIds, an unknown user; events of several types (generate
# --types) and every metric of a user printed by revenue, when the server
# has event types.
#
# Environment:
#   EVPROC_URL      the server, e.g. http://127.0.0.1:8000 (required)
#   PSQL            a psql command for the server's database, e.g.
#                   "psql -h /tmp -p 5499 -U postgres" (required)
#   EVPROC_TOKEN    the server's token, if it has one
#   EVPROC_CLIENT   the client binary (default: client/evproc-client next
#                   to this test directory)
#
# Prints one line per check, then "N passed, N failed"; exits non-zero if a
# check failed.  User ids are unique to the run, so the test can run again
# against the same server.

set -u

# shellcheck source=test/checks.sh
. "$(dirname "$0")/checks.sh"

if [ -z "${EVPROC_URL:-}" ] || [ -z "${PSQL:-}" ]; then
	echo "client_e2e.sh: set EVPROC_URL and PSQL" >&2
	fail "environment"
	finish
fi
export EVPROC_URL
if [ ! -x "$client" ]; then
	echo "client_e2e.sh: no client at $client (run make first)" >&2
	fail "client binary"
	finish
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/evproc-client-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT
run="e2e$$x$(date +%s)"

# sql QUERY: one value, unaligned
sql() { $PSQL -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

rotate() { sql "SELECT evproc_rotate()" > /dev/null; }

# field FILE NAME: a number from a send summary ("accepted:   5000")
field() { sed -n "s/^$2: *\([0-9]*\).*/\1/p" "$1"; }

# send_file NAME ARGS...: send, keeping summary, messages and exit status
send_file() {
	local name=$1
	shift
	"$client" send --no-progress "$@" > "$work/$name.out" 2> "$work/$name.err"
	echo $? > "$work/$name.rc"
}

# summary_is NAME RC ACCEPTED DUPLICATES REJECTED FAILED
summary_is() {
	local f=$work/$1.out
	local got
	got="$(cat "$work/$1.rc") $(field "$f" accepted) $(field "$f" duplicates) $(field "$f" rejected) $(field "$f" failed)"
	if [ "$got" = "$2 $3 $4 $5 $6" ]; then
		return 0
	fi
	echo "    want rc accepted duplicates rejected failed: $2 $3 $4 $5 $6" >&2
	echo "    got:  $got" >&2
	sed 's/^/    | /' "$f" "$work/$1.err" | head -30 >&2
	return 1
}

# expected FILE: "user total" for each user of a generated file
expected() {
	awk -F'"' '{
		v = $11; gsub(/[^0-9]/, "", v)
		if ($8 == "add_revenue") t[$4] += v; else t[$4] -= v
	} END { for (u in t) print u, t[u] }' "$1" | sort
}

# totals_match FILE: the server's revenue of each user of FILE, over HTTP
# and in SQL, equals the file's totals
totals_match() {
	local ok=0 user want got gotsql
	while read -r user want; do
		got=$("$client" revenue "$user" 2> "$work/revenue.err")
		gotsql=$(sql "SELECT evproc_user_revenue('$user')")
		if ! awk -v a="$got" -v b="$want" -v c="$gotsql" \
			'BEGIN { exit !(a != "" && a + 0 == b + 0 && c + 0 == b + 0) }'; then
			echo "    $user: want $want, got $got over HTTP, $gotsql in SQL" >&2
			cat "$work/revenue.err" >&2
			ok=1
		fi
	done < <(expected "$1")
	return $ok
}

# the server must be there: an unknown user is a 404 with "not found"
"$client" revenue "$run-nobody" > "$work/nobody.out" 2> "$work/nobody.err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q 'not found' "$work/nobody.err"; then
	echo "client_e2e.sh: cannot use the server at $EVPROC_URL:" >&2
	cat "$work/nobody.err" >&2
	fail "server reachable"
	finish
fi
pass "unknown user: exit status 1 and a message"
check "unknown user: nothing on stdout" test ! -s "$work/nobody.out"
check "psql works" test "$(sql "SELECT 1")" = 1

# --- 5000 events in 7 users, eventIds assigned once -----------------------
"$client" generate 5000 --users 7 --seed 11 |
	sed "s/\"user\([0-9]*\)\"/\"$run-a-user\1\"/" > "$work/gen.jsonl"
check "generate: 5000 lines" test "$(wc -l < "$work/gen.jsonl")" -eq 5000
check "generate: no eventIds" test "$(grep -c eventId "$work/gen.jsonl")" -eq 0
"$client" generate 5000 --users 7 --seed 11 > "$work/gen2.jsonl"
"$client" generate 5000 --users 7 --seed 11 > "$work/gen3.jsonl"
check "generate: the same seed, the same events" cmp -s "$work/gen2.jsonl" "$work/gen3.jsonl"

"$client" assign-ids "$work/gen.jsonl" > "$work/ids.jsonl"
check "assign-ids: exit status 0" test $? -eq 0
check "assign-ids: every event has a UUID v4 eventId" test "$(grep -cE \
	'^\{"eventId":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",' \
	"$work/ids.jsonl")" -eq 5000
check "assign-ids: ids are distinct" test "$(cut -c13-48 "$work/ids.jsonl" | sort -u | wc -l)" -eq 5000
check "assign-ids: the events are otherwise unchanged" \
	cmp -s <(sed 's/^{"eventId":"[^"]*",/{/' "$work/ids.jsonl") "$work/gen.jsonl"

send_file first "$work/ids.jsonl" --batch-size 300 --concurrency 4
check "first send: all 5000 accepted" summary_is first 0 5000 0 0 0
send_file again "$work/ids.jsonl" --batch-size 1000
check "second send, same journal: all duplicates" summary_is again 0 5000 5000 0 0
check "rotate" rotate
check "totals count each event once" totals_match "$work/gen.jsonl"

send_file third "$work/ids.jsonl" --batch-size 77 --concurrency 8
check "third send, after rotation: all duplicates" summary_is third 0 5000 5000 0 0
check "rotate" rotate
check "totals unchanged after the third send" totals_match "$work/gen.jsonl"

# --- two clients sending the same events at once --------------------------
"$client" generate 3000 --users 3 --seed 12 |
	sed "s/\"user\([0-9]*\)\"/\"$run-b-user\1\"/" > "$work/genb.jsonl"
"$client" assign-ids "$work/genb.jsonl" > "$work/idsb.jsonl"
send_file par1 "$work/idsb.jsonl" --batch-size 100 &
send_file par2 "$work/idsb.jsonl" --batch-size 100 &
wait
dups=$(( $(field "$work/par1.out" duplicates) + $(field "$work/par2.out" duplicates) ))
check "parallel sends: both exit 0" test "$(cat "$work/par1.rc")$(cat "$work/par2.rc")" = "00"
check "parallel sends: both accepted all 3000" \
	test "$(field "$work/par1.out" accepted) $(field "$work/par2.out" accepted)" = "3000 3000"
# requests racing each other may both find an id new; the totals decide
check "parallel sends: at most 3000 duplicates between them ($dups)" test "$dups" -le 3000
check "rotate" rotate
check "parallel sends: totals count each event once" totals_match "$work/genb.jsonl"

# --- bad events inside batches: rejected alone, the rest accepted ---------
"$client" generate 40 --users 2 --seed 13 |
	sed "s/\"user\([0-9]*\)\"/\"$run-c-user\1\"/" > "$work/genc.jsonl"
{
	head -n 5 "$work/genc.jsonl"
	echo 'this is not JSON'                                              # line 6
	sed -n 6,17p "$work/genc.jsonl"
	echo "{\"userId\": \"$run-c-user1\", \"name\": \"add_revenue\", \"value\": -7}" # line 19
	echo
	sed -n 18,40p "$work/genc.jsonl"
	echo "{\"userId\": \"$run-c-user2\", \"name\": \"give_revenue\", \"value\": 1}" # line 44
} > "$work/mixed.jsonl"
send_file mixed "$work/mixed.jsonl" --batch-size 10
check "mixed: exit 1, 40 accepted, 3 rejected" summary_is mixed 1 40 0 3 0
check "mixed: line 6 named as not an object" grep -q '^  line 6: event must be a JSON object' "$work/mixed.out"
check "mixed: line 19 named with the server's reason" grep -q '^  line 19: .*value' "$work/mixed.out"
check "mixed: line 44 named with the server's reason" grep -q '^  line 44: .*not a defined type' "$work/mixed.out"
check "rotate" rotate
check "mixed: totals count the good events only" totals_match "$work/genc.jsonl"

# --- a pipeline without eventIds: send adds them --------------------------
"$client" generate 2000 --users 4 --seed 14 |
	sed "s/\"user\([0-9]*\)\"/\"$run-d-user\1\"/" > "$work/gend.jsonl"
"$client" send --no-progress - < "$work/gend.jsonl" > "$work/pipe.out" 2> "$work/pipe.err"
echo $? > "$work/pipe.rc"
check "stdin: all 2000 accepted" summary_is pipe 0 2000 0 0 0
check "rotate" rotate
check "stdin: totals count each event once" totals_match "$work/gend.jsonl"

# --- event types: generate --types, revenue prints every metric -----------
# (with a server that has evproc_define_event_type: issue 11)
"$client" generate 10 --types "add_revenue,9bad" > /dev/null 2> "$work/badtype.err"
check "generate --types: a bad name is a usage error (exit 2)" test $? -eq 2
check "generate --types: the message names the bad name" \
	grep -q '"9bad": it must start with an ASCII letter' "$work/badtype.err"
if [ "$(sql "SELECT to_regproc('evproc_define_event_type') IS NOT NULL")" = t ]; then
	types="add_revenue,subtract_revenue,$run-refund,$run-purchase,$run-credit"
	sql "SELECT evproc_define_event_type('$run-refund', 'revenue', 'subtract'),
			evproc_define_event_type('$run-purchase', 'purchases', 'count'),
			evproc_define_event_type('$run-credit', 'credits', 'add')" > /dev/null
	# the worker takes the definitions within a second
	for _ in $(seq 1 50); do
		echo "{\"userId\": \"$run-e-probe\", \"name\": \"$run-credit\", \"value\": 1}" |
			"$client" send --no-progress --max-retries 0 - > /dev/null 2>&1 && break
		sleep 0.1
	done
	"$client" generate 3000 --users 4 --seed 15 --types "$types" |
		sed "s/\"user\([0-9]*\)\"/\"$run-e-user\1\"/" > "$work/gene.jsonl"
	check "generate --types: only the listed names, each of them" test \
		"$(sed 's/.*"name": "\([^"]*\)".*/\1/' "$work/gene.jsonl" | sort -u | paste -sd, -)" = \
		"$(echo "$types" | tr , '\n' | sort | paste -sd, -)"
	echo "{\"userId\": \"$run-e-only\", \"name\": \"$run-purchase\"}" >> "$work/gene.jsonl"
	send_file types "$work/gene.jsonl" --batch-size 250
	check "types: all 3001 accepted" summary_is types 0 3001 0 0 0
	check "rotate" rotate
	# want: "user revenue credits purchases"; got: the same, read from
	# revenue's output, which must be the revenue, then exactly "credits"
	# and "purchases" lines in this order
	ok=0
	while read -r user want; do
		got=$("$client" revenue "$user" 2> "$work/revenue.err" | awk -v u="$user" '
			NR == 1 && NF == 1 { r = $1; next }
			NR == 2 && $1 == "credits" && NF == 2 { c = $2; next }
			NR == 3 && $1 == "purchases" && NF == 2 { p = $2; next }
			{ bad = 1 }
			END { if (!bad && NR == 3) print u, r + 0, c + 0, p + 0 }')
		if [ "$got" != "$user $want" ]; then
			echo "    want $user $want, got \"$got\" from:" >&2
			"$client" revenue "$user" 2>&1 | sed 's/^/    | /' >&2
			ok=1
		fi
	done < <(awk -F'"' -v run="$run" '
		{
			v = $11; gsub(/[^0-9]/, "", v); u = $4; n = $8; users[u] = 1
			if (n == "add_revenue") r[u] += v
			else if (n == "subtract_revenue" || n == run "-refund") r[u] -= v
			else if (n == run "-credit") c[u] += v
			else if (n == run "-purchase") p[u]++
		}
		END { for (u in users) if (u ~ /-e-user/) print u, r[u] + 0, c[u] + 0, p[u] + 0 }' \
		"$work/gene.jsonl")
	check "types: revenue prints each user's revenue, credits, purchases" test $ok -eq 0
	check "types: a user with only a count: revenue 0, then the count" \
		test "$("$client" revenue "$run-e-only" 2>&1)" = "$(printf '0\npurchases 1')"
	check "types: revenue without other metrics prints one line" \
		test "$("$client" revenue "$run-a-user1" | wc -l)" -eq 1
	sql "SELECT evproc_drop_event_type('$run-refund'),
			evproc_drop_event_type('$run-purchase'),
			evproc_drop_event_type('$run-credit')" > /dev/null
else
	echo "ok - # skip event types: the server has no evproc_define_event_type"
fi

# --- wrong token, when the server has one ---------------------------------
if [ -n "${EVPROC_TOKEN:-}" ]; then
	EVPROC_TOKEN=wrong-token "$client" send --no-progress --concurrency 1 \
		"$work/gend.jsonl" \
		> "$work/token.out" 2> "$work/token.err"
	echo $? > "$work/token.rc"
	check "wrong token: exit 1, nothing accepted" summary_is token 1 0 0 0 1000
	check "wrong token: 401 named" grep -q 'HTTP 401' "$work/token.out"
fi

finish
