/*-------------------------------------------------------------------------
 *
 * line.c
 *	  A journal line, written and read: journal_line_format writes an
 *	  event's line, and journal_line_parse reads one back, lines as
 *	  evproc writes them without json-c (the fast path), anything else
 *	  with the parsers of core/event.c.
 *
 * The writer and the fast reader share the literals of line.h, so the
 * layout is written once.  Backend-free (libc, and json-c through
 * core/): no PostgreSQL symbol, unit tested and fuzzed without a server.
 *
 *-------------------------------------------------------------------------
 */
#include "core/event_int.h"
#include "journal/line.h"

#include <stdio.h>
#include <string.h>

#ifdef POSTGRES_H
#error "line.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* EXPECT advances *p past the literal lit if the input continues with it */
#define EXPECT(p, end, lit) ev_expect_literal(p, end, lit, LINE_LEN(lit))

/* put appends s[0..len) at *o if it fits before end */
static inline bool
put(char **o, const char *end, const char *s, size_t len)
{
	if ((size_t) (end - *o) < len)
		return false;
	memcpy(*o, s, len);
	*o += len;
	return true;
}

/* the longest quoted string a line holds (ev_json_quote's worst case) */
#define QUOTED_MAX(n)		((n) * 6 + 3)
#define LINE_QUOTED_MAX		QUOTED_MAX(EV_USER_ID_MAX)
_Static_assert(EV_USER_ID_MAX >= EV_EVENT_ID_MAX &&
			   EV_USER_ID_MAX >= EV_ADDR_BUFSZ,
			   "the user id is the longest string a line quotes");

/*
 * put_quoted appends s[0..len) as a quoted JSON string.  ev_json_quote
 * wants room for the worst case: near the end of out, it quotes into a
 * buffer of its own first.
 */
static inline bool
put_quoted(char **o, const char *end, const char *s, size_t len)
{
	char		tmp[LINE_QUOTED_MAX];
	size_t		n;

	if (len > (LINE_QUOTED_MAX - 3) / 6)
		return false;
	if ((size_t) (end - *o) >= QUOTED_MAX(len) + 8)
	{
		n = ev_json_quote(s, len, *o, (size_t) (end - *o));
		*o += n;
		return n > 0;
	}
	n = ev_json_quote(s, len, tmp, sizeof(tmp));
	return n > 0 && put(o, end, tmp, n);
}

/* put_plain appends s[0..len) in quotes: text that needs no escaping */
static inline bool
put_plain(char **o, const char *end, const char *s, size_t len)
{
	return put(o, end, "\"", 1) && put(o, end, s, len) && put(o, end, "\"", 1);
}

/* PUT_LIT appends a literal of line.h */
#define PUT_LIT(o, end, lit)	put(o, end, lit, LINE_LEN(lit))

/*
 * journal_line_tail writes the end of the lines of one request's events
 * (see line.h): the receive time, which needs no escaping, and the client
 * address, quoted.  Returns false if they do not fit.
 */
bool
journal_line_tail(const char *received_at, const char *client_addr,
				  JournalLineTail *tail)
{
	char	   *o = tail->text;
	const char *end = tail->text + sizeof(tail->text);
	bool		ok;

	ok = PUT_LIT(&o, end, LINE_RECEIVED_AT) &&
		put_plain(&o, end, received_at, strlen(received_at)) &&
		PUT_LIT(&o, end, LINE_CLIENT_ADDR) &&
		put_quoted(&o, end, client_addr, strlen(client_addr)) &&
		PUT_LIT(&o, end, LINE_END "\n");
	tail->len = ok ? (size_t) (o - tail->text) : 0;
	return ok;
}

/* journal_line_short_tail sets tail to the end of a line after a receipt */
void
journal_line_short_tail(JournalLineTail *tail)
{
	memcpy(tail->text, LINE_SHORT_TAIL, LINE_LEN(LINE_SHORT_TAIL));
	tail->len = LINE_LEN(LINE_SHORT_TAIL);
}

/*
 * journal_line_receipt writes the receipt line of a request's events (see
 * line.h), its tail (from journal_line_tail) as an object of its own, and
 * returns its length (0 if it does not fit).
 */
