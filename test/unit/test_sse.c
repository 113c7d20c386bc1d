/*-------------------------------------------------------------------------
 *
 * test_sse.c
 *	  Unit tests of the Server-Sent Events parser of evproc-client
 *	  (client/sse.c): line ends, fields, comments, ids, retry, dispatch,
 *	  the bound on memory, and that every way of splitting a stream into
 *	  chunks (each split point, byte by byte) gives the same events as
 *	  feeding it at once.
 *
 * No server needed: "make client-unitcheck" (also part of "make
 * unitcheck").
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "strbuf.h"
#include "unit.h"

/* what the callback saw: "<type>|<last id>|<data>\n" per event */
typedef struct Seen
{
	SseParser  *p;
	StrBuf		out;
	int			events;
	int			stop_after;		/* return false at this event (0: never) */
} Seen;

static bool
on_event(void *arg, const char *data, size_t len, const char *type)
{
	Seen	   *s = arg;

	s->events++;
	sb_append_str(&s->out, type);
	sb_append_char(&s->out, '|');
	sb_append_str(&s->out, sse_last_id(s->p));
	sb_append_char(&s->out, '|');
	sb_append(&s->out, data, len);
	sb_append_char(&s->out, '\n');
	return s->stop_after == 0 || s->events < s->stop_after;
}

/*
 * parse feeds in[0..len) to a new parser in chunks of at most step bytes
 * (0: at once) and appends what was seen to out, then "#<result>" of the
 * last feed, "#<last id>" and "#<retry>".
 */
static void
parse_chunks(const char *in, size_t len, size_t step, size_t max_line,
			 StrBuf *out)
{
	SseParser	p;
	Seen		s;
	SseResult	r = SSE_OK;

	sse_init(&p, max_line);
	memset(&s, 0, sizeof(s));
	s.p = &p;
	sb_init(&s.out);
	for (size_t off = 0; off < len && r == SSE_OK;)
	{
		size_t		n = (step == 0 || len - off < step) ? len - off : step;

		r = sse_feed(&p, in + off, n, on_event, &s);
		off += n;
	}
	sb_append(out, s.out.data, s.out.len);
	sb_printf(out, "#%d#%s#%lld", (int) r, sse_last_id(&p),
			  (long long) p.retry_ms);
	sb_free(&s.out);
	sse_free(&p);
}

/* parse_split feeds the stream in two chunks split at split */
static void
parse_split(const char *in, size_t len, size_t split, size_t max_line,
			StrBuf *out)
{
	SseParser	p;
	Seen		s;
	SseResult	r;

	sse_init(&p, max_line);
	memset(&s, 0, sizeof(s));
	s.p = &p;
	sb_init(&s.out);
	r = sse_feed(&p, in, split, on_event, &s);
	if (r == SSE_OK)
		r = sse_feed(&p, in + split, len - split, on_event, &s);
	sb_append(out, s.out.data, s.out.len);
	sb_printf(out, "#%d#%s#%lld", (int) r, sse_last_id(&p),
			  (long long) p.retry_ms);
	sb_free(&s.out);
	sse_free(&p);
}

/*
 * expect_stream checks that the stream in[0..len) gives want (see
 * parse_chunks), fed at once, byte by byte, in 3-byte chunks, and split in
 * two at every point.
 */
