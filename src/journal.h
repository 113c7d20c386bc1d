/*-------------------------------------------------------------------------
 *
 * journal.h
 *	  The event journal on disk: group-committed appends, rotation with
 *	  names that never repeat, the archive queue, durable moves, and a
 *	  streaming line reader.
 *
 * This module is backend-free (libc only) so that it can be unit tested on
 * its own.  Functions return -1 with errno set on failure; callers report
 * the error (the worker with ereport and %m).
 *
 * Layout of the journal directory:
 *	  events.jsonl		the live journal, appended to by the HTTP server
 *	  events-*.jsonl	archived files waiting to be ingested (rotated ones,
 *						or files dropped in by a user)
 *	  processed/		archived files that have been ingested
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
#define JOURNAL_NAME_MAX	256
#define JOURNAL_STAMP_LEN	16	/* 20261122T050000Z */

typedef struct Journal
{
	char	   *dir;			/* journal directory */
	int			dirfd;			/* open descriptor of dir, for fsync */
	int			fd;				/* events.jsonl, or -1 until first flush */
	off_t		durable_len;	/* length of events.jsonl known to be good */
	bool		fsync;			/* fdatasync on flush? */
	int			inject_errno;	/* tests: fail each flush after its write */
	uint64_t	replaced;		/* times events.jsonl vanished under us */

	char	   *buf;			/* the batch being group-committed */
	size_t		len;
	size_t		cap;

	/* naming state: names sort by (stamp, seq) and never repeat */
	char		tag[16];		/* "" or ".w<N>" for worker N > 0 */
	char		last_stamp[JOURNAL_STAMP_LEN + 1];
	uint64_t	last_seq;
} Journal;

extern int	journal_open(Journal *j, const char *dir, bool fsync);
extern int	journal_open_tagged(Journal *j, const char *dir, bool fsync,
								const char *tag);
extern void journal_close(Journal *j);
extern int	journal_append(Journal *j, const char *line, size_t len);
extern int	journal_flush(Journal *j);
extern bool journal_is_empty(const Journal *j);
extern int	journal_rotate(Journal *j, time_t now, char *name);
extern void journal_note_name(Journal *j, const char *name);
extern void journal_make_name(Journal *j, time_t now, char *name);

/* the archive queue */
extern bool journal_is_archive_name(const char *name);
extern int	journal_next_archive(const char *dir, char *name);
extern int	journal_archive_done(Journal *j, const char *name);

/* streaming reader */
typedef struct JournalReader
{
	int			fd;
	char	   *buf;
	size_t		cap;
	size_t		start;			/* first unread byte in buf */
	size_t		end;			/* end of valid data in buf */
	off_t		offset;			/* bytes read from the file so far */
	bool		eof;
	bool		skip_rest;		/* inside a too-long line */
	uint64_t	lineno;			/* number of the line last returned */
	size_t		max_line;
} JournalReader;

typedef enum JournalLine
{
	JL_LINE,					/* a complete line (without its newline) */
	JL_TOO_LONG,				/* a line over max_line: its first bytes */
	JL_EOF,
	JL_ERROR
} JournalLine;

extern int	jreader_open(JournalReader *r, const char *path, size_t max_line);
extern JournalLine jreader_next(JournalReader *r, const char **line, size_t *len);
extern void jreader_close(JournalReader *r);

/* durability helpers */
extern int	durable_rename_at(int fromdirfd, const char *from,
							  int todirfd, const char *to);

#endif							/* EVPROC_JOURNAL_H */
