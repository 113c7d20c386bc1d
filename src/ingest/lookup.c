/*-------------------------------------------------------------------------
 *
 * lookup.c
 *	  The worker's reads for the requests that wait for the database, in
 *	  one unit of work a pass (lookup_serve), and the function of each kind
 *	  of them (http_lookup.c's table of kinds names it): revenue lookups
 *	  for GET /userEvents/:userId and the live streams (lookup_users: user
 *	  ids in, their values out) and top lists for GET /topUsers
 *	  (lookup_tops: a metric in, the users with its largest values out).
 *
 * The worker hands over all lookups that arrived in one pass of the event
 * loop, after MHD_run has returned (never inside a libmicrohttpd
 * callback), grouped by kind; each kind answers its items with prepared
 * plans.  Any error is caught and becomes LOOKUP_FAILED; the worker keeps
 * serving.
 *
 * Lookups never wait: not for a lock (the tables the kinds read are locked
 * conditionally; if VACUUM FULL or ALTER TABLE holds one, the lookups wait
 * in the worker and are tried again in a later pass, up to
 * LOOKUP_MAX_WAIT_MS), and not for a file's ingest transaction that spans
 * several passes.  During that transaction they run inside it, in a
 * subtransaction, and read the rows with a snapshot that does not see what
 * the transaction wrote (db_execute_committed): they answer the committed
 * values, never a file half counted.
 *
 * A top list reads the first rows of evproc.top_users (version 1.6: the
 * first users of each metric, kept by ingest, see fold_top.c) in the order
 * of its index (metric, value DESC, user_id COLLATE "C"): as many rows as
 * it lists, of a small table, whatever the number of users.  With the
 * extension at 1.4 or 1.5 it reads the index user_metrics_top instead.
 * The top lists of one pass that ask for the same metric are all answered
 * by one read of the longest of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/event.h"
#include "ingest/lookup.h"
#include "shared/db.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* how long lookups wait for a table locked by someone else, then fail */
#define LOOKUP_MAX_WAIT_MS		5000
/* how often they try again meanwhile */
#define LOOKUP_RETRY_MS			50

static TimestampTz blocked_since = 0;	/* 0: not blocked */
static TimestampTz lookup_retry_at = 0;

/* One call's lookups, for the functions run by db_try. */
typedef struct LookupPass
{
	const LookupWork *work;
	int			nwork;
	LookupBatch batch;			/* what the kinds' functions get */
	LookupOutcome outcome;
	const char *error;
} LookupPass;

/* plan_rows gives a user's metrics. */
static SPIPlanPtr plan_rows = NULL;

/*
 * plan_top gives the top list of metric $1, the longest one allowed (the
 * caller stops at the length it wants): ties by userId in bytes, whatever
 * the database's collation, the order of the index user_metrics_top.  A
 * constant LIMIT, so that the plan the cache keeps is that index's scan.
 */
static SPIPlanPtr plan_top = NULL;
static SPIPlanPtr plan_top_kept = NULL;

static void
prepare_plans(void)
{
	Oid			argtypes[1] = {TEXTOID};

	if (plan_rows == NULL)
		plan_rows = db_prepare("SELECT metric, value::pg_catalog.text "
							   "FROM evproc.user_metrics WHERE user_id OPERATOR(pg_catalog.=) $1",
							   1, argtypes);
	if (plan_top == NULL)
		plan_top = db_prepare("SELECT m.user_id, m.value::pg_catalog.text "
							  "FROM evproc.user_metrics AS m "
							  "WHERE m.metric OPERATOR(pg_catalog.=) $1 "
							  "ORDER BY m.value DESC, m.user_id COLLATE pg_catalog.\"C\" "
							  "LIMIT " CppAsString2(TOP_MAX_LIMIT),
							  1, argtypes);
}

/*
 * top_plan: the plan of a top list, of evproc.top_users if the extension
 * has it (1.6), else of the index user_metrics_top (prepared only once the
 * table it reads exists).
 */
static SPIPlanPtr
top_plan(void)
{
	Oid			argtypes[1] = {TEXTOID};

	if (!db_has_table("top_users"))
		return plan_top;
	if (plan_top_kept == NULL)
		plan_top_kept = db_prepare("SELECT t.user_id, t.value::pg_catalog.text "
								   "FROM evproc.top_users AS t "
								   "WHERE t.metric OPERATOR(pg_catalog.=) $1 "
								   "ORDER BY t.value DESC, t.user_id COLLATE pg_catalog.\"C\" "
								   "LIMIT " CppAsString2(TOP_MAX_LIMIT),
								   1, argtypes);
	return plan_top_kept;
}

/* One metric of a user, as read. */
typedef struct MetricValue
{
	const char *metric;
	const char *value;			/* a numeric literal */
} MetricValue;

