/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  The archived journal files, one at a time, from the directory to
 *	  processed/: reading, fingerprinting, the file's transaction, and
 *	  what happens to a file that cannot be counted.
 *
 * With the journal in the database, its sealed segments come first, oldest
 * first: one is read a few rows at a time (segments.c) and goes the same
 * way as a file, its transaction also deleting its row instead of a move.
 *
 * Files are taken oldest (first by name) first.  A file is streamed in
 * slices, a bounded number of lines per call of ingest_step, so that the
 * event loop keeps serving HTTP while a large file is read; fold.c sums
 * its events per user and keeps its rejected lines.  Every step, sorting
 * and statements too, is bounded in time (INGEST_SLICE_MS).
 *
 * At the end of the file, one transaction applies everything (fold.c's
 * steps: eventIds, sums, rejected lines, and the row in
 * evproc.processed_files with the file's name and fingerprint, its size
 * and SHA-256 computed as it is read); a file with more (user, metric)
 * pairs than fold_sums.c sums at once is read again inside it for each
 * further range of its users.  Only after that commit is the file
 * moved to processed/.  A file whose name is recorded with the same
 * fingerprint was counted before (we crashed between commit and move) and
 * is only moved; one whose name is recorded with another fingerprint is a
 * different file that happens to reuse a name: it is renamed to a new name
 * of our own and counted under it, never skipped.  A file that can never be
 * read as it is (not a regular file, no permission, a name that is not
 * UTF-8) is set aside in failed/ and the others go on; an entry that
 * cannot be moved (to failed/, or to processed/ once counted) is skipped
 * and tried again later (ingest_moves.c).  Any other error leaves the file
 * where it is and is retried after a back-off.
 *
 * Nothing here waits for a lock held by someone else: the tables are
 * locked conditionally before a file's transaction starts to write, and
 * if that fails the transaction is retried a little later (the file is not
 * read again).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/prom.h"
#include "ingest/fingerprint.h"
#include "ingest/fold.h"
#include "ingest/ingest.h"
#include "ingest/ingest_moves.h"
#include "ingest/replica_feed.h"
#include "ingest/segments.h"
#include "journal/line.h"
#include "shared/db.h"
#include "shared/feed.h"
#include "shared/settings.h"
#include "shared/types.h"

#include "access/xlog.h"
#include "portability/instr_time.h"
#include "storage/lockdefs.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include <sys/stat.h>

/* work per call of ingest_step: this many lines, or this much time */
#define INGEST_SLICE_LINES		100000
#define INGEST_SLICE_MS			2
#define INGEST_CLOCK_LINES		256 /* lines between two looks at the clock */
/* sums upserted, or eventIds checked, per statement: see adapt_rows */
#define INGEST_ROWS_MIN			250
#define INGEST_ROWS_MAX			2500
#define INGEST_ROWS_FIRST		500
/* longest line we read; longer ones are rejected */
#define INGEST_MAX_LINE			(64 * 1024)
/* back-off after a failure, doubling up to the maximum */
#define INGEST_BACKOFF_MIN_MS	1000
#define INGEST_BACKOFF_MAX_MS	60000
/* how often to look for dropped files when idle */
#define INGEST_SCAN_MS			1000
/* retry of a file's transaction when a table is locked by someone else */
#define INGEST_LOCKED_RETRY_MS	100

typedef enum IngestPhase
{
	PHASE_NONE,
	PHASE_READING,				/* summing the file, slice by slice */
	PHASE_READ,					/* read; its transaction is to start */
	PHASE_APPLYING,				/* the file's transaction is open: */
	PHASE_DEDUPE,				/* ... checking eventIds, chunk by chunk */
	PHASE_SORTING,				/* ... sorting the sums, slice by slice */
	PHASE_TOTALS,				/* ... upserting sums, chunk by chunk */
	PHASE_RESCAN,				/* ... reading again, for the next users */
	PHASE_REJECTED,				/* ... storing rejected lines */
	PHASE_TOPS,					/* ... merging the top lists */
	PHASE_RECORD,				/* ... notifying, recording the file */
	PHASE_COMMIT				/* ... the commit, then the move */
} IngestPhase;

