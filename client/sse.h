/*-------------------------------------------------------------------------
 *
 * sse.h
 *	  A streaming parser of Server-Sent Events (the "text/event-stream"
 *	  format of the HTML standard), fed with chunks split anywhere.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_SSE_H
#define EVPROC_CLIENT_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

/* default bound of one line, and of one event's data */
#define SSE_DEFAULT_MAX_LINE	(1024 * 1024)

/*
 * Called for each dispatched event with data (lines joined with "\n",
 * NUL-terminated, may contain NUL bytes) and its type ("message" unless an
 * "event:" field said otherwise).  The event's id, if any, is already
 * sse_last_id() then.  Returns false to stop the parser (sse_feed returns
 * SSE_STOPPED).
 */
typedef bool (*SseOnEvent) (void *arg, const char *data, size_t len,
							const char *type);

typedef enum SseResult
{
	SSE_OK,						/* chunk consumed */
	SSE_TOO_LONG,				/* a line or an event's data passed the bound */
	SSE_STOPPED					/* the callback returned false */
} SseResult;

typedef struct SseParser
{
	size_t		max_line;		/* bound of a line and of an event's data */
	StrBuf		line;			/* the incomplete line */
	bool		after_cr;		/* the last byte was CR: skip an LF */
	bool		at_start;		/* no line of this stream completed yet */
	bool		failed;			/* SSE_TOO_LONG seen; reset before reuse */
	StrBuf		data;			/* data buffer of the pending event */
	StrBuf		type;			/* event type buffer */
	StrBuf		id_buf;			/* last event ID buffer (the "id:" fields) */
	StrBuf		last_id;		/* id of the last dispatched event */
	int64_t		retry_ms;		/* last valid "retry:" field, or -1 */
} SseParser;

extern void sse_init(SseParser *p, size_t max_line);
extern void sse_reset(SseParser *p);
extern void sse_free(SseParser *p);
extern SseResult sse_feed(SseParser *p, const char *buf, size_t len,
						  SseOnEvent cb, void *arg);
extern void sse_set_last_id(SseParser *p, const char *id);
extern const char *sse_last_id(const SseParser *p);

#endif							/* EVPROC_CLIENT_SSE_H */
