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
 * returns the rows whose new value ranks at or above a bound: at first
 * their metric's floor, read before the first upsert (usually few rows:
 * users entering or moving within a list; all of them for a metric
 * without a floor).  They are kept here as candidates; once a metric has
 * more than 2 * FOLD_TOP_KEEP, the best FOLD_TOP_KEEP are kept and the
 * bound rises to the last of them, so that memory stays bounded and the
 * next chunks return only what could still enter (the list is then cut
 * to its length at the end, its floor above every candidate dropped).
 * At the end of the file, evproc.top_apply merges them into the lists,
 * one file at a time (see evproc--1.5--1.6.sql for the rules that keep
 * the lists exact with several workers and falling values).  The floor's
 * gen, read before the first upsert, tells it whether another file lowered
 * the floor since (then the list is read again from user_metrics).
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
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

/* candidates kept a metric once cut (the lists keep 100 to 400 users) */
#define FOLD_TOP_KEEP		1000

/* One candidate: a user and the metric's new value. */
typedef struct TopCandidate
{
	char	   *user;
	Datum		value;			/* numeric */
} TopCandidate;

/* One metric the file changes: its floor before the file, candidates. */
typedef struct TopMetric
{
	char	   *metric;
	int64		gen;			/* top_floor.gen before the first upsert */
	bool		bounded;		/* false: every row is a candidate */
	Datum		bound_value;	/* the rows returned rank at or above */
	char	   *bound_user;
	bool		cut;			/* candidates were dropped below the bound */
	int			n;
	int			cap;
	TopCandidate *cand;
} TopMetric;

static struct
{
	MemoryContext cxt;			/* NULL: not keeping lists in this file */
	TopMetric  *metrics;
	int			nmetrics;
	int			cap;
}			top;

static SPIPlanPtr plan_mark = NULL;
static SPIPlanPtr plan_floors = NULL;
static SPIPlanPtr plan_upsert_top = NULL;
static SPIPlanPtr plan_apply = NULL;

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

static void
prepare_plans(void)
{
	Oid			upsert[6] = {TEXTARRAYOID, TEXTARRAYOID, NUMERICARRAYOID,
	TEXTARRAYOID, NUMERICARRAYOID, TEXTARRAYOID};
	Oid			apply[6] = {TEXTARRAYOID, INT8ARRAYOID, BOOLARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, NUMERICARRAYOID};

	if (plan_mark == NULL)
		plan_mark = db_prepare("SELECT pg_catalog.set_config('evproc_ingest.keeps_top_lists', 'on', true)",
							   0, NULL);
	if (plan_floors == NULL)
		plan_floors = db_prepare("SELECT metric, gen, value, user_id FROM evproc.top_floor",
								 0, NULL);
	/* $4, $5, $6: the bounds of the metrics that have one */
	if (plan_upsert_top == NULL)
		plan_upsert_top = db_prepare(
									 "WITH up AS (" FOLD_UPSERT_SQL
									 " RETURNING r.user_id, r.metric, r.value) "
									 "SELECT up.user_id, up.metric, up.value FROM up "
									 "LEFT JOIN ROWS FROM (pg_catalog.unnest($4), pg_catalog.unnest($5), "
									 "pg_catalog.unnest($6)) AS b(metric, value, user_id) "
									 "ON b.metric OPERATOR(pg_catalog.=) up.metric "
									 "WHERE b.metric IS NULL OR up.value OPERATOR(pg_catalog.>) b.value "
									 "OR (up.value OPERATOR(pg_catalog.=) b.value AND "
									 "up.user_id COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.<=) b.user_id COLLATE pg_catalog.\"C\")",
									 6, upsert);
	if (plan_apply == NULL)
		plan_apply = db_prepare("SELECT evproc.top_apply($1, $2, $3, $4, $5, $6)",
								6, apply);
}

/*
 * fold_top_start begins keeping the lists for a file, before its first
 * upsert: reads the floors; nothing is kept if the extension has no
 * top_floor yet (fold_top_upsert then returns false).  Called again when
 * a file's transaction is tried again: starts afresh.
 */
