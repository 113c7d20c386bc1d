/* evproc--1.2.sql */

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
