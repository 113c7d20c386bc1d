/*-------------------------------------------------------------------------
 *
 * db.c
 *	  The worker's database plumbing, used by ingest, lookups and
 *	  everything else the worker does in the database.
 *
 * A unit of work is a transaction with an SPI connection and a snapshot
 * (db_begin ... db_commit); it may stay open across passes of the event
 * loop (a file's ingest does).  db_try is the one place errors are
 * caught: it runs a function, and if that throws, rolls back whatever unit
 * is open and hands the error to the caller, so that the loop goes on.
 * db_try_sub does the same inside a subtransaction of the open unit.
 *
 * The schema check and the conditional table locks are here too: nothing
 * in the worker waits for a lock held by someone else.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/db.h"
#include "shared/settings.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

const char *const db_tables[DB_NTABLES] = {
	"processed_files", "rejected_lines", "seen_events", "user_metrics"
};

static bool in_work = false;
static TimestampTz stats_due = 0;	/* statistics to send then; 0: none */

/* what pg_stat_activity shows between units of work */
static BackendState standing_state = STATE_IDLE;
static char standing_text[1024] = "";

static void
report_standing(void)
{
	pgstat_report_activity(standing_state,
						   standing_text[0] != '\0' ? standing_text : NULL);
}

/*
 * db_standing_activity sets what pg_stat_activity shows between units of
 * work (a unit shows its own activity, see db_begin): "active" if running,
 * else "idle", with text as the query.
 */
void
db_standing_activity(bool running, const char *text)
{
	standing_state = running ? STATE_RUNNING : STATE_IDLE;
	strlcpy(standing_text, text, sizeof(standing_text));
	if (!in_work)
		report_standing();
}

/*
 * db_begin starts a unit of database work: a transaction, an SPI
 * connection and a snapshot; activity is what pg_stat_activity shows.
 */
void
db_begin(const char *activity)
{
	Assert(!in_work);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();

	/*
	 * Commit durably (a local flush, whatever the server's setting), but
	 * never sleep at commit waiting for synchronous standbys: the loop would
	 * stop serving for as long as they take, forever if they are gone.  What
	 * must wait for them (the answers to POSTs of the database journal)
	 * waits in intake.c, serving meanwhile (syncrep.c).
	 */
	(void) set_config_option("synchronous_commit", "local", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
	in_work = true;
}

/*
 * db_select_latest runs a read-only query on the latest committed state,
 * whatever the unit of work's snapshot: a copy reloaded inside a file's
 * long ingest transaction (event types, tokens) must see a change
 * committed since that transaction began.  Returns SPI_execute's result.
 */
int
db_select_latest(const char *sql)
{
	int			rc;

	PushActiveSnapshot(GetLatestSnapshot());
	rc = SPI_execute(sql, true, 0);
	PopActiveSnapshot();
	return rc;
}

/*
 * db_commit commits the unit of work, and sends the statistics it
 * gathered (tables written, tuples changed) to the cumulative statistics
 * system, as worker_spi does: a background worker has no idle moment at
 * which PostgreSQL would do that for it, so pg_stat_user_tables would
 * never see its writes.
 */
void
db_commit(void)
{
	Assert(in_work);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	in_work = false;
	report_standing();
	stats_due = GetCurrentTimestamp();
	db_report_stats();
}

/*
 * db_report_stats sends the statistics gathered by committed units of work
 * when due.  PostgreSQL sends them at most once a second; what is left is
 * sent on a later call, which db_stats_timeout_ms asks the loop for, so
 * that the last commit before a quiet spell is not left unsent.
 */
void
db_report_stats(void)
{
	long		wait_ms;

	if (stats_due == 0 || in_work || GetCurrentTimestamp() < stats_due)
		return;
	wait_ms = pgstat_report_stat(false);
	stats_due = wait_ms > 0 ?
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms) : 0;
}

/* db_stats_timeout_ms: ms until db_report_stats has work, or -1. */
long
db_stats_timeout_ms(void)
{
	TimestampTz now;

	if (stats_due == 0)
		return -1;
	now = GetCurrentTimestamp();
	return stats_due <= now ? 0 : (long) ((stats_due - now + 999) / 1000);
}

/* db_abort rolls back the unit of work, if one is open. */
void
db_abort(void)
{
	if (!in_work)
		return;
	AbortCurrentTransaction();
	in_work = false;
	report_standing();
}

/* db_in_work: is a unit of work open (possibly since an earlier pass)? */
bool
db_in_work(void)
{
	return in_work;
}

/*
 * db_try runs work(arg).  If it throws, the unit of work it left open (if
 * any) is rolled back and the error is returned, palloc'd in the caller's
 * memory context (the caller logs it and frees it with FreeErrorData);
 * otherwise NULL.
 */
