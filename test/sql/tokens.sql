--
-- Tokens in SQL (evproc.tokens, evproc_create_token, evproc_revoke_token)
-- and what they let in over HTTP: the scopes, expiry, revocation (within
-- a second, without a reload), evproc.public_reads, and the open server
-- while there is no token.  Tokens are random: they go through psql
-- variables into the environment of test/http, never into the output.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS evproc;
RESET client_min_messages;
-- poll CMD: run test/http ARGS until its status is WANT, for at most a
-- second; print the reply and the wait (under a second or not)
\setenv POLL 'poll() { want=$1; shift; s=$(date +%s%N); for i in $(seq 1 100); do r=$(test/http "$@"); case "$r" in "$want "*) break;; esac; sleep 0.01; done; e=$(( ($(date +%s%N) - s) / 1000000 )); [ $e -lt 1000 ] && w="within a second" || w="after $e ms"; echo "$r [$w]"; }'

-- no token and no evproc.auth_token: open, as before
SELECT count(*) AS tokens FROM evproc.tokens;
\! test/http -d '{"userId": "tok-open", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http $EV/userEvents/tok-nobody

-- a token: evp_ and 256 random bits in base64url, every scope by default
SELECT evproc_create_token('both') AS tok_both \gset
SELECT :'tok_both' ~ '^evp_[A-Za-z0-9_-]{43}$' AS well_formed;
SELECT evproc_create_token('writer', '{write}') AS tok_w \gset
SELECT evproc_create_token('reader', '{read}', NULL, now() + interval '1 day') AS tok_r \gset
SELECT evproc_create_token('limited', '{read,write,read}', 50) AS tok_lim \gset
\setenv TOK_BOTH :tok_both
\setenv TOK_W :tok_w
\setenv TOK_R :tok_r
SELECT name, scopes, rate_limit, expires > now() AS expires_later,
       created <= now() AS created, revoked, last_used
FROM evproc.tokens ORDER BY name;

-- only the hash is kept: the token is in no column, its SHA-256 is the hash
SELECT count(*) AS rows_with_token FROM evproc.tokens AS t
WHERE strpos(t::text, :'tok_both') > 0 OR strpos(t::text, :'tok_w') > 0
   OR strpos(t::text, :'tok_r') > 0 OR strpos(t::text, :'tok_lim') > 0;
SELECT name, hash = sha256(convert_to(:'tok_both', 'UTF8')) AS hash_is_sha256,
       octet_length(hash) AS hash_bytes
FROM evproc.tokens WHERE name = 'both';
SELECT count(DISTINCT hash) AS distinct_hashes FROM evproc.tokens;

-- clear errors
\set SHOW_CONTEXT never
SELECT evproc_create_token('both');
SELECT evproc_create_token('');
SELECT evproc_create_token('1st');
SELECT evproc_create_token(NULL);
SELECT evproc_create_token('x', '{admin}');
SELECT evproc_create_token('x', '{}');
SELECT evproc_create_token('x', '{read,NULL}');
SELECT evproc_create_token('x', '{{read},{write}}');
SELECT evproc_create_token('x', NULL);
SELECT evproc_create_token('x', '{read}', 0);
SELECT evproc_create_token('x', '{read}', -5);
SELECT evproc_create_token('x', '{read}', NULL, '2000-01-01 00:00:00+00');
SELECT evproc_revoke_token('nobody');
\set SHOW_CONTEXT errors
-- the table's CHECKs hold for rows written by hand too
INSERT INTO evproc.tokens (name, hash, scopes, created)
VALUES ('x', '\x00', '{read}', '2000-01-01 00:00:00+00');
INSERT INTO evproc.tokens (name, hash, scopes, created)
VALUES ('x', sha256('x'), '{delete}', '2000-01-01 00:00:00+00');
INSERT INTO evproc.tokens (name, hash, scopes, rate_limit, created)
VALUES ('x', sha256('x'), '{read}', 0, '2000-01-01 00:00:00+00');
INSERT INTO evproc.tokens (name, hash, scopes, created)
VALUES ('no spaces', sha256('x'), '{read}', '2000-01-01 00:00:00+00');
SELECT count(*) AS tokens FROM evproc.tokens;

