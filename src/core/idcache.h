/*-------------------------------------------------------------------------
 *
 * idcache.h
 *	  A bounded memory of recently journaled eventIds, so that the HTTP
 *	  server can report (and not journal again) a repeated event at
 *	  request time.
 *
 * Backend-free (libc only).  It is only an optimisation: the authoritative
 * check is evproc.seen_events at ingest.  It must never claim an id that
 * does not end up journaled durably.  The ids of the batch being group
 * committed are held apart, as pending: they are consulted like the others
 * (a repeat in the same batch is a duplicate too, answered after the same
 * flush), and only become remembered ids once the batch is synced
 * (idcache_commit), or are dropped if the write failed (idcache_abort).
 * While one batch is being synced the next one is taken in: the ids of
 * the first are sealed (idcache_seal), apart from the pending ones.
 * Forgetting ids (eviction, out of memory) is always safe.  Nor may it
 * remember an id longer than evproc.dedupe_retention: a repeat after that
 * is counted again, so a generation older than max_age is not consulted.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_IDCACHE_H
#define EVPROC_IDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Two generations of open-addressing hash sets: when the current one holds
 * its share of ids it becomes the previous one, and the old previous one is
 * dropped, so between capacity/2 and capacity ids are remembered.
 */
typedef struct IdSet
{
	char	  **slots;
	size_t		nslots;			/* a power of two */
	size_t		count;
	time_t		started;		/* when its first id was added */
} IdSet;

typedef struct IdCache
{
	IdSet		gen[2];
	IdSet		pending;		/* of the batch being taken in; grows */
	IdSet		sealed;			/* of the batch being synced */
	int			current;
	size_t		per_generation;
	uint64_t	seed;			/* of the hash: ids cannot be picked to collide */
} IdCache;

/*
 * max_age is in seconds (0: no limit); now is the caller's clock.  A
 * generation starts a new one after max_age / 2, so every id it holds is
 * younger than max_age while it is consulted.
 */
extern bool idcache_init(IdCache *cache, size_t capacity, uint64_t seed);
extern void idcache_free(IdCache *cache);
extern bool idcache_contains(const IdCache *cache, const char *id,
							 time_t now, time_t max_age);
extern void idcache_add(IdCache *cache, const char *id,
						time_t now, time_t max_age);

/*
 * The batch being group committed: idcache_add_pending notes an id of it
 * (idcache_contains sees it at once); idcache_seal closes the batch when
 * its sync starts; idcache_commit remembers the sealed ids once the batch
 * is durable, idcache_abort drops them, and the pending ones, if it is not.
 */
extern void idcache_add_pending(IdCache *cache, const char *id);
extern void idcache_seal(IdCache *cache);
extern void idcache_commit(IdCache *cache, time_t now, time_t max_age);
extern void idcache_abort(IdCache *cache);

#endif							/* EVPROC_IDCACHE_H */
