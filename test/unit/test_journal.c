/*-------------------------------------------------------------------------
 *
 * test_journal.c
 *	  Unit tests of the journal (src/journal/journal.c, journal_archive.c and
 *	  journal_fs.c, journal_sync.c): opening the journal directory,
 *	  group-committed appends, synced inline or asynchronously, and their
 *	  failure path (the file is cut back to its durable
 *	  length), rotation and archive names that never repeat,
 *	  the archive queue (journal_next_archive, journal_archive_done), a base
 *	  backup's copies set aside (journal_set_aside_copies) and the
 *	  streaming line reader (jreader_*).
 *
 * Everything happens in a fresh directory made with mkdtemp under /tmp,
 * which is removed at the end.  No server needed: "make unitcheck".
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/journal.h"
#include "journal/safe_open.h"
#include "unit.h"

/* 2026-11-22 05:00:00 UTC */
#define T0			((time_t) 1795323600)
#define T0_STAMP	"20261122T050000Z"

static char tmpdir[PATH_MAX];

/*
 * File helpers
 */

/* tpath returns tmpdir/<rel>; the last 16 results stay valid */
static const char *
tpath(const char *fmt,...)
			__attribute__((format(printf, 1, 2)));

static const char *
tpath(const char *fmt,...)
{
	static char bufs[16][PATH_MAX];
	static int	next = 0;
	char	   *buf = bufs[next++ % 16];
	size_t		len = strlen(tmpdir);
	va_list		ap;

	memcpy(buf, tmpdir, len);
	buf[len++] = '/';
	va_start(ap, fmt);
	vsnprintf(buf + len, PATH_MAX - len, fmt, ap);
	va_end(ap);
	return buf;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
	{
		fprintf(stderr, "could not write \"%s\": %s\n", path, strerror(errno));
		exit(2);
	}
}

