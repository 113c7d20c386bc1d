#!/bin/bash
#
# client_watch.sh: tests of "evproc-client watch" against a fake
# Server-Sent Events server (test/fake_sse_server.py, Python standard
# library), so no PostgreSQL is needed: messages printed one per line,
# resuming with Last-Event-ID after the stream ends, 503 with Retry-After
# retried, 404/401/403 final with the server's message, --max-retries,
# --all --users, a line over 1 MB, a reply that is not a stream, Ctrl-C,
# a reader that goes away, and usage errors.
#
# Environment:
#   EVPROC_CLIENT   the client binary (default: client/evproc-client next
#                   to this test directory)
#
# Prints one line per check, then "N passed, N failed"; exits non-zero if a
# check failed.  Run by "make client-watchcheck" and scripts/test.sh.

set -u

# shellcheck source=test/checks.sh
. "$(dirname "$0")/checks.sh"

if [ ! -x "$client" ]; then
	echo "client_watch.sh: no client at $client (run make first)" >&2
	fail "client binary"
	finish
fi
unset EVPROC_URL EVPROC_TOKEN

work=$(mktemp -d "${TMPDIR:-/tmp}/evproc-watch.XXXXXX")
srvpid=
cleanup() {
	[ -n "$srvpid" ] && kill "$srvpid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# serve SCENARIO_JSON: starts the fake server with this scenario; sets
# $url and $log
serve() {
	stop_server
	printf '%s\n' "$1" > "$work/scenario.json"
	rm -f "$work/port" "$work/log"
	: > "$work/log"
	python3 "$here/fake_sse_server.py" "$work/scenario.json" "$work/port" \
		"$work/log" 2> "$work/server.err" &
	srvpid=$!
	for _ in $(seq 100); do
		[ -s "$work/port" ] && break
		sleep 0.05
	done
	url="http://127.0.0.1:$(cat "$work/port")"
	log="$work/log"
}
stop_server() {
	if [ -n "$srvpid" ]; then
		kill "$srvpid" 2>/dev/null
		wait "$srvpid" 2>/dev/null
		srvpid=
	fi
}

# logq PYTHON_EXPR: evaluates the expression with r = the list of logged
# requests (dicts with t, path, headers) and prints the result
logq() {
	python3 -c '
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
print(eval(sys.argv[2]))' "$log" "$1"
}

# watch ARGS...: runs the client (at most 30 s), output in $work/out and
# $work/err, exit status in $rc
watch() {
	timeout 30 "$client" "$@" > "$work/out" 2> "$work/err"
	rc=$?
}

SSE='["Content-Type", "text/event-stream"]'
JSON='["Content-Type", "application/json"]'

# ---- resume: two events, end of stream, 503 + Retry-After, one more, 404
# The first reply is split inside a UTF-8 character, between CR and LF,
# and ends in the middle of an event (id 99), which must not count.
serve '[
 {"status": 200, "headers": ['"$SSE"'], "pause": 0.05,
  "body": ["id: 6\ndata: {\"userId\": \"u/1\", \"seq\": 6}\n", "\n: ping\n\nid: 7\r",
           "\ndata: {\"userId\": \"u/1\", \"name\": \"\u00e9", "\u00e9\", \"seq\": 7}\r\n\r\n",
           "id: 99\ndata: {\"lost\": true}"]},
 {"status": 503, "headers": ['"$JSON"', ["Retry-After", "1"]],
  "body": ["{\"error\": \"too many subscribers\"}"]},
 {"status": 200, "headers": [["Content-Type", "text/event-stream; charset=utf-8"]],
  "body": ["data: {\"userId\": \"u/1\"\ndata: , \"seq\": 8}\nid: 8\n\n"]},
 {"status": 404, "headers": ['"$JSON"'], "body": ["{\"error\": \"not found\"}"]}
]'
watch --url "$url" --token s3cret --since 5 watch u/1
printf '%s\n' '{"userId": "u/1", "seq": 6}' \
	'{"userId": "u/1", "name": "éé", "seq": 7}' \
	'{"userId": "u/1"' ', "seq": 8}' > "$work/want"
check "resume: exit status 1 after the 404 (got $rc)" [ "$rc" = 1 ]
check "resume: the data of each message, one line each" cmp -s "$work/out" "$work/want"
[ "$failed" -gt 0 ] && { echo "--- got:"; cat "$work/out"; echo "--- stderr:"; cat "$work/err"; }
check "resume: four requests" [ "$(logq 'len(r)')" = 4 ]
check "resume: path of the user, percent-encoded" \
	[ "$(logq 'set(x["path"] for x in r)')" = "{'/userEvents/u%2F1/stream'}" ]
check "resume: Last-Event-ID 5 (--since), 7, 7, 8" \
	[ "$(logq '[x["headers"].get("last-event-id") for x in r]')" = "['5', '7', '7', '8']" ]
check "resume: token and Accept sent" \
	[ "$(logq 'set((x["headers"].get("authorization"), x["headers"].get("accept")) for x in r)')" = "{('Bearer s3cret', 'text/event-stream')}" ]
check "resume: Retry-After 1 honoured after the 503" \
	[ "$(logq 'r[2]["t"] - r[1]["t"] >= 0.95')" = True ]
check "resume: the 404 reported with the server's error" \
	grep -q 'HTTP 404 from .*: not found (check --url' "$work/err"
check "resume: the 503 reported as retried" \
	grep -q 'HTTP 503 .*too many subscribers; reconnecting in 1.0 s, from id 7' "$work/err"

