/*-------------------------------------------------------------------------
 *
 * workers.c
 *	  The workers' registry in shared memory, between the workers and the
 *	  backends calling evproc_rotate(): which workers run (pid, latch), and
 *	  the rotation tickets.  Only this file reads or writes it; workers_wake
 *	  wakes the workers for others too.
 *
 * evproc_rotate() takes a ticket (bumps rotate_requested) and sets every
 * running worker's latch.  Each worker takes the request in its loop
 * (workers_take_rotation), rotates, ingests everything archived in its
 * directory, and then completes the ticket (workers_complete_rotation):
 * its slot's rotate_completed becomes the ticket it served, with the rotated
 * file's name and an error message if ingest failed, and the condition
 * variable is broadcast.  A worker that exits clears its pid, which
 * wakes the waiters too, so that they report it rather than time out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/compat.h"
#include "journal/journal.h"
#include "shared/workers.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

typedef struct WorkerSlot
{
	pid_t		pid;			/* 0 if this worker is not running */
	int			procno;
	uint64		rotate_completed;
	char		rotated_file[JOURNAL_NAME_MAX]; /* "" if the journal was empty */
	char		error[256];		/* "" on success */
} WorkerSlot;

typedef struct WorkersShared
{
	slock_t		mutex;
	uint64		rotate_requested;
	ConditionVariable cv;
	WorkerSlot	workers[EVPROC_MAX_WORKERS];
} WorkersShared;

static WorkersShared *shared = NULL;

/* the worker's side: its slot, and the ticket it is serving */
static int	my_index = -1;
static uint64 taken = 0;		/* last ticket taken */
static uint64 pending = 0;		/* ticket being served; 0 for none */
static char pending_file[JOURNAL_NAME_MAX];

Size
workers_shmem_size(void)
{
	return MAXALIGN(sizeof(WorkersShared));
}