ErrorData *
db_try(DbWork work, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *edata = NULL;

	PG_TRY();
	{
		work(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* also a transaction that db_begin had started when it threw */
		AbortCurrentTransaction();
		in_work = false;
		report_standing();
		MemoryContextSwitchTo(cxt);
	}
	PG_END_TRY();
	return edata;
}

/*
 * db_try_sub runs work(arg) inside a subtransaction of the open unit of
 * work, so that an error rolls back only what work did: the unit goes on.
 * Returns the error, as db_try does, or NULL.
 */
ErrorData *
db_try_sub(DbWork work, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	Assert(in_work);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

typedef struct PruneCall
{
	const char *table;
	const char *column;
	double		seconds;
	uint64		deleted;
} PruneCall;

static void
prune_work(void *arg)
{
	PruneCall  *call = arg;
	char		activity[64];

	snprintf(activity, sizeof(activity), "evproc: pruning evproc.%s",
			 call->table);
	db_begin(activity);
	if (db_has_table(call->table))
	{
		Oid			argtypes[1] = {FLOAT8OID};
		Datum		secs = Float8GetDatum(call->seconds);
		char		sql[256];
		int			rc;

		/* OPERATOR() operators all bind alike: parenthesize */
		snprintf(sql, sizeof(sql),
				 "DELETE FROM evproc.%s WHERE %s OPERATOR(pg_catalog.<) "
				 "(pg_catalog.now() OPERATOR(pg_catalog.-) "
				 "pg_catalog.make_interval(secs => $1))",
				 call->table, call->column);
		rc = SPI_execute_with_args(sql, 1, argtypes, &secs, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s",
				 SPI_result_code_string(rc));
		call->deleted = SPI_processed;
	}
	db_commit();
}

/*
 * db_prune deletes the rows of evproc.<table> whose timestamp <column> is
 * older than seconds, in a unit of work of its own (nothing if the table
 * is missing), and returns how many.  table and column are the caller's
 * constants, never input.  An error is logged and 0 returned: a prune is
 * simply tried again next time.
 */
uint64
db_prune(const char *table, const char *column, double seconds)
{
	PruneCall	call = {table, column, seconds, 0};
	ErrorData  *edata = db_try(prune_work, &call);

	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("evproc: could not prune evproc.%s: %s",
						table, edata->message)));
		FreeErrorData(edata);
		return 0;
	}
	return call.deleted;
}

/* db_prepare prepares a statement and keeps its plan for the process. */
SPIPlanPtr
db_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * db_execute runs a kept plan and makes anything but the expected SPI
 * result an error.
 */
void
db_execute(SPIPlanPtr plan, Datum *args, bool read_only, long tcount,
		   int expect)
{
	int			rc = SPI_execute_plan(plan, args, NULL, read_only, tcount);

	if (rc != expect)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * db_execute_committed runs a read-only plan on the latest committed
 * state without the open transaction's own writes: inside a file's long
 * ingest transaction, the rows as they were before it (and as others have
 * committed since), never a file half counted.  A snapshot's command id
 * hides what its transaction wrote from that command on, and keeps what
 * it replaced visible; the first command's id hides all of it.
 */
void
db_execute_committed(SPIPlanPtr plan, Datum *args, long tcount, int expect)
{
	int			rc;

	PushCopiedSnapshot(GetLatestSnapshot());
	GetActiveSnapshot()->curcid = FirstCommandId;
	/* read-only: SPI runs the plan on the active snapshot, unchanged */
	rc = SPI_execute_plan(plan, args, NULL, true, tcount);
	PopActiveSnapshot();
	if (rc != expect)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/* db_array makes a one-dimensional array of n elements of type elemtype. */
Datum
db_array(Datum *elems, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, elemtype,
										   typlen, typbyval, typalign));
}

/* db_numeric makes a numeric Datum of a decimal literal. */
Datum
db_numeric(const char *literal)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(literal),
							   ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/*
 * db_extension_rel: the OID of the extension's relation name, or
 * InvalidOid if it (or the schema) is missing.  In a unit of work.
 */
Oid
db_extension_rel(const char *name)
{
	Oid			nsp = get_namespace_oid("evproc", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * db_schema_ready reports whether the extension's tables exist in this
 * database.  Call inside a unit of work.
 */
bool
db_schema_ready(void)
{
	for (int i = 0; i < DB_NTABLES; i++)
		if (!OidIsValid(db_extension_rel(db_tables[i])))
			return false;
	return true;
}

/* db_has_table: does the extension's table name exist?  In a unit of work. */
bool
db_has_table(const char *name)
{
	return OidIsValid(db_extension_rel(name));
}

/*
 * db_has_column: does the extension's table have the column?  In a unit of
 * work.  (An update adds columns while the worker runs: see fold_prepare.)
 */
bool
db_has_column(const char *table, const char *column)
{
	Oid			rel = db_extension_rel(table);

	return OidIsValid(rel) && get_attnum(rel, column) != InvalidAttrNumber;
}

/*
 * db_check_schema raises an error, with a hint saying what to run, unless
 * the extension's tables are there and of this library's version (1.0 had
 * no fingerprints, 1.1 a table of revenue instead of metrics).
 */
void
db_check_schema(void)
{
	Oid			revenue = db_extension_rel("user_revenue");

	if (db_has_table("processed_files") &&
		(!db_has_column("processed_files", "sha256") ||
		 (!db_has_table("user_metrics") && OidIsValid(revenue) &&
		  get_rel_relkind(revenue) == RELKIND_RELATION)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the evproc extension in database \"%s\" is older than its library",
						evproc_database),
				 errhint("Run ALTER EXTENSION evproc UPDATE in that database.")));
	if (!db_schema_ready())
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the tables of the evproc extension are missing in database \"%s\"",
						evproc_database),
				 errhint("Run CREATE EXTENSION evproc in that database.")));
}

/*
 * db_try_lock takes lockmode on the named tables of the extension without
 * waiting: false if one is missing or someone else holds a conflicting
 * lock (VACUUM FULL, ALTER TABLE, LOCK TABLE), and then the caller tries
 * again later instead of stalling the event loop.  Locks taken before a
 * failure are kept until the transaction ends.
 */
bool
db_try_lock(const char *const *tables, int ntables, int lockmode)
{
	for (int i = 0; i < ntables; i++)
	{
		Oid			relid = db_extension_rel(tables[i]);

		if (!OidIsValid(relid) ||
			!ConditionalLockRelationOid(relid, (LOCKMODE) lockmode))
			return false;
	}
	return true;
}
