/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  The event journal on disk: group-committed appends, rotation with
 *	  names that never repeat, the archive queue, durable moves, and a
 *	  streaming line reader.
 *
 * Backend-free (libc only); see journal.h for the directory layout.
 *
 * The invariant that makes acknowledgements safe: durable_len is the length
 * of events.jsonl that holds only whole, acknowledged lines.  A batch that
 * fails to be written (or synced) is cut off again with ftruncate before
 * anything else is appended, so an event answered with 503 never stays in
 * the journal to be counted later.  A journal left over from a previous run
 * may end in a torn line; it is rotated before anything is appended (see
 * journal_rotate), so the fragment cannot swallow the next event.
 *
 *-------------------------------------------------------------------------
 */
/* renameat2 and RENAME_NOREPLACE */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef POSTGRES_H
#error "journal.c is backend-free: it must not include PostgreSQL backend headers"
#endif

#define ARCHIVE_PREFIX		"events-"
#define ARCHIVE_SUFFIX		".jsonl"
#define SEQ_DIGITS			10	/* at least; more once the sequence needs them */
#define SEQ_DIGITS_MAX		20	/* 2^64 - 1 has 20 digits */
#define SEQ_NOTE_MAX		1000000000000000000ULL	/* larger ones: ignored */
#define PRUNE_BATCH			1000	/* names read per prune */

static int	scan_names(Journal *j, const char *sub);
static int	rename_noreplace_at(int fromdirfd, const char *from, int todirfd,
								const char *to, bool sync_file, bool sync_dirs,
								char *final_name);
static int	fsync_file_at(int dirfd, const char *name);
static int	fsync_dir_path(const char *path);

/*
 * ensure_dir is mkdir that accepts an existing directory.  With sync, a
 * directory it creates is made durable in its parent, as PostgreSQL's
 * fsync_parent_path does: events acknowledged into it must not vanish
 * with it in a crash.
 */
static int
ensure_dir(const char *path, bool sync)
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
		return fsync_dir_path(parent);
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

/*
 * open_dirs makes the journal directory and its processed/ if missing
 * (durably with sync) and opens the directory.  Returns its fd, or -1.
 */
