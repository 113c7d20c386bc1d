/* evproc--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.4'" to load this file. \quit

-- Top lists (1.4): GET /topUsers reads the largest values of a metric in
-- order, N index entries instead of every user's row and a sort.  Ties by
-- userId in bytes (COLLATE "C"), as the worker orders them.  Building it
-- locks evproc.user_metrics against writes (ingest waits) for as long as
-- it takes: about 2 s per million rows.
CREATE INDEX user_metrics_top ON evproc.user_metrics
    (metric, value DESC, user_id COLLATE "C");
COMMENT ON INDEX evproc.user_metrics_top IS
    'The users of a metric by value, largest first, ties by userId in bytes: GET /topUsers';