void
fold_top_start(void)
{
	MemoryContext old;

	fold_top_end();
	if (!db_has_table("top_floor"))
		return;
	prepare_plans();
	top.cxt = AllocSetContextCreate(TopMemoryContext, "evproc top lists",
									ALLOCSET_DEFAULT_SIZES);
	top.cap = 8;
	top.metrics = MemoryContextAlloc(top.cxt, sizeof(TopMetric) * top.cap);
	/* the trigger on user_metrics leaves the lists to us */
	db_execute(plan_mark, NULL, false, 0, SPI_OK_SELECT);
	db_execute(plan_floors, NULL, false, 0, SPI_OK_SELECT);
	old = MemoryContextSwitchTo(top.cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *metric = SPI_getvalue(tuple, desc, 1);
		TopMetric  *m = find_metric(metric);
		bool		isnull;
		Datum		value;

		m->gen = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
		value = SPI_getbinval(tuple, desc, 3, &isnull);
		if (!isnull)
		{
			m->bounded = true;
			m->bound_value = datumCopy(value, false, -1);
			m->bound_user = SPI_getvalue(tuple, desc, 4);
		}
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
}

/* compare_candidates: by value, largest first, ties by user in bytes */
static int
compare_candidates(const void *a, const void *b)
{
	const TopCandidate *ca = a;
	const TopCandidate *cb = b;
	int			c = DatumGetInt32(DirectFunctionCall2(numeric_cmp, cb->value,
													  ca->value));

	return c != 0 ? c : strcmp(ca->user, cb->user);
}

/*
 * cut_candidates keeps the best FOLD_TOP_KEEP of m's candidates and
 * raises its bound to the last of them.
 */
static void
cut_candidates(TopMetric *m)
{
	TopCandidate *last;

	qsort(m->cand, m->n, sizeof(TopCandidate), compare_candidates);
	for (int j = FOLD_TOP_KEEP; j < m->n; j++)
	{
		pfree(m->cand[j].user);
		pfree(DatumGetPointer(m->cand[j].value));
	}
	m->n = FOLD_TOP_KEEP;
	last = &m->cand[m->n - 1];
	m->bounded = true;
	m->bound_value = last->value;
	m->bound_user = last->user;
	m->cut = true;
}

/*
 * fold_top_upsert runs a chunk's upsert (args: users, metrics, sums) and
 * keeps the rows it returns: those now at or above their metric's bound.
 * Returns false, having run nothing, if the lists are not kept (see
 * fold_top_start): the caller runs the plain upsert.
 */
bool
fold_top_upsert(Datum *args)
{
	Datum		all[6];
	Datum	   *bmetrics;
	Datum	   *bvalues;
	Datum	   *busers;
	int			nb = 0;
	MemoryContext old;

	if (top.cxt == NULL)
		return false;
	bmetrics = palloc(sizeof(Datum) * Max(top.nmetrics, 1));
	bvalues = palloc(sizeof(Datum) * Max(top.nmetrics, 1));
	busers = palloc(sizeof(Datum) * Max(top.nmetrics, 1));

	for (int i = 0; i < top.nmetrics; i++)
		if (top.metrics[i].bounded)
		{
			bmetrics[nb] = CStringGetTextDatum(top.metrics[i].metric);
			bvalues[nb] = top.metrics[i].bound_value;
			busers[nb] = CStringGetTextDatum(top.metrics[i].bound_user);
			nb++;
		}
	memcpy(all, args, sizeof(Datum) * 3);
	all[3] = db_array(bmetrics, nb, TEXTOID);
	all[4] = db_array(bvalues, nb, NUMERICOID);
	all[5] = db_array(busers, nb, TEXTOID);
	db_execute(plan_upsert_top, all, false, 0, SPI_OK_SELECT);

	old = MemoryContextSwitchTo(top.cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *metric = SPI_getvalue(tuple, desc, 2);
		TopMetric  *m = find_metric(metric);
		bool		isnull;

		pfree(metric);
		if (m->n == m->cap)
		{
			m->cap = Max(m->cap * 2, 64);
			m->cand = m->cand == NULL ?
				palloc(sizeof(TopCandidate) * m->cap) :
				repalloc(m->cand, sizeof(TopCandidate) * m->cap);
		}
		m->cand[m->n].user = SPI_getvalue(tuple, desc, 1);
		m->cand[m->n].value = datumCopy(SPI_getbinval(tuple, desc, 3, &isnull),
										false, -1);
		m->n++;
	}
	for (int i = 0; i < top.nmetrics; i++)
		if (top.metrics[i].n > 2 * FOLD_TOP_KEEP)
			cut_candidates(&top.metrics[i]);
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return true;
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
	Datum	   *cut;
	Datum	   *users;
	Datum	   *cmetrics;
	Datum	   *values;
	Datum		args[6];
	int			ncand = 0;
	int			k = 0;

	if (top.cxt == NULL || nmetrics == 0)
		return;
	names = palloc(sizeof(Datum) * nmetrics);
	gens = palloc(sizeof(Datum) * nmetrics);
	cut = palloc(sizeof(Datum) * nmetrics);
	for (int i = 0; i < nmetrics; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(top.cxt);
		TopMetric  *m = find_metric(metrics[i]);

		MemoryContextSwitchTo(old);
		names[i] = CStringGetTextDatum(metrics[i]);
		gens[i] = Int64GetDatum(m->gen);
		cut[i] = BoolGetDatum(m->cut);
	}
	for (int i = 0; i < top.nmetrics; i++)
		ncand += top.metrics[i].n;
	users = palloc(sizeof(Datum) * Max(ncand, 1));
	cmetrics = palloc(sizeof(Datum) * Max(ncand, 1));
	values = palloc(sizeof(Datum) * Max(ncand, 1));
	for (int i = 0; i < top.nmetrics; i++)
	{
		TopMetric  *m = &top.metrics[i];
		Datum		metric = CStringGetTextDatum(m->metric);

		for (int j = 0; j < m->n; j++)
		{
			users[k] = CStringGetTextDatum(m->cand[j].user);
			cmetrics[k] = metric;
			values[k] = m->cand[j].value;
			k++;
		}
	}
	args[0] = db_array(names, nmetrics, TEXTOID);
	args[1] = db_array(gens, nmetrics, INT8OID);
	args[2] = db_array(cut, nmetrics, BOOLOID);
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
