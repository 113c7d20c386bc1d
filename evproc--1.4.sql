/* evproc--1.4.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION evproc" to load this file. \quit

-- Only in the database the worker uses.  The worker connects to the one
-- database named by evproc.database and reads and writes the tables there;
-- created anywhere else they would never be filled.  The setting is listed
-- in pg_settings only once the library is loaded (a line in
-- postgresql.conf alone is not), and the worker only starts when the
-- library is preloaded: refuse in both cases, with the way out.
DO $$
DECLARE
    worker_db text;
BEGIN
    SELECT s.setting INTO worker_db
    FROM pg_catalog.pg_settings AS s WHERE s.name = 'evproc.database';
    IF worker_db IS NULL THEN
        RAISE EXCEPTION 'evproc is not loaded via shared_preload_libraries'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = 'Its background worker, which serves HTTP and ingests '
                       'the journal, only starts from there.',
              HINT = 'Add evproc to shared_preload_libraries, restart the '
                     'server, and create the extension in the database '
                     'named by evproc.database (default "postgres").';
    END IF;
    IF worker_db OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
        RAISE EXCEPTION 'evproc can only be created in database "%" (evproc.database), not in database "%"',
            worker_db, pg_catalog.current_database()
        USING ERRCODE = 'feature_not_supported',
              DETAIL = 'The evproc worker reads and writes the tables of '
                       'that database only.',
              HINT = pg_catalog.format('Connect to database "%s" and create '
                                       'the extension there, or set '
                                       'evproc.database = ''%s'' and restart '
                                       'the server.',
                                       worker_db, pg_catalog.current_database());
    END IF;
END
$$;

-- The worker's tables live in their own schema, whatever the extension's.
CREATE SCHEMA evproc;
COMMENT ON SCHEMA evproc IS
    'Tables of the evproc extension, written by its background worker';

-- Event types: what an event's name does.  An event of type name changes
-- its user's metric: 'add' adds the event's value, 'subtract' subtracts it,
-- 'count' adds 1 (the value is optional and ignored).  Names and metrics
-- are 1 to 63 ASCII letters, digits, '_', '-' or '.', starting with a
-- letter (the rule the worker applies too).  Managed with
-- evproc_define_event_type() and evproc_drop_event_type(); the trigger
-- below tells the running workers, which reload the table within a second.
CREATE TABLE evproc.event_types (
    name        text PRIMARY KEY
                CHECK (name ~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$'),
    metric      text NOT NULL
                CHECK (metric ~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$'),
    effect      text NOT NULL
                CHECK (effect IN ('add', 'subtract', 'count')),
    defined_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE evproc.event_types IS
    'Event types: an event named name changes its user''s metric by its value (add), minus its value (subtract) or by 1 (count); managed with evproc_define_event_type() and evproc_drop_event_type()';
COMMENT ON COLUMN evproc.event_types.name IS 'The events'' name (1 to 63 ASCII letters, digits, _ - or ., starting with a letter)';
COMMENT ON COLUMN evproc.event_types.metric IS 'The metric the events change (same rule as name)';
COMMENT ON COLUMN evproc.event_types.effect IS 'add: metric += value; subtract: metric -= value; count: metric += 1 (value ignored)';
COMMENT ON COLUMN evproc.event_types.defined_at IS 'When the type was last defined or redefined';

-- Metrics per user: one row per (user, metric), the exact sum of what the
-- user's events did to it.
CREATE TABLE evproc.user_metrics (
    user_id     text NOT NULL
                CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    metric      text NOT NULL
                CHECK (metric ~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$'),
    value       numeric NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, metric)
);
COMMENT ON TABLE evproc.user_metrics IS
    'Metrics per user: one row per user and metric, the exact sum of what the user''s events did to it (see event_types)';
COMMENT ON COLUMN evproc.user_metrics.user_id IS 'The events'' userId (1 to 255 bytes)';
COMMENT ON COLUMN evproc.user_metrics.metric IS 'The metric, as in event_types';
COMMENT ON COLUMN evproc.user_metrics.value IS 'The metric''s value for the user';
COMMENT ON COLUMN evproc.user_metrics.updated_at IS 'When the value last changed';

-- GET /topUsers reads the largest values of a metric in order (1.4): N
-- index entries instead of every user's row and a sort.  Ties by userId in
-- bytes (COLLATE "C"), as the worker orders them.
CREATE INDEX user_metrics_top ON evproc.user_metrics
    (metric, value DESC, user_id COLLATE "C");
COMMENT ON INDEX evproc.user_metrics_top IS
    'The users of a metric by value, largest first, ties by userId in bytes: GET /topUsers';

-- Revenue per user, as in version 1.0 and 1.1 (where it was a table): the
-- metric 'revenue' of user_metrics, under the same column names and types.
CREATE VIEW evproc.user_revenue AS
    SELECT m.user_id, m.value AS revenue, m.updated_at
    FROM evproc.user_metrics AS m
    WHERE m.metric = 'revenue';
COMMENT ON VIEW evproc.user_revenue IS
    'Revenue per user: the metric revenue of user_metrics (the sum of the add_revenue values minus the subtract_revenue values of the user''s events, with the predefined types)';
COMMENT ON COLUMN evproc.user_revenue.user_id IS 'The events'' userId (1 to 255 bytes)';
COMMENT ON COLUMN evproc.user_revenue.revenue IS 'The user''s revenue';
COMMENT ON COLUMN evproc.user_revenue.updated_at IS 'When the revenue last changed';

-- One row per ingested file, written in the same transaction as its
-- events: a file whose name is here with the same size and SHA-256 is
-- never counted again (a file reusing a name with other contents is
-- counted under a new name).  size and sha256 are NULL for files ingested
-- by version 1.0.
CREATE TABLE evproc.processed_files (
    filename     text PRIMARY KEY,
    events       bigint NOT NULL,
    rejected     bigint NOT NULL,
    duplicates   bigint NOT NULL DEFAULT 0,
    processed_at timestamptz NOT NULL DEFAULT now(),
    size         bigint,
    sha256       bytea
);
COMMENT ON TABLE evproc.processed_files IS
    'One row per ingested file, written in the same transaction as its events: a file whose name, size and SHA-256 are here is never counted again';
COMMENT ON COLUMN evproc.processed_files.filename IS 'Name of the archived file when it was ingested';
COMMENT ON COLUMN evproc.processed_files.events IS 'Events of the file that were counted';
COMMENT ON COLUMN evproc.processed_files.rejected IS 'Lines of the file that were not valid events (see rejected_lines)';
COMMENT ON COLUMN evproc.processed_files.duplicates IS 'Events of the file not counted because their eventId was counted before';
COMMENT ON COLUMN evproc.processed_files.processed_at IS 'When the file was ingested';
COMMENT ON COLUMN evproc.processed_files.size IS 'Size of the file in bytes; NULL for files ingested by version 1.0';
COMMENT ON COLUMN evproc.processed_files.sha256 IS 'SHA-256 of the file; NULL for files ingested by version 1.0';

-- Lines of ingested files that were not valid events (the first
-- evproc.max_rejected_lines of each file; processed_files.rejected counts
-- them all).
CREATE TABLE evproc.rejected_lines (
    filename    text NOT NULL,
    line_number bigint NOT NULL,
    line        text NOT NULL,
    reason      text NOT NULL,
    PRIMARY KEY (filename, line_number)
);
COMMENT ON TABLE evproc.rejected_lines IS
    'Lines of ingested files that were not valid events: the first evproc.max_rejected_lines of each file';
COMMENT ON COLUMN evproc.rejected_lines.filename IS 'The file, as in processed_files';
COMMENT ON COLUMN evproc.rejected_lines.line_number IS 'Number of the line in the file, from 1';
COMMENT ON COLUMN evproc.rejected_lines.line IS 'The line: its first bytes if long, bytes outside printable ASCII as \xNN if it is not valid UTF-8';
COMMENT ON COLUMN evproc.rejected_lines.reason IS 'Why the line is not a valid event';

-- eventIds already counted, kept for evproc.dedupe_retention: an event
-- whose id is here is not counted again (client retries).
CREATE TABLE evproc.seen_events (
    event_id    text PRIMARY KEY,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seen_events_seen_at ON evproc.seen_events (seen_at);
COMMENT ON TABLE evproc.seen_events IS
    'eventIds already counted, kept for evproc.dedupe_retention: an event whose eventId is here is not counted again';
COMMENT ON COLUMN evproc.seen_events.event_id IS 'The eventId';
COMMENT ON COLUMN evproc.seen_events.seen_at IS 'When the event was counted (retention runs from here)';

-- pg_dump dumps the metrics, and the event types the user defined: the
-- predefined add_revenue and subtract_revenue are left out, because
-- CREATE EXTENSION inserts them again at restore (dumping them would make
-- the restore fail on a duplicate key).  So a restore brings them back as
-- predefined, even if they had been redefined or dropped.
SELECT pg_catalog.pg_extension_config_dump('evproc.event_types',
    $$WHERE name NOT IN ('add_revenue', 'subtract_revenue')$$);
SELECT pg_catalog.pg_extension_config_dump('evproc.user_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.seen_events', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.processed_files', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.rejected_lines', '');

-- Metrics and event types are public (metrics are served over HTTP too);
-- the bookkeeping is not.
GRANT USAGE ON SCHEMA evproc TO PUBLIC;
GRANT SELECT ON evproc.event_types TO PUBLIC;
GRANT SELECT ON evproc.user_metrics TO PUBLIC;
GRANT SELECT ON evproc.user_revenue TO PUBLIC;

-- evproc_user_revenue(user_id) returns the user's revenue, NULL if unknown.
CREATE FUNCTION evproc_user_revenue(user_id text)
RETURNS numeric
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$ SELECT r.revenue FROM evproc.user_revenue AS r WHERE r.user_id = $1 $$;
COMMENT ON FUNCTION evproc_user_revenue(text) IS
    'The user''s revenue, NULL if the user is unknown';

-- evproc_rotate(timeout_ms) rotates the journal now and returns once every
-- archived file is ingested: the rotated file's name, or NULL if the
-- journal was empty.  For operators and tests; superusers only by default.
CREATE FUNCTION evproc_rotate(timeout_ms integer DEFAULT 60000)
RETURNS text
AS 'MODULE_PATHNAME', 'evproc_rotate'
LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION evproc_rotate(integer) FROM PUBLIC;
COMMENT ON FUNCTION evproc_rotate(integer) IS
    'Rotate the journal now and wait up to timeout_ms until every archived file is ingested: the rotated file''s name, NULL if the journal was empty';

-- Any change to the event types (by the functions below or by hand) tells
-- the running workers, which reload the table: the C function bumps a
-- generation in shared memory and sets their latches.
CREATE FUNCTION evproc.event_types_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'evproc_event_types_changed'
LANGUAGE C;
REVOKE ALL ON FUNCTION evproc.event_types_changed() FROM PUBLIC;
COMMENT ON FUNCTION evproc.event_types_changed() IS
    'Trigger function of event_types: tells the running workers to reload the event types';

CREATE TRIGGER event_types_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON evproc.event_types
    FOR EACH STATEMENT EXECUTE FUNCTION evproc.event_types_changed();
COMMENT ON TRIGGER event_types_changed ON evproc.event_types IS
    'Tells the running workers to reload the event types';

-- The predefined types: what versions 1.0 and 1.1 did.  Inserted after
-- the trigger so that a running worker loads them.
INSERT INTO evproc.event_types (name, metric, effect) VALUES
    ('add_revenue', 'revenue', 'add'),
    ('subtract_revenue', 'revenue', 'subtract');

-- evproc_define_event_type(name, metric, effect) creates the type name or
-- redefines it.  Events accepted before a redefinition keep counting under
-- the definition they were accepted with (the journal records it).  Only
-- the extension's owner, superusers and the roles granted EXECUTE may call
-- it: it runs with its owner's rights (SECURITY DEFINER, with a fixed
-- search_path), so that a role granted EXECUTE needs no privilege on the
-- table itself.
CREATE FUNCTION evproc_define_event_type(name text, metric text, effect text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF $1 IS NULL OR $1 !~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid event type name %: a name is 1 to 63 ASCII letters, digits, "_", "-" or ".", starting with a letter',
            format('%L', $1)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF $2 IS NULL OR $2 !~ '^[A-Za-z][A-Za-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'invalid metric %: a metric is 1 to 63 ASCII letters, digits, "_", "-" or ".", starting with a letter',
            format('%L', $2)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF $3 IS NULL OR $3 NOT IN ('add', 'subtract', 'count') THEN
        RAISE EXCEPTION 'invalid effect %: the effect is ''add'', ''subtract'' or ''count''',
            format('%L', $3)
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO evproc.event_types AS t (name, metric, effect)
    VALUES ($1, $2, $3)
    ON CONFLICT (name) DO UPDATE
        SET metric = excluded.metric, effect = excluded.effect,
            defined_at = now();
END
$$;
REVOKE ALL ON FUNCTION evproc_define_event_type(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION evproc_define_event_type(text, text, text) IS
    'Define the event type name, or redefine it: its events change metric by their value (add), minus their value (subtract) or by 1 (count); only for the extension owner, superusers and roles granted EXECUTE';

-- evproc_drop_event_type(name) drops the type name: events of that name
-- are refused from then on (those accepted before still count).  The
-- predefined add_revenue and subtract_revenue may be dropped too, like
-- any type (evproc_define_event_type brings them back).  Same rights as
-- evproc_define_event_type.
CREATE FUNCTION evproc_drop_event_type(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    DELETE FROM evproc.event_types AS t WHERE t.name = $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'event type % is not defined', format('%L', $1)
        USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION evproc_drop_event_type(text) FROM PUBLIC;
COMMENT ON FUNCTION evproc_drop_event_type(text) IS
    'Drop the event type name (an error if it is not defined; the predefined ones may be dropped too): events of that name are refused from then on, those accepted before still count; only for the extension owner, superusers and roles granted EXECUTE';

-- evproc_user_metric(user_id, metric) returns the user's metric, NULL if
-- the user has none.
CREATE FUNCTION evproc_user_metric(user_id text, metric text)
RETURNS numeric
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT m.value FROM evproc.user_metrics AS m
    WHERE m.user_id = $1 AND m.metric = $2
$$;
COMMENT ON FUNCTION evproc_user_metric(text, text) IS
    'The user''s metric, NULL if the user has none';

-- evproc_user_metrics(user_id) returns all of the user's metrics as a JSON
-- object (exact numbers), NULL if the user has none.
CREATE FUNCTION evproc_user_metrics(user_id text)
RETURNS jsonb
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_object_agg(m.metric, m.value)
    FROM evproc.user_metrics AS m WHERE m.user_id = $1
$$;
COMMENT ON FUNCTION evproc_user_metrics(text) IS
    'All of the user''s metrics as a JSON object {"metric": value}, NULL if the user has none';

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
