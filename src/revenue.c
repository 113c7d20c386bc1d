/*-------------------------------------------------------------------------
 *
 * revenue.c
 *	  Revenue lookups for GET /userEvents/:userId.
 *
 * All lookups that arrived in one pass of the event loop are answered with
 * one prepared plan, after MHD_run has returned (never inside a
 * libmicrohttpd callback).  Any error is caught here and turned into 503
 * replies; the worker keeps serving.
 *
 * Lookups never wait: not for a lock (the table is locked conditionally;
 * if VACUUM FULL or ALTER TABLE holds it, they are tried again in a later
 * pass, up to LOOKUP_MAX_WAIT_MS), and not for a file's ingest transaction
 * that spans several passes.  During that transaction they run inside it,
 * in a subtransaction, and take off the sums it has already added (see
 * ingest_uncommitted), so that they answer the committed value.
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/* how long lookups wait for a table locked by someone else, then 503 */
#define LOOKUP_MAX_WAIT_MS		5000
/* how often they try again meanwhile */
#define LOOKUP_RETRY_MS			50

static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr lookup_minus_plan = NULL;
static TimestampTz blocked_since = 0;	/* 0: not blocked */
static TimestampTz lookup_retry_at = 0;

/* the tables of the extension, in the order they are locked */
const char *const evproc_tables[EVPROC_NTABLES] = {
	"processed_files", "rejected_lines", "seen_events", "user_revenue"
};

/*
 * evproc_schema_ready reports whether the extension's tables exist in this
 * database.  Call inside a transaction.
 */
bool
evproc_schema_ready(void)
{
	Oid			nsp = get_namespace_oid("evproc", true);

	if (!OidIsValid(nsp))
		return false;
	for (int i = 0; i < EVPROC_NTABLES; i++)
		if (!OidIsValid(get_relname_relid(evproc_tables[i], nsp)))
			return false;
	return true;
}

/*
 * evproc_try_lock takes lockmode on the named tables of the extension
 * without waiting: false if one is missing or someone else holds a
 * conflicting lock (VACUUM FULL, ALTER TABLE, LOCK TABLE), and then the
 * caller tries again later instead of stalling the event loop.  Locks
 * taken before a failure are kept until the transaction ends.
 */
bool
evproc_try_lock(const char *const *tables, int ntables, int lockmode)
{
	Oid			nsp = get_namespace_oid("evproc", true);

	for (int i = 0; i < ntables; i++)
	{
		Oid			relid = get_relname_relid(tables[i], nsp);

		if (!OidIsValid(relid) ||
			!ConditionalLockRelationOid(relid, (LOCKMODE) lockmode))
			return false;
	}
	return true;
}

/*
 * lookup_all answers every pending lookup.  Inside an ingest transaction
 * (in_ingest), a user whose row already holds the file's sum is read with
 * that sum taken off again, or as unknown if the file added the row.
 */
static void
lookup_all(bool in_ingest)
{
	int			n = http_pending_lookups();

	if (lookup_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		lookup_plan = evproc_prepare("SELECT revenue::pg_catalog.text "
									 "FROM evproc.user_revenue WHERE user_id = $1",
									 1, argtypes);
	}
	if (lookup_minus_plan == NULL)
	{
		Oid			argtypes[2] = {TEXTOID, NUMERICOID};

		/*
		 * The row holds the file's sum: take it off.  A row the file
		 * inserted (xmax 0; an upsert that updated leaves its lock's xid
		 * there) was not there before: NULL, unknown.
		 */
		lookup_minus_plan = evproc_prepare("SELECT CASE WHEN xmax OPERATOR(pg_catalog.=) 0 THEN NULL "
										   "ELSE (revenue OPERATOR(pg_catalog.-) $2)::pg_catalog.text END "
										   "FROM evproc.user_revenue WHERE user_id = $1",
										   2, argtypes);
	}

	for (int i = 0; i < n; i++)
	{
		const char *user = http_lookup_user(i);
		Datum		args[2];
		char		delta[EV_DECIMAL_BUFSZ];

		args[0] = CStringGetTextDatum(user);
		if (in_ingest && ingest_uncommitted(user, delta))
		{
			args[1] = DirectFunctionCall3(numeric_in, CStringGetDatum(delta),
										  ObjectIdGetDatum(InvalidOid),
										  Int32GetDatum(-1));
			evproc_execute_plan(lookup_minus_plan, args, false, 1, SPI_OK_SELECT);
		}
		else
			/* read-write mode: a new snapshot, also inside ingest */
			evproc_execute_plan(lookup_plan, args, !in_ingest, 1, SPI_OK_SELECT);
		/* no row, or NULL: unknown */
		http_complete_lookup(i, SPI_processed == 0 ? NULL :
							 SPI_getvalue(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1));
		SPI_freetuptable(SPI_tuptable);
	}
}

