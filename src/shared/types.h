/*-------------------------------------------------------------------------
 *
 * types.h
 *	  Event types: the worker's copy of evproc.event_types, and the
 *	  signal that it changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TYPES_H
#define EVPROC_TYPES_H

#include "postgres.h"

#include "core/event.h"

/* One event type: events named name change metric by effect. */
typedef struct EvType
{
	char		name[EV_NAME_MAX + 1];
	char		metric[EV_NAME_MAX + 1];
	size_t		metric_len;
	EvEffect	effect;
} EvType;

/* A set of types, sorted by name. */
typedef struct TypeSet
{
	EvType	   *types;
	int			n;
} TypeSet;

/* the worker */
extern bool types_stale(void);
extern void types_reload(void);
extern long types_timeout_ms(void);
extern TypeSet *types_copy(MemoryContext cxt);
extern bool types_from_table(void);

/* the worker, also inside libmicrohttpd's callbacks (no PostgreSQL calls) */
extern const TypeSet *types_current(void);
extern const EvType *types_lookup(const TypeSet *set, const char *name,
								  size_t len);
extern const char *types_resolve(const TypeSet *set, EvEvent *ev,
								 char *errbuf, size_t errlen);

#endif							/* EVPROC_TYPES_H */
