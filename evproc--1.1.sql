/* evproc--1.1.sql */

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

-- Revenue per user: the sum of add_revenue minus subtract_revenue values.
CREATE TABLE evproc.user_revenue (
    user_id     text PRIMARY KEY
                CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    revenue     numeric NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE evproc.user_revenue IS
    'Revenue per user: the sum of the add_revenue values minus the subtract_revenue values of the user''s events';
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

SELECT pg_catalog.pg_extension_config_dump('evproc.user_revenue', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.seen_events', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.processed_files', '');
SELECT pg_catalog.pg_extension_config_dump('evproc.rejected_lines', '');

-- Revenue is public (it is served over HTTP too); the bookkeeping is not.
GRANT USAGE ON SCHEMA evproc TO PUBLIC;
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
