# evproc: a PGXS extension (PostgreSQL 15) with a background worker.
#
#   make && make install      build and install the extension
#   make unitcheck            unit tests of the backend-free code (no server)
#   make installcheck         pg_regress (temporary instance) and TAP tests;
#                             run as a non-root user (initdb refuses root)
#   make structurecheck       no cycle among src/ objects (nm), no file > 800 lines
#   make check-all            unitcheck + structurecheck + installcheck
#
# Build with warnings as errors: make WERROR=1

EXTENSION = evproc
MODULE_big = evproc
OBJS = \
	src/evproc.o \
	src/settings.o \
	src/worker.o \
	src/rotation.o \
	src/changes.o \
	src/types.o \
	src/http.o \
	src/http_request.o \
	src/http_conn.o \
	src/http_slots.o \
	src/http_stream.o \
	src/http_events.o \
	src/http_top.o \
	src/http_cors.o \
	src/tls_probe.o \
	src/http_ratelimit.o \
	src/ratelimit.o \
	src/dashboard.o \
	src/http_inflate.o \
	src/stream.o \
	src/stream_ws.o \
	src/stream_index.o \
	src/ws.o \
	src/ws_handshake.o \
	src/feed.o \
	src/auth.o \
	src/tokens.o \
	src/token_table.o \
	src/tls.o \
	src/intake.o \
	src/pressure.o \
	src/metrics.o \
	src/status.o \
	src/lookup.o \
	src/ingest.o \
	src/ingest_moves.o \
	src/fold.o \
	src/db.o \
	src/sql_api.o \
	src/event.o \
	src/event_fast.o \
	src/event_type.o \
	src/decimal.o \
	src/validate.o \
	src/format.o \
	src/idcache.o \
	src/journal.o \
	src/journal_archive.o \
	src/journal_fs.o \
	src/safe_open.o
# One install script, evproc--1.0.sql, and the update chain: CREATE
# EXTENSION at 1.4 runs evproc--1.0.sql, then each update script in turn,
# the same scripts ALTER EXTENSION UPDATE runs (the paths cannot drift)
DATA = evproc--1.0.sql \
	evproc--1.0--1.1.sql evproc--1.1--1.2.sql evproc--1.2--1.3.sql evproc--1.3--1.4.sql
PGFILEDESC = "evproc - revenue events over HTTP, ingested exactly once"

SHLIB_LINK = -lmicrohttpd -lgnutls -ljson-c -lz

# pg_regress: SQL in test/sql, expected output in expected/ (test/expected
# is a link to it), against a temporary instance with evproc preloaded.
# The worker connects to the "postgres" database, so the tests use it.
REGRESS = api database http ingest badinput batch types monitor tokens upgrade
REGRESS_OPTS = --inputdir=test --temp-instance=tmp_regress \
	--temp-config=test/regress.conf --use-existing

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# The expected outputs assume UTF-8 whatever the caller's locale (a fresh
# machine may have none): psql's column widths, and the encoding initdb
# gives the temporary instances of pg_regress and the TAP tests.  Both
# harnesses drop LC_ALL, so LANG and the categories that matter are set.
installcheck: export LANG = C.UTF-8
installcheck: export LC_CTYPE = C.UTF-8
installcheck: export LC_COLLATE = C.UTF-8

EXTRA_CLEAN = tmp_regress src/dashboard_html.h test/unit/test_event test/unit/test_validate \
	test/unit/test_journal \
	test/unit/test_idcache test/unit/test_ws test/unit/test_inflate \
	test/unit/test_ratelimit test/unit/test_tokens test/unit/test_stream_index \
	test/fuzz/fuzz_event test/fuzz/fuzz_ws test/fuzz/work test/fuzz/work_ws \
	test/fuzz/fuzz_inflate test/fuzz/work_inflate

