/*-------------------------------------------------------------------------
 *
 * decimal.h
 *	  Exact decimals of event values (decimal.c).
 *
 * A value is held as a 128-bit integer scaled by EV_SCALE (10^9, one unit
 * per digit after the decimal point that evlimits.h allows).  Backend-free:
 * included by backend files too, so it declares nothing of PostgreSQL's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_DECIMAL_H
#define EVPROC_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/evlimits.h"

#define EV_SCALE			((int64_t) 1000000000)	/* 10^EV_FRAC_DIGITS */
#define EV_DECIMAL_BUFSZ	64	/* a formatted ev_int128, sign and NUL */

typedef __int128 ev_int128;

extern const char *ev_decimal_parse(const char *s, size_t len, ev_int128 *out);
extern const char *ev_decimal_from_int64(int64_t v, ev_int128 *out);
extern size_t ev_decimal_format(ev_int128 value, char *buf);

#endif							/* EVPROC_DECIMAL_H */
