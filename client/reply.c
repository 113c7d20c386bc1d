/*-------------------------------------------------------------------------
 *
 * reply.c
 *	  Reading the evproc server's JSON replies: {"accepted": N,
 *	  "duplicates": D}, {"error": "...", "index": I} and {"userId": "u",
 *	  "revenue": R, "metrics": {"revenue": R, "purchases": P, ...}}.
 *
 * Revenue and metrics are exact decimals that may not fit in 64 bits, and
 * json-c would clamp a large integer or round through a double; so they
 * are printed as the numbers' literal text, cut out of the (json-c
 * validated) reply by json_member_raw and member_next.
 *
 *-------------------------------------------------------------------------
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "reply.h"

/* reply_parse returns the reply as a JSON object, or NULL */
static json_object *
reply_parse(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *obj;

	if (body == NULL || len == 0 || len > INT_MAX)
		return NULL;
	tok = json_tokener_new();
	if (tok == NULL)
		return NULL;
	obj = json_tokener_parse_ex(tok, body, (int) len);
	json_tokener_free(tok);
	if (obj != NULL && !json_object_is_type(obj, json_type_object))
	{
		json_object_put(obj);
		obj = NULL;
	}
	return obj;
}

/* the member key of obj if it is an integer */
static bool
int_member(json_object *obj, const char *key, int64_t *value)
{
	json_object *field;

	if (!json_object_object_get_ex(obj, key, &field) ||
		!json_object_is_type(field, json_type_int))
		return false;
	*value = json_object_get_int64(field);
	return true;
}

/*
 * reply_accepted reads a 200 reply to a POST: *accepted, and *duplicates
 * (-1 when the server does not say, as for events without eventIds).
 */
bool
reply_accepted(const char *body, size_t len, int64_t *accepted,
			   int64_t *duplicates)
{
	json_object *obj = reply_parse(body, len);
	bool		ok;

	*accepted = -1;
	*duplicates = -1;
	if (obj == NULL)
		return false;
	ok = int_member(obj, "accepted", accepted);
	if (!int_member(obj, "duplicates", duplicates))
		*duplicates = -1;
	json_object_put(obj);
	return ok;
}

/* copy_printable copies s into out, control characters as spaces */
static void
copy_printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t		o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len && o + 1 < outlen; i++)
	{
		unsigned char c = (unsigned char) s[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
	}
	/* no trailing blanks (a reply ending in a newline) */
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/*
 * reply_error_text writes a one-line description of an error reply: its
 * "error" string, or else the start of the body itself.
 */
void
reply_error_text(const char *body, size_t len, char *out, size_t outlen)
{
	json_object *obj = reply_parse(body, len);
	json_object *field;

	if (obj != NULL && json_object_object_get_ex(obj, "error", &field) &&
		json_object_is_type(field, json_type_string))
	{
		copy_printable(json_object_get_string(field),
					   (size_t) json_object_get_string_len(field),
					   out, outlen);
		json_object_put(obj);
		return;
	}
	if (obj != NULL)
		json_object_put(obj);
	if (len == 0)
	{
		snprintf(out, outlen, "(empty reply)");
		return;
	}
	copy_printable(body, len > 200 ? 200 : len, out, outlen);
}

/* reply_error_index reads the 0-based "index" of the bad event of a 400 */
bool
reply_error_index(const char *body, size_t len, long *index)
{
	json_object *obj = reply_parse(body, len);
	int64_t		v;
	bool		ok;

	if (obj == NULL)
		return false;
	ok = int_member(obj, "index", &v) && v >= 0 && v <= LONG_MAX;
	json_object_put(obj);
	if (ok)
		*index = (long) v;
	return ok;
}

/*
 * reply_strip_event_prefix drops the "event I: " that the server puts
 * before the reason of a bad event: the client names the input line
 * instead.
 */
const char *
reply_strip_event_prefix(const char *error, long index)
{
	char		prefix[40];
	size_t		plen;

	snprintf(prefix, sizeof(prefix), "event %ld: ", index);
	plen = strlen(prefix);
	if (strncmp(error, prefix, plen) == 0)
		return error + plen;
	return error;
}

static size_t
skip_space(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
					   s[i] == '\r'))
		i++;
	return i;
}

