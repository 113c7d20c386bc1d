/* evproc--1.5--1.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.6'" to load this file. \quit

-- database journal (issue 22)
--
-- With evproc.journal_storage = database, the worker journals accepted
-- events in these tables instead of files: each group commit is one
-- transaction inserting one row (the pass's journal lines, byte for byte
-- as they would have been written to events.jsonl) into the table of the
-- worker's current segment, so that the 200 comes after a commit, and with
-- a synchronous standby after the standby has it.  A rotation seals the
-- segment and starts the next; ingest folds a sealed segment in one
-- transaction that also deletes its row here and records its name in
-- processed_files: exactly once by construction.  As PgQ's event tables,
-- the rows of the journal tables are never deleted one by one: a table
-- with no live segment left is truncated, so that they neither grow nor
-- bloat, and need no VACUUM.  Segment s is in table s % 3.  Segment
-- numbers come from a sequence, so that they never repeat, not even after
-- a crash: rows of a counted segment may stay in a table until it is
-- truncated, and must never be taken for a new segment's.  The lines are
-- bytea, not text: the bytes as a file would hold them, never checked nor
-- converted (a dump restored into a database of another encoding).
CREATE SEQUENCE evproc.journal_seg_seq;
COMMENT ON SEQUENCE evproc.journal_seg_seq IS
    'Numbers of the journal segments (evproc.journal_storage = database), never repeated';
CREATE TABLE evproc.journal_segments (
    worker      integer NOT NULL,
    seg         bigint NOT NULL,
    tab         smallint NOT NULL CHECK (tab BETWEEN 0 AND 2),
    name        text NOT NULL UNIQUE,
    started_at  timestamptz NOT NULL DEFAULT now(),
    sealed_at   timestamptz,
    bytes       bigint,
    PRIMARY KEY (worker, seg),
    CHECK ((sealed_at IS NULL) = (bytes IS NULL))
);
COMMENT ON TABLE evproc.journal_segments IS
    'Journal segments not yet counted (evproc.journal_storage = database): the current one of each worker, and the sealed ones waiting for ingest';
COMMENT ON COLUMN evproc.journal_segments.worker IS 'The worker that journaled it (0 to evproc.workers - 1)';
COMMENT ON COLUMN evproc.journal_segments.seg IS 'Its number, from journal_seg_seq';
COMMENT ON COLUMN evproc.journal_segments.tab IS 'The journal table holding its rows: journal_<tab>, seg % 3';
COMMENT ON COLUMN evproc.journal_segments.name IS 'The name it is counted under in processed_files and rejected_lines, like a journal file''s';
COMMENT ON COLUMN evproc.journal_segments.started_at IS 'When it was started';
COMMENT ON COLUMN evproc.journal_segments.sealed_at IS 'When it was sealed (rotated), NULL while it is the current one';
COMMENT ON COLUMN evproc.journal_segments.bytes IS 'Bytes of journal lines it holds, once sealed';

CREATE TABLE evproc.journal_0 (
    worker      integer NOT NULL,
    seg         bigint NOT NULL,
    pass        bigint NOT NULL,
    lines       bytea NOT NULL,
    PRIMARY KEY (worker, seg, pass)
);
CREATE TABLE evproc.journal_1 (LIKE evproc.journal_0 INCLUDING ALL);
CREATE TABLE evproc.journal_2 (LIKE evproc.journal_0 INCLUDING ALL);
COMMENT ON TABLE evproc.journal_0 IS
    'Journal table 0 of the ring (evproc.journal_storage = database): one row per group commit of a segment with tab = 0; truncated once no segment is left in it';
COMMENT ON TABLE evproc.journal_1 IS
    'Journal table 1 of the ring (evproc.journal_storage = database): one row per group commit of a segment with tab = 1; truncated once no segment is left in it';
COMMENT ON TABLE evproc.journal_2 IS
    'Journal table 2 of the ring (evproc.journal_storage = database): one row per group commit of a segment with tab = 2; truncated once no segment is left in it';
COMMENT ON COLUMN evproc.journal_0.worker IS 'The segment''s worker';
COMMENT ON COLUMN evproc.journal_0.seg IS 'The segment''s number (journal_segments.seg)';
COMMENT ON COLUMN evproc.journal_0.pass IS 'The group commit, in order within the segment';
COMMENT ON COLUMN evproc.journal_0.lines IS 'The group commit''s journal lines, as they would be in a journal file';
COMMENT ON COLUMN evproc.journal_1.worker IS 'The segment''s worker';
COMMENT ON COLUMN evproc.journal_1.seg IS 'The segment''s number (journal_segments.seg)';
COMMENT ON COLUMN evproc.journal_1.pass IS 'The group commit, in order within the segment';
COMMENT ON COLUMN evproc.journal_1.lines IS 'The group commit''s journal lines, as they would be in a journal file';
COMMENT ON COLUMN evproc.journal_2.worker IS 'The segment''s worker';
COMMENT ON COLUMN evproc.journal_2.seg IS 'The segment''s number (journal_segments.seg)';
COMMENT ON COLUMN evproc.journal_2.pass IS 'The group commit, in order within the segment';
COMMENT ON COLUMN evproc.journal_2.lines IS 'The group commit''s journal lines, as they would be in a journal file';

-- acknowledged events not yet counted: pg_dump keeps them
SELECT pg_catalog.pg_extension_config_dump('evproc.journal_seg_seq', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.journal_segments', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.journal_0', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.journal_1', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.journal_2', '');

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
