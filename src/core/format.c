/*-------------------------------------------------------------------------
 *
 * format.c
 *	  What evproc writes as text: quoted JSON strings, the {"error": ...}
 *	  body of a refusal, an event's journal line and its receive time.
 *
 * Backend-free (libc only); declared in event.h, next to the EvEvent that
 * ev_format_journal_line writes.  A line written here is read back by
 * ev_parse_line's fast path, which expects exactly this layout.
 *
 *-------------------------------------------------------------------------
 */
#include "core/event.h"

#include <stdio.h>
#include <string.h>

#ifdef POSTGRES_H
#error "format.c is backend-free: it must not include PostgreSQL backend headers"
#endif

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
	size_t		o = 0;

	if (outlen < 3)
		return 0;
	out[o++] = '"';
	for (size_t i = 0; i < len; i++)
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
					memcpy(out + o, "\\u00", 4);
					o += 4;
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
 * ev_format_journal_line writes the journal line of a typed event, with a
 * trailing newline, and returns its length (0 if it does not fit, or if
 * the event is untyped or has a name, metric or effect that the rules
 * refuse).  The line keeps the event's fields, records the type the event
 * was accepted with (so that ingest counts it as it was acknowledged,
 * whatever the definitions are by then) and adds the receive time and
 * client address:
 *
 *	{"userId":U,"name":"N","value":V,"metric":"M","effect":"E"
 *	 [,"eventId":I],"receivedAt":"T","clientAddr":A}
 *
 * The value is always written: 0 for a count event without one.  Names and
 * metrics need no quoting (see ev_check_name).
 */
size_t
ev_format_journal_line(const EvEvent *ev, const char *received_at,
					   const char *client_addr, char *out, size_t outlen)
{
	char		user[EV_USER_ID_MAX * 6 + 3];
	char		value[EV_DECIMAL_BUFSZ];
	char		addr[EV_ADDR_BUFSZ * 6 + 3];
	char		id[EV_EVENT_ID_MAX * 6 + 16] = "";
	const char *effect = ev_effect_name(ev->effect);
	int			n;

	if (!ev->typed || effect == NULL ||
		ev_check_name(ev->name, ev->name_len) != NULL ||
		ev_check_metric(ev->metric, ev->metric_len) != NULL)
		return 0;
	if (ev_json_quote(ev->user_id, ev->user_id_len, user, sizeof(user)) == 0 ||
		ev_json_quote(client_addr, strlen(client_addr), addr, sizeof(addr)) == 0)
		return 0;
	if (ev->event_id_len > 0)
	{
		memcpy(id, ",\"eventId\":", 11);
		if (ev_json_quote(ev->event_id, ev->event_id_len, id + 11,
						  sizeof(id) - 11) == 0)
			return 0;
	}
	ev_decimal_format(ev->value, value);
	n = snprintf(out, outlen,
				 "{\"userId\":%s,\"name\":\"%.*s\",\"value\":%s,"
				 "\"metric\":\"%.*s\",\"effect\":\"%s\"%s,"
				 "\"receivedAt\":\"%s\",\"clientAddr\":%s}\n",
				 user, (int) ev->name_len, ev->name, value,
				 (int) ev->metric_len, ev->metric, effect,
				 id, received_at, addr);
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
