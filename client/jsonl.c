/*-------------------------------------------------------------------------
 *
 * jsonl.c
 *	  JSONL input of evproc-client: the streaming line reader (LineReader)
 *	  and jsonl_prepare, which checks one line and gives it an eventId.
 *
 * jsonl_prepare parses each line with json-c only to check it: the line
 * must be one JSON object, and an eventId it already has must be a string
 * of 1 to 128 bytes.  The line that is sent is the input line itself, with
 * "eventId":"<uuid>" inserted right after its opening brace when it has
 * none.  The event is deliberately not re-serialized by json-c: json-c
 * reads integers into 64 bits (silently clamping larger ones) and would
 * change number literals, while the server counts decimal values exactly
 * as written.  Whether each event is valid (userId, name, value) is the
 * server's call: it answers 400 with the index of the bad event.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/core/compat.h"
#include "jsonl.h"

/* read at most this much per read(2) */
#define LR_READ_SIZE	(64 * 1024)

void
lr_init(LineReader *lr, size_t max_line)
{
	memset(lr, 0, sizeof(*lr));
	lr->max_line = max_line;
}

void
lr_free(LineReader *lr)
{
	free(lr->buf);
	lr->buf = NULL;
	lr->start = lr->end = lr->cap = lr->scanned = 0;
}

/* lr_make_room makes room for at least want more bytes at the end */
static void
lr_make_room(LineReader *lr, size_t want)
{
	if (lr->cap - lr->end >= want)
		return;
	/* move the unread part to the front first */
	if (lr->start > 0)
	{
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
	}
	if (lr->cap - lr->end >= want)
		return;
	{
		size_t		newcap = lr->cap > 0 ? lr->cap : LR_READ_SIZE;

		while (newcap - lr->end < want)
			newcap *= 2;
		lr->buf = cl_realloc(lr->buf, newcap);
		lr->cap = newcap;
	}
}

/* lr_push appends len bytes of input */
void
lr_push(LineReader *lr, const char *data, size_t len)
{
	lr_make_room(lr, len);
	memcpy(lr->buf + lr->end, data, len);
	lr->end += len;
}

/* lr_set_eof says that no more input will be pushed */
void
lr_set_eof(LineReader *lr)
{
	lr->eof = true;
}

/*
 * lr_read_fd does one read(2) from fd into the reader.  Returns the number
 * of bytes read, 0 at end of input (the reader is then at EOF), or -1 with
 * errno set (EINTR and EAGAIN included: the caller may simply try again).
 */
ssize_t
lr_read_fd(LineReader *lr, int fd)
{
	ssize_t		n;

	lr_make_room(lr, LR_READ_SIZE);
	n = read(fd, lr->buf + lr->end, lr->cap - lr->end);
	if (n > 0)
		lr->end += (size_t) n;
	else if (n == 0)
		lr->eof = true;
	return n;
}

/*
 * lr_next returns the next line (without its "\n" or "\r\n") in *line and
 * *len; the pointer is valid until the reader is used again.  lr->lineno
 * is the 1-based number of the line returned (or dropped, for
 * LR_TOO_LONG).
 */
LrResult
lr_next(LineReader *lr, const char **line, size_t *len)
{
	size_t		avail = lr->end - lr->start;
	size_t		llen;
	char	   *begin;
	char	   *nl = NULL;

	*line = NULL;
	*len = 0;
	if (avail > lr->scanned)
		nl = memchr(lr->buf + lr->start + lr->scanned, '\n',
					avail - lr->scanned);
	if (nl != NULL)
	{
		begin = lr->buf + lr->start;
		llen = (size_t) (nl - begin);
		lr->start += llen + 1;
	}
	else
	{
		lr->scanned = avail;
		if (!lr->eof)
		{
			if (lr->discarding || avail > lr->max_line)
			{
				/* an overlong line: drop what we have of it */
				lr->discarding = true;
				lr->start = lr->end = lr->scanned = 0;
			}
			return LR_NEED_MORE;
		}
		if (avail == 0 && !lr->discarding)
			return LR_EOF;
		/* the last line, without a "\n" */
		begin = avail > 0 ? lr->buf + lr->start : NULL;
		llen = avail;
		lr->start = lr->end;
	}
	lr->scanned = 0;
	lr->lineno++;
	if (lr->discarding || llen > lr->max_line)
	{
		lr->discarding = false;
		return LR_TOO_LONG;
	}
	if (llen > 0 && begin[llen - 1] == '\r')
		llen--;
	*line = begin != NULL ? begin : "";
	*len = llen;
	return LR_LINE;
}

/*
 * jsonl_tokener_new makes the json-c parser for jsonl_prepare, as strict
 * as the server's: no comments or other extensions, valid UTF-8 only.
 */
