/*-------------------------------------------------------------------------
 *
 * sse.c
 *	  A streaming parser of Server-Sent Events, as the HTML standard's
 *	  "event stream interpretation" describes it, for "evproc-client
 *	  watch".  Pure: no network, no output; the caller feeds the bytes it
 *	  receives, in chunks split anywhere (inside a UTF-8 character, or
 *	  between the CR and LF of a line end), and gets one callback per
 *	  dispatched event.
 *
 * The rules:
 *	- lines end with CRLF, LF or CR; a UTF-8 byte order mark at the start
 *	  of the stream is dropped;
 *	- an empty line dispatches the pending event: the "last event ID
 *	  buffer" becomes the last id (even if the event has no data), then an
 *	  event with data is passed on, its data lines joined with "\n";
 *	- a line starting with ":" is a comment (the server's ": ping");
 *	- otherwise the field name is what comes before the first ":" (the
 *	  whole line if there is none) and the value what follows it, less one
 *	  leading space;
 *	- "data" appends the value and "\n" to the data buffer; "event" sets
 *	  the event type; "id" sets the last event ID buffer unless the value
 *	  contains a NUL byte; "retry" (ASCII digits only) sets the reconnection
 *	  time; any other field is ignored;
 *	- an event left incomplete when the stream ends is never dispatched
 *	  (sse_reset drops it).
 *
 * Bytes are passed on as they came; the parser never decodes UTF-8, which
 * is safe because CR and LF never occur inside a multi-byte character.
 * Memory is bounded: a line, or the data of one event, longer than
 * max_line bytes is an error (SSE_TOO_LONG), after which the caller drops
 * the connection and calls sse_reset before the next one.
 *
 * One deliberate difference from browsers: the last event ID buffer of a
 * new connection starts as the last id, not empty, so that an event
 * without an "id:" on a new connection does not make the client forget
 * where to resume.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "sse.h"

void
sse_init(SseParser *p, size_t max_line)
{
	memset(p, 0, sizeof(*p));
	p->max_line = max_line > 0 ? max_line : SSE_DEFAULT_MAX_LINE;
	sb_init(&p->line);
	sb_init(&p->data);
	sb_init(&p->type);
	sb_init(&p->id_buf);
	sb_init(&p->last_id);
	p->retry_ms = -1;
	sse_reset(p);
}

/*
 * sse_reset prepares the parser for a new connection: whatever was pending
 * of the old stream is dropped; the last id and the retry time stay.
 */
void
sse_reset(SseParser *p)
{
	sb_reset(&p->line);
	sb_reset(&p->data);
	sb_reset(&p->type);
	sb_reset(&p->id_buf);
	if (p->last_id.len > 0)
		sb_append(&p->id_buf, p->last_id.data, p->last_id.len);
	p->after_cr = false;
	p->at_start = true;
	p->failed = false;
}

void
sse_free(SseParser *p)
{
	sb_free(&p->line);
	sb_free(&p->data);
	sb_free(&p->type);
	sb_free(&p->id_buf);
	sb_free(&p->last_id);
}

/* sse_set_last_id sets where to resume from (e.g. "watch --since N") */
void
sse_set_last_id(SseParser *p, const char *id)
{
	sb_reset(&p->last_id);
	sb_reset(&p->id_buf);
	sb_append_str(&p->last_id, id);
	sb_append_str(&p->id_buf, id);
}

/* sse_last_id: the id of the last dispatched event ("" if none) */
const char *
sse_last_id(const SseParser *p)
{
	return p->last_id.data != NULL ? p->last_id.data : "";
}

/* dispatch handles an empty line: the end of an event */
static bool
dispatch(SseParser *p, SseOnEvent cb, void *arg)
{
	bool		go_on = true;

	sb_reset(&p->last_id);
	if (p->id_buf.len > 0)
		sb_append(&p->last_id, p->id_buf.data, p->id_buf.len);
	if (p->data.len > 0)
	{
		/* the data buffer ends with the "\n" of its last line */
		p->data.len--;
		p->data.data[p->data.len] = '\0';
		go_on = cb(arg, p->data.data, p->data.len,
				   p->type.len > 0 ? p->type.data : "message");
	}
	sb_reset(&p->data);
	sb_reset(&p->type);
	return go_on;
}

