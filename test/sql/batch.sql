--
-- Batches (JSON arrays and NDJSON, all or nothing) and eventIds (an event
-- is counted at most once, however often it is sent).
--

-- a JSON array: accepted as a unit
\! test/http -d '[{"userId": "b1", "name": "add_revenue", "value": 1}, {"userId": "b1", "name": "add_revenue", "value": 2}, {"userId": "b2", "name": "subtract_revenue", "value": 0.5}]' $EV/liveEvent
-- one bad event refuses the whole batch, naming its index
\! test/http -d '[{"userId": "b1", "name": "add_revenue", "value": 100}, {"userId": "b1", "name": "add_revenue", "value": -1}]' $EV/liveEvent
\! test/http -d '[{"userId": "b1", "name": "add_revenue", "value": 100}, [1]]' $EV/liveEvent
\! test/http -d '[]' $EV/liveEvent
\! test/http -d '[{"userId": "b1", "name": "add_revenue", "value": 100}' $EV/liveEvent
-- NDJSON, with a blank line and CRLF
\! printf '{"userId": "b3", "name": "add_revenue", "value": 1}\n\n{"userId": "b3", "name": "add_revenue", "value": 2}\r\n' | test/http -H 'Content-Type: application/x-ndjson' --data-binary @- $EV/liveEvent
\! printf '{"userId": "b3", "name": "add_revenue", "value": 100}\n{"userId": "b3", "name": "add_revenue"}\n' | test/http -H 'Content-Type: application/x-ndjson' --data-binary @- $EV/liveEvent
\! printf '\n\n' | test/http -H 'Content-Type: application/x-ndjson' --data-binary @- $EV/liveEvent
-- the media type must match exactly (parameters allowed, any case):
-- otherwise the body is one JSON text, and two lines are not
\! printf '{"userId": "b5", "name": "add_revenue", "value": 100}\n{"userId": "b5", "name": "add_revenue", "value": 100}\n' | test/http -H 'Content-Type: application/x-ndjsonFOO' --data-binary @- $EV/liveEvent
\! printf '{"userId": "b5", "name": "add_revenue", "value": 100}\n{"userId": "b5", "name": "add_revenue", "value": 100}\n' | test/http -H 'Content-Type: application/jsonlines' --data-binary @- $EV/liveEvent
\! printf '{"userId": "b5", "name": "add_revenue", "value": 1}\n{"userId": "b5", "name": "add_revenue", "value": 2}\n' | test/http -H 'Content-Type: application/x-ndjson; charset=utf-8' --data-binary @- $EV/liveEvent
\! printf '{"userId": "b5", "name": "add_revenue", "value": 4}\n{"userId": "b5", "name": "add_revenue", "value": 8}\n' | test/http -H 'Content-Type: Application/X-NDJSON ;charset=utf-8' --data-binary @- $EV/liveEvent
\! printf '{"userId": "b5", "name": "add_revenue", "value": 16}\n{"userId": "b5", "name": "add_revenue", "value": 32}\n' | test/http -H 'Content-Type: application/jsonl' --data-binary @- $EV/liveEvent
-- the limit on events per request
ALTER SYSTEM SET evproc.max_batch_events = 3;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\! test/http -d '[{"userId": "b4", "name": "add_revenue", "value": 1}, {"userId": "b4", "name": "add_revenue", "value": 1}, {"userId": "b4", "name": "add_revenue", "value": 1}, {"userId": "b4", "name": "add_revenue", "value": 1}]' $EV/liveEvent
\! printf '{"userId": "b4", "name": "add_revenue", "value": 1}\n%.0s' 1 2 3 4 | test/http -H 'Content-Type: application/x-ndjson' --data-binary @- $EV/liveEvent
ALTER SYSTEM RESET evproc.max_batch_events;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('b1') AS b1, evproc_user_revenue('b2') AS b2,
       evproc_user_revenue('b3') AS b3, evproc_user_revenue('b4') AS b4;
SELECT evproc_user_revenue('b5') AS b5;

-- eventIds: a repeat inside a batch, or of an id the worker journaled
-- recently, is acknowledged and reported but not journaled again
\! test/http -d '[{"userId": "i1", "name": "add_revenue", "value": 1, "eventId": "e-1"}, {"userId": "i1", "name": "add_revenue", "value": 2, "eventId": "e-2"}, {"userId": "i1", "name": "add_revenue", "value": 1, "eventId": "e-1"}]' $EV/liveEvent
-- a retry of the same events, in the same journal file and in a later one
\! test/http -d '{"userId": "i1", "name": "add_revenue", "value": 1, "eventId": "e-1"}' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;
\! test/http -d '[{"userId": "i1", "name": "add_revenue", "value": 1, "eventId": "e-1"}, {"userId": "i1", "name": "add_revenue", "value": 2, "eventId": "e-2"}, {"userId": "i1", "name": "add_revenue", "value": 4, "eventId": "e-3"}]' $EV/liveEvent
SELECT evproc_rotate() IS NOT NULL AS rotated;
SELECT evproc_user_revenue('i1');
SELECT event_id FROM evproc.seen_events ORDER BY event_id;
-- a repeat the worker cannot know at request time (here: in a dropped
-- file) is found at ingest, through evproc.seen_events
\! printf '{"userId": "i1", "name": "add_revenue", "value": 1, "eventId": "e-3"}\n{"userId": "i1", "name": "add_revenue", "value": 8, "eventId": "e-4"}\n' > /tmp/evproc-batch-drop.tmp
SELECT setting || '/evproc' AS dir FROM pg_settings WHERE name = 'data_directory' \gset
\setenv EVDIR :dir
\! mv /tmp/evproc-batch-drop.tmp "$EVDIR/events-batch-0001.jsonl"
SELECT evproc_rotate();
SELECT evproc_user_revenue('i1');
SELECT filename, events, duplicates FROM evproc.processed_files
WHERE duplicates > 0 ORDER BY filename;
-- bad eventIds
\! test/http -d '{"userId": "i1", "name": "add_revenue", "value": 1, "eventId": ""}' $EV/liveEvent
\! test/http -d '{"userId": "i1", "name": "add_revenue", "value": 1, "eventId": 7}' $EV/liveEvent
\! test/http -d "{\"userId\": \"i1\", \"name\": \"add_revenue\", \"value\": 1, \"eventId\": \"$(printf 'e%.0s' $(seq 1 129))\"}" $EV/liveEvent
-- ids are remembered for evproc.dedupe_retention
SHOW evproc.dedupe_retention;
