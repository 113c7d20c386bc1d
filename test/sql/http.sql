--
-- HTTP API, driven with curl against the worker (on the free port in $EV);
-- test/http prints the status and the body of each reply.
--

-- happy path: add, subtract, lookup over HTTP and SQL
\! test/http -d '{"userId": "user1", "name": "add_revenue", "value": 100}' $EV/liveEvent
\! test/http -d '{"userId": "user1", "name": "subtract_revenue", "value": 50}' $EV/liveEvent
\! test/http -H 'Content-Type: application/json' -d '{"name": "add_revenue", "value": 7, "userId": "user2", "extra": [1, 2]}' $EV/liveEvent
-- not counted until the journal is rotated and ingested
\! test/http $EV/userEvents/user1
SELECT evproc_rotate() IS NOT NULL AS rotated;
\! test/http $EV/userEvents/user1
\! test/http $EV/userEvents/user2
SELECT evproc_user_revenue('user1'), evproc_user_revenue('user2');

-- exact decimals: 0.1 + 0.2 is 0.3, exponents are exact, nothing rounds
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 0.1}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 0.2}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 1.5E1}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 999999999999999999.999999999}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "subtract_revenue", "value": 999999999999999999}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 0.0000000001}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 1000000000000000000}' $EV/liveEvent
\! test/http -d '{"userId": "dec", "name": "add_revenue", "value": 99999999999999999999999}' $EV/liveEvent
-- revenue may go negative
\! test/http -d '{"userId": "neg", "name": "subtract_revenue", "value": 2.5}' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('dec'), evproc_user_revenue('neg');
\! test/http $EV/userEvents/dec
\! test/http $EV/userEvents/neg

-- user ids are stored literally and looked up percent-decoded
\! test/http -d '{"userId": "a/b ü'\''; DROP TABLE evproc.user_revenue; --", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "..\/..", "name": "add_revenue", "value": 2}' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT user_id, revenue FROM evproc.user_revenue WHERE revenue IN (1, 2) ORDER BY user_id;
\! test/http "$EV/userEvents/a%2Fb%20%C3%BC%27%3B%20DROP%20TABLE%20evproc.user_revenue%3B%20--"
\! test/http $EV/userEvents/..%2F..
\! test/http $EV/userEvents/nobody

-- 400: bad JSON or a bad field, naming the field
\! test/http -d '' $EV/liveEvent
\! test/http -d '   ' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1} x' $EV/liveEvent
\! test/http -d '[{"userId": "x", "name": "add_revenue", "value": 1}, "x"]' $EV/liveEvent
\! test/http -d '"hello"' $EV/liveEvent
\! test/http -d '{"name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": null, "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": 5, "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "a\u0000b", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "refund", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue"}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": "100"}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": true}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": -1}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": 1e400}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": NaN}' $EV/liveEvent
\! test/http -d '{"userId": "x", "name": "add_revenue", "value": Infinity}' $EV/liveEvent
\! test/http $EV/userEvents/bad%zz
\! test/http $EV/userEvents/a%00b
\! test/http $EV/userEvents/a/b

-- 404, 405 (with Allow), 413
\! test/http $EV/nothing
\! test/http $EV/liveEvent/
\! test/http $EV/userEvents/
\! curl -sS -o /dev/null -w '%{http_code} %header{allow}\n' $EV/liveEvent
\! curl -sS -o /dev/null -w '%{http_code} %header{allow}\n' -X DELETE $EV/userEvents/user1
\! head -c 1048577 /dev/zero | tr '\0' ' ' | test/http --data-binary @- $EV/liveEvent
\! head -c 1048577 /dev/zero | tr '\0' ' ' | test/http -H 'Transfer-Encoding: chunked' --data-binary @- $EV/liveEvent

-- 401 when evproc.auth_token is set; "<token>" and "Bearer <token>" work
ALTER SYSTEM SET evproc.auth_token = 'secret';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\! test/http -d '{"userId": "auth", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -H 'Authorization: wrong' $EV/userEvents/user1
\! test/http -H 'Authorization: secret' -d '{"userId": "auth", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -H 'Authorization: Bearer secret' -d '{"userId": "auth", "name": "add_revenue", "value": 1}' $EV/liveEvent
ALTER SYSTEM RESET evproc.auth_token;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- none of the refused requests changed anything
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT user_id, revenue FROM evproc.user_revenue ORDER BY user_id COLLATE "C";
SELECT count(*) AS files, sum(events) AS events, sum(rejected) AS rejected
FROM evproc.processed_files;
