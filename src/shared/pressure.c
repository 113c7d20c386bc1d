/*-------------------------------------------------------------------------
 *
 * pressure.c
 *	  Back-pressure and readiness.  Once a second, and whenever ingest has
 *	  moved a file out, the worker measures the archived files waiting and
 *	  the free space of the journal's file system.  The backlog (bytes
 *	  acknowledged and not yet counted) is that measurement plus what was
 *	  journaled since, to the byte: the files rotated since and the live
 *	  journal with the batch being committed.  However many clients send at
 *	  once, the backlog never passes evproc.max_backlog by more than the
 *	  events accepted in the pass that crosses it (each request is checked
 *	  again once its body is in, see http_events.c).
 *	  Past evproc.max_backlog or under evproc.min_free_space,
 *	  POST /liveEvent is refused with 503 and a Retry-After computed from
 *	  the rate at which ingest has been reducing the backlog, and accepted
 *	  again by itself once back under the limits.  Nothing acknowledged is
 *	  touched: the limits only stop more from coming in.  GET /ready says
 *	  the same, with each failing check named; it also fails while the
 *	  journal cannot be written, the tables are missing, or ingest waits
 *	  for a table that another session holds locked.
 *
 * On a hot standby (role.c) there is no journal: pressure_standby stands
 * for the measurement, only the tables are checked, and /ready's body says
 * the role.
 *
 * The HTTP side only reads what the worker measured: no PostgreSQL calls,
 * no system calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "shared/pressure.h"
#include "shared/role.h"
#include "shared/settings.h"

#include <stdio.h>
#include <sys/statvfs.h>
#include <time.h>

/* how often the backlog and the free space are measured */
#define PRESSURE_EVERY_MS	1000
/* bounds of Retry-After, in seconds */
#define RETRY_MIN			1
#define RETRY_MAX			60

static int64 next_ms = 0;
static bool measured = false;
static const Journal *live = NULL;	/* the live journal, read as it grows */
static uint64 archived = 0;		/* the archived files waiting, measured */
static uint64 rotated_mark = 0; /* live->rotated_bytes when measured */
static uint64 moved_mark = 0;	/* live->archives_moved when measured */
static uint64 backlog = 0;		/* bytes acknowledged, not yet counted */
static int	backlog_files = 0;
static uint64 free_bytes = 0;
static bool disk_known = false;
static bool failing = false;	/* the journal cannot be written */
static bool schema = true;		/* the tables are there (as last seen) */
static bool locked = false;		/* ingest waits for a table's lock */
static double drain_rate = 0;	/* bytes/s the backlog went down by, smoothed */
static uint64 last_backlog = 0;
static int64 last_ms = 0;
static double lag = 0;			/* age of the oldest event not yet counted */
/* the sealed segments of the database journal, as last noted */
static int	segments = 0;
static uint64 segment_bytes = 0;
static time_t segment_oldest = 0;

/*
 * backlog_now: the bytes acknowledged and not yet counted, as of now: the
 * archived files as last measured, the files rotated since, and the live
 * journal: durable, being synced, or in the batch taken in.  Reads only
 * memory.
 */
static uint64
backlog_now(void)
{
	uint64		b = archived;

	if (live == NULL)
		return b;
	if (live->rotated_bytes > rotated_mark)
		b += live->rotated_bytes - rotated_mark;
	return b + (uint64) live->durable_len + (uint64) live->syncing_len +
		(uint64) live->len;
}

/*
 * pressure_note_segments gives the sealed segments of the journal kept in
 * the database not yet counted (evproc.journal_storage = database): they
 * are in the backlog as archived files are.
 */
void
pressure_note_segments(int count, uint64 bytes, time_t oldest)
{
	segments = count;
	segment_bytes = bytes;
	segment_oldest = oldest;
}

/*
 * pressure_update measures, at most once every PRESSURE_EVERY_MS, what the
 * limits are about.  journal_failing: the last flush failed;
 * schema_ready: the extension's tables were there when last looked at;
 * ingest_locked: a file waits for a table another session holds locked.
 */
