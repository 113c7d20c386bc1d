/*-------------------------------------------------------------------------
 *
 * revenue.c
 *	  Revenue lookups for GET /userEvents/:userId.
 *
 * All lookups that arrived in one pass of the event loop are answered in
 * one transaction with one prepared plan, after MHD_run has returned (never
 * inside a libmicrohttpd callback).  Any error is caught here and turned
 * into 503 replies; the worker keeps serving.
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

static SPIPlanPtr lookup_plan = NULL;

/*
 * evproc_schema_ready reports whether the extension's tables exist in this
 * database.  Call inside a transaction.
 */
bool
evproc_schema_ready(void)
{
	Oid			nsp = get_namespace_oid("evproc", true);

	return OidIsValid(nsp) &&
		OidIsValid(get_relname_relid("user_revenue", nsp)) &&
		OidIsValid(get_relname_relid("processed_files", nsp)) &&
		OidIsValid(get_relname_relid("rejected_lines", nsp)) &&
		OidIsValid(get_relname_relid("seen_events", nsp));
}

static void
lookup_all(void)
{
	int			n = http_pending_lookups();

	if (lookup_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		lookup_plan = evproc_prepare("SELECT revenue::pg_catalog.text "
									 "FROM evproc.user_revenue WHERE user_id = $1",
									 1, argtypes);
	}

	for (int i = 0; i < n; i++)
	{
		Datum		arg = CStringGetTextDatum(http_lookup_user(i));

		evproc_execute_plan(lookup_plan, &arg, true, 1, SPI_OK_SELECT);
		if (SPI_processed == 0)
			http_complete_lookup(i, NULL);
		else
			http_complete_lookup(i, SPI_getvalue(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1));
	}
}

/*
 * revenue_serve_lookups answers every pending lookup, unless a file's
 * ingest transaction is open; then they wait for its commit.
 */
void
revenue_serve_lookups(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	/* not inside an ingest transaction: it must not be seen half done */
	if (http_pending_lookups() == 0 || ingest_in_transaction())
		return;

	PG_TRY();
	{
		evproc_begin_work("evproc: revenue lookup");

		if (evproc_schema_ready())
			lookup_all();
		else
			http_fail_lookups(503, "the tables of the evproc extension are missing in evproc.database");

		evproc_end_work();
	}
	PG_CATCH();
	{
		ErrorData  *edata = evproc_catch_error(oldcxt);

		ereport(LOG,
				(errmsg("evproc: revenue lookup failed: %s", edata->message)));
		FreeErrorData(edata);
		http_fail_lookups(503, "revenue lookup failed; try again");
	}
	PG_END_TRY();
}
