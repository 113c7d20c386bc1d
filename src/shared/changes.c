/*-------------------------------------------------------------------------
 *
 * changes.c
 *	  The workers' copies of tables: telling them that a table changed,
 *	  and reading it again.
 *
 * A statement trigger on the table (evproc.event_types_changed,
 * evproc.tokens_changed) calls changes_note, which arranges for the
 * committing backend to bump the table's generation counter in shared
 * memory and set the workers' latches, at commit, when the change is
 * visible (an aborted change tells nobody).  Each worker compares the
 * counter with the generation of its copy at each pass and reloads.
 *
 * A copy is also read again every CHANGES_READ_MS, which catches what no
 * trigger sees (DROP and CREATE EXTENSION, a restore with triggers
 * disabled, a prepared transaction), every CHANGES_MISSING_MS while the
 * table is missing, and soon when it was locked.  The wake-up comes at
 * XACT_EVENT_COMMIT, before the transaction's catalog invalidations are
 * sent, so a read right after a CREATE EXTENSION can still miss the new
 * tables: hence the quick look again while one is missing.  A read that
 * fails backs off, doubling up to CHANGES_READ_MS, and is logged once in
 * a while.  What a read means (which copy stays, what is logged) is the
 * copy owner's (types.c, tokens.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/changes.h"
#include "shared/db.h"
#include "shared/workers.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

/* a copy is read again this often, even if no trigger said it changed */
#define CHANGES_READ_MS		10000
/* ... this often while its table is missing */
#define CHANGES_MISSING_MS	1000
/* ... and this soon when its table was locked */
#define CHANGES_LOCKED_MS	100

typedef struct ChangesShared
{
	pg_atomic_uint64 generation[WATCH_NTABLES]; /* bumped by each commit */
} ChangesShared;

static ChangesShared *shared = NULL;

/* a backend: the tables changed by the open transaction */
static bool pending[WATCH_NTABLES];
static bool callback_registered = false;

Size
changes_shmem_size(void)
{
	return MAXALIGN(sizeof(ChangesShared));
}

/* changes_shmem_init attaches to the shared memory, creating it once. */
void
changes_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("evproc changes", sizeof(ChangesShared), &found);
	if (!found)
		for (int i = 0; i < WATCH_NTABLES; i++)
			pg_atomic_init_u64(&shared->generation[i], 0);
	LWLockRelease(AddinShmemInitLock);
}

/* at_commit tells the workers of the tables the transaction changed. */
static void
at_commit(XactEvent event, void *arg)
{
	bool		any = false;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			for (int i = 0; i < WATCH_NTABLES; i++)
				if (pending[i] && shared != NULL)
				{
					pg_atomic_fetch_add_u64(&shared->generation[i], 1);
					any = true;
				}
			if (any)
				workers_wake();
			memset(pending, 0, sizeof(pending));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a prepared change is seen by the periodic reload */
			memset(pending, 0, sizeof(pending));
			break;
		default:
			break;
	}
}

/*
 * changes_note, called by the statement trigger of table (fcinfo is the
 * trigger's call: it is checked to be one), has the workers told at
 * commit.
 */
void
changes_note(FunctionCallInfo fcinfo, WatchedTable table)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger",
						table == WATCH_TOKENS ? "evproc.tokens_changed()" :
						"evproc.event_types_changed()")));
	if (!callback_registered)
	{
		RegisterXactCallback(at_commit, NULL);
		callback_registered = true;
	}
	pending[table] = true;
}

/* changes_generation: table's generation (how many commits changed it) */
static uint64
changes_generation(WatchedTable table)
{
	return pg_atomic_read_u64(&shared->generation[table]);
}

/* changes_stale: should the copy be read again now? */
bool
changes_stale(const TableCopy *copy)
{
	return changes_generation(copy->table) != copy->generation ||
		GetCurrentTimestamp() >= copy->next_read;
}

/* changes_timeout_ms: how long the loop may sleep as far as copy goes */
long
changes_timeout_ms(const TableCopy *copy)
{
	TimestampTz now = GetCurrentTimestamp();

	return copy->next_read <= now ? 0 :
		(long) ((copy->next_read - now + 999) / 1000);
}

/* read_if_there reads the copy's table if it exists and is not locked. */
static void
read_if_there(TableCopy *copy, TableRead *result)
{
	const char *tables[1] = {copy->name};

	if (!db_has_table(copy->name))
		*result = TABLE_MISSING;
	else if (!db_try_lock(tables, 1, AccessShareLock))
		*result = TABLE_UNREAD;
	else
	{
		copy->load();
		*result = TABLE_READ;
	}
}

typedef struct ReadCall
{
	TableCopy  *copy;
	TableRead	result;
} ReadCall;

static void
read_in_sub(void *arg)
{
	ReadCall   *call = arg;

	read_if_there(call->copy, &call->result);
}

static void
read_in_unit(void *arg)
{
	ReadCall   *call = arg;
	char		activity[96];

	snprintf(activity, sizeof(activity), "evproc: reading evproc.%s",
			 call->copy->name);
	db_begin(activity);
	read_if_there(call->copy, &call->result);
	db_commit();
}

/*
 * changes_read reads the copy's table again: in the open unit of work (a
 * file's ingest transaction) if there is one, else in a unit of its own,
 * and says when to read it next.  A change committed while it reads is
 * read again at the next pass.
 */
TableRead
changes_read(TableCopy *copy)
{
	uint64		generation = changes_generation(copy->table);
	ReadCall	call = {copy, TABLE_UNREAD};
	ErrorData  *edata;
	int			next_ms = CHANGES_READ_MS;

	edata = db_in_work() ? db_try_sub(read_in_sub, &call) :
		db_try(read_in_unit, &call);
	if (edata != NULL)
	{
		/* an error that stays (a column altered) is logged once a while */
		copy->backoff_ms = Min(Max(copy->backoff_ms * 2, CHANGES_LOCKED_MS),
							   CHANGES_READ_MS);
		if (copy->backoff_ms == CHANGES_LOCKED_MS ||
			copy->backoff_ms == CHANGES_READ_MS)
			ereport(LOG,
					(errmsg("evproc: could not read evproc.%s: %s",
							copy->name, edata->message),
					 errdetail("The copy read before stays in force; the table is read again in %d ms.",
							   copy->backoff_ms)));
		FreeErrorData(edata);
		next_ms = copy->backoff_ms;
		call.result = TABLE_UNREAD;
	}
	else
	{
		copy->backoff_ms = 0;
		if (call.result == TABLE_UNREAD)
			next_ms = CHANGES_LOCKED_MS;
		else if (call.result == TABLE_MISSING)
			next_ms = CHANGES_MISSING_MS;
	}
	copy->next_read = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  next_ms);
	if (call.result != TABLE_UNREAD)
		copy->generation = generation;
	return call.result;
}