/* skip_string moves *i past the string that starts there */
static bool
skip_string(const char *s, size_t len, size_t *i)
{
	size_t		p = *i + 1;

	while (p < len)
	{
		if (s[p] == '\\')
			p += 2;
		else if (s[p] == '"')
		{
			*i = p + 1;
			return true;
		}
		else
			p++;
	}
	return false;
}

/* skip_value moves *i past the JSON value that starts there */
static bool
skip_value(const char *s, size_t len, size_t *i)
{
	size_t		p = *i;

	if (p >= len)
		return false;
	if (s[p] == '"')
		return skip_string(s, len, i);
	if (s[p] == '{' || s[p] == '[')
	{
		int			depth = 0;

		while (p < len)
		{
			if (s[p] == '"')
			{
				if (!skip_string(s, len, &p))
					return false;
				continue;
			}
			if (s[p] == '{' || s[p] == '[')
				depth++;
			else if (s[p] == '}' || s[p] == ']')
			{
				if (--depth == 0)
				{
					*i = p + 1;
					return true;
				}
			}
			p++;
		}
		return false;
	}
	/* a number or a literal */
	while (p < len && s[p] != ',' && s[p] != '}' && s[p] != ']' &&
		   s[p] != ' ' && s[p] != '\t' && s[p] != '\n' && s[p] != '\r')
		p++;
	if (p == *i)
		return false;
	*i = p;
	return true;
}

/*
 * Walking the members of a JSON object: member_first positions *i at the
 * first member of the object in s (false if s is not an object or it is
 * empty), member_next reads the member at *i, sets where its key's text
 * (without the quotes, escapes undecoded) and its value's literal text are,
 * and moves *i to the next member (*more false after the last one).
 */
static bool
member_first(const char *s, size_t len, size_t *i)
{
	size_t		p = skip_space(s, len, 0);

	if (p >= len || s[p] != '{')
		return false;
	p = skip_space(s, len, p + 1);
	if (p < len && s[p] == '}')
		return false;
	*i = p;
	return true;
}

static bool
member_next(const char *s, size_t len, size_t *i, size_t *kstart,
			size_t *kend, size_t *vstart, size_t *vend, bool *more)
{
	size_t		p = *i;

	if (p >= len || s[p] != '"')
		return false;
	*kstart = p + 1;
	if (!skip_string(s, len, &p))
		return false;
	*kend = p - 1;
	p = skip_space(s, len, p);
	if (p >= len || s[p] != ':')
		return false;
	p = skip_space(s, len, p + 1);
	*vstart = p;
	if (!skip_value(s, len, &p))
		return false;
	*vend = p;
	p = skip_space(s, len, p);
	*more = p < len && s[p] == ',';
	if (*more)
		p = skip_space(s, len, p + 1);
	*i = p;
	return true;
}

/*
 * json_member_raw finds the member key of the JSON object in s (which the
 * caller has checked to be valid JSON) and returns where the literal text
 * of its value is.  Like json-c, the last of duplicate keys wins; keys are
 * compared as written (escapes are not decoded).
 */
bool
json_member_raw(const char *s, size_t len, const char *key, size_t *voff,
				size_t *vlen)
{
	size_t		klen = strlen(key);
	size_t		i;
	bool		found = false;
	bool		more = true;

	if (!member_first(s, len, &i))
		return false;
	while (more)
	{
		size_t		kstart;
		size_t		kend;
		size_t		vstart;
		size_t		vend;

		if (!member_next(s, len, &i, &kstart, &kend, &vstart, &vend, &more))
			return false;
		if (kend - kstart == klen && memcmp(s + kstart, key, klen) == 0)
		{
			*voff = vstart;
			*vlen = vend - vstart;
			found = true;
		}
	}
	return found;
}

/*
 * reply_revenue reads the revenue of a 200 reply to GET /userEvents/...
 * into out, as the number's literal text.
 */
bool
reply_revenue(const char *body, size_t len, StrBuf *out)
{
	json_object *obj = reply_parse(body, len);
	json_object *field;
	bool		ok;
	size_t		off;
	size_t		vlen;

	if (obj == NULL)
		return false;
	ok = json_object_object_get_ex(obj, "revenue", &field) &&
		(json_object_is_type(field, json_type_int) ||
		 json_object_is_type(field, json_type_double));
	json_object_put(obj);
	if (!ok || !json_member_raw(body, len, "revenue", &off, &vlen))
		return false;
	sb_reset(out);
	sb_append(out, body + off, vlen);
	return true;
}

