/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  What evproc accepts as input (validate.c): the rules of an event's
 *	  userId, name and eventId, of an event type's metric and effect, of
 *	  UTF-8 and of JSON text, and the userId of a request path.
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
#include <stdint.h>

#include "core/evlimits.h"

/*
 * What an event of a type does to its metric: add its value, subtract its
 * value, or count one (the value is optional and ignored).
 */
typedef enum EvEffect
{
	EV_EFFECT_ADD,
	EV_EFFECT_SUBTRACT,
	EV_EFFECT_COUNT
} EvEffect;

/* JSON's white space (RFC 8259) */
static inline bool
ev_is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ev_zero_bytes: the high bit of each byte of w that is zero, exactly */
static inline uint64_t
ev_zero_bytes(uint64_t w)
{
	const uint64_t low7 = UINT64_C(0x7f7f7f7f7f7f7f7f);

	return ~(((w & low7) + low7) | w) & ~low7;
}

/* The fields of an event. */
extern const char *ev_check_user_id(const char *s, size_t len);
extern const char *ev_check_event_id(const char *s, size_t len);
extern const char *ev_check_name(const char *s, size_t len);

/* The fields of an event type: its metric and effect. */
extern const char *ev_check_metric(const char *s, size_t len);
extern bool ev_parse_effect(const char *s, size_t len, EvEffect *effect);

/* the message for an effect ev_parse_effect refuses */
#define EV_EFFECT_ERROR \
	"effect must be \"add\", \"subtract\" or \"count\""
extern const char *ev_effect_name(EvEffect effect);

/* Text. */
extern bool ev_utf8_valid(const char *s, size_t len);
extern bool ev_check_json_text(const char *buf, size_t len, char *errbuf,
							   size_t errlen);

/* The userId segment of a request path. */
extern const char *ev_decode_user_id(const char *in, char *out, size_t *outlen);

#endif							/* EVPROC_VALIDATE_H */