static int
open_dirs(const char *dir, bool sync)
{
	char		path[PATH_MAX];

	if (ensure_dir(dir, sync) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, JOURNAL_PROCESSED);
	if (ensure_dir(path, sync) != 0)
		return -1;
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * journal_open prepares the journal directory (creating it and processed/
 * if needed) and learns the names already used there, so that
 * journal_make_name never repeats one.  events.jsonl is opened lazily.
 */
int
journal_open(Journal *j, const char *dir, bool fsync)
{
	return journal_open_tagged(j, dir, fsync, "");
}

/*
 * journal_open_tagged is journal_open for one of several workers: its
 * archive names carry the tag (events-<stamp>-<seq><tag>.jsonl), so that
 * names from different workers never collide.
 */
int
journal_open_tagged(Journal *j, const char *dir, bool fsync, const char *tag)
{
	memset(j, 0, sizeof(Journal));
	j->fd = -1;
	j->dirfd = -1;
	j->fsync = fsync;
	if (strlen(tag) >= sizeof(j->tag))
	{
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(j->tag, tag);

	j->dir = strdup(dir);
	if (j->dir == NULL)
		return -1;
	j->dirfd = open_dirs(dir, fsync);
	if (j->dirfd < 0)
		goto fail;
	if (scan_names(j, ".") != 0 || scan_names(j, JOURNAL_PROCESSED) != 0)
		goto fail;
	return 0;

fail:
	{
		int			save = errno;

		journal_close(j);
		errno = save;
		return -1;
	}
}

/* journal_close releases the journal; the caller has flushed it. */
void
journal_close(Journal *j)
{
	if (j->fd >= 0)
	{
		if (j->fsync)
			(void) fdatasync(j->fd);
		close(j->fd);
	}
	if (j->dirfd >= 0)
		close(j->dirfd);
	free(j->buf);
	free(j->dir);
	memset(j, 0, sizeof(Journal));
	j->fd = -1;
	j->dirfd = -1;
}

/* journal_append adds a line to the batch; nothing is written yet. */
int
journal_append(Journal *j, const char *line, size_t len)
{
	if (j->len + len > j->cap)
	{
		size_t		newcap = j->cap ? j->cap : 64 * 1024;
		char	   *newbuf;

		while (newcap < j->len + len)
			newcap *= 2;
		newbuf = realloc(j->buf, newcap);
		if (newbuf == NULL)
			return -1;
		j->buf = newbuf;
		j->cap = newcap;
	}
	memcpy(j->buf + j->len, line, len);
	j->len += len;
	return 0;
}

static int
open_journal_file(Journal *j)
{
	struct stat st;
	bool		created;

	j->fd = openat(j->dirfd, JOURNAL_FILE, O_WRONLY | O_APPEND | O_CLOEXEC);
	created = (j->fd < 0 && errno == ENOENT);
	if (created)
		j->fd = openat(j->dirfd, JOURNAL_FILE,
					   O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (j->fd < 0)
		return -1;
	if (fstat(j->fd, &st) != 0)
		goto fail;
	j->durable_len = st.st_size;

	/* the new directory entry must be durable before we acknowledge */
	if (created && j->fsync && fsync(j->dirfd) != 0)
		goto fail;
	return 0;

fail:
	{
		int			save = errno;

		close(j->fd);
		j->fd = -1;
		errno = save;
		return -1;
	}
}

/*
 * journal_still_there checks that events.jsonl in the directory is still
 * the file we have open: if someone removed or replaced it (or the whole
 * directory), writes to our descriptor would vanish with it.
 */
static bool
journal_still_there(Journal *j)
{
	char		path[PATH_MAX];
	struct stat by_path;
	struct stat by_fd;

	snprintf(path, sizeof(path), "%s/%s", j->dir, JOURNAL_FILE);
	return stat(path, &by_path) == 0 && fstat(j->fd, &by_fd) == 0 &&
		by_path.st_ino == by_fd.st_ino && by_path.st_dev == by_fd.st_dev;
}

/*
 * dir_still_there checks that the journal directory is still the one we
 * have open (dirfd): if it was removed, files cannot be created through
 * dirfd any more.
 */
static bool
dir_still_there(Journal *j)
{
	struct stat by_path;
	struct stat by_fd;

	return stat(j->dir, &by_path) == 0 && fstat(j->dirfd, &by_fd) == 0 &&
		by_path.st_ino == by_fd.st_ino && by_path.st_dev == by_fd.st_dev;
}

/* reopen_dir makes the directory (and processed/) again and reopens it. */
static int
reopen_dir(Journal *j)
{
	int			fd = open_dirs(j->dir, j->fsync);

	if (fd < 0)
		return -1;
	close(j->dirfd);
	j->dirfd = fd;
	return 0;
}

/*
 * cut_to_durable cuts events.jsonl back to the length known durable,
 * dropping a tail that a failed flush left, and makes the cut durable too
 * (with fsync on): a tail answered with an error must never come back.
 */
static int
cut_to_durable(Journal *j)
{
	struct stat st;

	if (fstat(j->fd, &st) != 0)
		return -1;
	if (st.st_size == j->durable_len)
		return 0;
	if (ftruncate(j->fd, j->durable_len) != 0)
		return -1;
	return j->fsync ? fdatasync(j->fd) : 0;
}

/*
 * journal_flush writes the batch with one write and, if fsync is on, makes
 * it durable with one fdatasync: this is the group commit.  On success every
 * event in the batch may be acknowledged.  On failure (errno set) none may:
 * the file is cut back to its last good length, and the batch is discarded
 * either way.
 */
int
journal_flush(Journal *j)
{
	size_t		done = 0;
	int			save;

	if (j->fd >= 0 ? !journal_still_there(j) : !dir_still_there(j))
	{
		/*
		 * Removed or replaced behind our back: start again where it was.
		 * With no journal open (just rotated, or not written yet) only the
		 * directory can have gone, and the journal must not be created
		 * through the stale dirfd.
		 */
		if (j->fd >= 0)
			close(j->fd);
		j->fd = -1;
		j->replaced++;
		if (reopen_dir(j) != 0)
			goto fail_nowrite;
	}
	if (j->fd < 0 && open_journal_file(j) != 0)
		goto fail_nowrite;

	/* a previous failure may have left a tail that could not be cut off */
	if (cut_to_durable(j) != 0)
		goto fail_nowrite;

	while (done < j->len)
	{
		ssize_t		n = write(j->fd, j->buf + done, j->len - done);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
		{
			errno = EIO;
			goto fail;
		}
		done += (size_t) n;
	}
	if (j->inject_errno != 0)
	{
		/* as if the disk filled up or failed after the write */
		errno = j->inject_errno;
		goto fail;
	}
	if (j->fsync && fdatasync(j->fd) != 0)
		goto fail;

	j->durable_len += (off_t) j->len;
	j->len = 0;
	return 0;

fail:
	save = errno;
	(void) cut_to_durable(j);
	errno = save;
fail_nowrite:
	j->len = 0;
	return -1;
}

/* journal_is_empty: nothing acknowledged since the last rotation? */
bool
journal_is_empty(const Journal *j)
{
	return j->fd < 0 || j->durable_len == 0;
}

/* format_stamp writes the UTC stamp used in archive names. */
static void
format_stamp(time_t now, char *out)
{
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(out, JOURNAL_STAMP_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

/*
 * journal_make_name makes the next archive name:
 * events-<UTC stamp>-<sequence>.jsonl.  The stamp never goes backwards
 * (if the clock steps back we keep the last one) and the sequence always
 * grows, so names sort in creation order and never repeat.
 */
void
journal_make_name(Journal *j, time_t now, char *name)
{
	char		stamp[JOURNAL_STAMP_LEN + 1];

	format_stamp(now, stamp);
	if (strcmp(stamp, j->last_stamp) > 0)
		memcpy(j->last_stamp, stamp, sizeof(stamp));
	j->last_seq++;
	snprintf(name, JOURNAL_NAME_MAX, ARCHIVE_PREFIX "%s-%0*llu%s" ARCHIVE_SUFFIX,
			 j->last_stamp, SEQ_DIGITS, (unsigned long long) j->last_seq,
			 j->tag);
}

/*
 * parse_name recognises the names journal_make_name makes, by any worker
 * and any run: events-<stamp>-<seq>[-<hex>][.w<N>].jsonl, where <seq> has
 * 1 to SEQ_DIGITS_MAX digits (it outgrows SEQ_DIGITS).  Returns false for
 * other shapes (files dropped by users).
 */
static bool
parse_name(const char *name, const char **stamp, unsigned long long *seqno)
{
	size_t		plen = strlen(ARCHIVE_PREFIX);
	const char *p;
	int			digits = 0;
	unsigned long long n = 0;

	if (strncmp(name, ARCHIVE_PREFIX, plen) != 0)
		return false;
	p = name + plen;
	for (int i = 0; i < JOURNAL_STAMP_LEN; i++)
	{
		bool		ok = (i == 8) ? p[i] == 'T' :
			(i == 15) ? p[i] == 'Z' : (p[i] >= '0' && p[i] <= '9');

		if (!ok)
			return false;
	}
	*stamp = p;
	p += JOURNAL_STAMP_LEN;
	if (*p++ != '-')
		return false;
	for (; *p >= '0' && *p <= '9'; p++)
	{
		if (++digits > SEQ_DIGITS_MAX ||
			__builtin_mul_overflow(n, 10, &n) ||
			__builtin_add_overflow(n, (unsigned long long) (*p - '0'), &n))
			return false;
	}
	if (digits == 0)
		return false;
	/* the random part of the worker's tag */
	if (*p == '-')
	{
		int			hex = 0;

		for (p++; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
			hex++;
		if (hex == 0)
			return false;
	}
	/* the worker number */
	if (strncmp(p, ".w", 2) == 0 && p[2] >= '0' && p[2] <= '9')
		for (p += 2; *p >= '0' && *p <= '9'; p++)
			;
	if (strcmp(p, ARCHIVE_SUFFIX) != 0)
		return false;
	*seqno = n;
	return true;
}

/*
 * journal_note_name learns a name used before (in the directory, in
 * processed/, or recorded in the database), so that later names sort after
 * it and its sequence number is not used again.  Names of other shapes
 * (files dropped by users) are ignored.
 */
void
journal_note_name(Journal *j, const char *name)
{
	const char *stamp;
	unsigned long long seqno;

	/* a dropped name with a huge sequence must not exhaust ours */
	if (!parse_name(name, &stamp, &seqno) || seqno > SEQ_NOTE_MAX)
		return;
	if (strncmp(stamp, j->last_stamp, JOURNAL_STAMP_LEN) > 0)
	{
		memcpy(j->last_stamp, stamp, JOURNAL_STAMP_LEN);
		j->last_stamp[JOURNAL_STAMP_LEN] = '\0';
	}
	if (seqno > j->last_seq)
		j->last_seq = seqno;
}

/* opendir_at opens the directory name of dirfd for reading. */
static DIR *
opendir_at(int dirfd, const char *name)
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

/* scan_names notes the names in subdirectory sub ("." for the journal's) */
static int
scan_names(Journal *j, const char *sub)
{
	DIR		   *d = opendir_at(j->dirfd, sub);
	struct dirent *de;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		journal_note_name(j, de->d_name);
	closedir(d);
	return 0;
}

/*
 * journal_rotate renames a non-empty events.jsonl to a new archive name
 * (written into name) and makes the rename durable.  Returns 1 if it
 * rotated, 0 if there was nothing to rotate, -1 on error.  The batch must
 * have been flushed.  It also rotates a journal left by an earlier run,
 * which is how start-up avoids appending after a torn tail.
 */
int
journal_rotate(Journal *j, time_t now, char *name)
{
	char		wanted[JOURNAL_NAME_MAX];

	if (j->fd >= 0)
	{
		if (j->durable_len == 0)
			return 0;
		/* never archive a tail that a failed flush could not cut off */
		if (cut_to_durable(j) != 0)
			return -1;
		close(j->fd);
		j->fd = -1;
		j->durable_len = 0;
	}
	else
	{
		struct stat st;

		/* a journal left by an earlier run */
		if (fstatat(j->dirfd, JOURNAL_FILE, &st, 0) != 0)
			return errno == ENOENT ? 0 : -1;
		if (st.st_size == 0)
			return 0;
	}

	/* a name never repeats, but a file of that name must not be replaced */
	journal_make_name(j, now, wanted);
	if (rename_noreplace_at(j->dirfd, JOURNAL_FILE, j->dirfd, wanted, j->fsync,
							j->fsync, name) != 0)
		return -1;
	return 1;
}

/* journal_is_archive_name: events-*.jsonl but not events.jsonl */
bool
journal_is_archive_name(const char *name)
{
	size_t		len = strlen(name);
	size_t		plen = strlen(ARCHIVE_PREFIX);
	size_t		slen = strlen(ARCHIVE_SUFFIX);

	return len > plen + slen && len < JOURNAL_NAME_MAX &&
		strncmp(name, ARCHIVE_PREFIX, plen) == 0 &&
		strcmp(name + len - slen, ARCHIVE_SUFFIX) == 0;
}

/*
 * journal_next_archive finds the archived file that sorts first (the
 * oldest, for the names we make).  Returns 1 and its name, 0 if there is
 * none, -1 on error.
 */
int
journal_next_archive(const char *dir, char *name)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	bool		found = false;

	if (d == NULL)
		return -1;
	errno = 0;
	while ((de = readdir(d)) != NULL)
	{
		/* any type: journal_open_archive sorts out what cannot be read */
		if (!journal_is_archive_name(de->d_name))
			continue;
		if (!found || strcmp(de->d_name, name) < 0)
		{
			strcpy(name, de->d_name);
			found = true;
		}
	}
	if (errno != 0)
	{
		int			save = errno;

		closedir(d);
		errno = save;
		return -1;
	}
	closedir(d);
	return found ? 1 : 0;
}

/*
 * move_into moves an archived file into the subdirectory sub, never over
 * a file there (see rename_noreplace_at); final_name gets its name there.
 * sync_file: fsync the file before (only a regular file can be).
 */
static int
move_into(Journal *j, const char *name, const char *sub, bool sync_file,
		  char *final_name)
{
	int			subfd = openat(j->dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int			rc;
	int			save;

	if (subfd < 0)
		return -1;
	rc = rename_noreplace_at(j->dirfd, name, subfd, name, sync_file, j->fsync,
							 final_name);
	save = errno;
	close(subfd);
	errno = save;
	return rc;
}

/*
 * journal_archive_done moves an ingested file to processed/, durably, and
 * never over a file already there: final_name gets the name it has there.
 */
int
journal_archive_done(Journal *j, const char *name, char *final_name)
{
	return move_into(j, name, JOURNAL_PROCESSED, j->fsync, final_name);
}

/*
 * journal_set_aside moves an archived file that cannot be ingested (not a
 * regular file, unreadable, a name that cannot be stored) into failed/,
 * creating it if needed, so that ingest goes on with the other files.
 * final_name gets its name there.  An operator moves it back once fixed.
 */
int
journal_set_aside(Journal *j, const char *name, char *final_name)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", j->dir, JOURNAL_FAILED);
	if (ensure_dir(path, j->fsync) != 0)
		return -1;
	return move_into(j, name, JOURNAL_FAILED, false, final_name);
}

/*
 * journal_rename_archive gives an archived file a new name of our own (see
 * journal_make_name), durably, in the same directory: new_name gets it.
 * A file whose name collides with one ingested before is counted under a
 * new name this way.
 */
int
journal_rename_archive(Journal *j, const char *name, char *new_name, time_t now)
{
	char		wanted[JOURNAL_NAME_MAX];

	journal_make_name(j, now, wanted);
	return rename_noreplace_at(j->dirfd, name, j->dirfd, wanted, j->fsync,
							   j->fsync, new_name);
}

/*
 * journal_prune_processed removes files from processed/ that were moved
 * there at least max_age seconds ago (the rename sets their ctime); 0
 * removes all.  At most limit files per call, so that a large backlog is
 * pruned over several calls.  Returns how many were removed, or -1.
 */
int
journal_prune_processed(Journal *j, time_t now, long max_age, int limit)
{
	DIR		   *d = opendir_at(j->dirfd, JOURNAL_PROCESSED);
	struct dirent *de;
	int			removed = 0;
	int			procfd;

	if (d == NULL)
		return -1;
	procfd = dirfd(d);
	while (removed < limit && (de = readdir(d)) != NULL)
	{
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(procfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			!S_ISREG(st.st_mode))
			continue;
		if (max_age > 0 && st.st_ctime > now - max_age)
			continue;
		if (unlinkat(procfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/*
 * journal_open_archive opens an archived file for ingest without ever
 * blocking or following a link: a FIFO or a device swapped in must not
 * hang the worker, and a symbolic link could point anywhere.  The
 * descriptor is kept for every pass over the file, so the file cannot be
 * swapped between passes either.  On ARCHIVE_UNUSABLE, *why says why.
 */
ArchiveOpen
journal_open_archive(Journal *j, const char *name, int *fd, const char **why)
{
	struct stat st;
	int			save;

	*fd = openat(j->dirfd, name,
				 O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (*fd < 0)
	{
		switch (errno)
		{
			case ENOENT:
				return ARCHIVE_VANISHED;
			case ELOOP:
				*why = "it is a symbolic link";
				return ARCHIVE_UNUSABLE;
			case EACCES:
			case EPERM:
				*why = "permission denied";
				return ARCHIVE_UNUSABLE;
			case ENXIO:
			case EISDIR:
			case ENODEV:
				*why = "it is not a regular file";
				return ARCHIVE_UNUSABLE;
			default:
				return ARCHIVE_ERROR;	/* EMFILE, ENOMEM, EIO, ... */
		}
	}
	if (fstat(*fd, &st) != 0)
	{
		save = errno;
		close(*fd);
		*fd = -1;
		errno = save;
		return ARCHIVE_ERROR;
	}
	if (!S_ISREG(st.st_mode))
	{
		close(*fd);
		*fd = -1;
		*why = S_ISDIR(st.st_mode) ? "it is a directory" :
			"it is not a regular file";
		return ARCHIVE_UNUSABLE;
	}
	return ARCHIVE_OPENED;
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

/* fsync_file_at fsyncs the file name in directory dirfd. */
static int
fsync_file_at(int dirfd, const char *name)
{
	return fsync_and_close(openat(dirfd, name, O_RDONLY | O_CLOEXEC));
}

/* fsync_dir_path fsyncs a directory given by path. */
static int
fsync_dir_path(const char *path)
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
	size_t		slen = strlen(ARCHIVE_SUFFIX);

	if (len > slen && strcmp(name + len - slen, ARCHIVE_SUFFIX) == 0)
		snprintf(out, JOURNAL_NAME_MAX, "%.*s.%d%s",
				 (int) (len - slen), name, k, ARCHIVE_SUFFIX);
	else
		snprintf(out, JOURNAL_NAME_MAX, "%s.%d", name, k);
}

/*
 * rename_noreplace_at moves a file between directories without ever
 * replacing one: if "to" is taken, the first free numbered alternative is
 * used, and final_name (JOURNAL_NAME_MAX bytes) gets the name it took.
 * With sync_file the file is fsynced before the rename, and with sync_dirs
 * both directories after it, so that the result survives a crash (as
 * PostgreSQL's durable_rename does).
 */
static int
rename_noreplace_at(int fromdirfd, const char *from, int todirfd,
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

/* jreader_open opens a file for streaming by lines of at most max_line. */
int
jreader_open(JournalReader *r, const char *path, size_t max_line)
{
	int			fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
	{
		memset(r, 0, sizeof(JournalReader));
		r->fd = -1;
		return -1;
	}
	return jreader_open_fd(r, fd, max_line);
}

/*
 * jreader_open_fd streams an open file; the reader owns fd from now on,
 * even on failure.
 */
int
jreader_open_fd(JournalReader *r, int fd, size_t max_line)
{
	memset(r, 0, sizeof(JournalReader));
	r->max_line = max_line;
	r->cap = max_line + 1024 * 1024;
	r->fd = fd;
	r->buf = malloc(r->cap);
	if (r->buf == NULL)
	{
		close(r->fd);
		r->fd = -1;
		errno = ENOMEM;
		return -1;
	}
#ifdef POSIX_FADV_SEQUENTIAL
	(void) posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	return 0;
}

/*
 * jreader_rewind starts reading the same open file again from its first
 * line, without on_read (a second pass reads what the first one saw).
 */
int
jreader_rewind(JournalReader *r)
{
	if (lseek(r->fd, 0, SEEK_SET) != 0)
		return -1;
	r->start = r->end = 0;
	r->offset = 0;
	r->eof = false;
	r->skip_rest = false;
	r->lineno = 0;
	r->on_read = NULL;
	r->on_read_arg = NULL;
	return 0;
}

/*
 * jreader_next returns the next line (without "\n" or "\r\n").  A line
 * longer than max_line is returned as JL_TOO_LONG with its first max_line
 * bytes, and the rest of it is skipped: JL_MORE after each block read while
 * skipping, so that the caller can stop at its time limit however long the
 * line is.  A last line without a newline is returned like any other (the
 * caller's parser decides whether it is whole).
 */
JournalLine
jreader_next(JournalReader *r, const char **line, size_t *len)
{
	for (;;)
	{
		char	   *base = r->buf + r->start;
		size_t		avail = r->end - r->start;
		char	   *nl = memchr(base, '\n', avail);

		if (r->skip_rest)
		{
			if (nl != NULL)
			{
				r->start += (size_t) (nl - base) + 1;
				r->skip_rest = false;
				continue;
			}
			r->start = r->end;
		}
		else if (nl != NULL || (r->eof && avail > 0))
		{
			size_t		n = nl != NULL ? (size_t) (nl - base) : avail;

			r->start += n + (nl != NULL ? 1 : 0);
			r->lineno++;
			if (n > 0 && base[n - 1] == '\r')
				n--;
			*line = base;
			if (n > r->max_line)
			{
				*len = r->max_line;
				return JL_TOO_LONG;
			}
			*len = n;
			return JL_LINE;
		}
		else if (avail > r->max_line + 1 ||
				 (avail == r->max_line + 1 && base[r->max_line] != '\r'))
		{
			/*
			 * No newline within max_line bytes: report, then skip the rest.
			 * A '\r' just after max_line bytes may be the start of "\r\n",
			 * so that case needs more input before it can be decided.
			 */
			*line = base;
			*len = r->max_line;
			r->lineno++;
			r->start = r->end;
			r->skip_rest = true;
			return JL_TOO_LONG;
		}

		if (r->eof)
			return JL_EOF;

		/* compact and read more */
		if (r->start > 0)
		{
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		for (;;)
		{
			ssize_t		n = read(r->fd, r->buf + r->end, r->cap - r->end);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return JL_ERROR;
			if (n == 0)
				r->eof = true;
#ifdef SYNC_FILE_RANGE_WRITE

			/*
			 * Start writing back what was read, if it is not on disk yet (a
			 * file dropped in): the fsync before the file is moved then
			 * finds little left to do, instead of stalling the worker for a
			 * whole large file.  Advisory only, so errors are ignored.
			 */
			if (n > 0)
				(void) sync_file_range(r->fd, r->offset, n,
									   SYNC_FILE_RANGE_WRITE);
#endif
			if (n > 0 && r->on_read != NULL)
				r->on_read(r->on_read_arg, r->buf + r->end, (size_t) n);
			r->offset += n;
			r->end += (size_t) n;
			break;
		}
		if (r->skip_rest && !r->eof)
			return JL_MORE;
	}
}

void
jreader_close(JournalReader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof(JournalReader));
	r->fd = -1;
}