/* read_file returns the contents (malloc'd, NUL-terminated) or NULL */
static char *
read_file(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf = NULL;
	size_t		cap = 0;
	size_t		n = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;)
	{
		size_t		got;

		if (n + 65536 + 1 > cap)
		{
			cap = (n + 65536 + 1) * 2;
			buf = realloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long) st.st_size : -1;
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* journal_next_archive on a directory, with no entry skipped */
static int
next_in(const char *dir, char *name)
{
	Journal		j;

	memset(&j, 0, sizeof(j));
	j.dir = (char *) dir;
	return journal_next_archive(&j, time(NULL), name);
}

/* journal_backlog on a directory, with no entry skipped */
static int
backlog_in(const char *dir, int *files, uint64_t *bytes, time_t *oldest)
{
	Journal		j;

	memset(&j, 0, sizeof(j));
	j.dir = (char *) dir;
	return journal_backlog(&j, files, bytes, oldest);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(path);
}

static void
rm_rf(const char *path)
{
	if (exists(path))
		(void) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* check_file: the file holds exactly want[0..wantlen) */
static void
check_file(const char *path, const char *want, size_t wantlen,
		   const char *func, int line)
{
	size_t		len;
	char	   *got = read_file(path, &len);

	if (!unit_check(got != NULL, __FILE__, line, func, "file \"%s\" exists",
					path))
		return;
	unit_check_mem(got, len, want, wantlen, __FILE__, line, func, path);
	free(got);
}

#define CHECK_FILE(path, want) \
	check_file((path), (want), strlen(want), __func__, __LINE__)

/*
 * archive_shape: events-YYYYMMDDTHHMMSSZ-NNNNNNNNNN.jsonl
 */
static bool
archive_shape(const char *name)
{
	static const char shape[] = "events-ddddddddTddddddZ-dddddddddd.jsonl";

	if (strlen(name) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < sizeof(shape) - 1; i++)
	{
		if (shape[i] == 'd')
		{
			if (name[i] < '0' || name[i] > '9')
				return false;
		}
		else if (name[i] != shape[i])
			return false;
	}
	return true;
}

#define CHECK_SHAPE(name) \
	CHECK_MSG(archive_shape(name), "archive name shape: \"%s\"", (name))

/* append_flush: append one chunk and flush it */
static int
append_flush(Journal *j, const char *s)
{
	if (journal_append(j, s, strlen(s)) != 0)
		return -1;
	return journal_flush(j);
}

/*
 * journal_open and journal_close
 */
static void
test_open(void)
{
	Journal		j;
	const char *dir = tpath("open");

	CHECK(!exists(dir));
	CHECK_INT_EQ(journal_open(&j, dir, false), 0);
	CHECK(is_dir(dir));
	CHECK(is_dir(tpath("open/processed")));
	CHECK(!exists(tpath("open/events.jsonl")));	/* opened lazily */
	CHECK_STR_EQ(j.dir, dir);
	CHECK(j.dirfd >= 0);
	CHECK_INT_EQ(j.fd, -1);
	CHECK_INT_EQ(j.len, 0);
	CHECK(journal_is_empty(&j));
	journal_close(&j);
	CHECK_INT_EQ(j.fd, -1);
	CHECK_INT_EQ(j.dirfd, -1);
	CHECK(j.dir == NULL && j.buf == NULL);
	journal_close(&j);			/* harmless twice */

	/* an existing directory is fine */
	CHECK_INT_EQ(journal_open(&j, dir, true), 0);
	CHECK(j.fsync);
	journal_close(&j);

	/* a directory path that is a file */
	write_file(tpath("notadir"), "x", 1);
	errno = 0;
	CHECK_INT_EQ(journal_open(&j, tpath("notadir"), false), -1);
	CHECK_INT_EQ(errno, ENOTDIR);
	CHECK_INT_EQ(j.fd, -1);
	CHECK(j.dir == NULL);
	journal_close(&j);

	/* processed/ that is a file */
	CHECK_INT_EQ(mkdir(tpath("badproc"), 0700), 0);
	write_file(tpath("badproc/processed"), "x", 1);
	errno = 0;
	CHECK_INT_EQ(journal_open(&j, tpath("badproc"), false), -1);
	CHECK_INT_EQ(errno, ENOTDIR);
	journal_close(&j);

	/* a missing parent is not created */
	errno = 0;
	CHECK_INT_EQ(journal_open(&j, tpath("missing/sub"), false), -1);
	CHECK_INT_EQ(errno, ENOENT);
	journal_close(&j);
}

/*
 * journal_append and journal_flush
 */
static void
test_append_flush(bool fsync)
{
	Journal		j;
	char		dir[PATH_MAX];
	char		file[PATH_MAX];
	char	   *big;
	char	   *want;
	size_t		biglen = 300000;

	strcpy(dir, tpath("append-%d", fsync));
	strcpy(file, tpath("append-%d/events.jsonl", fsync));
	CHECK_INT_EQ(journal_open(&j, dir, fsync), 0);
	CHECK_INT_EQ(journal_append(&j, "line1\n", 6), 0);
	CHECK_INT_EQ(journal_append(&j, "line2\n", 6), 0);
	CHECK_INT_EQ(j.len, 12);
	CHECK(!exists(file));		/* nothing written before the flush */
	CHECK(journal_is_empty(&j));
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_FILE(file, "line1\nline2\n");
	CHECK_INT_EQ(j.len, 0);
	CHECK_INT_EQ(j.durable_len, 12);
	CHECK(!journal_is_empty(&j));

	/* an empty flush writes nothing */
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_FILE(file, "line1\nline2\n");

	/* appends accumulate; exactly the bytes are written, even binary ones */
	CHECK_INT_EQ(journal_append(&j, "a", 1), 0);
	CHECK_INT_EQ(journal_append(&j, "b\0c\n", 4), 0);
	CHECK_INT_EQ(journal_append(&j, "", 0), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	check_file(file, "line1\nline2\nab\0c\n", 17, __func__, __LINE__);
	CHECK_INT_EQ(j.durable_len, 17);

	/* a batch larger than the initial buffer */
	big = malloc(biglen);
	for (size_t i = 0; i < biglen; i++)
		big[i] = (i % 100 == 99) ? '\n' : (char) ('a' + i % 26);
	for (size_t off = 0; off < biglen; off += 1000)
		CHECK_INT_EQ(journal_append(&j, big + off, 1000), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	want = malloc(17 + biglen + 5);
	memcpy(want, "line1\nline2\nab\0c\n", 17);
	memcpy(want + 17, big, biglen);
	check_file(file, want, 17 + biglen, __func__, __LINE__);
	CHECK_INT_EQ(j.durable_len, (long long) (17 + biglen));
	journal_close(&j);

	/* a journal opened again appends after what is there */
	CHECK_INT_EQ(journal_open(&j, dir, fsync), 0);
	CHECK_INT_EQ(append_flush(&j, "more\n"), 0);
	memcpy(want + 17 + biglen, "more\n", 5);
	check_file(file, want, 17 + biglen + 5, __func__, __LINE__);
	CHECK_INT_EQ(j.durable_len, (long long) (17 + biglen + 5));
	journal_close(&j);
	free(want);
	free(big);
}

/*
 * journal_flush failures: the batch is discarded and the file keeps its
 * durable length, so a refused event never stays in the journal.
 */
static void
test_flush_failures(void)
{
	Journal		j;
	char		dir[PATH_MAX];
	char		file[PATH_MAX];
	int			saved;
	int			ro;

	strcpy(dir, tpath("fail"));
	strcpy(file, tpath("fail/events.jsonl"));
	CHECK_INT_EQ(journal_open(&j, dir, true), 0);
	CHECK_INT_EQ(append_flush(&j, "a\n"), 0);

	/* an error after the write (the fault injection of the worker) */
	j.inject_errno = ENOSPC;
	CHECK_INT_EQ(journal_append(&j, "b\n", 2), 0);
	errno = 0;
	CHECK_INT_EQ(journal_flush(&j), -1);
	CHECK_INT_EQ(errno, ENOSPC);
	CHECK_INT_EQ(j.len, 0);
	CHECK_INT_EQ(j.durable_len, 2);
	CHECK_FILE(file, "a\n");
	j.fsync = false;
	j.inject_errno = EIO;
	errno = 0;
	CHECK_INT_EQ(append_flush(&j, "bb\n"), -1);
	CHECK_INT_EQ(errno, EIO);
	CHECK_FILE(file, "a\n");
	j.fsync = true;
	j.inject_errno = 0;
	CHECK_INT_EQ(append_flush(&j, "c\n"), 0);
	CHECK_FILE(file, "a\nc\n");
	CHECK_INT_EQ(j.durable_len, 4);

	/* the descriptor cannot be written (works as root, too) */
	saved = dup(j.fd);
	ro = open(file, O_RDONLY);
	CHECK(saved >= 0 && ro >= 0);
	CHECK(dup2(ro, j.fd) == j.fd);
	close(ro);
	CHECK_INT_EQ(journal_append(&j, "d\n", 2), 0);
	CHECK_INT_EQ(journal_flush(&j), -1);
	CHECK_INT_EQ(j.len, 0);
	CHECK_INT_EQ(j.durable_len, 4);
	CHECK_FILE(file, "a\nc\n");
	CHECK(dup2(saved, j.fd) == j.fd);
	close(saved);
	CHECK_INT_EQ(append_flush(&j, "e\n"), 0);
	CHECK_FILE(file, "a\nc\ne\n");

	/* a short write: the part that was written is cut off again */
	{
		struct rlimit old;
		struct rlimit lim;
		void		(*oldsig) (int) = signal(SIGXFSZ, SIG_IGN);

		CHECK_INT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
		lim = old;
		lim.rlim_cur = 6 + 3;	/* room for 3 of the 11 bytes */
		CHECK_INT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
		CHECK_INT_EQ(journal_append(&j, "ffffffffff\n", 11), 0);
		errno = 0;
		CHECK_INT_EQ(journal_flush(&j), -1);
		CHECK_INT_EQ(errno, EFBIG);
		CHECK_INT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
		signal(SIGXFSZ, oldsig);
		CHECK_INT_EQ(j.len, 0);
		CHECK_INT_EQ(j.durable_len, 6);
		CHECK_FILE(file, "a\nc\ne\n");
		CHECK_INT_EQ(append_flush(&j, "g\n"), 0);
		CHECK_FILE(file, "a\nc\ne\ng\n");
	}

	/* a tail that a failure could not cut off is cut before the next batch */
	{
		int			fd = open(file, O_WRONLY | O_APPEND);

		CHECK(fd >= 0);
		CHECK_INT_EQ(write(fd, "{\"torn", 6), 6);
		close(fd);
		CHECK_INT_EQ(append_flush(&j, "h\n"), 0);
		CHECK_FILE(file, "a\nc\ne\ng\nh\n");
		CHECK_INT_EQ(j.durable_len, 10);
	}
	journal_close(&j);

	/* events.jsonl cannot be created: the batch is discarded */
	CHECK_INT_EQ(journal_open(&j, tpath("fail2"), false), 0);
	CHECK_INT_EQ(mkdir(tpath("fail2/events.jsonl"), 0700), 0);
	CHECK_INT_EQ(journal_append(&j, "x\n", 2), 0);
	CHECK_INT_EQ(journal_flush(&j), -1);
	CHECK_INT_EQ(j.len, 0);
	CHECK_INT_EQ(j.fd, -1);
	CHECK(journal_is_empty(&j));
	CHECK_INT_EQ(rmdir(tpath("fail2/events.jsonl")), 0);
	CHECK_INT_EQ(append_flush(&j, "y\n"), 0);
	CHECK_FILE(tpath("fail2/events.jsonl"), "y\n");
	journal_close(&j);

	/* the directory is gone: the flush makes it again, and says so */
	CHECK_INT_EQ(journal_open(&j, tpath("fail3"), false), 0);
	rm_rf(tpath("fail3"));
	CHECK_INT_EQ(journal_append(&j, "x\n", 2), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_INT_EQ(j.len, 0);
	CHECK_INT_EQ((int) j.replaced, 1);
	CHECK_FILE(tpath("fail3/events.jsonl"), "x\n");
	journal_close(&j);
}

/*
 * journal_probe: with the file system short of space (RLIMIT_FSIZE) or a
 * fault injected it fails; otherwise it succeeds, leaving the journal as
 * it was and no scratch file behind.
 */
static void
test_probe(void)
{
	Journal		j;
	struct rlimit old;
	struct rlimit lim;
	void		(*oldsig) (int) = signal(SIGXFSZ, SIG_IGN);

	CHECK_INT_EQ(journal_open(&j, tpath("probe"), true), 0);
	CHECK_INT_EQ(append_flush(&j, "a\n"), 0);

	CHECK_INT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	CHECK_INT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	errno = 0;
	CHECK_INT_EQ(journal_probe(&j, 8192), -1);
	CHECK_INT_EQ(errno, EFBIG);
	CHECK_INT_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	CHECK(!exists(tpath("probe/.probe")));

	j.inject_errno = ENOSPC;
	errno = 0;
	CHECK_INT_EQ(journal_probe(&j, 8192), -1);
	CHECK_INT_EQ(errno, ENOSPC);
	j.inject_errno = 0;

	CHECK_INT_EQ(journal_probe(&j, 8192), 0);
	CHECK(!exists(tpath("probe/.probe")));
	CHECK_FILE(tpath("probe/events.jsonl"), "a\n");
	CHECK_INT_EQ(j.durable_len, 2);

	/* not with a batch pending */
	CHECK_INT_EQ(journal_append(&j, "b\n", 2), 0);
	CHECK_INT_EQ(journal_probe(&j, 8192), -1);
	CHECK_INT_EQ(append_flush(&j, ""), 0);
	CHECK_FILE(tpath("probe/events.jsonl"), "a\nb\n");
	journal_close(&j);
}

/*
 * journal_rotate
 */
static void
test_rotate(bool fsync)
{
	Journal		j;
	char		dir[PATH_MAX];
	char		file[PATH_MAX];
	char		name[JOURNAL_NAME_MAX];
	char		first[JOURNAL_NAME_MAX];

	strcpy(dir, tpath("rotate-%d", fsync));
	strcpy(file, tpath("rotate-%d/events.jsonl", fsync));
	CHECK_INT_EQ(journal_open(&j, dir, fsync), 0);

	/* nothing to rotate: no file, then an empty one */
	name[0] = '\0';
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 0);
	CHECK_STR_EQ(name, "");
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_INT_EQ(file_size(file), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 0);
	CHECK_INT_EQ(file_size(file), 0);

	/* a non-empty journal */
	CHECK_INT_EQ(append_flush(&j, "one\n"), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_SHAPE(name);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000001.jsonl");
	CHECK(!exists(file));
	CHECK_FILE(tpath("rotate-%d/%s", fsync, name), "one\n");
	CHECK(journal_is_empty(&j));
	CHECK_INT_EQ(j.fd, -1);
	CHECK_INT_EQ(j.durable_len, 0);
	strcpy(first, name);

	/* empty again */
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 0);

	/* the next file starts afresh */
	CHECK_INT_EQ(append_flush(&j, "two\n"), 0);
	CHECK_FILE(file, "two\n");
	CHECK_INT_EQ(j.durable_len, 4);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000002.jsonl");
	CHECK(strcmp(name, first) > 0);
	CHECK_FILE(tpath("rotate-%d/%s", fsync, name), "two\n");
	CHECK_FILE(tpath("rotate-%d/%s", fsync, first), "one\n");

	/* a pending (unflushed) batch is not lost by a rotation */
	CHECK_INT_EQ(journal_append(&j, "three\n", 6), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_FILE(file, "three\n");
	journal_close(&j);
}

/*
 * A journal left by an earlier run, perhaps with a torn last line, is
 * rotated before anything is appended.
 */
static void
test_leftover(bool fsync)
{
	Journal		j;
	char		dir[PATH_MAX];
	char		file[PATH_MAX];
	static const char torn[] = "{\"userId\":\"u\",\"value\":1}\n{\"userId\":\"to";
	char		name[JOURNAL_NAME_MAX];
	FILE	   *f;

	strcpy(dir, tpath("leftover-%d", fsync));
	strcpy(file, tpath("leftover-%d/events.jsonl", fsync));
	CHECK_INT_EQ(mkdir(dir, 0700), 0);
	f = fopen(file, "w");
	CHECK(f != NULL);
	fputs(torn, f);
	fclose(f);

	CHECK_INT_EQ(journal_open(&j, dir, fsync), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_SHAPE(name);
	CHECK(!exists(file));
	CHECK_FILE(tpath("leftover-%d/%s", fsync, name), torn);

	/* the next event starts a file of its own */
	CHECK_INT_EQ(append_flush(&j, "{\"b\":2}\n"), 0);
	CHECK_FILE(file, "{\"b\":2}\n");
	CHECK_FILE(tpath("leftover-%d/%s", fsync, name), torn);
	journal_close(&j);

	/* an empty leftover is left alone, and appended to */
	rm_rf(dir);
	CHECK_INT_EQ(mkdir(dir, 0700), 0);
	write_file(file, "", 0);
	CHECK_INT_EQ(journal_open(&j, dir, fsync), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 0);
	CHECK_INT_EQ(file_size(file), 0);
	CHECK_INT_EQ(append_flush(&j, "x\n"), 0);
	CHECK_FILE(file, "x\n");
	journal_close(&j);
}

/*
 * Names: they never repeat and sort in creation order, whatever the clock
 * does.
 */
static void
test_names(void)
{
	Journal		j;
	static const time_t clock[] = {
		T0, T0, T0 - 3600, T0 - 365 * 86400, 0, T0 + 1, T0 + 1, T0 - 1,
		T0 + 86400, T0
	};
	static const char *const stamps[] = {
		T0_STAMP, T0_STAMP, T0_STAMP, T0_STAMP, T0_STAMP,
		"20261122T050001Z", "20261122T050001Z", "20261122T050001Z",
		"20261123T050000Z", "20261123T050000Z"
	};
	char		prev[JOURNAL_NAME_MAX];
	char		name[JOURNAL_NAME_MAX];
	char		want[JOURNAL_NAME_MAX];

	CHECK_INT_EQ(journal_open(&j, tpath("names"), false), 0);

	prev[0] = '\0';
	for (size_t i = 0; i < sizeof(clock) / sizeof(clock[0]); i++)
	{
		journal_make_name(&j, clock[i], name);
		CHECK_SHAPE(name);
		snprintf(want, sizeof(want), "events-%s-%010zu.jsonl", stamps[i], i + 1);
		CHECK_STR_EQ(name, want);
		CHECK_MSG(strcmp(name, prev) > 0, "\"%s\" sorts after \"%s\"", name, prev);
		CHECK(journal_is_archive_name(name));
		strcpy(prev, name);
	}
	journal_close(&j);

	/* the epoch, in a fresh journal */
	CHECK_INT_EQ(journal_open(&j, tpath("names-epoch"), false), 0);
	journal_make_name(&j, 0, name);
	CHECK_STR_EQ(name, "events-19700101T000000Z-0000000001.jsonl");
	journal_close(&j);

	/* rotations while the clock steps back */
	CHECK_INT_EQ(journal_open(&j, tpath("names-rotate"), false), 0);
	prev[0] = '\0';
	for (int i = 0; i < 5; i++)
	{
		CHECK_INT_EQ(append_flush(&j, "e\n"), 0);
		CHECK_INT_EQ(journal_rotate(&j, T0 + 100 - 30 * i, name), 1);
		CHECK_SHAPE(name);
		CHECK_MSG(strcmp(name, prev) > 0, "\"%s\" sorts after \"%s\"", name, prev);
		CHECK(strncmp(name, "events-20261122T050140Z-", 24) == 0);
		strcpy(prev, name);
	}
	/* the queue gives them back in creation order */
	CHECK_INT_EQ(next_in(tpath("names-rotate"), name), 1);
	CHECK_STR_EQ(name, "events-20261122T050140Z-0000000001.jsonl");
	journal_close(&j);
}

/*
 * journal_note_name: later names sort after a noted one and do not reuse
 * its sequence number; names of other shapes are ignored.
 */
static void
test_note_name(void)
{
	Journal		j;
	char		name[JOURNAL_NAME_MAX];
	static const char *const ignored[] = {
		"events-20990101T000000Z-9999999999.jsonl.tmp",
		"events-20990101T000000Z-.jsonl",
		"events-20990101T000000Z-123456789012345678901.jsonl",	/* 21 digits */
		"events-20990101T000000Z-0000009999-.jsonl",
		"events-20990101T000000Z-0000009999-ABC.jsonl",
		"events-20990101T000000Z-0000009999.w.jsonl",
		"events-20990101T000000Z-0000009999.wx.jsonl",
		"events-2099010AT000000Z-0000009999.jsonl",
		"events-20990101X000000Z-0000009999.jsonl",
		"events-20990101T000000X-0000009999.jsonl",
		"events-20990101T000000Z_0000009999.jsonl",
		"events-20990101T00000 Z-0000009999.jsonl",
		"events-20990101T000000Z-00000099x9.jsonl",
		"events-20990101T000000Z--000009999.jsonl",
		"Events-20990101T000000Z-0000009999.jsonl",
		"events_20990101T000000Z-0000009999.jsonl",
		"events-20990101T000000Z-0000009999.jsonX",
		"events-20990101T000000Z-0000009999xjsonl",
		"events-20990101T000000Z-0000009999",
		"events.jsonl",
		"events-mydrop.jsonl",
		"processed",
		".",
		""
	};

	CHECK_INT_EQ(journal_open(&j, tpath("note"), false), 0);

	journal_note_name(&j, "events-20300101T000000Z-0000000042.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20300101T000000Z-0000000043.jsonl");

	/* an older name changes nothing */
	journal_note_name(&j, "events-20200101T000000Z-0000000007.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20300101T000000Z-0000000044.jsonl");

	/* an older stamp with a larger sequence: the sequence is taken */
	journal_note_name(&j, "events-20200101T000000Z-0000000100.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20300101T000000Z-0000000101.jsonl");

	/* a newer stamp with a smaller sequence: the stamp is taken */
	journal_note_name(&j, "events-20310101T000000Z-0000000001.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20310101T000000Z-0000000102.jsonl");
	CHECK(strcmp(name, "events-20310101T000000Z-0000000001.jsonl") > 0);

	/* names of other shapes are ignored */
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		journal_note_name(&j, ignored[i]);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20310101T000000Z-0000000103.jsonl");

	/* a name the journal made itself */
	journal_note_name(&j, name);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20310101T000000Z-0000000104.jsonl");

	/* a later clock moves the stamp on; the sequence keeps growing */
	journal_make_name(&j, (time_t) 1956528000, name);	/* 2032-01-01 */
	CHECK_STR_EQ(name, "events-20320101T000000Z-0000000105.jsonl");

	/* names of workers: a random part and a worker number */
	journal_note_name(&j, "events-20320101T000000Z-0000000200-00ff1a2b3c4d5e6f.w3.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20320101T000000Z-0000000201.jsonl");
	journal_note_name(&j, "events-20320101T000000Z-0000000300-0123456789abcdef.jsonl");
	journal_note_name(&j, "events-20320101T000000Z-0000000400.w1.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20320101T000000Z-0000000401.jsonl");

	/*
	 * The sequence outgrows ten digits (once parsed as exactly ten, which
	 * made the next name after ...-9999999999 repeat an ingested one).
	 */
	journal_note_name(&j, "events-20320101T000000Z-9999999999.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20320101T000000Z-10000000000.jsonl");
	journal_note_name(&j, name);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20320101T000000Z-10000000001.jsonl");
	/* short sequences are names of ours too */
	journal_note_name(&j, "events-20320101T000000Z-20000000000.jsonl");
	journal_note_name(&j, "events-20320101T000000Z-7.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20320101T000000Z-20000000001.jsonl");
	/* a huge dropped sequence is ignored rather than exhaust ours */
	journal_note_name(&j, "events-20320101T000000Z-18446744073709551615.jsonl");
	journal_note_name(&j, "events-20320101T000000Z-1000000000000000001.jsonl");
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-20320101T000000Z-20000000002.jsonl");
	journal_close(&j);

	/* a tagged journal puts its tag after the sequence */
	CHECK_INT_EQ(journal_open_tagged(&j, tpath("note-tag"), false,
									 "-00ff1a2b3c4d5e6f.w2"), 0);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000001-00ff1a2b3c4d5e6f.w2.jsonl");
	CHECK(journal_is_archive_name(name));
	journal_note_name(&j, name);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000002-00ff1a2b3c4d5e6f.w2.jsonl");
	journal_close(&j);
}

/*
 * journal_open learns the names already used in the directory and in
 * processed/.
 */
static void
test_open_continues(void)
{
	Journal		j;
	char		name[JOURNAL_NAME_MAX];

	CHECK_INT_EQ(mkdir(tpath("cont"), 0700), 0);
	CHECK_INT_EQ(mkdir(tpath("cont/processed"), 0700), 0);
	write_file(tpath("cont/events-20250101T000000Z-0000000007.jsonl"), "", 0);
	write_file(tpath("cont/processed/events-20240101T000000Z-0000000012.jsonl"), "", 0);
	write_file(tpath("cont/events-mydrop.jsonl"), "", 0);
	write_file(tpath("cont/processed/events-zzz.jsonl"), "", 0);
	write_file(tpath("cont/events-20990101T000000Z-0000000099.jsonl.tmp"), "", 0);
	CHECK_INT_EQ(journal_open(&j, tpath("cont"), false), 0);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000013.jsonl");
	journal_close(&j);

	/* a stamp in processed/ later than the clock */
	CHECK_INT_EQ(mkdir(tpath("cont2"), 0700), 0);
	CHECK_INT_EQ(mkdir(tpath("cont2/processed"), 0700), 0);
	write_file(tpath("cont2/processed/events-20300101T000000Z-0000000003.jsonl"), "", 0);
	write_file(tpath("cont2/events-20250101T000000Z-0000000005.jsonl"), "", 0);
	CHECK_INT_EQ(journal_open(&j, tpath("cont2"), false), 0);
	CHECK_INT_EQ(append_flush(&j, "x\n"), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_STR_EQ(name, "events-20300101T000000Z-0000000006.jsonl");
	CHECK(strcmp(name, "events-20300101T000000Z-0000000003.jsonl") > 0);
	journal_close(&j);

	/* names made in an earlier run, archived or not, are not reused */
	CHECK_INT_EQ(journal_open(&j, tpath("cont3"), false), 0);
	CHECK_INT_EQ(append_flush(&j, "a\n"), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_INT_EQ(journal_archive_done(&j, name, NULL), 0);
	CHECK_INT_EQ(append_flush(&j, "b\n"), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000002.jsonl");
	journal_close(&j);
	CHECK_INT_EQ(journal_open(&j, tpath("cont3"), false), 0);
	CHECK_INT_EQ(append_flush(&j, "c\n"), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0 - 60, name), 1);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000003.jsonl");
	CHECK_INT_EQ(journal_archive_done(&j, "events-" T0_STAMP "-0000000002.jsonl", NULL), 0);
	journal_close(&j);
	CHECK_INT_EQ(journal_open(&j, tpath("cont3"), false), 0);
	journal_make_name(&j, T0, name);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000004.jsonl");
	journal_close(&j);
}

/*
 * The archive queue: journal_is_archive_name, journal_next_archive and
 * journal_archive_done.
 */
static void
test_archive_queue(void)
{
	char		name[JOURNAL_NAME_MAX];
	char		longname[300];

	CHECK(journal_is_archive_name("events-a.jsonl"));
	CHECK(journal_is_archive_name("events-" T0_STAMP "-0000000001.jsonl"));
	CHECK(journal_is_archive_name("events-my drop.jsonl"));
	CHECK(!journal_is_archive_name("events.jsonl"));
	CHECK(!journal_is_archive_name("events-.jsonl"));
	CHECK(!journal_is_archive_name("events-a.json"));
	CHECK(!journal_is_archive_name("events-a.jsonl.tmp"));
	CHECK(!journal_is_archive_name("events-a.jsonl~"));
	CHECK(!journal_is_archive_name("Events-a.jsonl"));
	CHECK(!journal_is_archive_name("xevents-a.jsonl"));
	CHECK(!journal_is_archive_name("events-a"));
	CHECK(!journal_is_archive_name("a.jsonl"));
	CHECK(!journal_is_archive_name(".jsonl"));
	CHECK(!journal_is_archive_name("events-"));
	CHECK(!journal_is_archive_name("processed"));
	CHECK(!journal_is_archive_name(""));
	/* names of 255 bytes are fine, longer ones are not */
	memset(longname, 'x', sizeof(longname));
	memcpy(longname, "events-", 7);
	strcpy(longname + 255 - 6, ".jsonl");
	CHECK_INT_EQ(strlen(longname), 255);
	CHECK(journal_is_archive_name(longname));
	memset(longname, 'x', sizeof(longname));
	memcpy(longname, "events-", 7);
	strcpy(longname + 256 - 6, ".jsonl");
	CHECK(!journal_is_archive_name(longname));

	/* journal_next_archive */
	CHECK_INT_EQ(mkdir(tpath("queue"), 0700), 0);
	CHECK_INT_EQ(mkdir(tpath("queue/processed"), 0700), 0);
	CHECK_INT_EQ(next_in(tpath("queue"), name), 0);
	write_file(tpath("queue/events.jsonl"), "live\n", 5);
	write_file(tpath("queue/events-.jsonl"), "", 0);
	write_file(tpath("queue/other.txt"), "", 0);
	write_file(tpath("queue/events-0.jsonl.tmp"), "", 0);
	write_file(tpath("queue/xevents-0.jsonl"), "", 0);
	write_file(tpath("queue/processed/events-0.jsonl"), "", 0);
	/* any type is returned: journal_open_archive sorts them out */
	CHECK_INT_EQ(mkdir(tpath("queue/events-00.jsonl"), 0700), 0);	/* a directory */
	CHECK_INT_EQ(next_in(tpath("queue"), name), 1);
	CHECK_STR_EQ(name, "events-00.jsonl");
	CHECK_INT_EQ(rmdir(tpath("queue/events-00.jsonl")), 0);
	CHECK_INT_EQ(next_in(tpath("queue"), name), 0);
	write_file(tpath("queue/events-b.jsonl"), "b\n", 2);
	write_file(tpath("queue/events-a.jsonl"), "a\n", 2);
	write_file(tpath("queue/events-" T0_STAMP "-0000000002.jsonl"), "", 0);
	write_file(tpath("queue/events-" T0_STAMP "-0000000001.jsonl"), "", 0);
	CHECK_INT_EQ(next_in(tpath("queue"), name), 1);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000001.jsonl");
	CHECK_INT_EQ(unlink(tpath("queue/events-" T0_STAMP "-0000000001.jsonl")), 0);
	CHECK_INT_EQ(next_in(tpath("queue"), name), 1);
	CHECK_STR_EQ(name, "events-" T0_STAMP "-0000000002.jsonl");
	CHECK_INT_EQ(unlink(tpath("queue/events-" T0_STAMP "-0000000002.jsonl")), 0);
	CHECK_INT_EQ(next_in(tpath("queue"), name), 1);
	CHECK_STR_EQ(name, "events-a.jsonl");

	/* journal_archive_done moves it into processed/ */
	{
		Journal		j;

		CHECK_INT_EQ(journal_open(&j, tpath("queue"), false), 0);
		CHECK_INT_EQ(journal_archive_done(&j, name, NULL), 0);
		CHECK(!exists(tpath("queue/events-a.jsonl")));
		CHECK_FILE(tpath("queue/processed/events-a.jsonl"), "a\n");
		CHECK_INT_EQ(next_in(tpath("queue"), name), 1);
		CHECK_STR_EQ(name, "events-b.jsonl");
		j.fsync = true;
		CHECK_INT_EQ(journal_archive_done(&j, name, NULL), 0);
		CHECK(!exists(tpath("queue/events-b.jsonl")));
		CHECK_FILE(tpath("queue/processed/events-b.jsonl"), "b\n");
		CHECK_INT_EQ(next_in(tpath("queue"), name), 0);
		CHECK_FILE(tpath("queue/events.jsonl"), "live\n");

		errno = 0;
		CHECK_INT_EQ(journal_archive_done(&j, "events-nosuch.jsonl", NULL), -1);
		CHECK_INT_EQ(errno, ENOENT);
		j.fsync = false;
		errno = 0;
		CHECK_INT_EQ(journal_archive_done(&j, "events-nosuch.jsonl", NULL), -1);
		CHECK_INT_EQ(errno, ENOENT);

		/* a rotated file goes the same way */
		CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);	/* the leftover */
		CHECK_INT_EQ(next_in(tpath("queue"), name), 1);
		CHECK_SHAPE(name);
		CHECK_INT_EQ(journal_archive_done(&j, name, NULL), 0);
		CHECK_FILE(tpath("queue/processed/%s", name), "live\n");
		CHECK_INT_EQ(next_in(tpath("queue"), name), 0);
		journal_close(&j);
	}

	errno = 0;
	CHECK_INT_EQ(next_in(tpath("nosuch"), name), -1);
	CHECK_INT_EQ(errno, ENOENT);
}

/*
 * The streaming reader
 */
typedef struct
{
	JournalLine kind;
	const char *data;			/* NULL: not checked */
	size_t		len;
} WantLine;

/*
 * check_lines reads path and checks every line (kind, number, contents) and
 * the end of file.  The lines of a file count as one check; the first
 * mismatch is reported.
 */
/*
 * read_whole reads a file into malloc'd memory (*len bytes); NULL on
 * failure.
 */
static char *
read_whole(const char *path, size_t *len)
{
	FILE	   *f = fopen(path, "rb");
	char	   *data;
	long		n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t) n + 1);
	if (data != NULL && fread(data, 1, (size_t) n, f) != (size_t) n)
	{
		free(data);
		data = NULL;
	}
	fclose(f);
	*len = (size_t) n;
	return data;
}

/*
 * A JournalSource over memory that hands out at most block bytes a call,
 * as a journal segment in the database is handed out a few rows at a time:
 * blocks end anywhere, in a line, between "\r" and "\n".
 */
typedef struct MemSource
{
	const char *data;
	size_t		len;
	size_t		pos;
	size_t		block;
	int			rewinds;
} MemSource;

static ssize_t
mem_read(void *arg, char *into, size_t room)
{
	MemSource  *m = arg;
	size_t		n = m->len - m->pos;

	if (n > room)
		n = room;
	if (n > m->block)
		n = m->block;
	memcpy(into, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t) n;
}

static int
mem_rewind(void *arg)
{
	MemSource  *m = arg;

	m->pos = 0;
	m->rewinds++;
	return 0;
}

/* open_mem opens r on len bytes at data through m, block bytes a read */
static int
open_mem(JournalReader *r, MemSource *m, const char *data, size_t len,
		 size_t block, size_t max_line)
{
	JournalSource source = {mem_read, mem_rewind, m};

	memset(m, 0, sizeof(MemSource));
	m->data = data;
	m->len = len;
	m->block = block;
	return jreader_open_source(r, &source, max_line);
}

/*
 * check_lines_in reads path, from the file or (in_memory) from its bytes
 * read into memory first and handed out 7 bytes at a time by a source, and
 * checks every line.
 */
static void
check_lines_in(const char *path, bool in_memory, size_t max_line,
			   const WantLine *want, int nwant, const char *func, int line)
{
	JournalReader r;
	const char *data;
	size_t		len;
	bool		ok = true;
	char	   *mem = NULL;
	size_t		mem_len = 0;
	MemSource	source;

	if (in_memory)
	{
		mem = read_whole(path, &mem_len);
		if (!unit_check(mem != NULL &&
						open_mem(&r, &source, mem, mem_len, 7, max_line) == 0,
						__FILE__, line, func, "jreader_open_source(\"%s\")", path))
		{
			free(mem);
			return;
		}
	}
	else if (!unit_check(jreader_open(&r, path, max_line) == 0, __FILE__, line,
						 func, "jreader_open(\"%s\")", path))
		return;
	for (int i = 0; i < nwant && ok; i++)
	{
		JournalLine kind;

		/* JL_MORE: a block of a too-long line was skipped; no line yet */
		while ((kind = jreader_next(&r, &data, &len)) == JL_MORE)
			;

		if (kind != want[i].kind)
			ok = unit_check(false, __FILE__, line, func,
							"line %d: kind %d (got %d)", i + 1,
							(int) want[i].kind, (int) kind);
		else if (r.lineno != (uint64_t) i + 1)
			ok = unit_check(false, __FILE__, line, func,
							"line %d: lineno (got %llu)", i + 1,
							(unsigned long long) r.lineno);
		else if (want[i].data != NULL &&
				 (len != want[i].len || memcmp(data, want[i].data, len) != 0))
		{
			char		desc[64];

			snprintf(desc, sizeof(desc), "line %d: contents", i + 1);
			ok = unit_check_mem(data, len, want[i].data, want[i].len,
								__FILE__, line, func, desc);
		}
	}
	if (ok)
	{
		unit_check(true, __FILE__, line, func, "all lines");
		JournalLine kind;

		while ((kind = jreader_next(&r, &data, &len)) == JL_MORE)
			;
		unit_check(kind == JL_EOF, __FILE__, line,
				   func, "JL_EOF after line %d", nwant);
		/* EOF stays EOF */
		unit_check(jreader_next(&r, &data, &len) == JL_EOF, __FILE__, line,
				   func, "JL_EOF again");
		unit_check(r.lineno == (uint64_t) nwant, __FILE__, line, func,
				   "lineno at EOF is %d (got %llu)", nwant,
				   (unsigned long long) r.lineno);
	}
	jreader_close(&r);
	unit_check(r.fd == -1 && r.buf == NULL && r.source.read == NULL, __FILE__, line,
			   func, "jreader_close resets the reader");
	free(mem);
}

/*
 * check_lines reads path by lines and checks each (kind, number, contents)
 * and the end of file: from the file, then from the same bytes in memory,
 * as a journal segment kept in the database is read.  The lines of a file
 * count as one check per way; the first mismatch is reported.
 */
static void
check_lines(const char *path, size_t max_line, const WantLine *want,
			int nwant, const char *func, int line)
{
	check_lines_in(path, false, max_line, want, nwant, func, line);
	check_lines_in(path, true, max_line, want, nwant, func, line);
}

#define L(s)		{JL_LINE, (s), sizeof(s) - 1}
#define LONG(s)		{JL_TOO_LONG, (s), sizeof(s) - 1}
#define CHECK_LINES(path, max, ...) \
	do { \
		static const WantLine want_[] = {__VA_ARGS__}; \
		check_lines((path), (max), want_, \
					(int) (sizeof(want_) / sizeof(want_[0])), \
					__func__, __LINE__); \
	} while (0)

static void
test_reader_small(void)
{
	char		p[PATH_MAX];
	JournalReader r;
	const char *data;
	size_t		len;

	strcpy(p, tpath("reader.txt"));

	/* empty file */
	write_file(p, "", 0);
	check_lines(p, 16, NULL, 0, __func__, __LINE__);

	/* with and without a final newline; empty lines */
	write_file(p, "a\nbb\n\nccc", 9);
	CHECK_LINES(p, 16, L("a"), L("bb"), L(""), L("ccc"));
	write_file(p, "a\nbb\n\nccc\n", 10);
	CHECK_LINES(p, 16, L("a"), L("bb"), L(""), L("ccc"));
	write_file(p, "x\n", 2);
	CHECK_LINES(p, 16, L("x"));
	write_file(p, "\n", 1);
	CHECK_LINES(p, 16, L(""));
	write_file(p, "\n\n\n", 3);
	CHECK_LINES(p, 16, L(""), L(""), L(""));
	write_file(p, "x", 1);
	CHECK_LINES(p, 16, L("x"));

	/* CRLF; a lone CR inside a line stays */
	write_file(p, "a\r\nb\r\n\r\nc\rd\n", 12);
	CHECK_LINES(p, 16, L("a"), L("b"), L(""), L("c\rd"));
	write_file(p, "a\r\nb", 4);
	CHECK_LINES(p, 16, L("a"), L("b"));

	/* bytes are passed through */
	write_file(p, "a\0b\n\xff\n", 6);
	CHECK_LINES(p, 16, L("a\0b"), L("\xff"));

	/*
	 * max_line 16: lines within one buffer.  A too-long line gives its
	 * first 16 bytes and the following line is read normally.
	 */
	{
		static const char text[] =
			"short\n"
			"LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL\n"	/* 40 */
			"after\n"
			"MMMMMMMMMMMMMMMM\n"	/* 16: fits */
			"NNNNNNNNNNNNNNNNN\n"	/* 17 */
			"OOOOOOOOOOOOOOOO\r\n"	/* 16 and CRLF: fits */
			"PPPPPPPPPPPPPPPPP\r\n"	/* 17 and CRLF */
			"QQQQQQQQQQQQQQQQ\r\r\n"	/* 16, CR, CRLF */
			"\n"
			"end";

		write_file(p, text, sizeof(text) - 1);
		CHECK_LINES(p, 16,
					L("short"),
					LONG("LLLLLLLLLLLLLLLL"),
					L("after"),
					L("MMMMMMMMMMMMMMMM"),
					LONG("NNNNNNNNNNNNNNNN"),
					L("OOOOOOOOOOOOOOOO"),
					LONG("PPPPPPPPPPPPPPPP"),
					LONG("QQQQQQQQQQQQQQQQ"),
					L(""),
					L("end"));
	}

	/* a too-long last line without a newline */
	write_file(p, "a\nZZZZZZZZZZZZZZZZZZZZ", 22);
	CHECK_LINES(p, 16, L("a"), LONG("ZZZZZZZZZZZZZZZZ"));
	write_file(p, "ZZZZZZZZZZZZZZZZZ", 17);
	CHECK_LINES(p, 16, LONG("ZZZZZZZZZZZZZZZZ"));
	write_file(p, "ZZZZZZZZZZZZZZZZ", 16);
	CHECK_LINES(p, 16, L("ZZZZZZZZZZZZZZZZ"));
	write_file(p, "ZZZZZZZZZZZZZZZZ\r", 17);
	CHECK_LINES(p, 16, L("ZZZZZZZZZZZZZZZZ"));

	/* errors */
	errno = 0;
	CHECK_INT_EQ(jreader_open(&r, tpath("nosuch.txt"), 16), -1);
	CHECK_INT_EQ(errno, ENOENT);
	jreader_close(&r);			/* harmless after a failed open */
	CHECK_INT_EQ(jreader_open(&r, tmpdir, 16), 0);	/* a directory */
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_ERROR);
	jreader_close(&r);
	jreader_close(&r);			/* and twice */
}

/* fill_line writes a recognizable line of len bytes for line number n */
static void
fill_line(char *out, size_t len, int n)
{
	char		tag[32];
	int			taglen = snprintf(tag, sizeof(tag), "<%d>", n);

	for (size_t i = 0; i < len; i++)
		out[i] = (char) ('a' + (n + i) % 26);
	memcpy(out, tag, (size_t) taglen < len ? (size_t) taglen : len);
}

static void
test_reader_large(void)
{
	const size_t max = 64 * 1024;
	char		p[PATH_MAX];
	char	   *text;
	size_t		o;
	WantLine	want[8];
	char	   *lines[8];
	static const size_t lens[] = {5, 5000000, 6, 64 * 1024, 64 * 1024 + 1,
	3 * 1000 * 1000 + 7};

	/*
	 * Long lines spanning several buffer refills (the buffer holds
	 * max_line + 1 MB): the first max_line bytes, then the next line.
	 */
	strcpy(p, tpath("reader-large.txt"));
	text = malloc(9 * 1000 * 1000);
	o = 0;
	for (int i = 0; i < 6; i++)
	{
		lines[i] = text + o;
		fill_line(text + o, lens[i], i);
		o += lens[i];
		if (i < 5)
			text[o++] = '\n';	/* the last one ends without a newline */
		want[i].kind = lens[i] > max ? JL_TOO_LONG : JL_LINE;
		want[i].data = lines[i];
		want[i].len = lens[i] > max ? max : lens[i];
	}
	write_file(p, text, o);
	check_lines(p, max, want, 6, __func__, __LINE__);

	/* the same with CRLF and a newline at the end */
	o = 0;
	for (int i = 0; i < 6; i++)
	{
		lines[i] = text + o;
		fill_line(text + o, lens[i], i);
		o += lens[i];
		text[o++] = '\r';
		text[o++] = '\n';
		want[i].data = lines[i];
	}
	write_file(p, text, o);
	check_lines(p, max, want, 6, __func__, __LINE__);
	free(text);

	/*
	 * Many lines of all lengths up to max_line and just beyond, so that
	 * buffer refills fall inside short and long lines, inside a CRLF and
	 * right after a newline.
	 */
	{
		static const size_t pattern[] = {
			64 * 1024, 64 * 1024 + 1, 10, 0, 64 * 1024 - 1, 70000, 1,
			64 * 1024, 333, 64 * 1024 + 2, 17
		};
		int			n = 220;
		size_t		total = 0;
		WantLine   *wl = malloc(sizeof(WantLine) * (size_t) n);

		for (int i = 0; i < n; i++)
			total += pattern[i % 11] + 2;
		text = malloc(total);
		o = 0;
		for (int i = 0; i < n; i++)
		{
			size_t		len = pattern[i % 11];

			wl[i].data = text + o;
			wl[i].kind = len > max ? JL_TOO_LONG : JL_LINE;
			wl[i].len = len > max ? max : len;
			fill_line(text + o, len, i);
			o += len;
			if (i % 3 == 0)
				text[o++] = '\r';
			text[o++] = '\n';
		}
		write_file(p, text, o);
		check_lines(p, max, wl, n, __func__, __LINE__);
		free(text);
		free(wl);
	}

	/*
	 * A CRLF line of exactly max_line bytes whose "\r\n" is split by a
	 * buffer refill: the first read fills max_line + 1 MB bytes, which here
	 * ends right after the '\r'.
	 */
	{
		size_t		cap = 16 + 1024 * 1024;
		size_t		nfill = (cap - 17) / 16;
		size_t		rest = (cap - 17) - nfill * 16;
		WantLine   *wl = malloc(sizeof(WantLine) * (nfill + 4));
		int			nl = 0;

		text = malloc(cap + 64);
		o = 0;
		for (size_t i = 0; i < nfill; i++)
		{
			memcpy(text + o, "abcdefghijklmno\n", 16);
			wl[nl++] = (WantLine) {JL_LINE, "abcdefghijklmno", 15};
			o += 16;
		}
		if (rest > 0)
		{
			memset(text + o, 'r', rest - 1);
			text[o + rest - 1] = '\n';
			wl[nl++] = (WantLine) {JL_LINE, text + o, rest - 1};
			o += rest;
		}
		CHECK_INT_EQ(o, cap - 17);
		memcpy(text + o, "0123456789abcdef\r\nafter\n", 24);
		CHECK(text[cap - 1] == '\r' && text[cap] == '\n');
		wl[nl++] = (WantLine) {JL_LINE, "0123456789abcdef", 16};
		wl[nl++] = (WantLine) {JL_LINE, "after", 5};
		o += 24;
		write_file(p, text, o);
		check_lines(p, 16, wl, nl, __func__, __LINE__);

		/* the same split, but the line goes on after the '\r': too long */
		o -= 24;
		memcpy(text + o, "0123456789abcdef\rY\nafter\n", 25);
		o += 25;
		wl[nl - 2] = (WantLine) {JL_TOO_LONG, "0123456789abcdef", 16};
		write_file(p, text, o);
		check_lines(p, 16, wl, nl, __func__, __LINE__);
		free(text);
		free(wl);
	}
}

/*
 * Files in the archive queue that are not plain files, and moves that
 * never replace a file: journal_open_archive, journal_set_aside,
 * journal_archive_done, journal_rename_archive, journal_prune_processed.
 */
static void
test_archive_files(void)
{
	Journal		j;
	int			fd = -1;
	const char *why = NULL;
	char		name[JOURNAL_NAME_MAX];
	char		final_name[JOURNAL_NAME_MAX];

	CHECK_INT_EQ(journal_open(&j, tpath("files"), true), 0);

	/* a regular file opens */
	write_file(tpath("files/events-a.jsonl"), "a\n", 2);
	CHECK_INT_EQ(journal_open_archive(&j, "events-a.jsonl", &fd, &why),
				 ARCHIVE_OPENED);
	CHECK(fd >= 0);
	close(fd);

	/* a FIFO: never opened blocking, never read */
	CHECK_INT_EQ(mkfifo(tpath("files/events-fifo.jsonl"), 0600), 0);
	CHECK_INT_EQ(journal_open_archive(&j, "events-fifo.jsonl", &fd, &why),
				 ARCHIVE_UNUSABLE);
	CHECK_INT_EQ(fd, -1);
	CHECK_STR_EQ(why, "it is not a regular file");

	/* a symbolic link, even to a regular file */
	CHECK_INT_EQ(symlink(tpath("files/events-a.jsonl"),
						 tpath("files/events-link.jsonl")), 0);
	CHECK_INT_EQ(journal_open_archive(&j, "events-link.jsonl", &fd, &why),
				 ARCHIVE_UNUSABLE);
	CHECK_STR_EQ(why, "it is a symbolic link");

	/* a directory */
	CHECK_INT_EQ(mkdir(tpath("files/events-dir.jsonl"), 0700), 0);
	CHECK_INT_EQ(journal_open_archive(&j, "events-dir.jsonl", &fd, &why),
				 ARCHIVE_UNUSABLE);
	CHECK_STR_EQ(why, "it is a directory");

	/* gone */
	CHECK_INT_EQ(journal_open_archive(&j, "events-gone.jsonl", &fd, &why),
				 ARCHIVE_VANISHED);

	/* set aside into failed/, which is made on demand, never replacing */
	CHECK_INT_EQ(journal_set_aside(&j, "events-fifo.jsonl", final_name), 0);
	CHECK_STR_EQ(final_name, "events-fifo.jsonl");
	CHECK(!exists(tpath("files/events-fifo.jsonl")));
	CHECK(exists(tpath("files/failed/events-fifo.jsonl")));
	CHECK_INT_EQ(mkfifo(tpath("files/events-fifo.jsonl"), 0600), 0);
	CHECK_INT_EQ(journal_set_aside(&j, "events-fifo.jsonl", final_name), 0);
	CHECK_STR_EQ(final_name, "events-fifo.1.jsonl");
	CHECK(exists(tpath("files/failed/events-fifo.jsonl")));
	CHECK(exists(tpath("files/failed/events-fifo.1.jsonl")));
	CHECK_INT_EQ(journal_set_aside(&j, "events-link.jsonl", final_name), 0);
	CHECK_INT_EQ(journal_set_aside(&j, "events-dir.jsonl", final_name), 0);
	CHECK(exists(tpath("files/failed/events-dir.jsonl")));
	CHECK_INT_EQ(next_in(tpath("files"), name), 1);
	CHECK_STR_EQ(name, "events-a.jsonl");

	/* processed/ never replaces a file either */
	CHECK_INT_EQ(journal_archive_done(&j, "events-a.jsonl", final_name), 0);
	CHECK_STR_EQ(final_name, "events-a.jsonl");
	write_file(tpath("files/events-a.jsonl"), "second\n", 7);
	CHECK_INT_EQ(journal_archive_done(&j, "events-a.jsonl", final_name), 0);
	CHECK_STR_EQ(final_name, "events-a.1.jsonl");
	write_file(tpath("files/events-a.jsonl"), "third\n", 6);
	CHECK_INT_EQ(journal_archive_done(&j, "events-a.jsonl", final_name), 0);
	CHECK_STR_EQ(final_name, "events-a.2.jsonl");
	CHECK_FILE(tpath("files/processed/events-a.jsonl"), "a\n");
	CHECK_FILE(tpath("files/processed/events-a.1.jsonl"), "second\n");
	CHECK_FILE(tpath("files/processed/events-a.2.jsonl"), "third\n");

	/* a colliding file gets a name of our own */
	write_file(tpath("files/events-a.jsonl"), "fourth\n", 7);
	CHECK_INT_EQ(journal_rename_archive(&j, "events-a.jsonl", name, T0), 0);
	CHECK_SHAPE(name);
	CHECK_FILE(tpath("files/%s", name), "fourth\n");
	CHECK(!exists(tpath("files/events-a.jsonl")));

	/* pruning processed/: by age, and at most the limit per call */
	CHECK_INT_EQ(journal_prune_processed(&j, time(NULL), 3600, 10), 0);
	CHECK_INT_EQ(journal_prune_processed(&j, time(NULL) + 7200, 3600, 2), 2);
	CHECK_INT_EQ(journal_prune_processed(&j, time(NULL), 0, 10), 1);
	CHECK(!exists(tpath("files/processed/events-a.1.jsonl")));
	CHECK(!exists(tpath("files/processed/events-a.jsonl")));
	CHECK(exists(tpath("files/failed/events-dir.jsonl")));
	journal_close(&j);
}

/* collects what on_read sees */
static void
count_read(void *arg, const char *data __attribute__((unused)), size_t len)
{
	*(size_t *) arg += len;
}

/*
 * A too-long line is skipped block by block (JL_MORE), so that a caller
 * can stop at its time limit; jreader_rewind reads the same descriptor
 * again; on_read sees every byte of the first pass.
 */
/* what journal_list reported, as "kind:name:size" lines in name order */
typedef struct Listed
{
	char		lines[16][JOURNAL_NAME_MAX + 32];
	int			n;
} Listed;

static void
note_listed(void *arg, const char *name, JournalFileKind kind, uint64_t size,
			time_t mtime)
{
	Listed	   *l = arg;
	static const char *const kinds[] = {"live", "archived", "set aside",
	"not regular"};

	if (l->n < 16)
		snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s:%s:%llu",
				 kinds[kind], name, (unsigned long long) size);
	CHECK(mtime > 0);
}

static int
cmp_lines(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_list(void)
{
	Journal		j;
	Listed		l = {{{0}}, 0};
	int			files;
	uint64_t	bytes;
	time_t		oldest;

	CHECK_INT_EQ(journal_open(&j, tpath("list"), true), 0);
	CHECK_INT_EQ(journal_append(&j, "abc\n", 4), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	write_file(tpath("list/events-1.jsonl"), "x\ny\n", 4);
	write_file(tpath("list/events-2.jsonl"), "z\n", 2);
	write_file(tpath("list/other.txt"), "no\n", 3);
	CHECK_INT_EQ(mkdir(tpath("list/events-dir.jsonl"), 0700), 0);
	CHECK_INT_EQ(mkdir(tpath("list/" JOURNAL_FAILED), 0700), 0);
	write_file(tpath("list/" JOURNAL_FAILED "/events-0.jsonl"), "bad", 3);
	CHECK_INT_EQ(mkfifo(tpath("list/" JOURNAL_FAILED "/events-f.jsonl"), 0600), 0);

	CHECK_INT_EQ(journal_list(tpath("list"), true, note_listed, &l), 0);
	qsort(l.lines, l.n, sizeof(l.lines[0]), cmp_lines);
	CHECK_INT_EQ(l.n, 6);
	CHECK_STR_EQ(l.lines[0], "archived:events-1.jsonl:4");
	CHECK_STR_EQ(l.lines[1], "archived:events-2.jsonl:2");
	CHECK_STR_EQ(l.lines[2], "live:events.jsonl:4");
	/* named like an archive, not a file: listed, never read */
	CHECK_STR_EQ(l.lines[3], "not regular:events-dir.jsonl:0");
	CHECK_STR_EQ(l.lines[4], "set aside:events-0.jsonl:3");
	CHECK_STR_EQ(l.lines[5], "set aside:events-f.jsonl:0");

	/* without set_aside, failed/ is not read */
	l.n = 0;
	CHECK_INT_EQ(journal_list(tpath("list"), false, note_listed, &l), 0);
	CHECK_INT_EQ(l.n, 4);

	/* the backlog: the archived files only */
	CHECK_INT_EQ(backlog_in(tpath("list"), &files, &bytes, &oldest), 0);
	CHECK_INT_EQ(files, 2);
	CHECK_INT_EQ((int) bytes, 6);
	CHECK(oldest > 0);

	/* ... and not those ingest skips */
	CHECK_INT_EQ(journal_skip(&j, "events-1.jsonl", "test", T0), 1);
	CHECK_INT_EQ(journal_backlog(&j, &files, &bytes, &oldest), 0);
	CHECK_INT_EQ(files, 1);
	CHECK_INT_EQ((int) bytes, 2);

	/* a directory that is not there */
	CHECK_INT_EQ(journal_list(tpath("list-none"), true, note_listed, &l), -1);
	CHECK_INT_EQ(backlog_in(tpath("list-none"), &files, &bytes, &oldest), -1);
	journal_close(&j);
}

/*
 * Entries ingest passes over because they could not be moved:
 * journal_skip, journal_skipped and journal_next_archive's skipping, until
 * the retry time, and only for the very entry skipped.
 */
static void
test_skip(void)
{
	Journal		j;
	char		name[JOURNAL_NAME_MAX];
	const JournalSkip *s;
	time_t		now = time(NULL);

	CHECK_INT_EQ(journal_open(&j, tpath("skip"), false), 0);
	CHECK_INT_EQ(mkdir(tpath("skip/events-0.jsonl"), 0500), 0);
	write_file(tpath("skip/events-1.jsonl"), "a\n", 2);
	write_file(tpath("skip/events-2.jsonl"), "b\n", 2);
	CHECK_INT_EQ(journal_next_archive(&j, now, name), 1);
	CHECK_STR_EQ(name, "events-0.jsonl");

	/* skipped: the next one comes first, until the retry time */
	CHECK_INT_EQ(journal_skip(&j, "events-0.jsonl", "cannot move", now + 60), 1);
	CHECK_INT_EQ(journal_next_archive(&j, now, name), 1);
	CHECK_STR_EQ(name, "events-1.jsonl");
	s = journal_skipped(&j, "events-0.jsonl");
	CHECK(s != NULL);
	CHECK_STR_EQ(s->why, "cannot move");
	CHECK(journal_skipped(&j, "events-1.jsonl") == NULL);
	CHECK_INT_EQ(journal_next_archive(&j, now + 60, name), 1);
	CHECK_STR_EQ(name, "events-0.jsonl");
	/* skipped again: not new (logged once), a new retry time */
	CHECK_INT_EQ(journal_skip(&j, "events-0.jsonl", "still", now + 120), 0);
	CHECK_INT_EQ(journal_next_archive(&j, now + 60, name), 1);
	CHECK_STR_EQ(name, "events-1.jsonl");

	/* several skipped: all passed over; none left */
	CHECK_INT_EQ(journal_skip(&j, "events-1.jsonl", "x", now + 60), 1);
	CHECK_INT_EQ(journal_skip(&j, "events-2.jsonl", "y", now + 60), 1);
	CHECK_INT_EQ(journal_next_archive(&j, now, name), 0);
	CHECK_INT_EQ(j.nskip, 3);

	/* replaced under its name: looked at afresh, and forgotten */
	CHECK_INT_EQ(rmdir(tpath("skip/events-0.jsonl")), 0);
	write_file(tpath("skip/events-0.jsonl"), "new\n", 4);
	CHECK_INT_EQ(journal_next_archive(&j, now, name), 1);
	CHECK_STR_EQ(name, "events-0.jsonl");
	CHECK(journal_skipped(&j, "events-0.jsonl") == NULL);
	/* removed: forgotten */
	CHECK_INT_EQ(unlink(tpath("skip/events-1.jsonl")), 0);
	CHECK_INT_EQ(journal_next_archive(&j, now, name), 1);
	CHECK(journal_skipped(&j, "events-1.jsonl") == NULL);
	CHECK_INT_EQ(j.nskip, 1);

	/* not there: nothing to skip */
	errno = 0;
	CHECK_INT_EQ(journal_skip(&j, "events-9.jsonl", "z", now), -1);
	CHECK_INT_EQ(errno, ENOENT);
	journal_close(&j);
}

/*
 * safe_open_at: never blocks, and only ever returns a regular file; the
 * journal does not block on a FIFO put in place of events.jsonl either.
 */
static void
test_safe_open(void)
{
	Journal		j;
	mode_t		found;
	int			fd;

	CHECK_INT_EQ(mkdir(tpath("safe"), 0700), 0);
	write_file(tpath("safe/file"), "x\n", 2);
	CHECK_INT_EQ(mkfifo(tpath("safe/fifo"), 0600), 0);
	CHECK_INT_EQ(mkdir(tpath("safe/dir"), 0700), 0);
	CHECK_INT_EQ(symlink(tpath("safe/file"), tpath("safe/link")), 0);

	fd = safe_open_at(AT_FDCWD, tpath("safe/file"), O_RDONLY, 0, &found);
	CHECK(fd >= 0);
	CHECK_INT_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	close(fd);
	/* a FIFO, for reading and for writing (no reader): refused at once */
	CHECK_INT_EQ(safe_open_at(AT_FDCWD, tpath("safe/fifo"), O_RDONLY, 0,
							  &found), SAFE_OPEN_NOT_REGULAR);
	CHECK(S_ISFIFO(found));
	CHECK_STR_EQ(safe_open_kind(found), "a FIFO");
	CHECK_INT_EQ(safe_open_at(AT_FDCWD, tpath("safe/fifo"),
							  O_WRONLY | O_APPEND, 0, &found),
				 SAFE_OPEN_NOT_REGULAR);
	CHECK(S_ISFIFO(found));
	CHECK_INT_EQ(safe_open_at(AT_FDCWD, tpath("safe/dir"), O_RDONLY, 0,
							  &found), SAFE_OPEN_NOT_REGULAR);
	CHECK_STR_EQ(safe_open_kind(found), "a directory");
	CHECK_INT_EQ(safe_open_at(AT_FDCWD, tpath("safe/dir"), O_WRONLY, 0,
							  &found), SAFE_OPEN_NOT_REGULAR);
	CHECK_INT_EQ(safe_open_at(AT_FDCWD, tpath("safe/link"),
							  O_RDONLY | O_NOFOLLOW, 0, &found),
				 SAFE_OPEN_NOT_REGULAR);
	CHECK_STR_EQ(safe_open_kind(found), "a symbolic link");
	fd = safe_open_at(AT_FDCWD, tpath("safe/link"), O_RDONLY, 0, &found);
	CHECK(fd >= 0);
	close(fd);
	errno = 0;
	CHECK_INT_EQ(safe_open_at(AT_FDCWD, tpath("safe/none"), O_RDONLY, 0,
							  &found), -1);
	CHECK_INT_EQ(errno, ENOENT);

	/* events.jsonl a FIFO: the flush fails, it does not block */
	CHECK_INT_EQ(journal_open(&j, tpath("safe-journal"), false), 0);
	CHECK_INT_EQ(mkfifo(tpath("safe-journal/events.jsonl"), 0600), 0);
	CHECK_INT_EQ(journal_append(&j, "e\n", 2), 0);
	CHECK_INT_EQ(journal_flush(&j), -1);
	CHECK_INT_EQ(unlink(tpath("safe-journal/events.jsonl")), 0);
	CHECK_INT_EQ(journal_append(&j, "e\n", 2), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	journal_close(&j);
}

/* journal_rotate counts the bytes it archives (for the backlog) */
static void
test_rotated_bytes(void)
{
	Journal		j;
	char		name[JOURNAL_NAME_MAX];

	CHECK_INT_EQ(journal_open(&j, tpath("rotated"), false), 0);
	CHECK_INT_EQ((int) j.rotated_bytes, 0);
	CHECK_INT_EQ(journal_append(&j, "abc\n", 4), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_INT_EQ((int) j.rotated_bytes, 4);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 0);
	CHECK_INT_EQ(journal_append(&j, "de\n", 3), 0);
	CHECK_INT_EQ(journal_flush(&j), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_INT_EQ((int) j.rotated_bytes, 7);
	journal_close(&j);
}

static void
test_reader_skip_rewind(void)
{
	JournalReader r;
	const char *data;
	size_t		len;
	size_t		seen = 0;
	size_t		big = 5 * 1024 * 1024;
	char	   *text = malloc(big + 16);
	int			more = 0;
	JournalLine kind;

	memset(text, 'x', big);
	memcpy(text + big, "\nok\n", 4);
	write_file(tpath("skip.txt"), text, big + 4);
	free(text);

	CHECK_INT_EQ(jreader_open(&r, tpath("skip.txt"), 16), 0);
	r.on_read = count_read;
	r.on_read_arg = &seen;
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_TOO_LONG);
	while ((kind = jreader_next(&r, &data, &len)) == JL_MORE)
		more++;
	CHECK_MSG(more >= 3, "a 5 MB line is skipped in blocks (%d)", more);
	CHECK_INT_EQ(kind, JL_LINE);
	CHECK_MEM_EQ(data, len, "ok", 2);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_EOF);
	CHECK_INT_EQ(seen, big + 4);
	CHECK_INT_EQ(r.offset, big + 4);

	/* again from the start, on the same descriptor, without on_read */
	CHECK_INT_EQ(jreader_rewind(&r), 0);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_TOO_LONG);
	CHECK_INT_EQ(r.lineno, 1);
	while ((kind = jreader_next(&r, &data, &len)) == JL_MORE)
		;
	CHECK_INT_EQ(kind, JL_LINE);
	CHECK_INT_EQ(r.lineno, 2);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_EOF);
	CHECK_INT_EQ(seen, big + 4);
	jreader_close(&r);
}

/*
 * The reader over a source (a segment of the database journal) skips a
 * too-long line in blocks, fingerprints what it reads (on_read) and
 * rewinds, as over a file; it never touches the bytes it reads.
 */
static void
test_reader_mem(void)
{
	JournalReader r;
	MemSource	source;
	const char *data;
	size_t		len;
	size_t		seen = 0;
	size_t		big = 5 * 1024 * 1024;
	char	   *text = malloc(big + 16);
	int			more = 0;
	JournalLine kind;

	memset(text, 'x', big);
	memcpy(text + big, "\nok\r\nlast", 9);
	CHECK_INT_EQ(open_mem(&r, &source, text, big + 9, big, 16), 0);
	CHECK_INT_EQ(r.fd, -1);
	r.on_read = count_read;
	r.on_read_arg = &seen;
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_TOO_LONG);
	CHECK_MEM_EQ(data, len, "xxxxxxxxxxxxxxxx", 16);
	while ((kind = jreader_next(&r, &data, &len)) == JL_MORE)
		more++;
	CHECK_MSG(more >= 3, "a 5 MB line in memory is skipped in blocks (%d)",
			  more);
	CHECK_INT_EQ(kind, JL_LINE);
	CHECK_MEM_EQ(data, len, "ok", 2);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_LINE);
	CHECK_MEM_EQ(data, len, "last", 4);
	CHECK_INT_EQ(r.lineno, 3);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_EOF);
	CHECK_INT_EQ(seen, big + 9);
	CHECK_INT_EQ(r.offset, big + 9);

	CHECK_INT_EQ(jreader_rewind(&r), 0);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_TOO_LONG);
	CHECK_INT_EQ(r.lineno, 1);
	while ((kind = jreader_next(&r, &data, &len)) == JL_MORE)
		;
	CHECK_INT_EQ(kind, JL_LINE);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_LINE);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_EOF);
	CHECK_INT_EQ(seen, big + 9);	/* no on_read after a rewind */
	CHECK_INT_EQ(source.rewinds, 1);
	CHECK_MSG(text[0] == 'x' && text[big] == '\n', "the bytes are unchanged");
	jreader_close(&r);
	CHECK_MSG(r.buf == NULL && r.source.read == NULL, "closed");

	/* nothing at all: end of file at once */
	CHECK_INT_EQ(open_mem(&r, &source, text, 0, big, 16), 0);
	CHECK_INT_EQ(jreader_next(&r, &data, &len), JL_EOF);
	jreader_close(&r);
	free(text);
}

