/*-------------------------------------------------------------------------
 *
 * intake.c
 *	  The group commit, from accepted events to durable ones: the journal
 *	  they are written to, the memory of recent eventIds, and the clients
 *	  waiting for their events to be durable.
 *
 * The HTTP layer hands over each request's valid events with a waiter (its
 * request) through intake_accept; their journal lines join the batch of
 * this pass of the event loop.  The worker then calls intake_flush: one
 * write and one fdatasync for the whole batch, and only then is every
 * waiter answered (through the function the worker passes), 200 if the
 * batch is durable, 503 if it is not (then none of it was kept).  An
 * eventId already journaled recently, or earlier in the same batch, is a
 * duplicate: acknowledged, counted in the receipt, not journaled again.
 *
 * The fdatasync runs while the loop goes on (journal_sync.c): the worker
 * waits on intake_sync_fd with its other descriptors, and the next
 * requests are parsed into the next batch meanwhile.  One batch is synced
 * at a time; the next is written once the first is durable.  If the first
 * fails, the batch behind it fails too (503 for all): an event of it may
 * have been taken for a repeat of one that was not kept.  Where the kernel
 * has no asynchronous fdatasync, the batch is synced inline.
 *
 * Where a batch is made durable is intake_sink.c's.  With
 * evproc.journal_storage = database the batch is not written to the
 * file but group-committed as one transaction (segments.c), and the
 * waiters are answered after its commit.  A backend has one transaction at
 * a time and ingest's may stay open across passes: while it is, the batch
 * waits (and keeps growing) and is committed at the first pass after it.
 * With synchronous standbys (synchronous_commit on, remote_write or
 * remote_apply, and synchronous_standby_names set), the waiters of a
 * committed batch are answered once the standbys have confirmed its
 * commit (syncrep.c): they move to the front of the waiters, with the
 * commit's LSN, and are answered at a later pass, in order; the loop keeps
 * serving, and keeps group-committing the batches behind them.
 * The journal's directory is still opened (files left in it are ingested),
 * and the journal keeps the naming, the batch and the sizes
 * (durable_len: bytes committed to the current segment).
 *
 * intake_accept runs inside libmicrohttpd's callbacks, so it uses malloc
 * and never calls into PostgreSQL; everything else runs in the worker's
 * loop and reports with ereport.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "core/idcache.h"
#include "core/prom.h"
#include "ingest/intake.h"
#include "ingest/intake_sink.h"
#include "ingest/segments.h"
#include "journal/line.h"
#include "shared/settings.h"
#include "shared/syncrep.h"

#include <time.h>

#include "miscadmin.h"
#include "utils/timestamp.h"

/* eventIds remembered between group commits (see idcache.h) */
#define RECENT_IDS_CAPACITY		65536
/* journal-sync-fails-once: its sync's end is noticed this late */
#define HELD_SYNC_US			200000
/* a failing journal with no POST waiting is tried this often (see probe) */
#define PROBE_EVERY_MS			1000

/*
 * A client waiting for the batch, with what it sent; or, among the first
 * nreplicating waiters, for the standbys to confirm the commit ending at
 * lsn.
 */
typedef struct Waiter
{
	void	   *waiter;
	long		accepted;
	long		duplicates;
	XLogRecPtr	lsn;
} Waiter;

/* where batches are made durable (intake_sink.c); chosen by intake_open */
static const IntakeSink *sink = &intake_sinks[0];
static bool collect_sync(bool wait);
static Journal journal;
static bool opened = false;
static int	my_worker = 0;
static bool failing = false;	/* the last flush failed */
static IdCache recent_ids;		/* eventIds journaled, or pending in the batch */
static Waiter *waiters = NULL;
static int	nwaiters = 0;
static int	nreplicating = 0;	/* the first ones: committed, see Waiter */

