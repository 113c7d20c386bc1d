/*-------------------------------------------------------------------------
 *
 * test_ratelimit.c
 *	  Unit tests of ratelimit.c, the token buckets, with time driven by
 *	  the test.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "core/ratelimit.h"
#include "unit.h"

#define SEC		1000000LL		/* microseconds */

/* a burst of one second's worth, then refused, with the header values */
static void
test_burst(void)
{
	RateLimiter *rl = ratelimit_create(1024, 7);
	RateDecision d;
	int64_t		t = 1000 * SEC;

	for (int i = 0; i < 50; i++)
	{
		d = ratelimit_take(rl, "192.0.2.1", 50, 1, t, NULL);
		CHECK_MSG(d.allowed, "event %d of the burst allowed", i);
		CHECK_INT_EQ(d.limit, 50);
		CHECK_INT_EQ(d.remaining, 49 - i);
		CHECK_INT_EQ(d.reset, 1);
		CHECK_INT_EQ(d.retry_after, 0);
	}
	d = ratelimit_take(rl, "192.0.2.1", 50, 1, t, NULL);
	CHECK(!d.allowed);
	CHECK(!d.never);
	CHECK_INT_EQ(d.remaining, 0);
	CHECK_INT_EQ(d.retry_after, 1);
	CHECK_INT_EQ(d.reset, 1);
	/* another key has its own bucket */
	d = ratelimit_take(rl, "2001:db8::1", 50, 50, t, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.remaining, 0);
	/* refilled continuously: 20 ms is one event at 50/s */
	d = ratelimit_take(rl, "192.0.2.1", 50, 1, t + 20000, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.remaining, 0);
	d = ratelimit_take(rl, "192.0.2.1", 50, 1, t + 20000, NULL);
	CHECK(!d.allowed);
	/* and never above the burst */
	d = ratelimit_take(rl, "192.0.2.1", 50, 1, t + 3600 * SEC, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.remaining, 49);
	CHECK_INT_EQ(ratelimit_used(rl), 2);
	ratelimit_free(rl);
}

/* a batch counts as its events, and is taken whole or not at all */
static void
test_batches(void)
{
	RateLimiter *rl = ratelimit_create(1024, 7);
	RateDecision d;
	int64_t		t = 5 * SEC;

	for (int i = 0; i < 5; i++)
	{
		d = ratelimit_take(rl, "c", 50, 10, t, NULL);
		CHECK_MSG(d.allowed, "batch %d of 10 allowed", i);
		CHECK_INT_EQ(d.remaining, 40 - 10 * i);
	}
	d = ratelimit_take(rl, "c", 50, 10, t, NULL);
	CHECK(!d.allowed);
	/* 9 events in: still not 10, and nothing is taken */
	d = ratelimit_take(rl, "c", 50, 10, t + 180000, NULL);
	CHECK(!d.allowed);
	CHECK_INT_EQ(d.remaining, 9);
	CHECK_INT_EQ(d.retry_after, 1);
	d = ratelimit_take(rl, "c", 50, 10, t + 200000, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.remaining, 0);
	/* exactly the burst fits a full bucket; one more never does */
	d = ratelimit_take(rl, "d", 50, 50, t, NULL);
	CHECK(d.allowed);
	d = ratelimit_take(rl, "e", 50, 51, t, NULL);
	CHECK(!d.allowed);
	CHECK(d.never);
	CHECK_INT_EQ(d.retry_after, 0);
	CHECK_INT_EQ(d.remaining, 50);	/* nothing taken */
	d = ratelimit_take(rl, "e", 50, 50, t, NULL);
	CHECK(d.allowed);
	ratelimit_free(rl);
}

/* Retry-After and reset at slow rates: whole seconds, rounded up */
static void
test_slow_rate(void)
{
	RateLimiter *rl = ratelimit_create(64, 1);
	RateDecision d;
	int64_t		t = 0;

	d = ratelimit_take(rl, "k", 0.25, 1, t, NULL);	/* burst 1 */
	CHECK(d.allowed);
	CHECK_INT_EQ(d.limit, 1);
	CHECK_INT_EQ(d.reset, 4);
	d = ratelimit_take(rl, "k", 0.25, 1, t + SEC, NULL);
	CHECK(!d.allowed);
	CHECK_INT_EQ(d.retry_after, 3);
	d = ratelimit_take(rl, "k", 0.25, 1, t + 4 * SEC, NULL);
	CHECK(d.allowed);
	/* 3 per second: a burst of 3, each event back in a third of a second */
	d = ratelimit_take(rl, "m", 3, 3, t, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.reset, 1);
	d = ratelimit_take(rl, "m", 3, 2, t + SEC / 3 + 1, NULL);
	CHECK(!d.allowed);
	CHECK_INT_EQ(d.remaining, 1);
	CHECK_INT_EQ(d.retry_after, 1);
	ratelimit_free(rl);
}

