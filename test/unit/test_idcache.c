/*-------------------------------------------------------------------------
 *
 * test_idcache.c
 *	  Unit tests of idcache.c, the bounded memory of journaled eventIds.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "idcache.h"
#include "unit.h"

static void
test_basic(void)
{
	IdCache		c;

	CHECK(idcache_init(&c, 8));
	CHECK(!idcache_contains(&c, "a"));
	idcache_add(&c, "a");
	idcache_add(&c, "b");
	CHECK(idcache_contains(&c, "a"));
	CHECK(idcache_contains(&c, "b"));
	CHECK(!idcache_contains(&c, "c"));
	CHECK(!idcache_contains(&c, ""));
	idcache_add(&c, "a");		/* adding twice is harmless */
	CHECK(idcache_contains(&c, "a"));
	idcache_free(&c);
}

/* between capacity/2 and capacity of the newest ids are remembered */
static void
test_eviction(void)
{
	IdCache		c;
	char		id[32];
	int			remembered = 0;

	CHECK(idcache_init(&c, 100));
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "id-%d", i);
		idcache_add(&c, id);
		CHECK(idcache_contains(&c, id));
	}
	for (int i = 950; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "id-%d", i);
		CHECK(idcache_contains(&c, id));
	}
	for (int i = 0; i < 1000; i++)
	{
		snprintf(id, sizeof(id), "id-%d", i);
		remembered += idcache_contains(&c, id);
	}
	CHECK(remembered >= 50 && remembered <= 100);
	snprintf(id, sizeof(id), "id-%d", 0);
	CHECK(!idcache_contains(&c, id));
	idcache_free(&c);
}

/* a freed or never-initialised cache claims nothing */
static void
test_empty(void)
{
	IdCache		c;

	memset(&c, 0, sizeof(c));
	CHECK(!idcache_contains(&c, "x"));
	idcache_add(&c, "x");
	CHECK(!idcache_contains(&c, "x"));
	CHECK(idcache_init(&c, 1));
	idcache_add(&c, "x");
	idcache_add(&c, "y");
	CHECK(idcache_contains(&c, "y"));
	idcache_free(&c);
	CHECK(!idcache_contains(&c, "y"));
}

int
main(void)
{
	test_basic();
	test_eviction();
	test_empty();
	return unit_summary();
}