/*
 * test_set_aside_copies: journal_set_aside_copies moves events.jsonl and
 * the archived files of a directory, and only those, into
 * from-backup-<stamp>/ with their contents, never replacing a file there;
 * a directory with none, or none at all, is left alone.
 */
static void
test_set_aside_copies(void)
{
	char		aside[JOURNAL_NAME_MAX];
	char		name[JOURNAL_NAME_MAX];
	int			moved = -1;
	char		dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", tpath("copies"));	/* tpath's reuse */

	/* no directory, then an empty one: nothing made */
	CHECK_INT_EQ(journal_set_aside_copies(dir, T0, true, aside, &moved), 0);
	CHECK_INT_EQ(moved, 0);
	CHECK_STR_EQ(aside, "");
	CHECK(!exists(dir));
	CHECK(mkdir(dir, 0700) == 0);
	CHECK(mkdir(tpath("copies/processed"), 0700) == 0);
	CHECK(mkdir(tpath("copies/failed"), 0700) == 0);
	CHECK(mkdir(tpath("copies/worker1"), 0700) == 0);
	write_file(tpath("copies/processed/events-a.jsonl"), "p\n", 2);
	write_file(tpath("copies/failed/events-f.jsonl"), "f\n", 2);
	write_file(tpath("copies/notes.txt"), "n\n", 2);
	CHECK_INT_EQ(journal_set_aside_copies(dir, T0, true, aside, &moved), 0);
	CHECK_INT_EQ(moved, 0);
	CHECK_STR_EQ(aside, "");
	CHECK(!exists(tpath("copies/from-backup-" T0_STAMP)));

	/* the live journal and the archived files move; nothing else does */
	write_file(tpath("copies/events.jsonl"), "live\n", 5);
	write_file(tpath("copies/events-" T0_STAMP "-0000000001.jsonl"), "one\n", 4);
	write_file(tpath("copies/events-mine.jsonl"), "mine\n", 5);
	CHECK_INT_EQ(journal_set_aside_copies(dir, T0, true, aside, &moved), 0);
	CHECK_INT_EQ(moved, 3);
	CHECK_STR_EQ(aside, "from-backup-" T0_STAMP);
	CHECK(is_dir(tpath("copies/%s", aside)));
	CHECK_FILE(tpath("copies/%s/events.jsonl", aside), "live\n");
	CHECK_FILE(tpath("copies/%s/events-" T0_STAMP "-0000000001.jsonl", aside),
			   "one\n");
	CHECK_FILE(tpath("copies/%s/events-mine.jsonl", aside), "mine\n");
	CHECK(!exists(tpath("copies/events.jsonl")));
	CHECK(!exists(tpath("copies/events-mine.jsonl")));
	CHECK_INT_EQ(next_in(dir, name), 0);	/* nothing left to ingest */
	CHECK_FILE(tpath("copies/processed/events-a.jsonl"), "p\n");
	CHECK_FILE(tpath("copies/failed/events-f.jsonl"), "f\n");
	CHECK_FILE(tpath("copies/notes.txt"), "n\n");
	CHECK(is_dir(tpath("copies/worker1")));

	/* again in the same second: the first copies are kept, not replaced */
	write_file(tpath("copies/events.jsonl"), "again\n", 6);
	CHECK_INT_EQ(journal_set_aside_copies(dir, T0, false, aside, &moved), 0);
	CHECK_INT_EQ(moved, 1);
	CHECK_FILE(tpath("copies/%s/events.jsonl", aside), "live\n");
	CHECK_FILE(tpath("copies/%s/events.1.jsonl", aside), "again\n");

	/* a directory that cannot be read: an error, nothing moved */
	if (geteuid() != 0)
	{
		write_file(tpath("copies/events.jsonl"), "x\n", 2);
		CHECK(chmod(dir, 0300) == 0);
		CHECK_INT_EQ(journal_set_aside_copies(dir, T0 + 1, true, aside, &moved), -1);
		CHECK_INT_EQ(moved, 0);
		CHECK(chmod(dir, 0700) == 0);
		CHECK(exists(tpath("copies/events.jsonl")));
	}
}

