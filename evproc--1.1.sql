/* evproc--1.1.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION evproc" to load this file. \quit

-- The worker's tables live in their own schema, whatever the extension's.
CREATE SCHEMA evproc;

-- Revenue per user: the sum of add_revenue minus subtract_revenue values.
CREATE TABLE evproc.user_revenue (
    user_id     text PRIMARY KEY
                CHECK (octet_length(user_id) BETWEEN 1 AND 255),
    revenue     numeric NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

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

-- eventIds already counted, kept for evproc.dedupe_retention: an event
-- whose id is here is not counted again (client retries).
CREATE TABLE evproc.seen_events (
    event_id    text PRIMARY KEY,
    seen_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seen_events_seen_at ON evproc.seen_events (seen_at);

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

-- evproc_rotate(timeout_ms) rotates the journal now and returns once every
-- archived file is ingested: the rotated file's name, or NULL if the
-- journal was empty.  For operators and tests; superusers only by default.
CREATE FUNCTION evproc_rotate(timeout_ms integer DEFAULT 60000)
RETURNS text
AS 'MODULE_PATHNAME', 'evproc_rotate'
LANGUAGE C VOLATILE STRICT;

REVOKE ALL ON FUNCTION evproc_rotate(integer) FROM PUBLIC;