static void
expect_stream_n(const char *in, size_t len, const char *want,
				size_t max_line, const char *file, int line)
{
	StrBuf		got;
	char		desc[128];

	sb_init(&got);
	parse_chunks(in, len, 0, max_line, &got);
	snprintf(desc, sizeof(desc), "stream of line %d, at once", line);
	unit_check_mem(got.data, got.len, want, strlen(want), file, line,
				   __func__, desc);
	sb_reset(&got);
	parse_chunks(in, len, 1, max_line, &got);
	snprintf(desc, sizeof(desc), "stream of line %d, byte by byte", line);
	unit_check_mem(got.data, got.len, want, strlen(want), file, line,
				   __func__, desc);
	sb_reset(&got);
	parse_chunks(in, len, 3, max_line, &got);
	snprintf(desc, sizeof(desc), "stream of line %d, 3 bytes at a time", line);
	unit_check_mem(got.data, got.len, want, strlen(want), file, line,
				   __func__, desc);
	for (size_t split = 0; split <= len; split++)
	{
		sb_reset(&got);
		parse_split(in, len, split, max_line, &got);
		snprintf(desc, sizeof(desc), "stream of line %d, split at %zu",
				 line, split);
		if (!unit_check_mem(got.data, got.len, want, strlen(want), file,
							line, __func__, desc))
			break;
	}
	sb_free(&got);
}

#define EXPECT_STREAM(in, want) \
	expect_stream_n((in), sizeof(in) - 1, (want), 0, __FILE__, __LINE__)
#define EXPECT_STREAM_MAX(in, want, max) \
	expect_stream_n((in), sizeof(in) - 1, (want), (max), __FILE__, __LINE__)

static void
test_basic(void)
{
	/* what the evproc server sends */
	EXPECT_STREAM("id: 1234567\n"
				  "data: {\"userId\": \"u1\", \"revenue\": 70, \"seq\": 1234567}\n"
				  "\n",
				  "message|1234567|{\"userId\": \"u1\", \"revenue\": 70, \"seq\": 1234567}\n"
				  "#0#1234567#-1");
	/* nothing dispatched before the empty line */
	EXPECT_STREAM("id: 5\ndata: x\n", "#0##-1");
	EXPECT_STREAM("", "#0##-1");
	/* two events, and the ping comment between them */
	EXPECT_STREAM("id: 1\ndata: a\n\n: ping\n\nid: 2\ndata: b\n\n",
				  "message|1|a\nmessage|2|b\n#0#2#-1");
	/* several empty lines dispatch nothing more */
	EXPECT_STREAM("\n\n\ndata: a\n\n\n\n", "message||a\n#0##-1");
}

static void
test_line_ends(void)
{
	EXPECT_STREAM("id: 1\r\ndata: a\r\n\r\nid: 2\r\ndata: b\r\n\r\n",
				  "message|1|a\nmessage|2|b\n#0#2#-1");
	EXPECT_STREAM("id: 1\rdata: a\r\rid: 2\rdata: b\r\r",
				  "message|1|a\nmessage|2|b\n#0#2#-1");
	/* mixed; CR CR is two line ends, LF CR too */
	EXPECT_STREAM("data: a\r\n\rdata: b\n\r",
				  "message||a\nmessage||b\n#0##-1");
	/* CR LF LF: one line end, then an empty line */
	EXPECT_STREAM("data: a\r\n\ndata: b\r\r\n",
				  "message||a\nmessage||b\n#0##-1");
	/* a CR at the very end of a chunk is a line end already */
	EXPECT_STREAM("data: a\r\r", "message||a\n#0##-1");
}

static void
test_fields(void)
{
	/* with and without the space; only one space is removed */
	EXPECT_STREAM("data:a\n\ndata: b\n\ndata:  c\n\n",
				  "message||a\nmessage||b\nmessage|| c\n#0##-1");
	/* multi-line data joined with \n; an empty data line counts */
	EXPECT_STREAM("data: one\ndata:two\ndata\ndata: \n\n",
				  "message||one\ntwo\n\n\n#0##-1");
	/* "data" alone is one empty line: an event with empty data */
	EXPECT_STREAM("data\n\n", "message||\n#0##-1");
	EXPECT_STREAM("data\ndata\n\n", "message||\n\n#0##-1");
	/* no data line at all: nothing */
	EXPECT_STREAM("event: x\n\n", "#0##-1");
	/* a colon in the value stays */
	EXPECT_STREAM("data: {\"a\": \"b:c\"}\n\n",
				  "message||{\"a\": \"b:c\"}\n#0##-1");
	/* comments, also within an event; unknown fields ignored */
	EXPECT_STREAM(": hello\ndata: a\n:\n: ping\nfoo: bar\nDATA: no\ndata : no\n\n",
				  "message||a\n#0##-1");
	/* event type, reset after each dispatch */
	EXPECT_STREAM("event: update\ndata: a\n\ndata: b\n\n",
				  "update||a\nmessage||b\n#0##-1");
	/* a leading byte order mark is dropped, only at the start */
	EXPECT_STREAM("\xEF\xBB\xBF" "data: a\n\n\xEF\xBB\xBF" "data: b\n\n",
				  "message||a\n#0##-1");
	/* UTF-8 passes through unchanged, whatever the split */
	EXPECT_STREAM("data: {\"userId\": \"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"}\n\n",
				  "message||{\"userId\": \"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"}\n#0##-1");
}

