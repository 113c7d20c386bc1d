/* evproc--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.3'" to load this file. \quit

-- Monitoring (1.3): what each worker is doing and has counted, the files
-- it knows, and a pause of ingest for maintenance.  The figures live in
-- shared memory: they survive a worker's restart and start again at a
-- server's.  Readable by pg_monitor, as PostgreSQL's own statistics.
CREATE FUNCTION evproc.worker_stats(
    OUT worker integer, OUT pid integer, OUT state text, OUT file text,
    OUT started timestamptz, OUT ingest_paused boolean,
    OUT http_requests bigint, OUT events_accepted bigint,
    OUT events_duplicate bigint, OUT journal_bytes bigint,
    OUT journal_fsyncs bigint, OUT journal_fsync_seconds double precision,
    OUT ingested_events bigint, OUT rejected_lines bigint,
    OUT ingest_errors bigint, OUT backlog_files integer,
    OUT backlog_bytes bigint, OUT ingest_lag_seconds double precision,
    OUT connections integer, OUT subscribers integer,
    OUT last_error text, OUT next_retry timestamptz,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'evproc_worker_stats'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION evproc.worker_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION evproc.worker_stats() TO pg_monitor;
COMMENT ON FUNCTION evproc.worker_stats() IS
    'One row per worker of evproc.workers: what evproc.stats shows';

CREATE VIEW evproc.stats AS SELECT * FROM evproc.worker_stats();
REVOKE ALL ON evproc.stats FROM PUBLIC;
GRANT SELECT ON evproc.stats TO pg_monitor;
COMMENT ON VIEW evproc.stats IS
    'One row per worker: what it is doing, and the counters and gauges of GET /metrics (counters since stats_reset, the server''s start)';
COMMENT ON COLUMN evproc.stats.worker IS 'The worker''s number (0 to evproc.workers - 1)';
COMMENT ON COLUMN evproc.stats.pid IS 'The worker''s process id; NULL while it is not running';
COMMENT ON COLUMN evproc.stats.state IS 'starting, serving, ingesting, waiting for lock, backing off (after an error) or paused';
COMMENT ON COLUMN evproc.stats.file IS 'The file being ingested, or the one that failed last while backing off';
COMMENT ON COLUMN evproc.stats.started IS 'When the worker last started; NULL if it never has';
COMMENT ON COLUMN evproc.stats.ingest_paused IS 'Whether evproc_pause_ingest() has paused ingest';
COMMENT ON COLUMN evproc.stats.http_requests IS 'HTTP requests answered';
COMMENT ON COLUMN evproc.stats.events_accepted IS 'Events acknowledged (200), duplicates included';
COMMENT ON COLUMN evproc.stats.events_duplicate IS 'Acknowledged events whose eventId was seen recently';
COMMENT ON COLUMN evproc.stats.journal_bytes IS 'Bytes made durable in the journal';
COMMENT ON COLUMN evproc.stats.journal_fsyncs IS 'Group commits (write and fdatasync) of the journal';
COMMENT ON COLUMN evproc.stats.journal_fsync_seconds IS 'Time spent in group commits, in seconds';
COMMENT ON COLUMN evproc.stats.ingested_events IS 'Valid events of the files ingested';
COMMENT ON COLUMN evproc.stats.rejected_lines IS 'Lines of ingested files that were not valid events';
COMMENT ON COLUMN evproc.stats.ingest_errors IS 'Failed attempts to ingest a file (each retried after a back-off)';
COMMENT ON COLUMN evproc.stats.backlog_files IS 'Archived files waiting to be ingested';
COMMENT ON COLUMN evproc.stats.backlog_bytes IS 'Bytes acknowledged and not yet counted: files waiting and the active journal';
COMMENT ON COLUMN evproc.stats.ingest_lag_seconds IS 'Age of the oldest acknowledged event not yet counted, in seconds';
COMMENT ON COLUMN evproc.stats.connections IS 'Open HTTP connections';
COMMENT ON COLUMN evproc.stats.subscribers IS 'Open live-update streams';
COMMENT ON COLUMN evproc.stats.last_error IS 'Why the file failed, while backing off';
COMMENT ON COLUMN evproc.stats.next_retry IS 'When the failed file is tried again, while backing off';
COMMENT ON COLUMN evproc.stats.stats_reset IS 'Since when the counters count (the server''s start)';

CREATE FUNCTION evproc.journal_files_on_disk(
    OUT worker integer, OUT filename text, OUT state text, OUT size bigint,
    OUT modified timestamptz, OUT last_error text, OUT next_retry timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'evproc_journal_files_on_disk'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION evproc.journal_files_on_disk() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION evproc.journal_files_on_disk() TO pg_monitor;
COMMENT ON FUNCTION evproc.journal_files_on_disk() IS
    'The files in the workers'' journal directories: what evproc.journal_files shows of them';

CREATE VIEW evproc.journal_files AS
SELECT f.worker, f.filename, f.state, f.size, f.modified,
       pg_catalog.now() - f.modified AS age,
       NULL::bigint AS events, NULL::bigint AS rejected,
       f.last_error, f.next_retry
FROM evproc.journal_files_on_disk() AS f
UNION ALL
SELECT NULL, p.filename, 'processed', p.size, p.processed_at,
       pg_catalog.now() - p.processed_at, p.events, p.rejected, NULL, NULL
FROM evproc.processed_files AS p
WHERE p.processed_at > pg_catalog.now() - interval '1 day';
REVOKE ALL ON evproc.journal_files FROM PUBLIC;
GRANT SELECT ON evproc.journal_files TO pg_monitor;
COMMENT ON VIEW evproc.journal_files IS
    'Every file the workers know: the active journal, archived files waiting, the one being ingested, one failing (with its error and next retry), files set aside in failed/, and the files processed in the last day';
COMMENT ON COLUMN evproc.journal_files.worker IS 'The worker whose directory holds the file; NULL for processed files';
COMMENT ON COLUMN evproc.journal_files.filename IS 'The file''s name (in failed/ for set aside files)';
COMMENT ON COLUMN evproc.journal_files.state IS 'active (the journal POSTs go to), waiting, ingesting, retrying (after an error), set aside or processed';
COMMENT ON COLUMN evproc.journal_files.size IS 'Size in bytes';
COMMENT ON COLUMN evproc.journal_files.modified IS 'Last written (processed files: when they were ingested)';
COMMENT ON COLUMN evproc.journal_files.age IS 'now() - modified';
COMMENT ON COLUMN evproc.journal_files.events IS 'Events counted (processed files)';
COMMENT ON COLUMN evproc.journal_files.rejected IS 'Lines rejected (processed files)';
COMMENT ON COLUMN evproc.journal_files.last_error IS 'Why ingest failed (retrying files)';
COMMENT ON COLUMN evproc.journal_files.next_retry IS 'When ingest is tried again (retrying files)';

-- evproc_pause_ingest() stops ingest for maintenance: POSTs are still
-- journaled and acknowledged, files wait.  It returns once every running
-- worker has rolled back the file it was in (up to timeout_ms; then a
-- WARNING).  A pause lasts until evproc_resume_ingest() or the server's
-- restart; a worker's restart keeps it.
CREATE FUNCTION evproc_pause_ingest(timeout_ms integer DEFAULT 10000)
RETURNS void
AS 'MODULE_PATHNAME', 'evproc_pause_ingest'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION evproc_pause_ingest(integer) FROM PUBLIC;
COMMENT ON FUNCTION evproc_pause_ingest(integer) IS
    'Pause ingest (POSTs are still journaled and acknowledged) until evproc_resume_ingest() or the server''s restart; waits up to timeout_ms for the workers to stop';

CREATE FUNCTION evproc_resume_ingest()
RETURNS void
AS 'MODULE_PATHNAME', 'evproc_resume_ingest'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION evproc_resume_ingest() FROM PUBLIC;
COMMENT ON FUNCTION evproc_resume_ingest() IS
    'Resume ingest paused by evproc_pause_ingest()';

-- Tokens (1.3): who may call the HTTP API, and for what.  Only the
-- SHA-256 of a token is kept: the token itself is returned once, by
-- evproc_create_token().  A token's scopes say what it may do: 'write'
-- (POST /liveEvent) and 'read' (the lookups, the streams, GET /metrics).
-- The trigger below tells the running workers, which reload the table
-- within a second; they check expiry against their clock at each request,
-- and write last_used at most once a minute per token.  While the table
-- has no row (revoked and expired tokens count) and evproc.auth_token(_file)
-- is empty, the HTTP API is open.  Readable by its owner only; pg_dump
-- dumps it (tokens are configuration, and a hash is no use to whoever
-- reads the dump).
CREATE TABLE evproc.tokens (
    name        text PRIMARY KEY
                CHECK (name ~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$'),
    hash        bytea NOT NULL UNIQUE
                CHECK (octet_length(hash) = 32),
    scopes      text[] NOT NULL
                CHECK (cardinality(scopes) > 0 AND array_ndims(scopes) = 1
                       AND scopes <@ ARRAY['write', 'read']),
    rate_limit  integer CHECK (rate_limit > 0),
    created     timestamptz NOT NULL DEFAULT now(),
    expires     timestamptz,
    revoked     timestamptz,
    last_used   timestamptz
);
REVOKE ALL ON evproc.tokens FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('evproc.tokens', '');
COMMENT ON TABLE evproc.tokens IS
    'Tokens of the HTTP API: only the SHA-256 of each token, its scopes and limits; managed with evproc_create_token() and evproc_revoke_token()';
COMMENT ON COLUMN evproc.tokens.name IS 'The token''s name (1 to 63 ASCII letters, digits, _ - or ., starting with a letter)';
COMMENT ON COLUMN evproc.tokens.hash IS 'SHA-256 of the token (never the token itself)';
COMMENT ON COLUMN evproc.tokens.scopes IS 'What the token may do: write (POST /liveEvent), read (lookups, streams, /metrics)';
COMMENT ON COLUMN evproc.tokens.rate_limit IS 'Events per second the token may send; NULL for no limit';
COMMENT ON COLUMN evproc.tokens.created IS 'When the token was created';
COMMENT ON COLUMN evproc.tokens.expires IS 'When the token stops working; NULL for never';
COMMENT ON COLUMN evproc.tokens.revoked IS 'When evproc_revoke_token() revoked it; NULL while it is not';
COMMENT ON COLUMN evproc.tokens.last_used IS 'When a worker last let the token in (written at most once a minute per token and worker)';

-- Any change to the tokens but to last_used (by the functions below or
-- by hand) tells the running workers, which reload the table.
CREATE FUNCTION evproc.tokens_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'evproc_tokens_changed'
LANGUAGE C;
REVOKE ALL ON FUNCTION evproc.tokens_changed() FROM PUBLIC;
COMMENT ON FUNCTION evproc.tokens_changed() IS
    'Trigger function of tokens: tells the running workers to reload the tokens';

CREATE TRIGGER tokens_changed
    AFTER INSERT OR DELETE OR TRUNCATE
        OR UPDATE OF name, hash, scopes, rate_limit, expires, revoked
    ON evproc.tokens
    FOR EACH STATEMENT EXECUTE FUNCTION evproc.tokens_changed();
COMMENT ON TRIGGER tokens_changed ON evproc.tokens IS
    'Tells the running workers to reload the tokens';

-- evproc.new_token() is a new token, "evp_" and 256 random bits
-- (pg_strong_random) in base64url, and its SHA-256: hashed in C, so that
-- the token is never a value in a statement (auto_explain would log it).
CREATE FUNCTION evproc.new_token(OUT token text, OUT hash bytea)
RETURNS record
AS 'MODULE_PATHNAME', 'evproc_new_token'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION evproc.new_token() FROM PUBLIC;
COMMENT ON FUNCTION evproc.new_token() IS
    'A new random token (evp_ and 256 random bits in base64url) and its SHA-256, for evproc_create_token';

-- evproc_create_token(name, scopes, rate_limit, expires) creates a token
-- and returns it: the only time it is seen, as only its hash is kept.
-- Only the extension's owner, superusers and the roles granted EXECUTE
-- may call it (SECURITY DEFINER, as evproc_define_event_type).
CREATE FUNCTION evproc_create_token(name text,
    scopes text[] DEFAULT '{write,read}',
    rate_limit integer DEFAULT NULL,
    expires timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    tok text;
    tok_hash bytea;
BEGIN
    IF $1 IS NULL OR $1 !~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid token name %: a name is 1 to 63 ASCII letters, digits, "_", "-" or ".", starting with a letter',
            format('%L', $1)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF $2 IS NULL OR cardinality($2) = 0 OR array_ndims($2) <> 1
       OR array_position($2, NULL) IS NOT NULL
       OR NOT $2 <@ ARRAY['write', 'read'] THEN
        RAISE EXCEPTION 'invalid scopes %: the scopes are one or both of ''write'' and ''read''',
            format('%L', $2)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF $3 <= 0 THEN
        RAISE EXCEPTION 'invalid rate_limit %: a rate limit is a positive number of events per second, or NULL for none',
            $3
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF $4 <= now() THEN
        RAISE EXCEPTION 'invalid expires %: it is not in the future', $4
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM evproc.tokens AS t WHERE t.name = $1) THEN
        RAISE EXCEPTION 'token % already exists', format('%L', $1)
        USING ERRCODE = 'unique_violation',
              HINT = 'Choose another name, or delete the old token''s row from evproc.tokens.';
    END IF;
    -- the token is never a value in a statement: only its hash is
    SELECT n.token, n.hash INTO tok, tok_hash FROM evproc.new_token() AS n;
    INSERT INTO evproc.tokens (name, hash, scopes, rate_limit, expires)
    VALUES ($1, tok_hash,
            ARRAY(SELECT s FROM unnest(ARRAY['write', 'read']) AS s
                  WHERE s = ANY ($2)),
            $3, $4);
    RETURN tok;
END
$$;
REVOKE ALL ON FUNCTION evproc_create_token(text, text[], integer, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION evproc_create_token(text, text[], integer, timestamptz) IS
    'Create a token with scopes (write, read), a rate limit (events per second) and an expiry, and return it: the only time it is shown (evproc.tokens keeps its SHA-256); only for the extension owner, superusers and roles granted EXECUTE';

-- evproc_revoke_token(name) revokes a token: requests with it get 401
-- within a second.  Revoking a revoked token keeps the first time.  Same
-- rights as evproc_create_token.
CREATE FUNCTION evproc_revoke_token(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    UPDATE evproc.tokens AS t SET revoked = coalesce(t.revoked, now())
    WHERE t.name = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'token % does not exist', format('%L', $1)
        USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION evproc_revoke_token(text) FROM PUBLIC;
COMMENT ON FUNCTION evproc_revoke_token(text) IS
    'Revoke the token name (an error if there is none): requests with it get 401 from then on; only for the extension owner, superusers and roles granted EXECUTE';
