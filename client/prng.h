/*-------------------------------------------------------------------------
 *
 * prng.h
 *	  The small deterministic pseudo-random generator of evproc-client
 *	  (splitmix64), used by "generate" (reproducible for a seed) and for
 *	  the jitter of retry back-off (seeded from the system's randomness).
 *
 * Not for anything secret: eventIds come from the operating system's
 * random source instead (see eventid.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_PRNG_H
#define EVPROC_CLIENT_PRNG_H

#include <stdint.h>

/* splitmix64 advances *state and returns the next 64 random bits */
static inline uint64_t
splitmix64(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

#endif							/* EVPROC_CLIENT_PRNG_H */
