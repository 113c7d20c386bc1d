/*-------------------------------------------------------------------------
 *
 * changes.c
 *	  Telling the workers that a table they keep a copy of has changed.
 *
 * A statement trigger on the table (evproc.event_types_changed,
 * evproc.tokens_changed) calls changes_note, which arranges for the
 * committing backend to bump the table's generation counter in shared
 * memory and set the workers' latches, at commit, when the change is
 * visible (an aborted change tells nobody).  Each worker compares the
 * counter with the generation of its copy at each pass and reloads.
 *
 * The wake-up comes at XACT_EVENT_COMMIT, before the transaction's catalog
 * invalidations are sent: a reload right after a CREATE EXTENSION can
 * still miss the new tables, so the copies' owners look again soon when a
 * table is missing (see types.c, tokens.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "changes.h"
#include "rotation.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

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
				rotation_wake_workers();
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
uint64
changes_generation(WatchedTable table)
{
	return pg_atomic_read_u64(&shared->generation[table]);
}
