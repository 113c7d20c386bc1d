/*-------------------------------------------------------------------------
 *
 * event_int.h
 *	  The interface among the event modules (event.c, event_fast.c,
 *	  event_type.c) and the journal line reader (journal/line.c): not for
 *	  other callers, which use event.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_EVENT_INT_H
#define EVPROC_EVENT_INT_H

#include "core/event.h"

#include <string.h>

/* ev_clear_type: the event's type is not known (yet) */
static inline void
ev_clear_type(EvEvent *ev)
{
	ev->typed = false;
	ev->metric[0] = '\0';
	ev->metric_len = 0;
	ev->effect = EV_EFFECT_ADD;
}

/* ev_skip_space advances *p past JSON white space, up to end */
static inline void
ev_skip_space(const char **p, const char *end)
{
	while (*p < end && ev_is_json_space(**p))
		(*p)++;
}

/*
 * ev_expect_literal advances *p past lit if the input continues with it.
 * Inlined, so that the memcmp of a literal's constant length is too.
 */
static inline bool
ev_expect_literal(const char **p, const char *end, const char *lit,
				  size_t litlen)
{
	if ((size_t) (end - *p) < litlen || memcmp(*p, lit, litlen) != 0)
		return false;
	*p += litlen;
	return true;
}

/*
 * ev_plain_string scans a JSON string body without escapes or control
 * characters, up to its closing quote, which *p is left past.  Returns its
 * length, or -1 if the string is not that simple.  Sets *non_ascii if the
 * string may hold a byte above 0x7f (the caller then checks the UTF-8).
 * Eight bytes are taken at a time, up to the first that ends the scan.
 */
static inline long
ev_plain_string(const char **p, const char *end, bool *non_ascii)
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

/* event_type.c */
extern const char *ev_line_type(EvEvent *ev, const char *metric, size_t mlen,
								const char *effect, size_t elen);

/* event_fast.c */
extern bool ev_fast_parse_event(const char *buf, size_t len, bool line,
								EvEvent *ev);
extern bool ev_fast_parse_object(const char **pp, const char *end, bool line,
								 EvEvent *ev);

#endif							/* EVPROC_EVENT_INT_H */
