/*-------------------------------------------------------------------------
 *
 * fuzz_event.c
 *	  libFuzzer target for the backend-free input handling: the event
 *	  parser/validator and the URL user id decoder.
 *
 * The first input byte picks the target (user id, event, JSON batch or
 * NDJSON batch); the rest is the input.  Besides
 * not crashing, the target checks properties: the fast paths for journal
 * lines and plain events give exactly what the full json-c parser gives
 * (events, errors, the index of a bad event), an untyped event formats to
 * nothing, a typed one (ev_set_type, with the effect the first byte picks)
 * to a journal line that parses back, with the fast path and without, to
 * the same event and type (also without its tail, after a receipt line,
 * which ingest skips: a skipped line is never an event), a decoded user id
 * is valid UTF-8 without NUL, and the strings of an accepted input hold no
 * raw control character or lone surrogate escape (a plain bytewise reading,
 * string_problems, which also backs every such error message).
 *
 *	  make fuzz && test/fuzz/fuzz_event -runs=10000000 test/fuzz/corpus
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "journal/line.h"

static EvParser *parser;		/* with the fast paths */
static EvParser *full_parser;	/* json-c only */

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * same_event: do two parsed events agree in every field?  With
 * any_has_value, has_value may differ (a line always has a value).
 */
static int
same_event_as(const EvEvent *a, const EvEvent *b, bool any_has_value)
{
	return (any_has_value || a->has_value == b->has_value) &&
		a->value == b->value &&
		a->user_id_len == b->user_id_len &&
		memcmp(a->user_id, b->user_id, a->user_id_len + 1) == 0 &&
		a->name_len == b->name_len &&
		memcmp(a->name, b->name, a->name_len + 1) == 0 &&
		a->typed == b->typed &&
		a->metric_len == b->metric_len &&
		memcmp(a->metric, b->metric, a->metric_len + 1) == 0 &&
		(!a->typed || a->effect == b->effect) &&
		a->event_id_len == b->event_id_len &&
		memcmp(a->event_id, b->event_id, a->event_id_len + 1) == 0;
}

static int
same_event(const EvEvent *a, const EvEvent *b)
{
	return same_event_as(a, b, false);
}

/* valid_event: the invariants of every event a parser accepts */
static void
check_valid_event(const EvEvent *ev)
{
	if (ev_check_user_id(ev->user_id, ev->user_id_len) != NULL ||
		ev_check_name(ev->name, ev->name_len) != NULL ||
		(ev->event_id_len > 0 &&
		 ev_check_event_id(ev->event_id, ev->event_id_len) != NULL) ||
		ev->value < 0 || (!ev->has_value && ev->value != 0))
		abort();
	if (ev->typed ? (ev_check_metric(ev->metric, ev->metric_len) != NULL ||
					 ev_effect_name(ev->effect) == NULL ||
					 (ev->effect != EV_EFFECT_COUNT && !ev->has_value)) :
		ev->metric_len != 0)
		abort();
}

#define RAW_CONTROL		1
#define LONE_SURROGATE	2

/* hex4: the four hex digits at s as a number, or -1 */
static long
hex4(const char *s, size_t n)
{
	long		v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++)
	{
		char		c = s[i];
		int			d = c >= '0' && c <= '9' ? c - '0' :
			c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * string_problems reads the strings of s[0..len) a byte at a time and
 * returns RAW_CONTROL and LONE_SURROGATE for what it finds in any of them.
 */
static int
string_problems(const char *s, size_t len)
{
	int			found = 0;
	bool		in_string = false;

	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!in_string)
			in_string = c == '"';
		else if (c == '"')
			in_string = false;
		else if (c < 0x20)
			found |= RAW_CONTROL;
		else if (c == '\\' && i + 1 < len && s[i + 1] == 'u' &&
				 hex4(s + i + 2, len - i - 2) >= 0)
		{
			long		u = hex4(s + i + 2, len - i - 2);
			long		low = i + 7 < len && s[i + 6] == '\\' && s[i + 7] == 'u' ?
				hex4(s + i + 8, len - i - 8) : -1;

			if (u >= 0xd800 && u <= 0xdbff && low >= 0xdc00 && low <= 0xdfff)
				i += 11;
			else if (u >= 0xd800 && u <= 0xdfff)
			{
				found |= LONE_SURROGATE;
				i += 5;
			}
			else
				i += 5;
		}
		else if (c == '\\' && i + 1 < len &&
				 (unsigned char) s[i + 1] >= 0x20 && (unsigned char) s[i + 1] < 0x80)
			i++;
	}
	return found;
}

/*
 * check_string_problems: an accepted input has none; an error about one
 * comes with it in the input.
 */
static void
check_string_problems(const char *in, size_t len, bool ok, const char *err)
{
	int			found = string_problems(in, len);

	if (ok && found != 0)
		abort();
	if (!ok && strstr(err, "raw control character") != NULL &&
		!(found & RAW_CONTROL))
		abort();
	if (!ok && strstr(err, "lone surrogate") != NULL &&
		!(found & LONE_SURROGATE))
		abort();
}

/*
 * check_event_round_trip: an untyped event is not written; typed (with
 * its name as metric and the effect pick chooses, if it has none yet), it
 * is, and parses back to itself, typed, with both parsers.
 */
