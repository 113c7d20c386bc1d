/*-------------------------------------------------------------------------
 *
 * lookup.h
 *	  The worker's batched reads for requests that wait for the database:
 *	  one unit of work for all the kinds of lookup of a pass, and each
 *	  kind's function (user ids in, their values out; a metric in, its top
 *	  users out).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_LOOKUP_H
#define EVPROC_LOOKUP_H

#include "postgres.h"

#include "core/decimal.h"

/* One user's lookup. */
typedef struct RevenueLookup
{
	const char *user_id;		/* in */
	char	   *revenue;		/* out: a numeric literal (palloc'd in the
								 * caller's context), NULL if unknown; 0 for
								 * a user known by other metrics only */
	char	   *metrics;		/* out: a JSON object of all the user's
								 * metrics, e.g. {"revenue": 70}; NULL if
								 * unknown */
} RevenueLookup;

typedef enum LookupOutcome
{
	LOOKUP_ANSWERED,			/* every item has its answer */
	LOOKUP_WAITING,				/* the table is locked: ask again later */
	LOOKUP_FAILED				/* no answer: *error says why */
} LookupOutcome;

/* the longest top list */
#define TOP_MAX_LIMIT		100

/*
 * One top list (GET /topUsers): the users with the largest values of a
 * metric, largest first, ties by userId (bytewise).
 */
typedef struct TopLookup
{
	const char *metric;			/* in: a valid metric name */
	int			limit;			/* in: how many users, 1 to TOP_MAX_LIMIT */
	char	   *users;			/* out: a JSON array of {"userId": "...",
								 * "value": "..."} (palloc'd in the
								 * caller's context), the values exact
								 * decimal strings */
} TopLookup;

/* What a kind's function gets besides its items. */
typedef struct LookupBatch
{
	bool		in_ingest;		/* inside an ingest transaction */
	MemoryContext cxt;			/* where the answers go */
} LookupBatch;

/*
 * A kind's function: answers its n items (of its own type, e.g.
 * RevenueLookup) in the unit of work lookup_serve opened, with the table
 * it reads locked; an error is caught by lookup_serve.
 */
typedef void (*LookupServeFn) (const LookupBatch *b, void *items, int n);

/* The items of one kind, its function and its table, for lookup_serve. */
typedef struct LookupWork
{
	LookupServeFn serve;
	const char *table;			/* the table of evproc it reads */
	void	   *items;
	int			n;
} LookupWork;

/* the kinds' functions */
extern void lookup_users(const LookupBatch *b, void *items, int n);
extern void lookup_tops(const LookupBatch *b, void *items, int n);

extern LookupOutcome lookup_revenue(RevenueLookup *items, int n,
									const char **error);
extern LookupOutcome lookup_serve(const LookupWork *work, int nwork,
								  const char **error);
extern long lookup_timeout_ms(int nwaiting);

#endif							/* EVPROC_LOOKUP_H */
