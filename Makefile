# evproc: a PGXS extension (PostgreSQL 15) with a background worker.
#
#   make && make install      build and install the extension
#   make unitcheck            unit tests of the backend-free code (no server)
#   make installcheck         pg_regress (temporary instance) and TAP tests;
#                             run as a non-root user (initdb refuses root)
#   make structurecheck       execution contexts, no upward arrow or cycle (nm),
#                             no src/ file > 800 lines, a README per folder;
#                             docs/settings.md's table matches settings.c's rows
#   make check-all            unitcheck + structurecheck + installcheck
#   make hacheck              failover with Patroni and HAProxy (scripts/hacheck.sh)
#
# Build with warnings as errors: make WERROR=1

EXTENSION = evproc
MODULE_big = evproc
OBJS = \
	src/evproc.o \
	src/shared/settings.o \
	src/worker.o \
	src/shared/workers.o \
	src/shared/changes.o \
	src/shared/types.o \
	src/http/http.o \
	src/http/http_request.o \
	src/http/http_conn.o \
	src/http/http_client.o \
	src/http/http_slots.o \
	src/http/http_stream.o \
	src/http/http_events.o \
	src/http/http_lookup.o \
	src/http/http_top.o \
	src/http/http_cors.o \
	src/http/tls_probe.o \
	src/http/tls_reply.o \
	src/http/http_ratelimit.o \
	src/http/http_ready.o \
	src/core/ratelimit.o \
	src/http/dashboard.o \
	src/core/http_inflate.o \
	src/http/stream.o \
	src/http/stream_ws.o \
	src/core/stream_index.o \
	src/core/ws.o \
	src/core/ws_handshake.o \
	src/shared/feed.o \
	src/shared/role.o \
	src/ingest/replica_feed.o \
	src/shared/auth.o \
	src/shared/tokens.o \
	src/core/token_table.o \
	src/shared/tls.o \
	src/ingest/intake.o \
	src/ingest/intake_sink.o \
	src/shared/pressure.o \
	src/core/prom.o \
	src/shared/status.o \
	src/shared/port_claim.o \
	src/ingest/lookup.o \
	src/ingest/ingest.o \
	src/ingest/fingerprint.o \
	src/ingest/ingest_moves.o \
	src/ingest/segments.o \
	src/ingest/fold.o \
	src/ingest/fold_sums.o \
	src/ingest/fold_top.o \
	src/ingest/fold_upkeep.o \
	src/shared/db.o \
	src/shared/syncrep.o \
	src/sql_api.o \
	src/core/event.o \
	src/core/event_fast.o \
	src/core/event_type.o \
	src/core/decimal.o \
	src/core/validate.o \
	src/core/format.o \
	src/core/json_compat.o \
	src/core/idcache.o \
	src/core/stepsort.o \
	src/core/hash128.o \
	src/journal/journal.o \
	src/journal/journal_archive.o \
	src/journal/journal_fs.o \
	src/journal/journal_sync.o \
	src/journal/journal_copies.o \
	src/journal/line.o \
	src/journal/safe_open.o
# One install script, evproc--1.0.sql, and the update chain: CREATE
# EXTENSION at 1.7 runs evproc--1.0.sql, then each update script in turn,
# the same scripts ALTER EXTENSION UPDATE runs (the paths cannot drift)
DATA = evproc--1.0.sql \
	evproc--1.0--1.1.sql evproc--1.1--1.2.sql evproc--1.2--1.3.sql evproc--1.3--1.4.sql \
	evproc--1.4--1.5.sql \
	evproc--1.5--1.6.sql evproc--1.6--1.7.sql evproc--1.7--1.8.sql
PGFILEDESC = "evproc - revenue events over HTTP, ingested exactly once"

SHLIB_LINK = -lmicrohttpd -lgnutls -ljson-c -lz

# pg_regress: SQL in test/sql, expected output in expected/ (test/expected
# is a link to it), against a temporary instance with evproc preloaded.
# The worker connects to the "postgres" database, so the tests use it.
REGRESS = api database http ingest badinput batch types monitor tokens upgrade
REGRESS_OPTS = --inputdir=test --temp-instance=tmp_regress \
	--temp-config=test/regress.conf --temp-config=tmp_regress_port.conf \
	--use-existing