static void
test_ids(void)
{
	/* the id is that of the last dispatched event */
	EXPECT_STREAM("id: 1\ndata: a\n\nid: 2\n", "message|1|a\n#0#1#-1");
	/* an event without id keeps the last one */
	EXPECT_STREAM("id: 1\ndata: a\n\ndata: b\n\n",
				  "message|1|a\nmessage|1|b\n#0#1#-1");
	/* an id without data still moves the last id */
	EXPECT_STREAM("id: 1\ndata: a\n\nid: 7\n\n", "message|1|a\n#0#7#-1");
	/* "id" or "id:" alone empties it */
	EXPECT_STREAM("id: 1\ndata: a\n\nid\ndata: b\n\n",
				  "message|1|a\nmessage||b\n#0##-1");
	/* the last id field of an event counts */
	EXPECT_STREAM("id: 1\nid: 2\ndata: a\n\n", "message|2|a\n#0#2#-1");
	/* an id with a NUL byte is ignored */
	EXPECT_STREAM("id: 1\ndata: a\n\nid: 3\0x\ndata: b\n\n",
				  "message|1|a\nmessage|1|b\n#0#1#-1");
	/* a NUL in data passes */
	{
		StrBuf		got;
		static const char in[] = "data: a\0b\n\n";

		sb_init(&got);
		parse_chunks(in, sizeof(in) - 1, 1, 0, &got);
		CHECK_MEM_EQ(got.data, got.len, "message||a\0b\n#0##-1",
					 sizeof("message||a\0b\n#0##-1") - 1);
		sb_free(&got);
	}
}

static void
test_retry(void)
{
	EXPECT_STREAM("retry: 2500\n\n", "#0##2500");
	EXPECT_STREAM("retry:0\n", "#0##0");
	/* not only digits: ignored */
	EXPECT_STREAM("retry: 25x\nretry: -1\nretry\nretry: \nretry: 1 \n", "#0##-1");
	EXPECT_STREAM("retry: 100\nretry: 1.5\n", "#0##100");
	/* huge values do not overflow */
	{
		StrBuf		got;
		static const char in[] = "retry: 99999999999999999999999999\n";

		sb_init(&got);
		parse_chunks(in, sizeof(in) - 1, 0, 0, &got);
		CHECK(got.len > 6 && strncmp(got.data, "#0##", 4) == 0 &&
			  got.data[4] != '-');
		sb_free(&got);
	}
}

