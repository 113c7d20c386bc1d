/*-------------------------------------------------------------------------
 *
 * event_fast.c
 *	  The fast path of event.c: the plain request bodies nearly every
 *	  client sends, read without json-c (journal lines as evproc writes
 *	  them have theirs in journal/line.c).
 *
 * Backend-free (libc only); see event.h.  A fast path returns false for
 * anything it does not read exactly as the full parser of event.c would,
 * which then reads it (and words every error); the fuzz target compares
 * the two.
 *
 *-------------------------------------------------------------------------
 */
#include "core/event_int.h"

#include <string.h>

#ifdef POSTGRES_H
#error "event_fast.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* KEY_IS: is the key s[0..len) the string literal lit? */
#define KEY_IS(s, len, lit) \
	((len) == (long) (sizeof(lit) - 1) && memcmp(s, lit, sizeof(lit) - 1) == 0)

/*
 * ev_fast_parse_event parses the body nearly every client sends: one flat
 * JSON object whose members are strings without escapes and non-negative
 * numbers, with no nesting, null or literals.  It spares json-c, whose
 * per-call locale switching and allocations cost more than the rest of a
 * request.  As with journal/line.c's fast path, anything else (including
 * every mistake) returns false and the caller uses the full parser, which
 * also words the error; so it only needs to be right about what it
 * accepts: valid JSON that the full parser reads to the same event (the
 * fuzz target checks this).  Duplicate keys: the last one wins, as with
 * json-c.
 */
bool
ev_fast_parse_event(const char *buf, size_t len, bool line, EvEvent *ev)
{
	const char *p = buf;
	const char *end = buf + len;

	ev_skip_space(&p, end);
	if (!ev_fast_parse_object(&p, end, line, ev))
		return false;
	ev_skip_space(&p, end);
	return p == end;
}

/*
 * ev_fast_parse_object reads one such object from *pp (where it must start)
 * to end, the way ev_fast_parse_event does, and leaves *pp just after its
 * closing brace; the elements of an array of events are read with it.
 */
bool
ev_fast_parse_object(const char **pp, const char *end, bool line, EvEvent *ev)
{
	const char *start = *pp;
	const char *p = start;
	const char *user_id = NULL;
	const char *name = NULL;
	const char *event_id = NULL;
	const char *metric = NULL;
	const char *effect = NULL;
	long		user_id_len = 0;
	long		name_len = 0;
	long		event_id_len = 0;
	long		metric_len = 0;
	long		effect_len = 0;
	bool		has_value = false;
	bool		non_ascii = false;
	ev_int128	value = 0;
	ev_int128	number;

	if (p == end || *p != '{')
		return false;
	p++;
	ev_skip_space(&p, end);
	for (;;)
	{
		const char *key;
		const char *v;
		long		keylen;
		long		vlen;

		if (p == end || *p != '"')
			return false;
		key = ++p;
		if ((keylen = ev_plain_string(&p, end, &non_ascii)) < 0)
			return false;
		ev_skip_space(&p, end);
		if (p == end || *p != ':')
			return false;
		p++;
		ev_skip_space(&p, end);
		if (p == end)
			return false;
		v = p;
		if (*p == '"')
		{
			v = ++p;
			if ((vlen = ev_plain_string(&p, end, &non_ascii)) < 0)
				return false;
			if (KEY_IS(key, keylen, "userId"))
				user_id = v, user_id_len = vlen;
			else if (KEY_IS(key, keylen, "name"))
				name = v, name_len = vlen;
			else if (KEY_IS(key, keylen, "eventId"))
				event_id = v, event_id_len = vlen;
			else if (line && KEY_IS(key, keylen, "metric"))
				metric = v, metric_len = vlen;
			else if (line && KEY_IS(key, keylen, "effect"))
				effect = v, effect_len = vlen;
			else if (KEY_IS(key, keylen, "value"))
				return false;
		}
		else
		{
			/* a number: the member must be "value" or unknown */
			while (p < end && !ev_is_json_space(*p) && *p != ',' && *p != '}')
				p++;
			if (ev_decimal_parse(v, (size_t) (p - v), &number) != NULL)
				return false;
			if (KEY_IS(key, keylen, "value"))
				value = number, has_value = true;
			else if (KEY_IS(key, keylen, "userId") ||
					 KEY_IS(key, keylen, "name") ||
					 KEY_IS(key, keylen, "eventId") ||
					 (line && (KEY_IS(key, keylen, "metric") ||
							   KEY_IS(key, keylen, "effect"))))
				return false;
		}
		ev_skip_space(&p, end);
		if (p == end)
			return false;
		if (*p == '}')
			break;
		if (*p != ',')
			return false;
		p++;
		ev_skip_space(&p, end);
	}
	p++;
	if (user_id == NULL || name == NULL)
		return false;

	if (ev_check_user_id(user_id, (size_t) user_id_len) != NULL ||
		ev_check_name(name, (size_t) name_len) != NULL)
		return false;
	if (event_id != NULL &&
		ev_check_event_id(event_id, (size_t) event_id_len) != NULL)
		return false;
	/*
	 * The full parser rejects invalid UTF-8 anywhere in the body; outside
	 * its strings, the body is ASCII (white space, punctuation, numbers).
	 */
	if (non_ascii && !ev_utf8_valid(start, (size_t) (p - start)))
		return false;

	ev->has_value = has_value;
	ev->value = value;
	if (ev_line_type(ev, metric, (size_t) metric_len,
					 effect, (size_t) effect_len) != NULL)
		return false;
	memcpy(ev->name, name, (size_t) name_len);
	ev->name[name_len] = '\0';
	ev->name_len = (size_t) name_len;
	memcpy(ev->user_id, user_id, (size_t) user_id_len);
	ev->user_id[user_id_len] = '\0';
	ev->user_id_len = (size_t) user_id_len;
	ev->event_id_len = event_id != NULL ? (size_t) event_id_len : 0;
	if (event_id != NULL)
		memcpy(ev->event_id, event_id, (size_t) event_id_len);
	ev->event_id[ev->event_id_len] = '\0';
	*pp = p;
	return true;
}
