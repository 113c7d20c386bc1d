/*-------------------------------------------------------------------------
 *
 * journal.c
 *	  The live journal, events.jsonl: opening the journal directory,
 *	  group-committed appends (journal_append, journal_flush), rotation
 *	  into an archived file, and the archive names that never repeat.
 *
 * Backend-free (libc only); see journal.h for the directory layout.  What
 * happens to a file once it is archived is journal_archive.c's; the
 * durable file-system steps both use are journal_fs.c's.
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

#include "journal/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/journal_fs.h"
#include "journal/safe_open.h"

#ifdef POSTGRES_H
#error "journal.c is backend-free: it must not include PostgreSQL backend headers"
#endif

#define SEQ_DIGITS			10	/* at least; more once the sequence needs them */
#define SEQ_DIGITS_MAX		20	/* 2^64 - 1 has 20 digits */
#define SEQ_NOTE_MAX		1000000000000000000ULL	/* larger ones: ignored */

static int	scan_names(Journal *j, const char *sub);

/*
 * open_dirs makes the journal directory and its processed/ if missing
 * (durably with sync) and opens the directory.  Returns its fd, or -1.
 */
static int
open_dirs(const char *dir, bool sync)
{
	char		path[PATH_MAX];

	if (jfs_ensure_dir(dir, sync) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, JOURNAL_PROCESSED);
	if (jfs_ensure_dir(path, sync) != 0)
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
	free(j->skip);
	memset(j, 0, sizeof(Journal));
	j->fd = -1;
	j->dirfd = -1;
}

/*
 * journal_reserve returns room for len bytes at the end of the batch, NULL
 * if out of memory: a line written there is added by journal_advance.
 */
char *
journal_reserve(Journal *j, size_t len)
{
	if (j->len + len > j->cap)
	{
		size_t		newcap = j->cap ? j->cap : 64 * 1024;
		char	   *newbuf;

		while (newcap < j->len + len)
			newcap *= 2;
		newbuf = realloc(j->buf, newcap);
		if (newbuf == NULL)
			return NULL;
		j->buf = newbuf;
		j->cap = newcap;
	}
	return j->buf + j->len;
}

/* journal_append adds a line to the batch; nothing is written yet. */
int
journal_append(Journal *j, const char *line, size_t len)
{
	char	   *room = journal_reserve(j, len);

	if (room == NULL)
		return -1;
	memcpy(room, line, len);
	j->len += len;
	return 0;
}

static int
open_journal_file(Journal *j)
{
	struct stat st;
	bool		created;
	mode_t		found;

	/* never blocking on something else put there, a FIFO say */
	j->fd = safe_open_at(j->dirfd, JOURNAL_FILE, O_WRONLY | O_APPEND, 0,
						 &found);
	created = (j->fd == -1 && errno == ENOENT);
	if (created)
		j->fd = safe_open_at(j->dirfd, JOURNAL_FILE,
							 O_WRONLY | O_APPEND | O_CREAT | O_EXCL, 0600,
							 &found);
	if (j->fd == SAFE_OPEN_NOT_REGULAR)
		errno = EINVAL;			/* not a file we can append to */
	if (j->fd < 0)
	{
		j->fd = -1;
		return -1;
	}
	if (fstat(j->fd, &st) != 0)
		goto fail;
	j->durable_len = st.st_size;
	j->fd_dev = st.st_dev;
	j->fd_ino = st.st_ino;

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
 * directory), writes to our descriptor would vanish with it.  One stat of
 * the name, compared with the identity the descriptor had when it was
 * opened (which an open descriptor keeps); *size is then the file's length.
 */
