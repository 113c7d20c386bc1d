/*-------------------------------------------------------------------------
 *
 * event.h
 *	  Events: the EvEvent, its parsers (event.c) and JSON text (format.c);
 *	  with decimal.h (exact values), validate.h (the rules of the fields,
 *	  UTF-8, the URL's userId) and evlimits.h (the protocol's limits), the
 *	  interface of the event modules for the HTTP server and the ingester.
 *
 * These modules are backend-free: they depend only on libc and json-c, so
 * that they can be unit tested and fuzzed without a PostgreSQL server; each
 * of their .c files refuses to compile if PostgreSQL's postgres.h is
 * included (the headers cannot: backend files include them after it).
 * Functions report problems by returning a message (static or written into
 * a caller's buffer); they never allocate memory that outlives the call,
 * except in EvParser, which owns one reusable json-c tokener.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_EVENT_H
#define EVPROC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/decimal.h"
#include "core/evlimits.h"
#include "core/validate.h"

/* buffer sizes */
#define EV_TIMESTAMP_BUFSZ	32	/* 2026-11-22T05:00:00.123456Z */
#define EV_ADDR_BUFSZ		64	/* an IPv4 or IPv6 address as text */
#define EV_ERROR_BUFSZ		256

/*
 * A validated event.  Its type (the metric it changes and how) is not in
 * what a client sends, only its name: the parsers of a request body leave
 * typed false, and the server resolves the name with ev_set_type.  A
 * journal line records the type the event was accepted with, and
 * journal_line_parse reads it back (typed true); a line without one
 * (written by an older version, or in a file dropped by hand) leaves typed
 * false.
 */
typedef struct EvEvent
{
	char		user_id[EV_USER_ID_MAX + 1];	/* NUL-terminated, no inner NUL */
	size_t		user_id_len;
	char		name[EV_NAME_MAX + 1];	/* NUL-terminated, ev_check_name */
	size_t		name_len;
	bool		has_value;		/* "value" was given */
	ev_int128	value;			/* >= 0, scaled by EV_SCALE; 0 if !has_value */
	bool		typed;			/* metric and effect are known */
	char		metric[EV_NAME_MAX + 1];	/* NUL-terminated; "" if !typed */
	size_t		metric_len;
	EvEffect	effect;
	char		event_id[EV_EVENT_ID_MAX + 1];	/* "" if none */
	size_t		event_id_len;
} EvEvent;

/* Parser state: one reusable json-c tokener. */
typedef struct EvParser EvParser;

extern EvParser *ev_parser_create(void);
extern void ev_parser_free(EvParser *parser);
extern void ev_parser_set_fast(EvParser *parser, bool fast);
extern bool ev_parser_fast(const EvParser *parser);

/*
 * ev_parse_event parses and validates one JSON event from buf[0..len).
 * Returns true and fills *ev (typed false) on success; otherwise writes a
 * client-facing message (which names the offending field) into errbuf and
 * returns false.  Any name that passes ev_check_name is accepted, and the
 * value is optional: whether the type exists and needs a value is for
 * ev_set_type to say.
 */
extern bool ev_parse_event(EvParser *parser, const char *buf, size_t len,
						   EvEvent *ev, char *errbuf, size_t errlen);

extern bool ev_parse_typed(EvParser *parser, const char *buf, size_t len,
						   EvEvent *ev, char *errbuf, size_t errlen);
extern bool ev_parse_batch(EvParser *parser, const char *buf, size_t len,
						   bool ndjson, size_t max_events,
						   EvEvent **events, size_t *nevents, bool *is_batch,
						   long *bad_index, char *errbuf, size_t errlen);

extern const char *ev_set_type(EvEvent *ev, const char *metric,
							   size_t metric_len, EvEffect effect);

/*
 * The signed amount an event adds to its metric, scaled by EV_SCALE: its
 * value, minus its value, or one.  Only meaningful when ev->typed.
 */
static inline ev_int128
ev_event_delta(const EvEvent *ev)
{
	switch (ev->effect)
	{
		case EV_EFFECT_ADD:
			return ev->value;
		case EV_EFFECT_SUBTRACT:
			return -ev->value;
		default:
			return EV_SCALE;
	}
}

/* JSON output (format.c); a journal line is journal/line.c's. */
extern size_t ev_json_quote(const char *s, size_t len, char *out, size_t outlen);
extern size_t ev_json_error(const char *message, char *out, size_t outlen);
extern size_t ev_format_timestamp(const struct timespec *ts, char *out);

#endif							/* EVPROC_EVENT_H */
