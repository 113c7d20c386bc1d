/*-------------------------------------------------------------------------
 *
 * replica_feed.c
 *	  The standby feed: how the streams of a hot standby follow what
 *	  replay brings.
 *
 * On a primary the change feed (feed.c) is fed by ingest's commits; on a
 * standby nothing is ingested, and the commits arrive by replay, which
 * tells no one.  So each ingest commit also writes one row to
 * evproc.user_changes, in the file's transaction: the users whose metrics
 * it changed (NULL for more than FEED_MAX_USERS, "many users").  The row
 * replicates with the metrics.  A standby's worker reads the rows past
 * the last one it read, whenever replay has advanced, at most every
 * REPLICA_POLL_MS, and publishes each to the change feed as ingest would
 * have: its subscribers then look the users up in the replicated tables.
 * A row missing from the numbers (a sequence that jumped, rows pruned
 * before they were read) publishes "many users", so subscribers
 * resynchronize rather than miss a change.
 *
 * The primary deletes rows older than REPLICA_KEEP_MINUTES once a minute;
 * a standby reads them within a second of their replay, so only a
 * standby that replays that much WAL between two reads could miss rows,
 * and then it resynchronizes.  A server whose extension is older than 1.6
 * has no such table: nothing is written or read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/replica_feed.h"
#include "shared/db.h"
#include "shared/feed.h"

#include "access/xlogrecovery.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* a standby reads the table at most this often, while replay advances */
#define REPLICA_POLL_MS			250
/* rows read in one unit of work; more are read at the next pass */
#define REPLICA_POLL_ROWS		1000
/* the primary keeps rows this long */
#define REPLICA_KEEP_MINUTES	10

static int64 cursor = -1;		/* the last seq published; -1: not yet read */
static XLogRecPtr polled_lsn = InvalidXLogRecPtr;	/* replay, last read */
static TimestampTz next_poll = 0;
static bool more = false;		/* the last read stopped at the row limit */

/*
 * replica_feed_record writes the commit's row: users (nusers of them) or
 * NULL for more than FEED_MAX_USERS.  Called in the file's transaction,
 * just before its commit.
 */
void
replica_feed_record(const char *const *users, int nusers)
{
	static SPIPlanPtr plan_users = NULL;
	static SPIPlanPtr plan_many = NULL;

	if (nusers == 0 || !db_has_table("user_changes"))
		return;
	if (nusers > FEED_MAX_USERS)
	{
		if (plan_many == NULL)
			plan_many = db_prepare("INSERT INTO evproc.user_changes (users) VALUES (NULL)",
								   0, NULL);
		db_execute(plan_many, NULL, false, 0, SPI_OK_INSERT);
	}
	else
	{
		Datum	   *elems = palloc(sizeof(Datum) * nusers);
		Datum		arg;

		for (int i = 0; i < nusers; i++)
			elems[i] = CStringGetTextDatum(users[i]);
		arg = db_array(elems, nusers, TEXTOID);
		if (plan_users == NULL)
		{
			Oid			types[1] = {TEXTARRAYOID};

			plan_users = db_prepare("INSERT INTO evproc.user_changes (users) VALUES ($1)",
									1, types);
		}
		db_execute(plan_users, &arg, false, 0, SPI_OK_INSERT);
	}
}

/*
 * replica_feed_prune deletes the rows older than REPLICA_KEEP_MINUTES (on
 * the primary).  An error is logged; the prune is tried again next time.
 */
void
replica_feed_prune(void)
{
	(void) db_prune("user_changes", "committed_at",
					REPLICA_KEEP_MINUTES * 60.0);
}

/* publish_row publishes one row read on a standby: its users, or "many" */
static void
publish_row(int64 seq, Datum users, bool isnull, XLogRecPtr lsn)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	const char **ids;

	/* a number missing: a change may be missing; resynchronize */
	if (cursor >= 0 && seq != cursor + 1)
		(void) feed_publish_many(lsn);
	cursor = seq;
	if (isnull)
	{
		(void) feed_publish_many(lsn);
		return;
	}
	deconstruct_array(DatumGetArrayTypeP(users), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	ids = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		ids[i] = nulls[i] ? "" : TextDatumGetCString(elems[i]);
	(void) feed_publish(lsn, ids, n);
}

static void
poll_in_unit(void *arg)
{
	static SPIPlanPtr plan_rows = NULL;
	XLogRecPtr	lsn = *(XLogRecPtr *) arg;

	db_begin("evproc: reading evproc.user_changes");
	more = false;
	if (!db_has_table("user_changes"))
		cursor = 0;				/* from the first row, once there is one */
	else if (cursor < 0)
	{
		/* a new reader follows from now on, as a new subscriber does */
		int			rc = SPI_execute("SELECT pg_catalog.max(seq) FROM evproc.user_changes",
									 true, 1);
		bool		isnull;
		Datum		d;

		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						  &isnull);
		cursor = isnull ? 0 : DatumGetInt64(d);
	}
	else
	{
		Datum		arg = Int64GetDatum(cursor);

		if (plan_rows == NULL)
		{
			Oid			types[1] = {INT8OID};

			plan_rows = db_prepare("SELECT seq, users FROM evproc.user_changes "
								   "WHERE seq OPERATOR(pg_catalog.>) $1 ORDER BY seq "
								   "LIMIT " CppAsString2(REPLICA_POLL_ROWS),
								   1, types);
		}
		db_execute(plan_rows, &arg, true, 0, SPI_OK_SELECT);
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int64		seq = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
			Datum		users = SPI_getbinval(tup, desc, 2, &isnull);

			publish_row(seq, users, isnull, lsn);
		}
		more = SPI_processed == REPLICA_POLL_ROWS;
	}
	db_commit();
}

/*
 * replica_feed_poll, on a hot standby (one worker of the server): if
 * replay has advanced since the last read and REPLICA_POLL_MS have passed,
 * publishes the rows replay brought.  An error is logged and the read
 * tried again.
 */
void
replica_feed_poll(void)
{
	TimestampTz now = GetCurrentTimestamp();
	XLogRecPtr	lsn = GetXLogReplayRecPtr(NULL);
	ErrorData  *edata;

	if (now < next_poll || (lsn == polled_lsn && !more))
		return;
	next_poll = TimestampTzPlusMilliseconds(now, REPLICA_POLL_MS);
	edata = db_try(poll_in_unit, &lsn);
	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("evproc: could not read evproc.user_changes: %s",
						edata->message),
				 errdetail("It is read again shortly.")));
		FreeErrorData(edata);
		return;
	}
	polled_lsn = lsn;
}

/* replica_feed_timeout_ms: how long a standby's loop may sleep for us */
long
replica_feed_timeout_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (more)
		return 0;
	return next_poll <= now ? REPLICA_POLL_MS :
		(long) ((next_poll - now + 999) / 1000);
}
