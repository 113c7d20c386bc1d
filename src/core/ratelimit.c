/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Token buckets keyed by a string, in a fixed-size table.
 *
 * A key's bucket holds up to one second's worth of events (the burst, at
 * least 1) and refills continuously at its rate, from the monotonic time
 * the caller passes in.  A request of n events takes n tokens or, if
 * fewer are there, takes nothing (a batch is accepted or refused whole);
 * n above the burst can never fit.  A key seen for the first time starts
 * with a full bucket.
 *
 * The table has a fixed number of slots (a power of two), allocated once:
 * no allocation per request.  A key's bucket lives in one of the
 * RATELIMIT_WINDOW slots from its hash on (a set-associative cache).  Slots
 * are never emptied, only reused, so a lookup stops at the first empty
 * slot.  A new key takes an empty slot of its window, else the slot whose
 * bucket will be full the soonest: a full bucket (a key idle for a second
 * or more, which has nothing to remember) first.  When the window holds
 * only keys active within the last second, the one closest to full is
 * forgotten, and if it comes back it starts with a full bucket: it may
 * send up to one burst more than its rate, once.  So a full table fails
 * open, for the least active key, rather than closed: refusing every key
 * it cannot track would let whoever holds enough addresses shut every
 * new client out, and per-client limits are about sharing the server
 * fairly, not about stopping a flood from tens of thousands of addresses.
 *
 * Keys are kept as 64-bit hashes seeded at creation (two keys whose hashes
 * collide would share a bucket, which a seed the clients cannot know
 * makes impractical to arrange).
 *
 * Backend-free: runs inside libmicrohttpd's callbacks, and in unit tests.
 *
 *-------------------------------------------------------------------------
 */
#include "core/ratelimit.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTGRES_H
#error "ratelimit.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* slots a key may occupy, from its hash on */
#define RATELIMIT_WINDOW	16
/* tokens are doubles: a request that fits exactly must not miss by a hair */
#define TOKEN_EPSILON		1e-9

typedef struct RateBucket
{
	uint64_t	hash;			/* its key's; 0: empty slot */
	double		tokens;			/* events it may take, as of stamp_us */
	double		rate;			/* events per second, as last asked */
	int64_t		stamp_us;		/* when tokens was last brought up to date */
} RateBucket;

struct RateLimiter
{
	uint32_t	mask;			/* slots - 1 */
	uint32_t	used;			/* slots holding a key */
	uint64_t	seed;
	uint64_t	evicted_active; /* keys forgotten while not full */
	RateBucket	slots[];
};

/*
 * ratelimit_create makes a table of capacity slots (rounded up to a power
 * of two, at least RATELIMIT_WINDOW) hashed with seed.  NULL if out of
 * memory.
 */
RateLimiter *
ratelimit_create(uint32_t capacity, uint64_t seed)
{
	uint32_t	slots = RATELIMIT_WINDOW;
	RateLimiter *rl;

	while (slots < capacity && slots < (1u << 30))
		slots <<= 1;
	rl = calloc(1, offsetof(RateLimiter, slots) + slots * sizeof(RateBucket));
	if (rl == NULL)
		return NULL;
	rl->mask = slots - 1;
	rl->seed = seed;
	return rl;
}

void
ratelimit_free(RateLimiter *rl)
{
	free(rl);
}

