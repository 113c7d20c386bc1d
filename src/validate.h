/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  What evproc accepts as input (validate.c): the rules of an event's
 *	  userId, name and eventId, of UTF-8 and of JSON text, and the userId
 *	  of a request path.
 *
 * Every path that reads an event (the full json-c parser, the two fast
 * paths of event.c, the URL decoder of GET /userEvents/:userId) calls
 * these functions rather than repeating a rule, so all of them accept and
 * refuse the same strings with the same words.  The checks return NULL
 * when the input is acceptable, else a static client-facing message that
 * names the field.
 *
 * Backend-free: included by backend files too (through event.h), so it
 * declares nothing of PostgreSQL's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_VALIDATE_H
#define EVPROC_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "evlimits.h"

typedef enum EvKind
{
	EV_ADD_REVENUE,
	EV_SUBTRACT_REVENUE
} EvKind;

/* JSON's white space (RFC 8259) */
static inline bool
ev_is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The fields of an event. */
extern const char *ev_check_user_id(const char *s, size_t len);
extern const char *ev_check_event_id(const char *s, size_t len);
extern const char *ev_check_name(const char *s, size_t len, EvKind *kind);

/* Text. */
extern bool ev_utf8_valid(const char *s, size_t len);
extern bool ev_check_json_text(const char *buf, size_t len, char *errbuf,
							   size_t errlen);

/* The userId segment of a request path. */
extern const char *ev_decode_user_id(const char *in, char *out, size_t *outlen);

#endif							/* EVPROC_VALIDATE_H */
