/*-------------------------------------------------------------------------
 *
 * test_client.c
 *	  Unit tests of the pure parts of evproc-client (client/): JSONL line
 *	  reading and event preparation (jsonl.c), eventId UUIDs (eventid.c),
 *	  back-off with jitter and the retry decision (backoff.c), summary
 *	  counting (summary.c), URL encoding (urlenc.c), server replies
 *	  (reply.c, the metrics of GET /userEvents too) and generated events, of several types too (generate.c),
 *	  gzip-compressed request bodies (gzip.c).
 *
 * No server needed: build and run with "make client-unitcheck".  The last
 * line of output is "N passed, N failed"; the exit status is non-zero if
 * a check failed.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <zlib.h>

#include "backoff.h"
#include "eventid.h"
#include "generate.h"
#include "gzip.h"
#include "jsonl.h"
#include "prng.h"
#include "reply.h"
#include "strbuf.h"
#include "summary.h"
#include "unit.h"
#include "urlenc.h"

#define FIXED_ID	"00000000-0000-4000-8000-000000000000"

/* ---- helpers ---- */

static bool
fixed_id(char out[EVENTID_BUFSZ], void *arg)
{
	(void) arg;
	memcpy(out, FIXED_ID, EVENTID_BUFSZ);
	return true;
}

static bool
failing_id(char out[EVENTID_BUFSZ], void *arg)
{
	(void) arg;
	out[0] = '\0';
	return false;
}

static bool
random_id(char out[EVENTID_BUFSZ], void *arg)
{
	(void) arg;
	return uuid_v4_new(out);
}

/*
 * collect reads every line of lr into out, as "<lineno>:<line>|" for a
 * line and "<lineno>:LONG|" for an overlong one, until EOF or NEED_MORE.
 * Returns the last result.
 */
static LrResult
collect(LineReader *lr, StrBuf *out)
{
	for (;;)
	{
		const char *line;
		size_t		len;
		LrResult	r = lr_next(lr, &line, &len);

		if (r == LR_LINE)
		{
			sb_printf(out, "%ld:", lr->lineno);
			sb_append(out, line, len);
			sb_append_char(out, '|');
		}
		else if (r == LR_TOO_LONG)
			sb_printf(out, "%ld:LONG|", lr->lineno);
		else
			return r;
	}
}

/* lines_of splits input pushed in chunks of chunk bytes, then EOF */
static void
lines_of(const char *input, size_t len, size_t chunk, size_t max_line,
		 StrBuf *out)
{
	LineReader	lr;

	lr_init(&lr, max_line);
	sb_reset(out);
	for (size_t pos = 0; pos < len; pos += chunk)
	{
		size_t		n = len - pos < chunk ? len - pos : chunk;

		lr_push(&lr, input + pos, n);
		CHECK(collect(&lr, out) == LR_NEED_MORE);
	}
	lr_set_eof(&lr);
	CHECK(collect(&lr, out) == LR_EOF);
	lr_free(&lr);
}

/* ---- LineReader ---- */

static void
test_line_reader(void)
{
	static const char input[] = "a\nb\r\n\n  \nlast";
	StrBuf		out;

	sb_init(&out);

	/* whole input at once, then byte by byte, then in odd chunks */
	for (size_t chunk = 1; chunk <= sizeof(input); chunk += 3)
	{
		lines_of(input, sizeof(input) - 1, chunk, 100, &out);
		CHECK_STR_EQ(out.data, "1:a|2:b|3:|4:  |5:last|");
	}

	/* a final newline makes no extra line; CR only before LF is dropped */
	lines_of("x\ny\n", 4, 4, 100, &out);
	CHECK_STR_EQ(out.data, "1:x|2:y|");
	lines_of("x\r", 2, 2, 100, &out);
	CHECK_STR_EQ(out.data, "1:x|");
	lines_of("\r\r\n", 3, 1, 100, &out);
	CHECK_STR_EQ(out.data, "1:\r|");
	lines_of("a\rb\n", 4, 4, 100, &out);
	CHECK_STR_EQ(out.data, "1:a\rb|");
	lines_of("", 0, 1, 100, &out);
	CHECK_STR_EQ(out.data, "");
	lines_of("\n", 1, 1, 100, &out);
	CHECK_STR_EQ(out.data, "1:|");

	/* overlong lines are dropped, whether they arrive at once or not */
	lines_of("123456789\nok\n12345678\n", 22, 22, 8, &out);
	CHECK_STR_EQ(out.data, "1:LONG|2:ok|3:12345678|");
	lines_of("123456789012345678901234\nok\n", 28, 5, 8, &out);
	CHECK_STR_EQ(out.data, "1:LONG|2:ok|");
	lines_of("ok\n123456789012345678901234", 27, 5, 8, &out);
	CHECK_STR_EQ(out.data, "1:ok|2:LONG|");
	lines_of("ok\n123456789012345678901234", 27, 1, 8, &out);
	CHECK_STR_EQ(out.data, "1:ok|2:LONG|");

	/* a partial line waits for more input */
	{
		LineReader	lr;
		const char *line;
		size_t		len;

		lr_init(&lr, 100);
		lr_push(&lr, "{\"a\":", 5);
		CHECK(lr_next(&lr, &line, &len) == LR_NEED_MORE);
		CHECK(lr_next(&lr, &line, &len) == LR_NEED_MORE);
		lr_push(&lr, "1}\n", 3);
		CHECK(lr_next(&lr, &line, &len) == LR_LINE);
		CHECK_MEM_EQ(line, len, "{\"a\":1}", 7);
		CHECK_INT_EQ(lr.lineno, 1);
		CHECK(lr_next(&lr, &line, &len) == LR_NEED_MORE);
		lr_set_eof(&lr);
		CHECK(lr_next(&lr, &line, &len) == LR_EOF);
		CHECK(lr_next(&lr, &line, &len) == LR_EOF);
		lr_free(&lr);
	}

	/* many lines through a pipe, with one read(2) at a time */
	{
		int			fds[2];
		LineReader	lr;
		StrBuf		want;
		int			nread = 0;

		sb_init(&want);
		CHECK(pipe(fds) == 0);
		for (int i = 1; i <= 500; i++)
		{
			char		line[32];
			int			n = snprintf(line, sizeof(line), "line %d\n", i);

			CHECK(write(fds[1], line, (size_t) n) == n);
			sb_printf(&want, "%d:line %d|", i, i);
		}
		close(fds[1]);
		lr_init(&lr, 100);
		sb_reset(&out);
		for (;;)
		{
			LrResult	r = collect(&lr, &out);
			ssize_t		n;

			if (r == LR_EOF)
				break;
			n = lr_read_fd(&lr, fds[0]);
			CHECK(n >= 0);
			if (n < 0)
				break;
			nread++;
		}
		close(fds[0]);
		CHECK_STR_EQ(out.data, want.data);
		CHECK(nread >= 2);		/* data, then EOF */
		CHECK(lr.eof);
		lr_free(&lr);
		sb_free(&want);
	}
	sb_free(&out);
}

/* ---- event preparation ---- */