# The worker of pg_regress's instance listens on a free port, not a fixed
# one (two runs on one machine would share it); the tests reach it at $EV.
ifneq ($(filter installcheck check-all,$(MAKECMDGOALS)),)
REGRESS_HTTP_PORT := $(shell python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
installcheck: export EV = http://127.0.0.1:$(REGRESS_HTTP_PORT)
endif
REGRESS_PREP = tmp_regress_port.conf
# the rule below comes before PGXS's: without this, "make" would build only
# tmp_regress_port.conf (and "make install" the module, without WERROR)
.DEFAULT_GOAL := all
.PHONY: tmp_regress_port.conf
tmp_regress_port.conf:
	@echo "evproc.port = $(REGRESS_HTTP_PORT)" > $@

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# The expected outputs assume UTF-8 whatever the caller's locale (a fresh
# machine may have none): psql's column widths, and the encoding initdb
# gives the temporary instances of pg_regress and the TAP tests.  Both
# harnesses drop LC_ALL, so LANG and the categories that matter are set.
installcheck: export LANG = C.UTF-8
installcheck: export LC_CTYPE = C.UTF-8
installcheck: export LC_COLLATE = C.UTF-8

EXTRA_CLEAN = tmp_regress tmp_regress_port.conf src/http/dashboard_html.h test/unit/test_event test/unit/test_validate \
	test/unit/test_journal \
	test/unit/test_idcache test/unit/test_ws test/unit/test_inflate \
	test/unit/test_ratelimit test/unit/test_tokens test/unit/test_stream_index \
	test/unit/test_prom test/unit/test_stepsort test/unit/test_hash128 \
	test/fuzz/fuzz_event test/fuzz/fuzz_ws test/fuzz/work test/fuzz/work_ws \
	test/fuzz/fuzz_inflate test/fuzz/work_inflate $(BENCH_TOOLS)

# the sources include their headers as "folder/x.h", from src/
PG_CPPFLAGS = -Isrc
# the extension's version (evproc.control), for evproc_build_info
PG_CPPFLAGS += -DEVPROC_VERSION='"$(shell sed -n "s/^default_version = '\(.*\)'/\1/p" evproc.control)"'
# only worker.c uses it: rebuilt when the version changes
src/worker.o src/worker.bc: evproc.control

ifdef WERROR
PG_CFLAGS += -Werror
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The full install scripts of 1.1 to 1.3, which earlier releases installed:
# a copy left behind would be run instead of the chain (CREATE EXTENSION
# takes the shortest path), so install and uninstall remove them.
OLD_SCRIPTS = evproc--1.1.sql evproc--1.2.sql evproc--1.3.sql
.PHONY: remove-old-scripts
install uninstall: remove-old-scripts
remove-old-scripts:
	rm -f $(addprefix '$(DESTDIR)$(datadir)/extension/',$(OLD_SCRIPTS))

# every object is rebuilt when a header of src/ changes (PGXS tracks no
# header dependencies unless PostgreSQL was configured with them); the
# generated page is a dependency of dashboard.o alone
$(OBJS): $(filter-out src/http/dashboard_html.h,$(wildcard src/*.h src/*/*.h))

CONTRIB_TESTDB = postgres

# GET /dashboard's page, a C string made from src/http/dashboard.html
src/http/dashboard_html.h: src/http/dashboard.html scripts/html2c.sh
	sh scripts/html2c.sh src/http/dashboard.html > $@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }
src/http/dashboard.o: src/http/dashboard_html.h

# evproc-client, the command-line client
include client/client.mk

# Unit tests of the backend-free modules: plain C, no server.
UNIT_CFLAGS = -std=gnu11 -O1 -g -Wall -Wextra -Werror -Isrc
UNIT_TESTS = test/unit/test_event test/unit/test_validate test/unit/test_journal \
	test/unit/test_idcache test/unit/test_client test/unit/test_sse \
	test/unit/test_ws test/unit/test_inflate test/unit/test_ratelimit \
	test/unit/test_tokens test/unit/test_stream_index test/unit/test_prom \
	test/unit/test_stepsort test/unit/test_hash128

