--
-- Bad input: each request gets its exact status and error body, the
-- worker survives all of them, and no revenue changes.
--
SELECT pid AS worker_pid FROM pg_stat_activity WHERE backend_type = 'evproc' \gset
SELECT count(*) AS users, coalesce(sum(revenue), 0) AS total
FROM evproc.user_revenue \gset before_

-- JSON structure
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1}{}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1},' $EV/liveEvent
\! test/http -d '{"userId": "x" "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d "{'userId': 'x', 'name': 'add_revenue', 'value': 1}" $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1,}' $EV/liveEvent
\! test/http -d '42' $EV/liveEvent
\! test/http -d 'null' $EV/liveEvent
\! test/http -d '{"event": {"userId": "x", "name": "add_revenue", "value": 1}}' $EV/liveEvent
\! test/http -d "$(printf '%.0s[' $(seq 1 100))" $EV/liveEvent
\! printf '\357\273\277{"userId": "x", "name": "add_revenue", "value": 1}' | test/http --data-binary @- $EV/liveEvent
\! printf '{"userId": "\300\257", "name": "add_revenue", "value": 1}' | test/http --data-binary @- $EV/liveEvent
\! printf '{"userId": "\355\240\200", "name": "add_revenue", "value": 1}' | test/http --data-binary @- $EV/liveEvent
\! printf '{"userId": "x", "name": "add_revenue", "value": 1}\000' | test/http --data-binary @- $EV/liveEvent
-- strings: no lone surrogate (json-c would make each one U+FFFD, so that
-- distinct ids merge), no raw control character, no NUL in a userId or a
-- member name; in any string of the body, and in batches too
\! test/http -d '{"userId": "\ud800", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "\udc00", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1, "eventId": "\ude00\ud83d"}' $EV/liveEvent
\! printf '{"userId": "a\001b", "name": "add_revenue", "value": 1}' | test/http --data-binary @- $EV/liveEvent
\! printf '{"userId": "x", "name": "add_revenue", "value": 1, "note": "a\tb"}' | test/http --data-binary @- $EV/liveEvent
\! test/http -d '{"userId": "x\u0000", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1, "userId\u0000": "y"}' $EV/liveEvent
\! test/http -d '[{"userId": "x", "name": "add_revenue", "value": 1}, {"userId": "\ud800", "name": "add_revenue", "value": 1}]' $EV/liveEvent
\! printf '{"userId": "x", "name": "add_revenue", "value": 1}\n{"userId": "\\udc00", "name": "add_revenue", "value": 1}\n' | test/http -H 'Content-Type: application/x-ndjson' --data-binary @- $EV/liveEvent
-- fields
\! test/http -d '{"userId": ["x"], "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": {"id": "x"}, "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d "{\"userId\": \"$(printf 'u%.0s' $(seq 1 256))\", \"name\": \"add_revenue\", \"value\": 1}" $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "ADD_REVENUE", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": null, "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": 1, "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": null}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": []}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": {}}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": -0.5}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": -Infinity}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": +1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 01}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1.}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": .5}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 0x10}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1e-10}' $EV/liveEvent
\! test/http -d "{\"userId\": \"x\", \"name\": \"add_revenue\", \"value\": 1.$(printf '0%.0s' $(seq 1 100))}" $EV/liveEvent
-- paths and methods
\! test/http -X PUT -d '{}' $EV/liveEvent
\! test/http -X POST $EV/userEvents/x
\! test/http $EV/
\! test/http --path-as-is $EV//liveEvent
\! test/http --path-as-is $EV/userEvents/../liveEvent
\! test/http $EV/userEvents/%E9
\! test/http "$EV/userEvents/$(printf 'u%.0s' $(seq 1 256))"
-- headers over libmicrohttpd's per-connection memory limit (the status
-- alone: the page is libmicrohttpd's own, worded anew in 1.0)
\! test/http -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" $EV/userEvents/x | cut -d' ' -f1

-- valid edge cases are accepted: -0, a 255-byte id, extra fields, the
-- largest value; then subtracted again so that totals do not change
\! test/http -d '{"userId": "edge", "name": "add_revenue", "value": -0}' $EV/liveEvent
\! test/http -d "{\"userId\": \"$(printf 'u%.0s' $(seq 1 255))\", \"name\": \"add_revenue\", \"value\": 0}" $EV/liveEvent
\! test/http -d '{"userId": "edge", "name": "add_revenue", "value": 999999999999999999.999999999, "ts": 1}' $EV/liveEvent
\! test/http -d '{"userId": "edge", "name": "subtract_revenue", "value": 999999999999999999.999999999}' $EV/liveEvent
-- duplicate keys: the last one wins
\! test/http -d '{"userId": "edge", "name": "add_revenue", "value": 5, "value": 0}' $EV/liveEvent
-- a surrogate pair is one character, in either case
\! test/http -d '{"userId": "\ud83d\ude00", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "\uD83D\uDE00", "name": "subtract_revenue", "value": 1}' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;

-- the same worker process, and nothing changed but the zero-sum edge users
SELECT pid = :worker_pid AS same_worker FROM pg_stat_activity WHERE backend_type = 'evproc';
SELECT count(*) - 3 = :before_users AS users_same, sum(revenue) = :before_total AS total_same
FROM evproc.user_revenue;
SELECT evproc_user_revenue('edge');
\! test/http $EV/userEvents/%F0%9F%98%80