void
pressure_update(Journal *journal, bool journal_failing, bool schema_ready,
				time_t unrotated_since, bool ingest_locked)
{
	int64		now = monotonic_ms();
	time_t		oldest;
	struct statvfs vfs;

	failing = journal_failing;
	schema = schema_ready;
	locked = ingest_locked;
	live = journal;

	/*
	 * A file counted (or set aside) leaves the backlog at once: measured
	 * again then, not up to a second later, so that the refusals end as
	 * soon as ingest has made room.
	 */
	if (now < next_ms && journal->archives_moved == moved_mark)
		return;
	next_ms = now + PRESSURE_EVERY_MS;
	if (journal_backlog(journal, &backlog_files, &archived, &oldest) != 0)
		archived = oldest = 0;
	backlog_files += segments;
	archived += segment_bytes;
	if (segment_oldest != 0 && (oldest == 0 || segment_oldest < oldest))
		oldest = segment_oldest;
	rotated_mark = journal->rotated_bytes;
	moved_mark = journal->archives_moved;
	if (unrotated_since != 0 && (oldest == 0 || unrotated_since < oldest))
		oldest = unrotated_since;
	lag = oldest == 0 ? 0 : Max(0, (double) (time(NULL) - oldest));
	backlog = backlog_now();
	disk_known = statvfs(journal->dir, &vfs) == 0;
	if (disk_known)
		free_bytes = (uint64) vfs.f_bavail * vfs.f_frsize;
	if (measured && now > last_ms && backlog < last_backlog)
	{
		double		rate = (double) (last_backlog - backlog) * 1000.0 /
			(double) (now - last_ms);

		drain_rate = drain_rate == 0 ? rate : 0.7 * drain_rate + 0.3 * rate;
	}
	last_backlog = backlog;
	last_ms = now;
	measured = true;
}

/*
 * pressure_standby, on a hot standby, in place of pressure_update: no
 * journal, no backlog, no disk to watch; only whether the extension's
 * tables are there (schema_ready).
 */
void
pressure_standby(bool schema_ready)
{
	failing = false;
	locked = false;
	schema = schema_ready;
	live = NULL;
	archived = backlog = 0;
	backlog_files = 0;
	disk_known = false;
	lag = 0;
	measured = true;
}

/* pressure_backlog: what the last measurement found */
void
pressure_backlog(uint64 *bytes, int *files, double *lag_seconds)
{
	*bytes = backlog;
	*files = backlog_files;
	*lag_seconds = lag;
}

/* pressure_timeout_ms: how long the loop may sleep as far as we go. */
long
pressure_timeout_ms(void)
{
	int64		now = monotonic_ms();

	return next_ms <= now ? 0 : (long) (next_ms - now);
}

static bool
over_backlog(void)
{
	return evproc_max_backlog > 0 &&
		backlog_now() > (uint64) evproc_max_backlog * 1024;
}

/*
 * pressure_rotation_helps: is the backlog over evproc.max_backlog with
 * events in the live journal?  Called while ingest is idle (nothing
 * archived waits for it), the live journal is then what keeps POSTs
 * refused: rotated, ingest takes it, and the backlog drains by itself
 * rather than at the next evproc.rotation_interval.
 */
bool
pressure_rotation_helps(void)
{
	return measured && live != NULL && live->durable_len > 0 && over_backlog();
}

static bool
under_free_space(void)
{
	return disk_known && evproc_min_free_space > 0 &&
		free_bytes < (uint64) evproc_min_free_space * 1024;
}

/*
 * pressure_refusal: why POSTs are refused now (NULL: they are not), with
 * *retry_after the seconds after which to try again: the time ingest needs
 * to bring the backlog under the limit at its recent rate.
 */
const char *
pressure_refusal(int *retry_after)
{
	double		seconds = 5;

	if (!measured)
		return NULL;
	if (over_backlog())
	{
		if (drain_rate > 0)
			seconds = (double) (backlog_now() -
								(uint64) evproc_max_backlog * 1024) /
				drain_rate;
		*retry_after = (int) Min(Max(seconds + 0.999, RETRY_MIN), RETRY_MAX);
		return "ingest is behind: the events not yet counted exceed evproc.max_backlog; retry later";
	}
	if (under_free_space())
	{
		*retry_after = 10;
		return "the journal's disk has less free space than evproc.min_free_space; retry later";
	}
	return NULL;
}

/*
 * pressure_ready_json writes GET /ready's body: each check and whether it
 * passes, and *ready if all do.
 */
size_t
pressure_ready_json(char *out, size_t outlen, bool *ready)
{
	bool		backlog_ok = !over_backlog();
	bool		disk_ok = !under_free_space();
	int			n;

	*ready = measured && backlog_ok && disk_ok && !failing && schema && !locked;
	n = snprintf(out, outlen,
				 "{\"status\": \"%s\", \"role\": \"%s\", \"checks\": {"
				 "\"journal\": \"%s\", \"disk\": \"%s\", \"database\": \"%s\", \"backlog\": \"%s\"}, "
				 "\"backlog_bytes\": " UINT64_FORMAT ", \"backlog_files\": %d, \"free_bytes\": " UINT64_FORMAT "}",
				 *ready ? "ready" : "not ready", role_name(),
				 role_standby() ? "none: a standby journals nothing" :
				 failing ? "failing: the journal cannot be written" : "ok",
				 disk_ok ? "ok" : "failing: less free space than evproc.min_free_space",
				 !schema ? "failing: the extension's tables are missing or older than the library" :
				 locked ? "failing: a table of evproc is locked by another session; ingest waits" : "ok",
				 backlog_ok ? "ok" : "failing: more than evproc.max_backlog not yet counted",
				 backlog_now(), backlog_files, free_bytes);
	return n < 0 ? 0 : Min((size_t) n, outlen - 1);
}
