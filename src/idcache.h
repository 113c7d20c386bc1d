/*-------------------------------------------------------------------------
 *
 * idcache.h
 *	  A bounded memory of recently journaled eventIds, so that the HTTP
 *	  server can report (and not journal again) a repeated event at
 *	  request time.
 *
 * Backend-free (libc only).  It is only an optimisation: the authoritative
 * check is evproc.seen_events at ingest.  It must never claim an id that
 * was not journaled durably, so ids are added only after their batch is
 * synced; forgetting ids (eviction) is always safe.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_IDCACHE_H
#define EVPROC_IDCACHE_H

#include <stdbool.h>
#include <stddef.h>

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
} IdSet;

typedef struct IdCache
{
	IdSet		gen[2];
	int			current;
	size_t		per_generation;
} IdCache;

extern bool idcache_init(IdCache *cache, size_t capacity);
extern void idcache_free(IdCache *cache);
extern bool idcache_contains(const IdCache *cache, const char *id);
extern void idcache_add(IdCache *cache, const char *id);

#endif							/* EVPROC_IDCACHE_H */