/* in the order of jsonb's keys: shorter first, then by bytes */
static int
compare_metrics(const void *a, const void *b)
{
	const char *ma = ((const MetricValue *) a)->metric;
	const char *mb = ((const MetricValue *) b)->metric;
	size_t		la = strlen(ma);
	size_t		lb = strlen(mb);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(ma, mb);
}

/*
 * answer_item sets a lookup's answer from the rows SPI returned: the
 * revenue (0 if the user has other metrics only) and a JSON object of all
 * the metrics, or NULLs if there is none.
 */
static void
answer_item(const LookupBatch *b, RevenueLookup *item)
{
	MetricValue *rows = palloc(sizeof(MetricValue) * Max(SPI_processed, 1));
	int			n = 0;
	const char *revenue = "0";
	StringInfoData json;

	item->revenue = NULL;
	item->metrics = NULL;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *metric = SPI_getvalue(SPI_tuptable->vals[r],
										  SPI_tuptable->tupdesc, 1);
		char	   *value = SPI_getvalue(SPI_tuptable->vals[r],
										 SPI_tuptable->tupdesc, 2);

		rows[n].metric = metric;
		rows[n].value = value;
		if (strcmp(metric, EV_METRIC_REVENUE) == 0)
			revenue = value;
		n++;
	}
	if (n == 0)
		return;
	qsort(rows, n, sizeof(MetricValue), compare_metrics);
	initStringInfo(&json);
	appendStringInfoChar(&json, '{');
	for (int k = 0; k < n; k++)
	{
		char		key[EV_NAME_MAX * 6 + 3];

		ev_json_quote(rows[k].metric, strlen(rows[k].metric), key, sizeof(key));
		appendStringInfo(&json, "%s%s: %s", k > 0 ? ", " : "", key,
						 rows[k].value);
	}
	appendStringInfoChar(&json, '}');
	item->revenue = MemoryContextStrdup(b->cxt, revenue);
	item->metrics = MemoryContextStrdup(b->cxt, json.data);
}

/*
 * answer_top sets a top list's answer from the first of the rows SPI
 * returned (as many as it asks for): a JSON array of the users and their
 * values, as strings (exact, whatever the reader's numbers are).
 */
static void
answer_top(const LookupBatch *b, TopLookup *top)
{
	StringInfoData json;
	uint64		n = Min(SPI_processed, (uint64) top->limit);

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	for (uint64 r = 0; r < n; r++)
	{
		char	   *user = SPI_getvalue(SPI_tuptable->vals[r],
										SPI_tuptable->tupdesc, 1);
		char	   *value = SPI_getvalue(SPI_tuptable->vals[r],
										 SPI_tuptable->tupdesc, 2);
		char		quoted[EV_USER_ID_MAX * 6 + 3];

		ev_json_quote(user, strlen(user), quoted, sizeof(quoted));
		appendStringInfo(&json, "%s{\"userId\": %s, \"value\": \"%s\"}",
						 r > 0 ? ", " : "", quoted, value);
	}
	appendStringInfoChar(&json, ']');
	top->users = MemoryContextStrdup(b->cxt, json.data);
}

/*
 * lookup_tops answers n top lists (TopLookup): one read of the list per
 * metric, as long as the longest list of that metric, on the committed
 * values (inside an ingest transaction too, see db_execute_committed).
 */