typedef struct IngestState
{
	bool		active;			/* a file is in progress */
	bool		segment;		/* it is a segment of the database journal */
	IngestPhase phase;
	char		name[JOURNAL_NAME_MAX];
	char		path[MAXPGPATH];
	JournalReader reader;		/* open from start_file to the end */
	EvHash128	murmur3;		/* fingerprint of what was read */
	Fingerprint fp;				/* the file's, once read */
	pg_cryptohash_ctx *sha256;	/* while its SHA-256 is computed, if ever */
	MemoryContext step_cxt;		/* reset at each step */
	TypeSet    *types;			/* the event types when the file began */
	int64		id_events;		/* events that carry an eventId */

	/* applying */
	TimestampTz apply_at;		/* PHASE_READ: when to try again */
	bool		rewound;		/* the pass reading it again has started */
	int			upsert_rows;	/* sums per upsert statement (adapted) */
	int			dedupe_rows;	/* eventIds per statement (adapted) */
	FoldCounts	counts;			/* PHASE_COMMIT: what the file counted */

	TimestampTz next_scan;
	TimestampTz retry_at;
	int			backoff_ms;
	char		last_error[256];
} IngestState;

static IngestState state;

static EvParser *line_parser = NULL;

/* events waiting to be summed: fold_add_events takes them in batches */
static EvEvent batch[FOLD_BATCH];

/* owns the SHA-256 contexts, which live across transactions */
static ResourceOwner ingest_owner = NULL;

void
ingest_init(void)
{
	memset(&state, 0, sizeof(state));
	state.reader.fd = -1;
	state.upsert_rows = INGEST_ROWS_FIRST;
	state.dedupe_rows = INGEST_ROWS_FIRST;
	ingest_owner = ResourceOwnerCreate(NULL, "evproc ingest");
	state.step_cxt = AllocSetContextCreate(TopMemoryContext, "evproc ingest step",
										   ALLOCSET_DEFAULT_SIZES);
	line_parser = ev_parser_create();
	if (line_parser == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/*
 * ingest_abandon drops the file in progress, rolling back its transaction if
 * one is open; the file stays in place for a later try.
 */
void
ingest_abandon(void)
{
	db_abort();
	if (state.reader.buf != NULL)
		jreader_close(&state.reader);
	if (state.sha256 != NULL)
		pg_cryptohash_free(state.sha256);
	state.sha256 = NULL;
	state.rewound = false;
	if (state.types != NULL)
	{
		pfree(state.types->types);
		pfree(state.types);
		state.types = NULL;
	}
	fold_end();
	state.phase = PHASE_NONE;
	state.active = false;
}

/*
 * ingest_wake asks to look for archived files at once (a rotation made
 * one), but unlike scan_now of ingest_step not during a back-off.
 */
void
ingest_wake(void)
{
	state.next_scan = 0;
}

/* ingest_progress: what ingest is doing */
void
ingest_progress(IngestProgress *progress)
{
	bool		backing_off = !state.active &&
		state.retry_at > GetCurrentTimestamp();

	progress->active = state.active;
	progress->waiting_lock = state.active && state.phase == PHASE_READ &&
		state.apply_at != 0;
	progress->file = state.active || backing_off ? state.name : "";
	progress->error = backing_off ? state.last_error : "";
	progress->retry_at = backing_off ? state.retry_at : 0;
}

/* ingest_timeout_ms: how long the loop may sleep as far as ingest goes. */
long
ingest_timeout_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next;

	if (state.active && state.phase == PHASE_READ)
		next = state.apply_at;
	else if (state.active)
		return 0;
	else
		next = Max(state.next_scan, state.retry_at);
	if (next <= now)
		return 0;
	return (long) ((next - now + 999) / 1000);
}

/*
 * parse_line reads one line of the file as an event with its type: the
 * one recorded in the line when the journal accepted it (whatever the
 * type's definition is now), else, for lines without one (journals of
 * version 1.1 and before, files dropped in by hand), the definition of
 * its name when the file's ingest began.  Returns false, with the reason
 * in errbuf, for a line that is not such an event.
 */
static bool
parse_line(const char *line, size_t len, EvEvent *ev, char *errbuf,
		   size_t errlen)
{
	if (!journal_line_parse(line_parser, line, len, ev, errbuf, errlen))
		return false;
	return ev->typed || types_resolve(state.types, ev, errbuf, errlen) == NULL;
}

/*
 * next_line reads the i-th line of a slice of the current file, the slice
 * ending at deadline.  It looks at the clock every INGEST_CLOCK_LINES
 * lines and after each block of a too-long line (which may be gigabytes).
 * Returns false when the slice's time is up; else *kind is JL_LINE,
 * JL_TOO_LONG (with the line's start) or JL_EOF.  A read error is an ERROR.
 */
static bool
next_line(TimestampTz deadline, int i, JournalLine *kind,
		  const char **line, size_t *len)
{
	if (i % INGEST_CLOCK_LINES == INGEST_CLOCK_LINES - 1 &&
		GetCurrentTimestamp() >= deadline)
		return false;
	while ((*kind = jreader_next(&state.reader, line, len)) == JL_MORE)
	{
		if (GetCurrentTimestamp() >= deadline)
			return false;
	}
	if (*kind == JL_ERROR)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", state.path)));
	return true;
}

/*
 * read_slice reads a slice of the current file (INGEST_SLICE_LINES lines or
 * INGEST_SLICE_MS, whichever ends first) into the per-user sums, so that
 * HTTP requests wait at most about that long.  Returns true at the end of
 * the file.
 */
static bool
read_slice(void)
{
	bool		done = false;
	int64		events = 0;
	int			nbatch = 0;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   INGEST_SLICE_MS);

	for (int i = 0; i < INGEST_SLICE_LINES; i++)
	{
		const char *line;
		size_t		len;
		EvEvent    *ev = &batch[nbatch];
		char		err[EV_ERROR_BUFSZ];
		JournalLine kind;

		if (!next_line(deadline, i, &kind, &line, &len))
			break;
		if (kind == JL_EOF)
		{
			done = true;
			break;
		}
		if (kind == JL_TOO_LONG)
		{
			fold_reject((int64) state.reader.lineno, line, len,
						"line is too long");
			continue;
		}
		if (journal_line_skipped(line, len))
			continue;
		if (!parse_line(line, len, ev, err, sizeof(err)))
		{
			fold_reject((int64) state.reader.lineno, line, len, err);
			continue;
		}

		events++;
		if (ev->event_id_len > 0)
		{
			/* counted in the transaction, once its eventId is known new */
			state.id_events++;
			continue;
		}
		if (++nbatch == FOLD_BATCH)
		{
			fold_add_events(batch, nbatch);
			nbatch = 0;
		}
	}
	fold_add_events(batch, nbatch);
	fold_note_events(events);
	return done;
}