static void
test_bounds(void)
{
	/* lines up to the bound pass; one byte more is an error */
	EXPECT_STREAM_MAX("data: 123456\n\n", "message||123456\n#0##-1", 12);
	EXPECT_STREAM_MAX("data: 1234567\n\n", "#1##-1", 12);
	/* also without any line end yet */
	EXPECT_STREAM_MAX("data: 1234567", "#1##-1", 12);
	/* the data of one event is bounded too, not only each line */
	EXPECT_STREAM_MAX("data: 12345\ndata: 12345\n\n",
					  "message||12345\n12345\n#0##-1", 12);
	EXPECT_STREAM_MAX("data: 123456\ndata: 123456\n\n", "#1##-1", 12);
	EXPECT_STREAM_MAX("data: 12345\n\ndata: 12345\n\n",
					  "message||12345\nmessage||12345\n#0##-1", 12);
	/* comments are bounded like every line */
	EXPECT_STREAM_MAX(": 1234567890123\n", "#1##-1", 12);
	/* with the default bound: a line of more than 1 MB fails */
	{
		size_t		n = SSE_DEFAULT_MAX_LINE + 2;
		char	   *big = malloc(n);
		SseParser	p;
		Seen		s;

		memset(big, 'x', n);
		memcpy(big, "data:", 5);
		sse_init(&p, 0);
		memset(&s, 0, sizeof(s));
		s.p = &p;
		sb_init(&s.out);
		CHECK_INT_EQ(sse_feed(&p, big, n / 2, on_event, &s), SSE_OK);
		CHECK_INT_EQ(sse_feed(&p, big + n / 2, n - n / 2, on_event, &s),
					 SSE_TOO_LONG);
		/* failed stays failed until reset */
		CHECK_INT_EQ(sse_feed(&p, "\n\n", 2, on_event, &s), SSE_TOO_LONG);
		CHECK_INT_EQ(s.events, 0);
		sse_reset(&p);
		CHECK_INT_EQ(sse_feed(&p, "data: ok\n\n", 10, on_event, &s), SSE_OK);
		CHECK_INT_EQ(s.events, 1);
		sb_free(&s.out);
		sse_free(&p);
		free(big);
	}
}

static void
test_reset_and_stop(void)
{
	SseParser	p;
	Seen		s;

	sse_init(&p, 0);
	memset(&s, 0, sizeof(s));
	s.p = &p;
	sb_init(&s.out);

	/* --since: where to resume before any event */
	sse_set_last_id(&p, "41");
	CHECK_STR_EQ(sse_last_id(&p), "41");
	/* an event without id after it keeps it */
	CHECK_INT_EQ(sse_feed(&p, "data: a\n\n", 9, on_event, &s), SSE_OK);
	CHECK_STR_EQ(sse_last_id(&p), "41");
	/* a connection that ends inside an event: nothing of it survives */
	CHECK_INT_EQ(sse_feed(&p, "id: 42\ndata: lost\nevent: x\ndata: par", 36,
						  on_event, &s), SSE_OK);
	sse_reset(&p);
	CHECK_STR_EQ(sse_last_id(&p), "41");
	CHECK_INT_EQ(sse_feed(&p, "data: b\n\n", 9, on_event, &s), SSE_OK);
	CHECK_STR_EQ(s.out.data, "message|41|a\nmessage|41|b\n");
	/* a CR at the end of the old stream does not eat the new LF... */
	CHECK_INT_EQ(sse_feed(&p, "data: c\r", 8, on_event, &s), SSE_OK);
	sse_reset(&p);
	/* ...and a BOM is dropped at the start of each stream */
	CHECK_INT_EQ(sse_feed(&p, "\n\xEF\xBB\xBF", 4, on_event, &s), SSE_OK);
	CHECK_INT_EQ(s.events, 2);
	sse_reset(&p);
	CHECK_INT_EQ(sse_feed(&p, "\xEF\xBB\xBF" "id: 50\ndata: d\n\n", 19,
						  on_event, &s), SSE_OK);
	CHECK_STR_EQ(sse_last_id(&p), "50");
	CHECK_INT_EQ(s.events, 3);

	/* the callback stops the parser */
	sb_reset(&s.out);
	s.events = 0;
	s.stop_after = 1;
	CHECK_INT_EQ(sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18, on_event, &s),
				 SSE_STOPPED);
	CHECK_INT_EQ(s.events, 1);
	sb_free(&s.out);
	sse_free(&p);
}

int
main(void)
{
	test_basic();
	test_line_ends();
	test_fields();
	test_ids();
	test_retry();
	test_bounds();
	test_reset_and_stop();
	return unit_summary();
}