-- only the owner and roles granted EXECUTE may manage tokens; nobody else
-- reads the table
CREATE ROLE regress_tok_nobody;
CREATE ROLE regress_tok_admin;
GRANT EXECUTE ON FUNCTION evproc_create_token(text, text[], integer, timestamptz),
    evproc_revoke_token(text) TO regress_tok_admin;
SET ROLE regress_tok_nobody;
SELECT evproc_create_token('sneaky');
SELECT evproc_revoke_token('both');
SELECT count(*) FROM evproc.tokens;
SELECT evproc.new_token();
RESET ROLE;
SET ROLE regress_tok_admin;
SELECT evproc_create_token('granted', '{read}') IS NOT NULL AS created;
SELECT evproc_revoke_token('granted');
SELECT count(*) FROM evproc.tokens;
RESET ROLE;
SELECT name, revoked IS NOT NULL AS revoked FROM evproc.tokens
WHERE name = 'granted';
DROP OWNED BY regress_tok_admin;
DROP ROLE regress_tok_nobody, regress_tok_admin;

-- over HTTP: once a token exists, requests need one (within a second)
\! eval "$POLL"; poll 401 -d '{"userId": "tok-none", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http $EV/userEvents/tok-open
\! curl -sS -o /dev/null -w '%{http_code} %header{www-authenticate}\n' $EV/userEvents/tok-open
\! test/http -H 'Authorization: Bearer evp_unknownunknownunknownunknownunknownunknow' $EV/userEvents/tok-open
\! test/http -H 'Authorization: Bearer ' $EV/userEvents/tok-open
-- /health, /ready and /dashboard never need one
\! curl -sS -o /dev/null -w '%{http_code}\n' $EV/health
\! curl -sS -o /dev/null -w '%{http_code}\n' $EV/dashboard
-- write scope: POST; not the reads (403)
\! test/http -H "Authorization: Bearer $TOK_W" -d '{"userId": "tok-w", "name": "add_revenue", "value": 2}' $EV/liveEvent
\! test/http -H "Authorization: $TOK_W" -d '{"userId": "tok-w", "name": "add_revenue", "value": 3}' $EV/liveEvent
\! test/http -H "Authorization: Bearer $TOK_W" $EV/userEvents/tok-open
\! test/http -H "Authorization: Bearer $TOK_W" "$EV/topUsers?metric=revenue"
\! test/http -H "Authorization: Bearer $TOK_W" $EV/metrics
\! test/http -H "Authorization: Bearer $TOK_W" $EV/stream
\! test/http -H "Authorization: Bearer $TOK_W" $EV/userEvents/tok-open/stream
-- read scope: the reads; not POST (403)
\! test/http -H "Authorization: Bearer $TOK_R" -d '{"userId": "tok-r", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -H "Authorization: Bearer $TOK_R" $EV/userEvents/tok-open
\! curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOK_R" "$EV/topUsers?metric=revenue"
\! curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $TOK_R" $EV/metrics
\! curl -sS -o /dev/null -m 1 -w '%{http_code}\n' -H "Authorization: Bearer $TOK_R" $EV/stream 2>/dev/null
\! curl -sS -o /dev/null -m 1 -w '%{http_code}\n' -H "Authorization: Bearer $TOK_R" $EV/userEvents/tok-w/stream 2>/dev/null
-- both scopes: both
\! test/http -H "Authorization: Bearer $TOK_BOTH" -d '{"userId": "tok-both", "name": "add_revenue", "value": 4}' $EV/liveEvent
\! test/http -H "Authorization: bearer $TOK_BOTH" $EV/userEvents/tok-open

-- last_used is written by the worker (soon after the first use)
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT count(*) FROM evproc.tokens
                   WHERE name IN ('writer', 'reader', 'both')
                     AND last_used IS NOT NULL) = 3;
        PERFORM pg_sleep(0.05);
    END LOOP;