/*
 * adapt_rows adapts *rows, the rows per statement, so that one takes about
 * INGEST_SLICE_MS: a statement cannot be cut short, and 2500 rows may take
 * 50 ms on a busy machine.  start: when the last one began; last: it had
 * fewer rows than asked (it says nothing of a larger one).
 */
static void
adapt_rows(int *rows, instr_time start, bool last)
{
	instr_time	took;
	double		ms;

	INSTR_TIME_SET_CURRENT(took);
	INSTR_TIME_SUBTRACT(took, start);
	ms = INSTR_TIME_GET_MILLISEC(took);
	if (ms > INGEST_SLICE_MS)
		*rows = Max(*rows / 2, INGEST_ROWS_MIN);
	else if (ms < INGEST_SLICE_MS / 2.0 && !last)
		*rows = Min(*rows * 2, INGEST_ROWS_MAX);
}

/*
 * reread_step reads the file again, inside the ingest transaction, a slice
 * per call: with dedupe, for the events that carry an eventId, one chunk
 * of them per call, so memory stays bounded and the loop keeps serving;
 * else for the next range of users (fold_sums.c), summing the events as
 * read_slice does, those with an eventId only if the eventId pass found
 * them new (fold_fresh).  Returns true when the file is done.
 */
static bool
reread_step(bool dedupe)
{
	IdEvent    *chunk = palloc(sizeof(IdEvent) * state.dedupe_rows);
	int			n = 0;
	int			nbatch = 0;
	bool		done = false;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   INGEST_SLICE_MS);

	/* the same descriptor as the first pass: the file cannot be swapped */
	if (!state.rewound)
	{
		if (jreader_rewind(&state.reader) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", state.path)));
		state.rewound = true;
	}
	/* a chunk of ids, within the bounds of a slice (see read_slice) */
	for (int i = 0; n < state.dedupe_rows && i < INGEST_SLICE_LINES; i++)
	{
		const char *line;
		size_t		len;
		EvEvent    *ev = &batch[nbatch];
		char		err[EV_ERROR_BUFSZ];
		JournalLine kind;

		if (!next_line(deadline, i, &kind, &line, &len))
			break;
		if (kind == JL_EOF)
		{
			done = true;
			break;
		}
		if (kind != JL_LINE || (!dedupe && fold_skip_line(line, len)) ||
			journal_line_skipped(line, len) ||
			!parse_line(line, len, ev, err, sizeof(err)))
			continue;
		if (!dedupe)
		{
			if ((ev->event_id_len == 0 ||
				 fold_fresh((int64) state.reader.lineno)) &&
				++nbatch == FOLD_BATCH)
			{
				fold_add_events(batch, nbatch);
				nbatch = 0;
			}
			continue;
		}
		if (ev->event_id_len == 0)
			continue;
		chunk[n].event_id = pstrdup(ev->event_id);
		chunk[n].user_id = pstrdup(ev->user_id);
		chunk[n].metric = pstrdup(ev->metric);
		chunk[n].delta = ev_event_delta(ev);
		chunk[n].seq = (int64) state.reader.lineno;
		n++;
	}
	fold_add_events(batch, nbatch);
	if (n > 0)
	{
		instr_time	start;

		INSTR_TIME_SET_CURRENT(start);
		fold_count_new_ids(chunk, n);
		adapt_rows(&state.dedupe_rows, start, n < state.dedupe_rows);
	}
	return done;
}

