--
-- CREATE EXTENSION only in the worker's database, evproc.database: in any
-- other the tables would never be filled, so both install scripts refuse,
-- naming both databases, and nothing is left behind.
--
\set SHOW_CONTEXT never
SHOW evproc.database;
CREATE DATABASE evproc_other;
\c evproc_other
CREATE EXTENSION evproc;
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION evproc VERSION '1.0';
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'evproc';
SELECT count(*) AS schemas FROM pg_namespace WHERE nspname = 'evproc';
\c postgres
DROP DATABASE evproc_other;
-- here it is (api created it)
SELECT extversion FROM pg_extension WHERE extname = 'evproc';
