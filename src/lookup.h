/*-------------------------------------------------------------------------
 *
 * lookup.h
 *	  Revenue lookups: user ids in, their revenue out.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_LOOKUP_H
#define EVPROC_LOOKUP_H

#include "postgres.h"

/* One user's lookup. */
typedef struct RevenueLookup
{
	const char *user_id;		/* in */
	char	   *revenue;		/* out: a numeric literal (palloc'd in the
								 * caller's context), NULL if unknown */
} RevenueLookup;

typedef enum LookupOutcome
{
	LOOKUP_ANSWERED,			/* every item has its answer */
	LOOKUP_WAITING,				/* the table is locked: ask again later */
	LOOKUP_FAILED				/* no answer: *error says why */
} LookupOutcome;

/*
 * The sum an open ingest transaction has already added to user_id's row,
 * as a numeric literal in delta (EV_DECIMAL_BUFSZ bytes): false if none.
 */
typedef bool (*UncommittedFn) (const char *user_id, char *delta);

extern LookupOutcome lookup_revenue(RevenueLookup *items, int n,
									UncommittedFn uncommitted,
									const char **error);
extern long lookup_timeout_ms(int nwaiting);

#endif							/* EVPROC_LOOKUP_H */