void
lookup_tops(const LookupBatch *b, void *items, int n)
{
	TopLookup  *tops = items;
	SPIPlanPtr	plan;

	prepare_plans();
	plan = top_plan();
	for (int i = 0; i < n; i++)
		tops[i].users = NULL;
	for (int i = 0; i < n; i++)
	{
		TopLookup  *top = &tops[i];
		int			longest = top->limit;
		Datum		arg;

		if (top->users != NULL)
			continue;			/* answered with an earlier one's metric */
		for (int j = i + 1; j < n; j++)
			if (strcmp(tops[j].metric, top->metric) == 0)
				longest = Max(longest, tops[j].limit);
		arg = CStringGetTextDatum(top->metric);
		db_execute_committed(plan, &arg, longest, SPI_OK_SELECT);
		for (int j = i; j < n; j++)
			if (tops[j].users == NULL &&
				strcmp(tops[j].metric, top->metric) == 0)
				answer_top(b, &tops[j]);
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * lookup_users answers n users' lookups (RevenueLookup): inside an ingest
 * transaction, on the committed values (see db_execute_committed), which
 * that transaction's upserts leave as they were.
 */
void
lookup_users(const LookupBatch *b, void *items, int n)
{
	prepare_plans();
	for (int i = 0; i < n; i++)
	{
		RevenueLookup *item = &((RevenueLookup *) items)[i];
		Datum		arg = CStringGetTextDatum(item->user_id);

		if (b->in_ingest)
			db_execute_committed(plan_rows, &arg, 0, SPI_OK_SELECT);
		else
			db_execute(plan_rows, &arg, true, 0, SPI_OK_SELECT);
		answer_item(b, item);
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * lookups_blocked notes that table is locked by someone else: the lookups
 * are tried again in a later pass, and fail once they have waited
 * LOOKUP_MAX_WAIT_MS.
 */
static void
lookups_blocked(LookupPass *p, const char *table)
{
	TimestampTz now = GetCurrentTimestamp();
	static char error[NAMEDATALEN + 32];

	if (blocked_since == 0)
		blocked_since = now;
	lookup_retry_at = TimestampTzPlusMilliseconds(now, LOOKUP_RETRY_MS);
	p->outcome = LOOKUP_WAITING;
	if (TimestampDifferenceExceeds(blocked_since, now, LOOKUP_MAX_WAIT_MS))
	{
		p->outcome = LOOKUP_FAILED;
		snprintf(error, sizeof(error), "evproc.%s is locked; try again", table);
		p->error = error;
		blocked_since = 0;
		lookup_retry_at = 0;
	}
}

/*
 * serve_or_wait answers the lookups, kind after kind, if the tables they
 * read are free, else leaves them all for a later pass (see
 * lookups_blocked).
 */
static void
serve_or_wait(void *arg)
{
	LookupPass *p = arg;

	for (int k = 0; k < p->nwork; k++)
		if (p->work[k].n > 0 &&
			!db_try_lock(&p->work[k].table, 1, AccessShareLock))
		{
			lookups_blocked(p, p->work[k].table);
			return;
		}
	for (int k = 0; k < p->nwork; k++)
		if (p->work[k].n > 0)
			p->work[k].serve(&p->batch, p->work[k].items, p->work[k].n);
	p->outcome = LOOKUP_ANSWERED;
	blocked_since = 0;
}

/* serve_alone answers the lookups in a unit of work of their own. */
static void
serve_alone(void *arg)
{
	LookupPass *p = arg;

	db_begin("evproc: revenue lookup");
	if (!db_schema_ready())
	{
		p->outcome = LOOKUP_FAILED;
		p->error = "the tables of the evproc extension are missing in evproc.database, or older than its library";
	}
	else
		serve_or_wait(p);
	db_commit();
}

/*
 * lookup_revenue looks up the revenue of n users.  If a unit of work is
 * open (a file's ingest transaction), the lookups run inside it, in a
 * subtransaction, on the committed values.  LOOKUP_WAITING asks to call
 * again after lookup_timeout_ms.
 */
LookupOutcome
lookup_revenue(RevenueLookup *items, int n, const char **error)
{
	LookupWork	work = {lookup_users, "user_metrics", items, n};

	return lookup_serve(&work, 1, error);
}

/*
 * lookup_serve answers the items of nwork kinds together, in one unit of
 * work (or subtransaction), as lookup_revenue does.
 */
LookupOutcome
lookup_serve(const LookupWork *work, int nwork, const char **error)
{
	LookupPass	p;
	ErrorData  *edata;
	int			n = 0;

	*error = NULL;
	for (int k = 0; k < nwork; k++)
		n += work[k].n;
	if (n == 0)
	{
		blocked_since = 0;
		return LOOKUP_ANSWERED;
	}
	if (GetCurrentTimestamp() < lookup_retry_at)
		return LOOKUP_WAITING;

	p.work = work;
	p.nwork = nwork;
	p.batch.cxt = CurrentMemoryContext;
	p.batch.in_ingest = false;
	p.outcome = LOOKUP_FAILED;
	p.error = NULL;
	if (db_in_work())
	{
		p.batch.in_ingest = true;
		edata = db_try_sub(serve_or_wait, &p);
	}
	else
		edata = db_try(serve_alone, &p);
	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("evproc: revenue lookup failed: %s", edata->message)));
		FreeErrorData(edata);
		p.outcome = LOOKUP_FAILED;
		p.error = "revenue lookup failed; try again";
	}
	*error = p.error;
	return p.outcome;
}

/*
 * lookup_timeout_ms: how long the loop may sleep as far as lookups go,
 * with nwaiting lookups waiting: 0 if there are some to serve, until the
 * next try if the table is locked, -1 (no limit) if none wait.
 */
long
lookup_timeout_ms(int nwaiting)
{
	TimestampTz now = GetCurrentTimestamp();

	if (nwaiting == 0)
		return -1;
	if (lookup_retry_at <= now)
		return 0;
	return (long) ((lookup_retry_at - now + 999) / 1000);
}