/*
 * upsert_step upserts the next chunk of sums, as many as fit in about
 * INGEST_SLICE_MS (adapt_rows), and asks the WAL writer to flush what the
 * file's transaction has written so far, so that its commit has little
 * left to flush.  Returns true when all sums are applied.
 */
static bool
upsert_step(void)
{
	instr_time	start;
	bool		done;

	INSTR_TIME_SET_CURRENT(start);
	done = fold_upsert_step(state.upsert_rows);
	adapt_rows(&state.upsert_rows, start, done);
	XLogSetAsyncXactLSN(XactLastRecEnd);
	return done;
}

/*
 * commit_file commits the transaction that applied the file; then the file
 * is moved.  A crash between the two leaves a recorded file behind, which
 * the next try recognises by its fingerprint and only moves.
 */
static void
commit_file(Journal *journal)
{
	FoldCounts	counts = state.counts;
	const char **users;
	int			nusers;

	evproc_fault("ingest-before-commit");
	/* not in SPI's memory: it goes with the commit */
	nusers = fold_users(state.step_cxt, &users);
	/* the same users for a hot standby's streams, replicated */
	replica_feed_record((const char *const *) users, nusers);
	db_commit();
	state.phase = PHASE_NONE;
	/* only now, durable and visible: the subscribers of every worker */
	feed_publish(XactLastCommitEnd, (const char *const *) users, nusers);

	prom_ingested(counts.events, counts.rejected);
	evproc_fault("ingest-after-commit");
	ingest_log_counted(state.name, &counts);
	ingest_abandon();
	if (state.segment)
		segments_consumed(journal);
	else
		ingest_move_done(journal, state.name);
}

/* hash_block feeds the fingerprint with a block read from the file. */
static void
hash_block(void *arg, const char *data, size_t len)
{
	ev_hash128_update(&state.murmur3, data, len);
}

/* compute_sha256: the file's SHA-256 (fingerprint.c), in ingest_owner */
static void
compute_sha256(void)
{
	ResourceOwner oldowner = CurrentResourceOwner;

	CurrentResourceOwner = ingest_owner;
	state.sha256 = fingerprint_sha256_start();
	CurrentResourceOwner = oldowner;
	fingerprint_sha256_read(&state.reader, state.path, state.sha256, &state.fp);
	pg_cryptohash_free(state.sha256);
	state.sha256 = NULL;
}

/*
 * start_file opens the next archived file, if any.  Returns false if there
 * is none.  Files that cannot be opened as regular files are set aside
 * (or, if they vanished, forgotten) and true is returned: the caller looks
 * for the next one at once.
 */
