/* evproc--1.6--1.7.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.7'" to load this file. \quit

-- the ring of journal tables is never vacuumed (1.7)
--
-- The journal tables of evproc.journal_storage = database (1.6) are
-- emptied by TRUNCATE, never by DELETE: nothing in them is ever dead but
-- whole tables, so VACUUM has nothing to do there.  Yet autovacuum (and
-- autoanalyze) ran on them as rows came in, and held a lock that made the
-- worker's truncation, which never waits for its lock, miss: the table
-- then grew until the next try.  Autovacuum is off for them and their
-- TOAST tables (the lines of a group commit are stored there once
-- compressed).  A vacuum to prevent transaction ID wraparound still runs
-- if ever needed, whatever the setting; a truncated table starts afresh.
-- Planning needs no statistics of theirs: the worker finds their rows by
-- the primary key (worker, seg, pass), or asks for any one row.
ALTER TABLE evproc.journal_0
    SET (autovacuum_enabled = false, toast.autovacuum_enabled = false);
ALTER TABLE evproc.journal_1
    SET (autovacuum_enabled = false, toast.autovacuum_enabled = false);
ALTER TABLE evproc.journal_2
    SET (autovacuum_enabled = false, toast.autovacuum_enabled = false);

-- the journal lines are compressed with lz4 where the server has it (1.7)
--
-- A group commit's lines are stored compressed (TOAST).  With pglz, the
-- server's default, compression took a third of the worker's time under
-- batched POSTs; lz4 takes a fraction of that.  The column says so where
-- the server was built with lz4 (Debian's is), and keeps the server's
-- default elsewhere.
DO $$
BEGIN
    IF 'lz4' = ANY (SELECT unnest(enumvals) FROM pg_catalog.pg_settings
                    WHERE name = 'default_toast_compression') THEN
        ALTER TABLE evproc.journal_0 ALTER COLUMN lines SET COMPRESSION lz4;
        ALTER TABLE evproc.journal_1 ALTER COLUMN lines SET COMPRESSION lz4;
        ALTER TABLE evproc.journal_2 ALTER COLUMN lines SET COMPRESSION lz4;
    END IF;
END
$$;