/* hash_key: FNV-1a from the seed, then a 64-bit finalizer; never 0 */
static uint64_t
hash_key(const RateLimiter *rl, const char *key)
{
	uint64_t	h = 0xcbf29ce484222325ULL ^ rl->seed;

	for (const unsigned char *p = (const unsigned char *) key; *p; p++)
	{
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h != 0 ? h : 1;
}

static double
burst_of(double rate)
{
	return rate < 1 ? 1 : rate;
}

/* refilled: b's tokens at now, at rate (not above the burst) */
static double
refilled(const RateBucket *b, double rate, int64_t now_us)
{
	double		tokens = b->tokens;

	if (now_us > b->stamp_us)
		tokens += rate * (double) (now_us - b->stamp_us) / 1e6;
	return tokens < burst_of(rate) ? tokens : burst_of(rate);
}

/* seconds_until: whole seconds (rounded up) for need tokens to come in */
static uint32_t
seconds_until(double need, double rate)
{
	double		s;

	if (need <= TOKEN_EPSILON)
		return 0;
	s = ceil(need / rate - TOKEN_EPSILON);
	return s < 1 ? 1 : s > 86400 ? 86400 : (uint32_t) s;
}

/* decide: what a request of n events gets from a bucket holding tokens */
static RateDecision
decide(double tokens, double rate, uint32_t n)
{
	RateDecision d;
	double		burst = burst_of(rate);
	double		left = tokens;

	memset(&d, 0, sizeof(d));
	d.limit = (uint32_t) burst;
	if ((double) n > burst + TOKEN_EPSILON)
		d.never = true;
	else if ((double) n <= tokens + TOKEN_EPSILON)
	{
		d.allowed = true;
		left = tokens - n;
		if (left < 0)
			left = 0;
	}
	else
	{
		d.retry_after = seconds_until((double) n - tokens, rate);
		if (d.retry_after < 1)
			d.retry_after = 1;
	}
	d.remaining = (uint32_t) (left + TOKEN_EPSILON);
	d.reset = seconds_until(burst - left, rate);
	return d;
}

/*
 * find: the slot of hash h, or -1; *free_slot is the slot a new key would
 * take (an empty one, else the one whose bucket is full the soonest).
 */
static int64_t
find(const RateLimiter *rl, uint64_t h, int64_t now_us, uint32_t *free_slot)
{
	double		best = 0;

	*free_slot = (uint32_t) (h & rl->mask);
	for (uint32_t i = 0; i < RATELIMIT_WINDOW; i++)
	{
		uint32_t	s = (uint32_t) ((h + i) & rl->mask);
		const RateBucket *b = &rl->slots[s];
		double		to_full;

		if (b->hash == h)
			return s;
		if (b->hash == 0)
		{
			*free_slot = s;
			return -1;			/* slots are never emptied: not further */
		}
		to_full = (burst_of(b->rate) - refilled(b, b->rate, now_us)) / b->rate;
		if (i == 0 || to_full < best)
		{
			best = to_full;
			*free_slot = s;
		}
	}
	return -1;
}

/*
 * ratelimit_take takes n events from key's bucket (rate events per second,
 * > 0), at now_us on a monotonic clock, if they all fit; else it takes
 * nothing.  If charge is given, it says what was taken (for
 * ratelimit_give_back).
 */
RateDecision
ratelimit_take(RateLimiter *rl, const char *key, double rate, uint32_t n,
			   int64_t now_us, RateCharge *charge)
{
	uint64_t	h;
	uint32_t	slot;
	int64_t		found;
	RateBucket *b;
	RateDecision d;

	if (charge != NULL)
		memset(charge, 0, sizeof(*charge));
	if (!(rate > 0))
		return (RateDecision) {.allowed = true};	/* no limit */
	h = hash_key(rl, key);
	found = find(rl, h, now_us, &slot);
	if (found >= 0)
		slot = (uint32_t) found;
	b = &rl->slots[slot];
	if (found >= 0)
		b->tokens = refilled(b, rate, now_us);
	else
	{
		if (b->hash == 0)
			rl->used++;
		else if (refilled(b, b->rate, now_us) < burst_of(b->rate) - TOKEN_EPSILON)
			rl->evicted_active++;
		b->hash = h;
		b->tokens = burst_of(rate);
	}
	b->rate = rate;
	if (now_us > b->stamp_us || found < 0)
		b->stamp_us = now_us;
	d = decide(b->tokens, rate, n);
	if (d.allowed)
	{
		b->tokens -= n;
		if (b->tokens < 0)
			b->tokens = 0;
		if (charge != NULL)
		{
			charge->hash = h;
			charge->slot = slot;
			charge->n = n;
		}
	}
	return d;
}

/*
 * ratelimit_peek: what ratelimit_take would decide for n events now,
 * without taking anything or remembering the key.
 */
RateDecision
ratelimit_peek(RateLimiter *rl, const char *key, double rate, uint32_t n,
			   int64_t now_us)
{
	uint32_t	slot;
	int64_t		found;

	if (!(rate > 0))
		return (RateDecision) {.allowed = true};
	found = find(rl, hash_key(rl, key), now_us, &slot);
	if (found < 0)
		return decide(burst_of(rate), rate, n);
	return decide(refilled(&rl->slots[found], rate, now_us), rate, n);
}

/*
 * ratelimit_give_back returns what a take took (a request refused after
 * all, by another limit), if its key still has that slot.
 */
void
ratelimit_give_back(RateLimiter *rl, const RateCharge *charge)
{
	RateBucket *b;
	double		burst;

	if (charge->hash == 0 || charge->slot > rl->mask)
		return;
	b = &rl->slots[charge->slot];
	if (b->hash != charge->hash)
		return;
	burst = burst_of(b->rate);
	b->tokens += charge->n;
	if (b->tokens > burst)
		b->tokens = burst;
}

/* ratelimit_used: slots holding a key */
uint32_t
ratelimit_used(const RateLimiter *rl)
{
	return rl->used;
}

/* ratelimit_evicted_active: keys forgotten while their bucket was not full */
uint64_t
ratelimit_evicted_active(const RateLimiter *rl)
{
	return rl->evicted_active;
}
