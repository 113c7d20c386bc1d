/*-------------------------------------------------------------------------
 *
 * test_idcache.c
 *	  Unit tests of idcache.c, the bounded memory of journaled eventIds.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "core/idcache.h"
#include "unit.h"

static void
test_basic(void)
{
	IdCache		c;

	CHECK(idcache_init(&c, 8, 42));
	CHECK(!idcache_contains(&c, "a", 0, 0));
	idcache_add(&c, "a", 0, 0);
	idcache_add(&c, "b", 0, 0);
	CHECK(idcache_contains(&c, "a", 0, 0));
	CHECK(idcache_contains(&c, "b", 0, 0));
	CHECK(!idcache_contains(&c, "c", 0, 0));
	CHECK(!idcache_contains(&c, "", 0, 0));
	idcache_add(&c, "a", 0, 0);		/* adding twice is harmless */
	CHECK(idcache_contains(&c, "a", 0, 0));
	idcache_free(&c);
}

/* between capacity/2 and capacity of the newest ids are remembered */
static void
test_eviction(void)
{
	IdCache		c;
	char		id[32];
	int			remembered = 0;

	CHECK(idcache_init(&c, 100, 42));
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "id-%d", i);
		idcache_add(&c, id, 0, 0);
		CHECK(idcache_contains(&c, id, 0, 0));
	}
	for (int i = 950; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "id-%d", i);
		CHECK(idcache_contains(&c, id, 0, 0));
	}
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "id-%d", i);
		remembered += idcache_contains(&c, id, 0, 0);
	}
	CHECK(remembered >= 50 && remembered <= 100);
	snprintf(id, sizeof(id), "id-%d", 0);
	CHECK(!idcache_contains(&c, id, 0, 0));
	idcache_free(&c);
}

/* a freed or never-initialised cache claims nothing */
static void
test_empty(void)
{
	IdCache		c;

	memset(&c, 0, sizeof(c));
	CHECK(!idcache_contains(&c, "x", 0, 0));
	idcache_add(&c, "x", 0, 0);
	CHECK(!idcache_contains(&c, "x", 0, 0));
	CHECK(idcache_init(&c, 1, 42));
	idcache_add(&c, "x", 0, 0);
	idcache_add(&c, "y", 0, 0);
	CHECK(idcache_contains(&c, "y", 0, 0));
	idcache_free(&c);
	CHECK(!idcache_contains(&c, "y", 0, 0));
}

/*
 * evproc.dedupe_retention: no id is claimed once it may be max_age old, and
 * ids within it are, across generations
 */
static void
test_max_age(void)
{
	IdCache		c;
	const time_t age = 100;

	CHECK(idcache_init(&c, 1000, 7));
	idcache_add(&c, "t0", 1000, age);
	CHECK(idcache_contains(&c, "t0", 1000, age));
	CHECK(idcache_contains(&c, "t0", 1099, age));
	CHECK(!idcache_contains(&c, "t0", 1100, age));
	CHECK(!idcache_contains(&c, "t0", 5000, age));

	/* after max_age / 2 a new generation starts; the old one still counts */
	idcache_add(&c, "t60", 1060, age);
	CHECK(idcache_contains(&c, "t0", 1060, age));
	CHECK(idcache_contains(&c, "t60", 1060, age));
	CHECK(!idcache_contains(&c, "t0", 1100, age));
	CHECK(idcache_contains(&c, "t60", 1100, age));
	CHECK(idcache_contains(&c, "t60", 1159, age));
	CHECK(!idcache_contains(&c, "t60", 1160, age));

	/* an id whose memory expired is remembered again when added again */
	idcache_add(&c, "t0", 2000, age);
	CHECK(idcache_contains(&c, "t0", 2000, age));
	CHECK(!idcache_contains(&c, "t60", 2000, age));
	idcache_free(&c);

	/* a different seed, the same answers */
	CHECK(idcache_init(&c, 8, 12345));
	idcache_add(&c, "a", 0, 0);
	CHECK(idcache_contains(&c, "a", 0, 0));
	CHECK(!idcache_contains(&c, "b", 0, 0));
	idcache_free(&c);
}

/*
 * the ids of the batch not yet synced: seen at once, remembered only on
 * commit, forgotten on abort, whatever their number
 */
