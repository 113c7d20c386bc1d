/*-------------------------------------------------------------------------
 *
 * event.h
 *	  Revenue events: parsing, validation, exact decimals, and the small
 *	  JSON and URL helpers shared by the HTTP server and the ingester.
 *
 * This module is backend-free: it depends only on libc and json-c, so that
 * it can be unit tested and fuzzed without a PostgreSQL server.  Functions
 * report problems by returning a message (static or written into a caller's
 * buffer); they never allocate memory that outlives the call, except in
 * EvParser, which owns one reusable json-c tokener.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_EVENT_H
#define EVPROC_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Limits of an event, part of the public interface (see README).
 *
 * Values are exact decimals held as 128-bit integers scaled by 10^9: at most
 * EV_INT_DIGITS digits before the decimal point and EV_FRAC_DIGITS after it
 * (after trailing zeros are dropped), and a literal of at most
 * EV_LITERAL_DIGITS digits.  Anything else is rejected, never rounded.
 */
#define EV_USER_ID_MAX		255
#define EV_EVENT_ID_MAX		128
#define EV_INT_DIGITS		18
#define EV_FRAC_DIGITS		9
#define EV_LITERAL_DIGITS	100
#define EV_SCALE			((int64_t) 1000000000)

/* buffer sizes */
#define EV_DECIMAL_BUFSZ	64	/* a formatted ev_int128, sign and NUL */
#define EV_TIMESTAMP_BUFSZ	32	/* 2026-11-22T05:00:00.123456Z */
#define EV_ADDR_BUFSZ		64	/* an IPv4 or IPv6 address as text */
#define EV_LINE_MAX			3072	/* a journal line written by evproc */
#define EV_ERROR_BUFSZ		256

typedef __int128 ev_int128;

typedef enum EvKind
{
	EV_ADD_REVENUE,
	EV_SUBTRACT_REVENUE
} EvKind;

/* A validated event. */
typedef struct EvEvent
{
	char		user_id[EV_USER_ID_MAX + 1];	/* NUL-terminated, no inner NUL */
	size_t		user_id_len;
	EvKind		kind;
	ev_int128	value;			/* >= 0, scaled by EV_SCALE */
	char		event_id[EV_EVENT_ID_MAX + 1];	/* "" if none */
	size_t		event_id_len;
} EvEvent;

/* Parser state: one reusable json-c tokener. */
typedef struct EvParser EvParser;

extern EvParser *ev_parser_create(void);
extern void ev_parser_free(EvParser *parser);
extern void ev_parser_set_fast(EvParser *parser, bool fast);

/*
 * ev_parse_event parses and validates one JSON event from buf[0..len).
 * Returns true and fills *ev on success; otherwise writes a client-facing
 * message (which names the offending field) into errbuf and returns false.
 */
extern bool ev_parse_event(EvParser *parser, const char *buf, size_t len,
						   EvEvent *ev, char *errbuf, size_t errlen);

extern bool ev_parse_line(EvParser *parser, const char *line, size_t len,
						  EvEvent *ev, char *errbuf, size_t errlen);
extern bool ev_parse_batch(EvParser *parser, const char *buf, size_t len,
						   bool ndjson, size_t max_events,
						   EvEvent **events, size_t *nevents, bool *is_batch,
						   long *bad_index, char *errbuf, size_t errlen);

/* The signed amount an event adds to its user's revenue. */
static inline ev_int128
ev_event_delta(const EvEvent *ev)
{
	return ev->kind == EV_ADD_REVENUE ? ev->value : -ev->value;
}

/* Exact decimals. */
extern const char *ev_decimal_parse(const char *s, size_t len, ev_int128 *out);
extern size_t ev_decimal_format(ev_int128 value, char *buf);

/* JSON output. */
extern size_t ev_json_quote(const char *s, size_t len, char *out, size_t outlen);
extern size_t ev_json_error(const char *message, char *out, size_t outlen);
extern size_t ev_format_journal_line(const EvEvent *ev, const char *received_at,
									 const char *client_addr,
									 char *out, size_t outlen);
extern size_t ev_format_timestamp(const struct timespec *ts, char *out);

/* Input checks. */
extern bool ev_utf8_valid(const char *s, size_t len);
extern const char *ev_decode_user_id(const char *in, char *out, size_t *outlen);

#endif							/* EVPROC_EVENT_H */