# the event modules, all backend-free, and their headers
EVENT_SRCS = src/core/event.c src/core/event_fast.c src/core/event_type.c \
	src/core/decimal.c src/core/validate.c src/core/format.c src/core/json_compat.c
EVENT_HDRS = src/core/event.h src/core/event_int.h src/core/decimal.h \
	src/core/validate.h src/core/evlimits.h src/core/compat.h

# a journal line, written and read, with the event modules it is made of
LINE_SRCS = src/journal/line.c $(EVENT_SRCS)
LINE_HDRS = src/journal/line.h $(EVENT_HDRS)

test/unit/test_event: test/unit/test_event.c test/unit/unit.h $(LINE_SRCS) $(LINE_HDRS)
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_event.c $(LINE_SRCS) -ljson-c

test/unit/test_validate: test/unit/test_validate.c test/unit/unit.h src/core/validate.c src/core/validate.h src/core/evlimits.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_validate.c src/core/validate.c

JOURNAL_SRCS = src/journal/journal.c src/journal/journal_sync.c src/journal/journal_archive.c \
	src/journal/journal_fs.c src/journal/journal_copies.c src/journal/safe_open.c
test/unit/test_journal: test/unit/test_journal.c test/unit/unit.h $(JOURNAL_SRCS) \
		src/journal/journal.h src/journal/journal_fs.h src/journal/safe_open.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_journal.c $(JOURNAL_SRCS)

test/unit/test_idcache: test/unit/test_idcache.c test/unit/unit.h src/core/idcache.c src/core/idcache.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_idcache.c src/core/idcache.c

test/unit/test_ratelimit: test/unit/test_ratelimit.c test/unit/unit.h src/core/ratelimit.c src/core/ratelimit.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_ratelimit.c src/core/ratelimit.c -lm

test/unit/test_tokens: test/unit/test_tokens.c test/unit/unit.h src/core/token_table.c src/core/token_table.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_tokens.c src/core/token_table.c -lgnutls

test/unit/test_stepsort: test/unit/test_stepsort.c test/unit/unit.h src/core/stepsort.c src/core/stepsort.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_stepsort.c src/core/stepsort.c

test/unit/test_hash128: test/unit/test_hash128.c test/unit/unit.h src/core/hash128.c src/core/hash128.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_hash128.c src/core/hash128.c

test/unit/test_stream_index: test/unit/test_stream_index.c test/unit/unit.h src/core/stream_index.c src/core/stream_index.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_stream_index.c src/core/stream_index.c

# the Prometheus series; the text is compared with test/unit/prom_*.expected
test/unit/test_prom: test/unit/test_prom.c test/unit/unit.h src/core/prom.c src/core/prom.h \
		test/unit/prom_one.expected test/unit/prom_two.expected
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_prom.c src/core/prom.c

# the WebSocket codec (frames and the handshake), used by stream_ws.c
WS_SRCS = src/core/ws.c src/core/ws_handshake.c
test/unit/test_ws: test/unit/test_ws.c test/unit/unit.h $(WS_SRCS) src/core/ws.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_ws.c $(WS_SRCS)

# the streaming inflater of compressed request bodies
test/unit/test_inflate: test/unit/test_inflate.c test/unit/unit.h src/core/http_inflate.c src/core/http_inflate.h
	$(CC) $(UNIT_CFLAGS) -o $@ test/unit/test_inflate.c src/core/http_inflate.c -lz

.PHONY: unitcheck valgrindcheck check-all
unitcheck: $(UNIT_TESTS) $(BENCH_TOOLS)
	@for t in $(UNIT_TESTS); do ./$$t || exit 1; done

# the same under valgrind: no memory error, no leak
valgrindcheck: $(UNIT_TESTS)
	@for t in $(UNIT_TESTS); do \
		valgrind -q --error-exitcode=1 --leak-check=full ./$$t >/dev/null || exit 1; \
	done

