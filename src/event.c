/*-------------------------------------------------------------------------
 *
 * event.c
 *	  Revenue events: reading a request body or a journal line into
 *	  EvEvents, with json-c or, for the common shapes, without it.
 *
 * Backend-free (libc and json-c only); see event.h.  Every line that
 * reaches the database goes through ev_parse_event, whether it arrived
 * over HTTP or in a file dropped into the journal directory, so both paths
 * accept exactly the same events.  The rules of the fields are not here
 * but in validate.c, which every parser here calls; values are read by
 * decimal.c, and journal lines written by format.c.
 *
 *-------------------------------------------------------------------------
 */
#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#ifdef POSTGRES_H
#error "event.c is backend-free: it must not include PostgreSQL backend headers"
#endif

struct EvParser
{
	json_tokener *tok;			/* NULL if it could not be renewed */
	bool		tok_failed;		/* its last parse failed: renew it */
	bool		fast;			/* try the fast paths before json-c */
};

static json_tokener *
new_tokener(void)
{
	json_tokener *tok = json_tokener_new();

	if (tok != NULL)
		json_tokener_set_flags(tok,
							   JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

EvParser *
ev_parser_create(void)
{
	EvParser   *parser = malloc(sizeof(EvParser));

	if (parser == NULL)
		return NULL;
	parser->tok = new_tokener();
	if (parser->tok == NULL)
	{
		free(parser);
		return NULL;
	}
	parser->tok_failed = false;
	parser->fast = true;
	return parser;
}

/*
 * ready_tokener gives a tokener in its initial state.  json_tokener_reset
 * does not clear all of it: after a parse that failed inside a \u escape,
 * a pending high surrogate stays and is taken into the next string (a
 * U+FFFD in another request's userId).  So a tokener whose last parse
 * failed is replaced; failures are rare, successes only need the reset.
 */
static json_tokener *
ready_tokener(EvParser *parser)
{
	if (parser->tok_failed || parser->tok == NULL)
	{
		json_tokener_free(parser->tok);
		parser->tok = new_tokener();
		parser->tok_failed = false;
	}
	else
		json_tokener_reset(parser->tok);
	return parser->tok;
}

/*
 * ev_parser_set_fast turns the fast paths off (or on again), so that tests
 * and the fuzz target can compare them with the full parser alone.
 */
void
ev_parser_set_fast(EvParser *parser, bool fast)
{
	parser->fast = fast;
}

void
ev_parser_free(EvParser *parser)
{
	if (parser == NULL)
		return;
	json_tokener_free(parser->tok);
	free(parser);
}

/*
 * parse_value converts a json-c number to an exact decimal.
 *
 * json-c keeps the source text of non-integers, which decimal.c parses;
 * integers it has already converted, and decimal.c checks them too.
 */
static const char *
parse_value(json_object *value, ev_int128 *out)
{
	switch (json_object_get_type(value))
	{
		case json_type_int:
			return ev_decimal_from_int64(json_object_get_int64(value), out);
		case json_type_double:
			{
				const char *text = json_object_to_json_string_ext(value,
																  JSON_C_TO_STRING_PLAIN);

				return ev_decimal_parse(text, strlen(text), out);
			}
		case json_type_null:
			return "value is required";
		default:
			return "value must be a number";
	}
}

/*
 * parse_json parses buf[0..len) as one JSON value with nothing but white
 * space after it.  Returns the value (the caller puts it) or NULL with a
 * message in errbuf.  A JSON null comes back as NULL with *is_null set.
 * The text is first checked for what json-c would let through (see
 * ev_check_json_text).
 */
static json_object *
parse_json(EvParser *parser, const char *buf, size_t len, bool *is_null,
		   char *errbuf, size_t errlen)
{
	json_tokener *tok;
	json_object *root;
	size_t		parsed;
	size_t		end;

	*is_null = false;
	/* json-c takes an int length */
	if (len > (size_t) 256 * 1024 * 1024)
	{
		snprintf(errbuf, errlen, "body is too large");
		return NULL;
	}
	for (end = 0; end < len && ev_is_json_space(buf[end]); end++)
		;
	if (end == len)
	{
		snprintf(errbuf, errlen, "request body is empty");
		return NULL;
	}
	if (!ev_check_json_text(buf, len, errbuf, errlen))
		return NULL;

	tok = ready_tokener(parser);
	if (tok == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	root = json_tokener_parse_ex(tok, buf, (int) len);
	parsed = json_tokener_get_parse_end(tok);
	if (root == NULL && json_tokener_get_error(tok) == json_tokener_continue)
	{
		/* a bare number is complete only at the end of input: say so */
		root = json_tokener_parse_ex(tok, "", 1);
		if (root == NULL && json_tokener_get_error(tok) != json_tokener_success)
		{
			parser->tok_failed = true;
			snprintf(errbuf, errlen, "invalid JSON: unexpected end of input");
			return NULL;
		}
		parsed = len;
	}
	if (root == NULL)
	{
		enum json_tokener_error jerr = json_tokener_get_error(tok);

		if (jerr == json_tokener_success)
			*is_null = true;
		else
		{
			parser->tok_failed = true;
			snprintf(errbuf, errlen, "invalid JSON: %s at offset %zu",
					 json_tokener_error_desc(jerr), parsed);
		}
		return NULL;
	}
	for (end = parsed; end < len; end++)
	{
		if (!ev_is_json_space(buf[end]))
		{
			snprintf(errbuf, errlen,
					 "invalid JSON: unexpected characters after the event at offset %zu",
					 end);
			json_object_put(root);
			return NULL;
		}
	}
	return root;
}

/*
 * validate_event checks one parsed event and fills *ev.  Returns NULL on
 * success, else a client-facing message naming the field.
 */
static const char *
validate_event(json_object *root, EvEvent *ev)
{
	json_object *field;
	const char *s;
	size_t		slen;
	const char *msg;

	if (root == NULL || !json_object_is_type(root, json_type_object))
		return "event must be a JSON object";

	/* userId */
	if (!json_object_object_get_ex(root, "userId", &field) || field == NULL)
		return "userId is required";
	if (!json_object_is_type(field, json_type_string))
		return "userId must be a string";
	s = json_object_get_string(field);
	slen = (size_t) json_object_get_string_len(field);
	if ((msg = ev_check_user_id(s, slen)) != NULL)
		return msg;
	memcpy(ev->user_id, s, slen);
	ev->user_id[slen] = '\0';
	ev->user_id_len = slen;

	/* name */
	if (!json_object_object_get_ex(root, "name", &field) || field == NULL)
		return "name is required";
	if (!json_object_is_type(field, json_type_string))
		return "name must be a string";
	s = json_object_get_string(field);
	slen = (size_t) json_object_get_string_len(field);
	if ((msg = ev_check_name(s, slen, &ev->kind)) != NULL)
		return msg;

	/* value */
	if (!json_object_object_get_ex(root, "value", &field) || field == NULL)
		return "value is required";
	msg = parse_value(field, &ev->value);
	if (msg != NULL)
		return msg;

	/* eventId: optional */
	ev->event_id[0] = '\0';
	ev->event_id_len = 0;
	if (json_object_object_get_ex(root, "eventId", &field) && field != NULL)
	{
		if (!json_object_is_type(field, json_type_string))
			return "eventId must be a string";
		s = json_object_get_string(field);
		slen = (size_t) json_object_get_string_len(field);
		if ((msg = ev_check_event_id(s, slen)) != NULL)
			return msg;
		memcpy(ev->event_id, s, slen);
		ev->event_id[slen] = '\0';
		ev->event_id_len = slen;
	}
	return NULL;
}

static bool fast_parse_event(const char *buf, size_t len, EvEvent *ev);

bool
ev_parse_event(EvParser *parser, const char *buf, size_t len,
			   EvEvent *ev, char *errbuf, size_t errlen)
{
	bool		is_null;
	json_object *root;
	const char *msg;

	if (parser->fast && fast_parse_event(buf, len, ev))
		return true;
	root = parse_json(parser, buf, len, &is_null, errbuf, errlen);
	if (root == NULL && !is_null)
		return false;
	msg = validate_event(root, ev);
	json_object_put(root);
	if (msg != NULL)
	{
		snprintf(errbuf, errlen, "%s", msg);
		return false;
	}
	return true;
}

/* expect_literal advances *p past lit if the input continues with it. */
static bool
expect_literal(const char **p, const char *end, const char *lit, size_t litlen)
{
	if ((size_t) (end - *p) < litlen || memcmp(*p, lit, litlen) != 0)
		return false;
	*p += litlen;
	return true;
}

/*
 * plain_string scans a JSON string body without escapes or control
 * characters, up to its closing quote, which *p is left past.  Returns its
 * length, or -1 if the string is not that simple.
 */
static long
plain_string(const char **p, const char *end)
{
	const char *start = *p;
	const char *q = start;

	while (q < end && *q != '"')
	{
		if (*q == '\\' || (unsigned char) *q < 0x20)
			return -1;
		q++;
	}
	if (q == end)
		return -1;
	*p = q + 1;
	return (long) (q - start);
}

/*
 * fast_parse_line parses a line exactly as evproc writes it to the journal
 * (see ev_format_journal_line), without json-c.  It returns false for
 * anything else, and the caller then uses the full parser, so it only
 * needs to be right about what it accepts: the lines it accepts are valid
 * JSON that the full parser reads to the same event (the fuzz target
 * checks this).
 */
static bool
fast_parse_line(const char *line, size_t len, EvEvent *ev)
{
	const char *p = line;
	const char *end = line + len;
	const char *s;
	long		n;

	if (!expect_literal(&p, end, "{\"userId\":\"", 11))
		return false;
	s = p;
	n = plain_string(&p, end);
	if (n < 0 || ev_check_user_id(s, (size_t) n) != NULL)
		return false;
	memcpy(ev->user_id, s, (size_t) n);
	ev->user_id[n] = '\0';
	ev->user_id_len = (size_t) n;

	if (!expect_literal(&p, end, ",\"name\":\"", 9))
		return false;
	s = p;
	n = plain_string(&p, end);
	if (n < 0 || ev_check_name(s, (size_t) n, &ev->kind) != NULL)
		return false;

	if (!expect_literal(&p, end, ",\"value\":", 9))
		return false;
	s = p;
	while (p < end && *p != ',' && *p != '}')
		p++;
	if (ev_decimal_parse(s, (size_t) (p - s), &ev->value) != NULL)
		return false;

	ev->event_id[0] = '\0';
	ev->event_id_len = 0;
	if (expect_literal(&p, end, ",\"eventId\":\"", 12))
	{
		s = p;
		n = plain_string(&p, end);
		if (n < 0 || ev_check_event_id(s, (size_t) n) != NULL)
			return false;
		memcpy(ev->event_id, s, (size_t) n);
		ev->event_id[n] = '\0';
		ev->event_id_len = (size_t) n;
	}

	if (!expect_literal(&p, end, ",\"receivedAt\":\"", 15) ||
		plain_string(&p, end) < 0 ||
		!expect_literal(&p, end, ",\"clientAddr\":\"", 15) ||
		plain_string(&p, end) < 0 ||
		!expect_literal(&p, end, "}", 1) || p != end)
		return false;

	/* the full parser rejects invalid UTF-8 anywhere in the line */
	return ev_utf8_valid(line, len);
}

/* skip_space advances *p past JSON white space. */
static void
skip_space(const char **p, const char *end)
{
	while (*p < end && ev_is_json_space(**p))
		(*p)++;
}

/* key_is: is the key s[0..len) the string lit? */
static inline bool
key_is(const char *s, long len, const char *lit, long litlen)
{
	return len == litlen && memcmp(s, lit, (size_t) litlen) == 0;
}

/*
 * fast_parse_event parses the body nearly every client sends: one flat
 * JSON object whose members are strings without escapes and non-negative
 * numbers, with no nesting, null or literals.  It spares json-c, whose
 * per-call locale switching and allocations cost more than the rest of a
 * request.  As with fast_parse_line, anything else (including every
 * mistake) returns false and the caller uses the full parser, which also
 * words the error; so it only needs to be right about what it accepts:
 * valid JSON that the full parser reads to the same event (the fuzz target
 * checks this).  Duplicate keys: the last one wins, as with json-c.
 */
static bool
fast_parse_event(const char *buf, size_t len, EvEvent *ev)
{
	const char *p = buf;
	const char *end = buf + len;
	const char *user_id = NULL;
	const char *name = NULL;
	const char *event_id = NULL;
	long		user_id_len = 0;
	long		name_len = 0;
	long		event_id_len = 0;
	bool		has_value = false;
	ev_int128	value = 0;
	ev_int128	number;

	skip_space(&p, end);
	if (p == end || *p != '{')
		return false;
	p++;
	skip_space(&p, end);
	for (;;)
	{
		const char *key;
		const char *v;
		long		keylen;
		long		vlen;

		if (p == end || *p != '"')
			return false;
		key = ++p;
		if ((keylen = plain_string(&p, end)) < 0)
			return false;
		skip_space(&p, end);
		if (p == end || *p != ':')
			return false;
		p++;
		skip_space(&p, end);
		if (p == end)
			return false;
		v = p;
		if (*p == '"')
		{
			v = ++p;
			if ((vlen = plain_string(&p, end)) < 0)
				return false;
			if (key_is(key, keylen, "userId", 6))
				user_id = v, user_id_len = vlen;
			else if (key_is(key, keylen, "name", 4))
				name = v, name_len = vlen;
			else if (key_is(key, keylen, "eventId", 7))
				event_id = v, event_id_len = vlen;
			else if (key_is(key, keylen, "value", 5))
				return false;
		}
		else
		{
			/* a number: the member must be "value" or unknown */
			while (p < end && !ev_is_json_space(*p) && *p != ',' && *p != '}')
				p++;
			if (ev_decimal_parse(v, (size_t) (p - v), &number) != NULL)
				return false;
			if (key_is(key, keylen, "value", 5))
				value = number, has_value = true;
			else if (key_is(key, keylen, "userId", 6) ||
					 key_is(key, keylen, "name", 4) ||
					 key_is(key, keylen, "eventId", 7))
				return false;
		}
		skip_space(&p, end);
		if (p == end)
			return false;
		if (*p == '}')
			break;
		if (*p != ',')
			return false;
		p++;
		skip_space(&p, end);
	}
	p++;
	skip_space(&p, end);
	if (p != end || user_id == NULL || name == NULL || !has_value)
		return false;

	if (ev_check_user_id(user_id, (size_t) user_id_len) != NULL ||
		ev_check_name(name, (size_t) name_len, &ev->kind) != NULL)
		return false;
	if (event_id != NULL &&
		ev_check_event_id(event_id, (size_t) event_id_len) != NULL)
		return false;
	/* the full parser rejects invalid UTF-8 anywhere in the body */
	if (!ev_utf8_valid(buf, len))
		return false;

	ev->value = value;
	memcpy(ev->user_id, user_id, (size_t) user_id_len);
	ev->user_id[user_id_len] = '\0';
	ev->user_id_len = (size_t) user_id_len;
	ev->event_id_len = event_id != NULL ? (size_t) event_id_len : 0;
	if (event_id != NULL)
		memcpy(ev->event_id, event_id, (size_t) event_id_len);
	ev->event_id[ev->event_id_len] = '\0';
	return true;
}

/*
 * ev_parse_line parses one line of a journal file: a line written by
 * evproc takes the fast path, anything else (a dropped file, a torn line)
 * the full parser, with the same result either way.
 */
bool
ev_parse_line(EvParser *parser, const char *line, size_t len,
			  EvEvent *ev, char *errbuf, size_t errlen)
{
	if (parser->fast && fast_parse_line(line, len, ev))
		return true;
	return ev_parse_event(parser, line, len, ev, errbuf, errlen);
}

/* grow_events makes room for one more event in *events. */
static bool
grow_events(EvEvent **events, size_t n, size_t *cap)
{
	if (n == *cap)
	{
		size_t		newcap = *cap ? *cap * 2 : 16;
		EvEvent    *grown = realloc(*events, newcap * sizeof(EvEvent));

		if (grown == NULL)
			return false;
		*events = grown;
		*cap = newcap;
	}
	return true;
}

/*
 * ev_parse_batch parses a request body: one event, a JSON array of events,
 * or (ndjson) one event per line.  The whole batch is validated before
 * anything is returned; on success *events (malloc'd, the caller frees it)
 * holds *nevents events.  On failure errbuf says what is wrong and
 * *bad_index is the 0-based index of the first bad event, or -1 if the
 * body as a whole is bad.  *is_batch tells an array or NDJSON body from a
 * single event.
 */
bool
ev_parse_batch(EvParser *parser, const char *buf, size_t len, bool ndjson,
			   size_t max_events, EvEvent **events, size_t *nevents,
			   bool *is_batch, long *bad_index, char *errbuf, size_t errlen)
{
	size_t		cap = 0;
	size_t		n = 0;
	char		err[EV_ERROR_BUFSZ];

	*events = NULL;
	*nevents = 0;
	*bad_index = -1;
	*is_batch = ndjson;

	if (ndjson)
	{
		const char *p = buf;
		const char *end = buf + len;

		while (p < end)
		{
			const char *nl = memchr(p, '\n', (size_t) (end - p));
			size_t		llen = (nl ? nl : end) - p;
			bool		blank = true;

			for (size_t i = 0; i < llen && blank; i++)
				blank = ev_is_json_space(p[i]);
			if (!blank)
			{
				if (n == max_events)
				{
					snprintf(errbuf, errlen,
							 "batch has more than %zu events (evproc.max_batch_events)",
							 max_events);
					goto fail;
				}
				if (!grow_events(events, n, &cap))
				{
					snprintf(errbuf, errlen, "out of memory");
					goto fail;
				}
				if (!ev_parse_event(parser, p, llen, &(*events)[n], err, sizeof(err)))
				{
					*bad_index = (long) n;
					snprintf(errbuf, errlen, "event %zu: %s", n, err);
					goto fail;
				}
				n++;
			}
			p += llen + 1;
		}
		if (n == 0)
		{
			snprintf(errbuf, errlen, "request body is empty");
			goto fail;
		}
	}
	else if (parser->fast && (*events = malloc(sizeof(EvEvent))) != NULL &&
			 fast_parse_event(buf, len, &(*events)[0]))
		n = 1;
	else
	{
		bool		is_null;
		json_object *root;

		free(*events);
		*events = NULL;
		root = parse_json(parser, buf, len, &is_null, errbuf, errlen);
		if (root == NULL && !is_null)
			goto fail;
		if (root != NULL && json_object_is_type(root, json_type_array))
		{
			size_t		count = json_object_array_length(root);

			*is_batch = true;
			if (count == 0)
				snprintf(errbuf, errlen, "batch is empty");
			else if (count > max_events)
				snprintf(errbuf, errlen,
						 "batch has more than %zu events (evproc.max_batch_events)",
						 max_events);
			else if ((*events = malloc(count * sizeof(EvEvent))) == NULL)
				snprintf(errbuf, errlen, "out of memory");
			else
			{
				for (n = 0; n < count; n++)
				{
					const char *msg = validate_event(json_object_array_get_idx(root, n),
													 &(*events)[n]);

					if (msg != NULL)
					{
						*bad_index = (long) n;
						snprintf(errbuf, errlen, "event %zu: %s", n, msg);
						break;
					}
				}
			}
			json_object_put(root);
			if (n < count || count == 0)
				goto fail;
		}
		else
		{
			const char *msg;

			if ((*events = malloc(sizeof(EvEvent))) == NULL)
			{
				json_object_put(root);
				snprintf(errbuf, errlen, "out of memory");
				goto fail;
			}
			msg = validate_event(root, &(*events)[0]);
			json_object_put(root);
			if (msg != NULL)
			{
				snprintf(errbuf, errlen, "%s", msg);
				goto fail;
			}
			n = 1;
		}
	}
	*nevents = n;
	return true;

fail:
	free(*events);
	*events = NULL;
	return false;
}
