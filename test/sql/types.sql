--
-- Event types defined in SQL: define, redefine, drop, the rules for names,
-- metrics and effects, who may change them, and the per-user metrics
-- (read here from rows written directly into evproc.user_metrics).
--
\set SHOW_CONTEXT never

-- predefined: what versions 1.0 and 1.1 did
SELECT name, metric, effect FROM evproc.event_types ORDER BY name COLLATE "C";
-- the table tells the running workers of every change
SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
WHERE tgrelid = 'evproc.event_types'::regclass AND NOT tgisinternal;

-- define: any effect; names and metrics from 1 to 63 characters
SELECT evproc_define_event_type('refund', 'revenue', 'subtract');
SELECT evproc_define_event_type('purchase', 'purchases', 'count');
SELECT evproc_define_event_type('Sign-up.v2_x', 'signups.total-v_2', 'add');
SELECT evproc_define_event_type('a', 'b', 'add');
SELECT evproc_define_event_type(repeat('n', 63), repeat('m', 63), 'add');
SELECT name, metric, effect FROM evproc.event_types ORDER BY name COLLATE "C";

-- redefine: metric, effect and time change, nothing else
UPDATE evproc.event_types SET defined_at = '2000-01-01 00:00:00+00' WHERE name = 'refund';
SELECT evproc_define_event_type('refund', 'refunds', 'add');
SELECT name, metric, effect, defined_at > '2000-01-01 00:00:00+00' AS redefined
FROM evproc.event_types WHERE name = 'refund';
SELECT count(*) AS types FROM evproc.event_types;

-- bad names: empty, not starting with a letter, other characters, too
-- long, not ASCII, NULL
SELECT evproc_define_event_type('', 'revenue', 'add');
SELECT evproc_define_event_type('1st', 'revenue', 'add');
SELECT evproc_define_event_type('_x', 'revenue', 'add');
SELECT evproc_define_event_type('add revenue', 'revenue', 'add');
SELECT evproc_define_event_type('a/b', 'revenue', 'add');
SELECT evproc_define_event_type('x' || repeat('n', 63), 'revenue', 'add');
SELECT evproc_define_event_type('café', 'revenue', 'add');
SELECT evproc_define_event_type(NULL, 'revenue', 'add');
\echo :LAST_ERROR_SQLSTATE
-- bad metrics
SELECT evproc_define_event_type('ok', '', 'add');
SELECT evproc_define_event_type('ok', '9lives', 'add');
SELECT evproc_define_event_type('ok', 'revenue!', 'add');
SELECT evproc_define_event_type('ok', repeat('m', 64), 'add');
SELECT evproc_define_event_type('ok', NULL, 'add');
\echo :LAST_ERROR_SQLSTATE
-- bad effects
SELECT evproc_define_event_type('ok', 'revenue', 'ADD');
SELECT evproc_define_event_type('ok', 'revenue', 'multiply');
SELECT evproc_define_event_type('ok', 'revenue', '');
SELECT evproc_define_event_type('ok', 'revenue', NULL);
\echo :LAST_ERROR_SQLSTATE
-- none of them was defined
SELECT count(*) AS types FROM evproc.event_types;
-- the table's checks hold for direct writes too
INSERT INTO evproc.event_types VALUES ('bad name', 'revenue', 'add', '2000-01-01 00:00:00+00');
INSERT INTO evproc.event_types VALUES ('ok', 'revenue', 'times', '2000-01-01 00:00:00+00');

-- drop; an unknown type is an error
SELECT evproc_drop_event_type('purchase');
SELECT evproc_drop_event_type('purchase');
\echo :LAST_ERROR_SQLSTATE
SELECT evproc_drop_event_type('never-defined');
SELECT evproc_drop_event_type(NULL);
-- the predefined types may be dropped, and defined again
SELECT evproc_drop_event_type('subtract_revenue');
SELECT evproc_define_event_type('subtract_revenue', 'revenue', 'subtract');
SELECT name, metric, effect FROM evproc.event_types ORDER BY name COLLATE "C";

-- privileges: anyone reads the types and the metrics; only the owner,
-- superusers and the roles granted EXECUTE define or drop types, through
-- the functions only
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer, p.proconfig
FROM pg_proc p WHERE p.proname IN ('evproc_define_event_type', 'evproc_drop_event_type')
ORDER BY p.oid::regprocedure::text;
CREATE ROLE evproc_nobody;
CREATE ROLE evproc_typist;
GRANT EXECUTE ON FUNCTION evproc_define_event_type(text, text, text) TO evproc_typist;
GRANT EXECUTE ON FUNCTION evproc_drop_event_type(text) TO evproc_typist;
SET ROLE evproc_nobody;
SELECT evproc_define_event_type('credit', 'credits', 'add');
SELECT evproc_drop_event_type('refund');
INSERT INTO evproc.event_types (name, metric, effect) VALUES ('credit', 'credits', 'add');
DELETE FROM evproc.event_types;
SELECT count(*) AS types FROM evproc.event_types;
SELECT count(*) >= 0 AS metrics_readable FROM evproc.user_metrics;
SELECT evproc_user_metric('nobody', 'revenue'), evproc_user_metrics('nobody');
RESET ROLE;
SET ROLE evproc_typist;
-- a search_path of the caller's does not reach into the functions
SET search_path = evproc_nowhere;
SELECT public.evproc_define_event_type('credit', 'credits', 'add');
SELECT public.evproc_define_event_type('credit', 'credits', 'count');
SELECT public.evproc_drop_event_type('Sign-up.v2_x');
RESET search_path;
INSERT INTO evproc.event_types (name, metric, effect) VALUES ('debit', 'credits', 'subtract');
RESET ROLE;
SELECT name, metric, effect FROM evproc.event_types ORDER BY name COLLATE "C";
DROP OWNED BY evproc_typist;
DROP ROLE evproc_typist;
DROP ROLE evproc_nobody;