/*
 * The batch being synced (journal.syncing), whose waiters are the
 * nsyncing after the replicating ones: its size and start, for the
 * metric.  Once collected (collect_sync), decided says so and durable
 * how, until the next intake_flush answers them.
 */
static JournalSyncer syncer;	/* unusable until intake_sync_fd */
static int	nsyncing = 0;
static uint64 sync_bytes = 0;
static int64 sync_started = 0;
static bool decided = false;
static bool decided_durable = false;
static bool fail_next_sync = false; /* journal-sync-fails-once, armed */
static bool sync_doomed = false;	/* ... and the sync in flight is it */
static int	waiters_cap = 0;
static time_t unrotated_since = 0;	/* see intake_unrotated_since */
static int64 next_probe_ms = 0;

/*
 * set_faults applies the journal fault points of evproc.fault_injection
 * (tests only): every flush then fails after its write, as on a full or
 * failing disk; or, set anew, the next asynchronous sync fails and its
 * end is noticed HELD_SYNC_US late, so that a batch is taken in behind it
 * (see collect_sync).
 */
static void
set_faults(Journal *j)
{
	j->inject_errno =
		strcmp(evproc_fault_injection, "journal-enospc") == 0 ? ENOSPC :
		strcmp(evproc_fault_injection, "journal-eio") == 0 ? EIO : 0;
	fail_next_sync = strcmp(evproc_fault_injection,
							"journal-sync-fails-once") == 0;
}

/*
 * open_in opens a journal in dir and rotates any journal left there by a
 * previous run before anything is appended: it may end in a torn line.
 * Each opening draws a random part for the names it makes, so that names
 * never repeat, not even across a copied data directory; last_recorded
 * (the newest name recorded in the database, or NULL) makes new names
 * sort after the recorded ones even when their files are gone.  On
 * failure it reports at elevel and returns false.
 */
static bool
open_in(Journal *j, const char *dir, const char *last_recorded, int elevel)
{
	char		name[JOURNAL_NAME_MAX];
	char		tag[32];
	uint64		nonce;
	char	   *mkdir_path = pstrdup(dir);

	if (!pg_strong_random(&nonce, sizeof(nonce)))
		nonce = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
	snprintf(tag, sizeof(tag), "-%016llx", (unsigned long long) nonce);
	if (my_worker > 0)
		snprintf(tag + strlen(tag), sizeof(tag) - strlen(tag), ".w%d",
				 my_worker);
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
	if (last_recorded != NULL)
		journal_note_name(j, last_recorded);
	if (journal_rotate(j, time(NULL), name) < 0)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("evproc: could not rotate the journal left in \"%s\": %m",
						dir)));
		journal_close(j);
		return false;
	}
	set_faults(j);
	return true;
}

/*
 * intake_open opens the journal in dir for worker worker_index (see
 * open_in), and the memory of recent eventIds; with the journal in the
 * database, its segments too (segments_open).
 */
