/*-------------------------------------------------------------------------
 *
 * sql_api.c
 *	  SQL-callable functions implemented in C.
 *
 * evproc_user_revenue() is plain SQL (see evproc--1.0.sql); what needs the
 * worker or its shared memory is here: evproc_rotate(), the monitoring
 * views' functions (evproc.stats, evproc.journal_files), the pause of
 * ingest, and evproc.murmur3_128(), the fingerprint ingest records.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/hash128.h"

#include "shared/role.h"
#include "shared/settings.h"
#include "shared/status.h"
#include "shared/workers.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(evproc_rotate);
PG_FUNCTION_INFO_V1(evproc_worker_stats);
PG_FUNCTION_INFO_V1(evproc_journal_files_on_disk);
PG_FUNCTION_INFO_V1(evproc_pause_ingest);
PG_FUNCTION_INFO_V1(evproc_resume_ingest);
PG_FUNCTION_INFO_V1(evproc_murmur3_128);

/*
 * evproc_rotate(timeout_ms) asks every worker to rotate its journal now and
 * waits until every archived file, including the ones just rotated, has
 * been ingested.  Returns the name of the rotated file (names, comma
 * separated, with several workers), or NULL if the journals were empty.
 * Raises an error if ingest failed, a worker exited, or on timeout, and on
 * a hot standby.
 */
Datum
evproc_rotate(PG_FUNCTION_ARGS)
{
	char	   *rotated;

	if (role_server_standby())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("evproc: cannot rotate on a hot standby: nothing is journaled or ingested here"),
				 errhint("Call evproc_rotate() on the primary.")));
	if (status_ingest_paused())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("evproc: ingest is paused"),
				 errhint("Call evproc_resume_ingest() first.")));
	rotated = workers_rotate(PG_GETARG_INT32(0));

	if (rotated == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(rotated));
}

static int
nworkers(void)
{
	return Min(evproc_workers, EVPROC_MAX_WORKERS);
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s[0] == '\0';
	return *isnull ? (Datum) 0 : CStringGetTextDatum(s);
}

static Datum
time_or_null(TimestampTz t, bool *isnull)
{
	*isnull = t == 0;
	return TimestampTzGetDatum(t);
}

#define STATS_COLS	23

/*
 * evproc_worker_stats() returns one row per worker: evproc.stats.  The
 * gauges of a worker that is not running are NULL.
 */
