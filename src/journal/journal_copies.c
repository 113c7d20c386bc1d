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

#include <dirent.h>
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

/* is_journal_file: the live journal or an archived file, by its name */
static bool
is_journal_file(const char *name)
{
	return strcmp(name, JOURNAL_FILE) == 0 || journal_is_archive_name(name);
}

/*
 * collect_names lists the journal files of the open directory d (malloc'd
 * array of malloc'd names in *names, their number in *n), before anything
 * is moved: a directory read while entries leave it may skip some.
 */
static int
collect_names(DIR *d, char ***names, int *n)
{
	struct dirent *de;
	int			cap = 0;

	*names = NULL;
	*n = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL)
	{
		if (!is_journal_file(de->d_name))
			continue;
		if (*n == cap)
		{
			char	  **more;

			cap = cap ? cap * 2 : 8;
			more = realloc(*names, cap * sizeof(char *));
			if (more == NULL)
				return -1;
			*names = more;
		}
		if (((*names)[*n] = strdup(de->d_name)) == NULL)
			return -1;
		(*n)++;
		errno = 0;
	}
	return errno == 0 ? 0 : -1;
}

static void
free_names(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
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
	DIR		   *d;
	char	  **names = NULL;
	int			n = 0;
	int			dfd;
	int			asidefd = -1;
	char		stamp[JOURNAL_STAMP_LEN + 1];
	char		path[PATH_MAX];
	struct tm	tm;
	int			rc = -1;
	int			save;

	*moved = 0;
	aside[0] = '\0';
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	dfd = dirfd(d);
	if (collect_names(d, &names, &n) != 0)
		goto done;
	if (n == 0)
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
	for (int i = 0; i < n; i++)
	{
		if (jfs_rename_noreplace_at(dfd, names[i], asidefd, names[i],
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
	closedir(d);
	free_names(names, n);
	errno = save;
	return rc;
}
