/* evproc--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION evproc UPDATE TO '1.2'" to load this file. \quit

-- Event types defined in SQL, and metrics per user: evproc.user_revenue
-- becomes a view of the metric 'revenue' of evproc.user_metrics, and its
-- rows move there.  The table is locked first: a worker ingesting a file
-- meanwhile either commits before the rows are copied or waits for the
-- update to commit (and then finds the new tables).
LOCK TABLE evproc.user_revenue IN ACCESS EXCLUSIVE MODE;

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

-- Every user's revenue, with its time, becomes the metric 'revenue'.
INSERT INTO evproc.user_metrics (user_id, metric, value, updated_at)
    SELECT r.user_id, 'revenue', r.revenue, r.updated_at
    FROM evproc.user_revenue AS r;

-- Leaving the extension also takes the table out of what pg_dump dumps.
ALTER EXTENSION evproc DROP TABLE evproc.user_revenue;
DROP TABLE evproc.user_revenue;

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

-- pg_dump dumps the metrics, and the event types the user defined: the
-- predefined add_revenue and subtract_revenue are left out, because
-- CREATE EXTENSION inserts them again at restore (dumping them would make
-- the restore fail on a duplicate key).  So a restore brings them back as
-- predefined, even if they had been redefined or dropped.
SELECT pg_catalog.pg_extension_config_dump('evproc.event_types',
    $$WHERE name NOT IN ('add_revenue', 'subtract_revenue')$$);
SELECT pg_catalog.pg_extension_config_dump('evproc.user_metrics', '');

-- Metrics and event types are public (metrics are served over HTTP too);
-- the bookkeeping is not.
GRANT SELECT ON evproc.event_types TO PUBLIC;
GRANT SELECT ON evproc.user_metrics TO PUBLIC;
GRANT SELECT ON evproc.user_revenue TO PUBLIC;

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