ifdef WERROR
PG_CFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object is rebuilt when a header of src/ changes (PGXS tracks no
# header dependencies unless PostgreSQL was configured with them)
$(OBJS): $(wildcard src/*.h)

CONTRIB_TESTDB = postgres

# GET /dashboard's page, a C string made from src/dashboard.html
src/dashboard_html.h: src/dashboard.html scripts/html2c.sh
	sh scripts/html2c.sh src/dashboard.html > $@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }
src/dashboard.o: src/dashboard_html.h

# evproc-client, the command-line client
include client/client.mk

# Unit tests of the backend-free modules: plain C, no server.
UNIT_CFLAGS = -std=gnu11 -O1 -g -Wall -Wextra -Werror -Isrc
UNIT_TESTS = test/unit/test_event test/unit/test_validate test/unit/test_journal \
	test/unit/test_idcache test/unit/test_client test/unit/test_sse \
	test/unit/test_ws test/unit/test_inflate test/unit/test_ratelimit \
	test/unit/test_tokens test/unit/test_stream_index

# the event modules, all backend-free, and their headers
EVENT_SRCS = src/event.c src/event_fast.c src/event_type.c src/decimal.c \
	src/validate.c src/format.c
EVENT_HDRS = src/event.h src/event_int.h src/decimal.h src/validate.h \
	src/evlimits.h

test/unit/test_event: test/unit/test_event.c test/unit/unit.h $(EVENT_SRCS) $(EVENT_HDRS)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_event.c $(EVENT_SRCS) -ljson-c

test/unit/test_validate: test/unit/test_validate.c test/unit/unit.h src/validate.c src/validate.h src/evlimits.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_validate.c src/validate.c

JOURNAL_SRCS = src/journal.c src/journal_archive.c src/journal_fs.c src/safe_open.c
test/unit/test_journal: test/unit/test_journal.c test/unit/unit.h $(JOURNAL_SRCS) \
		src/journal.h src/journal_fs.h src/safe_open.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_journal.c $(JOURNAL_SRCS)

test/unit/test_idcache: test/unit/test_idcache.c test/unit/unit.h src/idcache.c src/idcache.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_idcache.c src/idcache.c

test/unit/test_ratelimit: test/unit/test_ratelimit.c test/unit/unit.h src/ratelimit.c src/ratelimit.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_ratelimit.c src/ratelimit.c -lm

test/unit/test_tokens: test/unit/test_tokens.c test/unit/unit.h src/token_table.c src/token_table.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_tokens.c src/token_table.c -lgnutls

test/unit/test_stream_index: test/unit/test_stream_index.c test/unit/unit.h src/stream_index.c src/stream_index.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_stream_index.c src/stream_index.c

# the WebSocket codec (not in OBJS yet: nothing in the server uses it)
WS_SRCS = src/ws.c src/ws_handshake.c
test/unit/test_ws: test/unit/test_ws.c test/unit/unit.h $(WS_SRCS) src/ws.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_ws.c $(WS_SRCS)

# the streaming inflater of compressed request bodies
test/unit/test_inflate: test/unit/test_inflate.c test/unit/unit.h src/http_inflate.c src/http_inflate.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_inflate.c src/http_inflate.c -lz

.PHONY: unitcheck valgrindcheck check-all
unitcheck: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do ./$$t || exit 1; done

# the same under valgrind: no memory error, no leak
valgrindcheck: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do \
		valgrind -q --error-exitcode=1 --leak-check=full ./$$t >/dev/null || exit 1; \
	done

check-all: unitcheck structurecheck installcheck

# The structure: no dependency cycle among the object files of src/ (from
# nm: modules never call back into their callers) and no src/ file over
# 800 lines.
.PHONY: structurecheck
structurecheck: $(OBJS)
	@python3 scripts/modcycles.py --selftest
	@python3 scripts/modcycles.py $(OBJS) && echo "no dependency cycle among $(words $(OBJS)) object files"
	@long=$$(wc -l src/*.c src/*.h | awk '$$2 != "total" && $$1 > 800'); \
	if [ -n "$$long" ]; then echo "src/ files over 800 lines:"; echo "$$long"; exit 1; fi; \
	echo "no src/ file over 800 lines"

# libFuzzer target for the event parser and the user id decoder (clang).
FUZZ_SECONDS ?= 60
test/fuzz/fuzz_event: test/fuzz/fuzz_event.c $(EVENT_SRCS) $(EVENT_HDRS)
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc \
		-o $@ test/fuzz/fuzz_event.c $(EVENT_SRCS) -ljson-c

.PHONY: fuzz
fuzz: test/fuzz/fuzz_event
	mkdir -p test/fuzz/work
	test/fuzz/fuzz_event -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		test/fuzz/work test/fuzz/corpus

# libFuzzer target for the WebSocket frame decoder: split independence.
test/fuzz/fuzz_ws: test/fuzz/fuzz_ws.c $(WS_SRCS) src/ws.h
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc \
		-o $@ test/fuzz/fuzz_ws.c $(WS_SRCS)

.PHONY: fuzz-ws
fuzz-ws: test/fuzz/fuzz_ws
	mkdir -p test/fuzz/work_ws
	test/fuzz/fuzz_ws -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		test/fuzz/work_ws test/fuzz/corpus_ws

# libFuzzer target for the streaming inflater: split independence, limits.
test/fuzz/fuzz_inflate: test/fuzz/fuzz_inflate.c src/http_inflate.c src/http_inflate.h
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc \
		-o $@ test/fuzz/fuzz_inflate.c src/http_inflate.c -lz

.PHONY: fuzz-inflate
fuzz-inflate: test/fuzz/fuzz_inflate
	mkdir -p test/fuzz/work_inflate
	test/fuzz/fuzz_inflate -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		test/fuzz/work_inflate test/fuzz/corpus_inflate

# The benchmark (not a test): prints a table of figures.  BENCH_ARGS=--quick
# for a smoke run, --long for longer load steps.
.PHONY: bench
bench:
	bench/run.sh $(BENCH_ARGS)
