/* evproc--1.5--1.6.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.6'" to load this file. \quit

-- top lists without an index on value (issue 23)
--
-- GET /topUsers reads evproc.top_users, the first users of each metric by
-- value (largest first, ties by userId in bytes), kept by ingest in the
-- transaction of each file, instead of an index of evproc.user_metrics on
-- value: with value indexed, every update of ingest was a non-HOT update
-- that inserted into both indexes.  Without it, and with room left in each
-- page (fillfactor 50: a file updates each of its rows once, so a page
-- needs room for a second version of each), the updates of ingest are HOT.
--
-- evproc.top_floor says, per metric, down to where evproc.top_users is
-- complete: every user whose (value, userId) ranks at or above the floor
-- is in it (and only those); no floor (value NULL, or no row) means all
-- the metric's users are in it.  Ingest keeps between 100 and 400 users a
-- metric (evproc.top_apply): the longest list (100) is always exact.  gen
-- counts the times the floor was lowered (a refill from user_metrics).
CREATE TABLE evproc.top_users (
    metric      text NOT NULL,
    user_id     text NOT NULL,
    value       numeric NOT NULL,
    PRIMARY KEY (metric, user_id)
);
CREATE INDEX top_users_rank ON evproc.top_users
    (metric, value DESC, user_id COLLATE "C");
COMMENT ON TABLE evproc.top_users IS
    'The first users of each metric by value, down to its row of top_floor: GET /topUsers (kept by ingest)';

CREATE TABLE evproc.top_floor (
    metric      text PRIMARY KEY,
    value       numeric,
    user_id     text,
    gen         bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE evproc.top_floor IS
    'Per metric, the last (value, userId) down to which top_users holds every user; NULL: all of them';

GRANT SELECT ON evproc.top_users TO PUBLIC;
GRANT SELECT ON evproc.top_floor TO PUBLIC;

-- evproc.top_refill(metric) reads the metric's top list again from
-- evproc.user_metrics (a scan of the table) and lowers its floor.
CREATE FUNCTION evproc.top_refill(p_metric text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep constant int := 200;
    n bigint;
    last_value numeric;
    last_user text;
BEGIN
    DELETE FROM evproc.top_users WHERE metric = p_metric;
    INSERT INTO evproc.top_users (metric, user_id, value)
        SELECT m.metric, m.user_id, m.value FROM evproc.user_metrics AS m
        WHERE m.metric = p_metric
        ORDER BY m.value DESC, m.user_id COLLATE "C" LIMIT keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n >= keep THEN
        SELECT t.value, t.user_id INTO last_value, last_user FROM evproc.top_users AS t
        WHERE t.metric = p_metric
        ORDER BY t.value DESC, t.user_id COLLATE "C" OFFSET keep - 1 LIMIT 1;
    END IF;
    INSERT INTO evproc.top_floor AS f (metric, value, user_id, gen)
        VALUES (p_metric, last_value, last_user, 1)
        ON CONFLICT (metric) DO UPDATE
        SET value = excluded.value, user_id = excluded.user_id, gen = f.gen + 1;
END
$$;

-- evproc.top_rebuild() reads every metric's top list again (after writes
-- to evproc.user_metrics that did not come from ingest).
CREATE FUNCTION evproc.top_rebuild()
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m text;
BEGIN
    LOCK TABLE evproc.top_floor IN SHARE ROW EXCLUSIVE MODE;
    DELETE FROM evproc.top_users AS t
    WHERE NOT EXISTS (SELECT FROM evproc.user_metrics AS u WHERE u.metric = t.metric);
    DELETE FROM evproc.top_floor AS t
    WHERE NOT EXISTS (SELECT FROM evproc.user_metrics AS u WHERE u.metric = t.metric);
    FOR m IN SELECT DISTINCT u.metric FROM evproc.user_metrics AS u LOOP
        PERFORM evproc.top_refill(m);
    END LOOP;
END
$$;

-- evproc.top_apply brings the top lists of the metrics a file changed up
-- to date, at the end of the file's transaction (the worker calls it):
-- p_metrics with the gen of each one's floor when the file's transaction
-- began to write, and the (user, metric, new value) the file changed that
-- ranked at or above the floor then (c_*); p_cut for a metric of which the
-- worker dropped candidates (it keeps the best 1000 once it has more than
-- 2000): the list is then cut to 200, its floor above all of those.  Serialized (one file at
-- a time), so that the floors and lists stay true with several workers.
CREATE FUNCTION evproc.top_apply(p_metrics text[], p_gens bigint[],
                                 p_cut boolean[], c_users text[],
                                 c_metrics text[], c_values numeric[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep constant int := 200;
    most constant int := 400;
    least constant int := 100;
    met text;
    f_value numeric;
    f_user text;
    f_gen bigint;
    n bigint;
    last_value numeric;
    last_user text;
BEGIN
    LOCK TABLE evproc.top_floor IN SHARE ROW EXCLUSIVE MODE;
    FOR i IN 1 .. coalesce(array_length(p_metrics, 1), 0) LOOP
        met := p_metrics[i];
        SELECT t.value, t.user_id, t.gen INTO f_value, f_user, f_gen
            FROM evproc.top_floor AS t WHERE t.metric = met;
        IF NOT FOUND THEN
            f_gen := 0;
        END IF;
        -- lowered since the file began (its candidates may miss some):
        -- read the list again
        IF f_gen <> p_gens[i] THEN
            PERFORM evproc.top_refill(met);
            CONTINUE;
        END IF;
        -- the members: their values now (this file's, others' committed)
        UPDATE evproc.top_users AS t SET value = u.value
            FROM evproc.user_metrics AS u
            WHERE t.metric = met AND u.metric = met AND u.user_id = t.user_id
              AND u.value <> t.value;
        DELETE FROM evproc.top_users AS t
            WHERE t.metric = met AND NOT EXISTS
              (SELECT FROM evproc.user_metrics AS u
               WHERE u.metric = met AND u.user_id = t.user_id);
        IF f_value IS NOT NULL THEN
            -- members that fell below the floor
            DELETE FROM evproc.top_users AS t
                WHERE t.metric = met AND (t.value < f_value OR
                      (t.value = f_value AND t.user_id COLLATE "C" > f_user COLLATE "C"));
        END IF;
        -- the file's users that rank at or above the floor
        INSERT INTO evproc.top_users AS t (metric, user_id, value)
            SELECT met, c.u, c.v
            FROM ROWS FROM (unnest(c_users), unnest(c_metrics), unnest(c_values)) AS c(u, cm, v)
            WHERE c.cm = met AND (f_value IS NULL OR c.v > f_value OR
                  (c.v = f_value AND c.u COLLATE "C" <= f_user COLLATE "C"))
            ON CONFLICT (metric, user_id) DO UPDATE SET value = excluded.value;
        SELECT count(*) INTO n FROM evproc.top_users AS t WHERE t.metric = met;
        IF n > most OR (p_cut[i] AND n > keep) THEN
            -- too many, or candidates dropped: keep the first, raise the
            -- floor to the last kept (above every candidate dropped)
            SELECT t.value, t.user_id INTO last_value, last_user
                FROM evproc.top_users AS t WHERE t.metric = met
                ORDER BY t.value DESC, t.user_id COLLATE "C" OFFSET keep - 1 LIMIT 1;
            DELETE FROM evproc.top_users AS t
                WHERE t.metric = met AND (t.value < last_value OR
                      (t.value = last_value AND t.user_id COLLATE "C" > last_user COLLATE "C"));
            INSERT INTO evproc.top_floor AS t (metric, value, user_id, gen)
                VALUES (met, last_value, last_user, f_gen)
                ON CONFLICT (metric) DO UPDATE
                SET value = excluded.value, user_id = excluded.user_id;
        ELSIF n < least AND f_value IS NOT NULL THEN
            -- too few known: read the list again
            PERFORM evproc.top_refill(met);
        END IF;
    END LOOP;
END
$$;

-- evproc.top_stale(): the trigger that reads the lists again after a
-- statement that writes evproc.user_metrics outside ingest (SQL, a
-- restore: the lists are not dumped, they are read again as the metrics
-- are restored); ingest keeps them itself, cheaper (it sets
-- evproc_ingest.keeps_top_lists in its transaction).
CREATE FUNCTION evproc.top_stale()
RETURNS trigger
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(current_setting('evproc_ingest.keeps_top_lists', true), '') <> 'on' THEN
        PERFORM evproc.top_rebuild();
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER user_metrics_top_lists
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON evproc.user_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION evproc.top_stale();
COMMENT ON TRIGGER user_metrics_top_lists ON evproc.user_metrics IS
    'Reads the top lists again after a write outside ingest';

REVOKE ALL ON FUNCTION evproc.top_refill(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION evproc.top_rebuild() FROM PUBLIC;
REVOKE ALL ON FUNCTION evproc.top_apply(text[], bigint[], boolean[], text[], text[], numeric[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION evproc.top_stale() FROM PUBLIC;
COMMENT ON FUNCTION evproc.top_refill(text) IS
    'Reads a metric''s top list again from user_metrics (a scan of the table)';
COMMENT ON FUNCTION evproc.top_rebuild() IS
    'Reads every metric''s top list again from user_metrics';
COMMENT ON FUNCTION evproc.top_apply(text[], bigint[], boolean[], text[], text[], numeric[]) IS
    'Brings the top lists of a file''s metrics up to date at the end of its ingest (the worker calls it)';
COMMENT ON FUNCTION evproc.top_stale() IS
    'Trigger: reads the top lists again after a write to user_metrics outside ingest';
COMMENT ON COLUMN evproc.top_users.metric IS 'The metric of the list';
COMMENT ON COLUMN evproc.top_users.user_id IS 'One of its first users';
COMMENT ON COLUMN evproc.top_users.value IS 'The user''s value of the metric, as in user_metrics';
COMMENT ON COLUMN evproc.top_floor.metric IS 'The metric';
COMMENT ON COLUMN evproc.top_floor.value IS 'The value of the last user down to which top_users has every user; NULL: it has all';
COMMENT ON COLUMN evproc.top_floor.user_id IS 'That user (ties by userId in bytes)';
COMMENT ON COLUMN evproc.top_floor.gen IS 'How many times the floor was read again (lowered); ingest compares it';

SELECT evproc.top_rebuild();

DROP INDEX evproc.user_metrics_top;
ALTER TABLE evproc.user_metrics SET (fillfactor = 50);

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
