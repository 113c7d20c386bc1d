/*-------------------------------------------------------------------------
 *
 * journal_fs.c
 *	  Durable file-system steps shared by the journal files: making a
 *	  directory that survives a crash, opening a subdirectory for reading,
 *	  fsyncing a directory, and moving a file without ever replacing one.
 *
 * Backend-free (libc only).  Functions return -1 with errno set on failure.
 *
 *-------------------------------------------------------------------------
 */
/* renameat2 and RENAME_NOREPLACE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "journal/journal_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/journal.h"

#ifdef POSTGRES_H
#error "journal_fs.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/*
 * jfs_ensure_dir is mkdir that accepts an existing directory.  With sync, a
 * directory it creates is made durable in its parent, as PostgreSQL's
 * fsync_parent_path does: events acknowledged into it must not vanish
 * with it in a crash.
 */
int
jfs_ensure_dir(const char *path, bool sync)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
	{
		char		parent[PATH_MAX];
		char	   *slash;

		if (!sync)
			return 0;
		snprintf(parent, sizeof(parent), "%s", path);
		while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0' &&
			   slash != parent)
			*slash = '\0';		/* trailing slashes */
		slash = strrchr(parent, '/');
		if (slash == NULL)
			strcpy(parent, ".");
		else if (slash == parent)
			parent[1] = '\0';	/* the root */
		else
			*slash = '\0';
		return jfs_fsync_dir_path(parent);
	}
	if (errno != EEXIST || stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
	{
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* jfs_opendir_at opens the directory name of dirfd for reading. */
DIR *
jfs_opendir_at(int dirfd, const char *name)
{
	int			fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR		   *d;
	int			save;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL)
	{
		save = errno;
		close(fd);
		errno = save;
	}
	return d;
}

/*
 * fsync_and_close fsyncs an open file or directory and closes it, keeping
 * the errno of a failure; fd may be -1 from a failed open.
 */
static int
fsync_and_close(int fd)
{
	int			rc;
	int			save;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	save = errno;
	close(fd);
	errno = save;
	return rc;
}

/*
 * fsync_file_at fsyncs the file name in directory dirfd; never blocking in
 * the open, should a FIFO have been put there.
 */
static int
fsync_file_at(int dirfd, const char *name)
{
	return fsync_and_close(openat(dirfd, name,
								  O_RDONLY | O_NONBLOCK | O_NOFOLLOW |
								  O_NOCTTY | O_CLOEXEC));
}

/* jfs_fsync_dir_path fsyncs a directory given by path. */
int
jfs_fsync_dir_path(const char *path)
{
	return fsync_and_close(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

/*
 * numbered_name makes the k-th alternative of a name that is taken:
 * events-x.jsonl becomes events-x.<k>.jsonl (still an archive name, so
 * a file set aside can simply be moved back).
 */
static void
numbered_name(const char *name, int k, char *out)
{
	size_t		len = strlen(name);
	size_t		slen = strlen(JOURNAL_ARCHIVE_SUFFIX);

	if (len > slen && strcmp(name + len - slen, JOURNAL_ARCHIVE_SUFFIX) == 0)
		snprintf(out, JOURNAL_NAME_MAX, "%.*s.%d%s",
				 (int) (len - slen), name, k, JOURNAL_ARCHIVE_SUFFIX);
	else
		snprintf(out, JOURNAL_NAME_MAX, "%s.%d", name, k);
}

/*
 * jfs_rename_noreplace_at moves a file between directories without ever
 * replacing one: if "to" is taken, the first free numbered alternative is
 * used, and final_name (JOURNAL_NAME_MAX bytes) gets the name it took.
 * With sync_file the file is fsynced before the rename, and with sync_dirs
 * both directories after it, so that the result survives a crash (as
 * PostgreSQL's durable_rename does).
 */
int
jfs_rename_noreplace_at(int fromdirfd, const char *from, int todirfd,
						const char *to, bool sync_file, bool sync_dirs,
						char *final_name)
{
	char		target[JOURNAL_NAME_MAX];

	if (sync_file && fsync_file_at(fromdirfd, from) != 0)
		return -1;
	snprintf(target, sizeof(target), "%s", to);
	for (int k = 1;; k++)
	{
		if (renameat2(fromdirfd, from, todirfd, target, RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || k > 1000)
			return -1;
		numbered_name(to, k, target);
	}
	if (final_name != NULL)
		strcpy(final_name, target);
	if (sync_dirs && fsync(todirfd) != 0)
		return -1;
	if (sync_dirs && fromdirfd != todirfd && fsync(fromdirfd) != 0)
		return -1;
	return 0;
}

