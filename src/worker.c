/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The evproc background worker: one single-threaded event loop that
 *	  serves HTTP, group-commits the journal, rotates it and ingests the
 *	  archived files.
 *
 * One persistent WaitEventSet holds the process latch, postmaster death and
 * libmicrohttpd's epoll descriptor.  Each pass:
 *	  1. wait, at most until MHD, rotation or ingest next needs attention;
 *	  2. handle SIGTERM (clean shutdown) and SIGHUP (reload settings);
 *	  3. MHD_run: valid events join the journal batch, their connections are
 *		 suspended; lookups are queued likewise;
 *	  4. flush: one write and one fdatasync for the whole batch, then the
 *		 replies, then the batched lookups in one transaction;
 *	  5. timed work: rotation when due or requested, and a slice of ingest.
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"

#include <time.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"

static int	worker_index = 0;	/* which of evproc.workers we are */
static Journal journal;
static char *journal_dir = NULL;	/* absolute path in use */
static TimestampTz next_rotation = 0;
static uint64 rotate_served = 0;	/* last evproc_rotate() ticket taken */
static uint64 rotate_pending = 0;	/* ticket waiting for ingest to drain */
static char rotated_file[JOURNAL_NAME_MAX];
static bool journal_failing = false;
static TimestampTz next_prune = 0;
static TimestampTz next_prune_files = 0;

static void complete_request(const char *error);

/* how often seen eventIds older than evproc.dedupe_retention are pruned */
#define PRUNE_INTERVAL_MS	(10 * 60 * 1000)
/* how often processed/ is pruned (evproc.processed_retention) */
#define PRUNE_FILES_INTERVAL_MS	(60 * 1000)

static void
publish_worker(bool running)
{
	EvprocWorkerSlot *slot = &evproc_shared->workers[worker_index];

	SpinLockAcquire(&evproc_shared->mutex);
	slot->pid = running ? MyProcPid : 0;
	slot->procno = running ? MyProc->pgprocno : -1;
	if (running)
		slot->rotate_completed = evproc_shared->rotate_requested;
	SpinLockRelease(&evproc_shared->mutex);
}

static void
worker_exit(int code, Datum arg)
{
	publish_worker(false);
	ConditionVariableBroadcast(&evproc_shared->cv);
}

/*
 * resolve_directory gives this worker's journal directory, palloc'd:
 * evproc.directory (relative to PGDATA unless absolute), and its
 * subdirectory workerN for worker N > 0.
 */
static char *
resolve_directory(void)
{
	const char *base = evproc_directory;
	char	   *abs = NULL;
	char	   *dir;

	if (!is_absolute_path(base))
		base = abs = psprintf("%s/%s", DataDir, evproc_directory);
	if (worker_index > 0)
		dir = psprintf("%s/worker%d", base, worker_index);
	else
		dir = pstrdup(base);
	if (abs != NULL)
		pfree(abs);
	return dir;
}

/*
 * evproc_begin_work starts a unit of database work in the worker: a
 * transaction, an SPI connection and a snapshot; evproc_end_work commits it.
 */