-- metrics per user: a value per (user, metric), exact
INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES
    ('m1', 'revenue', 70.50),
    ('m1', 'purchases', 2),
    ('m1', 'big', 12345678901234567890.123456789),
    ('m2', 'signups', 1);
SELECT evproc_user_metric('m1', 'revenue') AS revenue,
       evproc_user_metric('m1', 'purchases') AS purchases,
       evproc_user_metric('m1', 'big') AS big,
       evproc_user_metric('m1', 'signups') AS m1_signups,
       evproc_user_metric('nobody', 'revenue') AS nobody;
SELECT evproc_user_metric(NULL, 'revenue') IS NULL AS null_user,
       evproc_user_metric('m1', NULL) IS NULL AS null_metric;
SELECT evproc_user_metrics('m1') AS m1, evproc_user_metrics('m2') AS m2;
SELECT evproc_user_metrics('nobody') IS NULL AS nobody,
       evproc_user_metrics(NULL) IS NULL AS null_user;
-- revenue reads as before: the view, and evproc_user_revenue (NULL for a
-- user known only through other metrics)
SELECT user_id, revenue FROM evproc.user_revenue WHERE user_id IN ('m1', 'm2');
SELECT evproc_user_revenue('m1') AS m1, evproc_user_revenue('m2') AS m2;
-- the worker's upsert adds exactly
INSERT INTO evproc.user_metrics AS r (user_id, metric, value)
SELECT * FROM (VALUES ('m1', 'revenue', -0.25), ('m2', 'revenue', 1e-20)) v
ON CONFLICT (user_id, metric)
DO UPDATE SET value = r.value + excluded.value, updated_at = now();
SELECT evproc_user_metrics('m1') AS m1, evproc_user_metrics('m2') AS m2;
-- the table's checks: user ids of 1 to 255 bytes, metrics as in event_types
INSERT INTO evproc.user_metrics VALUES ('', 'revenue', 1, '2000-01-01 00:00:00+00');
INSERT INTO evproc.user_metrics VALUES (repeat('u', 256), 'revenue', 1, '2000-01-01 00:00:00+00');
INSERT INTO evproc.user_metrics VALUES ('m3', 'no metric', 1, '2000-01-01 00:00:00+00');
DELETE FROM evproc.user_metrics WHERE user_id IN ('m1', 'm2');

-- back to the predefined types
SELECT evproc_drop_event_type(name) FROM evproc.event_types
WHERE name NOT IN ('add_revenue', 'subtract_revenue') ORDER BY name;
SELECT name, metric, effect FROM evproc.event_types ORDER BY name COLLATE "C";

-- over HTTP: a type takes effect without a restart or reload (the worker
-- is told at commit; the loop polls until the POST is accepted)
SELECT evproc_define_event_type('purchase', 'purchases', 'count');
SELECT evproc_define_event_type('refund', 'revenue', 'subtract');
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "t1", "name": "purchase"}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
\! test/http -d '{"userId": "t1", "name": "purchase", "value": 99}' $EV/liveEvent
\! test/http -d '{"userId": "t1", "name": "add_revenue", "value": 20}' $EV/liveEvent
\! test/http -d '{"userId": "t1", "name": "refund", "value": 5}' $EV/liveEvent
\! test/http -d '{"userId": "t2", "name": "purchase"}' $EV/liveEvent
-- an unknown type, a subtract without a value, and in a batch
\! test/http -d '{"userId": "t1", "name": "gift", "value": 1}' $EV/liveEvent
\! test/http -d '{"userId": "t1", "name": "refund"}' $EV/liveEvent
\! test/http -d '[{"userId": "t1", "name": "refund", "value": 1}, {"userId": "t1", "name": "gift", "value": 1}]' $EV/liveEvent
\! test/http -d '{"userId": "t1", "name": "Bad Name", "value": 1}' $EV/liveEvent
-- redefined and dropped before ingest: the events above keep their
-- definitions (the loop waits until the worker refuses the dropped type)
SELECT evproc_define_event_type('refund', 'revenue', 'add');
SELECT evproc_drop_event_type('purchase');
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "t9", "name": "purchase"}' $EV/liveEvent); case "$r" in 400*) echo "$r"; break;; esac; sleep 0.05; done
SELECT evproc_rotate() IS NOT NULL AS rotated;
\! test/http $EV/userEvents/t1
-- a user known only by other metrics has revenue 0
\! test/http $EV/userEvents/t2
SELECT evproc_user_metrics('t1') AS t1, evproc_user_metric('t2', 'purchases') AS t2;
\! test/http -d '{"userId": "t3", "name": "refund", "value": 5}' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('t3') AS t3_refund_now_adds;
SELECT evproc_drop_event_type('refund');
SELECT name, metric, effect FROM evproc.event_types ORDER BY name COLLATE "C";
