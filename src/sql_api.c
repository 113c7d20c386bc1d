/*-------------------------------------------------------------------------
 *
 * sql_api.c
 *	  SQL-callable functions implemented in C.
 *
 * evproc_user_revenue() is plain SQL (see evproc--1.0.sql); what needs the
 * worker is here.
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(evproc_rotate);

/*
 * evproc_rotate(timeout_ms) asks every worker to rotate its journal now and
 * waits until every archived file, including the ones just rotated, has
 * been ingested.  Returns the name of the rotated file (names, comma
 * separated, with several workers), or NULL if the journals were empty.
 * Raises an error if ingest failed, a worker exited, or on timeout.
 */
Datum
evproc_rotate(PG_FUNCTION_ARGS)
{
	int32		timeout_ms = PG_GETARG_INT32(0);
	TimestampTz deadline;
	uint64		ticket;
	bool		waiting[EVPROC_MAX_WORKERS];
	int			procnos[EVPROC_MAX_WORKERS];
	int			nworkers = 0;
	StringInfoData rotated;
	char		error[256];

	if (evproc_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("evproc is not loaded via shared_preload_libraries"),
				 errhint("Add evproc to shared_preload_libraries and restart the server.")));
	if (timeout_ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));

	/* take a ticket and wake every running worker */
	SpinLockAcquire(&evproc_shared->mutex);
	ticket = ++evproc_shared->rotate_requested;
	for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
	{
		waiting[i] = evproc_shared->workers[i].pid != 0;
		procnos[i] = evproc_shared->workers[i].procno;
		if (waiting[i])
			nworkers++;
	}
	SpinLockRelease(&evproc_shared->mutex);
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
	ConditionVariablePrepareToSleep(&evproc_shared->cv);
	for (;;)
	{
		long		remaining;

		SpinLockAcquire(&evproc_shared->mutex);
		for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
		{
			EvprocWorkerSlot *slot = &evproc_shared->workers[i];

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
		SpinLockRelease(&evproc_shared->mutex);
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
		ConditionVariableTimedSleep(&evproc_shared->cv, remaining,
									PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();

	if (error[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("evproc: %s", error)));
	if (rotated.len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(rotated.data));
}