void
evproc_begin_work(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
evproc_end_work(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * evproc_catch_error is the PG_CATCH block of the worker's units of work:
 * it takes the error (the caller logs and frees it), rolls back the
 * transaction and switches back to cxt, so the event loop goes on.
 */
ErrorData *
evproc_catch_error(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	return edata;
}

/* evproc_prepare prepares a statement and keeps its plan for the process. */
SPIPlanPtr
evproc_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * evproc_execute_plan runs a kept plan and makes anything but the expected
 * SPI result an error.
 */
void
evproc_execute_plan(SPIPlanPtr plan, Datum *args, bool read_only, long tcount,
					int expect)
{
	int			rc = SPI_execute_plan(plan, args, NULL, read_only, tcount);

	if (rc != expect)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
}

/*
 * note_recorded_names teaches the journal the newest stamp and the largest
 * sequence number among the names recorded in the database, so that new
 * names sort after them even when their files are gone from processed/.
 * (Names never repeat anyway: each run's names carry a random part.)
 */
static void
note_recorded_names(Journal *j)
{
	evproc_begin_work("evproc: reading recorded file names");
	if (evproc_schema_ready())
	{
		/* names the workers make: events-<stamp>-<seq>[-<hex>][.w<N>].jsonl */
		int			rc = SPI_execute("SELECT pg_catalog.max(pg_catalog.substr(filename, 8, 16)), "
									 "pg_catalog.max(pg_catalog.substring(filename, "
									 "'^events-[0-9]{8}T[0-9]{6}Z-([0-9]{1,18})(?:-[0-9a-f]+)?(?:\\.w[0-9]+)?\\.jsonl$')"
									 "::pg_catalog.int8) "
									 "FROM evproc.processed_files "
									 "WHERE filename OPERATOR(pg_catalog.~) "
									 "'^events-[0-9]{8}T[0-9]{6}Z-[0-9]{1,18}(?:-[0-9a-f]+)?(?:\\.w[0-9]+)?\\.jsonl$'",
									 true, 1);

		if (rc == SPI_OK_SELECT && SPI_processed == 1)
		{
			char	   *stamp = SPI_getvalue(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1);
			char	   *seq = SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 2);

			if (stamp != NULL && seq != NULL)
				journal_note_name(j, psprintf("events-%s-%s.jsonl", stamp, seq));
		}
	}
	evproc_end_work();
}

/*
 * set_journal_faults applies the journal fault points of
 * evproc.fault_injection (tests only): every flush then fails after its
 * write, as on a full or failing disk.
 */
static void
set_journal_faults(void)
{
	journal.inject_errno =
		strcmp(evproc_fault_injection, "journal-enospc") == 0 ? ENOSPC :
		strcmp(evproc_fault_injection, "journal-eio") == 0 ? EIO : 0;
}

/*
 * open_journal opens the journal in dir and rotates any journal left there
 * by a previous run before anything is appended: it may end in a torn
 * line.  Each opening draws a random part for the names it makes, so that
 * names never repeat, not even across a copied data directory.  On failure
 * it reports at elevel (LOG on reload, where the old journal stays in use)
 * and returns false.
 */
static bool
open_journal(Journal *j, const char *dir, int elevel)
{
	char		name[JOURNAL_NAME_MAX];
	char		tag[32];
	uint64		nonce;
	char	   *mkdir_path = pstrdup(dir);

	if (!pg_strong_random(&nonce, sizeof(nonce)))
		nonce = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
	snprintf(tag, sizeof(tag), "-%016llx", (unsigned long long) nonce);
	if (worker_index > 0)
		snprintf(tag + strlen(tag), sizeof(tag) - strlen(tag), ".w%d",
				 worker_index);
	/* pg_mkdir_p writes into its argument */
	if (pg_mkdir_p(mkdir_path, 0700) != 0 && errno != EEXIST)
	{
		pfree(mkdir_path);
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("evproc: could not create directory \"%s\": %m", dir)));
		return false;
	}
	pfree(mkdir_path);
	if (journal_open_tagged(j, dir, evproc_fsync, tag) != 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("evproc: could not open journal directory \"%s\": %m",
						dir)));
		return false;
	}
	note_recorded_names(j);
	if (journal_rotate(j, time(NULL), name) < 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("evproc: could not rotate the journal left in \"%s\": %m",
						dir)));
		journal_close(j);
		return false;
	}
	return true;
}

/* rotate_now rotates a non-empty journal; returns false on failure. */
static bool
rotate_now(char *name)
{
	int			rc;

	name[0] = '\0';
	rc = journal_rotate(&journal, time(NULL), name);
	if (rc < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not rotate the journal in \"%s\": %m",
						journal_dir)));
		name[0] = '\0';
		return false;
	}
	if (rc > 0)
		evproc_fault("rotate-after-rename");
	return true;
}

/*
 * rotate_and_wake rotates a non-empty journal and has the new file ingested
 * at once, unless ingest is backing off after a failure (only
 * evproc_rotate() overrides the back-off).
 */
static void
rotate_and_wake(void)
{
	char		name[JOURNAL_NAME_MAX];

	if (rotate_now(name) && name[0] != '\0')
		ingest_wake();
}

