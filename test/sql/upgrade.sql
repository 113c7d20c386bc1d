--
-- Both ways to version 1.1 give the same objects and the same comments:
-- CREATE EXTENSION at 1.1, and CREATE EXTENSION at 1.0 followed by ALTER
-- EXTENSION UPDATE.  Both happen in the worker's database, the only one
-- the extension can be created in (see database.sql): the journal is
-- drained first so that the worker has nothing to ingest while its tables
-- are missing or old, and the test ends with the extension at 1.1.
--
\set shape 'SELECT * FROM (SELECT ''column'' AS kind, table_name || ''.'' || column_name || '' '' || data_type || '' '' || is_nullable || '' '' || coalesce(column_default, '''') AS what FROM information_schema.columns WHERE table_schema = ''evproc'' UNION ALL SELECT ''constraint'', conrelid::regclass || '' '' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = ''evproc''::regnamespace UNION ALL SELECT ''index'', indexdef FROM pg_indexes WHERE schemaname = ''evproc'' UNION ALL SELECT ''function'', p.oid::regprocedure || '' '' || coalesce(array_to_string(p.proacl, '',''), '''') FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ''evproc'') UNION ALL SELECT ''table'', c.oid::regclass || '' '' || coalesce(array_to_string(c.relacl, '',''), '''') FROM pg_class c WHERE c.relnamespace = ''evproc''::regnamespace UNION ALL SELECT ''dump'', unnest(extconfig)::regclass::text FROM pg_extension WHERE extname = ''evproc'') s ORDER BY 1, 2'
-- the comment of every member of the extension (schema, tables, views,
-- functions) and of every column of its tables and views; (none) if missing
\set comments 'SELECT * FROM (SELECT pg_describe_object(d.classid, d.objid, 0) || '': '' || coalesce(obj_description(d.objid, d.classid::regclass::text), ''(none)'') AS comment FROM pg_depend d WHERE d.refclassid = ''pg_extension''::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = ''evproc'') AND d.deptype = ''e'' UNION ALL SELECT pg_describe_object(''pg_class''::regclass, a.attrelid, a.attnum) || '': '' || coalesce(col_description(a.attrelid, a.attnum), ''(none)'') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relnamespace = ''evproc''::regnamespace AND c.relkind IN (''r'', ''p'', ''v'', ''m'') AND a.attnum > 0 AND NOT a.attisdropped) s ORDER BY 1'
-- evproc_rotate returns once every archived file is ingested
SELECT count(*) AS drained FROM (SELECT evproc_rotate()) s;
DROP EXTENSION evproc;
CREATE EXTENSION evproc;
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
SELECT count(*) > 10 AS has_objects FROM (:shape) s;
SELECT count(*) > 20 AS has_comments FROM (:comments) s;
-- every one has a comment
SELECT comment FROM (:comments) s WHERE comment LIKE '%: (none)';
\o results/upgrade_fresh.txt
:shape;
:comments;
\o
DROP EXTENSION evproc;
CREATE EXTENSION evproc VERSION '1.0';
INSERT INTO evproc.processed_files (filename, events, rejected) VALUES ('events-old.jsonl', 1, 0);
ALTER EXTENSION evproc UPDATE TO '1.1';
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
-- a file recorded by 1.0 keeps no fingerprint
SELECT filename, size, sha256 FROM evproc.processed_files;
\o results/upgrade_upgraded.txt
:shape;
:comments;
\o
-- the same columns, constraints, indexes, functions, privileges, dumps,
-- comments
\! diff results/upgrade_fresh.txt results/upgrade_upgraded.txt && echo same
