/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The evproc background worker: one single-threaded event loop that
 *	  calls the modules in turn.  It owns the loop's schedule (when to
 *	  rotate, prune, sleep) and the worker's lifecycle, nothing else.
 *
 * One persistent WaitEventSet holds the process latch, postmaster death,
 * the HTTP server's epoll descriptor, the WebSocket connections' one
 * (stream_epoll_fd) and the journal's sync (intake_sync_fd).  Each pass:
 *	  1. wait, at most until HTTP, lookups, rotation or ingest next need
 *		 attention;
 *	  2. handle SIGTERM (clean shutdown) and SIGHUP (reload settings);
 *	  3. the event types and the tokens are reloaded if they changed
 *		 (types.c, tokens.c); http_run:
 *		 valid events are handed to intake, lookups queued;
 *	  4. intake_flush: the POSTs of the batch synced since the last pass
 *		 are answered, and the batch taken in meanwhile is written with one
 *		 write and its fdatasync started (it runs while the loop goes on);
 *		 if the pass has work for the database, the batch is synced
 *		 inline instead, after the one in flight, and their POSTs
 *		 answered first; the lookups are served in one unit of
 *		 work (lookup.c) and answered; the replies go out;
 *	  5. timed work: rotation when due or requested (workers.c), a
 *		 bounded step of ingest (ingest.c) unless evproc_pause_ingest()
 *		 paused it, and when idle a rotation if the live journal alone
 *		 keeps the backlog over evproc.max_backlog (pressure.c), and
 *		 clean-ups; what the worker is doing is
 *		 published (status.c: evproc.stats, pg_stat_activity).
 *
 * A wake-up by the sync alone only answers its POSTs (answer_synced).
 *
 * On a hot standby (role.c) the worker serves reads only: step 4's flush
 * and 5 are left out, nothing opens the journal, and POSTs are answered
 * 503 (http.c); journal files the base backup copied are set aside
 * (set_aside_backup_copies).  The pass that sees the server promoted sets
 * aside any again, opens the journal and goes on as a primary's worker
 * (take_up_writes), without a restart: HTTP and the streams stay up.
 *
 * The modules never call back into this file: what one hands to another
 * passes through here (the POSTs' answers, the lookups and their values,
 * the sums an open ingest transaction has added).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/compat.h"
#include "core/prom.h"
#include "http/http.h"
#include "http/stream.h"
#include "ingest/fold.h"
#include "ingest/ingest.h"
#include "ingest/intake.h"
#include "ingest/lookup.h"
#include "ingest/replica_feed.h"
#include "ingest/segments.h"
#include "journal/journal.h"
#include "shared/auth.h"
#include "shared/db.h"
#include "shared/feed.h"
#include "shared/port_claim.h"
#include "shared/pressure.h"
#include "shared/role.h"
#include "shared/settings.h"
#include "shared/status.h"
#include "shared/tls.h"
#include "shared/tokens.h"
#include "shared/types.h"
#include "shared/workers.h"
#include "worker.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>

/* how often seen eventIds older than evproc.dedupe_retention are pruned */
#define PRUNE_INTERVAL_MS	(10 * 60 * 1000)
/* how often processed/ is pruned (evproc.processed_retention) */
#define PRUNE_FILES_INTERVAL_MS	(60 * 1000)

static int	worker_index = 0;	/* which of evproc.workers we are */
static TimestampTz next_rotation = 0;
static TimestampTz next_prune = 0;
static TimestampTz next_prune_files = 0;
static uint64 feed_pos = 0;		/* what of the change feed we have read */
static uint64 credentials_seen = 0; /* auth_credentials() the streams had */
/* what ingest was doing at the end of the last pass, and whether paused */
static IngestProgress progress;
static bool paused = false;

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

static void
schedule_rotation(void)
{
	next_rotation = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												evproc_rotation_interval * 1000L);
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

	if (intake_rotate(name) && name[0] != '\0')
		ingest_wake();
}

/*
 * flush group-commits the events of this pass and answers their POSTs
 * (those of the batch synced since the last pass; with wait, all of them
 * before it returns); a journal grown to evproc.rotation_size is rotated.
 */
