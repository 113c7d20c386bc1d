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
#include "postgres.h"

#include "rotation.h"

#include "fmgr.h"
#include "utils/builtins.h"

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
	char	   *rotated = rotation_request(PG_GETARG_INT32(0));

	if (rotated == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(rotated));
}
