/*-------------------------------------------------------------------------
 *
 * idcache.c
 *	  A bounded memory of recently journaled eventIds; see idcache.h.
 *
 *-------------------------------------------------------------------------
 */
#include "idcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, seeded: ids cannot be chosen to collide without the seed */
static uint64_t
hash_id(const char *id, uint64_t seed)
{
	uint64_t	h = UINT64_C(14695981039346656037) ^ seed;

	for (const unsigned char *p = (const unsigned char *) id; *p; p++)
		h = (h ^ *p) * UINT64_C(1099511628211);
	return h;
}

static bool
set_init(IdSet *set, size_t nslots)
{
	set->slots = calloc(nslots, sizeof(char *));
	set->nslots = nslots;
	set->count = 0;
	return set->slots != NULL;
}

static void
set_clear(IdSet *set)
{
	for (size_t i = 0; i < set->nslots; i++)
	{
		free(set->slots[i]);
		set->slots[i] = NULL;
	}
	set->count = 0;
}

static bool
set_contains(const IdSet *set, const char *id, uint64_t seed)
{
	size_t		mask = set->nslots - 1;

	for (size_t i = hash_id(id, seed) & mask;; i = (i + 1) & mask)
	{
		if (set->slots[i] == NULL)
			return false;
		if (strcmp(set->slots[i], id) == 0)
			return true;
	}
}

/*
 * set_add: the set is never more than half full, so a free slot exists.
 * The caller has checked that id is not in it.
 */
static void
set_add(IdSet *set, const char *id, uint64_t seed)
{
	size_t		mask = set->nslots - 1;
	size_t		i;
	char	   *copy;

	for (i = hash_id(id, seed) & mask; set->slots[i] != NULL; i = (i + 1) & mask)
		;
	copy = strdup(id);
	if (copy == NULL)
		return;					/* forgetting is always safe */
	set->slots[i] = copy;
	set->count++;
}

/* idcache_init prepares a cache remembering up to capacity ids. */
bool
idcache_init(IdCache *cache, size_t capacity, uint64_t seed)
{
	size_t		per = capacity / 2 > 0 ? capacity / 2 : 1;
	size_t		nslots = 1;

	while (nslots < per * 2)
		nslots <<= 1;
	memset(cache, 0, sizeof(IdCache));
	cache->per_generation = per;
	cache->seed = seed;
	if (!set_init(&cache->gen[0], nslots) || !set_init(&cache->gen[1], nslots))
	{
		idcache_free(cache);
		return false;
	}
	return true;
}

void
idcache_free(IdCache *cache)
{
	for (int g = 0; g < 2; g++)
	{
		if (cache->gen[g].slots != NULL)
			set_clear(&cache->gen[g]);
		free(cache->gen[g].slots);
	}
	memset(cache, 0, sizeof(IdCache));
}

/* fresh: may the generation still be consulted? */
static bool
fresh(const IdSet *set, time_t now, time_t max_age)
{
	return set->count > 0 && (max_age <= 0 || now - set->started < max_age);
}

bool
idcache_contains(const IdCache *cache, const char *id, time_t now,
				 time_t max_age)
{
	if (cache->gen[0].slots == NULL)
		return false;
	for (int g = 0; g < 2; g++)
		if (fresh(&cache->gen[g], now, max_age) &&
			set_contains(&cache->gen[g], id, cache->seed))
			return true;
	return false;
}

/* idcache_add remembers an id that is now durably in the journal. */
void
idcache_add(IdCache *cache, const char *id, time_t now, time_t max_age)
{
	IdSet	   *cur;

	if (cache->gen[0].slots == NULL ||
		idcache_contains(cache, id, now, max_age))
		return;
	cur = &cache->gen[cache->current];
	if (cur->count >= cache->per_generation ||
		(cur->count > 0 && max_age > 0 && now - cur->started >= max_age / 2))
	{
		/* the previous generation is forgotten; this one becomes it */
		cache->current = 1 - cache->current;
		cur = &cache->gen[cache->current];
		set_clear(cur);
	}
	/* a stale current generation may still hold id: start it afresh */
	if (cur->count > 0 && !fresh(cur, now, max_age))
		set_clear(cur);
	if (cur->count == 0)
		cur->started = now;
	set_add(cur, id, cache->seed);
}
