--
-- Ingest of files dropped into the journal directory: bulk import,
-- rejected lines, and never counting a file twice.
--
SELECT setting || '/evproc' AS dir FROM pg_settings WHERE name = 'data_directory' \gset
\setenv EVDIR :dir

-- a dropped file: valid lines, bad lines, a blank line, CRLF, and a torn
-- last line; written elsewhere and renamed in, as the README asks
\! printf '%s\n' '{"userId": "drop1", "name": "add_revenue", "value": 10}' '{"userId": "drop2", "name": "add_revenue", "value": 0.5}' 'not json' '' '{"userId": "drop1", "name": "subtract_revenue", "value": 3}' '{"userId": "drop1", "name": "add_revenue", "value": -3}' > "$EVDIR/drop.tmp"
\! printf '{"userId": "drop2", "name": "add_revenue", "value": 0.25}\r\n{"userId": "drop3", "name": "add_rev' >> "$EVDIR/drop.tmp"
\! mv "$EVDIR/drop.tmp" "$EVDIR/events-drop-0001.jsonl"
SELECT evproc_rotate();
SELECT evproc_user_revenue('drop1') AS drop1, evproc_user_revenue('drop2') AS drop2,
       evproc_user_revenue('drop3') AS drop3;
SELECT filename, events, rejected FROM evproc.processed_files
WHERE filename = 'events-drop-0001.jsonl';
SELECT line_number, line, reason FROM evproc.rejected_lines
WHERE filename = 'events-drop-0001.jsonl' ORDER BY line_number;
\! ls "$EVDIR/processed" | grep -c drop-0001

-- the same file again (same name, size and SHA-256) is not counted twice,
-- only moved, and processed/ keeps both copies
\! cp "$EVDIR/processed/events-drop-0001.jsonl" "$EVDIR/drop.tmp"
\! mv "$EVDIR/drop.tmp" "$EVDIR/events-drop-0001.jsonl"
SELECT evproc_rotate();
SELECT evproc_user_revenue('drop1') AS drop1;
\! ls "$EVDIR" | grep -c drop-0001
\! ls "$EVDIR/processed" | grep drop-0001
SELECT filename, size, murmur3_128 = evproc.murmur3_128(pg_read_binary_file(current_setting('data_directory') || '/evproc/processed/events-drop-0001.jsonl')) AS fingerprint_ok, sha256 IS NULL AS no_sha256
FROM evproc.processed_files WHERE filename = 'events-drop-0001.jsonl';

-- another file under an ingested name is never skipped: it is counted
-- under a new name of ours (the log says which)
\! printf '%s\n' '{"userId": "drop1", "name": "add_revenue", "value": 1000}' > "$EVDIR/drop.tmp"
\! mv "$EVDIR/drop.tmp" "$EVDIR/events-drop-0001.jsonl"
SELECT evproc_rotate();
SELECT evproc_user_revenue('drop1') AS drop1;
\! ls "$EVDIR" | grep -c drop-0001
SELECT count(*) AS renamed FROM evproc.processed_files
WHERE filename ~ '^events-\d{8}T\d{6}Z-\d{10,}-[0-9a-f]{16}\.jsonl$' AND events = 1 AND size = 58;

-- a name recorded by 1.1 to 1.7, with a SHA-256 only: the file found
-- again under it is read once more for its SHA-256; the same bytes are
-- only moved, other bytes of the same size are counted under a new name
INSERT INTO evproc.processed_files (filename, events, rejected, size, sha256)
VALUES ('events-legacy-0001.jsonl', 1, 0, 57,
        sha256(convert_to('{"userId": "legacy1", "name": "add_revenue", "value": 5}' || E'\n', 'UTF8'))),
       ('events-legacy-0002.jsonl', 1, 0, 57,
        sha256(convert_to('{"userId": "legacy2", "name": "add_revenue", "value": 5}' || E'\n', 'UTF8')));
