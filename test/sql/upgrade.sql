--
-- One install script, evproc--1.0.sql, and the update chain (1.0--1.1,
-- 1.1--1.2, 1.2--1.3, 1.3--1.4, 1.4--1.5, 1.5--1.6, 1.6--1.7, 1.7--1.8):
-- CREATE EXTENSION at 1.8 runs 1.0 and then the chain, the scripts ALTER
-- EXTENSION UPDATE runs, so that the two paths cannot drift.  The test
-- checks that no other full install script is installed (one left over
-- from an older build would be taken instead of the chain), prints the
-- objects and comments of a fresh 1.8 (a change to a released script shows
-- here), and proves that an extension created at 1.0, 1.1, 1.2, 1.3, 1.4,
-- 1.5 or 1.6, with data, then updated by ALTER EXTENSION UPDATE, keeps its
-- data and ends with the same objects, storage parameters and comments as
-- the fresh one.  The revenue of 1.0 and 1.1 (a table) moves into
-- evproc.user_metrics, and evproc.user_revenue, now a view, and
-- evproc_user_revenue() read it as before.  All happens in the worker's
-- database, the only one the extension can be created in (see
-- database.sql): the journal is drained first so that the worker has
-- nothing to ingest while its tables are missing or old, and the test ends
-- with the extension at 1.8, the default version.
--
-- columns, constraints, indexes, functions (privileges, volatility,
-- strictness, security, settings, body), tables and views (privileges,
-- storage parameters, and those of their TOAST tables),
-- view definitions, triggers, what pg_dump dumps, the event types.  The
-- owner's MAINTAIN privilege (m), which PostgreSQL 17 grants, is left out,
-- and so are NOT NULL constraints, catalogued since 18 (the columns say it),
-- and the qualifiers of names in view definitions (16 prints fewer)
\set shape 'SELECT * FROM ( SELECT ''column'' AS kind, table_name || ''.'' || column_name || '' '' || data_type || '' '' || is_nullable || '' '' || coalesce(column_default, '''') AS what FROM information_schema.columns WHERE table_schema = ''evproc'' UNION ALL SELECT ''constraint'', conrelid::regclass || '' '' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = ''evproc''::regnamespace AND contype <> ''n'' UNION ALL SELECT ''index'', indexdef FROM pg_indexes WHERE schemaname = ''evproc'' UNION ALL SELECT ''function'', p.oid::regprocedure || '' '' || coalesce(array_to_string(p.proacl, '',''), '''') || '' '' || p.provolatile::text || p.proisstrict::text || '' definer '' || p.prosecdef::text || '' '' || coalesce(array_to_string(p.proconfig, '',''), '''') || '' '' || md5(p.prosrc) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ''evproc'') UNION ALL SELECT ''table'', c.oid::regclass || '' '' || c.relkind::text || '' '' || replace(coalesce(array_to_string(c.relacl, '',''), ''''), ''arwdDxtm'', ''arwdDxt'') || coalesce('' with '' || array_to_string(c.reloptions, '',''), '''') || coalesce('' toast with '' || array_to_string(t.reloptions, '',''), '''') FROM pg_class c LEFT JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relnamespace = ''evproc''::regnamespace UNION ALL SELECT ''view'', c.oid::regclass || '' '' || regexp_replace(pg_get_viewdef(c.oid), ''\\m[a-z_]+\\.([a-z_]+)\\M(?!\\()'', ''\\1'', ''g'') FROM pg_class c WHERE c.relnamespace = ''evproc''::regnamespace AND c.relkind = ''v'' UNION ALL SELECT ''trigger'', pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = ''evproc''::regnamespace AND NOT t.tgisinternal UNION ALL SELECT ''dump'', u.tab::regclass::text || '' '' || u.cond FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(tab, cond) WHERE e.extname = ''evproc'' UNION ALL SELECT ''type'', t.name || '' '' || t.metric || '' '' || t.effect FROM evproc.event_types t ) s ORDER BY 1, 2'
-- the comment of every member of the extension (schema, tables, views,
-- functions), of every column of its tables and views, and of its
-- triggers; (none) if missing.  Not the row types of its tables and their
-- arrays, which are the tables' own (members since PostgreSQL 17)
\set comments 'SELECT * FROM ( SELECT pg_describe_object(d.classid, d.objid, 0) || '': '' || coalesce(obj_description(d.objid, d.classid::regclass::text), ''(none)'') AS comment FROM pg_depend d WHERE d.refclassid = ''pg_extension''::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ''evproc'') AND d.deptype = ''e'' AND NOT EXISTS (SELECT 1 FROM pg_type ty LEFT JOIN pg_type el ON el.oid = ty.typelem WHERE d.classid = ''pg_type''::regclass AND ty.oid = d.objid AND (ty.typrelid <> 0 OR el.typrelid <> 0)) UNION ALL SELECT pg_describe_object(''pg_class''::regclass, a.attrelid, a.attnum) || '': '' || coalesce(col_description(a.attrelid, a.attnum), ''(none)'') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = ''evproc''::regnamespace AND c.relkind IN (''r'', ''p'', ''v'', ''m'') AND a.attnum > 0 AND NOT a.attisdropped UNION ALL SELECT pg_describe_object(''pg_trigger''::regclass, t.oid, 0) || '': '' || coalesce(obj_description(t.oid, ''pg_trigger''), ''(none)'') FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = ''evproc''::regnamespace AND NOT t.tgisinternal ) s ORDER BY 1'
-- the storage parameters of the journal tables and of their TOAST tables
\set journal_reloptions 'SELECT c.relname, c.reloptions, t.reloptions AS toast_reloptions FROM pg_class c JOIN pg_class t ON t.oid = c.reltoastrelid WHERE c.relnamespace = ''evproc''::regnamespace AND c.relname ~ ''^journal_[0-9]$'' ORDER BY 1'
-- evproc_rotate returns once every archived file is ingested
SELECT count(*) AS drained FROM (SELECT evproc_rotate()) s;
-- the full install scripts installed: evproc--1.0.sql only; the rest is
-- the chain, which reaches 1.8 from every version
SELECT f AS install_script FROM pg_ls_dir((SELECT setting FROM pg_config
    WHERE name = 'SHAREDIR') || '/extension') AS f
