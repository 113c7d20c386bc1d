/*-------------------------------------------------------------------------
 *
 * journal_copies.c
 *	  Setting aside the journal files a base backup copied: the live journal
 *	  and the archived files found in a journal directory that this server
 *	  never wrote, moved into a directory of their own, never deleted.
 *
 * pg_basebackup copies the journal directory with the rest of PGDATA.  On
 * a standby those files are the primary's: it counted, or will count, the
 * events they hold, and the counts reach the standby by replication.  Were
 * a promoted standby to ingest them, they would be counted twice; so the
 * worker moves them into from-backup-<stamp>/ (journal_set_aside_copies)
 * before it may open the directory as its journal.  processed/ and failed/
 * stay as they are: ingest never reads them.
 *
 * Backend-free (libc only).  Functions return -1 with errno set on failure.
 *
 *-------------------------------------------------------------------------
 */
#include "journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/journal_fs.h"

#ifdef POSTGRES_H
#error "journal_copies.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* The journal files of a directory, as journal_list gives them. */
typedef struct Names
{
	char	  **v;
	int			n;
	int			cap;
	bool		failed;			/* out of memory */
} Names;

/* collect_name keeps one name journal_list gives (a JournalListFn) */
static void
collect_name(void *arg, const char *name, JournalFileKind kind,
			 uint64_t size, time_t mtime)
{
	Names	   *names = arg;

	(void) kind;
	(void) size;
	(void) mtime;
	if (names->failed)
		return;
	if (names->n == names->cap)
	{
		int			cap = names->cap ? names->cap * 2 : 8;
		char	  **more = realloc(names->v, cap * sizeof(char *));

		if (more == NULL)
		{
			names->failed = true;
			return;
		}
		names->v = more;
		names->cap = cap;
	}
	if ((names->v[names->n] = strdup(name)) == NULL)
	{
		names->failed = true;
		return;
	}
	names->n++;
}

static void
free_names(Names *names)
{
	for (int i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
}

/*
 * journal_set_aside_copies moves the journal files of dir (events.jsonl
 * and events-*.jsonl; not its subdirectories) into the subdirectory
 * JOURNAL_FROM_BACKUP<stamp of now>, created if needed, under the same
 * names (never replacing a file: see jfs_rename_noreplace_at).  aside
 * (JOURNAL_NAME_MAX bytes) gets that subdirectory's name and *moved the
 * number of files moved; a directory that does not exist, or holds no
 * journal file, is left as it is (*moved 0, no subdirectory made).  With
 * sync the moves survive a crash.
 */
int
journal_set_aside_copies(const char *dir, time_t now, bool sync,
						 char *aside, int *moved)
{
	Names		names = {NULL, 0, 0, false};
	int			dfd;
	int			asidefd = -1;
	char		stamp[JOURNAL_STAMP_LEN + 1];
	char		path[PATH_MAX];
	struct tm	tm;
	int			rc = -1;
	int			save;

	*moved = 0;
	aside[0] = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -1;
	/* all listed before anything moves: a directory read meanwhile may skip */
	if (journal_list(dir, false, collect_name, &names) != 0)
		goto done;
	if (names.failed)
	{
		errno = ENOMEM;
		goto done;
	}
	if (names.n == 0)
	{
		rc = 0;
		goto done;
	}

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(aside, JOURNAL_NAME_MAX, "%s%s", JOURNAL_FROM_BACKUP, stamp);
	snprintf(path, sizeof(path), "%s/%s", dir, aside);
	if (jfs_ensure_dir(path, sync) != 0)
		goto done;
	asidefd = openat(dfd, aside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (asidefd < 0)
		goto done;
	for (int i = 0; i < names.n; i++)
	{
		if (jfs_rename_noreplace_at(dfd, names.v[i], asidefd, names.v[i],
									false, false, NULL) == 0)
			(*moved)++;
		else if (errno != ENOENT)	/* gone meanwhile: nothing to move */
			goto done;
	}
	if (sync && (fsync(asidefd) != 0 || fsync(dfd) != 0))
		goto done;
	rc = 0;

done:
	save = errno;
	if (asidefd >= 0)
		close(asidefd);
	close(dfd);
	free_names(&names);
	errno = save;
	return rc;
}