/* flush_batch group-commits the events of this pass and answers them. */
static void
flush_batch(void)
{
	bool		durable;
	uint64		replaced;

	if (http_pending_posts() == 0)
		return;
	replaced = journal.replaced;
	durable = (journal_flush(&journal) == 0);
	if (journal.replaced != replaced)
		ereport(WARNING,
				(errmsg("evproc: the journal \"%s/%s\" was removed or replaced by someone else",
						journal_dir, JOURNAL_FILE),
				 errdetail("Events acknowledged into the removed file are lost unless it is recovered; new events go to a new journal.")));
	if (!durable && !journal_failing)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not write the journal in \"%s\": %m",
						journal_dir),
				 errdetail("Events are refused with 503 until writing succeeds again.")));
	else if (durable && journal_failing)
		ereport(LOG,
				(errmsg("evproc: writing the journal succeeds again")));
	journal_failing = !durable;
	http_complete_posts(durable);

	/* rotate by size too, so that one journal file never grows unbounded */
	if (durable && evproc_rotation_size > 0 &&
		journal.durable_len >= (off_t) evproc_rotation_size * 1024)
		rotate_and_wake();
}

/*
 * reload_settings applies a SIGHUP.  Events taken in since the last flush
 * are flushed (and answered) first, under the settings they were accepted
 * with: switching the journal directory must not drop them.
 */
static void
reload_settings(void)
{
	char	   *new_dir;

	flush_batch();
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	journal.fsync = evproc_fsync;
	set_journal_faults();
	http_load_token();

	new_dir = resolve_directory();
	if (strcmp(new_dir, journal_dir) != 0)
	{
		Journal		new_journal;
		char		name[JOURNAL_NAME_MAX];

		/*
		 * Open the new directory first: if it cannot be used, the old one
		 * stays in use and HTTP goes on.  Otherwise archive what the old
		 * journal holds, then switch.
		 */
		ingest_abandon();		/* its transaction must not be open */
		if (!open_journal(&new_journal, new_dir, LOG))
			ereport(LOG,
					(errmsg("evproc: evproc.directory \"%s\" cannot be used; the journal stays in \"%s\"",
							new_dir, journal_dir)));
		else
		{
			char	   *old_dir = journal_dir;

			(void) rotate_now(name);
			journal_close(&journal);
			journal = new_journal;
			set_journal_faults();
			journal_dir = MemoryContextStrdup(TopMemoryContext, new_dir);
			ereport(LOG,
					(errmsg("evproc: journal directory changed from \"%s\" to \"%s\"",
							old_dir, journal_dir),
					 errdetail("Files still in the old directory are no longer ingested; move any events-*.jsonl files from it into the new one.")));
			pfree(old_dir);
		}
	}
	pfree(new_dir);
	next_rotation = Min(next_rotation,
						TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													evproc_rotation_interval * 1000L));
}

/*
 * serve_rotation rotates when the interval is due or evproc_rotate() asked,
 * and answers such a request once ingest has drained.
 */
static void
serve_rotation(bool *scan_now)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		requested;

	SpinLockAcquire(&evproc_shared->mutex);
	requested = evproc_shared->rotate_requested;
	SpinLockRelease(&evproc_shared->mutex);

	if (requested > rotate_served)
	{
		rotate_served = requested;
		if (rotate_now(rotated_file))
			rotate_pending = requested;
		else
		{
			rotate_pending = requested;
			rotated_file[0] = '\0';
			complete_request("could not rotate the journal; see the server log");
		}
		*scan_now = true;
		next_rotation = TimestampTzPlusMilliseconds(now,
													evproc_rotation_interval * 1000L);
	}
	else if (now >= next_rotation)
	{
		if (!journal_is_empty(&journal))
			rotate_and_wake();
		next_rotation = TimestampTzPlusMilliseconds(now,
													evproc_rotation_interval * 1000L);
	}
}

static void
complete_request(const char *error)
{
	EvprocWorkerSlot *slot = &evproc_shared->workers[worker_index];

	SpinLockAcquire(&evproc_shared->mutex);
	slot->rotate_completed = rotate_pending;
	strlcpy(slot->rotated_file, rotated_file, sizeof(slot->rotated_file));
	strlcpy(slot->error, error, sizeof(slot->error));
	SpinLockRelease(&evproc_shared->mutex);
	ConditionVariableBroadcast(&evproc_shared->cv);
	rotate_pending = 0;
}

/*
 * prune_when_due runs the periodic clean-ups that are due: processed/
 * (evproc.processed_retention) and the seen eventIds
 * (evproc.dedupe_retention).  Called while ingest is idle.
 */
static void
prune_when_due(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (now >= next_prune_files)
	{
		ingest_prune_processed(&journal);
		next_prune_files = TimestampTzPlusMilliseconds(now,
													   PRUNE_FILES_INTERVAL_MS);
	}
	if (now >= next_prune)
	{
		ingest_prune_seen();
		next_prune = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 PRUNE_INTERVAL_MS);
	}
}