WHERE f ~ '^evproc--[0-9.]+\.sql$' ORDER BY f;
SELECT source, path FROM pg_extension_update_paths('evproc')
WHERE target = '1.8' ORDER BY source;
DROP EXTENSION evproc;
CREATE EXTENSION evproc;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT count(*) > 10 AS has_objects FROM (:shape) s;
SELECT count(*) > 20 AS has_comments FROM (:comments) s;
-- every one has a comment
SELECT comment FROM (:comments) s WHERE comment LIKE '%: (none)';
-- what pg_dump dumps: the metrics, the user-defined event types (the
-- predefined ones come back with CREATE EXTENSION at restore), the
-- bookkeeping; not the view
SELECT what FROM (:shape) s WHERE kind = 'dump';
-- a top list (GET /topUsers) reads evproc.top_users (1.6) in the order
-- of its index, without a sort (chosen over a sort once the table is
-- large; this one is empty)
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT t.user_id, t.value::text FROM evproc.top_users AS t
WHERE t.metric = 'revenue' ORDER BY t.value DESC, t.user_id COLLATE "C" LIMIT 100;
RESET enable_sort;
-- no index of user_metrics has value (1.6), and its pages keep room for
-- a second version of each row: the updates of ingest are HOT
SELECT indexrelid::regclass AS user_metrics_index FROM pg_index
WHERE indrelid = 'evproc.user_metrics'::regclass ORDER BY 1;
SELECT reloptions FROM pg_class WHERE oid = 'evproc.user_metrics'::regclass;
-- the journal tables of evproc.journal_storage = database, emptied by
-- TRUNCATE, are never vacuumed (1.7): autovacuum's locks made the
-- worker's truncation, which never waits, miss
:journal_reloptions;
-- the check of user_metrics.metric (1.5: octet_length and a regular
-- expression without {0,62}) accepts exactly the names of the rule of
-- event types, the expression of 1.2 to 1.4: lengths 1, 62, 63 and 64,
-- every character just outside the classes, a leading digit, '_', '.' or
-- '-', non-ASCII letters (63 characters in 64 bytes too), a newline at
-- the end, empty
CREATE FUNCTION pg_temp.metric_accepted(m text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES ('check', m, 0);
    RAISE SQLSTATE 'EVP01';     -- takes the row back
EXCEPTION
    WHEN SQLSTATE 'EVP01' THEN RETURN true;
    WHEN check_violation THEN RETURN false;
END
$$;
SELECT label, octet_length(name) AS bytes, length(name) AS chars,
       pg_temp.metric_accepted(name) AS accepted,
       name ~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' AS rule
FROM (VALUES
    ('a', 'a'), ('Z', 'Z'), ('revenue', 'revenue'), ('all classes', 'aZ09_.-zA'),
    ('62', 'a' || repeat('b', 61)), ('63', 'a' || repeat('b', 62)),
    ('63 of Z9_.-', 'Z' || repeat('9_.-', 15) || 'zz'),
    ('64', 'a' || repeat('b', 63)), ('200', 'a' || repeat('b', 199)),
    ('empty', ''), ('leading digit', '1abc'), ('leading 9', '9'),
    ('leading _', '_a'), ('leading .', '.a'), ('leading -', '-a'),
    ('@', 'a@'), ('[', 'a['), ('`', 'a`'), ('{', 'a{'), ('/', 'a/'),
    (':', 'a:'), (',', 'a,'), ('space', 'a b'), ('tab', E'a\tb'),
    ('newline at end', E'ab\n'), ('newline inside', E'a\nb'),
    ('é', U&'\00E9'), ('aé', U&'a\00E9'), ('fullwidth A', U&'a\FF21'),
    ('dotless i', U&'a\0131'), ('Kelvin sign', U&'a\212A'),
    ('62 + é', 'a' || repeat('b', 61) || U&'\00E9'),
    ('32 é', 'a' || repeat(U&'\00E9', 31))
) AS v(label, name)
ORDER BY accepted DESC, label;
SELECT count(*) AS rows_left FROM evproc.user_metrics;
-- the objects and comments of 1.8, which every path below must give
\pset format unaligned
:shape;
:comments;
\pset format aligned
\o results/upgrade_fresh.txt
:shape;
:comments;
\o

-- from 1.0, through 1.1
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.0';
INSERT INTO evproc.processed_files (filename, events, rejected) VALUES ('events-old.jsonl', 1, 0);
INSERT INTO evproc.user_revenue (user_id, revenue, updated_at) VALUES
    ('old-1', 70.50, '2020-01-02 03:04:05+00'),
    ('old-2', -3, '2021-06-07 08:09:10+00'),
    ('old-3', 12345678901234567890.123456789, '2022-01-01 00:00:00+00');
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
-- a file recorded by 1.0 keeps no fingerprint
SELECT filename, size, sha256 FROM evproc.processed_files;
-- the revenue moved, exact and with its time, and reads as before
SELECT user_id, metric, value, updated_at AT TIME ZONE 'UTC' AS updated_at
FROM evproc.user_metrics ORDER BY user_id, metric;
SELECT user_id, revenue, updated_at AT TIME ZONE 'UTC' AS updated_at
FROM evproc.user_revenue ORDER BY user_id;
SELECT evproc_user_revenue('old-1') AS old_1, evproc_user_revenue('old-3') AS old_3,
       evproc_user_revenue('nobody') AS nobody;
SELECT evproc_user_metrics('old-1');
-- the journal tables, made by 1.6, without autovacuum as in a fresh 1.8
:journal_reloptions;
\o results/upgrade_upgraded.txt
:shape;
:comments;
\o
-- the same columns, constraints, indexes, functions, privileges, views,
-- triggers, dumps, event types, comments
\! diff results/upgrade_fresh.txt results/upgrade_upgraded.txt && echo same

-- from 1.1
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.1';
INSERT INTO evproc.user_revenue (user_id, revenue, updated_at) VALUES
    ('old-4', 0.25, '2023-03-04 05:06:07+00');
-- the worker goes on while the tables are older than its library: the
-- predefined types are accepted (and journaled with their definition),
-- ingest waits for the update; after it, the event counts once
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "old-4", "name": "add_revenue", "value": 1}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
\! test/http -d '{"userId": "old-4", "name": "refund", "value": 1}' $EV/liveEvent
-- version 1.1's revenue is a table that pg_dump dumps
SELECT t::regclass AS dumped FROM pg_extension, unnest(extconfig) AS t
WHERE extname = 'evproc' ORDER BY t::regclass::text;
ALTER EXTENSION evproc UPDATE TO '1.2';
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT user_id, metric, value, updated_at AT TIME ZONE 'UTC' AS updated_at
FROM evproc.user_metrics ORDER BY user_id, metric;
SELECT user_id, revenue, updated_at AT TIME ZONE 'UTC' AS updated_at
FROM evproc.user_revenue ORDER BY user_id;
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('old-4');
SELECT relkind FROM pg_class WHERE oid = 'evproc.user_revenue'::regclass;
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
\o results/upgrade_upgraded11.txt
:shape;
:comments;
\o
\! diff results/upgrade_fresh.txt results/upgrade_upgraded11.txt && echo same