# ---- --all, --users, and 401/403 final
serve '[{"status": 401, "headers": ['"$JSON"'], "body": ["{\"error\": \"missing or invalid token\"}"]}]'
watch --url "$url" watch --all --users 'a b,c/d,e%,f,g'
check "401: exit status 1 (got $rc)" [ "$rc" = 1 ]
check "401: one request only" [ "$(logq 'len(r)')" = 1 ]
check "--users: each item percent-encoded" \
	[ "$(logq 'r[0]["path"]')" = "/stream?users=a%20b,c%2Fd,e%25,f,g" ]
check "--all: no Last-Event-ID without --since" \
	[ "$(logq 'r[0]["headers"].get("last-event-id")')" = None ]
check "401: message with a hint" \
	grep -q 'HTTP 401 .*missing or invalid token (check --token' "$work/err"
serve '[{"status": 403, "headers": ['"$JSON"'], "body": ["{\"error\": \"forbidden\"}"]}]'
watch --url "$url/" watch --all
check "403: exit status 1 (got $rc)" [ "$rc" = 1 ]
check "--all: path /stream" [ "$(logq 'r[0]["path"]')" = "/stream" ]
check "403: message" grep -q 'HTTP 403 .*forbidden' "$work/err"

# ---- --max-retries: 503 forever
serve '[{"status": 503, "headers": ['"$JSON"', ["Retry-After", "0"]],
  "body": ["{\"error\": \"busy\"}"], "repeat": true}]'
watch --url "$url" --max-retries 2 watch u1
check "--max-retries 2: exit status 1 (got $rc)" [ "$rc" = 1 ]
check "--max-retries 2: three requests" [ "$(logq 'len(r)')" = 3 ]
check "--max-retries 2: gave up" grep -q 'busy (gave up after 2 retries)' "$work/err"

# ---- the connection refused: retried, then given up
stop_server
watch --url "$url" --max-retries 1 watch u1
check "refused: exit status 1 (got $rc)" [ "$rc" = 1 ]
check "refused: reported" grep -q 'cannot connect to .*gave up after 1 retry' "$work/err"

# ---- a line over 1 MB: the connection is dropped and made again
serve '[
 {"status": 200, "headers": ['"$SSE"'],
  "body": ["id: 2\ndata: {\"a\": 1}\n\ndata: ", {"repeat_char": "x", "count": 1100000}, "\n\n"],
  "hold": -1},
 {"status": 200, "headers": ['"$SSE"'], "body": ["id: 3\ndata: {\"a\": 3}\n\n"]},
 {"status": 404, "headers": ['"$JSON"'], "body": ["{\"error\": \"not found\"}"]}
]'
watch --url "$url" watch u1
check "long line: exit status 1 after the 404 (got $rc)" [ "$rc" = 1 ]
check "long line: the messages around it" \
	[ "$(cat "$work/out")" = $'{"a": 1}\n{"a": 3}' ]
check "long line: reconnected from id 2, then 3" \
	[ "$(logq '[x["headers"].get("last-event-id") for x in r]')" = "[None, '2', '3']" ]
check "long line: reported" grep -q 'longer than 1048576 bytes' "$work/err"

# ---- a 200 that is not an event stream: final
serve '[{"status": 200, "headers": ['"$JSON"'], "body": ["{\"userId\": \"u1\"}"]}]'
watch --url "$url" watch u1
check "not a stream: exit status 1 (got $rc)" [ "$rc" = 1 ]
check "not a stream: reported" grep -q 'not an event stream' "$work/err"

# ---- Ctrl-C while the stream is idle: exit status 0
serve '[{"status": 200, "headers": ['"$SSE"'], "body": ["id: 1\ndata: {\"a\": 1}\n\n"], "hold": -1}]'
"$client" --url "$url" watch u1 > "$work/out" 2> "$work/err" &
cpid=$!
for _ in $(seq 100); do
	[ -s "$work/out" ] && break
	sleep 0.05
done
sleep 0.2
kill -INT "$cpid"
start=$(date +%s%N)
wait "$cpid"
rc=$?
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "Ctrl-C: exit status 0 (got $rc)" [ "$rc" = 0 ]
check "Ctrl-C: within 2 s (took ${elapsed_ms} ms)" [ "$elapsed_ms" -lt 2000 ]
check "Ctrl-C: the message was printed" [ "$(cat "$work/out")" = '{"a": 1}' ]

# ---- a reader that goes away: exit status 0
serve '[{"status": 200, "headers": ['"$SSE"'], "pause": 0.3,
  "body": ["data: 1\n\n", "data: 2\n\n", "data: 3\n\n"], "hold": -1}]'
timeout 30 "$client" --url "$url" watch u1 2> "$work/err" | head -n 1 > "$work/out"
rcs=("${PIPESTATUS[@]}")
check "closed output: exit status 0 (got ${rcs[0]})" [ "${rcs[0]}" = 0 ]
check "closed output: the first line" [ "$(cat "$work/out")" = 1 ]
stop_server

# ---- usage errors: exit status 2
for args in "watch" "watch --all u1" "watch --users a u1" "watch --all --users a,,b" \
	"watch --all --users ,a" "watch --since x u1" "watch --since -1 u1" \
	"watch u1 u2" "watch --batch-size 5 u1"; do
	# shellcheck disable=SC2086
	"$client" --url http://127.0.0.1:1 $args > /dev/null 2> "$work/err"
	rc=$?
	check "usage: \"$args\": exit status 2 (got $rc)" [ "$rc" = 2 ]
done
"$client" --url http://127.0.0.1:1 watch "" > /dev/null 2>&1
rc=$?
check "usage: empty user: exit status 2 (got $rc)" [ "$rc" = 2 ]

finish