static void
flush(bool wait)
{
	if (role_standby())
		return;					/* nothing was taken in */
	intake_flush(http_answer_post, wait);
	if (intake_rotation_due())
	{
		rotate_and_wake();
		/* the rotation waited for the sync in flight: answer its POSTs */
		intake_flush(http_answer_post, wait);
	}
}

/*
 * serve_lookups answers the requests waiting for a lookup (of every kind,
 * in one unit of work), or leaves them to wait.
 */
static void
serve_lookups(void)
{
	int			nwork;
	LookupWork *work = http_lookup_work(&nwork);
	const char *error = NULL;
	LookupOutcome outcome;

	outcome = lookup_serve(work, nwork, &error);
	if (nwork > 0)
		http_answer_lookups(outcome, error);
}

/*
 * serve_streams tells the live-update subscribers what changed: what the
 * change feed says since the last pass (changes committed by any worker),
 * the first states of new subscribers, and the states looked up for them;
 * then what they got is sent.
 */
static void
serve_streams(void)
{
	int			n;
	RevenueLookup *items;

	/* on a standby, what replay brought (one worker publishes it for all) */
	if (role_standby() && worker_index == 0)
		replica_feed_poll();
	/* a gap (records overwritten) comes as a change of "many users" */
	(void) feed_read(&feed_pos, stream_note_change, NULL);
	stream_welcome();
	items = stream_wanted(&n);
	if (n > 0)
	{
		const char *error = NULL;

		stream_answer(lookup_revenue(items, n, &error));
	}
	if (stream_upkeep())
		http_send_now();
}

/*
 * The reload groups (settings.h) applied on every SIGHUP, changed or not:
 * auth_load and tls_reload re-read files whose content can change under the
 * same path (a new token, a renewed certificate), and a move of the journal
 * that failed is tried again.  Only RELOAD_INTAKE waits for a change of its
 * settings: intake_apply_settings copies them into the journal, which
 * intake_open and intake_move do as well.
 */
#define RELOAD_EVERY_SIGHUP (RELOAD_AUTH | RELOAD_TLS | RELOAD_DIRECTORY)

/*
 * reload_settings applies a SIGHUP.  Events taken in since the last flush
 * are flushed (and answered) first, under the settings they were accepted
 * with: switching the journal directory must not drop them.
 */
static void
reload_settings(void)
{
	int			groups;

	flush(true);
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	groups = settings_changed_groups() | RELOAD_EVERY_SIGHUP;
	if (groups & RELOAD_INTAKE)
		intake_apply_settings();
	if (groups & RELOAD_AUTH)
		auth_load();
	if ((groups & RELOAD_TLS) && tls_reload())
	{
		/* HTTPS turned on or off: a clean exit, back after 5 s (tls.c) */
		ShutdownRequestPending = true;
		SetLatch(MyLatch);
	}
	if ((groups & RELOAD_DIRECTORY) && !role_standby())
	{
		char	   *new_dir = resolve_directory();

		if (strcmp(new_dir, intake_dir()) != 0)
		{
			ingest_abandon();	/* its transaction must not be open */
			ingest_progress(&progress);
			flush(true);		/* what waited for it (database journal) */
			(void) intake_move(new_dir, fold_last_recorded_name());
			status_set_dir(intake_dir());
		}
		pfree(new_dir);
	}
	next_rotation = Min(next_rotation,
						TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													evproc_rotation_interval * 1000L));
}

/*
 * serve_rotation rotates when the interval is due or evproc_rotate() asked;
 * such a request is answered once ingest has drained (see the loop).
 */
static void
serve_rotation(void)
{
	/* the database journal is sealed between ingest's transactions */
	if (intake_busy())
		return;
	if (workers_take_rotation())
	{
		char		name[JOURNAL_NAME_MAX];

		if (intake_rotate(name))
			workers_set_rotated_file(name);
		else
			workers_complete_rotation("could not rotate the journal; see the server log");
		schedule_rotation();
	}
	else if (GetCurrentTimestamp() >= next_rotation)
	{
		if (!intake_is_empty())
			rotate_and_wake();
		schedule_rotation();
	}
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
		ingest_prune_processed(intake_journal());
		replica_feed_prune();
		next_prune_files = TimestampTzPlusMilliseconds(now,
													   PRUNE_FILES_INTERVAL_MS);
	}
	if (now >= next_prune)
	{
		fold_prune_seen();
		next_prune = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 PRUNE_INTERVAL_MS);
	}
}