/* workers_shmem_init attaches to the shared memory, creating it once. */
void
workers_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("evproc", sizeof(WorkersShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(WorkersShared));
		SpinLockInit(&shared->mutex);
		ConditionVariableInit(&shared->cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
publish(bool running)
{
	WorkerSlot *slot = &shared->workers[my_index];

	SpinLockAcquire(&shared->mutex);
	slot->pid = running ? MyProcPid : 0;
	slot->procno = running ? compat_my_procno() : -1;
	if (running)
		slot->rotate_completed = taken = shared->rotate_requested;
	SpinLockRelease(&shared->mutex);
}

static void
detach(int code, Datum arg)
{
	publish(false);
	ConditionVariableBroadcast(&shared->cv);
}

/*
 * workers_attach marks worker worker_index as running until the process
 * exits.  Requests made before are not this run's to serve.
 */
void
workers_attach(int worker_index)
{
	Assert(worker_index >= 0 && worker_index < EVPROC_MAX_WORKERS);
	my_index = worker_index;
	on_shmem_exit(detach, (Datum) 0);
	publish(true);
}

/*
 * workers_take_rotation: has evproc_rotate() asked for a rotation since
 * the last one taken?  If so, the newest ticket becomes pending until
 * workers_complete_rotation.
 */
bool
workers_take_rotation(void)
{
	uint64		requested;

	SpinLockAcquire(&shared->mutex);
	requested = shared->rotate_requested;
	SpinLockRelease(&shared->mutex);
	if (requested <= taken)
		return false;
	taken = pending = requested;
	pending_file[0] = '\0';
	return true;
}

/* workers_rotation_pending: is a ticket waiting for ingest to drain? */
bool
workers_rotation_pending(void)
{
	return pending != 0;
}

/*
 * workers_set_rotated_file names the file the pending ticket's rotation
 * made.
 */
void
workers_set_rotated_file(const char *name)
{
	strlcpy(pending_file, name, sizeof(pending_file));
}

/*
 * workers_complete_rotation answers the pending ticket, with an error
 * message ("" on success), and wakes the backends waiting for it.
 */
void
workers_complete_rotation(const char *error)
{
	WorkerSlot *slot = &shared->workers[my_index];

	Assert(pending != 0);
	SpinLockAcquire(&shared->mutex);
	slot->rotate_completed = pending;
	strlcpy(slot->rotated_file, pending_file, sizeof(slot->rotated_file));
	strlcpy(slot->error, error, sizeof(slot->error));
	SpinLockRelease(&shared->mutex);
	ConditionVariableBroadcast(&shared->cv);
	pending = 0;
}

/* workers_pid: the pid of worker worker_index, 0 if not running */
pid_t
workers_pid(int worker_index)
{
	pid_t		pid;

	SpinLockAcquire(&shared->mutex);
	pid = shared->workers[worker_index].pid;
	SpinLockRelease(&shared->mutex);
	return pid;
}

/*
 * workers_wake sets the latch of every running worker, so that it looks at
 * the shared memory at once (workers_rotate, and a change of event types:
 * see types.c).
 */
void
workers_wake(void)
{
	int			procnos[EVPROC_MAX_WORKERS];
	int			n = 0;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
		if (shared->workers[i].pid != 0)
			procnos[n++] = shared->workers[i].procno;
	SpinLockRelease(&shared->mutex);
	for (int i = 0; i < n; i++)
		SetLatch(&ProcGlobal->allProcs[procnos[i]].procLatch);
}

/*
 * workers_rotate asks every worker to rotate its journal now and waits
 * until each has ingested every archived file, including the ones just
 * rotated.  Returns the names of the rotated files (comma separated,
 * palloc'd), or NULL if the journals were empty.  Raises an error if
 * ingest failed, a worker exited, or on timeout.
 */
char *
workers_rotate(int timeout_ms)
{
	TimestampTz deadline;
	uint64		ticket;
	bool		waiting[EVPROC_MAX_WORKERS];
	int			procnos[EVPROC_MAX_WORKERS];
	int			nworkers = 0;
	StringInfoData rotated;
	char		error[256];

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("evproc is not loaded via shared_preload_libraries"),
				 errhint("Add evproc to shared_preload_libraries and restart the server.")));
	if (timeout_ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));

	/* take a ticket and wake every running worker */
	SpinLockAcquire(&shared->mutex);
	ticket = ++shared->rotate_requested;
	for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
	{
		waiting[i] = shared->workers[i].pid != 0;
		procnos[i] = shared->workers[i].procno;
		if (waiting[i])
			nworkers++;
	}
	SpinLockRelease(&shared->mutex);
	if (nworkers == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the evproc worker is not running"),
				 errhint("Check the server log; the worker restarts by itself after a failure.")));
	for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
		if (waiting[i])
			SetLatch(&ProcGlobal->allProcs[procnos[i]].procLatch);

	/* wait until each of them has served it */
	initStringInfo(&rotated);
	error[0] = '\0';
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	ConditionVariablePrepareToSleep(&shared->cv);
	for (;;)
	{
		long		remaining;

		SpinLockAcquire(&shared->mutex);
		for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
		{
			WorkerSlot *slot = &shared->workers[i];

			if (!waiting[i])
				continue;
			if (slot->pid == 0)
			{
				/* it exited: report that rather than wait out the timeout */
				waiting[i] = false;
				nworkers--;
				if (error[0] == '\0')
					snprintf(error, sizeof(error),
							 "worker %d exited before finishing", i);
			}
			else if (slot->rotate_completed >= ticket)
			{
				waiting[i] = false;
				nworkers--;
				if (slot->rotated_file[0] != '\0')
				{
					if (rotated.len > 0)
						appendStringInfoString(&rotated, ", ");
					appendStringInfoString(&rotated, slot->rotated_file);
				}
				if (slot->error[0] != '\0' && error[0] == '\0')
					strlcpy(error, slot->error, sizeof(error));
			}
		}
		SpinLockRelease(&shared->mutex);
		if (nworkers == 0)
			break;

		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
													deadline);
		if (remaining <= 0)
		{
			ConditionVariableCancelSleep();
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("evproc worker did not finish rotating and ingesting within %d ms",
							timeout_ms)));
		}
		ConditionVariableTimedSleep(&shared->cv, remaining,
									PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	if (error[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("evproc: %s", error)));
	return rotated.len == 0 ? NULL : rotated.data;
}