-- from 1.2: the monitoring views and the pause of ingest (1.3) are added;
-- the metrics stay
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.2';
INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES ('old-5', 'revenue', 5.5);
SELECT count(*) AS stats_before FROM pg_class WHERE oid = to_regclass('evproc.stats');
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT evproc_user_revenue('old-5');
SELECT count(*) AS workers FROM evproc.stats;
\o results/upgrade_upgraded12.txt
:shape;
:comments;
\o
\! diff results/upgrade_fresh.txt results/upgrade_upgraded12.txt && echo same

-- from 1.3: the index of top lists (1.4) is added, over the rows there
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.3';
INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES
    ('old-6', 'revenue', 6), ('old-7', 'revenue', 7), ('old-8', 'revenue', 7);
SELECT count(*) AS top_index_before FROM pg_class
WHERE oid = to_regclass('evproc.user_metrics_top');
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT m.user_id, m.value FROM evproc.user_metrics AS m
WHERE m.metric = 'revenue' ORDER BY m.value DESC, m.user_id COLLATE "C" LIMIT 2;
\o results/upgrade_upgraded13.txt
:shape;
:comments;
\o
\! diff results/upgrade_fresh.txt results/upgrade_upgraded13.txt && echo same

-- from 1.4: the check of user_metrics.metric is replaced (1.5), the rows
-- there are checked again and stay.  Meanwhile the worker of this library
-- ingests into the 1.4 tables: the event counts once.
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.4';
INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES
    ('old-9', 'revenue', 9), ('old-9', 'a' || repeat('b', 62), 63);
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "old-9", "name": "add_revenue", "value": 1}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('old-9');
SELECT pg_get_constraintdef(oid) AS check_1_4 FROM pg_constraint
WHERE conname = 'user_metrics_metric_check';
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT user_id, metric, value FROM evproc.user_metrics ORDER BY user_id, metric;
\o results/upgrade_upgraded14.txt
:shape;
:comments;
\o
\! diff results/upgrade_fresh.txt results/upgrade_upgraded14.txt && echo same

