/*-------------------------------------------------------------------------
 *
 * types.c
 *	  Event types: the worker's copy of evproc.event_types, which the HTTP
 *	  server and ingest resolve event names with, and the signal that the
 *	  table changed.
 *
 * A statement trigger on evproc.event_types (evproc_event_types_changed)
 * arranges for the committing backend to bump a generation counter in
 * shared memory and set the workers' latches, at commit, when the change
 * is visible.  Each pass of a worker's loop compares the counter with the
 * generation of its copy and reloads the table, in a unit of work of its
 * own (or a subtransaction of an open ingest transaction), so a
 * definition takes effect within a pass of its commit.  The copy is also
 * reloaded every TYPES_RELOAD_MS, which catches what no trigger sees
 * (DROP EXTENSION and CREATE EXTENSION).  While the table cannot be read
 * (the extension is missing or older than the library), the two
 * predefined types are used, so that existing clients keep working.
 *
 * The copy is a sorted array in malloc'd memory: types_lookup runs inside
 * libmicrohttpd's callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rotation.h"
#include "types.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

typedef struct TypesShared
{
	pg_atomic_uint64 generation;	/* bumped by each committed change */
} TypesShared;

static TypesShared *shared = NULL;

/* a backend: a change to evproc.event_types in the open transaction */
static bool change_pending = false;
static bool callback_registered = false;

PG_FUNCTION_INFO_V1(evproc_event_types_changed);

Size
types_shmem_size(void)
{
	return MAXALIGN(sizeof(TypesShared));
}

/* types_shmem_init attaches to the shared memory, creating it once. */
void
types_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("evproc types", sizeof(TypesShared), &found);
	if (!found)
		pg_atomic_init_u64(&shared->generation, 0);
	LWLockRelease(AddinShmemInitLock);
}

/*
 * at_commit tells the workers, once the transaction that changed
 * evproc.event_types has committed (and its change is visible).
 */
static void
at_commit(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (change_pending && shared != NULL)
			{
				pg_atomic_fetch_add_u64(&shared->generation, 1);
				rotation_wake_workers();
			}
			change_pending = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			change_pending = false;
			break;
		default:
			break;
	}
}

/*
 * evproc_event_types_changed is the statement trigger of
 * evproc.event_types: the workers are told when the transaction commits.
 */
Datum
evproc_event_types_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("evproc.event_types_changed() must be called as a trigger")));
	if (!callback_registered)
	{
		RegisterXactCallback(at_commit, NULL);
		callback_registered = true;
	}
	change_pending = true;
	return PointerGetDatum(NULL);
}
