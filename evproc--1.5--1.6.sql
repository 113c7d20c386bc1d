/* evproc--1.5--1.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.6'" to load this file. \quit

-- standby feed (issue 22)
--
-- One row per ingest commit, written in the file's transaction: the users
-- whose metrics it changed.  It replicates with the metrics, so that the
-- worker of a hot standby, which ingests nothing, can tell its streams'
-- subscribers what replay brings (it reads the rows past the last it read,
-- at most every 250 ms while replay advances).  The primary's worker
-- deletes the rows older than 10 minutes, once a minute: the table stays
-- small.  Not dumped: it is about what happened, not what is.
CREATE TABLE evproc.user_changes (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    committed_at timestamptz NOT NULL DEFAULT now(),
    users        text[]
);
COMMENT ON TABLE evproc.user_changes IS
    'One row per ingest commit: the users whose metrics it changed, for the streams of hot standbys; rows older than 10 minutes are deleted';
COMMENT ON COLUMN evproc.user_changes.seq IS 'The commit''s number, in commit order';
COMMENT ON SEQUENCE evproc.user_changes_seq_seq IS 'Numbers the rows of evproc.user_changes';
COMMENT ON COLUMN evproc.user_changes.committed_at IS 'When the ingest transaction wrote it';
COMMENT ON COLUMN evproc.user_changes.users IS 'The users whose metrics changed; NULL if more than 10000 (subscribers then resynchronize)';

-- a worker on a hot standby says so in evproc.stats
COMMENT ON COLUMN evproc.stats.state IS 'starting, serving, ingesting, waiting for lock, backing off (after an error), paused, or standby (on a hot standby: serving reads only)';