static void
check_event_round_trip(const EvEvent *in, uint8_t pick)
{
	char		line[EV_LINE_MAX];
	char		err[EV_ERROR_BUFSZ];
	EvEvent		ev = *in;
	EvEvent		again;
	size_t		len;
	EvEffect	effect = (EvEffect) ((pick >> 2) % 3);
	const char *msg;
	JournalLineTail tail;

	check_valid_event(&ev);
	if (!ev.typed)
	{
		if (journal_line_format(&ev, "2026-01-01T00:00:00.000000Z",
								"127.0.0.1", line, sizeof(line)) != 0)
			abort();
		msg = ev_set_type(&ev, ev.name, ev.name_len, effect);
		if (msg != NULL)
		{
			/* only a missing value, and the event is left alone */
			if (strcmp(msg, "value is required") != 0 ||
				effect == EV_EFFECT_COUNT || ev.has_value ||
				!same_event(&ev, in))
				abort();
			if (ev_set_type(&ev, ev.name, ev.name_len, EV_EFFECT_COUNT) != NULL)
				abort();
		}
		if (!ev.typed)
			abort();
		check_valid_event(&ev);
	}
	if (ev_event_delta(&ev) != (ev.effect == EV_EFFECT_ADD ? ev.value :
								ev.effect == EV_EFFECT_SUBTRACT ? -ev.value :
								EV_SCALE))
		abort();
	len = journal_line_format(&ev, "2026-01-01T00:00:00.000000Z",
							  "127.0.0.1", line, sizeof(line));
	if (len == 0 || line[len - 1] != '\n')
		abort();
	if (!journal_line_parse(full_parser, line, len - 1, &again, err,
							sizeof(err)) ||
		!same_event_as(&again, &ev, true) || !again.has_value)
		abort();
	if (!journal_line_parse(parser, line, len - 1, &again, err, sizeof(err)) ||
		!same_event_as(&again, &ev, true) || !again.has_value)
		abort();

	/* after a receipt line (a skipped line), without the tail: the same */
	if (!journal_line_tail("2026-01-01T00:00:00.000000Z", "127.0.0.1", &tail) ||
		(len = journal_line_receipt(&tail, line, sizeof(line))) == 0 ||
		line[len - 1] != '\n' || !journal_line_skipped(line, len - 1))
		abort();
	journal_line_short_tail(&tail);
	len = journal_line_format_tail(&ev, &tail, line, sizeof(line));
	if (len == 0 || line[len - 1] != '\n' ||
		!journal_line_parse(full_parser, line, len - 1, &again, err,
							sizeof(err)) ||
		!same_event_as(&again, &ev, true) || !again.has_value ||
		!journal_line_parse(parser, line, len - 1, &again, err, sizeof(err)) ||
		!same_event_as(&again, &ev, true) || !again.has_value)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data + 1;

	if (parser == NULL)
	{
		parser = ev_parser_create();
		full_parser = ev_parser_create();
		ev_parser_set_fast(full_parser, false);
	}
	if (size == 0)
		return 0;

	/*
	 * Events and batches: the parser with its fast paths must give exactly
	 * the result of the full parser alone (events, errors and index).
	 */
	if ((data[0] & 3) >= 2)
	{
		EvEvent    *events;
		EvEvent    *full_events;
		size_t		n;
		size_t		full_n;
		bool		is_batch;
		bool		full_is_batch;
		long		bad;
		long		full_bad;
		char		err[EV_ERROR_BUFSZ];
		char		full_err[EV_ERROR_BUFSZ];
		bool		ok = ev_parse_batch(parser, in, size - 1, (data[0] & 3) == 3,
										100, &events, &n, &is_batch,
										&bad, err, sizeof(err));
		bool		full_ok = ev_parse_batch(full_parser, in, size - 1,
											 (data[0] & 3) == 3, 100,
											 &full_events, &full_n,
											 &full_is_batch, &full_bad,
											 full_err, sizeof(full_err));

		if (ok != full_ok)
			abort();
		check_string_problems(in, size - 1, ok, err);
		if (ok)
		{
			if (n == 0 || n > 100 || n != full_n || is_batch != full_is_batch)
				abort();
			for (size_t i = 0; i < n; i++)
			{
				if (!same_event(&events[i], &full_events[i]) || events[i].typed)
					abort();
				check_event_round_trip(&events[i], data[0]);
			}
			free(events);
			free(full_events);
		}
		else if (err[0] == '\0' || bad >= 100 || bad != full_bad ||
				 strcmp(err, full_err) != 0)
			abort();
	}
	else if (data[0] & 1)
	{
		EvEvent		ev;
		EvEvent		full;
		char		err[EV_ERROR_BUFSZ];
		char		full_err[EV_ERROR_BUFSZ];
		bool		ok = journal_line_parse(parser, in, size - 1, &ev, err, sizeof(err));
		bool		full_ok = journal_line_parse(full_parser, in, size - 1, &full,
												 full_err, sizeof(full_err));

		/* the journal and event fast paths must agree with the full parser */
		if (ok != full_ok)
			abort();
		/* a line ingest skips (blank, a receipt) is never an event */
		if (ok && journal_line_skipped(in, size - 1))
			abort();
		check_string_problems(in, size - 1, ok, err);
		if (ok && !same_event(&ev, &full))
			abort();
		if (ok)
			check_event_round_trip(&ev, data[0]);
		else if (err[0] == '\0' || strcmp(err, full_err) != 0)
			abort();
	}
	else
	{
		char	   *id = malloc(size);
		char		out[EV_USER_ID_MAX + 1];
		size_t		outlen;

		memcpy(id, data + 1, size - 1);
		id[size - 1] = '\0';
		if (ev_decode_user_id(id, out, &outlen) == NULL)
		{
			if (outlen == 0 || outlen > EV_USER_ID_MAX ||
				memchr(out, '\0', outlen) != NULL ||
				!ev_utf8_valid(out, outlen))
				abort();
		}
		free(id);
	}
	return 0;
}