/* report_gauges gives prom.c the worker's gauges */
static void
report_gauges(void)
{
	PromGauges	g;

	pressure_backlog(&g.backlog_bytes, &g.backlog_files, &g.ingest_lag_seconds);
	g.connections = http_connections();
	g.subscribers = stream_count();
	prom_gauges(&g);
}

/* report_build_info gives prom.c the versions for evproc_build_info */
static void
report_build_info(void)
{
	char		tls[64];

	snprintf(tls, sizeof(tls), "GnuTLS %s", gnutls_check_version(NULL));
	prom_build_info(EVPROC_VERSION, PG_VERSION, MHD_get_version(), tls);
}

/* earlier: the smaller of two timeouts in ms, -1 meaning none */
static long
earlier(long a, long b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return Min(a, b);
}

static long
compute_timeout(void)
{
	long		timeout;
	long		t;

	if (!role_standby() && intake_pending() > 0)
		return 0;
	timeout = http_timeout_ms();
	timeout = earlier(timeout, lookup_timeout_ms(http_lookups_waiting()));
	timeout = earlier(timeout, db_stats_timeout_ms());
	timeout = earlier(timeout, types_timeout_ms());
	timeout = earlier(timeout, tokens_timeout_ms());
	timeout = earlier(timeout, auth_timeout_ms());
	timeout = earlier(timeout, stream_timeout_ms());
	if (role_standby())
	{
		timeout = earlier(timeout, role_timeout_ms());
		if (worker_index == 0)
			timeout = earlier(timeout, replica_feed_timeout_ms());
		return timeout;
	}
	/* answers waiting for synchronous standbys: look again soon */
	if (intake_replicating() > 0)
		timeout = earlier(timeout, INTAKE_REPLICATION_POLL_MS);
	if (!paused)
		timeout = earlier(timeout, ingest_timeout_ms());
	timeout = earlier(timeout, pressure_timeout_ms());
	t = (long) ((next_rotation - GetCurrentTimestamp() + 999) / 1000);
	return earlier(timeout, Max(t, 0));
}

/* shut_down answers what is in flight, then stops the server. */
static void
shut_down(void)
{
	ingest_abandon();			/* the database journal's batch waits for it */
	flush(true);
	http_answer_lookups(LOOKUP_FAILED, "server is shutting down");

	/*
	 * Requests completed while the replies go out get 503 at once: none may
	 * be left suspended for http_stop.
	 */
	http_refuse_new();
	stream_close_all(true);
	http_send_now();
	http_resume_all();
	for (int i = 0; i < 10 && http_resume_all(); i++)
		http_run();
	http_stop();
	intake_close();
	ereport(LOG, (errmsg("evproc: worker shut down")));
}

/*
 * serve_ingest does a bounded step of ingest, and answers evproc_rotate()
 * once ingest has drained or failed.  While ingest is paused it rolls back
 * the file in progress, if any, and does nothing more.  Returns true if
 * ingest is idle (nothing to do, not paused).
 */
static bool
serve_ingest(void)
{
	char		errbuf[256];
	IngestResult ingest;
	IngestProgress *p = &progress;

	paused = status_ingest_paused();
	if (paused)
	{
		if (p->active)
		{
			ingest_abandon();
			ingest_progress(p);
		}
		if (workers_rotation_pending())
			workers_complete_rotation("ingest is paused by evproc_pause_ingest(): the journal was rotated, and is counted after evproc_resume_ingest()");
		status_report(WA_PAUSED, "", "", 0);
		return false;
	}
	ingest = ingest_step(intake_journal(), workers_rotation_pending(),
						 errbuf, sizeof(errbuf));
	if (workers_rotation_pending())
	{
		if (ingest == INGEST_IDLE)
			workers_complete_rotation("");
		else if (ingest == INGEST_FAILED)
			workers_complete_rotation(errbuf);
	}
	ingest_progress(p);
	status_set_skipped(intake_journal());
	status_report(p->waiting_lock ? WA_WAITING_LOCK :
				  p->active ? WA_INGESTING :
				  p->retry_at != 0 ? WA_BACKING_OFF : WA_SERVING,
				  p->file, p->error, p->retry_at);
	return ingest == INGEST_IDLE;
}