/* prep runs jsonl_prepare on a C string with the fixed id */
static PrepResult
prep(json_tokener *tok, const char *line, StrBuf *out, bool *added,
	 char *reason)
{
	return jsonl_prepare(tok, line, strlen(line), fixed_id, NULL, out, added,
						 reason, 256);
}

/* is_json_object: does s parse (strictly) as a JSON object? */
static bool
is_json_object(const char *s, size_t len, const char *want_id)
{
	json_tokener *tok = jsonl_tokener_new();
	json_object *obj = json_tokener_parse_ex(tok, s, (int) len);
	json_object *id;
	bool		ok;

	ok = obj != NULL && json_object_is_type(obj, json_type_object) &&
		json_tokener_get_parse_end(tok) == len;
	if (ok && want_id != NULL)
		ok = json_object_object_get_ex(obj, "eventId", &id) &&
			strcmp(json_object_get_string(id), want_id) == 0;
	json_object_put(obj);
	json_tokener_free(tok);
	return ok;
}

static void
test_prepare(void)
{
	json_tokener *tok = jsonl_tokener_new();
	StrBuf		out;
	bool		added;
	char		reason[256];
	char		longid[200];

	sb_init(&out);

	/* an id is inserted after the brace; the rest is kept byte for byte */
	CHECK(prep(tok, "{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1.50}",
			   &out, &added, reason) == PREP_OK);
	CHECK(added);
	CHECK_STR_EQ(out.data, "{\"eventId\":\"" FIXED_ID "\",\"userId\":\"u\","
				 "\"name\":\"add_revenue\",\"value\":1.50}");
	CHECK(is_json_object(out.data, out.len, FIXED_ID));

	/* numbers json-c cannot hold are not touched */
	CHECK(prep(tok, "{\"value\": 123456789012345678901234, \"x\": 1e400}",
			   &out, &added, reason) == PREP_OK);
	CHECK(strstr(out.data, "123456789012345678901234") != NULL);
	CHECK(strstr(out.data, "1e400") != NULL);

	/*
	 * non-ASCII text and integers beyond 64 bits, whatever the json-c
	 * (0.17 and 0.18 refuse them unless rewritten: src/core/compat.h); an
	 * error's offset is the line's
	 */
	CHECK(prep(tok, "{\"userId\":\"Zo\xc3\xab \xf0\x9f\x98\x80\",\"value\":-99999999999999999999999,"
			   "\"x\":18446744073709551616}", &out, &added, reason) == PREP_OK);
	CHECK(strstr(out.data, "\"userId\":\"Zo\xc3\xab \xf0\x9f\x98\x80\",\"value\":-99999999999999999999999,"
				 "\"x\":18446744073709551616}") != NULL);
	CHECK(prep(tok, "{\"userId\":\"\xc3\xab\xc3\xab\",\"x\":99999999999999999999999,}",
			   &out, &added, reason) == PREP_BAD);
	CHECK_STR_EQ(reason, "invalid JSON: unexpected character at offset 45");

	/* empty objects, and blanks around */
	CHECK(prep(tok, "{}", &out, &added, reason) == PREP_OK);
	CHECK_STR_EQ(out.data, "{\"eventId\":\"" FIXED_ID "\"}");
	CHECK(is_json_object(out.data, out.len, FIXED_ID));
	CHECK(prep(tok, " \t{ } ", &out, &added, reason) == PREP_OK);
	CHECK_STR_EQ(out.data, " \t{\"eventId\":\"" FIXED_ID "\" } ");
	CHECK(is_json_object(out.data, out.len, FIXED_ID));
	CHECK(prep(tok, "  { \"a\" : {\"b\": [1, {}]} }", &out, &added, reason) == PREP_OK);
	CHECK(is_json_object(out.data, out.len, FIXED_ID));

	/* an eventId of the event's own is kept, the line is unchanged */
	CHECK(prep(tok, "{\"eventId\":\"abc\",\"v\":1}", &out, &added, reason) == PREP_OK);
	CHECK(!added);
	CHECK_STR_EQ(out.data, "{\"eventId\":\"abc\",\"v\":1}");
	CHECK(prep(tok, "{\"v\":1,\"\\u0065ventId\":\"e\"}", &out, &added, reason) == PREP_OK);
	CHECK(!added);

	/* ... if it is usable */
	memset(longid, 'x', sizeof(longid));
	for (int idlen = 127; idlen <= 129; idlen++)
	{
		char		line[300];

		snprintf(line, sizeof(line), "{\"eventId\":\"%.*s\"}", idlen, longid);
		CHECK_INT_EQ(prep(tok, line, &out, &added, reason),
					 idlen <= EV_EVENT_ID_MAX ? PREP_OK : PREP_BAD);
	}
	CHECK(prep(tok, "{\"eventId\":\"\"}", &out, &added, reason) == PREP_BAD);
	CHECK_STR_EQ(reason, "eventId must be a string of 1 to 128 bytes");
	CHECK(prep(tok, "{\"eventId\":5}", &out, &added, reason) == PREP_BAD);
	CHECK(prep(tok, "{\"eventId\":null}", &out, &added, reason) == PREP_BAD);
	CHECK(prep(tok, "{\"eventId\":[\"a\"]}", &out, &added, reason) == PREP_BAD);

	/* blank lines are skipped */
	CHECK(prep(tok, "", &out, &added, reason) == PREP_BLANK);
	CHECK(prep(tok, " \t \r", &out, &added, reason) == PREP_BLANK);

	/* anything but one JSON object is rejected, with a reason */
	CHECK(prep(tok, "not json", &out, &added, reason) == PREP_BAD);
	CHECK_STR_EQ(reason, "event must be a JSON object");
	CHECK(prep(tok, "[{\"a\":1}]", &out, &added, reason) == PREP_BAD);
	CHECK_STR_EQ(reason, "event must be a JSON object");
	CHECK(prep(tok, "42", &out, &added, reason) == PREP_BAD);
	CHECK(prep(tok, "null", &out, &added, reason) == PREP_BAD);
	CHECK(prep(tok, "{\"a\":", &out, &added, reason) == PREP_BAD);
	CHECK_STR_EQ(reason, "invalid JSON: unexpected end of line");
	CHECK(prep(tok, "{\"a\":1} x", &out, &added, reason) == PREP_BAD);
	CHECK(strncmp(reason, "invalid JSON: ", 14) == 0);
	CHECK(strstr(reason, "at offset 8") != NULL);
	CHECK(prep(tok, "{\"a\":1}{\"b\":2}", &out, &added, reason) == PREP_BAD);
	CHECK(prep(tok, "{\"a\":1,}", &out, &added, reason) == PREP_BAD);
	CHECK(strncmp(reason, "invalid JSON: ", 14) == 0);
	CHECK(prep(tok, "{/* c */\"a\":1}", &out, &added, reason) == PREP_BAD);
	CHECK(prep(tok, "{\"a\":\"\xff\"}", &out, &added, reason) == PREP_BAD);
	CHECK(jsonl_prepare(tok, "{\"a\":\"\0\"}", 9, fixed_id, NULL, &out, &added,
						reason, sizeof(reason)) == PREP_BAD);
	CHECK_STR_EQ(reason, "line contains a NUL byte");
	/* the tokener is reset between lines: a good line after bad ones */
	CHECK(prep(tok, "{\"a\":2}", &out, &added, reason) == PREP_OK);
	CHECK(is_json_object(out.data, out.len, FIXED_ID));

	/* a failing id source is reported as such */
	CHECK(jsonl_prepare(tok, "{}", 2, failing_id, NULL, &out, &added,
						reason, sizeof(reason)) == PREP_NO_ID);
	CHECK(strncmp(reason, "cannot make an eventId", 22) == 0);

	/* random ids: each event gets a fresh one */
	{
		char		first[EVENTID_BUFSZ] = "";
		json_object *obj;
		json_object *id;

		for (int i = 0; i < 2; i++)
		{
			CHECK(jsonl_prepare(tok, "{\"v\":1}", 7, random_id, NULL, &out,
								&added, reason, sizeof(reason)) == PREP_OK);
			obj = json_tokener_parse(out.data);
			CHECK(obj != NULL && json_object_object_get_ex(obj, "eventId", &id));
			if (obj == NULL)
				continue;
			CHECK(uuid_v4_valid(json_object_get_string(id),
								(size_t) json_object_get_string_len(id)));
			if (i == 0)
				snprintf(first, sizeof(first), "%s", json_object_get_string(id));
			else
				CHECK(strcmp(first, json_object_get_string(id)) != 0);
			json_object_put(obj);
		}
	}

	sb_free(&out);
	json_tokener_free(tok);
}