size_t
journal_line_receipt(const JournalLineTail *tail, char *out, size_t outlen)
{
	char	   *o = out;
	const char *end = out + outlen - 1;	/* room for the final '\0' */
	size_t		skip = LINE_LEN(LINE_RECEIVED_AT);

	/* a tail of journal_line_tail starts with LINE_RECEIVED_AT */
	if (outlen == 0 || tail->len <= skip ||
		!PUT_LIT(&o, end, LINE_RECEIPT) ||
		!put(&o, end, tail->text + skip, tail->len - skip))
		return 0;
	*o = '\0';
	return (size_t) (o - out);
}

/*
 * journal_line_format_tail writes the journal line of a typed event, ending
 * with tail (its receive time and client address, and the newline; or only
 * LINE_SHORT_TAIL after a receipt line), and
 * returns its length (0 if it does not fit, or if the event is untyped or
 * has a name, metric or effect that the rules refuse).  The line keeps the
 * event's fields and records the type the event was accepted with (so that
 * ingest counts it as it was acknowledged, whatever the definitions are by
 * then), in the layout of line.h.
 *
 * The value is always written: 0 for a count event without one.  Names,
 * metrics and effects need no escaping (see ev_check_name); the user and
 * eventId are quoted.
 */
size_t
journal_line_format_tail(const EvEvent *ev, const JournalLineTail *tail,
						 char *out, size_t outlen)
{
	char		value[EV_DECIMAL_BUFSZ];
	const char *effect = ev_effect_name(ev->effect);
	char	   *o = out;
	const char *end = out + outlen - 1;	/* room for the final '\0' */
	bool		ok;

	if (outlen == 0 || tail->len == 0 || !ev->typed || effect == NULL ||
		ev_check_name(ev->name, ev->name_len) != NULL ||
		ev_check_metric(ev->metric, ev->metric_len) != NULL)
		return 0;
	/* one append after another, as snprintf would, without its cost */
	ok = PUT_LIT(&o, end, LINE_USER_ID) &&
		put_quoted(&o, end, ev->user_id, ev->user_id_len) &&
		PUT_LIT(&o, end, LINE_NAME) &&
		put_plain(&o, end, ev->name, ev->name_len) &&
		PUT_LIT(&o, end, LINE_VALUE) &&
		put(&o, end, value, ev_decimal_format(ev->value, value)) &&
		PUT_LIT(&o, end, LINE_METRIC) &&
		put_plain(&o, end, ev->metric, ev->metric_len) &&
		PUT_LIT(&o, end, LINE_EFFECT) &&
		put_plain(&o, end, effect, strlen(effect));
	if (ok && ev->event_id_len > 0)
		ok = PUT_LIT(&o, end, LINE_EVENT_ID) &&
			put_quoted(&o, end, ev->event_id, ev->event_id_len);
	if (!(ok && put(&o, end, tail->text, tail->len)))
		return 0;
	*o = '\0';
	return (size_t) (o - out);
}

/*
 * journal_line_format writes the journal line of a typed event received at
 * received_at from client_addr: journal_line_format_tail for one event.
 */
size_t
journal_line_format(const EvEvent *ev, const char *received_at,
					const char *client_addr, char *out, size_t outlen)
{
	JournalLineTail tail;

	if (!journal_line_tail(received_at, client_addr, &tail))
		return 0;
	return journal_line_format_tail(ev, &tail, out, outlen);
}

/*
 * take_string reads the JSON string at *p (its opening quote already
 * taken) into dst if it is plain (see ev_plain_string) and check accepts
 * it; dst has room for any string check accepts.
 */
static inline bool
take_string(const char **p, const char *end, bool *non_ascii,
			const char *(*check) (const char *s, size_t len),
			char *dst, size_t *dstlen)
{
	const char *s = *p;
	long		n = ev_plain_string(p, end, non_ascii);

	if (n < 0 || check(s, (size_t) n) != NULL)
		return false;
	memcpy(dst, s, (size_t) n);
	dst[n] = '\0';
	*dstlen = (size_t) n;
	return true;
}

/*
 * tail_rest reads the rest of a line's tail (or of a receipt line) after
 * the opening quote of its receive time, up to the line's end, as
 * journal_line_tail writes it.
 */
static bool
tail_rest(const char **p, const char *end, bool *non_ascii)
{
	return ev_plain_string(p, end, non_ascii) >= 0 &&
		EXPECT(p, end, LINE_CLIENT_ADDR "\"") &&
		ev_plain_string(p, end, non_ascii) >= 0 &&
		EXPECT(p, end, LINE_END) && *p == end;
}

