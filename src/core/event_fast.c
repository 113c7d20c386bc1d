/*-------------------------------------------------------------------------
 *
 * event_fast.c
 *	  The fast paths of event.c: the plain request bodies nearly every
 *	  client sends, and journal lines as evproc writes them, read without
 *	  json-c.
 *
 * Backend-free (libc only); see event.h.  A fast path returns false for
 * anything it does not read exactly as the full parser of event.c would,
 * which then reads it (and words every error); the fuzz target compares
 * the two.
 *
 *-------------------------------------------------------------------------
 */
#include "core/event_int.h"

#include <string.h>

#ifdef POSTGRES_H
#error "event_fast.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/*
 * expect_literal advances *p past lit if the input continues with it.
 * Inlined, so that the memcmp of a literal's constant length is too.
 */
static inline bool
expect_literal(const char **p, const char *end, const char *lit, size_t litlen)
{
	if ((size_t) (end - *p) < litlen || memcmp(*p, lit, litlen) != 0)
		return false;
	*p += litlen;
	return true;
}

/*
 * plain_string scans a JSON string body without escapes or control
 * characters, up to its closing quote, which *p is left past.  Returns its
 * length, or -1 if the string is not that simple.  Sets *non_ascii if the
 * string may hold a byte above 0x7f (the caller then checks the UTF-8).
 * Eight bytes are taken at a time, up to the first that ends the scan.
 */
static inline long
plain_string(const char **p, const char *end, bool *non_ascii)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const char *start = *p;
	const char *q = start;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (end - q >= 8)
	{
		uint64_t	w;
		uint64_t	stop;

		memcpy(&w, q, 8);
		if (w & (ones * 0x80))
			*non_ascii = true;
		stop = ev_zero_bytes(w ^ (ones * '"')) |
			ev_zero_bytes(w ^ (ones * '\\')) |
			ev_zero_bytes(w & (ones * 0xe0));
		if (stop != 0)
		{
			q += __builtin_ctzll(stop) / 8;
			break;
		}
		q += 8;
	}
#endif
	while (q < end && *q != '"')
	{
		if (*q == '\\' || (unsigned char) *q < 0x20)
			return -1;
		if ((unsigned char) *q >= 0x80)
			*non_ascii = true;
		q++;
	}
	if (q == end)
		return -1;
	*p = q + 1;
	return (long) (q - start);
}

/*
 * ev_fast_parse_line parses a line exactly as evproc writes it to the journal
 * (see ev_format_journal_line), without json-c; also without "metric" and
 * "effect", as older versions wrote it.  It returns false for anything
 * else, and the caller then uses the full parser, so it only needs to be
 * right about what it accepts: the lines it accepts are valid JSON that
 * the full parser reads to the same event (the fuzz target checks this).
 */
bool
ev_fast_parse_line(const char *line, size_t len, EvEvent *ev)
{
	const char *p = line;
	const char *end = line + len;
	const char *s;
	long		n;
	bool		non_ascii = false;

	if (!expect_literal(&p, end, "{\"userId\":\"", 11))
		return false;
	s = p;
	n = plain_string(&p, end, &non_ascii);
	if (n < 0 || ev_check_user_id(s, (size_t) n) != NULL)
		return false;
	memcpy(ev->user_id, s, (size_t) n);
	ev->user_id[n] = '\0';
	ev->user_id_len = (size_t) n;

	if (!expect_literal(&p, end, ",\"name\":\"", 9))
		return false;
	s = p;
	n = plain_string(&p, end, &non_ascii);
	if (n < 0 || ev_check_name(s, (size_t) n) != NULL)
		return false;
	memcpy(ev->name, s, (size_t) n);
	ev->name[n] = '\0';
	ev->name_len = (size_t) n;

	if (!expect_literal(&p, end, ",\"value\":", 9))
		return false;
	s = p;
	while (p < end && *p != ',' && *p != '}')
		p++;
	if (ev_decimal_parse(s, (size_t) (p - s), &ev->value) != NULL)
		return false;
	ev->has_value = true;

	ev_clear_type(ev);
	if (expect_literal(&p, end, ",\"metric\":\"", 11))
	{
		const char *effect;
		long		elen;

		s = p;
		n = plain_string(&p, end, &non_ascii);
		if (n < 0 || !expect_literal(&p, end, ",\"effect\":\"", 11))
			return false;
		effect = p;
		elen = plain_string(&p, end, &non_ascii);
		if (elen < 0 ||
			ev_line_type(ev, s, (size_t) n, effect, (size_t) elen) != NULL)
			return false;
	}

	ev->event_id[0] = '\0';
	ev->event_id_len = 0;
	if (expect_literal(&p, end, ",\"eventId\":\"", 12))
	{
		s = p;
		n = plain_string(&p, end, &non_ascii);
		if (n < 0 || ev_check_event_id(s, (size_t) n) != NULL)
			return false;
		memcpy(ev->event_id, s, (size_t) n);
		ev->event_id[n] = '\0';
		ev->event_id_len = (size_t) n;
	}

	if (!expect_literal(&p, end, ",\"receivedAt\":\"", 15) ||
		plain_string(&p, end, &non_ascii) < 0 ||
		!expect_literal(&p, end, ",\"clientAddr\":\"", 15) ||
		plain_string(&p, end, &non_ascii) < 0 ||
		!expect_literal(&p, end, "}", 1) || p != end)
		return false;

	/*
	 * The full parser rejects invalid UTF-8 anywhere in the line; outside
	 * its strings, the line is ASCII (literals and a number).
	 */
	return !non_ascii || ev_utf8_valid(line, len);
}

