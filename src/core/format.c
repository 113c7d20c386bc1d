/*-------------------------------------------------------------------------
 *
 * format.c
 *	  What evproc writes as JSON text: quoted JSON strings, the
 *	  {"error": ...} body of a refusal, and an event's receive time.
 *
 * Backend-free (libc only); declared in event.h.  An event's journal line,
 * made of these, is written by journal/line.c.
 *
 *-------------------------------------------------------------------------
 */
#include "core/event.h"

#include <stdio.h>
#include <string.h>

#ifdef POSTGRES_H
#error "format.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* JSON_ESCAPED: is the byte c written escaped in a JSON string? */
#define JSON_ESCAPED(c)		((c) < 0x20 || (c) == '"' || (c) == '\\' || (c) == 0x7f)

/*
 * ev_json_quote writes s[0..len) as a quoted JSON string into out and
 * returns the length written, or 0 if outlen is too small.  A worst case
 * needs 6 * len + 3 bytes.  Invalid UTF-8 is passed through unchanged; the
 * callers only quote validated text.
 */
size_t
ev_json_quote(const char *s, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	static const char escape[] = "\\u00";	/* then two hex digits */
	size_t		o = 0;
	size_t		plain = 0;

	if (outlen < 3)
		return 0;
	out[o++] = '"';

	/*
	 * The leading bytes that need no escape (usually all of them) are copied
	 * at once; the loop below would have refused the same outlen for them.
	 */
	while (plain < len && !JSON_ESCAPED((unsigned char) s[plain]))
		plain++;
	if (plain > 0 && plain + 8 > outlen)
		return 0;
	memcpy(out + o, s, plain);
	o += plain;
	for (size_t i = plain; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (o + 8 > outlen)
			return 0;
		switch (c)
		{
			case '"':
				out[o++] = '\\';
				out[o++] = '"';
				break;
			case '\\':
				out[o++] = '\\';
				out[o++] = '\\';
				break;
			case '\n':
				out[o++] = '\\';
				out[o++] = 'n';
				break;
			case '\r':
				out[o++] = '\\';
				out[o++] = 'r';
				break;
			case '\t':
				out[o++] = '\\';
				out[o++] = 't';
				break;
			default:
				if (c < 0x20 || c == 0x7f)
				{
					memcpy(out + o, escape, sizeof(escape) - 1);
					o += sizeof(escape) - 1;
					out[o++] = hex[c >> 4];
					out[o++] = hex[c & 0xf];
				}
				else
					out[o++] = (char) c;
		}
	}
	if (o + 2 > outlen)
		return 0;
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

/* ev_json_error writes {"error": "<message>"} and returns its length. */
size_t
ev_json_error(const char *message, char *out, size_t outlen)
{
	char		quoted[EV_ERROR_BUFSZ * 6 + 3];
	size_t		qlen = ev_json_quote(message, strlen(message), quoted,
									 sizeof(quoted));
	int			n;

	if (qlen == 0)
		return 0;
	n = snprintf(out, outlen, "{\"error\": %s}", quoted);
	return (n < 0 || (size_t) n >= outlen) ? 0 : (size_t) n;
}

/*
 * ev_format_timestamp writes ts as ISO 8601 UTC with microseconds.  Every
 * event gets one, so the part up to the second is kept from the last call
 * (the process is single-threaded) and only the microseconds are written.
 */
size_t
ev_format_timestamp(const struct timespec *ts, char *out)
{
	static time_t last_secs = (time_t) -1;
	static char last[EV_TIMESTAMP_BUFSZ];
	static size_t last_len;
	long		usecs = (long) (ts->tv_nsec / 1000);

	if (ts->tv_sec != last_secs)
	{
		struct tm	tm;
		time_t		secs = ts->tv_sec;

		gmtime_r(&secs, &tm);
		last_len = strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
		last_secs = ts->tv_sec;
	}
	memcpy(out, last, last_len);
	out[last_len] = '.';
	for (int i = 6; i >= 1; i--)
	{
		out[last_len + i] = (char) ('0' + usecs % 10);
		usecs /= 10;
	}
	out[last_len + 7] = 'Z';
	out[last_len + 8] = '\0';
	return last_len + 8;
}