bool
intake_open(const char *dir, int worker_index, const char *last_recorded,
			int elevel)
{
	uint64		seed;

	my_worker = worker_index;
	if (!open_in(&journal, dir, last_recorded, elevel))
		return false;
	if (!pg_strong_random(&seed, sizeof(seed)))
		seed = 0;				/* still correct, only predictable */
	if (!idcache_init(&recent_ids, RECENT_IDS_CAPACITY, seed))
	{
		journal_close(&journal);
		ereport(elevel,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
		return false;
	}
	opened = true;
	sink = &intake_sinks[settings_journal_in_database() ? 1 : 0];
	if (settings_journal_in_database())
		segments_open(worker_index, &journal);
	return true;
}

/*
 * intake_move moves the journal to directory dir (evproc.directory
 * changed).  The new directory is opened first: if it cannot be used,
 * the old one stays in use and false is returned.  Otherwise what the old
 * journal holds is archived there, and new events go to dir.  Call with
 * nothing pending (after intake_flush).
 */
bool
intake_move(const char *dir, const char *last_recorded)
{
	Journal		new_journal;
	char		name[JOURNAL_NAME_MAX];
	char	   *old_dir;

	Assert(nwaiters == nreplicating && !journal.syncing);
	if (!open_in(&new_journal, dir, last_recorded, LOG))
	{
		ereport(LOG,
				(errmsg("evproc: evproc.directory \"%s\" cannot be used; the journal stays in \"%s\"",
						dir, journal.dir)));
		return false;
	}
	(void) intake_rotate(name);
	old_dir = pstrdup(journal.dir);
	journal_close(&journal);
	journal = new_journal;
	ereport(LOG,
			(errmsg("evproc: journal directory changed from \"%s\" to \"%s\"",
					old_dir, journal.dir),
			 errdetail("Files still in the old directory are no longer ingested; move any events-*.jsonl files from it into the new one.")));
	pfree(old_dir);
	return true;
}

/* intake_apply_settings applies evproc.fsync and the fault points. */
void
intake_apply_settings(void)
{
	journal.fsync = evproc_fsync;
	set_faults(&journal);
}

void
intake_close(void)
{
	if (!opened)
		return;
	(void) collect_sync(true);
	journal_close(&journal);
	idcache_free(&recent_ids);
	free(waiters);
	waiters = NULL;
	nwaiters = nreplicating = waiters_cap = 0;
	opened = false;
}

/* intake_dir: the directory of the journal in use. */
const char *
intake_dir(void)
{
	return journal.dir;
}

/*
 * intake_journal: the journal, for the work on its directory's archived
 * files (ingest); never for appending.
 */
Journal *
intake_journal(void)
{
	return &journal;
}

/*
 * intake_pending: how many clients wait for a group commit that can start
 * now, or for answers already decided.  None while a batch is being
 * synced: intake_sync_fd wakes the loop when it is done.
 */
int
intake_pending(void)
{
	return journal.syncing ? 0 : nwaiters - nreplicating;
}

/*
 * intake_sync_fd: the descriptor that becomes readable when the batch
 * being synced is durable (or failed), for the worker to wait on; -1 if
 * batches are synced inline.  The first call makes it, once per process:
 * it stays across journal moves and promotion.
 */
int
intake_sync_fd(void)
{
	static bool tried = false;

	if (!tried)
	{
		tried = true;
		if (jsync_open(&syncer) != 0)
			ereport(LOG,
					(errmsg("evproc: no asynchronous fdatasync here (%m): the journal is synced inline")));
	}
	return syncer.ctx != 0 ? syncer.efd : -1;
}

/*
 * intake_replicating: how many clients wait for the synchronous standbys
 * to confirm a committed batch (each pass looks; nothing wakes the loop).
 */
int
intake_replicating(void)
{
	return nreplicating;
}

static int
compare_event_ids(const void *a, const void *b)
{
	const EvEvent *ea = *(const EvEvent *const *) a;
	const EvEvent *eb = *(const EvEvent *const *) b;
	int			c = strcmp(ea->event_id, eb->event_id);

	/* among equal ids, the earliest event comes first and is kept */
	return c != 0 ? c : (ea < eb ? -1 : ea > eb);
}

/*
 * mark_duplicates finds events that repeat an eventId of an earlier event
 * of the same request, or one journaled recently or pending in this
 * batch: they are acknowledged but not journaled again.  Returns how many
 * there are (skip[i] set for each), or -1 out of memory.
 */
static long
mark_duplicates(const EvEvent *events, size_t n, bool *skip, time_t now)
{
	const EvEvent **with_id = malloc(n * sizeof(EvEvent *));
	size_t		m = 0;
	long		dups = 0;

	if (with_id == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		skip[i] = false;
		if (events[i].event_id_len > 0)
			with_id[m++] = &events[i];
	}
	qsort(with_id, m, sizeof(EvEvent *), compare_event_ids);
	for (size_t i = 1; i < m; i++)
	{
		if (strcmp(with_id[i]->event_id, with_id[i - 1]->event_id) == 0)
		{
			skip[with_id[i] - events] = true;
			dups++;
		}
	}
	free(with_id);
	for (size_t i = 0; i < n; i++)
	{
		if (!skip[i] && events[i].event_id_len > 0 &&
			idcache_contains(&recent_ids, events[i].event_id, now,
							 evproc_dedupe_retention))
		{
			skip[i] = true;
			dups++;
		}
	}
	return dups;
}

static bool
push_waiter(void *waiter, long accepted, long duplicates)
{
	if (nwaiters == waiters_cap)
	{
		int			newcap = waiters_cap == 0 ? 64 : waiters_cap * 2;
		Waiter	   *grown = realloc(waiters, newcap * sizeof(Waiter));

		if (grown == NULL)
			return false;
		waiters = grown;
		waiters_cap = newcap;
	}
	waiters[nwaiters].waiter = waiter;
	waiters[nwaiters].accepted = accepted;
	waiters[nwaiters].duplicates = duplicates;
	waiters[nwaiters].lsn = InvalidXLogRecPtr;
	nwaiters++;
	return true;
}

/*
 * intake_accept appends the journal lines of a client's valid events to
 * the batch (all or nothing), received from client_addr now; waiter is
 * answered by intake_flush.  Returns false, with nothing added, if out of
 * memory.  Runs inside libmicrohttpd's callbacks: no PostgreSQL calls.
 */
bool
intake_accept(const EvEvent *events, size_t n, const char *client_addr,
			  void *waiter)
{
	long		dups = 0;
	bool	   *skip = NULL;
	char	   *room;
	size_t		len;
	char		stamp[EV_TIMESTAMP_BUFSZ];
	JournalLineTail tail;
	struct timespec now;
	size_t		mark = journal_batch_len(&journal);
	bool		any_id = false;

	if (mark == 0 && journal.durable_len == 0 && !journal.syncing)
		unrotated_since = time(NULL);	/* the first event since a rotation */
	for (size_t i = 0; i < n && !any_id; i++)
		any_id = events[i].event_id_len > 0;
	clock_gettime(CLOCK_REALTIME, &now);
	if (any_id)
	{
		skip = malloc(n * sizeof(bool));
		dups = skip ? mark_duplicates(events, n, skip, now.tv_sec) : -1;
		if (dups < 0)
			goto oom;
	}

	ev_format_timestamp(&now, stamp);
	if (!journal_line_tail(stamp, client_addr, &tail))
		goto oom;
	if (n - (size_t) dups > 1)
	{
		/* two events or more: the tail once, in a receipt line (line.h) */
		room = journal_reserve(&journal, EV_LINE_MAX);
		if (room == NULL ||
			(len = journal_line_receipt(&tail, room, EV_LINE_MAX)) == 0)
			goto oom;
		journal_advance(&journal, len);
		journal_line_short_tail(&tail);
	}
	for (size_t i = 0; i < n; i++)
	{
		if (skip != NULL && skip[i])
			continue;
		/* lines are written into the batch itself */
		room = journal_reserve(&journal, EV_LINE_MAX);
		if (room == NULL ||
			(len = journal_line_format_tail(&events[i], &tail, room,
											EV_LINE_MAX)) == 0)
			goto oom;
		journal_advance(&journal, len);
	}
	if (!push_waiter(waiter, (long) n, any_id ? dups : -1))
		goto oom;

	/*
	 * Only now that nothing can fail: the ids are pending until the batch is
	 * durable (intake_flush), so that a later request of this pass sees
	 * them.
	 */
	for (size_t i = 0; skip != NULL && i < n; i++)
		if (!skip[i] && events[i].event_id_len > 0)
			idcache_add_pending(&recent_ids, events[i].event_id);
	free(skip);
	return true;

oom:
	/* take back what this request added to the batch */
	journal_batch_undo(&journal, mark);
	free(skip);
	return false;
}

/*
 * probe tries a failing journal (journal_probe) once every PROBE_EVERY_MS
 * while no POST is waiting, so that it is found writable again (space
 * freed, disk back) without a client having to try: GET /ready says so,
 * and a load balancer that stopped sending POSTs to a worker that was not
 * ready would otherwise never send the one that finds out.
 */
static void
probe(void)
{
	int64		now = monotonic_ms();

	if (now < next_probe_ms)
		return;
	next_probe_ms = now + PROBE_EVERY_MS;
	if (!sink->probe(&journal))
		return;
	ereport(LOG,
			(errmsg("evproc: writing the journal succeeds again")));
	failing = false;
}

/* answer_one answers a waiter: 200 with its receipt if durable, else 503 */
static void
answer_one(IntakeAnswerFn answer, const Waiter *w, bool durable)
{
	IntakeReceipt receipt;

	receipt.durable = durable;
	receipt.accepted = w->accepted;
	receipt.duplicates = w->duplicates;
	answer(w->waiter, &receipt);
}

/*
 * answer_replicated answers the waiters of committed batches that the
 * synchronous standbys have confirmed by now: a prefix of them, since
 * commits are confirmed in the order of their LSNs.
 */
static void
answer_replicated(IntakeAnswerFn answer)
{
	int			n = 0;
	XLogRecPtr	confirmed = InvalidXLogRecPtr;

	while (n < nreplicating)
	{
		if (waiters[n].lsn != confirmed)
		{
			if (!syncrep_reached(waiters[n].lsn))
				break;
			confirmed = waiters[n].lsn;
		}
		answer_one(answer, &waiters[n++], true);
	}
	if (n == 0)
		return;
	memmove(waiters, waiters + n, (nwaiters - n) * sizeof(Waiter));
	nwaiters -= n;
	nreplicating -= n;
}

/*
 * finish_flush does what follows the end of a group commit: the metric,
 * the journal's failing state, and the batch's eventIds remembered or
 * forgotten.
 */
static void
finish_flush(bool durable, uint64 bytes, int64 started)
{
	if (durable)
		prom_journal_flush(bytes, (double) (monotonic_us() - started) / 1e6);
	if (durable && failing)
		ereport(LOG,
				(errmsg("evproc: writing the journal succeeds again")));
	failing = !durable;

	if (durable)
		idcache_commit(&recent_ids, time(NULL), evproc_dedupe_retention);
	else
		idcache_abort(&recent_ids);
}

/*
 * collect_sync collects the batch being synced, if any: false while it
 * still is (never with wait).  Its waiters are then decided, and answered
 * by the next intake_flush.  If the batch failed, the batch taken in
 * behind it is dropped and fails with it (see the head of this file).
 */
static bool
collect_sync(bool wait)
{
	int			rc;

	if (!journal.syncing)
	{
		jsync_drain(&syncer);	/* a signal that came after a wait */
		return true;
	}
	if (sync_doomed)
	{
		/* journal-sync-fails-once (set_faults) */
		if (!wait && monotonic_us() - sync_started < HELD_SYNC_US)
			return false;
		journal.inject_errno = EIO;
	}
	rc = journal_flush_end(&journal, &syncer, wait);
	if (rc == 1)
		return false;
	if (sync_doomed)
	{
		journal.inject_errno = 0;
		sync_doomed = false;
	}
	if (rc < 0)
	{
		if (!failing)
			intake_sink_failed(&journal);
		journal_batch_undo(&journal, 0);
		nsyncing = nwaiters - nreplicating;
	}
	finish_flush(rc == 0, sync_bytes, sync_started);
	decided = true;
	decided_durable = (rc == 0);
	return true;
}

/* answer_decided answers the waiters of a collected batch (collect_sync). */
static void
answer_decided(IntakeAnswerFn answer)
{
	Waiter	   *first = waiters + nreplicating;

	if (!decided)
		return;
	for (int i = 0; i < nsyncing; i++)
		answer_one(answer, &first[i], decided_durable);
	memmove(first, first + nsyncing,
			(nwaiters - nreplicating - nsyncing) * sizeof(Waiter));
	nwaiters -= nsyncing;
	nsyncing = 0;
	decided = false;
}

/*
 * intake_flush group-commits the batch and answers every waiter with its
 * receipt.  The batch's eventIds become remembered ids, or are forgotten
 * with it.  With nothing to commit, a failing journal is probed.
 *
 * A file's batch is only written and its sync started: its waiters are
 * answered by the intake_flush after the sync (intake_sync_fd), which
 * then starts the batch taken in meanwhile.  With wait, everything is
 * answered before it returns (a reload, the shutdown, a pass with
 * work for the database).
 */
void
intake_flush(IntakeAnswerFn answer, bool wait)
{
	int			rc;
	bool		durable;
	uint64		bytes;
	int64		started;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	answer_replicated(answer);
	if (!collect_sync(wait))
		return;					/* the batch behind it waits */
	answer_decided(answer);
	if (nwaiters == nreplicating)
	{
		if (failing)
			probe();
		return;
	}
	/* ingest's transaction is open: the batch waits for its end */
	if (sink->busy())
		return;
	bytes = journal_batch_len(&journal);
	started = monotonic_us();
	idcache_seal(&recent_ids);
	rc = sink->flush(&journal, wait ? NULL : &syncer, failing, &lsn);
	if (rc == JOURNAL_SYNCING)
	{
		sync_doomed = fail_next_sync;
		fail_next_sync = false;
		nsyncing = nwaiters - nreplicating;
		sync_bytes = bytes;
		sync_started = started;
		return;
	}
	durable = (rc == JOURNAL_DURABLE);
	finish_flush(durable, bytes, started);
	if (durable && !syncrep_reached(lsn))
	{
		/* answered by answer_replicated once the standbys have it */
		for (int i = nreplicating; i < nwaiters; i++)
			waiters[i].lsn = lsn;
		nreplicating = nwaiters;
		return;
	}
	for (int i = nreplicating; i < nwaiters; i++)
		answer_one(answer, &waiters[i], durable);
	nwaiters = nreplicating;
}

/*
 * intake_rotation_due: has the journal reached evproc.rotation_size?  A
 * journal file, or segment, never grows unbounded, whatever the interval.
 */
bool
intake_rotation_due(void)
{
	return evproc_rotation_size > 0 &&
		journal.durable_len >= (off_t) evproc_rotation_size * 1024;
}

/*
 * intake_busy: can the journal not be rotated now?  In the database, not
 * while ingest's transaction is open (a backend has one at a time).
 */
bool
intake_busy(void)
{
	return sink->busy();
}

/*
 * intake_rotate archives a non-empty journal under a new name, given in
 * name ("" if the journal was empty); returns false on failure.  The
 * batch being synced is waited for, and rotated with the file if it is
 * durable; its POSTs are answered by the next intake_flush.
 */
bool
intake_rotate(char *name)
{
	name[0] = '\0';
	if (sink->busy())
		return false;
	(void) collect_sync(true);
	if (!sink->rotate(&journal, name))
		return false;
	unrotated_since = 0;
	return true;
}

/*
 * intake_unrotated_since: when the oldest event in the active journal was
 * accepted (0: none since the last rotation).
 */
time_t
intake_unrotated_since(void)
{
	return journal.durable_len > 0 ? unrotated_since : 0;
}

/* intake_failing: did the last group commit fail to make the batch durable? */
bool
intake_failing(void)
{
	return failing;
}

/* intake_is_empty: has nothing been journaled since the last rotation? */
bool
intake_is_empty(void)
{
	return sink->is_empty(&journal);
}