/* ---- UUIDs ---- */

static int
compare_str(const void *a, const void *b)
{
	return strcmp((const char *) a, (const char *) b);
}

static void
test_uuid(void)
{
	unsigned char raw[16];
	char		id[EVENTID_BUFSZ];
	static char ids[2000][EVENTID_BUFSZ];
	int			dups = 0;
	int			bad = 0;

	memset(raw, 0, sizeof(raw));
	uuid_v4_format(raw, id);
	CHECK_STR_EQ(id, "00000000-0000-4000-8000-000000000000");
	memset(raw, 0xff, sizeof(raw));
	uuid_v4_format(raw, id);
	CHECK_STR_EQ(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
	for (int i = 0; i < 16; i++)
		raw[i] = (unsigned char) (i * 17);
	uuid_v4_format(raw, id);
	CHECK_STR_EQ(id, "00112233-4455-4677-8899-aabbccddeeff");
	CHECK(uuid_v4_valid(id, strlen(id)));

	/* new ids: well formed and distinct (beyond one random pool) */
	for (int i = 0; i < 2000; i++)
	{
		CHECK(uuid_v4_new(ids[i]));
		if (!uuid_v4_valid(ids[i], strlen(ids[i])))
			bad++;
	}
	CHECK_INT_EQ(bad, 0);
	qsort(ids, 2000, EVENTID_BUFSZ, compare_str);
	for (int i = 1; i < 2000; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			dups++;
	CHECK_INT_EQ(dups, 0);

	/* what is not a v4 UUID */
	CHECK(!uuid_v4_valid("00000000-0000-3000-8000-000000000000", 36));	/* v3 */
	CHECK(!uuid_v4_valid("00000000-0000-4000-c000-000000000000", 36));	/* variant */
	CHECK(!uuid_v4_valid("00000000-0000-4000-8000-00000000000A", 36));	/* upper */
	CHECK(!uuid_v4_valid("00000000-0000-4000-8000-0000000000000", 37));
	CHECK(!uuid_v4_valid("00000000+0000-4000-8000-000000000000", 36));
	CHECK(!uuid_v4_valid("", 0));

	/* random_bytes fills its buffer */
	{
		unsigned char buf[64];
		int			nonzero = 0;

		memset(buf, 0, sizeof(buf));
		CHECK(random_bytes(buf, sizeof(buf)));
		for (size_t i = 0; i < sizeof(buf); i++)
			nonzero += buf[i] != 0;
		CHECK(nonzero > 32);
	}
}

/* ---- back-off and retry decision ---- */

static void
test_backoff(void)
{
	uint64_t	state = 12345;
	int			out_of_bounds = 0;
	double		sum = 0;
	int64_t		max_seen = 0;

	/* attempt 0: uniform in [0, 100] */
	CHECK_INT_EQ(backoff_delay_ms(0, 100, 10000, 0), 0);
	CHECK_INT_EQ(backoff_delay_ms(0, 100, 10000, 100), 100);
	CHECK_INT_EQ(backoff_delay_ms(0, 100, 10000, 101), 0);
	CHECK_INT_EQ(backoff_delay_ms(0, 100, 10000, UINT64_MAX), (int64_t) (UINT64_MAX % 101));
	/* doubling: 200, 400, ..., 6400, then the cap */
	CHECK_INT_EQ(backoff_delay_ms(1, 100, 10000, 200), 200);
	CHECK_INT_EQ(backoff_delay_ms(1, 100, 10000, 201), 0);
	CHECK_INT_EQ(backoff_delay_ms(6, 100, 10000, 6400), 6400);
	CHECK_INT_EQ(backoff_delay_ms(6, 100, 10000, 6401), 0);
	CHECK_INT_EQ(backoff_delay_ms(7, 100, 10000, 10000), 10000);
	CHECK_INT_EQ(backoff_delay_ms(7, 100, 10000, 10001), 0);
	CHECK_INT_EQ(backoff_delay_ms(1000, 100, 10000, 10000), 10000);
	CHECK_INT_EQ(backoff_delay_ms(INT32_MAX, 100, 10000, 10001), 0);
	CHECK_INT_EQ(backoff_delay_ms(-3, 100, 10000, 100), 100);
	CHECK_INT_EQ(backoff_delay_ms(-3, 100, 10000, 101), 0);
	CHECK_INT_EQ(backoff_delay_ms(5, 0, 10000, 77), 0);

	/* bounds for every attempt, with random jitter */
	for (int attempt = 0; attempt < 80; attempt++)
	{
		int64_t		ceiling = attempt < 7 ? (int64_t) 100 << attempt : 10000;

		for (int i = 0; i < 2000; i++)
		{
			int64_t		d = backoff_delay_ms(attempt, BACKOFF_BASE_MS,
											 BACKOFF_CAP_MS, splitmix64(&state));

			if (d < 0 || d > ceiling)
				out_of_bounds++;
			if (attempt == 3)
			{
				sum += (double) d;
				if (d > max_seen)
					max_seen = d;
			}
		}
	}
	CHECK_INT_EQ(out_of_bounds, 0);
	/* full jitter over [0, 800]: mean near 400, the top is reached */
	CHECK_MSG(sum / 2000 > 370 && sum / 2000 < 430, "mean %.1f", sum / 2000);
	CHECK(max_seen > 780);

	/* retry decision by status */
	CHECK(reply_action(200) == ACT_DONE);
	CHECK(reply_action(201) == ACT_DONE);
	CHECK(reply_action(204) == ACT_DONE);
	CHECK(reply_action(400) == ACT_BAD_REQUEST);
	CHECK(reply_action(413) == ACT_TOO_LARGE);
	CHECK(reply_action(429) == ACT_RETRY);
	CHECK(reply_action(500) == ACT_RETRY);
	CHECK(reply_action(502) == ACT_RETRY);
	CHECK(reply_action(503) == ACT_RETRY);
	CHECK(reply_action(504) == ACT_RETRY);
	CHECK(reply_action(599) == ACT_RETRY);
	CHECK(reply_action(401) == ACT_FATAL);
	CHECK(reply_action(403) == ACT_FATAL);
	CHECK(reply_action(404) == ACT_FATAL);
	CHECK(reply_action(405) == ACT_FATAL);
	CHECK(reply_action(408) == ACT_FAIL);
	CHECK(reply_action(409) == ACT_FAIL);
	CHECK(reply_action(415) == ACT_FAIL);
	CHECK(reply_action(422) == ACT_FAIL);
	CHECK(reply_action(499) == ACT_FAIL);
	CHECK(reply_action(0) == ACT_FATAL);
	CHECK(reply_action(100) == ACT_FATAL);
	CHECK(reply_action(301) == ACT_FATAL);
	CHECK(reply_action(600) == ACT_FATAL);

	/* retry decision by transport error */
	CHECK(curl_error_retryable(CURLE_COULDNT_CONNECT));
	CHECK(curl_error_retryable(CURLE_COULDNT_RESOLVE_HOST));
	CHECK(curl_error_retryable(CURLE_OPERATION_TIMEDOUT));
	CHECK(curl_error_retryable(CURLE_GOT_NOTHING));
	CHECK(curl_error_retryable(CURLE_SEND_ERROR));
	CHECK(curl_error_retryable(CURLE_RECV_ERROR));
	CHECK(curl_error_retryable(CURLE_PARTIAL_FILE));
	CHECK(!curl_error_retryable(CURLE_OK));
	CHECK(!curl_error_retryable(CURLE_URL_MALFORMAT));
	CHECK(!curl_error_retryable(CURLE_UNSUPPORTED_PROTOCOL));
	CHECK(!curl_error_retryable(CURLE_WEIRD_SERVER_REPLY));
	CHECK(!curl_error_retryable(CURLE_PEER_FAILED_VERIFICATION));
}

/* ---- summary ---- */

/* printed renders the summary as text */
static char *
printed(const Summary *s)
{
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f = open_memstream(&buf, &len);

	summary_print(s, f);
	fclose(f);
	return buf;
}

static void
test_summary(void)
{
	Summary		s;
	char	   *text;

	/* all accepted, some as duplicates: exit 0 */
	summary_init(&s);
	s.read = 5;
	s.sent = 5;
	summary_accept(&s, 3, 1);
	summary_accept(&s, 2, -1);	/* server did not say */
	CHECK_INT_EQ(s.accepted, 5);
	CHECK_INT_EQ(s.duplicates, 1);
	CHECK(summary_consistent(&s));
	CHECK_INT_EQ(summary_exit_code(&s), 0);
	text = printed(&s);
	CHECK_STR_EQ(text,
				 "read:       5\n"
				 "sent:       5\n"
				 "accepted:   5\n"
				 "duplicates: 1\n"
				 "rejected:   0\n"
				 "failed:     0\n"
				 "requests:   0 (retries: 0)\n");
	free(text);
	summary_free(&s);

	/* duplicates never exceed what was accepted */
	summary_init(&s);
	summary_accept(&s, 2, 7);
	CHECK_INT_EQ(s.duplicates, 2);
	summary_free(&s);

	/* nothing read: success */
	summary_init(&s);
	CHECK_INT_EQ(summary_exit_code(&s), 0);
	CHECK(summary_consistent(&s));
	summary_free(&s);

	/* rejections: counted each, the first 10 reasons listed */
	summary_init(&s);
	s.read = 15;
	for (int i = 12; i >= 1; i--)
		summary_reject(&s, i < 11 ? i * 10 : i * 100, "value must be a non-negative number");
	summary_accept(&s, 3, 0);
	CHECK_INT_EQ(s.rejected, 12);
	CHECK_INT_EQ(s.nreject_reasons, SUMMARY_MAX_REASONS);
	/* the first 10 found are kept (here 1200, 1100, 100, ..., 30) */
	CHECK_STR_EQ(s.reject_reasons[0], "line 1200: value must be a non-negative number");
	CHECK(summary_consistent(&s));
	CHECK_INT_EQ(summary_exit_code(&s), 1);
	text = printed(&s);
	/* ... and listed in line order */
	CHECK(strstr(text, "rejected:   12\n  line 30: value") != NULL);
	CHECK(strstr(text, "  line 100: value must be a non-negative number\n"
				 "  line 1100: value must be a non-negative number\n"
				 "  line 1200: value") != NULL);
	CHECK(strstr(text, "line 10:") == NULL);
	CHECK(strstr(text, "line 20:") == NULL);
	CHECK(strstr(text, "  ... and 2 more\nfailed:     0\n") != NULL);
	free(text);
	summary_free(&s);

	/* failures: per batch, with its line range */
	summary_init(&s);
	s.read = 1001;
	s.sent = 1001;
	summary_fail(&s, 1, 1000, 1000, "HTTP 503: journal (gave up after 10 retries)");
	summary_fail(&s, 1001, 1001, 1, "HTTP 408: timeout");
	summary_fail(&s, 5, 6, 0, "nothing");	/* no events: not counted */
	CHECK_INT_EQ(s.failed, 1001);
	CHECK_INT_EQ(s.nfail_reasons, 2);
	CHECK_STR_EQ(s.fail_reasons[0],
				 "lines 1-1000 (1000 events): HTTP 503: journal (gave up after 10 retries)");
	CHECK_STR_EQ(s.fail_reasons[1], "line 1001 (1 event): HTTP 408: timeout");
	CHECK(summary_consistent(&s));
	CHECK_INT_EQ(summary_exit_code(&s), 1);
	summary_free(&s);

	/* a run that stopped early fails even if the counts look fine */
	summary_init(&s);
	summary_abort(&s, "interrupted");
	summary_abort(&s, "second reason is ignored");
	CHECK_STR_EQ(s.aborted, "interrupted");
	CHECK_INT_EQ(summary_exit_code(&s), 1);
	text = printed(&s);
	CHECK(strstr(text, "aborted:    interrupted\n") != NULL);
	free(text);
	summary_free(&s);

	/* counts that do not add up are caught */
	summary_init(&s);
	s.read = 3;
	summary_accept(&s, 2, 0);
	CHECK(!summary_consistent(&s));
	CHECK_INT_EQ(summary_exit_code(&s), 1);
	summary_free(&s);
}

/* ---- URLs ---- */

static void
check_encoding(const char *in, size_t len, const char *want)
{
	StrBuf		out;

	sb_init(&out);
	url_encode_segment(in, len, &out);
	CHECK_MEM_EQ(out.data ? out.data : "", out.len, want, strlen(want));
	sb_free(&out);
}

static void
test_urls(void)
{
	char	   *url;
	StrBuf		all;
	int			encoded = 0;

	check_encoding("user1", 5, "user1");
	check_encoding("", 0, "");
	check_encoding("a b/c", 5, "a%20b%2Fc");
	check_encoding("-._~", 4, "-._~");
	check_encoding("100%", 4, "100%25");
	check_encoding("?#&=+:@", 7, "%3F%23%26%3D%2B%3A%40");
	check_encoding("\xc3\xbc", 2, "%C3%BC");
	check_encoding("a\0b", 3, "a%00b");
	check_encoding("..", 2, "..");

	/* the users list of GET /stream: each item encoded on its own */
	{
		static const struct
		{
			const char *in;
			const char *want;	/* NULL: refused */
		}			lists[] = {
			{"a", "a"},
			{"a,b", "a,b"},
			{"a b,c/d,\xc3\xbc", "a%20b,c%2Fd,%C3%BC"},
			{"x%y,&users=z", "x%25y,%26users%3Dz"},
			{"", NULL},
			{",a", NULL},
			{"a,", NULL},
			{"a,,b", NULL},
		};

		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		{
			StrBuf		out;
			bool		ok;

			sb_init(&out);
			ok = url_encode_list(lists[i].in, &out);
			if (lists[i].want == NULL)
				CHECK_MSG(!ok, "list \"%s\" refused", lists[i].in);
			else
			{
				CHECK_MSG(ok, "list \"%s\" accepted", lists[i].in);
				CHECK_STR_EQ(out.data, lists[i].want);
			}
			sb_free(&out);
		}
	}

	/* every byte: unreserved ones kept, the others as %XX */
	sb_init(&all);
	for (int c = 0; c < 256; c++)
	{
		char		ch = (char) c;

		sb_reset(&all);
		url_encode_segment(&ch, 1, &all);
		if (all.len == 3)
		{
			char		want[4];

			snprintf(want, sizeof(want), "%%%02X", c);
			CHECK_STR_EQ(all.data, want);
			encoded++;
		}
		else
			CHECK_INT_EQ(all.len, 1);
	}
	CHECK_INT_EQ(encoded, 256 - 66);
	sb_free(&all);

	url = url_endpoint("http://127.0.0.1:8000", "/liveEvent");
	CHECK_STR_EQ(url, "http://127.0.0.1:8000/liveEvent");
	free(url);
	url = url_endpoint("http://127.0.0.1:8000//", "/liveEvent");
	CHECK_STR_EQ(url, "http://127.0.0.1:8000/liveEvent");
	free(url);
	url = url_endpoint("https://h/base/", "/userEvents/a%2Fb");
	CHECK_STR_EQ(url, "https://h/base/userEvents/a%2Fb");
	free(url);

	CHECK(url_base_valid("http://127.0.0.1:8000"));
	CHECK(url_base_valid("HTTPS://example.com/evproc/"));
	CHECK(url_base_valid("http://[::1]:8000"));
	CHECK(!url_base_valid("127.0.0.1:8000"));
	CHECK(!url_base_valid("ftp://h"));
	CHECK(!url_base_valid("http://"));
	CHECK(!url_base_valid("http:///x"));
	CHECK(!url_base_valid("http://h/a b"));
	CHECK(!url_base_valid("http://h/?q=1"));
	CHECK(!url_base_valid("http://h\r\nX: y"));
}

/* ---- server replies ---- */

static void
test_replies(void)
{
	int64_t		accepted;
	int64_t		dups;
	long		index;
	char		error[64];
	StrBuf		rev;

#define BODY(s) s, strlen(s)

	CHECK(reply_accepted(BODY("{\"accepted\": 3, \"duplicates\": 1}"), &accepted, &dups));
	CHECK_INT_EQ(accepted, 3);
	CHECK_INT_EQ(dups, 1);
	CHECK(reply_accepted(BODY("{\"accepted\": 1}"), &accepted, &dups));
	CHECK_INT_EQ(accepted, 1);
	CHECK_INT_EQ(dups, -1);
	CHECK(!reply_accepted(BODY("OK"), &accepted, &dups));
	CHECK(!reply_accepted(BODY("{\"ok\": true}"), &accepted, &dups));
	CHECK(!reply_accepted(NULL, 0, &accepted, &dups));

	reply_error_text(BODY("{\"error\": \"event 3: value must be a non-negative number\", \"index\": 3}"),
					 error, sizeof(error));
	CHECK_STR_EQ(error, "event 3: value must be a non-negative number");
	reply_error_text(BODY("<html>Bad\r\nGateway</html>\n"), error, sizeof(error));
	CHECK_STR_EQ(error, "<html>Bad  Gateway</html>");
	reply_error_text(NULL, 0, error, sizeof(error));
	CHECK_STR_EQ(error, "(empty reply)");
	reply_error_text(BODY("{\"error\": \"a\\u0007b\"}"), error, sizeof(error));
	CHECK_STR_EQ(error, "a b");
	reply_error_text(BODY("{\"error\": \"0123456789012345678901234567890123456789012345678901234567890123456789\"}"),
					 error, sizeof(error));
	CHECK_INT_EQ(strlen(error), sizeof(error) - 1);

	CHECK(reply_error_index(BODY("{\"error\": \"x\", \"index\": 3}"), &index));
	CHECK_INT_EQ(index, 3);
	CHECK(reply_error_index(BODY("{\"index\": 0}"), &index));
	CHECK_INT_EQ(index, 0);
	CHECK(!reply_error_index(BODY("{\"error\": \"x\"}"), &index));
	CHECK(!reply_error_index(BODY("{\"index\": -1}"), &index));
	CHECK(!reply_error_index(BODY("{\"index\": \"3\"}"), &index));
	CHECK(!reply_error_index(BODY("bad"), &index));

	CHECK_STR_EQ(reply_strip_event_prefix("event 3: value must be", 3), "value must be");
	CHECK_STR_EQ(reply_strip_event_prefix("event 3: value must be", 4), "event 3: value must be");
	CHECK_STR_EQ(reply_strip_event_prefix("invalid JSON", 0), "invalid JSON");

	sb_init(&rev);
	CHECK(reply_revenue(BODY("{\"userId\": \"user1\", \"revenue\": 50}"), &rev));
	CHECK_STR_EQ(rev.data, "50");
	CHECK(reply_revenue(BODY("{\"userId\": \"u\", \"revenue\": -12.5}"), &rev));
	CHECK_STR_EQ(rev.data, "-12.5");
	CHECK(reply_revenue(BODY("{\"revenue\":123456789012345678901234.000000001}"), &rev));
	CHECK_STR_EQ(rev.data, "123456789012345678901234.000000001");
	/* json-c would clamp this integer; the literal is printed */
	CHECK(reply_revenue(BODY("{\"userId\": \"u\", \"revenue\": 99999999999999999999999}"), &rev));
	CHECK_STR_EQ(rev.data, "99999999999999999999999");
	/* a user id that looks like a member does not fool it */
	CHECK(reply_revenue(BODY("{\"userId\": \"x\\\", \\\"revenue\\\": 7\", \"revenue\": 3}"), &rev));
	CHECK_STR_EQ(rev.data, "3");
	CHECK(reply_revenue(BODY("{\"a\": {\"revenue\": 1}, \"b\": [\"}\", 2], \"revenue\": 4}"), &rev));
	CHECK_STR_EQ(rev.data, "4");
	/* duplicate keys: the last one, as json-c sees it */
	CHECK(reply_revenue(BODY("{\"revenue\": 1, \"revenue\": 2}"), &rev));
	CHECK_STR_EQ(rev.data, "2");
	CHECK(!reply_revenue(BODY("{\"userId\": \"u\", \"revenue\": \"50\"}"), &rev));
	CHECK(!reply_revenue(BODY("{\"error\": \"user not found\"}"), &rev));
	CHECK(!reply_revenue(BODY("[50]"), &rev));
	CHECK(!reply_revenue(BODY(""), &rev));
	sb_free(&rev);

	{
		size_t		off;
		size_t		vlen;
		const char *s = " { \"k\" : \"v\\\"w\" , \"n\":null } ";

		CHECK(json_member_raw(s, strlen(s), "k", &off, &vlen));
		CHECK_MEM_EQ(s + off, vlen, "\"v\\\"w\"", 6);
		CHECK(json_member_raw(s, strlen(s), "n", &off, &vlen));
		CHECK_MEM_EQ(s + off, vlen, "null", 4);
		CHECK(!json_member_raw(s, strlen(s), "x", &off, &vlen));
		CHECK(!json_member_raw(BODY("{}"), "k", &off, &vlen));
		CHECK(!json_member_raw(BODY("{\"k\":"), "k", &off, &vlen));
	}
#undef BODY
}

/* ---- metrics of GET /userEvents (reply_metrics) ---- */

/* metrics_of returns reply_metrics' lines of body, or "FALSE" */
static const char *
metrics_of(const char *body, StrBuf *out)
{
	sb_reset(out);
	if (!reply_metrics(body, strlen(body), out))
		return "FALSE";
	return out->data != NULL ? out->data : "";
}

static void
test_metrics(void)
{
	StrBuf		m;
	StrBuf		rev;

	sb_init(&m);
	sb_init(&rev);

	/* the reply of the issue: revenue is on the first line, not repeated */
	CHECK_STR_EQ(metrics_of("{\"userId\": \"u1\", \"revenue\": 70, \"metrics\": {\"revenue\": 70, \"purchases\": 2}}", &m),
				 "purchases 2\n");
	/* sorted by name in byte order, whatever the order of the reply */
	CHECK_STR_EQ(metrics_of("{\"revenue\": 0, \"metrics\": {\"purchases\": 2, \"credits\": 5, \"Zeta\": 1, \"a_b\": 3, \"a.b\": 4, \"a\": 6, \"a-b\": 7}}", &m),
				 "Zeta 1\na 6\na-b 7\na.b 4\na_b 3\ncredits 5\npurchases 2\n");
	/* the numbers' text, exact: no rounding, no clamping, zeros kept */
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": {\"credits\": 12.50, \"big\": 123456789012345678901234.000000001, \"neg\": -3.25, \"huge\": 99999999999999999999999, \"tiny\": 0.000000001, \"e\": 1e3}}", &m),
				 "big 123456789012345678901234.000000001\ncredits 12.50\ne 1e3\nhuge 99999999999999999999999\nneg -3.25\ntiny 0.000000001\n");
	/* a user with no revenue: first line 0, then the metrics */
	{
		const char *b = "{\"userId\":\"u\",\"revenue\":0,\"metrics\":{\"purchases\":3}}";

		CHECK(reply_revenue(b, strlen(b), &rev));
		CHECK_STR_EQ(rev.data, "0");
		CHECK_STR_EQ(metrics_of(b, &m), "purchases 3\n");
	}
	/* revenue only, empty, absent or null: nothing more (older servers) */
	CHECK_STR_EQ(metrics_of("{\"userId\": \"u\", \"revenue\": 70, \"metrics\": {\"revenue\": 70}}", &m), "");
	CHECK_STR_EQ(metrics_of("{\"userId\": \"u\", \"revenue\": 70, \"metrics\": {}}", &m), "");
	CHECK_STR_EQ(metrics_of("{\"userId\": \"u\", \"revenue\": 70}", &m), "");
	CHECK_STR_EQ(metrics_of("{\"userId\": \"u\", \"revenue\": 70, \"metrics\": null}", &m), "");
	/* "metrics" elsewhere (a nested object, a string) is not the member */
	CHECK_STR_EQ(metrics_of("{\"userId\": \"\\\"metrics\\\": {\\\"x\\\": 1}\", \"a\": {\"metrics\": {\"x\": 1}}, \"metrics\": {\"y\": 2}}", &m),
				 "y 2\n");
	/* duplicate keys: the last wins, as in json-c */
	CHECK_STR_EQ(metrics_of("{\"metrics\": {\"x\": 1, \"y\": 5, \"x\": 2}}", &m), "x 2\ny 5\n");
	CHECK_STR_EQ(metrics_of("{\"metrics\": {\"x\": 1}, \"metrics\": {\"z\": 3}}", &m), "z 3\n");
	/* escaped keys are decoded; blanks and control characters shown as ? */
	CHECK_STR_EQ(metrics_of("{\"metrics\": {\"a\\/b\": 1, \"c\\u0064\": 2, \"e f\": 3, \"g\\u0001\": 4}}", &m),
				 "a/b 1\ncd 2\ne?f 3\ng? 4\n");
	/* layout: no spaces, newlines */
	CHECK_STR_EQ(metrics_of("{\"metrics\":{\"b\":1,\"a\":2}}", &m), "a 2\nb 1\n");
	CHECK_STR_EQ(metrics_of("{\n \"metrics\" :\n {\n \"b\" : 1 ,\n \"a\" : 2\n }\n}\n", &m), "a 2\nb 1\n");
	/* appends to what out holds */
	sb_reset(&m);
	sb_append_str(&m, "70\n");
	CHECK(reply_metrics("{\"metrics\":{\"b\":1}}", 20, &m));
	CHECK_STR_EQ(m.data, "70\nb 1\n");

	/* not an object of numbers: an unexpected reply */
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": [1, 2]}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": 5}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": \"x\"}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": {\"x\": \"2\"}}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": {\"x\": null}}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": {\"x\": true}}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": {\"x\": {\"y\": 1}}}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"revenue\": 1, \"metrics\": {\"revenue\": \"1\"}}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("{\"metrics\": {\"x\": 1}", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("[{\"metrics\": {\"x\": 1}}]", &m), "FALSE");
	CHECK_STR_EQ(metrics_of("", &m), "FALSE");

	sb_free(&m);
	sb_free(&rev);
}

/* ---- generated events ---- */

static void
test_generate(void)
{
	uint64_t	a = 42;
	uint64_t	b = 42;
	uint64_t	c = 43;
	char		la[GEN_LINE_BUFSZ];
	char		lb[GEN_LINE_BUFSZ];
	int			same_as_other_seed = 0;
	int			bad = 0;
	int			adds = 0;
	int			users_seen[8] = {0};
	char	   *buf = NULL;
	size_t		len = 0;
	FILE	   *f;
	int			lines = 0;

	/* the same seed gives the same events */
	for (int i = 0; i < 1000; i++)
	{
		size_t		na = gen_event(&a, 7, NULL, la, sizeof(la));
		size_t		nb = gen_event(&b, 7, NULL, lb, sizeof(lb));

		CHECK_MEM_EQ(la, na, lb, nb);
		gen_event(&c, 7, NULL, lb, sizeof(lb));
		if (strcmp(la, lb) == 0)
			same_as_other_seed++;
	}
	CHECK(same_as_other_seed < 100);

	/* the events are valid and in range; no eventIds */
	a = 1;
	for (int i = 0; i < 4000; i++)
	{
		size_t		n = gen_event(&a, 7, NULL, la, sizeof(la));
		json_object *obj;
		json_object *f_user;
		json_object *f_name;
		json_object *f_value;
		json_object *f_id;

		CHECK(n > 0 && la[n - 1] == '\n');
		obj = json_tokener_parse(la);
		if (obj == NULL ||
			!json_object_object_get_ex(obj, "userId", &f_user) ||
			!json_object_object_get_ex(obj, "name", &f_name) ||
			!json_object_object_get_ex(obj, "value", &f_value) ||
			json_object_object_get_ex(obj, "eventId", &f_id) ||
			!json_object_is_type(f_value, json_type_int) ||
			json_object_get_int(f_value) < 0 ||
			json_object_get_int(f_value) > 99)
			bad++;
		else
		{
			const char *user = json_object_get_string(f_user);
			const char *name = json_object_get_string(f_name);
			int			u = atoi(user + 4);

			if (strncmp(user, "user", 4) != 0 || u < 1 || u > 7)
				bad++;
			else
				users_seen[u]++;
			if (strcmp(name, "add_revenue") == 0)
				adds++;
			else if (strcmp(name, "subtract_revenue") != 0)
				bad++;
		}
		json_object_put(obj);
	}
	CHECK_INT_EQ(bad, 0);
	for (int u = 1; u <= 7; u++)
		CHECK_MSG(users_seen[u] > 400, "user%d seen %d times", u, users_seen[u]);
	CHECK_MSG(adds > 2800 && adds < 3200, "adds: %d of 4000", adds);

	/* the first event of seed 1, as a fixed point */
	a = 1;
	gen_event(&a, 5, NULL, la, sizeof(la));
	b = 1;
	{
		uint64_t	u = 1 + splitmix64(&b) % 5;
		uint64_t	k = splitmix64(&b) % 4;
		uint64_t	v = splitmix64(&b) % 100;

		snprintf(lb, sizeof(lb),
				 "{\"userId\": \"user%llu\", \"name\": \"%s\", \"value\": %llu}\n",
				 (unsigned long long) u, k == 0 ? "subtract_revenue" : "add_revenue",
				 (unsigned long long) v);
	}
	CHECK_STR_EQ(la, lb);

	/* a buffer too small gives nothing */
	a = 1;
	CHECK_INT_EQ(gen_event(&a, 5, NULL, la, 10), 0);

	/* gen_write: n lines */
	f = open_memstream(&buf, &len);
	CHECK_INT_EQ(gen_write(f, 250, 3, 99, NULL), 0);
	fclose(f);
	for (size_t i = 0; i < len; i++)
		lines += buf[i] == '\n';
	CHECK_INT_EQ(lines, 250);
	free(buf);

	/* splitmix64 reference values (seed 0) */
	a = 0;
	CHECK(splitmix64(&a) == UINT64_C(0xe220a8397b1dcdaf));
	CHECK(splitmix64(&a) == UINT64_C(0x6e789e6aa1b965f4));
}

/* ---- generated events of several types (--types) ---- */

/* gen_output returns what gen_write writes (malloc'd), or NULL */
static char *
gen_output(int64_t n, int64_t users, uint64_t seed, const GenTypes *types,
		   size_t *len)
{
	char	   *buf = NULL;
	FILE	   *f = open_memstream(&buf, len);
	int			rc;

	if (f == NULL)
		return NULL;
	rc = gen_write(f, n, users, seed, types);
	fclose(f);
	if (rc != 0)
	{
		free(buf);
		return NULL;
	}
	return buf;
}

static void
test_generate_types(void)
{
	const char *why;
	char		err[256];
	char		name64[EV_NAME_MAX + 2];
	char		line[GEN_LINE_BUFSZ];
	GenTypes	t;
	GenTypes	t2;
	uint64_t	st;
	int			counts[3] = {0};
	int			bad = 0;
	char	   *out1;
	char	   *out2;
	size_t		len1;
	size_t		len2;

	/* the name rule: 1 to 63 bytes, [A-Za-z0-9_.-], the first a letter */
#define NAME_OK(s) gen_type_name_valid(s, strlen(s), &why)
	CHECK(NAME_OK("a"));
	CHECK(NAME_OK("refund"));
	CHECK(NAME_OK("Z9_-.x"));
	CHECK(NAME_OK("add_revenue"));
	memset(name64, 'n', EV_NAME_MAX + 1);
	name64[EV_NAME_MAX + 1] = '\0';
	CHECK(!gen_type_name_valid(name64, EV_NAME_MAX + 1, &why));
	CHECK_STR_EQ(why, "it is longer than 63 bytes");
	CHECK(gen_type_name_valid(name64, EV_NAME_MAX, &why));
	CHECK(!gen_type_name_valid("", 0, &why));
	CHECK(!NAME_OK("9a"));
	CHECK_STR_EQ(why, "it must start with an ASCII letter");
	CHECK(!NAME_OK("_a"));
	CHECK(!NAME_OK("-a"));
	CHECK(!NAME_OK(".a"));
	CHECK(!NAME_OK("a b"));
	CHECK_STR_EQ(why, "only ASCII letters, digits, '_', '-' and '.' are allowed");
	CHECK(!NAME_OK("a,b"));
	CHECK(!NAME_OK("a/b"));
	CHECK(!NAME_OK("a\"b"));
	CHECK(!NAME_OK("a\\b"));
	CHECK(!NAME_OK("a\tb"));
	CHECK(!NAME_OK("caf\xc3\xa9"));
	CHECK(!NAME_OK("\xc3\xa9"));
	/* the length counts, not a NUL in the middle */
	CHECK(!gen_type_name_valid("ab\0c", 4, &why));
#undef NAME_OK

	/* lists */
	CHECK(gen_types_parse("add_revenue,refund,purchase", &t, err, sizeof(err)));
	CHECK_INT_EQ(t.n, 3);
	if (t.n == 3)
	{
		CHECK_STR_EQ(t.names[0], "add_revenue");
		CHECK_STR_EQ(t.names[1], "refund");
		CHECK_STR_EQ(t.names[2], "purchase");
	}
	CHECK(gen_types_parse("refund", &t2, err, sizeof(err)));
	CHECK_INT_EQ(t2.n, 1);
	gen_types_free(&t2);
	CHECK_INT_EQ(t2.n, 0);
	CHECK(!gen_types_parse("", &t2, err, sizeof(err)));
	CHECK_STR_EQ(err, "--types: empty event type name (the names are separated by single commas)");
	CHECK(t2.n == 0 && t2.names == NULL && t2.storage == NULL);
	CHECK(!gen_types_parse("a,", &t2, err, sizeof(err)));
	CHECK(!gen_types_parse(",a", &t2, err, sizeof(err)));
	CHECK(!gen_types_parse("a,,b", &t2, err, sizeof(err)));
	CHECK(!gen_types_parse("a, b", &t2, err, sizeof(err)));
	CHECK_STR_EQ(err, "--types: bad event type name \" b\": it must start with an ASCII letter");
	CHECK(!gen_types_parse("refund,2x", &t2, err, sizeof(err)));
	CHECK_STR_EQ(err, "--types: bad event type name \"2x\": it must start with an ASCII letter");
	CHECK(!gen_types_parse("a\x01" "b", &t2, err, sizeof(err)));
	CHECK_STR_EQ(err, "--types: bad event type name \"a?b\": only ASCII letters, digits, '_', '-' and '.' are allowed");
	CHECK(!gen_types_parse(name64, &t2, err, sizeof(err)));
	CHECK(strstr(err, "longer than 63 bytes") != NULL);
	CHECK(t2.n == 0 && t2.names == NULL && t2.storage == NULL);

	/* events take their names from the list, each about as often */
	st = 5;
	for (int i = 0; i < 3000; i++)
	{
		size_t		n = gen_event(&st, 4, &t, line, sizeof(line));
		json_object *obj = json_tokener_parse(line);
		json_object *f_name;
		int			k;

		if (n == 0 || obj == NULL ||
			!json_object_object_get_ex(obj, "name", &f_name))
		{
			bad++;
			json_object_put(obj);
			continue;
		}
		for (k = 0; k < 3; k++)
			if (strcmp(json_object_get_string(f_name), t.names[k]) == 0)
				break;
		if (k < 3)
			counts[k]++;
		else
			bad++;
		json_object_put(obj);
	}
	CHECK_INT_EQ(bad, 0);
	for (int k = 0; k < 3; k++)
		CHECK_MSG(counts[k] > 850 && counts[k] < 1150, "%s: %d of 3000",
				  t.names[k], counts[k]);

	/* a fixed point: the first event of seed 1 with three names */
	st = 1;
	gen_event(&st, 5, &t, line, sizeof(line));
	{
		uint64_t	s = 1;
		uint64_t	u = 1 + splitmix64(&s) % 5;
		uint64_t	k = splitmix64(&s) % 3;
		uint64_t	v = splitmix64(&s) % 100;
		char		want[GEN_LINE_BUFSZ];

		snprintf(want, sizeof(want),
				 "{\"userId\": \"user%llu\", \"name\": \"%s\", \"value\": %llu}\n",
				 (unsigned long long) u, t.names[k], (unsigned long long) v);
		CHECK_STR_EQ(line, want);
	}

	/* the longest name and the largest user fit in a line */
	gen_types_free(&t);
	CHECK(gen_types_parse("x", &t, err, sizeof(err)));
	memset(name64, 'n', EV_NAME_MAX);
	name64[EV_NAME_MAX] = '\0';
	t.names[0] = name64;
	st = 3;
	CHECK(gen_event(&st, INT64_MAX / 2, &t, line, sizeof(line)) > 0);
	gen_types_free(&t);

	/* the default is this list, byte for byte; another list differs */
	CHECK(gen_types_parse("subtract_revenue,add_revenue,add_revenue,add_revenue",
						  &t, err, sizeof(err)));
	out1 = gen_output(2000, 9, 77, NULL, &len1);
	out2 = gen_output(2000, 9, 77, &t, &len2);
	CHECK(out1 != NULL && out2 != NULL);
	if (out1 != NULL && out2 != NULL)
		CHECK_MEM_EQ(out1, len1, out2, len2);
	free(out2);
	gen_types_free(&t);
	CHECK(gen_types_parse("add_revenue,subtract_revenue", &t, err, sizeof(err)));
	out2 = gen_output(2000, 9, 77, &t, &len2);
	CHECK(out1 != NULL && out2 != NULL &&
		  (len1 != len2 || memcmp(out1, out2, len1) != 0));
	free(out1);
	free(out2);
	gen_types_free(&t);
}

/* gunzip: data inflated by zlib as one gzip member, or NULL */
static char *
gunzip(const char *data, size_t len, size_t *outlen)
{
	z_stream	zs;
	size_t		cap = 1 << 20;
	char	   *out = malloc(cap);
	int			rc;

	memset(&zs, 0, sizeof(zs));
	if (out == NULL || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		abort();
	zs.next_in = (unsigned char *) data;
	zs.avail_in = (uInt) len;
	zs.next_out = (unsigned char *) out;
	zs.avail_out = (uInt) cap;
	rc = inflate(&zs, Z_FINISH);
	*outlen = zs.total_out;
	/* the member must end exactly where the data does */
	if (rc != Z_STREAM_END || zs.avail_in != 0)
	{
		free(out);
		out = NULL;
	}
	inflateEnd(&zs);
	return out;
}

/* gzip_body: a gzip member that inflates to the body, and is smaller */
static void
test_gzip(void)
{
	StrBuf		body;
	StrBuf		gz;
	char	   *back;
	size_t		len;

	sb_init(&body);
	sb_init(&gz);
	for (int i = 0; i < 1000; i++)
		sb_printf(&body, "{\"userId\":\"user%d\",\"name\":\"add_revenue\",\"value\":%d,"
				  "\"eventId\":\"00000000-0000-4000-8000-%012d\"}\n", i % 5, i % 100, i);
	CHECK(gzip_body(body.data, body.len, &gz));
	CHECK(gz.len > 18 && (unsigned char) gz.data[0] == 0x1f &&
		  (unsigned char) gz.data[1] == 0x8b);
	CHECK_MSG(gz.len < body.len / 4, "%zu bytes compressed to %zu", body.len,
			  gz.len);
	back = gunzip(gz.data, gz.len, &len);
	CHECK(back != NULL);
	if (back != NULL)
		CHECK_MEM_EQ(back, len, body.data, body.len);
	free(back);
	/* again into the same buffer, and an empty body */
	CHECK(gzip_body("x\n", 2, &gz));
	back = gunzip(gz.data, gz.len, &len);
	CHECK(back != NULL && len == 2 && memcmp(back, "x\n", 2) == 0);
	free(back);
	CHECK(gzip_body("", 0, &gz));
	back = gunzip(gz.data, gz.len, &len);
	CHECK(back != NULL && len == 0);
	free(back);
	sb_free(&body);
	sb_free(&gz);
}

int
main(void)
{
	test_line_reader();
	test_prepare();
	test_uuid();
	test_backoff();
	test_summary();
	test_urls();
	test_replies();
	test_metrics();
	test_generate();
	test_generate_types();
	test_gzip();
	return unit_summary();
}