/*
 * settled: once a signal that came after its sync was collected has had
 * time to come, and a drain read it, is nothing owed, with nothing to
 * wake a caller polling the eventfd?
 */
static bool
settled(JournalSyncer *s)
{
	struct pollfd p = {.fd = s->efd,.events = POLLIN};

	usleep(20000);
	jsync_drain(s);
	return s->owed == 0 && poll(&p, 1, 0) == 0;
}

/*
 * journal_flush_begin with an asynchronous syncer (journal_sync.c): the
 * batch is written at once and durable once journal_flush_end says so;
 * the next batch is taken in meanwhile but neither flushed nor rotated
 * before then; a failed sync cuts its batch off; a syncer that is off, or
 * fsync off, syncs inline.
 */
static void
test_async_flush(void)
{
	Journal		j;
	JournalSyncer s;
	char		dir[PATH_MAX];
	char		file[PATH_MAX];
	char		name[JOURNAL_NAME_MAX];
	int			rc;
	int			spins = 0;

	if (jsync_open(&s) != 0)
	{
		/* not a pass: the journal syncs inline where this happens */
		CHECK_MSG(false, "jsync_open: %s (no Linux AIO here?)", strerror(errno));
		return;
	}
	CHECK(s.efd >= 0 && jsync_usable(&s));
	strcpy(dir, tpath("async"));
	strcpy(file, tpath("async/events.jsonl"));
	CHECK_INT_EQ(journal_open(&j, dir, true), 0);

	/* nothing in flight: end has nothing to collect */
	CHECK_INT_EQ(journal_flush_end(&j, &s, false), 0);

	CHECK_INT_EQ(journal_append(&j, "a1\n", 3), 0);
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_SYNCING);
	CHECK(j.syncing && s.busy);
	CHECK_INT_EQ(j.len, 0);
	CHECK_INT_EQ(j.durable_len, 0);
	CHECK_INT_EQ(j.syncing_len, 3);
	CHECK_FILE(file, "a1\n");	/* written at once */

	/* the next batch is taken in, but waits */
	CHECK_INT_EQ(journal_append(&j, "b1\n", 3), 0);
	errno = 0;
	CHECK_INT_EQ(journal_flush_begin(&j, &s), -1);
	CHECK_INT_EQ(errno, EBUSY);
	CHECK_INT_EQ(j.len, 3);		/* kept */
	errno = 0;
	CHECK_INT_EQ(journal_rotate(&j, T0, name), -1);
	CHECK_INT_EQ(errno, EBUSY);
	errno = 0;
	CHECK_INT_EQ(journal_probe(&j, 16), -1);
	CHECK_INT_EQ(errno, EBUSY);

	/* collected without waiting, as the worker's loop does */
	while ((rc = journal_flush_end(&j, &s, false)) == 1 && spins++ < 100000)
		usleep(10);
	CHECK_INT_EQ(rc, 0);
	CHECK(!j.syncing && !s.busy);
	CHECK_INT_EQ(j.durable_len, 3);
	CHECK_INT_EQ(j.syncing_len, 0);
	CHECK(settled(&s));

	/* the next batch, collected with wait */
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_SYNCING);
	CHECK_INT_EQ(journal_flush_end(&j, &s, true), 0);
	CHECK_INT_EQ(j.durable_len, 6);
	CHECK_FILE(file, "a1\nb1\n");
	CHECK(settled(&s));

	/* an empty batch (every event a repeat) is synced all the same */
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_SYNCING);
	CHECK_INT_EQ(journal_flush_end(&j, &s, true), 0);
	CHECK_INT_EQ(j.durable_len, 6);

	/* a failed sync: its batch is cut off, the one behind it is the caller's */
	CHECK_INT_EQ(journal_append(&j, "c1\n", 3), 0);
	j.inject_errno = EIO;
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_SYNCING);
	CHECK_FILE(file, "a1\nb1\nc1\n");
	CHECK_INT_EQ(journal_append(&j, "d1\n", 3), 0);
	errno = 0;
	CHECK_INT_EQ(journal_flush_end(&j, &s, true), -1);
	CHECK_INT_EQ(errno, EIO);
	CHECK(!j.syncing);
	CHECK_FILE(file, "a1\nb1\n");
	CHECK_INT_EQ(j.durable_len, 6);
	CHECK_INT_EQ(j.len, 3);
	j.inject_errno = 0;
	journal_batch_undo(&j, 0);

	/* rotation once collected takes what is durable */
	CHECK_INT_EQ(journal_append(&j, "e1\n", 3), 0);
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_SYNCING);
	CHECK_INT_EQ(journal_flush_end(&j, &s, true), 0);
	CHECK_INT_EQ(journal_rotate(&j, T0, name), 1);
	CHECK_INT_EQ(j.rotated_bytes, 9);

	/* a syncer that is off, or fsync off: inline, durable at once */
	s.off = true;
	CHECK(!jsync_usable(&s));
	CHECK_INT_EQ(journal_append(&j, "f1\n", 3), 0);
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_DURABLE);
	CHECK(!j.syncing && !s.busy);
	CHECK_INT_EQ(j.durable_len, 3);
	s.off = false;
	j.fsync = false;
	CHECK_INT_EQ(journal_append(&j, "g1\n", 3), 0);
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_DURABLE);
	CHECK(!j.syncing && !s.busy);
	CHECK_FILE(file, "f1\ng1\n");
	j.fsync = true;

	/* closing the syncer with a sync in flight waits for it */
	CHECK_INT_EQ(journal_append(&j, "h1\n", 3), 0);
	CHECK_INT_EQ(journal_flush_begin(&j, &s), JOURNAL_SYNCING);
	jsync_close(&s);
	CHECK_INT_EQ(s.efd, -1);
	CHECK(!jsync_usable(&s));
	CHECK_FILE(file, "f1\ng1\nh1\n");
	journal_close(&j);
}

int
main(void)
{
	strcpy(tmpdir, "/tmp/evproc-unit-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
	{
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return 2;
	}

	test_open();
	test_append_flush(false);
	test_append_flush(true);
	test_flush_failures();
	test_async_flush();
	test_probe();
	test_rotate(false);
	test_rotate(true);
	test_leftover(false);
	test_leftover(true);
	test_names();
	test_note_name();
	test_open_continues();
	test_archive_queue();
	test_archive_files();
	test_list();
	test_skip();
	test_set_aside_copies();
	test_safe_open();
	test_rotated_bytes();
	test_reader_small();
	test_reader_skip_rewind();
	test_reader_mem();
	test_reader_large();

	rm_rf(tmpdir);
	if (exists(tmpdir))
		CHECK_MSG(false, "could not remove \"%s\"", tmpdir);
	return unit_summary();
}