-- from 1.5: the top lists (1.6) are read from the rows there (250 users
-- of revenue: 200 kept, a floor; 3 of points: all kept), the index of
-- top lists is dropped; the tables of the database journal (added empty)
-- and evproc.user_changes (the standby feed) are added.  Meanwhile the
-- worker of this library ingests into the 1.5 tables (no user_changes row
-- to write: the event counts once) and answers /topUsers from that index;
-- after the update each ingest commit writes its row.
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.5';
INSERT INTO evproc.user_metrics (user_id, metric, value)
SELECT 'old-' || i, 'revenue', i % 120 FROM generate_series(1, 250) AS i;
INSERT INTO evproc.user_metrics (user_id, metric, value) VALUES
    ('p-1', 'points', 1), ('p-2', 'points', 3), ('p-3', 'points', 2);
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "old-1", "name": "add_revenue", "value": 1000}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "old-10", "name": "add_revenue", "value": 1}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
SELECT evproc_rotate() IS NOT NULL AS rotated;
\! test/http "$EV/topUsers?limit=3"
SELECT evproc_user_revenue('old-10');
SELECT count(*) AS journal_before FROM pg_class
WHERE oid = to_regclass('evproc.journal_segments');
SELECT count(*) AS user_changes_before FROM pg_class
WHERE oid = to_regclass('evproc.user_changes');
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT metric, value, user_id, gen FROM evproc.top_floor ORDER BY metric;
SELECT metric, count(*) AS kept FROM evproc.top_users GROUP BY metric ORDER BY metric;
-- the kept users are SQL's first 200 (none missing, none other)
(SELECT user_id FROM evproc.user_metrics WHERE metric = 'revenue'
 ORDER BY value DESC, user_id COLLATE "C" LIMIT 200)
