/*-------------------------------------------------------------------------
 *
 * idcache.c
 *	  A bounded memory of recently journaled eventIds; see idcache.h.
 *
 *-------------------------------------------------------------------------
 */
#include "core/idcache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTGRES_H
#error "idcache.c is backend-free: it must not include PostgreSQL backend headers"
#endif

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
 * set_put stores id, which the set then owns.  The set is never more than
 * half full, so a free slot exists.  The caller has checked that id is not
 * in it.
 */
static void
set_put(IdSet *set, char *id, uint64_t seed)
{
	size_t		mask = set->nslots - 1;
	size_t		i;

	for (i = hash_id(id, seed) & mask; set->slots[i] != NULL; i = (i + 1) & mask)
		;
	set->slots[i] = id;
	set->count++;
}

/* set_add stores a copy of id (see set_put). */
static void
set_add(IdSet *set, const char *id, uint64_t seed)
{
	char	   *copy = strdup(id);

	if (copy == NULL)
		return;					/* forgetting is always safe */
	set_put(set, copy, seed);
}

/* the smallest size of the pending set, which grows to fit a batch */
#define PENDING_MIN_SLOTS	64

/* set_grow doubles the slots of a set (makes them if it has none). */
static bool
set_grow(IdSet *set, uint64_t seed)
{
	IdSet		bigger;

	if (!set_init(&bigger, set->nslots > 0 ? set->nslots * 2 : PENDING_MIN_SLOTS))
		return false;
	for (size_t i = 0; i < set->nslots; i++)
		if (set->slots[i] != NULL)
			set_put(&bigger, set->slots[i], seed);
	free(set->slots);
	*set = bigger;
	return true;
}

/*
 * pending_reset empties the pending set; one that grew for a big batch is
 * freed rather than walked in every later flush.
 */
static void
pending_reset(IdSet *set)
{
	if (set->slots == NULL)
		return;
	set_clear(set);
	if (set->nslots > PENDING_MIN_SLOTS)
	{
		free(set->slots);
		memset(set, 0, sizeof(IdSet));
	}
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
	pending_reset(&cache->pending);
	free(cache->pending.slots);
	pending_reset(&cache->sealed);
	free(cache->sealed.slots);
	memset(cache, 0, sizeof(IdCache));
}

/* fresh: may the generation still be consulted? */
static bool
fresh(const IdSet *set, time_t now, time_t max_age)
{
	return set->count > 0 && (max_age <= 0 || now - set->started < max_age);
}

/* remembered: is id in a generation that may still be consulted? */
static bool
remembered(const IdCache *cache, const char *id, time_t now, time_t max_age)
{
	if (cache->gen[0].slots == NULL)
		return false;
	for (int g = 0; g < 2; g++)
		if (fresh(&cache->gen[g], now, max_age) &&
			set_contains(&cache->gen[g], id, cache->seed))
			return true;
	return false;
}

bool
idcache_contains(const IdCache *cache, const char *id, time_t now,
				 time_t max_age)
{
	if (cache->pending.count > 0 &&
		set_contains(&cache->pending, id, cache->seed))
		return true;
	if (cache->sealed.count > 0 &&
		set_contains(&cache->sealed, id, cache->seed))
		return true;
	return remembered(cache, id, now, max_age);
}

/*
 * room_for_one returns the generation a new id goes to, starting a new one
 * when the current one is full or old.
 */
static IdSet *
room_for_one(IdCache *cache, time_t now, time_t max_age)
{
	IdSet	   *cur = &cache->gen[cache->current];

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
	return cur;
}

/* idcache_add remembers an id that is now durably in the journal. */
void
idcache_add(IdCache *cache, const char *id, time_t now, time_t max_age)
{
	if (cache->gen[0].slots == NULL || remembered(cache, id, now, max_age))
		return;
	set_add(room_for_one(cache, now, max_age), id, cache->seed);
}

/* idcache_add_pending notes an id of the batch not yet synced. */
void
idcache_add_pending(IdCache *cache, const char *id)
{
	IdSet	   *set = &cache->pending;

	if (cache->gen[0].slots == NULL ||
		(set->count > 0 && set_contains(set, id, cache->seed)))
		return;
	/* out of memory, the id is simply not noted: forgetting is safe */
	if ((set->count + 1) * 2 > set->nslots && !set_grow(set, cache->seed))
		return;
	set_add(set, id, cache->seed);
}

/*
 * idcache_seal: the pending ids noted so far are those of the batch now
 * being synced; the ones noted from now on wait for the next batch.  The
 * last sealed batch has been committed or aborted.
 */
void
idcache_seal(IdCache *cache)
{
	IdSet		emptied = cache->sealed;

	cache->sealed = cache->pending;
	cache->pending = emptied;
}

/* idcache_commit remembers the sealed ids: their batch is durable. */
void
idcache_commit(IdCache *cache, time_t now, time_t max_age)
{
	IdSet	   *set = &cache->sealed;

	for (size_t i = 0; i < set->nslots && set->count > 0; i++)
	{
		char	   *id = set->slots[i];

		if (id == NULL)
			continue;
		set->slots[i] = NULL;
		set->count--;
		if (remembered(cache, id, now, max_age))
			free(id);
		else
			set_put(room_for_one(cache, now, max_age), id, cache->seed);
	}
	pending_reset(set);
}

/*
 * idcache_abort forgets the sealed ids and the pending ones: the sealed
 * batch was not made durable, and the batch behind it fails with it (one
 * of its events may have been taken for a repeat of a sealed one).
 */
void
idcache_abort(IdCache *cache)
{
	pending_reset(&cache->sealed);
	pending_reset(&cache->pending);
}
