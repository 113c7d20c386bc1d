/*-------------------------------------------------------------------------
 *
 * status.c
 *	  What each worker is doing and has counted, in shared memory.  Each
 *	  worker writes its own slot: its Prometheus series' values (prom.c
 *	  counts into them directly), its activity (serving, ingesting a file,
 *	  waiting for a lock, backing off after an error, paused) with the file
 *	  and the last error, and its journal directory.  Backends read the slots for
 *	  evproc.stats and evproc.journal_files, and set the pause flag of
 *	  evproc_pause_ingest().
 *
 * The slots live as long as the server: counters survive a worker's
 * restart, and so does a pause.  The activity is also shown in
 * pg_stat_activity (state and query) whenever it changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/db.h"
#include "shared/settings.h"
#include "shared/status.h"
#include "shared/workers.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/backend_status.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

/* how often evproc_pause_ingest() looks whether the workers have stopped */
#define PAUSE_POLL_MS	10

typedef struct WorkerStatus
{
	slock_t		mutex;
	TimestampTz started;
	WorkerActivity activity;
	char		file[JOURNAL_NAME_MAX];
	char		error[256];
	TimestampTz retry_at;
	char		dir[MAXPGPATH];
	uint64		paused_ack;		/* the last pause it has stopped ingest for */
	int			nskipped;
	StatusSkipped skipped[STATUS_MAX_SKIPPED];
	int			http_port;		/* the HTTP port it listens on; 0 not yet */
} WorkerStatus;

typedef struct StatusShared
{
	slock_t		mutex;			/* for paused and pause_seq */
	bool		paused;
	uint64		pause_seq;		/* counts evproc_pause_ingest() calls */
	TimestampTz stats_reset;	/* when the counters started: server start */
	WorkerStatus workers[EVPROC_MAX_WORKERS];
	PromValues	prom[EVPROC_MAX_WORKERS];	/* each written by its worker */
} StatusShared;

static StatusShared *shared = NULL;
static WorkerStatus *mine = NULL;

/* entries skipped as last published (see status_set_skipped) */
static int	skipped_shown = 0;

/* what pg_stat_activity was last told */
static WorkerActivity shown = WA_STARTING;
static char shown_file[JOURNAL_NAME_MAX];

Size
status_shmem_size(void)
{
	return MAXALIGN(sizeof(StatusShared));
}

/* status_shmem_init attaches to the shared memory, creating it once. */
void
status_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("evproc status", sizeof(StatusShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(StatusShared));
		SpinLockInit(&shared->mutex);
		for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
			SpinLockInit(&shared->workers[i].mutex);
		shared->stats_reset = GetCurrentTimestamp();
	}
	LWLockRelease(AddinShmemInitLock);
}

/* loaded: a backend's check that the shared memory is there */
static void
loaded(void)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("evproc is not loaded via shared_preload_libraries"),
				 errhint("Add evproc to shared_preload_libraries and restart the server.")));
}

/* detach: the worker exits; its gauges say nothing any more */
static void
detach(int code, Datum arg)
{
	WorkerStatus *slot = &shared->workers[DatumGetInt32(arg)];

	memset(&shared->prom[DatumGetInt32(arg)].gauges, 0, sizeof(PromGauges));
	SpinLockAcquire(&slot->mutex);
	slot->http_port = 0;
	SpinLockRelease(&slot->mutex);
}

/*
 * status_attach makes worker_index's slot this worker's, with dir its
 * journal directory, and its Prometheus series the ones prom.c counts into.
 */
void
status_attach(int worker_index, const char *dir)
{
	Assert(worker_index >= 0 && worker_index < EVPROC_MAX_WORKERS);
	mine = &shared->workers[worker_index];
	on_shmem_exit(detach, Int32GetDatum(worker_index));
	prom_attach(shared->prom, Min(evproc_workers, EVPROC_MAX_WORKERS),
				   worker_index);
	SpinLockAcquire(&mine->mutex);
	mine->started = GetCurrentTimestamp();
	mine->activity = WA_STARTING;
	mine->file[0] = '\0';
	mine->error[0] = '\0';
	mine->retry_at = 0;
	mine->nskipped = 0;
	mine->http_port = 0;
	SpinLockRelease(&mine->mutex);
	status_set_dir(dir);
}

