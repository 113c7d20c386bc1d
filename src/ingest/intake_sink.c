/*-------------------------------------------------------------------------
 *
 * intake_sink.c
 *	  Where a group commit makes its batch durable, one row of
 *	  intake_sinks[] per evproc.journal_storage: the journal file (one
 *	  write, and one fdatasync, started asynchronously when it can be), or
 *	  the journal tables in the database (one transaction, segments.c).
 *
 * The rest of the group commit (waiters, eventIds, answers, replication)
 * is intake.c's and the same for both; intake.c owns the journal and
 * passes it in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/intake_sink.h"
#include "ingest/segments.h"
#include "shared/db.h"
#include "shared/settings.h"
#include "shared/syncrep.h"

#include <time.h>

/* a failing journal is probed with this many bytes (journal_probe) */
#define PROBE_BYTES				8192

/* warn_replaced: a flush found the journal removed or replaced */
static void
warn_replaced(const Journal *j)
{
	ereport(WARNING,
			(errmsg("evproc: the journal \"%s/%s\" was removed or replaced by someone else",
					j->dir, JOURNAL_FILE),
			 errdetail("Events acknowledged into the removed file are lost unless it is recovered; new events go to a new journal.")));
}

/*
 * intake_sink_failed reports that the journal file could not be written
 * or synced (errno): at the flush, or when its sync ended.
 */
void
intake_sink_failed(const Journal *j)
{
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("evproc: could not write the journal in \"%s\": %m",
					j->dir),
			 errdetail("Events are refused with 503 until writing succeeds again.")));
}

/*
 * The journal file: one write of the batch and its fdatasync, started with
 * s (journal_flush_begin), the files' rotation and probe.
 */
static int
file_flush(Journal *j, JournalSyncer *s, bool quiet, XLogRecPtr *lsn)
{
	uint64		replaced = j->replaced;
	int			rc = journal_flush_begin(j, s);
	int			save_errno = errno;

	if (j->replaced != replaced)
		warn_replaced(j);
	errno = save_errno;
	if (rc < 0 && !quiet)
		intake_sink_failed(j);
	return rc;
}

static bool
file_probe(Journal *j)
{
	uint64		replaced = j->replaced;
	bool		ok = journal_probe(j, PROBE_BYTES) == 0;

	if (j->replaced != replaced)
		warn_replaced(j);
	return ok;
}

static bool
file_rotate(Journal *j, char *name)
{
	int			rc;

	name[0] = '\0';
	rc = journal_rotate(j, time(NULL), name);
	if (rc < 0)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not rotate the journal in \"%s\": %m",
						j->dir)));
		name[0] = '\0';
		return false;
	}
	if (rc > 0)
		evproc_fault("rotate-after-rename");
	return true;
}

static bool
file_is_empty(const Journal *j)
{
	return journal_is_empty(j);
}

/* never busy: a file can be written and rotated at any time */
static bool
never_busy(void)
{
	return false;
}

/*
 * The journal in the database (segments.c): the batch is one transaction's
 * row; it cannot be written, nor a segment sealed, while ingest's
 * transaction is open (a backend has one at a time).  The Journal keeps
 * the naming, the batch and the sizes (durable_len: bytes committed to the
 * current segment).
 */
static bool
db_busy(void)
{
	return db_in_work();
}

static bool
db_probe(Journal *j)
{
	return !db_in_work() && segments_probe();
}

/*
 * flush_to_database group-commits the batch in the database: committed,
 * with *lsn the end of its commit, or -1.  Either way the batch is gone
 * (as journal_flush does).  Never asynchronous: s is not used.
 */
static int
flush_to_database(Journal *j, JournalSyncer *s, bool quiet, XLogRecPtr *lsn)
{
	char		err[256];
	bool		durable = segments_append(j->buf, j->len, err, sizeof(err));

	if (durable)
	{
		j->durable_len += (off_t) j->len;
		*lsn = syncrep_commit_lsn();
	}
	else if (!quiet)
		ereport(LOG,
				(errmsg("evproc: could not write the journal in the database: %s",
						err),
				 errdetail("Events are refused with 503 until writing succeeds again.")));
	j->len = 0;
	return durable ? JOURNAL_DURABLE : -1;
}

/*
 * rotate_segment seals the current segment of the journal in the database
 * (rotation there): the next group commit starts a new one.
 */
static bool
rotate_segment(Journal *j, char *name)
{
	uint64		len = (uint64) j->durable_len;

	name[0] = '\0';
	if (!segments_seal(name))
		return false;
	if (name[0] != '\0')
	{
		j->rotated_bytes += len;
		j->durable_len = 0;
	}
	return true;
}

static bool
db_is_empty(const Journal *j)
{
	return j->durable_len == 0;
}

const IntakeSink intake_sinks[2] = {
	{file_flush, file_probe, file_rotate, file_is_empty, never_busy},
	{flush_to_database, db_probe, rotate_segment, db_is_empty, db_busy},
};