/*
 * parse_fast parses a line exactly as evproc writes it to the journal (see
 * journal_line_format), without json-c; also without "metric" and
 * "effect", as older versions wrote it, and without the receive time and
 * client, as after a receipt line.  It returns false for anything
 * else, and the caller then uses the full parser, so it only needs to be
 * right about what it accepts: the lines it accepts are valid JSON that
 * the full parser reads to the same event (the fuzz target checks this).
 */
static bool
parse_fast(const char *line, size_t len, EvEvent *ev)
{
	const char *p = line;
	const char *end = line + len;
	const char *s;
	long		n;
	bool		non_ascii = false;

	if (!EXPECT(&p, end, LINE_USER_ID "\"") ||
		!take_string(&p, end, &non_ascii, ev_check_user_id,
					 ev->user_id, &ev->user_id_len) ||
		!EXPECT(&p, end, LINE_NAME "\"") ||
		!take_string(&p, end, &non_ascii, ev_check_name,
					 ev->name, &ev->name_len))
		return false;

	if (!EXPECT(&p, end, LINE_VALUE))
		return false;
	s = p;
	while (p < end && *p != ',' && *p != '}')
		p++;
	if (ev_decimal_parse(s, (size_t) (p - s), &ev->value) != NULL)
		return false;
	ev->has_value = true;

	ev_clear_type(ev);
	if (EXPECT(&p, end, LINE_METRIC "\""))
	{
		const char *effect;
		long		elen;

		s = p;
		n = ev_plain_string(&p, end, &non_ascii);
		if (n < 0 || !EXPECT(&p, end, LINE_EFFECT "\""))
			return false;
		effect = p;
		elen = ev_plain_string(&p, end, &non_ascii);
		if (elen < 0 ||
			ev_line_type(ev, s, (size_t) n, effect, (size_t) elen) != NULL)
			return false;
	}

	ev->event_id[0] = '\0';
	ev->event_id_len = 0;
	if (EXPECT(&p, end, LINE_EVENT_ID "\"") &&
		!take_string(&p, end, &non_ascii, ev_check_event_id,
					 ev->event_id, &ev->event_id_len))
		return false;

	/* the receive time and client, unless a receipt line before has them */
	if (!(p + LINE_LEN(LINE_END) == end && EXPECT(&p, end, LINE_END)) &&
		!(EXPECT(&p, end, LINE_RECEIVED_AT "\"") &&
		  tail_rest(&p, end, &non_ascii)))
		return false;

	/*
	 * The full parser rejects invalid UTF-8 anywhere in the line; outside
	 * its strings, the line is ASCII (literals and a number).
	 */
	return !non_ascii || ev_utf8_valid(line, len);
}

/*
 * is_receipt: is the line a receipt line exactly as journal_line_receipt
 * writes it?
 */
static bool
is_receipt(const char *line, size_t len)
{
	const char *p = line;
	const char *end = line + len;
	bool		non_ascii = false;

	return EXPECT(&p, end, LINE_RECEIPT "\"") &&
		tail_rest(&p, end, &non_ascii) &&
		(!non_ascii || ev_utf8_valid(line, len));
}

/*
 * journal_line_skipped: is the line no event, but no error either (skipped,
 * not rejected)?  That is a line of only white space, or a receipt line as
 * evproc writes it; anything else that is no event is rejected.
 */
bool
journal_line_skipped(const char *line, size_t len)
{
	if (len > 0 && line[0] == '{')
		return is_receipt(line, len);
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

/*
 * journal_line_parse parses one line of a journal file: a line written by
 * evproc takes the fast path, anything else (a dropped file, a torn line)
 * the full parser, with the same result either way.  A line that records
 * the type of its event ("metric" and "effect") gives a typed event; one
 * that does not, an untyped event whose value may be missing, as from
 * ev_parse_event.
 */
bool
journal_line_parse(EvParser *parser, const char *line, size_t len,
				   EvEvent *ev, char *errbuf, size_t errlen)
{
	if (ev_parser_fast(parser) && parse_fast(line, len, ev))
		return true;
	return ev_parse_typed(parser, line, len, ev, errbuf, errlen);
}