END
$$;
SELECT name, last_used IS NOT NULL AS used, last_used <= now() AS in_the_past
FROM evproc.tokens ORDER BY name;

-- revoked: 401 within a second, without a reload
SELECT evproc_revoke_token('writer');
\! eval "$POLL"; poll 401 -H "Authorization: Bearer $TOK_W" -d '{"userId": "tok-w", "name": "add_revenue", "value": 5}' $EV/liveEvent
-- revoking again keeps the first time
SELECT revoked AS first_revoked FROM evproc.tokens WHERE name = 'writer' \gset
SELECT evproc_revoke_token('writer');
SELECT revoked = :'first_revoked' AS same_time FROM evproc.tokens WHERE name = 'writer';

-- expired: 401 once the time has come, checked against the clock at each
-- request (no change to the table, nothing reloaded)
SELECT evproc_create_token('brief', '{write}', NULL, clock_timestamp() + interval '2.5 seconds') AS tok_brief \gset
\setenv TOK_BRIEF :tok_brief
\! eval "$POLL"; poll 200 -H "Authorization: Bearer $TOK_BRIEF" -d '{"userId": "tok-brief", "name": "add_revenue", "value": 6}' $EV/liveEvent
SELECT pg_sleep(2.6);
\! test/http -H "Authorization: Bearer $TOK_BRIEF" -d '{"userId": "tok-brief", "name": "add_revenue", "value": 7}' $EV/liveEvent

-- a token changed by hand takes effect too: the reader may write now
UPDATE evproc.tokens SET scopes = '{read,write}' WHERE name = 'reader';
\! eval "$POLL"; poll 200 -H "Authorization: Bearer $TOK_R" -d '{"userId": "tok-r", "name": "add_revenue", "value": 8}' $EV/liveEvent

-- evproc.auth_token works alongside, with every scope
ALTER SYSTEM SET evproc.auth_token = 'secret';
SELECT pg_reload_conf();
\! eval "$POLL"; poll 200 -H 'Authorization: Bearer secret' -d '{"userId": "tok-setting", "name": "add_revenue", "value": 9}' $EV/liveEvent
\! curl -sS -o /dev/null -w '%{http_code}\n' -H 'Authorization: secret' $EV/metrics
\! test/http -H "Authorization: Bearer $TOK_BOTH" $EV/userEvents/tok-open
ALTER SYSTEM RESET evproc.auth_token;

-- evproc.public_reads: lookups need no token; /stream, /metrics and POST
-- still do
ALTER SYSTEM SET evproc.public_reads = on;
SELECT pg_reload_conf();
\! eval "$POLL"; poll 404 $EV/userEvents/tok-nobody
\! test/http $EV/userEvents/tok-open
\! curl -sS -o /dev/null -w '%{http_code}\n' "$EV/topUsers?metric=revenue"
\! curl -sS -o /dev/null -m 1 -w '%{http_code}\n' $EV/userEvents/tok-open/stream 2>/dev/null
\! test/http -H 'Authorization: Bearer wrong' $EV/userEvents/tok-open
\! test/http $EV/stream
\! test/http $EV/metrics
\! test/http -d '{"userId": "tok-public", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! test/http -H "Authorization: Bearer $TOK_BOTH" -d '{"userId": "tok-both", "name": "add_revenue", "value": 10}' $EV/liveEvent
ALTER SYSTEM RESET evproc.public_reads;
SELECT pg_reload_conf();
\! eval "$POLL"; poll 401 $EV/userEvents/tok-open

-- no token left (revoked and expired ones count): open again
DELETE FROM evproc.tokens;
\! eval "$POLL"; poll 200 -d '{"userId": "tok-open", "name": "add_revenue", "value": 1}' $EV/liveEvent

-- what was let in counted, nothing else
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT user_id, revenue FROM evproc.user_revenue
WHERE user_id LIKE 'tok-%' ORDER BY user_id COLLATE "C";
