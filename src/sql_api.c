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
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(evproc_rotate);

/*
 * evproc_rotate(timeout_ms) asks the worker to rotate the journal now and
 * waits until every archived file, including the one just rotated, has
 * been ingested.  Returns the name of the rotated file, or NULL if the
 * journal was empty.  Raises an error if ingest failed or on timeout.
 */
Datum
evproc_rotate(PG_FUNCTION_ARGS)
{
	int32		timeout_ms = PG_GETARG_INT32(0);
	TimestampTz deadline;
	uint64		ticket;
	int			procno;
	char		rotated[JOURNAL_NAME_MAX];
	char		error[sizeof(evproc_shared->error)];

	if (evproc_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("evproc is not loaded via shared_preload_libraries"),
				 errhint("Add evproc to shared_preload_libraries and restart the server.")));
	if (timeout_ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be positive")));

	SpinLockAcquire(&evproc_shared->mutex);
	procno = evproc_shared->worker_pid != 0 ? evproc_shared->worker_procno : -1;
	ticket = ++evproc_shared->rotate_requested;
	SpinLockRelease(&evproc_shared->mutex);
	if (procno < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the evproc worker is not running"),
				 errhint("Check the server log; the worker restarts by itself after a failure.")));
	SetLatch(&ProcGlobal->allProcs[procno].procLatch);

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	ConditionVariablePrepareToSleep(&evproc_shared->cv);
	for (;;)
	{
		bool		done;
		long		remaining;

		SpinLockAcquire(&evproc_shared->mutex);
		done = evproc_shared->rotate_completed >= ticket;
		if (done)
		{
			strlcpy(rotated, evproc_shared->rotated_file, sizeof(rotated));
			strlcpy(error, evproc_shared->error, sizeof(error));
		}
		SpinLockRelease(&evproc_shared->mutex);
		if (done)
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
	if (rotated[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(rotated));
}