check-all: unitcheck structurecheck installcheck

# The structure (scripts/modcycles.py, from nm): the folders' execution
# contexts (backend-free journal/ and core/, http/ without palloc, SPI,
# transactions or locks), no arrow upward, no cycle, no src/ file over 800
# lines, a README.md per folder.  Its self-test runs first.  Then
# scripts/settings_table.py (after its self-test): docs/settings.md's table
# names the rows of src/shared/settings.c, with their defaults and contexts.
.PHONY: structurecheck
structurecheck: $(OBJS)
	@python3 scripts/modcycles.py --selftest
	@python3 scripts/modcycles.py --postgres "$$($(PG_CONFIG) --bindir)/postgres" $(OBJS)
	@python3 scripts/settings_table.py --selftest
	@python3 scripts/settings_table.py src/shared/settings.c docs/settings.md

# Every console example of the README and the docs, run in order against a
# throwaway cluster of its own (scripts/setup.sh reset, free ports); needs
# evproc installed.  See scripts/doccheck.py.
.PHONY: doccheck
doccheck:
	@python3 scripts/doccheck.py --self-test
	@PATH="$$($(PG_CONFIG) --bindir):$$PATH" python3 scripts/doccheck.py

# Failover as users run it (scripts/hacheck.sh): etcd, two Patroni nodes
# with evproc, HAProxy, evproc-client posting through a kill of the primary's
# machine (HACHECK_RUNS times, default 5) and a switchover; needs evproc
# installed into $(PG_CONFIG)'s PostgreSQL, Debian's patroni, etcd-server
# and haproxy.  See docs/high-availability.md.
.PHONY: hacheck
hacheck:
	PG_CONFIG="$(PG_CONFIG)" scripts/hacheck.sh

# libFuzzer target for the event parser and the user id decoder (clang).
FUZZ_SECONDS ?= 60
test/fuzz/fuzz_event: test/fuzz/fuzz_event.c $(LINE_SRCS) $(LINE_HDRS)
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc \
		-o $@ test/fuzz/fuzz_event.c $(LINE_SRCS) -ljson-c

.PHONY: fuzz
fuzz: test/fuzz/fuzz_event
	mkdir -p test/fuzz/work
	test/fuzz/fuzz_event -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		test/fuzz/work test/fuzz/corpus

# libFuzzer target for the WebSocket frame decoder: split independence.
test/fuzz/fuzz_ws: test/fuzz/fuzz_ws.c $(WS_SRCS) src/core/ws.h
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc \
		-o $@ test/fuzz/fuzz_ws.c $(WS_SRCS)

.PHONY: fuzz-ws
fuzz-ws: test/fuzz/fuzz_ws
	mkdir -p test/fuzz/work_ws
	test/fuzz/fuzz_ws -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		test/fuzz/work_ws test/fuzz/corpus_ws

# libFuzzer target for the streaming inflater: split independence, limits.
test/fuzz/fuzz_inflate: test/fuzz/fuzz_inflate.c src/core/http_inflate.c src/core/http_inflate.h
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Isrc \
		-o $@ test/fuzz/fuzz_inflate.c src/core/http_inflate.c -lz

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

# The bench's own programs (see bench/README.md).  unitcheck builds them,
# so that a change the bench depends on cannot leave it broken unseen.
BENCH_TOOLS = bench/fold_ceiling bench/ref_server bench/gen_events bench/subscribers
BENCH_CFLAGS = -std=gnu11 -O2 -Wall -Werror

# the fold ceiling: ingest's line reader and summing, no database
bench/fold_ceiling: bench/fold_ceiling.c $(LINE_SRCS) $(LINE_HDRS)
	$(CC) $(BENCH_CFLAGS) -Wextra -Isrc -o $@ bench/fold_ceiling.c $(LINE_SRCS) -ljson-c

bench/ref_server: bench/ref_server.c
	$(CC) $(BENCH_CFLAGS) -o $@ bench/ref_server.c -lmicrohttpd

bench/gen_events bench/subscribers: %: %.c
	$(CC) $(BENCH_CFLAGS) -o $@ $<
