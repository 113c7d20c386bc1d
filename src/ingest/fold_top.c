/*-------------------------------------------------------------------------
 *
 * fold_top.c
 *	  The top lists of GET /topUsers, kept by each file's ingest
 *	  transaction (version 1.6): evproc.top_users holds the first users of
 *	  each metric by value, down to the metric's floor in evproc.top_floor
 *	  (every user ranked at or above it is in the list), so that a top
 *	  list reads a few rows of a small table, and evproc.user_metrics
 *	  needs no index on value (its updates stay HOT).
 *
 * While the file's sums are upserted, chunk by chunk, each upsert also
 * returns the rows whose new value ranks at or above their metric's floor
 * (usually few: users entering or moving within a list); they are kept
 * here, at most FOLD_TOP_KEEP in all (beyond that, the file's lists are
 * read again from user_metrics at the end, one scan of it per metric).  At the end of the
 * file, evproc.top_apply merges them into the lists, one file at a time
 * (see evproc--1.5--1.6.sql for the rules that keep the lists exact with
 * several workers and falling values).  The floor's gen, read before the
 * first upsert, tells it whether another file lowered the floor since.
 *
 * Other writes to user_metrics (SQL, a restore) have the lists read again
 * by a trigger, evproc.top_stale; ingest sets evproc_ingest.keeps_top_lists
 * in its transaction, which the trigger reads as "leave them to me".
 *
 * With the extension at 1.5 (no evproc.top_floor yet), nothing is kept:
 * the index user_metrics_top serves the top lists (lookup.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/fold.h"
#include "ingest/fold_top.h"
#include "shared/db.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* the most candidates kept a metric (the lists keep 100 to 400 users) */
#define FOLD_TOP_KEEP		1000

/* One metric the file changes: its floor's gen, its candidates. */
typedef struct TopMetric
{
	char	   *metric;
	int64		gen;			/* top_floor.gen before the first upsert */
	int			n;
	int			cap;
	char	  **users;
	char	  **values;			/* numeric literals */
} TopMetric;

static struct
{
	MemoryContext cxt;			/* NULL: not keeping lists in this file */
	TopMetric  *metrics;
	int			nmetrics;
	int			cap;
	int			ncand;			/* candidates kept, all metrics */
	bool		overflow;		/* more than FOLD_TOP_KEEP: none kept */
	/* the floors as they were before the first upsert */
	char	  **floor_metrics;
	int64	   *floor_gens;
	int			nfloors;
}			top;

static SPIPlanPtr plan_mark = NULL;
static SPIPlanPtr plan_gens = NULL;
static SPIPlanPtr plan_upsert_top = NULL;
static SPIPlanPtr plan_apply = NULL;

/*
 * fold_top_start begins keeping the lists for a file, before its first
 * upsert: reads the floors' gens.  Returns false (nothing to keep) if the
 * extension has no top_floor yet.  Called again when a file's transaction
 * is tried again: starts afresh.
 */
bool
fold_top_start(void)
{
	Oid			upsert[3] = {TEXTARRAYOID, TEXTARRAYOID, NUMERICARRAYOID};
	Oid			apply[6] = {TEXTARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, NUMERICARRAYOID};
	MemoryContext old;

	fold_top_end();
	if (!db_has_table("top_floor"))
		return false;
	if (plan_mark == NULL)
		plan_mark = db_prepare("SELECT pg_catalog.set_config('evproc_ingest.keeps_top_lists', 'on', true)",
							   0, NULL);
	if (plan_gens == NULL)
		plan_gens = db_prepare("SELECT metric, gen FROM evproc.top_floor", 0, NULL);
	if (plan_upsert_top == NULL)
		plan_upsert_top = db_prepare(
									 "WITH up AS (" FOLD_UPSERT_SQL
									 " RETURNING r.user_id, r.metric, r.value) "
									 "SELECT up.user_id, up.metric, up.value::pg_catalog.text FROM up "
									 "LEFT JOIN evproc.top_floor AS f ON f.metric OPERATOR(pg_catalog.=) up.metric "
									 "WHERE f.value IS NULL OR up.value OPERATOR(pg_catalog.>) f.value "
									 "OR (up.value OPERATOR(pg_catalog.=) f.value AND "
									 "up.user_id COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.<=) f.user_id COLLATE pg_catalog.\"C\")",
									 3, upsert);
	if (plan_apply == NULL)
		plan_apply = db_prepare("SELECT evproc.top_apply($1, $2, $3, $4, $5, $6)",
								6, apply);

	top.cxt = AllocSetContextCreate(TopMemoryContext, "evproc top lists",
									ALLOCSET_DEFAULT_SIZES);
	/* the trigger on user_metrics leaves the lists to us */
	db_execute(plan_mark, NULL, false, 0, SPI_OK_SELECT);
	db_execute(plan_gens, NULL, false, 0, SPI_OK_SELECT);
	old = MemoryContextSwitchTo(top.cxt);
	top.nfloors = (int) SPI_processed;
	top.floor_metrics = palloc(sizeof(char *) * Max(top.nfloors, 1));
	top.floor_gens = palloc(sizeof(int64) * Max(top.nfloors, 1));
	for (int i = 0; i < top.nfloors; i++)
	{
		bool		isnull;

		top.floor_metrics[i] = SPI_getvalue(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1);
		top.floor_gens[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc,
														2, &isnull));
	}
	top.cap = 8;
	top.nmetrics = 0;
	top.metrics = palloc(sizeof(TopMetric) * top.cap);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* find_metric: the file's entry for metric, made if new (in top.cxt) */
