/*-------------------------------------------------------------------------
 *
 * journal.h
 *	  The event journal on disk: group-committed appends, rotation with
 *	  names that never repeat, the archive queue, durable moves, and a
 *	  streaming line reader.
 *
 * Implemented by journal.c (the live journal: appends, flush, rotation,
 * names), journal_sync.c (an fdatasync that runs while the caller goes
 * on), journal_archive.c (the archived files: queue, opening, reader,
 * moves, pruning), journal_copies.c (a base backup's copies set aside) and
 * journal_fs.c (durable file-system steps they share).
 * This module is backend-free (libc only) so that it can be unit tested on
 * its own.  Functions return -1 with errno set on failure; callers report
 * the error (the worker with ereport and %m).
 *
 * Layout of the journal directory:
 *	  events.jsonl		the live journal, appended to by the HTTP server
 *	  events-*.jsonl	archived files waiting to be ingested (rotated ones,
 *						or files dropped in by a user)
 *	  processed/		archived files that have been ingested (never
 *						overwritten; pruned after a retention)
 *	  failed/			archived files set aside because they cannot be
 *						read or named safely (see journal_set_aside)
 *	  from-backup-<stamp>/	journal files a base backup copied, set aside
 *						on a standby (see journal_set_aside_copies)
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_JOURNAL_H
#define EVPROC_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define JOURNAL_FILE		"events.jsonl"
#define JOURNAL_PROCESSED	"processed"
#define JOURNAL_FAILED		"failed"
#define JOURNAL_FROM_BACKUP	"from-backup-"	/* + stamp: a base backup's copies */
#define JOURNAL_ARCHIVE_PREFIX	"events-"	/* archived: events-*.jsonl */
#define JOURNAL_ARCHIVE_SUFFIX	".jsonl"
#define JOURNAL_NAME_MAX	256
#define JOURNAL_STAMP_LEN	16	/* 20261122T050000Z */

typedef struct Journal
{
	char	   *dir;			/* journal directory */
	int			dirfd;			/* open descriptor of dir, for fsync */
	int			fd;				/* events.jsonl, or -1 until first flush */
	dev_t		fd_dev;			/* the file fd has open (set with fd): */
	ino_t		fd_ino;			/* what its name must still be */
	off_t		durable_len;	/* length of events.jsonl known to be good */
	bool		syncing;		/* a batch written, its sync in flight */
	off_t		syncing_len;	/* its bytes, past durable_len */
	bool		fsync;			/* fdatasync on flush? */
	int			inject_errno;	/* tests: fail each flush after its write,
								 * or its sync started (journal_flush_end) */
	uint64_t	replaced;		/* times events.jsonl vanished under us */
	uint64_t	rotated_bytes;	/* bytes journal_rotate archived, in all */
	uint64_t	archives_moved; /* archived files moved out (counted or set
								 * aside), in all */

	char	   *buf;			/* the batch being group-committed */
	size_t		len;
	size_t		cap;

	/* naming state: names sort by (stamp, seq) and never repeat */
	char		tag[32];		/* appended to the sequence: "" in tests,
								 * "-<random>" and ".w<N>" in the worker */
	char		last_stamp[JOURNAL_STAMP_LEN + 1];
	uint64_t	last_seq;

	/* archived entries ingest passes over for now (see journal_skip) */
	struct JournalSkip *skip;
	int			nskip;
	int			skip_cap;
} Journal;

/* an entry of the journal directory that could not be moved */
typedef struct JournalSkip
{
	char		name[JOURNAL_NAME_MAX];
	dev_t		dev;			/* the entry skipped: another one put under */
	ino_t		ino;			/* its name is not, nor this one once */
	mode_t		mode;			/* changed (chmod, say) */
	struct timespec ctime;
	time_t		retry_at;		/* when to try it again */
	char		why[160];		/* what failed, for the log and the views */
	bool		seen;			/* still there at the last scan */
} JournalSkip;

/*
 * An asynchronous fdatasync (journal_sync.c): efd becomes readable when the
 * sync in flight is done.  Unusable (jsync_open failed, or off after the
 * kernel refused one): the journal then syncs inline.
 */
typedef struct JournalSyncer
{
	uint64_t	ctx;			/* the AIO context; 0: none */
	int			efd;			/* eventfd signalled at completion; -1: none */
	bool		busy;			/* a sync in flight */
	bool		off;			/* the kernel cannot: sync inline */
	uint64_t	owed;			/* completions whose signal is not read yet */
	uint64_t	cb[8];			/* the struct iocb of the sync in flight: it
								 * stays valid until the sync is reaped, for
								 * tools that read it then (valgrind) */
} JournalSyncer;

extern int	jsync_open(JournalSyncer *s);
extern void jsync_close(JournalSyncer *s);
extern int	jsync_start(JournalSyncer *s, int fd);
extern int	jsync_reap(JournalSyncer *s, bool wait, int *err);
extern void jsync_drain(JournalSyncer *s);

static inline bool
jsync_usable(const JournalSyncer *s)
{
	return s != NULL && s->ctx != 0 && !s->off;
}

/* the live journal (journal.c) */
extern int	journal_open(Journal *j, const char *dir, bool fsync);
extern int	journal_open_tagged(Journal *j, const char *dir, bool fsync,
								const char *tag);
