# client/client.mk: evproc-client, the command-line client (libcurl).
#
# Included by the top-level Makefile after $(PGXS), so the PGXS variables
# (bindir, INSTALL_PROGRAM, MKDIR_P) are defined and "all" stays the
# default goal.
#
#   make                     also builds client/evproc-client
#   make install             also installs it into $(DESTDIR)$(bindir)
#   make client-unitcheck    unit tests of the client's pure parts
#   make client-watchcheck   "watch" against a fake SSE server (Python)

CLIENT_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Isrc
CLIENT_LIBS = -lcurl -ljson-c -lm -lz
# a packager's flags (debian/rules: the hardening flags of dpkg-buildflags)
CLIENT_EXTRA_CFLAGS =
CLIENT_LDFLAGS =

# the parts without a network, covered by test/unit/test_client.c, and
# the rewrite that json-c 0.17 and later need (src/core/compat.h)
CLIENT_CORE_SRCS = \
	client/backoff.c \
	client/console.c \
	client/eventid.c \
	client/generate.c \
	client/gzip.c \
	client/jsonl.c \
	client/reply.c \
	client/sse.c \
	client/strbuf.c \
	client/summary.c \
	client/urlenc.c \
	src/core/json_compat.c

CLIENT_SRCS = $(CLIENT_CORE_SRCS) \
	client/evproc-client.c \
	client/revenue_cmd.c \
	client/send.c \
	client/transport.c \
	client/watch.c

# with the protocol's limits, shared with the server
CLIENT_HDRS = $(wildcard client/*.h) src/core/evlimits.h src/core/compat.h

client/evproc-client: $(CLIENT_SRCS) $(CLIENT_HDRS) client/client.mk
	$(CC) $(CLIENT_CFLAGS) $(CLIENT_EXTRA_CFLAGS) -o $@ $(CLIENT_SRCS) \
		$(CLIENT_LDFLAGS) $(CLIENT_LIBS)

test/unit/test_client: test/unit/test_client.c $(CLIENT_CORE_SRCS) $(CLIENT_HDRS) client/client.mk
	$(CC) $(CLIENT_CFLAGS) -Iclient -Itest/unit -o $@ test/unit/test_client.c \
		$(CLIENT_CORE_SRCS) $(CLIENT_LIBS)

test/unit/test_sse: test/unit/test_sse.c test/unit/unit.h client/sse.c client/sse.h client/strbuf.c client/strbuf.h client/client.mk
	$(CC) $(CLIENT_CFLAGS) -Iclient -Itest/unit -o $@ test/unit/test_sse.c \
		client/sse.c client/strbuf.c

all: client/evproc-client

.PHONY: install-client uninstall-client client-unitcheck client-watchcheck

install: install-client
install-client: client/evproc-client
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) client/evproc-client '$(DESTDIR)$(bindir)/evproc-client'

uninstall: uninstall-client
uninstall-client:
	rm -f '$(DESTDIR)$(bindir)/evproc-client'

client-unitcheck: test/unit/test_client test/unit/test_sse
	./test/unit/test_client
	./test/unit/test_sse

client-watchcheck: client/evproc-client
	bash test/client_watch.sh

EXTRA_CLEAN += client/evproc-client test/unit/test_client test/unit/test_sse
