/*-------------------------------------------------------------------------
 *
 * ingest_moves.c
 *	  Where an archived entry of the journal directory goes once ingest is
 *	  done with it: processed/ once counted, failed/ if it can never be
 *	  counted as it is, and if it cannot be moved there, nowhere for now:
 *	  it is skipped (journal_skip), so that no entry holds back the others,
 *	  and tried again a minute later.  Files in processed/ older than
 *	  evproc.processed_retention are removed.  Also what is logged of a
 *	  counted file, what becomes of a file whose name was recorded, and
 *	  the look for the next archived file.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/fold.h"
#include "ingest/ingest.h"
#include "ingest/ingest_moves.h"
#include "shared/settings.h"

#include <time.h>

/* an entry that could not be moved is tried again this often (seconds) */
#define INGEST_SKIP_RETRY_S		60

/*
 * printable_name is a file name fit for the log and the database: itself
 * if it is valid UTF-8, else escaped (see fold_printable).
 */
static char *
printable_name(const char *name)
{
	return fold_printable(name, strlen(name));
}

/*
 * ingest_log_counted logs what a counted file (or segment) counted: at
 * DEBUG1, and at LOG when it had rejected lines.
 */
void
ingest_log_counted(const char *name, const FoldCounts *counts)
{
	ereport(DEBUG1,
			(errmsg("evproc: ingested \"%s\": " INT64_FORMAT " events, %d metric rows, " INT64_FORMAT " rejected lines, " INT64_FORMAT " duplicates",
					name, counts->events, counts->rows,
					counts->rejected, counts->duplicates)));
	if (counts->rejected > evproc_max_rejected_lines)
		ereport(LOG,
				(errmsg("evproc: file \"%s\" had " INT64_FORMAT " rejected lines; the first %d are in evproc.rejected_lines",
						name, counts->rejected, evproc_max_rejected_lines)));
	else if (counts->rejected > 0)
		ereport(LOG,
				(errmsg("evproc: file \"%s\" had " INT64_FORMAT " rejected lines; see evproc.rejected_lines",
						name, counts->rejected)));
}

/*
 * ingest_recorded: a file whose name was recorded before is not applied:
 * it is moved if it is the same file (recorded: RECORDED_SAME or _LEGACY),
 * or renamed to be counted under a name of its own (RECORDED_OTHER).
 */
void
ingest_recorded(Journal *journal, const char *name, Recorded recorded,
				int64 size)
{
	char		new_name[JOURNAL_NAME_MAX];

	switch (recorded)
	{
		case RECORDED_SAME:
		case RECORDED_LEGACY:
			ereport(LOG,
					(errmsg("evproc: file \"%s\" was already ingested%s; moving it to %s/",
							name,
							recorded == RECORDED_LEGACY ?
							" (recorded without a fingerprint)" : "",
							JOURNAL_PROCESSED)));
			ingest_move_done(journal, name);
			break;
		case RECORDED_OTHER:
			if (journal_rename_archive(journal, name, new_name,
									   time(NULL)) != 0)
			{
				ingest_skip(journal, name,
							"its name was used by another file; could not rename it");
				break;
			}
			ereport(WARNING,
					(errmsg("evproc: file \"%s\" has the name of a file ingested before, but other contents; it is counted as \"%s\"",
							name, new_name),
					 errdetail("Size " INT64_FORMAT " bytes.  A file name is never counted twice, and a file is never skipped for its name alone.",
							   size)));
			break;
		case RECORDED_NOT:
		case RECORDED_NEEDS_SHA256: /* answered before it comes here */
			break;
	}
}

/*
 * ingest_skip has ingest pass over the entry name, which could not be
 * moved or renamed (errno says why; what says what failed), and go on
 * with the others: no entry may hold back the rest of the directory.  It
 * is tried again every INGEST_SKIP_RETRY_S seconds, shown in
 * evproc.journal_files meanwhile, and logged once (until it moves or is
 * changed).  An entry that is gone is simply forgotten.
 */
