/*-------------------------------------------------------------------------
 *
 * journal_archive.c
 *	  The archived files (events-*.jsonl) of the journal directory: the
 *	  queue (which file is next), opening one for ingest without blocking
 *	  or following links, reading it by lines (jreader_*), and where it goes
 *	  afterwards: processed/ once ingested, failed/ if it cannot be, a new
 *	  name of our own if its name was used before; and pruning processed/.
 *
 * Backend-free (libc only); see journal.h for the directory layout.  Files
 * get here by journal_rotate (journal.c) or by a user dropping them in.
 *
 *-------------------------------------------------------------------------
 */
/* sync_file_range and SYNC_FILE_RANGE_WRITE */
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
#error "journal_archive.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* journal_is_archive_name: events-*.jsonl but not events.jsonl */
bool
journal_is_archive_name(const char *name)
{
	size_t		len = strlen(name);
	size_t		plen = strlen(JOURNAL_ARCHIVE_PREFIX);
	size_t		slen = strlen(JOURNAL_ARCHIVE_SUFFIX);

	return len > plen + slen && len < JOURNAL_NAME_MAX &&
		strncmp(name, JOURNAL_ARCHIVE_PREFIX, plen) == 0 &&
		strcmp(name + len - slen, JOURNAL_ARCHIVE_SUFFIX) == 0;
}

/*
 * find_skip: the entry of the skip list for name, or NULL.
 */
static JournalSkip *
find_skip(const Journal *j, const char *name)
{
	for (int i = 0; i < j->nskip; i++)
		if (strcmp(j->skip[i].name, name) == 0)
			return &j->skip[i];
	return NULL;
}

/* journal_skipped: the entry name if ingest passes over it, else NULL */
const JournalSkip *
journal_skipped(const Journal *j, const char *name)
{
	return find_skip(j, name);
}

/* same_entry: is st (still) the entry that s skipped, unchanged? */
static bool
same_entry(const JournalSkip *s, const struct stat *st)
{
	return st->st_dev == s->dev && st->st_ino == s->ino &&
		st->st_mode == s->mode && st->st_ctim.tv_sec == s->ctime.tv_sec &&
		st->st_ctim.tv_nsec == s->ctime.tv_nsec;
}

/*
 * passed_over tells whether the entry name of directory dfd is one that
 * journal_skip put aside and whose retry time has not come: only the very
 * entry skipped (its inode), not another one put in under its name.  It
 * marks the skip list's entry as still there.  An entry replaced or
 * changed (its inode, type, permissions, ctime) is looked at afresh: the
 * operator may have fixed it.
 */
static bool
passed_over(Journal *j, int dfd, const char *name, time_t now)
{
	JournalSkip *s = find_skip(j, name);
	struct stat st;

	if (s == NULL ||
		fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		!same_entry(s, &st))
		return false;
	s->seen = true;
	return now < s->retry_at;
}

/*
 * forget_unseen drops from the skip list the entries that the last scan
 * did not find (removed or replaced by the operator): a new entry under
 * the same name is looked at afresh.
 */
static void
forget_unseen(Journal *j)
{
	int			kept = 0;

	for (int i = 0; i < j->nskip; i++)
		if (j->skip[i].seen)
			j->skip[kept++] = j->skip[i];
	j->nskip = kept;
}

/*
 * journal_next_archive finds the archived file that sorts first (the
 * oldest, for the names we make), passing over the entries skipped (see
 * journal_skip) until their retry time at now.  Returns 1 and its name, 0
 * if there is none, -1 on error.
 */
int
journal_next_archive(Journal *j, time_t now, char *name)
{
	DIR		   *d = opendir(j->dir);
	struct dirent *de;
	bool		found = false;

	if (d == NULL)
		return -1;
	for (int i = 0; i < j->nskip; i++)
		j->skip[i].seen = false;
	errno = 0;
	while ((de = readdir(d)) != NULL)
	{
		/* any type: journal_open_archive sorts out what cannot be read */
		if (!journal_is_archive_name(de->d_name) ||
			passed_over(j, dirfd(d), de->d_name, now))
			continue;
		if (!found || strcmp(de->d_name, name) < 0)
		{
			strcpy(name, de->d_name);
			found = true;
		}
		errno = 0;
	}
	if (errno != 0)
	{
		int			save = errno;

		closedir(d);
		errno = save;
		return -1;
	}
	closedir(d);
	forget_unseen(j);
	return found ? 1 : 0;
}