/*
 * recheck_streams closes the open streams once who may read changed (a
 * token created, revoked, changed or expired, the setting's token or
 * evproc.public_reads changed): their clients reconnect, are checked
 * again, and resume where they were.
 */
static void
recheck_streams(void)
{
	uint64		credentials = auth_credentials();

	if (credentials != credentials_seen)
	{
		credentials_seen = credentials;
		stream_close_all(false);
	}
}

/*
 * open_journal opens this worker's journal (intake.c), recovering what an
 * earlier run left in it: at the start on a primary, and at promotion.
 * ERROR if it cannot: the worker exits and is started again.
 */
static void
open_journal(void)
{
	char	   *dir = resolve_directory();

	(void) intake_open(dir, worker_index, fold_last_recorded_name(), ERROR);
	pfree(dir);
}

/*
 * set_aside_backup_copies moves the journal files found in this worker's
 * journal directory on a standby into a from-backup-<stamp>/ subdirectory
 * (journal_set_aside_copies), with a WARNING.  A standby never writes its
 * journal, so they are copies the base backup made of the primary's: it
 * counted, or will count, their events, and the counts arrive by
 * replication; ingested here after promotion, they would be counted twice.
 * Called at the start on a standby (they are out of the way as early as
 * possible, whatever happens next) and again at promotion, just before the
 * journal is opened (anything put there meanwhile is not this server's
 * either).  A failure is a WARNING and returns false: on a standby it
 * reads on; at promotion the journal is not opened with them, and the
 * next pass tries again.
 */
static bool
set_aside_backup_copies(void)
{
	static bool failed = false; /* said once until it succeeds */
	char	   *dir = resolve_directory();
	char		aside[JOURNAL_NAME_MAX];
	int			moved;
	bool		ok = journal_set_aside_copies(dir, time(NULL), evproc_fsync,
											  aside, &moved) == 0;

	if (!ok && !failed)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("evproc: could not set aside the journal files the base backup copied into \"%s\": %m",
						dir)));
	else if (moved > 0)
		ereport(WARNING,
				(errmsg("evproc: %d journal file(s) copied by the base backup set aside in \"%s/%s\"; they are not ingested",
						moved, dir, aside),
				 errdetail("A standby never writes its journal: these are the primary's files, whose events the primary counted, or will count, and replicates; ingesting them here would count them twice."),
				 errhint("If this server was a primary before and was attached again without a new base backup (pg_rewind), they may hold acknowledged events that reached no one: inspect them, and send their lines that carry an eventId to the primary again, which drops those it already counted.")));
	failed = !ok;
	pfree(dir);
	return ok;
}

/*
 * take_up_writes, in a pass that sees the server promoted: the base
 * backup's copies are set aside, the journal is opened and POSTs are
 * accepted from this pass on; rotation, ingest and the clean-ups start.
 * HTTP and the open streams stay as they were.  If the copies cannot be
 * set aside, the worker goes on as a standby and the next pass tries
 * again (role.c): it never opens the journal with them.
 */
static void
take_up_writes(void)
{
	if (!set_aside_backup_copies())
		return;
	open_journal();
	role_writes_taken();
	status_set_dir(intake_dir());
	schedule_rotation();
	ereport(LOG,
			(errmsg("evproc: the server was promoted: accepting events, journal in \"%s\"",
					intake_dir())));
}

/*
 * serve_standby is what is left of a pass on a hot standby after the
 * reads are served: the activity published, nothing written.
 */
static void
serve_standby(void)
{
	status_report(status_ingest_paused() ? WA_PAUSED : WA_STANDBY, "", "", 0);
	db_report_stats();
}

/*
 * db_work_due: will this pass work for the database: lookups, the first
 * states of new subscribers, a step of ingest?  That takes a while.
 */
static bool
db_work_due(void)
{
	return http_lookups_waiting() > 0 || stream_timeout_ms() == 0 ||
		(!paused && ingest_timeout_ms() == 0);
}

/*
 * answer_synced is the pass of a wake-up by a group commit's sync alone:
 * its POSTs are answered at once, and nothing else is looked at before
 * the next wait (nothing else woke the loop).
 */
static void
answer_synced(void)
{
	flush(false);
	http_resume_all();
}