\! printf '%s\n' '{"userId": "legacy1", "name": "add_revenue", "value": 5}' > "$EVDIR/legacy.tmp" && mv "$EVDIR/legacy.tmp" "$EVDIR/events-legacy-0001.jsonl"
\! printf '%s\n' '{"userId": "legacy2", "name": "add_revenue", "value": 7}' > "$EVDIR/legacy.tmp" && mv "$EVDIR/legacy.tmp" "$EVDIR/events-legacy-0002.jsonl"
SELECT evproc_rotate();
SELECT evproc_user_revenue('legacy1') AS legacy1, evproc_user_revenue('legacy2') AS legacy2;
\! ls "$EVDIR/processed" | grep -c legacy-0001
SELECT count(*) AS legacy_renamed FROM evproc.processed_files
WHERE filename ~ '^events-\d{8}T\d{6}Z-\d{10,}-[0-9a-f]{16}\.jsonl$' AND events = 1 AND size = 57
  AND murmur3_128 IS NOT NULL AND sha256 IS NULL;

-- files that cannot be ingested as they are go to failed/, and the rest
-- goes on: a FIFO (never opened blocking), a symbolic link, a directory,
-- an unreadable file, a name that is not UTF-8
\! mkfifo "$EVDIR/events-bad-1.jsonl"
\! ln -s /etc/passwd "$EVDIR/events-bad-2.jsonl"
\! mkdir "$EVDIR/events-bad-3.jsonl"
\! printf '{"userId": "noperm", "name": "add_revenue", "value": 1}\n' > "$EVDIR/events-bad-4.jsonl" && chmod 000 "$EVDIR/events-bad-4.jsonl"
\! printf '{"userId": "badname", "name": "add_revenue", "value": 1}\n' > "$EVDIR/events-bad-5-$(printf '\377').jsonl"
\! printf '{"userId": "after-bad", "name": "add_revenue", "value": 1}\n' > "$EVDIR/events-bad-6.jsonl"
SELECT evproc_rotate();
SELECT evproc_user_revenue('after-bad') AS after_bad, evproc_user_revenue('noperm') AS noperm,
       evproc_user_revenue('badname') AS badname;
\! ls "$EVDIR" | grep -c bad-
\! ls "$EVDIR/failed" | LC_ALL=C sort | od -c | grep -c '377'
\! ls "$EVDIR/failed" | grep -av '377' | LC_ALL=C sort
SELECT count(*) AS bad_names_stored FROM evproc.processed_files WHERE filename LIKE 'events-bad-%' AND filename <> 'events-bad-6.jsonl';

-- at most evproc.max_rejected_lines of a file are kept; all are counted
ALTER SYSTEM SET evproc.max_rejected_lines = 3;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\! (for i in 1 2 3 4 5 6 7 8 9 10; do echo "junk $i"; done; echo '{"userId": "capped", "name": "add_revenue", "value": 1}') > "$EVDIR/events-drop-cap.jsonl"
SELECT evproc_rotate();
SELECT events, rejected FROM evproc.processed_files WHERE filename = 'events-drop-cap.jsonl';
SELECT line_number, line FROM evproc.rejected_lines WHERE filename = 'events-drop-cap.jsonl' ORDER BY 1;
ALTER SYSTEM RESET evproc.max_rejected_lines;
SELECT pg_reload_conf();

-- files are taken in name order; an invalid UTF-8 line is stored escaped
\! printf '{"userId": "order", "name": "add_revenue", "value": 1}\n' > "$EVDIR/events-drop-0003.jsonl"
\! printf '{"userId": "order", "name": "add_revenue", "value": 2}\n{"userId": "\377", "name": "add_revenue", "value": 1}\n' > "$EVDIR/events-drop-0002.jsonl"
SELECT evproc_rotate();
SELECT filename, events, rejected FROM evproc.processed_files
WHERE filename LIKE 'events-drop-000%' ORDER BY processed_at, filename;
SELECT line, reason FROM evproc.rejected_lines WHERE filename = 'events-drop-0002.jsonl';
SELECT evproc_user_revenue('order');

