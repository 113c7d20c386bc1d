--
-- Monitoring in SQL: evproc.stats, evproc.journal_files, pausing ingest,
-- and what pg_stat_activity says the worker is doing.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS evproc;
RESET client_min_messages;
SELECT count(*) AS drained FROM (SELECT evproc_rotate()) s;
-- files are dropped into the journal directory (evproc.directory)
SELECT current_setting('data_directory') || '/' || current_setting('evproc.directory') AS dir \gset
\set f1 :dir '/events-monitor-1.jsonl'
\set f2 :dir '/events-monitor-2.jsonl'
\set f3 :dir '/events-monitor-3.jsonl'

-- one row per worker; counters since the server started
SELECT worker, pid IS NOT NULL AS running, state, file, ingest_paused,
       started >= stats_reset AS started_after_reset, last_error, next_retry
FROM evproc.stats;
SELECT http_requests AS req0, events_accepted AS acc0, ingested_events AS ing0,
       journal_fsyncs AS fsyncs0, journal_bytes AS bytes0, rejected_lines AS rej0
FROM evproc.stats \gset

-- three events (a batch and one), then the counters moved by exactly that
\! test/http -d '[{"userId": "mon1", "name": "add_revenue", "value": 1}, {"userId": "mon2", "name": "add_revenue", "value": 2}]' $EV/liveEvent
\! test/http -d '{"userId": "mon1", "name": "add_revenue", "value": 4}' $EV/liveEvent
SELECT http_requests - :req0 AS requests,
       events_accepted - :acc0 AS accepted, journal_fsyncs - :fsyncs0 AS fsyncs,
       journal_bytes > :bytes0 AS journaled, backlog_bytes >= 0 AS has_backlog,
       journal_fsync_seconds >= 0 AS timed
FROM evproc.stats;
-- the live journal is listed, with its size
SELECT worker, filename, state, size > 0 AS has_events FROM evproc.journal_files
WHERE state = 'active';

-- paused: POSTs are still acknowledged, files wait, evproc_rotate() refuses
SELECT evproc_pause_ingest();
SELECT state, ingest_paused FROM evproc.stats;
SELECT state, replace(query, current_setting('evproc.port'), 'PORT') AS query
FROM pg_stat_activity WHERE backend_type = 'evproc';
\! test/http -d '{"userId": "mon3", "name": "add_revenue", "value": 8}' $EV/liveEvent
COPY (SELECT '{"userId": "mon3", "name": "add_revenue", "value": 16}') TO :'f1';
COPY (SELECT 'not an event') TO :'f2';
SELECT evproc_rotate();
SELECT pg_sleep(1.5);
SELECT worker, filename, state, size, events, last_error
FROM evproc.journal_files WHERE filename LIKE 'events-monitor-%' ORDER BY filename;
SELECT state, ingest_paused FROM evproc.stats;
-- idempotent
SELECT evproc_pause_ingest();
SELECT evproc_resume_ingest();
SELECT evproc_resume_ingest();
SELECT ingest_paused FROM evproc.stats;

-- resumed: everything is counted once
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT filename, state, size, events, rejected, worker, last_error
FROM evproc.journal_files WHERE filename LIKE 'events-monitor-%' ORDER BY filename;
SELECT evproc_user_revenue('mon1') AS mon1, evproc_user_revenue('mon2') AS mon2,
       evproc_user_revenue('mon3') AS mon3;
SELECT ingested_events - :ing0 AS ingested, rejected_lines - :rej0 AS rejected,
       state
FROM evproc.stats;
SELECT state, replace(query, current_setting('evproc.port'), 'PORT') AS query
FROM pg_stat_activity WHERE backend_type = 'evproc';

-- a file waiting for a lock on the tables: the worker says so, and counts
-- it once the lock is gone
BEGIN;
LOCK TABLE evproc.user_metrics IN ACCESS EXCLUSIVE MODE;
COPY (SELECT '{"userId": "mon4", "name": "add_revenue", "value": 32}') TO :'f3';
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT state FROM evproc.stats) = 'waiting for lock';
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT state, file FROM evproc.stats;
SELECT filename, state FROM evproc.journal_files WHERE filename = 'events-monitor-3.jsonl';
SELECT query FROM pg_stat_activity WHERE backend_type = 'evproc';
COMMIT;
SELECT evproc_rotate() IS NULL AS rotated_nothing;
SELECT evproc_user_revenue('mon4') AS mon4;

-- privileges: pg_monitor reads, nobody else; pausing is the owner's
CREATE ROLE evproc_mon_nobody;
CREATE ROLE evproc_mon_reader IN ROLE pg_monitor;
SET ROLE evproc_mon_nobody;
SELECT count(*) FROM evproc.stats;
SELECT count(*) FROM evproc.journal_files;
SELECT evproc_pause_ingest();
RESET ROLE;
SET ROLE evproc_mon_reader;
SELECT count(*) AS workers FROM evproc.stats;
SELECT count(*) > 0 AS files FROM evproc.journal_files;
SELECT evproc_resume_ingest();
RESET ROLE;
DROP ROLE evproc_mon_nobody, evproc_mon_reader;
SELECT evproc_pause_ingest(-1);
