--
-- SQL API: the extension's objects, privileges, settings and lookups.
--
CREATE EXTENSION evproc;

-- what \dx evproc shows (a query: 18 added a column to \dx)
SELECT e.extname AS "Name", e.extversion AS "Version", n.nspname AS "Schema",
       obj_description(e.oid, 'pg_extension') AS "Description"
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'evproc';

-- the worker runs, under its own backend type
SELECT count(*) AS workers, min(application_name) AS application_name
FROM pg_stat_activity WHERE backend_type = 'evproc';

-- settings and their defaults (regress.conf sets database and interval,
-- the Makefile a free port)
SELECT name, CASE name WHEN 'evproc.port' THEN 'PORT' ELSE setting END AS setting,
       unit, context
FROM pg_settings WHERE name LIKE 'evproc.%' ORDER BY name;

-- unknown user: NULL
SELECT evproc_user_revenue('nobody');
SELECT evproc_user_revenue(NULL);

-- an empty journal: nothing to rotate
SELECT evproc_rotate();
SELECT evproc_rotate(0);

-- privileges: revenue is readable by anyone, bookkeeping and rotation are not
CREATE ROLE evproc_reader;
SET ROLE evproc_reader;
SELECT evproc_user_revenue('nobody');
SELECT count(*) FROM evproc.user_revenue;
SELECT count(*) FROM evproc.processed_files;
SELECT evproc_rotate();
-- (its SQLSTATE: the wording of the message changed in PostgreSQL 16)
\set VERBOSITY sqlstate
SHOW evproc.auth_token;
\set VERBOSITY default
RESET ROLE;
DROP ROLE evproc_reader;

-- the schema is reserved
SET evproc.no_such_setting = 1;