-- a line with a lone surrogate or a raw control character in a string is
-- rejected (with the old json-c reading, the first would count for the
-- user "surr\uFFFD"); a surrogate pair is fine
\! printf '%s\n' '{"userId": "surr\ud800", "name": "add_revenue", "value": 1}' '{"userId": "surr\ud83d\ude00", "name": "add_revenue", "value": 2}' > "$EVDIR/drop.tmp"
\! printf '{"userId": "surr\001", "name": "add_revenue", "value": 4}\n' >> "$EVDIR/drop.tmp"
\! mv "$EVDIR/drop.tmp" "$EVDIR/events-drop-0004.jsonl"
SELECT evproc_rotate();
SELECT filename, events, rejected FROM evproc.processed_files
WHERE filename = 'events-drop-0004.jsonl';
SELECT line_number, reason FROM evproc.rejected_lines
WHERE filename = 'events-drop-0004.jsonl' ORDER BY line_number;
SELECT evproc_user_revenue(U&'surr\+01F600') AS pair,
       evproc_user_revenue(U&'surr\FFFD') AS merged;

-- rotated names are sortable and never repeat
\! test/http -d '{"userId": "n", "name": "add_revenue", "value": 1}' $EV/liveEvent
SELECT evproc_rotate() ~ '^events-\d{8}T\d{6}Z-\d{10}-[0-9a-f]{16}\.jsonl$' AS name_ok;
\! test/http -d '{"userId": "n", "name": "add_revenue", "value": 1}' $EV/liveEvent
SELECT evproc_rotate() ~ '^events-\d{8}T\d{6}Z-\d{10}-[0-9a-f]{16}\.jsonl$' AS name_ok;
SELECT count(*) = count(DISTINCT filename) AS unique_names,
       array_agg(filename ORDER BY processed_at) = array_agg(filename ORDER BY filename) AS sorted
FROM evproc.processed_files WHERE filename ~ '^events-\d{8}T';
SELECT evproc_user_revenue('n');

-- ingest failure is reported, the file stays, and it is retried
ALTER TABLE evproc.user_metrics RENAME TO user_metrics_moved;
\! test/http -d '{"userId": "retry", "name": "add_revenue", "value": 4}' $EV/liveEvent
DO $$
BEGIN
    PERFORM evproc_rotate(5000);
EXCEPTION WHEN others THEN
    RAISE NOTICE '%', regexp_replace(SQLERRM, 'events-[0-9a-fTZ.w-]+\.jsonl', 'events-<name>.jsonl');
END
$$;
\! ls "$EVDIR" | grep -c '^events-'
ALTER TABLE evproc.user_metrics_moved RENAME TO user_metrics;
SELECT evproc_rotate() IS NULL AS nothing_new;
SELECT evproc_user_revenue('retry');
\! ls "$EVDIR" | grep -c '^events-'

-- 503 when the journal cannot be written; nothing is acknowledged or
-- counted, and the worker recovers by itself once writing works again
\! chmod 500 "$EVDIR"
\! test/http -d '{"userId": "full", "name": "add_revenue", "value": 1}' $EV/liveEvent
\! chmod 700 "$EVDIR"
\! test/http -d '{"userId": "full", "name": "add_revenue", "value": 2}' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('full');

-- the worker's own writes reach the cumulative statistics (it reports them
-- after its commits), within PostgreSQL's one-second flush interval
DO $$
DECLARE
    n bigint;
BEGIN
    FOR i IN 1..100 LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT n_tup_ins INTO n FROM pg_stat_user_tables
        WHERE schemaname = 'evproc' AND relname = 'processed_files';
        EXIT WHEN n > 0;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RAISE NOTICE 'rows the worker inserted into processed_files: %',
        CASE WHEN n > 0 THEN 'counted in pg_stat_user_tables' ELSE 'NOT counted' END;
END
$$;