Datum
evproc_worker_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		paused = status_ingest_paused();
	TimestampTz reset = status_stats_reset();

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < nworkers(); i++)
	{
		WorkerStatusCopy st;
		const PromValues *m = &st.prom;
		Datum		values[STATS_COLS];
		bool		nulls[STATS_COLS];
		bool		running;
		int			c = 0;

		status_read(i, &st);
		running = st.pid != 0;
		memset(nulls, 0, sizeof(nulls));
		values[c++] = Int32GetDatum(i);
		nulls[c] = !running;
		values[c++] = Int32GetDatum(st.pid);
		values[c++] = CStringGetTextDatum(running ?
										  status_activity_name(st.activity) :
										  "not running");
		values[c] = text_or_null(running ? st.file : "", &nulls[c]);
		c++;
		values[c] = time_or_null(st.started, &nulls[c]);
		c++;
		values[c++] = BoolGetDatum(paused);
		values[c++] = Int64GetDatum((int64) prom_requests_total(m));
		values[c++] = Int64GetDatum((int64) m->accepted_total);
		values[c++] = Int64GetDatum((int64) m->duplicate_total);
		values[c++] = Int64GetDatum((int64) m->journal_bytes_total);
		values[c++] = Int64GetDatum((int64) m->fsync_seconds.count);
		values[c++] = Float8GetDatum(m->fsync_seconds.sum);
		values[c++] = Int64GetDatum((int64) m->ingested_total);
		values[c++] = Int64GetDatum((int64) m->rejected_total);
		values[c++] = Int64GetDatum((int64) m->ingest_errors_total);
		/* the gauges: as the worker last set them */
		for (int g = c; g < c + 5; g++)
			nulls[g] = !running;
		values[c++] = Int32GetDatum(m->gauges.backlog_files);
		values[c++] = Int64GetDatum((int64) m->gauges.backlog_bytes);
		values[c++] = Float8GetDatum(m->gauges.ingest_lag_seconds);
		values[c++] = Int32GetDatum(m->gauges.connections);
		values[c++] = Int32GetDatum(m->gauges.subscribers);
		values[c] = text_or_null(running ? st.error : "", &nulls[c]);
		c++;
		values[c] = time_or_null(running ? st.retry_at : 0, &nulls[c]);
		c++;
		values[c++] = TimestampTzGetDatum(reset);
		Assert(c == STATS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

#define FILES_COLS	7

/* what evproc_journal_files_on_disk's rows are made from */
typedef struct FileRows
{
	ReturnSetInfo *rsinfo;
	int			worker;
	WorkerStatusCopy *st;
} FileRows;

/* add_file adds the row of one file of a worker's journal directory */
static void
add_file(void *arg, const char *name, JournalFileKind kind, uint64 size,
		 time_t mtime)
{
	FileRows   *rows = arg;
	WorkerStatusCopy *st = rows->st;
	bool		current = kind == JF_ARCHIVED && st->pid != 0 &&
		strcmp(name, st->file) == 0;
	const char *state = "waiting";
	Datum		values[FILES_COLS];
	bool		nulls[FILES_COLS] = {0};
	const char *error = "";
	TimestampTz retry_at = 0;

	for (int i = 0; kind != JF_LIVE && kind != JF_SET_ASIDE && st->pid != 0 &&
		 i < st->nskipped; i++)
	{
		/* one ingest passes over: it could not be moved */
		if (strcmp(name, st->skipped[i].name) == 0)
		{
			error = st->skipped[i].why;
			retry_at = st->skipped[i].retry_at;
		}
	}
	if (kind == JF_LIVE)
		state = "active";
	else if (kind == JF_SET_ASIDE)
		state = "set aside";
	else if (retry_at != 0)
		state = "retrying";
	else if (current && st->activity == WA_BACKING_OFF)
		state = "retrying";
	else if (current && (st->activity == WA_INGESTING ||
						 st->activity == WA_WAITING_LOCK))
		state = "ingesting";
	values[0] = Int32GetDatum(rows->worker);
	values[1] = CStringGetTextDatum(kind == JF_SET_ASIDE ?
									psprintf("%s/%s", JOURNAL_FAILED, name) : name);
	values[2] = CStringGetTextDatum(state);
	values[3] = Int64GetDatum((int64) size);
	values[4] = TimestampTzGetDatum(time_t_to_timestamptz(mtime));
	if (retry_at == 0 && strcmp(state, "retrying") == 0)
	{
		error = st->error;
		retry_at = st->retry_at;
	}
	values[5] = text_or_null(error, &nulls[5]);
	values[6] = time_or_null(retry_at, &nulls[6]);
	tuplestore_putvalues(rows->rsinfo->setResult, rows->rsinfo->setDesc,
						 values, nulls);
}

/*
 * evproc_journal_files_on_disk() returns the files of every worker's
 * journal directory, with their state: the part of evproc.journal_files
 * that is not in evproc.processed_files.
 */
Datum
evproc_journal_files_on_disk(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < nworkers(); i++)
	{
		WorkerStatusCopy st;
		FileRows	rows = {rsinfo, i, &st};

		status_read(i, &st);
		if (st.dir[0] == '\0')
			continue;			/* never started */
		if (journal_list(st.dir, true, add_file, &rows) != 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not read directory \"%s\": %m", st.dir)));
	}
	return (Datum) 0;
}

/* evproc_pause_ingest(timeout_ms) pauses ingest: see status_pause */
Datum
evproc_pause_ingest(PG_FUNCTION_ARGS)
{
	int			timeout_ms = PG_GETARG_INT32(0);

	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	status_pause(true, timeout_ms);
	PG_RETURN_VOID();
}

/* evproc_resume_ingest() resumes ingest paused by evproc_pause_ingest() */
Datum
evproc_resume_ingest(PG_FUNCTION_ARGS)
{
	status_pause(false, 0);
	PG_RETURN_VOID();
}

/*
 * evproc_murmur3_128(bytea) is the fingerprint that ingest records for a
 * file (evproc.processed_files.murmur3_128): so that an operator, or a
 * test, can tell whether bytes on disk are those recorded.
 */
Datum
evproc_murmur3_128(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	bytea	   *result = palloc(VARHDRSZ + EV_HASH128_LEN);

	ev_hash128(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), 0,
			   (uint8 *) VARDATA(result));
	SET_VARSIZE(result, VARHDRSZ + EV_HASH128_LEN);
	PG_RETURN_BYTEA_P(result);
}