/* one metric of a reply: its name (decoded) and its value's literal text */
typedef struct Metric
{
	char	   *name;
	const char *value;
	size_t		vlen;
} Metric;

static int
metric_cmp(const void *a, const void *b)
{
	return strcmp(((const Metric *) a)->name, ((const Metric *) b)->name);
}

/* decode_key returns the key whose quoted text is s[-1 .. len] (malloc'd) */
static char *
decode_key(const char *s, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *str;
	char	   *out = NULL;

	if (tok == NULL)
		return NULL;
	str = json_tokener_parse_ex(tok, s - 1, (int) len + 2);
	if (str != NULL && json_object_is_type(str, json_type_string))
		out = cl_strdup(json_object_get_string(str));
	json_object_put(str);
	json_tokener_free(tok);
	return out;
}

/*
 * reply_metrics reads the "metrics" object of a 200 reply to GET
 * /userEvents/... and appends to out one "NAME VALUE\n" line for each
 * metric but "revenue" (which reply_revenue reads), sorted by name in byte
 * order; VALUE is the number's literal text, as the server wrote it, and
 * bytes of NAME that are blanks or control characters are shown as '?'.
 * A reply without "metrics", or with "metrics": null (servers before event
 * types), adds nothing.  Returns false if the reply is not a JSON object,
 * or "metrics" is not an object whose values are all numbers.
 */
bool
reply_metrics(const char *body, size_t len, StrBuf *out)
{
	json_object *obj = reply_parse(body, len);
	json_object *metrics;
	Metric	   *list = NULL;
	int			n = 0;
	int			cap;
	size_t		moff;
	size_t		mlen;
	size_t		i;
	bool		more = true;
	bool		ok = false;

	if (obj == NULL)
		return false;
	if (!json_object_object_get_ex(obj, "metrics", &metrics) ||
		metrics == NULL)
	{
		json_object_put(obj);
		return true;
	}
	if (!json_object_is_type(metrics, json_type_object) ||
		!json_member_raw(body, len, "metrics", &moff, &mlen))
		goto done;
	cap = json_object_object_length(metrics);
	if (cap == 0)
	{
		ok = true;
		goto done;
	}
	list = cl_malloc(sizeof(Metric) * (size_t) cap);
	if (!member_first(body + moff, mlen, &i))
		goto done;
	while (more)
	{
		const char *m = body + moff;
		size_t		kstart;
		size_t		kend;
		size_t		vstart;
		size_t		vend;
		char	   *name;
		json_object *field;
		int			k;

		if (!member_next(m, mlen, &i, &kstart, &kend, &vstart, &vend, &more))
			goto done;
		name = decode_key(m + kstart, kend - kstart);
		if (name == NULL || !json_object_object_get_ex(metrics, name, &field) ||
			!(json_object_is_type(field, json_type_int) ||
			  json_object_is_type(field, json_type_double)))
		{
			free(name);
			goto done;
		}
		if (strcmp(name, "revenue") == 0)
		{
			free(name);
			continue;
		}
		/* like json-c, the last of duplicate keys wins */
		for (k = 0; k < n && strcmp(list[k].name, name) != 0; k++)
			;
		if (k == n)
		{
			if (n == cap)
			{
				free(name);
				goto done;
			}
			list[n++].name = name;
		}
		else
			free(name);
		list[k].value = m + vstart;
		list[k].vlen = vend - vstart;
	}
	qsort(list, (size_t) n, sizeof(Metric), metric_cmp);
	for (int k = 0; k < n; k++)
	{
		for (const char *c = list[k].name; *c != '\0'; c++)
			sb_append_char(out, ((unsigned char) *c <= 0x20 ||
								 (unsigned char) *c == 0x7f) ? '?' : *c);
		sb_append_char(out, ' ');
		sb_append(out, list[k].value, list[k].vlen);
		sb_append_char(out, '\n');
	}
	ok = true;
done:
	for (int k = 0; k < n; k++)
		free(list[k].name);
	free(list);
	json_object_put(obj);
	return ok;
}
