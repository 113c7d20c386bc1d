/*-------------------------------------------------------------------------
 *
 * jsonl.h
 *	  JSONL input of evproc-client: a streaming line reader and the
 *	  preparation of one input line as an event to send.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_JSONL_H
#define EVPROC_CLIENT_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "eventid.h"
#include "strbuf.h"

/* longest input line accepted (longer ones are rejected, not kept) */
#define JSONL_MAX_LINE		(16 * 1024 * 1024)

/* what lr_next found */
typedef enum LrResult
{
	LR_LINE,					/* a complete line */
	LR_TOO_LONG,				/* a line longer than max_line was dropped */
	LR_NEED_MORE,				/* no complete line buffered: push more input */
	LR_EOF						/* end of input, every line returned */
} LrResult;

/*
 * A LineReader splits a byte stream into lines without holding more than
 * the current line (and one read) in memory.  Input is pushed in (lr_push,
 * lr_read_fd); lines are taken out with lr_next.  A line ends with "\n"; a
 * "\r" before it is dropped; the last line needs no "\n".
 */
typedef struct LineReader
{
	char	   *buf;
	size_t		start;			/* first byte not yet returned */
	size_t		end;			/* end of buffered input */
	size_t		cap;
	size_t		scanned;		/* bytes after start known to have no '\n' */
	size_t		max_line;
	bool		eof;			/* no more input will come */
	bool		discarding;		/* dropping the rest of an overlong line */
	long		lineno;			/* number of the line last returned */
} LineReader;

extern void lr_init(LineReader *lr, size_t max_line);
extern void lr_free(LineReader *lr);
extern void lr_push(LineReader *lr, const char *data, size_t len);
extern void lr_set_eof(LineReader *lr);
extern ssize_t lr_read_fd(LineReader *lr, int fd);
extern LrResult lr_next(LineReader *lr, const char **line, size_t *len);

/* makes a new eventId into out; false if it cannot */
typedef bool (*EventIdMaker) (char out[EVENTID_BUFSZ], void *arg);

typedef enum PrepResult
{
	PREP_OK,					/* out holds the event to send */
	PREP_BLANK,					/* blank line: skip it */
	PREP_BAD,					/* not an event object: reason says why */
	PREP_NO_ID					/* the id maker failed */
} PrepResult;

extern json_tokener *jsonl_tokener_new(void);
extern PrepResult jsonl_prepare(json_tokener *tok, const char *line,
								size_t len, EventIdMaker make_id, void *arg,
								StrBuf *out, bool *id_added,
								char *reason, size_t reasonlen);

#endif							/* EVPROC_CLIENT_JSONL_H */