/* skip_space advances *p past JSON white space. */
static void
skip_space(const char **p, const char *end)
{
	while (*p < end && ev_is_json_space(**p))
		(*p)++;
}

/* key_is: is the key s[0..len) the string lit? */
static inline bool
key_is(const char *s, long len, const char *lit, long litlen)
{
	return len == litlen && memcmp(s, lit, (size_t) litlen) == 0;
}

/*
 * ev_fast_parse_event parses the body nearly every client sends: one flat
 * JSON object whose members are strings without escapes and non-negative
 * numbers, with no nesting, null or literals.  It spares json-c, whose
 * per-call locale switching and allocations cost more than the rest of a
 * request.  As with ev_fast_parse_line, anything else (including every
 * mistake) returns false and the caller uses the full parser, which also
 * words the error; so it only needs to be right about what it accepts:
 * valid JSON that the full parser reads to the same event (the fuzz target
 * checks this).  Duplicate keys: the last one wins, as with json-c.
 */
bool
ev_fast_parse_event(const char *buf, size_t len, bool line, EvEvent *ev)
{
	const char *p = buf;
	const char *end = buf + len;
	const char *user_id = NULL;
	const char *name = NULL;
	const char *event_id = NULL;
	const char *metric = NULL;
	const char *effect = NULL;
	long		user_id_len = 0;
	long		name_len = 0;
	long		event_id_len = 0;
	long		metric_len = 0;
	long		effect_len = 0;
	bool		has_value = false;
	bool		non_ascii = false;
	ev_int128	value = 0;
	ev_int128	number;

	skip_space(&p, end);
	if (p == end || *p != '{')
		return false;
	p++;
	skip_space(&p, end);
	for (;;)
	{
		const char *key;
		const char *v;
		long		keylen;
		long		vlen;

		if (p == end || *p != '"')
			return false;
		key = ++p;
		if ((keylen = plain_string(&p, end, &non_ascii)) < 0)
			return false;
		skip_space(&p, end);
		if (p == end || *p != ':')
			return false;
		p++;
		skip_space(&p, end);
		if (p == end)
			return false;
		v = p;
		if (*p == '"')
		{
			v = ++p;
			if ((vlen = plain_string(&p, end, &non_ascii)) < 0)
				return false;
			if (key_is(key, keylen, "userId", 6))
				user_id = v, user_id_len = vlen;
			else if (key_is(key, keylen, "name", 4))
				name = v, name_len = vlen;
			else if (key_is(key, keylen, "eventId", 7))
				event_id = v, event_id_len = vlen;
			else if (line && key_is(key, keylen, "metric", 6))
				metric = v, metric_len = vlen;
			else if (line && key_is(key, keylen, "effect", 6))
				effect = v, effect_len = vlen;
			else if (key_is(key, keylen, "value", 5))
				return false;
		}
		else
		{
			/* a number: the member must be "value" or unknown */
			while (p < end && !ev_is_json_space(*p) && *p != ',' && *p != '}')
				p++;
			if (ev_decimal_parse(v, (size_t) (p - v), &number) != NULL)
				return false;
			if (key_is(key, keylen, "value", 5))
				value = number, has_value = true;
			else if (key_is(key, keylen, "userId", 6) ||
					 key_is(key, keylen, "name", 4) ||
					 key_is(key, keylen, "eventId", 7) ||
					 (line && (key_is(key, keylen, "metric", 6) ||
							   key_is(key, keylen, "effect", 6))))
				return false;
		}
		skip_space(&p, end);
		if (p == end)
			return false;
		if (*p == '}')
			break;
		if (*p != ',')
			return false;
		p++;
		skip_space(&p, end);
	}
	p++;
	skip_space(&p, end);
	if (p != end || user_id == NULL || name == NULL)
		return false;

	if (ev_check_user_id(user_id, (size_t) user_id_len) != NULL ||
		ev_check_name(name, (size_t) name_len) != NULL)
		return false;
	if (event_id != NULL &&
		ev_check_event_id(event_id, (size_t) event_id_len) != NULL)
		return false;
	/*
	 * The full parser rejects invalid UTF-8 anywhere in the body; outside
	 * its strings, the body is ASCII (white space, punctuation, numbers).
	 */
	if (non_ascii && !ev_utf8_valid(buf, len))
		return false;

	ev->has_value = has_value;
	ev->value = value;
	if (ev_line_type(ev, metric, (size_t) metric_len,
					 effect, (size_t) effect_len) != NULL)
		return false;
	memcpy(ev->name, name, (size_t) name_len);
	ev->name[name_len] = '\0';
	ev->name_len = (size_t) name_len;
	memcpy(ev->user_id, user_id, (size_t) user_id_len);
	ev->user_id[user_id_len] = '\0';
	ev->user_id_len = (size_t) user_id_len;
	ev->event_id_len = event_id != NULL ? (size_t) event_id_len : 0;
	if (event_id != NULL)
		memcpy(ev->event_id, event_id, (size_t) event_id_len);
	ev->event_id[ev->event_id_len] = '\0';
	return true;
}