/* status_set_listening: the worker listens on HTTP port port now */
void
status_set_listening(int port)
{
	SpinLockAcquire(&mine->mutex);
	mine->http_port = port;
	SpinLockRelease(&mine->mutex);
}

/*
 * status_siblings_listening: how many other running workers listen on
 * HTTP port port (port_claim.c); *starting is set to how many other
 * running workers do not listen yet.
 */
int
status_siblings_listening(int port, int *starting)
{
	int			n = 0;

	*starting = 0;
	for (int i = 0; i < EVPROC_MAX_WORKERS; i++)
	{
		WorkerStatus *slot = &shared->workers[i];
		int			its_port;

		if (slot == mine || workers_pid(i) == 0)
			continue;
		SpinLockAcquire(&slot->mutex);
		its_port = slot->http_port;
		SpinLockRelease(&slot->mutex);
		if (its_port == port)
			n++;
		else if (its_port == 0)
			(*starting)++;
	}
	return n;
}

/* status_set_dir: the worker's journal directory is now dir */
void
status_set_dir(const char *dir)
{
	SpinLockAcquire(&mine->mutex);
	strlcpy(mine->dir, dir, sizeof(mine->dir));
	SpinLockRelease(&mine->mutex);
}

/*
 * show tells pg_stat_activity what the worker is doing between units of
 * database work: "active" with the file while one is ingested, "idle"
 * with what it waits for otherwise.
 */
static void
show(WorkerActivity activity, const char *file, const char *error,
	 TimestampTz retry_at)
{
	char		text[JOURNAL_NAME_MAX + 512];

	switch (activity)
	{
		case WA_STARTING:
		case WA_SERVING:
			snprintf(text, sizeof(text), "evproc: serving HTTP on port %d",
					 evproc_port);
			break;
		case WA_INGESTING:
			/* the file's transaction, once open, shows "ingesting" */
			snprintf(text, sizeof(text), "evproc: reading \"%s\"", file);
			break;
		case WA_WAITING_LOCK:
			snprintf(text, sizeof(text),
					 "evproc: \"%s\" waits for a lock on the tables of evproc held by another session",
					 file);
			break;
		case WA_BACKING_OFF:
			snprintf(text, sizeof(text), "evproc: waiting until %s after an error: %s",
					 timestamptz_to_str(retry_at), error);
			break;
		case WA_PAUSED:
			snprintf(text, sizeof(text),
					 "evproc: ingest paused by evproc_pause_ingest(); serving HTTP on port %d",
					 evproc_port);
			break;
		case WA_STANDBY:
			snprintf(text, sizeof(text),
					 "evproc: serving reads on port %d (hot standby: nothing is journaled or ingested)",
					 evproc_port);
			break;
	}
	db_standing_activity(activity == WA_INGESTING, text);
}

/*
 * status_report publishes what the worker is doing: the activity, the file
 * it concerns ("" none), the last error ("" none) and when a failed file
 * is retried.  Cheap when nothing changed, as it is called every pass.
 */
void
status_report(WorkerActivity activity, const char *file, const char *error,
			  TimestampTz retry_at)
{
	if (activity == WA_PAUSED)
	{
		uint64		seq;

		SpinLockAcquire(&shared->mutex);
		seq = shared->pause_seq;
		SpinLockRelease(&shared->mutex);
		SpinLockAcquire(&mine->mutex);
		mine->paused_ack = seq;
		SpinLockRelease(&mine->mutex);
	}
	if (activity == mine->activity && retry_at == mine->retry_at &&
		strcmp(file, mine->file) == 0 && strcmp(error, mine->error) == 0)
		return;
	SpinLockAcquire(&mine->mutex);
	mine->activity = activity;
	strlcpy(mine->file, file, sizeof(mine->file));
	strlcpy(mine->error, error, sizeof(mine->error));
	mine->retry_at = retry_at;
	SpinLockRelease(&mine->mutex);
	if (activity != shown || strcmp(file, shown_file) != 0 ||
		activity == WA_BACKING_OFF)
	{
		show(activity, file, error, retry_at);
		shown = activity;
		strlcpy(shown_file, file, sizeof(shown_file));
	}
}

