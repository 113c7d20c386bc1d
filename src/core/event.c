/*-------------------------------------------------------------------------
 *
 * event.c
 *	  Events: reading a request body or a journal line into EvEvents,
 *	  with json-c or, for the common shapes, without it; and giving an
 *	  event its type (ev_set_type).
 *
 * Backend-free (libc and json-c only); see event.h.  A journal line is
 * read by the same code as a request body (validate_event, or the fast
 * paths), whether evproc wrote it or it is in a file dropped into the
 * journal directory, so both paths accept exactly the same events; a line
 * may besides record the event's type ("metric" and "effect"), which a
 * request body cannot set.  The rules of the fields are not here but in
 * validate.c, which every parser here calls; values are read by decimal.c.
 * Journal lines are written, and those evproc wrote read on a fast path of
 * their own, by journal/line.c, which calls ev_parse_typed for the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "core/compat.h"
#include "core/event_int.h"

#include <stdint.h>
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

/* ev_parser_fast: does the parser try the fast paths first? */
bool
ev_parser_fast(const EvParser *parser)
{
	return parser->fast;
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
 * tokenize parses text[0..tlen) with json-c: the value, NULL with *is_null
 * set for a JSON null, or NULL with *err_off (an offset in text) and a
 * message in errbuf ending in " at offset ", for the caller to complete.
 */
static json_object *
tokenize(EvParser *parser, const char *text, size_t tlen, bool *is_null,
		 size_t *err_off, char *errbuf, size_t errlen)
{
	json_tokener *tok;
	json_object *root;
	size_t		parsed;
	size_t		end;

	*err_off = SIZE_MAX;
	tok = ready_tokener(parser);
	if (tok == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	root = json_tokener_parse_ex(tok, text, (int) tlen);
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
		parsed = tlen;
	}
	if (root == NULL)
	{
		enum json_tokener_error jerr = json_tokener_get_error(tok);

		if (jerr == json_tokener_success)
			*is_null = true;
		else
		{
			parser->tok_failed = true;
			snprintf(errbuf, errlen, "invalid JSON: %s at offset ",
					 json_tokener_error_desc(jerr));
			*err_off = parsed;
		}
		return NULL;
	}
	for (end = parsed; end < tlen; end++)
	{
		if (!ev_is_json_space(text[end]))
		{
			snprintf(errbuf, errlen,
					 "invalid JSON: unexpected characters after the event at offset ");
			*err_off = end;
			json_object_put(root);
			return NULL;
		}
	}
	return root;
}

/*
 * parse_json parses buf[0..len) as one JSON value with nothing but white
 * space after it.  Returns the value (the caller puts it) or NULL with a
 * message in errbuf.  A JSON null comes back as NULL with *is_null set.
 * The text is first checked for what json-c would let through (see
 * ev_check_json_text), and rewritten for the json-c versions that need it
 * (compat.h); offsets in messages are those of buf.
 */
static json_object *
parse_json(EvParser *parser, const char *buf, size_t len, bool *is_null,
		   char *errbuf, size_t errlen)
{
	json_object *root;
	const char *text = buf;
	size_t		tlen = len;
	char	   *copy = NULL;
	size_t		err_off;
	size_t		end;

	*is_null = false;
	/* json-c takes an int length (and the rewrite may triple it) */
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

#if COMPAT_JSONC_WIDE_INTEGERS
	copy = compat_json_rewrite(buf, len, COMPAT_JSONC_ESCAPE_NON_ASCII, &tlen);
	if (copy == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	text = copy;
#endif
	root = tokenize(parser, text, tlen, is_null, &err_off, errbuf, errlen);
	if (root == NULL && err_off != SIZE_MAX)
	{
		size_t		used = strlen(errbuf);

		if (copy != NULL)
			err_off = compat_json_source_offset(buf, len,
												COMPAT_JSONC_ESCAPE_NON_ASCII,
												err_off);
		snprintf(errbuf + used, errlen > used ? errlen - used : 0, "%zu", err_off);
	}
	free(copy);
	return root;
}

/*
 * string_member gets the string member key of root into *s and *len, or
 * NULL if there is none (or it is null).  Returns the message for a member
 * of another type.
 */
static const char *
string_member(json_object *root, const char *key, const char *not_string,
			  const char **s, size_t *len)
{
	json_object *field;

	*s = NULL;
	*len = 0;
	if (!json_object_object_get_ex(root, key, &field) || field == NULL)
		return NULL;
	if (!json_object_is_type(field, json_type_string))
		return not_string;
	*s = json_object_get_string(field);
	*len = (size_t) json_object_get_string_len(field);
	return NULL;
}

/*
 * validate_event checks one parsed event and fills *ev: an event of a
 * request body, or (line) of a journal line, which may record its type.
 * Returns NULL on success, else a client-facing message naming the field.
 */
static const char *
validate_event(json_object *root, bool line, EvEvent *ev)
{
	json_object *field;
	const char *s;
	size_t		slen;
	const char *msg;
	const char *metric;
	const char *effect;
	size_t		mlen;
	size_t		elen;

	if (root == NULL || !json_object_is_type(root, json_type_object))
		return "event must be a JSON object";

	/* userId */
	if ((msg = string_member(root, "userId", "userId must be a string",
							 &s, &slen)) != NULL)
		return msg;
	if (s == NULL)
		return "userId is required";
	if ((msg = ev_check_user_id(s, slen)) != NULL)
		return msg;
	memcpy(ev->user_id, s, slen);
	ev->user_id[slen] = '\0';
	ev->user_id_len = slen;

	/* name */
	if ((msg = string_member(root, "name", "name must be a string",
							 &s, &slen)) != NULL)
		return msg;
	if (s == NULL)
		return "name is required";
	if ((msg = ev_check_name(s, slen)) != NULL)
		return msg;
	memcpy(ev->name, s, slen);
	ev->name[slen] = '\0';
	ev->name_len = slen;

	/* value: optional here, see ev_set_type */
	ev->value = 0;
	ev->has_value = json_object_object_get_ex(root, "value", &field) &&
		field != NULL;
	if (ev->has_value && (msg = parse_value(field, &ev->value)) != NULL)
		return msg;

	/* eventId: optional */
	if ((msg = string_member(root, "eventId", "eventId must be a string",
							 &s, &slen)) != NULL)
		return msg;
	if (s != NULL && (msg = ev_check_event_id(s, slen)) != NULL)
		return msg;
	memcpy(ev->event_id, s != NULL ? s : "", slen);
	ev->event_id[slen] = '\0';
	ev->event_id_len = slen;

	/* the type: only a journal line records it */
	if (!line)
	{
		ev_clear_type(ev);
		return NULL;
	}
	if ((msg = string_member(root, "metric", "metric must be a string",
							 &metric, &mlen)) != NULL ||
		(msg = string_member(root, "effect", "effect must be a string",
							 &effect, &elen)) != NULL)
		return msg;
	return ev_line_type(ev, metric, mlen, effect, elen);
}

/*
 * parse_one parses one event, of a request body or (line) a journal line:
 * with the fast path for plain objects, else with json-c.
 */
static bool
parse_one(EvParser *parser, const char *buf, size_t len, bool line,
		  EvEvent *ev, char *errbuf, size_t errlen)
{
	bool		is_null;
	json_object *root;
	const char *msg;

	if (parser->fast && ev_fast_parse_event(buf, len, line, ev))
		return true;
	root = parse_json(parser, buf, len, &is_null, errbuf, errlen);
	if (root == NULL && !is_null)
		return false;
	msg = validate_event(root, line, ev);
	json_object_put(root);
	if (msg != NULL)
	{
		snprintf(errbuf, errlen, "%s", msg);
		return false;
	}
	return true;
}

bool
ev_parse_event(EvParser *parser, const char *buf, size_t len,
			   EvEvent *ev, char *errbuf, size_t errlen)
{
	return parse_one(parser, buf, len, false, ev, errbuf, errlen);
}

/*
 * ev_parse_typed parses one event that may record its type ("metric" and
 * "effect"), as a journal line may: a typed event if it does, else an
 * untyped event whose value may be missing, as from ev_parse_event.
 * journal_line_parse calls it for the lines its own fast path does not
 * read.
 */
bool
ev_parse_typed(EvParser *parser, const char *buf, size_t len,
			   EvEvent *ev, char *errbuf, size_t errlen)
{
	return parse_one(parser, buf, len, true, ev, errbuf, errlen);
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
 * fast_body reads a request body on the fast path (event_fast.c): one plain
 * object, or an array of them, what nearly every client sends.  It returns
 * false for anything else and for every mistake (an empty array, one over
 * max_events too): the full parser then reads the body and words the error.
 */
static bool
fast_body(const char *buf, size_t len, size_t max_events, EvEvent **events,
		  size_t *nevents, bool *is_batch)
{
	const char *p = buf;
	const char *end = buf + len;
	size_t		cap = 0;
	size_t		n = 0;

	ev_skip_space(&p, end);
	if (p < end && *p == '[')
	{
		for (p++;; p++)
		{
			ev_skip_space(&p, end);
			if (n == max_events || !grow_events(events, n, &cap) ||
				!ev_fast_parse_object(&p, end, false, &(*events)[n]))
				goto fail;
			n++;
			ev_skip_space(&p, end);
			if (p == end || *p != ',')
				break;
		}
		if (p == end || *p != ']')
			goto fail;
		p++;
		*is_batch = true;
	}
	else
	{
		if ((*events = malloc(sizeof(EvEvent))) == NULL ||
			!ev_fast_parse_object(&p, end, false, &(*events)[0]))
			goto fail;
		n = 1;
	}
	ev_skip_space(&p, end);
	if (p != end)
		goto fail;
	*nevents = n;
	return true;

fail:
	free(*events);
	*events = NULL;
	*is_batch = false;
	return false;
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
				if (!parse_one(parser, p, llen, false, &(*events)[n], err,
							   sizeof(err)))
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
	else if (parser->fast &&
			 fast_body(buf, len, max_events, events, &n, is_batch))
		;
	else
	{
		bool		is_null;
		json_object *root;

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
													 false, &(*events)[n]);

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
			msg = validate_event(root, false, &(*events)[0]);
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