/*
 * journal_skip has ingest pass over the archived entry name until
 * retry_at: it could not be moved where it belongs (into failed/ as
 * unusable, into processed/ once counted), and must not hold back the
 * files after it.  why (what failed) is kept for the views.  Only this
 * entry is skipped: one that replaces it under its name is not.  Returns
 * 1 if it was not skipped before (the caller logs it, once), 0 if it was
 * (its retry time is moved on), -1 with errno set if it is not there.
 */
int
journal_skip(Journal *j, const char *name, const char *why, time_t retry_at)
{
	JournalSkip *s = find_skip(j, name);
	struct stat st;
	bool		known;

	if (fstatat(j->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	known = s != NULL && same_entry(s, &st);
	if (s == NULL)
	{
		if (j->nskip == j->skip_cap)
		{
			int			cap = j->skip_cap == 0 ? 8 : j->skip_cap * 2;
			JournalSkip *grown = realloc(j->skip, cap * sizeof(JournalSkip));

			if (grown == NULL)
				return -1;
			j->skip = grown;
			j->skip_cap = cap;
		}
		s = &j->skip[j->nskip++];
		snprintf(s->name, sizeof(s->name), "%s", name);
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->mode = st.st_mode;
	s->ctime = st.st_ctim;
	s->retry_at = retry_at;
	s->seen = true;
	snprintf(s->why, sizeof(s->why), "%s", why);
	return known ? 0 : 1;
}

/* kind_in_dir: what a name in the journal directory is, -1 nothing of ours */
static int
kind_in_dir(const char *name)
{
	if (strcmp(name, JOURNAL_FILE) == 0)
		return JF_LIVE;
	return journal_is_archive_name(name) ? JF_ARCHIVED : -1;
}

/* kind_in_failed: what a name in failed/ is */
static int
kind_in_failed(const char *name)
{
	return name[0] != '.' ? JF_SET_ASIDE : -1;
}

/*
 * list_dir calls fn for each regular file of directory fd (closed here)
 * that kind_of gives a kind; an archived or set aside entry that is
 * something else is listed too, with size 0 (an archived one as
 * JF_NOT_REGULAR).
 */
static int
list_dir(int fd, int (*kind_of) (const char *name), JournalListFn fn,
		 void *arg)
{
	DIR		   *d = fdopendir(fd);
	struct dirent *de;

	if (d == NULL)
	{
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
	{
		int			kind = kind_of(de->d_name);
		struct stat st;

		if (kind < 0 ||
			fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (!S_ISREG(st.st_mode))
		{
			/* in the queue all the same, until set aside; never read */
			if (kind == JF_ARCHIVED)
				fn(arg, de->d_name, JF_NOT_REGULAR, 0, st.st_mtime);
			else if (kind == JF_SET_ASIDE)
				fn(arg, de->d_name, JF_SET_ASIDE, 0, st.st_mtime);
			continue;
		}
		fn(arg, de->d_name, (JournalFileKind) kind, (uint64_t) st.st_size,
		   st.st_mtime);
	}
	closedir(d);
	return 0;
}

/*
 * journal_list calls fn for each file of the journal directory dir: the
 * live journal (JF_LIVE), the archived files waiting (JF_ARCHIVED) and, if
 * set_aside, the files set aside in failed/ (JF_SET_ASIDE).  Returns 0, or
 * -1 if dir cannot be read.  Entries of dir named like an archive that are
 * not regular files are JF_NOT_REGULAR.
 */
int
journal_list(const char *dir, bool set_aside, JournalListFn fn, void *arg)
{
	int			fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int			sub;

	if (fd < 0)
		return -1;
	sub = set_aside ? openat(fd, JOURNAL_FAILED, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (list_dir(fd, kind_in_dir, fn, arg) != 0)
	{
		if (sub >= 0)
			close(sub);
		return -1;
	}
	return sub >= 0 ? list_dir(sub, kind_in_failed, fn, arg) : 0;
}

typedef struct Backlog
{
	const Journal *j;
	int		   *files;
	uint64_t   *bytes;
	time_t	   *oldest;
} Backlog;

static void
add_to_backlog(void *arg, const char *name, JournalFileKind kind,
			   uint64_t size, time_t mtime)
{
	Backlog    *b = arg;

	/* what ingest passes over is not going to be counted */
	if (kind != JF_ARCHIVED || find_skip(b->j, name) != NULL)
		return;
	(*b->files)++;
	*b->bytes += size;
	if (*b->oldest == 0 || mtime < *b->oldest)
		*b->oldest = mtime;
}

/*
 * journal_backlog adds up the archived files waiting in j's directory (not
 * those ingest skips: see journal_skip): their number in *files, their
 * bytes in *bytes, and the oldest modification time in *oldest (0 if
 * none).  Returns 0, or -1 on error.
 */
int
journal_backlog(const Journal *j, int *files, uint64_t *bytes, time_t *oldest)
{
	Backlog		b = {j, files, bytes, oldest};

	*files = 0;
	*bytes = 0;
	*oldest = 0;
	return journal_list(j->dir, false, add_to_backlog, &b);
}

/*
 * move_into moves an archived file into the subdirectory sub, never over
 * a file there (see jfs_rename_noreplace_at); final_name gets its name there.
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
	rc = jfs_rename_noreplace_at(j->dirfd, name, subfd, name, sync_file,
								 j->fsync, final_name);
	if (rc == 0)
		j->archives_moved++;
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
	if (jfs_ensure_dir(path, j->fsync) != 0)
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
	return jfs_rename_noreplace_at(j->dirfd, name, j->dirfd, wanted,
								   j->fsync, j->fsync, new_name);
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
	DIR		   *d = jfs_opendir_at(j->dirfd, JOURNAL_PROCESSED);
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
	mode_t		found;

	*fd = safe_open_at(j->dirfd, name, O_RDONLY | O_NOFOLLOW, 0, &found);
	if (*fd == SAFE_OPEN_NOT_REGULAR)
	{
		*fd = -1;
		*why = S_ISDIR(found) ? "it is a directory" :
			S_ISLNK(found) ? "it is a symbolic link" :
			"it is not a regular file";
		return ARCHIVE_UNUSABLE;
	}
	if (*fd < 0)
	{
		switch (errno)
		{
			case ENOENT:
				return ARCHIVE_VANISHED;
			case EACCES:
			case EPERM:
				*why = "permission denied";
				return ARCHIVE_UNUSABLE;
			default:
				return ARCHIVE_ERROR;	/* EMFILE, ENOMEM, EIO, ... */
		}
	}
	return ARCHIVE_OPENED;
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
 * reader_init makes an empty reader (no file, no memory) with its buffer:
 * room for the longest line and a block.
 */
static int
reader_init(JournalReader *r, size_t max_line)
{
	memset(r, 0, sizeof(JournalReader));
	r->fd = -1;
	r->max_line = max_line;
	r->cap = max_line + 1024 * 1024;
	r->buf = malloc(r->cap);
	if (r->buf == NULL)
	{
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/*
 * jreader_open_fd streams an open file; the reader owns fd from now on,
 * even on failure.
 */
int
jreader_open_fd(JournalReader *r, int fd, size_t max_line)
{
	if (reader_init(r, max_line) != 0)
	{
		close(fd);
		return -1;
	}
	r->fd = fd;
#ifdef POSIX_FADV_SEQUENTIAL
	(void) posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	return 0;
}

/*
 * jreader_open_source streams the bytes of source by lines, exactly as a
 * file of those bytes (a journal segment kept in the database): lines,
 * too-long lines and on_read behave the same, wherever source's blocks end.
 */
int
jreader_open_source(JournalReader *r, const JournalSource *source,
					size_t max_line)
{
	if (reader_init(r, max_line) != 0)
		return -1;
	r->source = *source;
	return 0;
}

/* read_block reads the next block of the file, or of the source. */
static ssize_t
read_block(JournalReader *r, char *into, size_t room)
{
	if (r->source.read != NULL)
		return r->source.read(r->source.arg, into, room);
	return read(r->fd, into, room);
}

/*
 * jreader_rewind starts reading the same open file again from its first
 * line, without on_read (a second pass reads what the first one saw).
 */
int
jreader_rewind(JournalReader *r)
{
	if (r->source.read != NULL)
	{
		if (r->source.rewind(r->source.arg) != 0)
			return -1;
	}
	else if (lseek(r->fd, 0, SEEK_SET) != 0)
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
			ssize_t		n = read_block(r, r->buf + r->end, r->cap - r->end);

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
			if (n > 0 && r->source.read == NULL)
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

/* jreader_close closes the file and frees the buffer. */
void
jreader_close(JournalReader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	memset(r, 0, sizeof(JournalReader));
	r->fd = -1;
}
