--
-- Both ways to version 1.1 give the same objects: CREATE EXTENSION at
-- 1.1, and CREATE EXTENSION at 1.0 followed by ALTER EXTENSION UPDATE.
-- (Other databases than the worker's: no worker uses them.)
--
\set shape 'SELECT * FROM (SELECT ''column'' AS kind, table_name || ''.'' || column_name || '' '' || data_type || '' '' || is_nullable || '' '' || coalesce(column_default, '''') AS what FROM information_schema.columns WHERE table_schema = ''evproc'' UNION ALL SELECT ''constraint'', conrelid::regclass || '' '' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = ''evproc''::regnamespace UNION ALL SELECT ''index'', indexdef FROM pg_indexes WHERE schemaname = ''evproc'' UNION ALL SELECT ''function'', p.oid::regprocedure || '' '' || coalesce(array_to_string(p.proacl, '',''), '''') FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ''evproc'') UNION ALL SELECT ''table'', c.oid::regclass || '' '' || coalesce(array_to_string(c.relacl, '',''), '''') FROM pg_class c WHERE c.relnamespace = ''evproc''::regnamespace UNION ALL SELECT ''dump'', unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = ''evproc'') s ORDER BY 1, 2'
CREATE DATABASE evproc_fresh;
CREATE DATABASE evproc_upgraded;
\c evproc_fresh
CREATE EXTENSION evproc;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT count(*) > 10 AS has_objects FROM (:shape) s;
\o results/upgrade_fresh.txt
:shape;
\o
\c evproc_upgraded
CREATE EXTENSION evproc VERSION '1.0';
INSERT INTO evproc.processed_files (filename, events, rejected) VALUES ('events-old.jsonl', 1, 0);
ALTER EXTENSION evproc UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
-- a file recorded by 1.0 keeps no fingerprint
SELECT filename, size, sha256 FROM evproc.processed_files;
\o results/upgrade_upgraded.txt
:shape;
\o
-- the same columns, constraints, indexes, functions, privileges, dumps
\! diff results/upgrade_fresh.txt results/upgrade_upgraded.txt && echo same
\c postgres
DROP DATABASE evproc_fresh;
DROP DATABASE evproc_upgraded;