void
ingest_skip(Journal *journal, const char *name, const char *what)
{
	int			save = errno;
	char		why[160];
	int			rc;

	snprintf(why, sizeof(why), "%s: %s", what, strerror(save));
	rc = journal_skip(journal, name, why, time(NULL) + INGEST_SKIP_RETRY_S);
	if (rc < 0 && errno == ENOENT)
		return;
	errno = save;
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("evproc: could not skip \"%s\": %s",
						printable_name(name), why)));
	if (rc > 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("evproc: \"%s\" in \"%s\" is skipped: %s",
						printable_name(name), journal->dir, why),
				 errdetail("The other files are ingested meanwhile; it is tried again every %d seconds.",
						   INGEST_SKIP_RETRY_S),
				 errhint("Give the server's user the permission to move it, or move it away.")));
}

/*
 * ingest_move_done moves the file name, counted, to processed/, durably
 * and never over another file; with evproc.processed_retention = 0 it is
 * removed there.  If it cannot be moved it is skipped (see ingest_skip).
 */
void
ingest_move_done(Journal *journal, const char *name)
{
	char		final_name[JOURNAL_NAME_MAX];

	if (journal_archive_done(journal, name, final_name) != 0)
	{
		ingest_skip(journal, name,
					"it was counted; could not move it to " JOURNAL_PROCESSED "/");
		return;
	}
	if (strcmp(final_name, name) != 0)
		ereport(LOG,
				(errmsg("evproc: %s/%s exists already; file \"%s\" is kept there as \"%s\"",
						JOURNAL_PROCESSED, name, name, final_name)));
	if (evproc_processed_retention == 0)
		(void) journal_prune_processed(journal, time(NULL), 0,
									   INGEST_PRUNE_BATCH);
}

/*
 * ingest_set_aside moves the entry name, which cannot be ingested as it is
 * (why), into failed/ and says so, loudly: it may hold acknowledged
 * events.  If it cannot be moved it is skipped (see ingest_skip).
 */
void
ingest_set_aside(Journal *journal, const char *name, const char *why)
{
	char		final_name[JOURNAL_NAME_MAX];

	if (journal_set_aside(journal, name, final_name) != 0)
	{
		char		what[128];

		snprintf(what, sizeof(what),
				 "it cannot be ingested (%s); could not move it to %s/",
				 why, JOURNAL_FAILED);
		ingest_skip(journal, name, what);
		return;
	}
	ereport(WARNING,
			(errmsg("evproc: file \"%s\" in \"%s\" cannot be ingested: %s",
					printable_name(name), journal->dir, why),
			 errdetail("It was moved to %s/%s.", JOURNAL_FAILED,
					   printable_name(final_name)),
			 errhint("Fix it and move it back into \"%s\" under a name of the form events-*.jsonl to have it ingested.",
					 journal->dir)));
}

/*
 * ingest_prune_processed removes from processed/ the files older than
 * evproc.processed_retention (-1 keeps them), a bounded number per call.
 */
void
ingest_prune_processed(Journal *journal)
{
	int			n;

	if (evproc_processed_retention < 0)
		return;
	n = journal_prune_processed(journal, time(NULL),
								evproc_processed_retention, INGEST_PRUNE_BATCH);
	if (n < 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not prune \"%s/%s\": %m",
						journal->dir, JOURNAL_PROCESSED)));
	else if (n > 0)
		ereport(DEBUG1,
				(errmsg("evproc: removed %d files older than evproc.processed_retention from \"%s/%s\"",
						n, journal->dir, JOURNAL_PROCESSED)));
}

/*
 * ingest_next_archive puts the name of the next archived file to ingest
 * into name; false if there is none.  A journal directory removed behind
 * the worker's back is made again, with a WARNING: ingest must not stop on
 * it (with the journal in the database no journal write comes to make it
 * again, and the segments would wait behind the failing scan).
 */
bool
ingest_next_archive(Journal *journal, char *name)
{
	int			rc = journal_next_archive(journal, time(NULL), name);

	if (rc < 0 && errno == ENOENT && journal_remake_dir(journal) == 0)
	{
		ereport(WARNING,
				(errmsg("evproc: the journal directory \"%s\" was removed by someone else; it is made again",
						journal->dir),
				 errdetail("Files dropped into it and not yet ingested are gone with it.")));
		rc = journal_next_archive(journal, time(NULL), name);
	}
	if (rc < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read directory \"%s\": %m", journal->dir)));
	return rc > 0;
}
