/*-------------------------------------------------------------------------
 *
 * clock.h
 *	  A monotonic clock in milliseconds, for the parts of the HTTP server
 *	  that keep time inside libmicrohttpd's callbacks (no PostgreSQL calls
 *	  there, so not GetCurrentTimestamp).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLOCK_H
#define EVPROC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* the same in microseconds */
static inline int64_t
monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif							/* EVPROC_CLOCK_H */
