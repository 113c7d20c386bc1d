/*-------------------------------------------------------------------------
 *
 * event.c
 *	  Revenue events: parsing, validation, exact decimals, and the small
 *	  JSON and URL helpers shared by the HTTP server and the ingester.
 *
 * Backend-free (libc and json-c only); see event.h.  Every line that
 * reaches the database goes through ev_parse_event, whether it arrived
 * over HTTP or in a file dropped into the journal directory, so both paths
 * accept exactly the same events.
 *
 *-------------------------------------------------------------------------
 */
#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

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

static bool
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * parse_value converts a json-c number to an exact decimal.
 *
 * json-c keeps the source text of non-integers, which we parse ourselves;
 * integers it has already converted, saturating at the 64-bit limits, so a
 * saturated value is simply one of those beyond EV_INT_DIGITS.
 */
static const char *
parse_value(json_object *value, ev_int128 *out)
{
	switch (json_object_get_type(value))
	{
		case json_type_int:
			{
				int64_t		v = json_object_get_int64(value);

				if (v < 0)
					return "value must be a non-negative number";
				if (v >= (int64_t) 1000000000000000000LL)
					return "value must be less than 10^18";
				*out = (ev_int128) v * EV_SCALE;
				return NULL;
			}
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

static bool check_json_text(const char *buf, size_t len, char *errbuf,
							size_t errlen);

/*
 * parse_json parses buf[0..len) as one JSON value with nothing but white
 * space after it.  Returns the value (the caller puts it) or NULL with a
 * message in errbuf.  A JSON null comes back as NULL with *is_null set.
 * The text is first checked for what json-c would let through (see
 * check_json_text).
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
	for (end = 0; end < len && is_json_space(buf[end]); end++)
		;
	if (end == len)
	{
		snprintf(errbuf, errlen, "request body is empty");
		return NULL;
	}
	if (!check_json_text(buf, len, errbuf, errlen))
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
		if (!is_json_space(buf[end]))
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
	if (slen == 0)
		return "userId must not be empty";
	if (slen > EV_USER_ID_MAX)
		return "userId must be at most 255 bytes";
	if (memchr(s, '\0', slen) != NULL)
		return "userId must not contain NUL characters";
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
	if (slen == 11 && memcmp(s, "add_revenue", 11) == 0)
		ev->kind = EV_ADD_REVENUE;
	else if (slen == 16 && memcmp(s, "subtract_revenue", 16) == 0)
		ev->kind = EV_SUBTRACT_REVENUE;
	else
		return "name must be \"add_revenue\" or \"subtract_revenue\"";

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
		if (slen == 0)
			return "eventId must not be empty";
		if (slen > EV_EVENT_ID_MAX)
			return "eventId must be at most 128 bytes";
		if (memchr(s, '\0', slen) != NULL)
			return "eventId must not contain NUL characters";
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
	if (n <= 0 || n > EV_USER_ID_MAX)
		return false;
	memcpy(ev->user_id, s, (size_t) n);
	ev->user_id[n] = '\0';
	ev->user_id_len = (size_t) n;

	if (!expect_literal(&p, end, ",\"name\":\"", 9))
		return false;
	if (expect_literal(&p, end, "add_revenue\"", 12))
		ev->kind = EV_ADD_REVENUE;
	else if (expect_literal(&p, end, "subtract_revenue\"", 17))
		ev->kind = EV_SUBTRACT_REVENUE;
	else
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
		if (n <= 0 || n > EV_EVENT_ID_MAX)
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
	while (*p < end && is_json_space(**p))
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
			while (p < end && !is_json_space(*p) && *p != ',' && *p != '}')
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

	if (user_id_len == 0 || user_id_len > EV_USER_ID_MAX)
		return false;
	if (key_is(name, name_len, "add_revenue", 11))
		ev->kind = EV_ADD_REVENUE;
	else if (key_is(name, name_len, "subtract_revenue", 16))
		ev->kind = EV_SUBTRACT_REVENUE;
	else
		return false;
	if (event_id != NULL && (event_id_len == 0 || event_id_len > EV_EVENT_ID_MAX))
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
				blank = is_json_space(p[i]);
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

/*
 * ev_decimal_parse converts a JSON number literal to a value scaled by
 * EV_SCALE.  It accepts exactly the JSON grammar (so no NaN, Infinity,
 * leading '+', leading zeros or bare '.'), and rejects values that are
 * negative or outside the documented limits instead of rounding them.
 * Returns NULL on success, else a client-facing message.
 */
const char *
ev_decimal_parse(const char *s, size_t len, ev_int128 *out)
{
	const char *p = s;
	const char *end = s + len;
	char		digits[EV_LITERAL_DIGITS];
	int			ndigits = 0;
	int			nliteral = 0;
	long		exponent = 0;	/* value = digits * 10^exponent */
	bool		negative = false;
	ev_int128	result;

	if (p < end && *p == '-')
	{
		negative = true;
		p++;
	}
	if (p == end || *p < '0' || *p > '9')
		return "value must be a finite JSON number";

	/* integer part; significant digits only */
	if (*p == '0')
	{
		p++;
		nliteral++;
	}
	else
	{
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (++nliteral > EV_LITERAL_DIGITS)
				return "value has too many digits";
			digits[ndigits++] = *p++;
		}
	}

	/* fraction */
	if (p < end && *p == '.')
	{
		p++;
		if (p == end || *p < '0' || *p > '9')
			return "value must be a finite JSON number";
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (++nliteral > EV_LITERAL_DIGITS)
				return "value has too many digits";
			if (ndigits > 0 || *p != '0')
				digits[ndigits++] = *p;
			exponent--;
			p++;
		}
	}

	/* exponent, clamped: far beyond any limit it no longer matters */
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		bool		eneg = false;
		long		e = 0;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = (*p++ == '-');
		if (p == end || *p < '0' || *p > '9')
			return "value must be a finite JSON number";
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (e < 100000)
				e = e * 10 + (*p - '0');
			p++;
		}
		exponent += eneg ? -e : e;
	}
	if (p != end)
		return "value must be a finite JSON number";

	/* drop trailing zeros of the significand */
	while (ndigits > 0 && digits[ndigits - 1] == '0')
	{
		ndigits--;
		exponent++;
	}

	if (ndigits == 0)
	{
		*out = 0;				/* zero, including -0 and 0e999 */
		return NULL;
	}
	if (negative)
		return "value must be a non-negative number";
	if (ndigits + exponent > EV_INT_DIGITS)
		return "value must be less than 10^18";
	if (-exponent > EV_FRAC_DIGITS)
		return "value must have at most 9 digits after the decimal point";

	/* at most 27 digits now: fits comfortably in 127 bits */
	result = 0;
	for (int i = 0; i < ndigits; i++)
		result = result * 10 + (digits[i] - '0');
	for (long i = 0; i < exponent + EV_FRAC_DIGITS; i++)
		result *= 10;
	*out = result;
	return NULL;
}