static bool
start_file(Journal *journal)
{
	int			fd;
	const char *why = NULL;

	/* the database journal's sealed segments first, then files */
	state.segment = segments_open_next(&state.reader, state.name,
									   INGEST_MAX_LINE);
	if (state.segment)
	{
		strlcpy(state.path, state.name, sizeof(state.path));
		evproc_fault("ingest-before-start");
		goto opened;
	}
	if (!ingest_next_archive(journal, state.name))
		return false;
	snprintf(state.path, sizeof(state.path), "%s/%s", journal->dir, state.name);
	evproc_fault("ingest-before-start");

	/* never store a name that pg_dump could not restore */
	if (!ev_utf8_valid(state.name, strlen(state.name)))
	{
		ingest_set_aside(journal, state.name, "its name is not valid UTF-8");
		return true;
	}
	switch (journal_open_archive(journal, state.name, &fd, &why))
	{
		case ARCHIVE_OPENED:
			break;
		case ARCHIVE_VANISHED:
			return true;
		case ARCHIVE_UNUSABLE:
			ingest_set_aside(journal, state.name, why);
			return true;
		case ARCHIVE_ERROR:
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", state.path)));
	}
	if (jreader_open_fd(&state.reader, fd, INGEST_MAX_LINE) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", state.path)));

opened:
	/* from here on, ingest_abandon cleans up */
	state.active = true;
	state.phase = PHASE_READING;
	ev_hash128_init(&state.murmur3, 0);
	memset(&state.fp, 0, sizeof(state.fp));
	state.reader.on_read = hash_block;
	state.types = types_copy(TopMemoryContext);
	fold_begin(state.name);
	state.id_events = 0;
	state.apply_at = 0;
	return true;
}

/*
 * finish_reading ends the first pass: the fingerprint is final and the
 * file waits for its transaction.
 */
static void
finish_reading(void)
{
	ev_hash128_final(&state.murmur3, state.fp.murmur3);
	state.fp.size = (int64) state.reader.offset;
	state.phase = PHASE_READ;
	state.apply_at = 0;
}

/*
 * begin_apply starts the file's transaction, unless a table is locked by
 * someone else (then it is tried again shortly).  A file whose name was
 * recorded before is not applied: it is moved if it is the same file, or
 * renamed to be counted under a name of its own if it is not.
 */
static void
begin_apply(Journal *journal)
{
	Recorded	recorded;
	char		activity[JOURNAL_NAME_MAX + 32];

	if (GetCurrentTimestamp() < state.apply_at)
		return;
	snprintf(activity, sizeof(activity), "evproc: ingesting \"%s\"", state.name);
	db_begin(activity);
	db_check_schema();
	/* before preparing plans, which would wait for the locks too */
	if (!db_try_lock(db_tables, DB_NTABLES, RowExclusiveLock))
	{
		db_commit();
		if (state.apply_at == 0)
			ereport(LOG,
					(errmsg("evproc: file \"%s\" waits for a lock on the tables of evproc held by another session",
							state.name),
					 errdetail("It is ingested as soon as the lock is released; HTTP is served meanwhile.")));
		state.apply_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 INGEST_LOCKED_RETRY_MS);
		return;
	}
	fold_prepare();
	state.phase = PHASE_APPLYING;
	recorded = fold_recorded_as(state.name, &state.fp);
	if (recorded == RECORDED_NEEDS_SHA256 ||
		(recorded == RECORDED_NOT && fold_records_sha256()))
	{
		compute_sha256();
		if (recorded == RECORDED_NEEDS_SHA256)
			recorded = fold_recorded_as(state.name, &state.fp);
	}
	if (recorded == RECORDED_NOT)
	{
		state.phase = state.id_events > 0 ? PHASE_DEDUPE : PHASE_SORTING;
		if (state.phase == PHASE_SORTING)
			fold_sort_begin();
		else
			fold_fresh_begin((int64) state.reader.lineno + 1);
		return;
	}

	if (state.segment)			/* not by construction: only forgotten */
		segments_consume();
	db_commit();
	state.phase = PHASE_NONE;
	ingest_abandon();
	if (state.segment)
	{
		segments_consumed(journal);
		ereport(LOG,
				(errmsg("evproc: journal segment \"%s\" was already ingested; forgotten",
						state.name)));
		return;
	}
	ingest_recorded(journal, state.name, recorded, state.fp.size);
}

/*
 * file_step does the next bounded piece of work on the current file.  After
 * reading it, one transaction applies it over several calls (a chunk of
 * rows each), so HTTP keeps being served; lookups meanwhile see the
 * committed values (see lookup.c).
 */