/* a lower rate on reload: the bucket is cut to the new burst */
static void
test_rate_change(void)
{
	RateLimiter *rl = ratelimit_create(64, 1);
	RateDecision d;

	d = ratelimit_take(rl, "k", 100, 1, 0, NULL);
	CHECK_INT_EQ(d.remaining, 99);
	d = ratelimit_take(rl, "k", 10, 1, 0, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.limit, 10);
	CHECK_INT_EQ(d.remaining, 9);
	/* no limit: always allowed, nothing remembered */
	d = ratelimit_take(rl, "z", 0, 1000, 0, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(ratelimit_used(rl), 1);
	ratelimit_free(rl);
}

/* peek decides without taking or remembering; give_back undoes a take */
static void
test_peek_give_back(void)
{
	RateLimiter *rl = ratelimit_create(64, 1);
	RateDecision d;
	RateCharge	c;

	d = ratelimit_peek(rl, "k", 10, 1, 0);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.remaining, 9);
	CHECK_INT_EQ(ratelimit_used(rl), 0);
	d = ratelimit_take(rl, "k", 10, 10, 0, &c);
	CHECK(d.allowed);
	CHECK_INT_EQ(c.n, 10);
	d = ratelimit_peek(rl, "k", 10, 1, 0);
	CHECK(!d.allowed);
	CHECK_INT_EQ(d.retry_after, 1);
	ratelimit_give_back(rl, &c);
	d = ratelimit_peek(rl, "k", 10, 10, 0);
	CHECK(d.allowed);
	/* a refused take charges nothing */
	d = ratelimit_take(rl, "k", 10, 11, 0, &c);
	CHECK(!d.allowed);
	CHECK_INT_EQ(c.hash, 0);
	ratelimit_give_back(rl, &c);
	d = ratelimit_take(rl, "k", 10, 10, 0, NULL);
	CHECK(d.allowed);
	CHECK_INT_EQ(d.remaining, 0);
	ratelimit_free(rl);
}

/*
 * A full table: idle keys (full buckets) are replaced first; with only
 * active keys, the one closest to full is forgotten (fails open for it),
 * and memory stays the same.
 */
static void
test_full_table(void)
{
	RateLimiter *rl = ratelimit_create(64, 3);
	RateDecision d;
	char		key[32];
	int			refused = 0;

	/* 1000 keys, each idle after its request: the table never overflows */
	for (int i = 0; i < 1000; i++)
	{
		snprintf(key, sizeof(key), "idle-%d", i);
		d = ratelimit_take(rl, key, 10, 1, (int64_t) i * SEC, NULL);
		CHECK(d.allowed);
	}
	CHECK(ratelimit_used(rl) <= 64);
	CHECK_INT_EQ(ratelimit_evicted_active(rl), 0);

	/* 1000 active keys at once: some are forgotten, never refused wrongly */
	for (int i = 0; i < 1000; i++)
	{
		snprintf(key, sizeof(key), "busy-%d", i);
		d = ratelimit_take(rl, key, 10, 10, 2000 * SEC, NULL);
		CHECK(d.allowed);
	}
	CHECK(ratelimit_evicted_active(rl) > 0);
	CHECK_INT_EQ(ratelimit_used(rl), 64);
	/* the last keys are still tracked: limited */
	for (int i = 990; i < 1000; i++)
	{
		snprintf(key, sizeof(key), "busy-%d", i);
		d = ratelimit_take(rl, key, 10, 1, 2000 * SEC, NULL);
		if (!d.allowed)
			refused++;
	}
	CHECK_MSG(refused >= 5, "recent active keys stay limited (%d of 10)", refused);

	/* a key idle for a second is replaced before a busy one */
	{
		/* 16 slots: one window (RATELIMIT_WINDOW) */
		RateLimiter *small = ratelimit_create(16, 3);
		int64_t		t = 10 * SEC;

		for (int i = 0; i < 16; i++)
		{
			snprintf(key, sizeof(key), "k%d", i);
			d = ratelimit_take(small, key, 10, 10, i == 3 ? t - SEC : t, NULL);
		}
		d = ratelimit_take(small, "new", 10, 10, t, NULL);
		CHECK(d.allowed);
		CHECK_INT_EQ(ratelimit_evicted_active(small), 0);
		CHECK_INT_EQ(ratelimit_used(small), 16);
		for (int i = 0; i < 16; i++)
		{
			snprintf(key, sizeof(key), "k%d", i);
			d = ratelimit_take(small, key, 10, 1, t, NULL);
			CHECK_MSG(d.allowed == (i == 3), "k%d: %s", i,
					  d.allowed ? "allowed" : "refused");
		}
		ratelimit_free(small);
	}
	ratelimit_free(rl);
}

/* hashing: the same key from another seed still has its own bucket */
static void
test_many_keys(void)
{
	RateLimiter *rl = ratelimit_create(65536, 12345);
	char		key[64];
	int			wrong = 0;

	for (int i = 0; i < 20000; i++)
	{
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		if (!ratelimit_take(rl, key, 5, 5, SEC, NULL).allowed)
			wrong++;
	}
	CHECK_INT_EQ(wrong, 0);
	/* each of them is now empty */
	for (int i = 0; i < 20000; i++)
	{
		snprintf(key, sizeof(key), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		if (ratelimit_take(rl, key, 5, 1, SEC, NULL).allowed)
			wrong++;
	}
	CHECK_MSG(wrong == 0, "%d of 20000 keys forgotten at 30%% load", wrong);
	CHECK_INT_EQ(ratelimit_used(rl), 20000);
	ratelimit_free(rl);
}

int
main(void)
{
	test_burst();
	test_batches();
	test_slow_rate();
	test_rate_change();
	test_peek_give_back();
	test_full_table();
	test_many_keys();
	return unit_summary();
}