/*
 * ev_decimal_format writes value / EV_SCALE as a plain decimal literal
 * (no exponent, no trailing fractional zeros) and returns its length.
 * buf must hold EV_DECIMAL_BUFSZ bytes.
 */
size_t
ev_decimal_format(ev_int128 value, char *buf)
{
	char		tmp[EV_DECIMAL_BUFSZ];
	int			n = 0;
	size_t		len = 0;
	unsigned __int128 mag;
	int			frac_end;

	if (value < 0)
	{
		buf[len++] = '-';
		mag = (unsigned __int128) (-(value + 1)) + 1;
	}
	else
		mag = (unsigned __int128) value;

	/* digits in reverse, at least EV_FRAC_DIGITS + 1 of them */
	do
	{
		tmp[n++] = (char) ('0' + (int) (mag % 10));
		mag /= 10;
	} while (mag > 0 || n <= EV_FRAC_DIGITS);

	for (int i = n - 1; i >= EV_FRAC_DIGITS; i--)
		buf[len++] = tmp[i];

	/* fraction without its trailing zeros */
	frac_end = 0;
	while (frac_end < EV_FRAC_DIGITS && tmp[frac_end] == '0')
		frac_end++;
	if (frac_end < EV_FRAC_DIGITS)
	{
		buf[len++] = '.';
		for (int i = EV_FRAC_DIGITS - 1; i >= frac_end; i--)
			buf[len++] = tmp[i];
	}
	buf[len] = '\0';
	return len;
}

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
 * ev_format_journal_line writes the journal line of an event, with a
 * trailing newline, and returns its length (0 if it does not fit).  The line
 * keeps the event's fields and adds the receive time and client address.
 */