/* one pass of the loop, after the wait */
static void
pass(void)
{
	if (role_refresh())
		take_up_writes();
	if (types_stale())
		types_reload();
	tokens_upkeep();
	recheck_streams();
	if (role_standby())
		pressure_standby(types_from_table());
	else
	{
		int			count;
		uint64		bytes;
		time_t		oldest;

		/* the database journal's sealed segments (none with files) */
		segments_backlog(&count, &bytes, &oldest);
		pressure_note_segments(count, bytes, oldest);
		pressure_update(intake_journal(), intake_failing(),
						types_from_table(), intake_unrotated_since(),
						progress.waiting_lock);
	}
	report_gauges();
	http_run();

	/*
	 * Before work for the database the batch is synced inline, and the one
	 * in flight waited for: their POSTs are answered first, and neither a
	 * step of ingest nor a lookup adds to their latency.
	 */
	if (!role_standby() && db_work_due())
	{
		flush(true);
		http_resume_all();
	}
	else
		flush(false);
	serve_lookups();
	http_resume_all();
	serve_streams();
	if (role_standby())
	{
		serve_standby();
		return;
	}

	serve_rotation();
	if (serve_ingest())
	{
		/* only the live journal keeps POSTs refused: let ingest have it */
		if (pressure_rotation_helps())
			rotate_and_wake();
		prune_when_due();
	}
	db_report_stats();
}

void
evproc_worker_main(Datum main_arg)
{
	WaitEventSet *wes;
	MemoryContext pass_cxt;

	worker_index = DatumGetInt32(main_arg);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(evproc_database, NULL, 0);
	pgstat_report_appname("evproc");
	SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);
	/* never let a lock stall the event loop: fail, and retry later */
	SetConfigOption("lock_timeout", "100ms", PGC_SUSET, PGC_S_OVERRIDE);
	/*
	 * synchronous_commit stays the server's: every unit of work commits with
	 * it set to local (db.c), so that a commit is durable before anything is
	 * told of it (listeners of evproc_updates, evproc_rotate()) whatever the
	 * server's setting, and never sleeps waiting for standbys; what must
	 * wait for them waits in intake.c by the server's setting (syncrep.c).
	 */

	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(WARNING,
				(errmsg("evproc: database \"%s\" is not UTF8; user ids outside ASCII cannot be stored",
						evproc_database)));

	workers_attach(worker_index);
	/* what this worker's subscribers may have missed if it died: resync */
	feed_pos = feed_cursor();
	feed_publish_gap();
	/* on a hot standby: reads only, no journal (see take_up_writes) */
	(void) role_refresh();
	if (role_standby())
		(void) set_aside_backup_copies();
	else
		open_journal();
	status_attach(worker_index, role_standby() ? "" : intake_dir());
	report_build_info();
	ingest_init();
	auth_load();
	(void) settings_changed_groups();	/* what the first SIGHUP compares with */
	port_claim();				/* ERROR if another process holds the port */
	if (!stream_start() || !http_start())
		ereport(ERROR,
				(errmsg("evproc: could not start the HTTP server on %s:%d",
						evproc_listen_address, evproc_port),
				 errhint("Is another process listening on that port?  See the messages above.")));
	status_set_listening(evproc_port);
	if (role_standby())
		ereport(LOG,
				(errmsg("evproc: listening on %s:%d as a hot standby: serving reads, refusing events",
						evproc_listen_address, evproc_port)));
	else
		ereport(LOG,
				(errmsg("evproc: listening on %s:%d, journal in \"%s\"",
						evproc_listen_address, evproc_port, intake_dir())));

	wes = compat_create_wait_event_set(5);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, http_epoll_fd(), NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, stream_epoll_fd(), NULL, NULL);
	/* a group commit's fdatasync done (also on a standby: for promotion) */
	if (intake_sync_fd() >= 0)
		AddWaitEventToSet(wes, WL_SOCKET_READABLE, intake_sync_fd(), NULL,
						  NULL);

	pass_cxt = AllocSetContextCreate(TopMemoryContext, "evproc pass",
									 ALLOCSET_DEFAULT_SIZES);
	schedule_rotation();

	for (;;)
	{
		WaitEvent	events[5];
		int			nevents;

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
		if (nevents == 1 && events[0].fd == intake_sync_fd())
			answer_synced();
		else
			pass();
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