extern void journal_close(Journal *j);
extern int	journal_append(Journal *j, const char *line, size_t len);
extern char *journal_reserve(Journal *j, size_t len);
extern int	journal_flush(Journal *j);

/* journal_flush_begin's outcomes (-1: failed, errno set) */
#define JOURNAL_DURABLE		0
#define JOURNAL_SYNCING		1
extern int	journal_flush_begin(Journal *j, JournalSyncer *s);
extern int	journal_flush_end(Journal *j, JournalSyncer *s, bool wait);
extern int	journal_probe(Journal *j, size_t bytes);

/* the batch's length, and taking back what was appended after it */
static inline size_t
journal_batch_len(const Journal *j)
{
	return j->len;
}

static inline void
journal_batch_undo(Journal *j, size_t len)
{
	j->len = len;
}

/*
 * journal_advance adds the len bytes written at journal_reserve's room to
 * the batch (len at most what was reserved)
 */
static inline void
journal_advance(Journal *j, size_t len)
{
	j->len += len;
}
extern bool journal_is_empty(const Journal *j);
extern int	journal_rotate(Journal *j, time_t now, char *name);
extern void journal_note_name(Journal *j, const char *name);
extern void journal_make_name(Journal *j, time_t now, char *name);

/* the archive queue (journal_archive.c, as everything below) */
extern bool journal_is_archive_name(const char *name);
extern int	journal_next_archive(Journal *j, time_t now, char *name);
extern int	journal_remake_dir(Journal *j);
extern int	journal_skip(Journal *j, const char *name, const char *why,
						 time_t retry_at);
extern const JournalSkip *journal_skipped(const Journal *j, const char *name);
extern int	journal_backlog(const Journal *j, int *files, uint64_t *bytes,
							time_t *oldest);

/* the files of a journal directory */
typedef enum JournalFileKind
{
	JF_LIVE,					/* events.jsonl */
	JF_ARCHIVED,				/* waiting to be ingested */
	JF_SET_ASIDE,				/* in failed/ */
	JF_NOT_REGULAR				/* named like an archive, but a directory,
								 * a FIFO, ...: to be set aside */
} JournalFileKind;

typedef void (*JournalListFn) (void *arg, const char *name,
							   JournalFileKind kind, uint64_t size,
							   time_t mtime);
extern int	journal_list(const char *dir, bool set_aside, JournalListFn fn,
						 void *arg);
extern int	journal_archive_done(Journal *j, const char *name, char *final_name);
extern int	journal_set_aside(Journal *j, const char *name, char *final_name);
extern int	journal_rename_archive(Journal *j, const char *name, char *new_name,
								   time_t now);
extern int	journal_prune_processed(Journal *j, time_t now, long max_age,
									int limit);

/* the copies a base backup made, set aside (journal_copies.c) */
extern int	journal_set_aside_copies(const char *dir, time_t now, bool sync,
									 char *aside, int *moved);

/* opening an archived file for ingest */
typedef enum ArchiveOpen
{
	ARCHIVE_OPENED,				/* *fd is a regular file, open for reading */
	ARCHIVE_VANISHED,			/* no longer there: nothing to do */
	ARCHIVE_UNUSABLE,			/* never readable as it is: set it aside */
	ARCHIVE_ERROR				/* may work later (errno): try again */
} ArchiveOpen;

extern ArchiveOpen journal_open_archive(Journal *j, const char *name, int *fd,
										const char **why);

/*
 * Where a reader's bytes come from when they are not a file's (a journal
 * segment kept in the database): read fills into with up to room bytes and
 * returns how many (0 at the end, -1 with errno on failure); rewind starts
 * again from the first byte (0, or -1 with errno).
 */
typedef struct JournalSource
{
	ssize_t		(*read) (void *arg, char *into, size_t room);
	int			(*rewind) (void *arg);
	void	   *arg;
} JournalSource;

/* streaming reader */
typedef struct JournalReader
{
	int			fd;				/* -1 when reading a source */
	JournalSource source;		/* jreader_open_source: read is set */
	char	   *buf;
	size_t		cap;
	size_t		start;			/* first unread byte in buf */
	size_t		end;			/* end of valid data in buf */
	off_t		offset;			/* bytes read from the file so far */
	bool		eof;
	bool		skip_rest;		/* inside a too-long line */
	uint64_t	lineno;			/* number of the line last returned */
	size_t		max_line;
	/* called with every block read, e.g. to fingerprint the file */
	void		(*on_read) (void *arg, const char *data, size_t len);
	void	   *on_read_arg;
} JournalReader;

typedef enum JournalLine
{
	JL_LINE,					/* a complete line (without its newline) */
	JL_TOO_LONG,				/* a line over max_line: its first bytes */
	JL_MORE,					/* read more of a too-long line; no line yet */
	JL_EOF,
	JL_ERROR
} JournalLine;

extern int	jreader_open(JournalReader *r, const char *path, size_t max_line);
extern int	jreader_open_fd(JournalReader *r, int fd, size_t max_line);
extern int	jreader_open_source(JournalReader *r, const JournalSource *source,
								size_t max_line);
extern int	jreader_rewind(JournalReader *r);
extern JournalLine jreader_next(JournalReader *r, const char **line, size_t *len);
extern void jreader_close(JournalReader *r);

#endif							/* EVPROC_JOURNAL_H */