/* status_ingest_paused: has evproc_pause_ingest() paused ingest? */
bool
status_ingest_paused(void)
{
	bool		paused;

	loaded();
	SpinLockAcquire(&shared->mutex);
	paused = shared->paused;
	SpinLockRelease(&shared->mutex);
	return paused;
}

/*
 * status_set_skipped publishes the entries of the journal's directory that
 * ingest skips (journal_skip), the first STATUS_MAX_SKIPPED of them, for
 * evproc.journal_files.  Cheap when there are none, as usually.
 */
void
status_set_skipped(const Journal *journal)
{
	int			n = Min(journal->nskip, STATUS_MAX_SKIPPED);

	if (n == 0 && skipped_shown == 0)
		return;
	SpinLockAcquire(&mine->mutex);
	for (int i = 0; i < n; i++)
	{
		StatusSkipped *s = &mine->skipped[i];

		strlcpy(s->name, journal->skip[i].name, sizeof(s->name));
		strlcpy(s->why, journal->skip[i].why, sizeof(s->why));
		s->retry_at = time_t_to_timestamptz(journal->skip[i].retry_at);
	}
	mine->nskipped = n;
	SpinLockRelease(&mine->mutex);
	skipped_shown = n;
}

/* status_read copies worker worker_index's status */
void
status_read(int worker_index, WorkerStatusCopy *copy)
{
	WorkerStatus *slot;

	loaded();
	Assert(worker_index >= 0 && worker_index < EVPROC_MAX_WORKERS);
	slot = &shared->workers[worker_index];
	SpinLockAcquire(&slot->mutex);
	copy->started = slot->started;
	copy->activity = slot->activity;
	strlcpy(copy->file, slot->file, sizeof(copy->file));
	strlcpy(copy->error, slot->error, sizeof(copy->error));
	copy->retry_at = slot->retry_at;
	strlcpy(copy->dir, slot->dir, sizeof(copy->dir));
	copy->paused_ack = slot->paused_ack;
	copy->nskipped = slot->nskipped;
	memcpy(copy->skipped, slot->skipped,
		   slot->nskipped * sizeof(StatusSkipped));
	SpinLockRelease(&slot->mutex);
	memcpy(&copy->prom, &shared->prom[worker_index], sizeof(PromValues));
	copy->pid = workers_pid(worker_index);
}

/* status_stats_reset: since when the counters count */
TimestampTz
status_stats_reset(void)
{
	loaded();
	return shared->stats_reset;
}

const char *
status_activity_name(WorkerActivity activity)
{
	switch (activity)
	{
		case WA_STARTING:
			return "starting";
		case WA_SERVING:
			return "serving";
		case WA_INGESTING:
			return "ingesting";
		case WA_WAITING_LOCK:
			return "waiting for lock";
		case WA_BACKING_OFF:
			return "backing off";
		case WA_PAUSED:
			return "paused";
		case WA_STANDBY:
			return "standby";
	}
	return "unknown";
}

/*
 * status_pause pauses ingest (pause) or resumes it, and wakes the workers.
 * A pause then waits, up to wait_ms, until every running worker has
 * stopped ingest (rolled back the file it was in), so that no transaction
 * of evproc's is open when it returns; a worker that does not stop in time
 * gets a WARNING.
 */
void
status_pause(bool pause, int wait_ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   wait_ms);
	uint64		seq;

	loaded();
	SpinLockAcquire(&shared->mutex);
	shared->paused = pause;
	seq = pause ? ++shared->pause_seq : shared->pause_seq;
	SpinLockRelease(&shared->mutex);
	workers_wake();
	if (!pause)
		return;
	for (;;)
	{
		int			busy = -1;

		for (int i = 0; i < Min(evproc_workers, EVPROC_MAX_WORKERS) && busy < 0; i++)
		{
			WorkerStatusCopy copy;

			status_read(i, &copy);
			if (copy.pid != 0 && copy.paused_ack < seq)
				busy = i;
		}
		if (busy < 0)
			return;
		if (GetCurrentTimestamp() >= deadline)
		{
			ereport(WARNING,
					(errmsg("evproc worker %d has not paused ingest yet", busy),
					 errdetail("It pauses as soon as it can; SELECT * FROM evproc.stats shows when.")));
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 PAUSE_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