static void
file_step(Journal *journal)
{
	MemoryContext oldcxt;

	MemoryContextReset(state.step_cxt);
	oldcxt = MemoryContextSwitchTo(state.step_cxt);
	switch (state.phase)
	{
		case PHASE_READING:
			if (read_slice())
				finish_reading();
			break;
		case PHASE_READ:
			begin_apply(journal);
			break;
		case PHASE_DEDUPE:
		case PHASE_RESCAN:
			if (reread_step(state.phase == PHASE_DEDUPE))
			{
				fold_sort_begin();
				state.phase = PHASE_SORTING;
			}
			break;
		case PHASE_SORTING:
			if (fold_sort_for(INGEST_SLICE_MS))
				state.phase = PHASE_TOTALS;
			break;
		case PHASE_TOTALS:
			if (!upsert_step())
				break;
			state.rewound = false;	/* PHASE_RESCAN reads from the start */
			state.phase = fold_next_range() ? PHASE_RESCAN : PHASE_REJECTED;
			if (state.phase == PHASE_RESCAN)
				evproc_fault("ingest-between-ranges");
			break;
		case PHASE_REJECTED:
			if (fold_rejected_step())
				state.phase = PHASE_TOPS;
			break;
		case PHASE_TOPS:
			/* a step of its own: a merge may take milliseconds */
			fold_apply_tops();
			state.phase = PHASE_RECORD;
			break;
		case PHASE_RECORD:
			/* the last statements; the commit is the next step */
			fold_notify();
			fold_record(&state.fp, &state.counts);
			if (state.segment)
				segments_consume();
			XLogSetAsyncXactLSN(XactLastRecEnd);
			state.phase = PHASE_COMMIT;
			break;
		case PHASE_COMMIT:
			commit_file(journal);
			break;
		default:
			elog(ERROR, "evproc: unexpected ingest phase %d", (int) state.phase);
	}
	MemoryContextSwitchTo(oldcxt);
}

/* One call of ingest_step, for step(), run by db_try. */
typedef struct StepCall
{
	Journal    *journal;
	IngestResult result;
} StepCall;

static void
step(void *arg)
{
	StepCall   *call = arg;

	if (!state.active)
	{
		if (!start_file(call->journal))
			call->result = INGEST_IDLE;
	}
	else
		file_step(call->journal);

	/*
	 * Stop backing off only once a file is finished or moved, or none is
	 * waiting: opening a file succeeds even when applying it keeps failing
	 * (a locked table), and must not reset the back-off.  The retry time
	 * goes too, or ingest_timeout_ms would still wait for it.
	 */
	if (!state.active)
	{
		state.backoff_ms = 0;
		state.retry_at = 0;
	}
	/* a file was finished or moved: look for the next one at once */
	if (call->result == INGEST_BUSY && !state.active)
		state.next_scan = 0;
}

/*
 * ingest_step does a bounded amount of ingest work: opens the next file,
 * reads a slice of it, or applies a chunk of it.  scan_now asks to look
 * for files at once, even during a back-off, rather than at the next
 * periodic scan.  On failure the error is logged, its message copied into
 * errbuf, and the next try is delayed.
 */
IngestResult
ingest_step(Journal *journal, bool scan_now, char *errbuf, size_t errlen)
{
	TimestampTz now = GetCurrentTimestamp();
	StepCall	call;
	ErrorData  *edata;

	if (!state.active)
	{
		if (!scan_now && now < state.retry_at)
		{
			strlcpy(errbuf, state.last_error, errlen);
			return INGEST_FAILED;
		}
		if (!scan_now && now < state.next_scan)
			return INGEST_IDLE;
		state.next_scan = TimestampTzPlusMilliseconds(now, INGEST_SCAN_MS);
	}

	call.journal = journal;
	call.result = INGEST_BUSY;
	edata = db_try(step, &call);
	if (edata == NULL)
		return call.result;

	ingest_abandon();
	prom_ingest_error();
	state.backoff_ms = state.backoff_ms == 0 ? INGEST_BACKOFF_MIN_MS :
		Min(state.backoff_ms * 2, INGEST_BACKOFF_MAX_MS);
	state.retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												 state.backoff_ms);
	ereport(LOG,
			(errcode(edata->sqlerrcode),
			 errmsg("evproc: could not ingest \"%s\": %s",
					state.name, edata->message),
			 edata->hint ? errhint("%s", edata->hint) : 0,
			 errdetail("Will retry in %d ms.", state.backoff_ms)));
	snprintf(state.last_error, sizeof(state.last_error),
			 "could not ingest \"%s\": %s", state.name, edata->message);
	strlcpy(errbuf, state.last_error, errlen);
	FreeErrorData(edata);
	return INGEST_FAILED;
}