static void
test_pending(void)
{
	IdCache		c;
	char		id[32];
	int			seen = 0;

	CHECK(idcache_init(&c, 4096, 42));
	idcache_add_pending(&c, "p");
	CHECK(idcache_contains(&c, "p", 0, 0));
	idcache_abort(&c);
	CHECK(!idcache_contains(&c, "p", 0, 0));

	idcache_add_pending(&c, "q");
	idcache_add_pending(&c, "q");	/* twice is harmless */
	CHECK(idcache_contains(&c, "q", 1000, 100));
	idcache_seal(&c);
	CHECK(idcache_contains(&c, "q", 1000, 100));
	idcache_commit(&c, 1000, 100);
	CHECK(idcache_contains(&c, "q", 1000, 100));
	/* remembered from the commit on, for max_age */
	CHECK(idcache_contains(&c, "q", 1099, 100));
	CHECK(!idcache_contains(&c, "q", 1100, 100));
	/* a pending id is claimed whatever the clock says */
	idcache_add_pending(&c, "q");
	CHECK(idcache_contains(&c, "q", 5000, 100));
	idcache_abort(&c);
	CHECK(!idcache_contains(&c, "q", 5000, 100));

	/* a big batch: the pending set grows, and is emptied either way */
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "big-%d", i);
		idcache_add_pending(&c, id);
	}
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "big-%d", i);
		seen += idcache_contains(&c, id, 0, 0);
	}
	CHECK(seen == 1000);
	idcache_abort(&c);
	seen = 0;
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "big-%d", i);
		seen += idcache_contains(&c, id, 0, 0);
	}
	CHECK(seen == 0);
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "big-%d", i);
		idcache_add_pending(&c, id);
	}
	idcache_seal(&c);
	idcache_commit(&c, 0, 0);
	idcache_abort(&c);			/* nothing pending left to drop */
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "big-%d", i);
		seen += idcache_contains(&c, id, 0, 0);
	}
	CHECK(seen == 1000);
	/* pending and sealed ids left at the end are freed with the cache */
	idcache_add_pending(&c, "left");
	idcache_seal(&c);
	idcache_add_pending(&c, "right");
	idcache_free(&c);
	CHECK(!idcache_contains(&c, "left", 0, 0));

	/* an uninitialised cache notes nothing */
	memset(&c, 0, sizeof(c));
	idcache_add_pending(&c, "x");
	CHECK(!idcache_contains(&c, "x", 0, 0));
	idcache_seal(&c);
	idcache_commit(&c, 0, 0);
	CHECK(!idcache_contains(&c, "x", 0, 0));
}

/*
 * two batches: one sealed while it is synced, the next one taken in
 * meanwhile.  A commit remembers the sealed ids alone; an abort drops
 * both batches' ids.
 */
static void
test_sealed(void)
{
	IdCache		c;

	CHECK(idcache_init(&c, 4096, 7));
	idcache_add_pending(&c, "a1");
	idcache_seal(&c);
	idcache_add_pending(&c, "b1");
	CHECK(idcache_contains(&c, "a1", 0, 0));
	CHECK(idcache_contains(&c, "b1", 0, 0));
	idcache_commit(&c, 0, 0);
	/* a1 remembered; b1 still pending, not remembered */
	CHECK(idcache_contains(&c, "a1", 0, 0));
	CHECK(idcache_contains(&c, "b1", 0, 0));
	idcache_abort(&c);
	CHECK(idcache_contains(&c, "a1", 0, 0));
	CHECK(!idcache_contains(&c, "b1", 0, 0));

	/* the sealed batch fails: the one behind it goes too */
	idcache_add_pending(&c, "a2");
	idcache_seal(&c);
	idcache_add_pending(&c, "b2");
	idcache_abort(&c);
	CHECK(!idcache_contains(&c, "a2", 0, 0));
	CHECK(!idcache_contains(&c, "b2", 0, 0));
	CHECK(idcache_contains(&c, "a1", 0, 0));

	/* sealed in turn: b3's batch, sealed after a3's commit, commits later */
	idcache_add_pending(&c, "a3");
	idcache_seal(&c);
	idcache_add_pending(&c, "b3");
	idcache_commit(&c, 0, 0);
	idcache_seal(&c);
	idcache_add_pending(&c, "c3");
	idcache_commit(&c, 0, 0);
	idcache_abort(&c);
	CHECK(idcache_contains(&c, "a3", 0, 0));
	CHECK(idcache_contains(&c, "b3", 0, 0));
	CHECK(!idcache_contains(&c, "c3", 0, 0));
	idcache_free(&c);
}

int
main(void)
{
	test_basic();
	test_eviction();
	test_empty();
	test_max_age();
	test_pending();
	test_sealed();
	return unit_summary();
}