static TopMetric *
find_metric(const char *metric)
{
	TopMetric  *m;

	for (int i = 0; i < top.nmetrics; i++)
		if (strcmp(top.metrics[i].metric, metric) == 0)
			return &top.metrics[i];
	if (top.nmetrics == top.cap)
	{
		top.cap *= 2;
		top.metrics = repalloc(top.metrics, sizeof(TopMetric) * top.cap);
	}
	m = &top.metrics[top.nmetrics++];
	memset(m, 0, sizeof(*m));
	m->metric = pstrdup(metric);
	return m;
}

/*
 * fold_top_upsert runs a chunk's upsert (args: users, metrics, sums) and
 * keeps the rows it returns: those now at or above their metric's floor.
 * Once more than FOLD_TOP_KEEP were returned (a file that moves many users
 * up past the floors), it keeps none, the next chunks run the plain upsert
 * (plan) and the file's lists are read again at the end.
 */
void
fold_top_upsert(SPIPlanPtr plan, Datum *args)
{
	MemoryContext old;

	if (top.overflow)
	{
		db_execute(plan, args, false, 0, SPI_OK_INSERT);
		return;
	}
	/* the upsert runs to its end; the rows it returns stop at the limit */
	db_execute(plan_upsert_top, args, false, FOLD_TOP_KEEP + 1 - top.ncand,
			   SPI_OK_SELECT);
	if (top.ncand + SPI_processed > FOLD_TOP_KEEP)
	{
		top.overflow = true;
		SPI_freetuptable(SPI_tuptable);
		return;
	}
	top.ncand += (int) SPI_processed;
	old = MemoryContextSwitchTo(top.cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *metric = SPI_getvalue(tuple, desc, 2);
		TopMetric  *m = find_metric(metric);

		pfree(metric);
		if (m->n == m->cap)
		{
			m->cap = Max(m->cap * 2, 16);
			m->users = m->users == NULL ? palloc(sizeof(char *) * m->cap) :
				repalloc(m->users, sizeof(char *) * m->cap);
			m->values = m->values == NULL ? palloc(sizeof(char *) * m->cap) :
				repalloc(m->values, sizeof(char *) * m->cap);
		}
		m->users[m->n] = SPI_getvalue(tuple, desc, 1);
		m->values[m->n] = SPI_getvalue(tuple, desc, 3);
		m->n++;
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
}

/* floor_gen: the gen of metric's floor before the first upsert (0: none) */
static int64
floor_gen(const char *metric)
{
	for (int i = 0; i < top.nfloors; i++)
		if (strcmp(top.floor_metrics[i], metric) == 0)
			return top.floor_gens[i];
	return 0;
}

/*
 * fold_top_apply merges what the file changed into the top lists of its
 * metrics (all those it changes), after its last upsert.
 */
void
fold_top_apply(const char *const *metrics, int nmetrics)
{
	Datum	   *names;
	Datum	   *gens;
	Datum	   *overflow;
	Datum	   *users;
	Datum	   *cmetrics;
	Datum	   *values;
	Datum		args[6];
	int			ncand = 0;
	int			k = 0;

	if (top.cxt == NULL || nmetrics == 0)
		return;
	for (int i = 0; i < top.nmetrics; i++)
		ncand += top.metrics[i].n;
	if (top.overflow)
		ncand = 0;
	names = palloc(sizeof(Datum) * nmetrics);
	gens = palloc(sizeof(Datum) * nmetrics);
	overflow = palloc(sizeof(Datum) * nmetrics);
	users = palloc(sizeof(Datum) * Max(ncand, 1));
	cmetrics = palloc(sizeof(Datum) * Max(ncand, 1));
	values = palloc(sizeof(Datum) * Max(ncand, 1));
	for (int i = 0; i < nmetrics; i++)
	{
		names[i] = CStringGetTextDatum(metrics[i]);
		gens[i] = Int64GetDatum(floor_gen(metrics[i]));
		overflow[i] = BoolGetDatum(top.overflow);
	}
	for (int i = 0; i < top.nmetrics; i++)
	{
		TopMetric  *m = &top.metrics[i];
		Datum		metric = CStringGetTextDatum(m->metric);

		for (int j = 0; j < m->n && !top.overflow; j++)
		{
			users[k] = CStringGetTextDatum(m->users[j]);
			cmetrics[k] = metric;
			values[k] = db_numeric(m->values[j]);
			k++;
		}
	}
	args[0] = db_array(names, nmetrics, TEXTOID);
	args[1] = db_array(gens, nmetrics, INT8OID);
	args[2] = db_array(overflow, nmetrics, BOOLOID);
	args[3] = db_array(users, k, TEXTOID);
	args[4] = db_array(cmetrics, k, TEXTOID);
	args[5] = db_array(values, k, NUMERICOID);
	db_execute(plan_apply, args, false, 0, SPI_OK_SELECT);
}

/* fold_top_end forgets the file's candidates (after commit or abort) */
void
fold_top_end(void)
{
	if (top.cxt != NULL)
		MemoryContextDelete(top.cxt);
	memset(&top, 0, sizeof(top));
}