json_tokener *
jsonl_tokener_new(void)
{
	json_tokener *tok = json_tokener_new();

	if (tok == NULL)
	{
		fputs("evproc-client: out of memory\n", stderr);
		exit(1);
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

static bool
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * jsonl_prepare checks one input line (without its line end) and, if it is
 * a JSON object, sets out to the event to send: the line itself, with an
 * eventId from make_id (a random UUID if make_id is NULL) inserted after
 * the opening brace if it has none (*id_added tells).  Returns PREP_BLANK for a blank line, PREP_BAD with a
 * reason for anything that is not a JSON object or has an unusable
 * eventId, PREP_NO_ID if make_id failed.
 */
PrepResult
jsonl_prepare(json_tokener *tok, const char *line, size_t len,
			  EventIdMaker make_id, void *arg, StrBuf *out, bool *id_added,
			  char *reason, size_t reasonlen)
{
	size_t		first;
	size_t		end;
	json_object *obj;
	json_object *field;
	enum json_tokener_error jerr;
	char		id[EVENTID_BUFSZ];
	bool		empty;
	const char *text = line;
	size_t		tlen = len;
	char	   *copy = NULL;
	size_t		parse_end;

	sb_reset(out);
	*id_added = false;
	reason[0] = '\0';

	for (first = 0; first < len && is_json_space(line[first]); first++)
		;
	if (first == len)
		return PREP_BLANK;
	if (memchr(line, '\0', len) != NULL)
	{
		snprintf(reason, reasonlen, "line contains a NUL byte");
		return PREP_BAD;
	}
	if (line[first] != '{')
	{
		snprintf(reason, reasonlen, "event must be a JSON object");
		return PREP_BAD;
	}
	if (len > INT_MAX)
	{
		snprintf(reason, reasonlen, "line is too long");
		return PREP_BAD;
	}

	json_tokener_reset(tok);
#if COMPAT_JSONC_WIDE_INTEGERS
	/* json-c reads a rewritten copy (src/core/compat.h); the line is sent */
	text = copy = compat_json_rewrite(line, len, COMPAT_JSONC_ESCAPE_NON_ASCII,
									  &tlen);
	if (copy == NULL)
	{
		fputs("evproc-client: out of memory\n", stderr);
		exit(1);
	}
	if (tlen > INT_MAX)
	{
		free(copy);
		snprintf(reason, reasonlen, "line is too long");
		return PREP_BAD;
	}
#endif
	obj = json_tokener_parse_ex(tok, text, (int) tlen);
	jerr = json_tokener_get_error(tok);
	parse_end = json_tokener_get_parse_end(tok);
	if (copy != NULL)
		parse_end = compat_json_source_offset(line, len,
											  COMPAT_JSONC_ESCAPE_NON_ASCII,
											  parse_end);
	free(copy);
	if (obj == NULL)
	{
		if (jerr == json_tokener_continue)
			snprintf(reason, reasonlen, "invalid JSON: unexpected end of line");
		else
			snprintf(reason, reasonlen, "invalid JSON: %s at offset %zu",
					 json_tokener_error_desc(jerr), parse_end);
		return PREP_BAD;
	}
	for (end = parse_end; end < len; end++)
	{
		if (!is_json_space(line[end]))
		{
			snprintf(reason, reasonlen,
					 "invalid JSON: unexpected characters after the event at offset %zu",
					 end);
			json_object_put(obj);
			return PREP_BAD;
		}
	}
	if (!json_object_is_type(obj, json_type_object))
	{
		/* cannot happen after a '{', but json-c is the judge */
		snprintf(reason, reasonlen, "event must be a JSON object");
		json_object_put(obj);
		return PREP_BAD;
	}

	/* an eventId of its own is kept as it is */
	if (json_object_object_get_ex(obj, "eventId", &field))
	{
		int			idlen = field != NULL ? json_object_get_string_len(field) : 0;
		bool		ok = field != NULL &&
			json_object_is_type(field, json_type_string) &&
			idlen >= 1 && idlen <= EV_EVENT_ID_MAX;

		json_object_put(obj);
		if (!ok)
		{
			snprintf(reason, reasonlen,
					 "eventId must be a string of 1 to %d bytes",
					 EV_EVENT_ID_MAX);
			return PREP_BAD;
		}
		sb_append(out, line, len);
		return PREP_OK;
	}
	empty = json_object_object_length(obj) == 0;
	json_object_put(obj);

	if (!(make_id != NULL ? make_id(id, arg) : uuid_v4_new(id)))
	{
		snprintf(reason, reasonlen, "cannot make an eventId: %s",
				 strerror(errno));
		return PREP_NO_ID;
	}
	sb_reserve(out, len + EVENTID_UUID_LEN + 16);
	sb_append(out, line, first + 1);
	sb_append_str(out, "\"eventId\":\"");
	sb_append_str(out, id);
	sb_append_str(out, empty ? "\"" : "\",");
	sb_append(out, line + first + 1, len - first - 1);
	*id_added = true;
	return PREP_OK;
}