/* process_field handles one field of the pending event */
static SseResult
process_field(SseParser *p, const char *name, size_t nlen,
			  const char *value, size_t vlen)
{
#define FIELD_IS(s) (nlen == sizeof(s) - 1 && memcmp(name, s, nlen) == 0)
	if (FIELD_IS("data"))
	{
		if (p->data.len + vlen + 1 > p->max_line)
			return SSE_TOO_LONG;
		sb_append(&p->data, value, vlen);
		sb_append_char(&p->data, '\n');
	}
	else if (FIELD_IS("event"))
	{
		sb_reset(&p->type);
		sb_append(&p->type, value, vlen);
	}
	else if (FIELD_IS("id"))
	{
		if (memchr(value, '\0', vlen) == NULL)
		{
			sb_reset(&p->id_buf);
			sb_append(&p->id_buf, value, vlen);
		}
	}
	else if (FIELD_IS("retry"))
	{
		int64_t		ms = 0;
		size_t		i;

		for (i = 0; i < vlen; i++)
		{
			if (value[i] < '0' || value[i] > '9')
				break;
			/* saturate rather than overflow: the caller caps it anyway */
			if (ms < INT64_MAX / 10 - 10)
				ms = ms * 10 + (value[i] - '0');
		}
		if (vlen > 0 && i == vlen)
			p->retry_ms = ms;
	}
#undef FIELD_IS
	return SSE_OK;
}

/* process_line handles one complete line (without its line end) */
static SseResult
process_line(SseParser *p, const char *line, size_t len, SseOnEvent cb,
			 void *arg)
{
	const char *colon;

	if (p->at_start)
	{
		p->at_start = false;
		if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
		{
			line += 3;
			len -= 3;
		}
	}
	if (len == 0)
		return dispatch(p, cb, arg) ? SSE_OK : SSE_STOPPED;
	if (line[0] == ':')
		return SSE_OK;
	colon = memchr(line, ':', len);
	if (colon == NULL)
		return process_field(p, line, len, "", 0);
	else
	{
		const char *value = colon + 1;
		size_t		vlen = len - (size_t) (value - line);

		if (vlen > 0 && value[0] == ' ')
		{
			value++;
			vlen--;
		}
		return process_field(p, line, (size_t) (colon - line), value, vlen);
	}
}

/*
 * sse_feed parses the next len bytes of the stream.  Complete lines are
 * handled straight from buf; only the piece of a line that a chunk split
 * is copied.
 */
SseResult
sse_feed(SseParser *p, const char *buf, size_t len, SseOnEvent cb, void *arg)
{
	size_t		i = 0;

	if (p->failed)
		return SSE_TOO_LONG;
	while (i < len)
	{
		size_t		start;
		size_t		end;
		SseResult	r;

		if (p->after_cr)
		{
			p->after_cr = false;
			if (buf[i] == '\n')
			{
				i++;
				continue;
			}
		}
		start = i;
		while (i < len && buf[i] != '\n' && buf[i] != '\r')
			i++;
		end = i;
		if (i == len)
		{
			/* no line end in this chunk: keep the piece */
			if (p->line.len + (end - start) > p->max_line)
			{
				p->failed = true;
				return SSE_TOO_LONG;
			}
			sb_append(&p->line, buf + start, end - start);
			break;
		}
		p->after_cr = (buf[i] == '\r');
		i++;
		if (p->line.len + (end - start) > p->max_line)
		{
			p->failed = true;
			return SSE_TOO_LONG;
		}
		if (p->line.len > 0)
		{
			sb_append(&p->line, buf + start, end - start);
			r = process_line(p, p->line.data, p->line.len, cb, arg);
			sb_reset(&p->line);
		}
		else
			r = process_line(p, buf + start, end - start, cb, arg);
		if (r == SSE_TOO_LONG)
			p->failed = true;
		if (r != SSE_OK)
			return r;
	}
	return SSE_OK;
}