/*
 * lookups_blocked notes that the table is locked by someone else: the
 * lookups are tried again in a later pass, and answered 503 once they
 * have waited LOOKUP_MAX_WAIT_MS.
 */
static void
lookups_blocked(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (blocked_since == 0)
		blocked_since = now;
	lookup_retry_at = TimestampTzPlusMilliseconds(now, LOOKUP_RETRY_MS);
	if (TimestampDifferenceExceeds(blocked_since, now, LOOKUP_MAX_WAIT_MS))
	{
		http_fail_lookups(503, "evproc.user_revenue is locked; try again");
		blocked_since = 0;
		lookup_retry_at = 0;
	}
}

/*
 * revenue_timeout_ms: how long the loop may sleep as far as lookups go: 0
 * if some are waiting to be served, until the next try if the table is
 * locked, -1 (no limit) if none are waiting.
 */
long
revenue_timeout_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (http_pending_lookups() == 0)
		return -1;
	if (lookup_retry_at <= now)
		return 0;
	return (long) ((lookup_retry_at - now + 999) / 1000);
}

/*
 * serve_or_wait answers the lookups if evproc.user_revenue is free, else
 * leaves them for a later pass (see lookups_blocked).
 */
static void
serve_or_wait(bool in_ingest)
{
	static const char *const user_revenue[] = {"user_revenue"};

	if (evproc_try_lock(user_revenue, 1, AccessShareLock))
	{
		lookup_all(in_ingest);
		blocked_since = 0;
	}
	else
		lookups_blocked();
}

/* lookups_failed logs a caught error and answers every lookup 503. */
static void
lookups_failed(ErrorData *edata)
{
	ereport(LOG,
			(errmsg("evproc: revenue lookup failed: %s", edata->message)));
	FreeErrorData(edata);
	http_fail_lookups(503, "revenue lookup failed; try again");
}

/*
 * serve_in_ingest answers the lookups inside the open ingest transaction,
 * in a subtransaction so that an error cannot abort the file's work.
 */
static void
serve_in_ingest(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		serve_or_wait(true);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		lookups_failed(edata);
	}
	PG_END_TRY();
}

/* revenue_serve_lookups answers every pending lookup it can now. */
void
revenue_serve_lookups(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	if (http_pending_lookups() == 0)
	{
		blocked_since = 0;
		return;
	}
	if (GetCurrentTimestamp() < lookup_retry_at)
		return;
	if (ingest_in_transaction())
	{
		serve_in_ingest();
		return;
	}

	PG_TRY();
	{
		evproc_begin_work("evproc: revenue lookup");

		if (!evproc_schema_ready())
			http_fail_lookups(503, "the tables of the evproc extension are missing in evproc.database");
		else
			serve_or_wait(false);

		evproc_end_work();
	}
	PG_CATCH();
	{
		lookups_failed(evproc_catch_error(oldcxt));
	}
	PG_END_TRY();
}
