/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  Token buckets keyed by a string (a client's address, a token's
 *	  name), in a fixed-size table: rate r events per second, a burst of
 *	  one second's worth.  Backend-free; time is passed in, so that the
 *	  unit tests can drive it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_RATELIMIT_H
#define EVPROC_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct RateLimiter RateLimiter;

/* What a take or a peek decided, with the values of the reply's headers. */
typedef struct RateDecision
{
	bool		allowed;		/* the n events fit: taken (a take) */
	bool		never;			/* n is more than the burst: no wait helps */
	uint32_t	limit;			/* the burst: RateLimit-Limit */
	uint32_t	remaining;		/* whole events left after this request */
	uint32_t	reset;			/* seconds until the bucket is full again */
	uint32_t	retry_after;	/* refused: seconds until n fit (>= 1);
								 * 0 if allowed or never */
} RateDecision;

/* What a take took, to give it back (ratelimit_give_back). */
typedef struct RateCharge
{
	uint64_t	hash;			/* 0: nothing taken */
	uint32_t	slot;
	uint32_t	n;
} RateCharge;

extern RateLimiter *ratelimit_create(uint32_t capacity, uint64_t seed);
extern void ratelimit_free(RateLimiter *rl);
extern RateDecision ratelimit_take(RateLimiter *rl, const char *key,
								   double rate, uint32_t n, int64_t now_us,
								   RateCharge *charge);
extern RateDecision ratelimit_peek(RateLimiter *rl, const char *key,
								   double rate, uint32_t n, int64_t now_us);
extern void ratelimit_give_back(RateLimiter *rl, const RateCharge *charge);
extern uint32_t ratelimit_used(const RateLimiter *rl);
extern uint64_t ratelimit_evicted_active(const RateLimiter *rl);

#endif							/* EVPROC_RATELIMIT_H */