EXCEPT ALL SELECT user_id FROM evproc.top_users WHERE metric = 'revenue';
SELECT count(*) AS top_index_after FROM pg_class
WHERE oid = to_regclass('evproc.user_metrics_top');
\! test/http "$EV/topUsers?limit=3"
\! test/http "$EV/topUsers?metric=points"
SELECT (SELECT count(*) FROM evproc.journal_segments) +
       (SELECT count(*) FROM evproc.journal_0) +
       (SELECT count(*) FROM evproc.journal_1) +
       (SELECT count(*) FROM evproc.journal_2) AS journal_rows;
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "old-10", "name": "add_revenue", "value": 1}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('old-10');
SELECT users FROM evproc.user_changes ORDER BY seq;
\o results/upgrade_upgraded15.txt
:shape;
:comments;
\o
\! diff results/upgrade_fresh.txt results/upgrade_upgraded15.txt && echo same

-- from 1.6: autovacuum is turned off for the journal tables and their
-- TOAST tables (1.7), which keep their rows (here a sealed segment of
-- another worker, not counted).  Meanwhile the worker of this library
-- journals and ingests with the 1.6 tables.
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.6';
\! for i in $(seq 1 200); do r=$(test/http -d '{"userId": "old-11", "name": "add_revenue", "value": 1}' $EV/liveEvent); case "$r" in 200*) echo "$r"; break;; esac; sleep 0.05; done
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('old-11');
:journal_reloptions;
INSERT INTO evproc.journal_segments (worker, seg, tab, name, sealed_at, bytes)
VALUES (99, 1, 1, 'events-old-segment.jsonl', now(), 0);
INSERT INTO evproc.journal_1 (worker, seg, pass, lines) VALUES (99, 1, 1, '');
ALTER EXTENSION evproc UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
:journal_reloptions;
SELECT worker, seg, name FROM evproc.journal_segments;
SELECT worker, seg, pass FROM evproc.journal_1;
DELETE FROM evproc.journal_segments WHERE worker = 99;
\o results/upgrade_upgraded16.txt
:shape;
:comments;
\o
\! diff results/upgrade_fresh.txt results/upgrade_upgraded16.txt && echo same