size_t
ev_format_journal_line(const EvEvent *ev, const char *received_at,
					   const char *client_addr, char *out, size_t outlen)
{
	char		user[EV_USER_ID_MAX * 6 + 3];
	char		value[EV_DECIMAL_BUFSZ];
	char		addr[EV_ADDR_BUFSZ * 6 + 3];
	char		id[EV_EVENT_ID_MAX * 6 + 16] = "";
	int			n;

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
				 "{\"userId\":%s,\"name\":\"%s\",\"value\":%s%s,"
				 "\"receivedAt\":\"%s\",\"clientAddr\":%s}\n",
				 user,
				 ev->kind == EV_ADD_REVENUE ? "add_revenue" : "subtract_revenue",
				 value, id, received_at, addr);
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

/*
 * utf8_sequence returns the length (2 to 4) of the well-formed UTF-8
 * sequence that starts with the non-ASCII byte at p, or 0 if there is none:
 * no overlong forms, no surrogates, nothing above U+10FFFF.
 */
static inline int
utf8_sequence(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = *p;
	int			n;
	uint32_t	cp;

	if (c >= 0xc2 && c <= 0xdf)
	{
		n = 1;
		cp = c & 0x1f;
	}
	else if (c >= 0xe0 && c <= 0xef)
	{
		n = 2;
		cp = c & 0x0f;
	}
	else if (c >= 0xf0 && c <= 0xf4)
	{
		n = 3;
		cp = c & 0x07;
	}
	else
		return 0;
	if (end - p <= n)
		return 0;
	for (int i = 1; i <= n; i++)
	{
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

/*
 * ev_utf8_valid reports whether s[0..len) is well-formed UTF-8: no overlong
 * forms, no surrogates, nothing above U+10FFFF.
 */
bool
ev_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	while (p < end)
	{
		int			n;

		if (*p < 0x80)
		{
			uint64_t	word;

			/* skip ASCII eight bytes at a time */
			while (end - p >= 8)
			{
				memcpy(&word, p, 8);
				if (word & UINT64_C(0x8080808080808080))
					break;
				p += 8;
			}
			if (p < end && *p < 0x80)
				p++;
			continue;
		}
		if ((n = utf8_sequence(p, end)) == 0)
			return false;
		p += n;
	}
	return true;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * u_escape returns the code unit of the \uXXXX escape at p, or -1 if the
 * input does not hold one there.
 */
static long
u_escape(const unsigned char *p, const unsigned char *end)
{
	long		u = 0;

	if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
		return -1;
	for (int i = 2; i < 6; i++)
	{
		int			d = hex_value((char) p[i]);

		if (d < 0)
			return -1;
		u = u * 16 + d;
	}
	return u;
}

/* zero_bytes: the high bit of each byte of w that is zero, exactly */
static inline uint64_t
zero_bytes(uint64_t w)
{
	const uint64_t low7 = UINT64_C(0x7f7f7f7f7f7f7f7f);

	return ~(((w & low7) + low7) | w) & ~low7;
}

/*
 * check_escape steps *p past the escape that starts there, in a string of
 * buf (which starts at start).  A \u escape of a surrogate must be the
 * high half of a pair; the first \u0000 of the string is kept in *nul.
 * Returns false with a message for a lone surrogate.  An invalid escape is
 * stepped over: json-c refuses it.
 */
static bool
check_escape(const unsigned char **p, const unsigned char *end,
			 const unsigned char **nul, const unsigned char *start,
			 char *errbuf, size_t errlen)
{
	const unsigned char *q = *p;
	long		u = u_escape(q, end);

	if (u < 0)
	{
		/* a one-character escape, or an invalid one */
		*p += (end - q >= 2 && q[1] >= 0x20 && q[1] < 0x80) ? 2 : 1;
		return true;
	}
	if (u >= 0xd800 && u <= 0xdbff)
	{
		long		low = u_escape(q + 6, end);

		if (low >= 0xdc00 && low <= 0xdfff)
		{
			*p += 12;			/* a pair */
			return true;
		}
	}
	if (u >= 0xd800 && u <= 0xdfff)
	{
		snprintf(errbuf, errlen, "invalid JSON: lone surrogate %.6s at offset %zu",
				 (const char *) q, (size_t) (q - start));
		return false;
	}
	if (u == 0 && *nul == NULL)
		*nul = q;
	*p += 6;
	return true;
}

/*
 * check_json_text checks buf[0..len), before json-c parses it, for what
 * json-c would let through: the text must be valid UTF-8 (json-c's own
 * check lets overlong forms and surrogates pass), and a string must hold
 * no raw control character (RFC 8259 wants them escaped; json-c takes
 * them) and no \u escape of a lone surrogate (json-c makes it U+FFFD, so
 * distinct user ids would merge).  A member name must not hold \u0000
 * either: json-c cuts names at a NUL, so "userId\u0000x" would be read as
 * userId.  One pass; the first problem is reported.  Strings are delimited
 * as in valid JSON, and whatever else is wrong json-c refuses afterwards.
 *
 * Eight bytes are taken at a time while they hold no backslash, control
 * character or non-ASCII byte; there, only the parity of the quotes
 * matters, to know whether the scan is in a string (the multiplication
 * sums the quote bits of the bytes into the top byte).
 */
static bool
check_json_text(const char *buf, size_t len, char *errbuf, size_t errlen)
{
	const uint64_t ones = UINT64_C(0x0101010101010101);
	const unsigned char *start = (const unsigned char *) buf;
	const unsigned char *p = start;
	const unsigned char *end = p + len;
	int			in_string = 0;
	const unsigned char *nul = NULL;	/* a \u0000 in the current string */

	while (p < end)
	{
		unsigned char c;

		if (end - p >= 8 && nul == NULL)
		{
			uint64_t	w;
			uint64_t	quotes;
			uint64_t	notable;

			memcpy(&w, p, 8);
			quotes = zero_bytes(w ^ (ones * '"'));
			notable = zero_bytes(w ^ (ones * '\\')) |
				zero_bytes(w & (ones * 0xe0)) | (w & (ones * 0x80));
			if (notable == 0)
			{
				in_string ^= (int) (((quotes >> 7) * ones) >> 56) & 1;
				p += 8;
				continue;
			}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* up to the first notable byte */
			quotes &= (notable & -notable) - 1;
			in_string ^= (int) (((quotes >> 7) * ones) >> 56) & 1;
			p += __builtin_ctzll(notable) / 8;
#endif
		}

		/* one byte */
		c = *p;
		if (c >= 0x80)
		{
			int			n = utf8_sequence(p, end);

			if (n == 0)
			{
				snprintf(errbuf, errlen, "invalid JSON: invalid UTF-8");
				return false;
			}
			p += n;
		}
		else if (c == '"' && !in_string)
		{
			in_string = 1;
			p++;
		}
		else if (c == '"')
		{
			in_string = 0;
			for (p++; p < end && is_json_space((char) *p); p++)
				;
			if (nul != NULL && p < end && *p == ':')
			{
				snprintf(errbuf, errlen,
						 "member name must not contain NUL characters (\\u0000 at offset %zu)",
						 (size_t) (nul - start));
				return false;
			}
			nul = NULL;
		}
		else if (!in_string || (c != '\\' && c >= 0x20))
			p++;
		else if (c < 0x20)
		{
			snprintf(errbuf, errlen,
					 "invalid JSON: raw control character in a string at offset %zu",
					 (size_t) (p - start));
			return false;
		}
		else if (!check_escape(&p, end, &nul, start, errbuf, errlen))
			return false;
	}
	return true;
}

/*
 * ev_decode_user_id percent-decodes the userId segment of a request path
 * into out (EV_USER_ID_MAX + 1 bytes) and validates it like the userId of
 * an event.  A raw '/' means the path has another segment, which no user id
 * has.  Returns NULL on success, else a client-facing message.
 */
const char *
ev_decode_user_id(const char *in, char *out, size_t *outlen)
{
	size_t		o = 0;

	for (const char *p = in; *p != '\0'; p++)
	{
		char		c = *p;

		if (c == '/')
			return "userId must not contain '/' (encode it as %2F)";
		if (c == '%')
		{
			int			hi = hex_value(p[1]);
			int			lo = hi < 0 ? -1 : hex_value(p[2]);

			if (lo < 0)
				return "userId has an invalid percent-encoding";
			c = (char) (hi * 16 + lo);
			if (c == '\0')
				return "userId must not contain NUL characters";
			p += 2;
		}
		if (o == EV_USER_ID_MAX)
			return "userId must be at most 255 bytes";
		out[o++] = c;
	}
	if (o == 0)
		return "userId must not be empty";
	if (!ev_utf8_valid(out, o))
		return "userId must be valid UTF-8";
	out[o] = '\0';
	*outlen = o;
	return NULL;
}