static long
compute_timeout(void)
{
	long		timeout = http_timeout_ms();
	long		t;

	t = ingest_timeout_ms();
	if (timeout < 0 || t < timeout)
		timeout = t;
	t = revenue_timeout_ms();
	if (t >= 0 && (timeout < 0 || t < timeout))
		timeout = t;
	t = (long) ((next_rotation - GetCurrentTimestamp() + 999) / 1000);
	if (t < 0)
		t = 0;
	if (timeout < 0 || t < timeout)
		timeout = t;
	return timeout;
}

/* shut_down answers what is in flight, then stops the server. */
static void
shut_down(void)
{
	flush_batch();
	http_fail_lookups(503, "server is shutting down");

	/*
	 * Requests completed while the replies go out get 503 at once: none may
	 * be left suspended for http_stop.
	 */
	http_refuse_new();
	http_resume_all();
	for (int i = 0; i < 10 && http_resume_all(); i++)
		http_run();
	http_stop();
	ingest_abandon();
	journal_close(&journal);
	ereport(LOG, (errmsg("evproc: worker shut down")));
}

void
evproc_worker_main(Datum main_arg)
{
	WaitEventSet *wes;
	MemoryContext pass_cxt;
	char		errbuf[256];

	worker_index = DatumGetInt32(main_arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(evproc_database, NULL, 0);
	pgstat_report_appname("evproc");
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);
	/* never let a lock stall the event loop: fail, and retry later */
	SetConfigOption("lock_timeout", "100ms", PGC_SUSET, PGC_S_OVERRIDE);

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(WARNING,
				(errmsg("evproc: database \"%s\" is not UTF8; user ids outside ASCII cannot be stored",
						evproc_database)));

	on_shmem_exit(worker_exit, (Datum) 0);
	publish_worker(true);

	journal_dir = MemoryContextStrdup(TopMemoryContext, resolve_directory());
	if (!open_journal(&journal, journal_dir, ERROR))
		proc_exit(1);			/* not reached */
	set_journal_faults();
	ingest_init();
	http_load_token();
	if (!http_start(&journal))
		ereport(ERROR,
				(errmsg("evproc: could not start the HTTP server on %s:%d",
						evproc_listen_address, evproc_port),
				 errhint("Is another process listening on that port?  See the messages above.")));
	ereport(LOG,
			(errmsg("evproc: listening on %s:%d, journal in \"%s\"",
					evproc_listen_address, evproc_port, journal_dir)));

	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, http_epoll_fd(), NULL, NULL);

	pass_cxt = AllocSetContextCreate(TopMemoryContext, "evproc pass",
									 ALLOCSET_DEFAULT_SIZES);
	next_rotation = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												evproc_rotation_interval * 1000L);

	for (;;)
	{
		WaitEvent	events[3];
		int			nevents;
		bool		scan_now = false;
		IngestResult ingest;

		nevents = WaitEventSetWait(wes, compute_timeout(), events,
								   lengthof(events), PG_WAIT_EXTENSION);
		for (int i = 0; i < nevents; i++)
			if (events[i].events & WL_LATCH_SET)
				ResetLatch(MyLatch);

		CHECK_FOR_INTERRUPTS();
		if (ShutdownRequestPending)
			break;
		if (ConfigReloadPending)
			reload_settings();

		MemoryContextReset(pass_cxt);
		MemoryContextSwitchTo(pass_cxt);

		http_run();
		flush_batch();
		revenue_serve_lookups();
		http_resume_all();

		serve_rotation(&scan_now);
		ingest = ingest_step(&journal, scan_now || rotate_pending != 0,
							 errbuf, sizeof(errbuf));
		if (rotate_pending != 0)
		{
			if (ingest == INGEST_IDLE)
				complete_request("");
			else if (ingest == INGEST_FAILED)
				complete_request(errbuf);
		}
		if (ingest == INGEST_IDLE)
			prune_when_due();
		MemoryContextSwitchTo(TopMemoryContext);
	}

	shut_down();

	/*
	 * Exit code 1 so that the postmaster starts the worker again after
	 * bgw_restart_time when someone terminated it (pg_terminate_backend); at
	 * server shutdown it is not restarted anyway.
	 */
	proc_exit(1);
}