static bool
journal_still_there(Journal *j, off_t *size)
{
	char		path[PATH_MAX];
	struct stat by_path;

	snprintf(path, sizeof(path), "%s/%s", j->dir, JOURNAL_FILE);
	if (stat(path, &by_path) != 0 ||
		by_path.st_ino != j->fd_ino || by_path.st_dev != j->fd_dev)
		return false;
	*size = by_path.st_size;
	return true;
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
 * journal_remake_dir makes the journal directory (and processed/) again
 * and reopens it if it is no longer the one open, as the next write would
 * (ingest, which may find it gone first: with the journal in the
 * database no write comes).  Returns 0 if it was made again, 1 if it was
 * there, -1 on failure (errno).
 */
int
journal_remake_dir(Journal *j)
{
	if (dir_still_there(j))
		return 1;
	return reopen_dir(j) == 0 ? 0 : -1;
}

/*
 * cut_to_durable cuts events.jsonl back to the length known durable,
 * dropping a tail that a failed flush left, and makes the cut durable too
 * (with fsync on): a tail answered with an error must never come back.
 * size is the file's length now, or -1 to look it up.
 */
static int
cut_to_durable(Journal *j, off_t size)
{
	struct stat st;

	if (size < 0)
	{
		if (fstat(j->fd, &st) != 0)
			return -1;
		size = st.st_size;
	}
	if (size == j->durable_len)
		return 0;
	if (ftruncate(j->fd, j->durable_len) != 0)
		return -1;
	return j->fsync ? fdatasync(j->fd) : 0;
}

/*
 * journal_flush writes the batch with one write and makes it durable with
 * one fdatasync (if fsync is on): this is the group commit.  On success
 * every event in the batch may be acknowledged.  On failure (errno set)
 * none may: the file is cut back to its last good length, and the batch is
 * discarded either way.
 */
int
journal_flush(Journal *j)
{
	return journal_flush_begin(j, NULL);
}

/*
 * journal_flush_begin is journal_flush with the fdatasync only started
 * when syncer s can run it (jsync_usable, fsync on): it then returns
 * JOURNAL_SYNCING, and journal_flush_end says when the batch is durable.
 * Meanwhile the next batch may be appended, but not flushed: the file
 * holds one batch being synced at most, so that a failure cuts off that
 * batch alone (EBUSY, the batch kept, if one is still in flight).
 * Otherwise JOURNAL_DURABLE once the batch is durable, or -1 as
 * journal_flush.
 */
int
journal_flush_begin(Journal *j, JournalSyncer *s)
{
	size_t		done = 0;
	int			save;
	off_t		size = -1;		/* the file's length, if known */

	if (j->syncing)
	{
		errno = EBUSY;
		return -1;
	}

	/*
	 * Removed or replaced behind our back: start again where it was.  With
	 * no journal open (just rotated, or not written yet) only the directory
	 * can have gone, and the journal must not be created through the stale
	 * dirfd.
	 */
	if (j->fd < 0)
	{
		int			rc = journal_remake_dir(j);

		if (rc != 1)
			j->replaced++;
		if (rc < 0)
			goto fail_nowrite;
	}
	else if (!journal_still_there(j, &size))
	{
		close(j->fd);
		j->fd = -1;
		j->replaced++;
		if (reopen_dir(j) != 0)
			goto fail_nowrite;
	}
	if (j->fd < 0 && open_journal_file(j) != 0)
		goto fail_nowrite;

	/* a previous failure may have left a tail that could not be cut off */
	if (cut_to_durable(j, size) != 0)
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
	if (j->fsync && jsync_usable(s) && jsync_start(s, j->fd) == 0)
	{
		/* an injected failure is then the sync's (journal_flush_end) */
		j->syncing = true;
		j->syncing_len = (off_t) j->len;
		j->len = 0;
		return JOURNAL_SYNCING;
	}
	if (j->inject_errno != 0)
	{
		/* as if the disk filled up or failed after the write */
		errno = j->inject_errno;
		goto fail;
	}
	/* inline; also when the kernel refused it this once (EAGAIN) */
	if (j->fsync && fdatasync(j->fd) != 0)
		goto fail;

	j->durable_len += (off_t) j->len;
	j->len = 0;
	return JOURNAL_DURABLE;

fail:
	save = errno;
	(void) cut_to_durable(j, -1);
	errno = save;
fail_nowrite:
	j->len = 0;
	return -1;
}

/*
 * journal_flush_end collects the sync that journal_flush_begin started
 * with s: 1 while it is still in flight (never with wait), 0 once the
 * batch is durable (also with nothing in flight), -1 with errno if the
 * sync failed: the batch is cut off again, as after a failed
 * journal_flush.
 */
int
journal_flush_end(Journal *j, JournalSyncer *s, bool wait)
{
	int			err = 0;

	if (!j->syncing)
		return 0;
	if (jsync_reap(s, wait, &err) == 0)
		return 1;
	j->syncing = false;
	if (err == 0)
		err = j->inject_errno;	/* tests: as if the sync failed */
	if (err == 0)
	{
		j->durable_len += j->syncing_len;
		j->syncing_len = 0;
		return 0;
	}
	j->syncing_len = 0;
	(void) cut_to_durable(j, -1);
	errno = err;
	return -1;
}

/*
 * journal_probe tells, with no batch pending, whether a flush could succeed
 * now: the journal can be opened (an empty flush, which also makes a
 * removed directory again) and the file system takes bytes more, written
 * and synced like a batch into a scratch file (.probe<tag>) that is
 * removed again.  The journal itself is not touched, so a crash during the
 * probe leaves nothing to ingest.  Returns 0, or -1 with errno set.
 */
int
journal_probe(Journal *j, size_t bytes)
{
	static const char zeros[4096];
	char		name[sizeof(j->tag) + 8];
	int			fd;
	int			save;
	mode_t		found;

	if (j->len != 0 || j->syncing)
	{
		errno = EBUSY;
		return -1;
	}
	if (journal_flush(j) != 0)
		return -1;
	snprintf(name, sizeof(name), ".probe%s", j->tag);
	fd = safe_open_at(j->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
					  0600, &found);
	if (fd == SAFE_OPEN_NOT_REGULAR)
		errno = EINVAL;
	if (fd < 0)
		return -1;
	while (bytes > 0)
	{
		ssize_t		n = write(fd, zeros,
							  bytes < sizeof(zeros) ? bytes : sizeof(zeros));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		bytes -= (size_t) n;
	}
	if (j->fsync && fdatasync(fd) != 0)
		goto fail;
	close(fd);
	return unlinkat(j->dirfd, name, 0);

fail:
	save = errno;
	close(fd);
	(void) unlinkat(j->dirfd, name, 0);
	errno = save;
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
	snprintf(name, JOURNAL_NAME_MAX,
			 JOURNAL_ARCHIVE_PREFIX "%s-%0*llu%s" JOURNAL_ARCHIVE_SUFFIX,
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
	size_t		plen = strlen(JOURNAL_ARCHIVE_PREFIX);
	const char *p;
	int			digits = 0;
	unsigned long long n = 0;

	if (strncmp(name, JOURNAL_ARCHIVE_PREFIX, plen) != 0)
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
	if (strcmp(p, JOURNAL_ARCHIVE_SUFFIX) != 0)
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

/* scan_names notes the names in subdirectory sub ("." for the journal's) */
static int
scan_names(Journal *j, const char *sub)
{
	DIR		   *d = jfs_opendir_at(j->dirfd, sub);
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
	uint64_t	len;

	if (j->syncing)
	{
		errno = EBUSY;			/* the caller collects the sync first */
		return -1;
	}
	if (j->fd >= 0)
	{
		if (j->durable_len == 0)
			return 0;
		/* never archive a tail that a failed flush could not cut off */
		if (cut_to_durable(j, -1) != 0)
			return -1;
		close(j->fd);
		j->fd = -1;
		len = (uint64_t) j->durable_len;
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
		len = (uint64_t) st.st_size;
	}

	/* a name never repeats, but a file of that name must not be replaced */
	journal_make_name(j, now, wanted);
	if (jfs_rename_noreplace_at(j->dirfd, JOURNAL_FILE, j->dirfd, wanted,
								j->fsync, j->fsync, name) != 0)
		return -1;
	j->rotated_bytes += len;
	return 1;
}
