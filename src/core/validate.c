/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  What evproc accepts as input: the rules of an event's userId, name
 *	  and eventId, of an event type's metric and effect, of UTF-8, of the
 *	  strings of a JSON text, and the decoding of a userId from a request
 *	  path.
 *
 * Each rule is written here once; see validate.h for who calls them.
 * Backend-free (libc only), so the unit tests and the fuzz target run it
 * without a server.
 *
 *-------------------------------------------------------------------------
 */
#include "core/validate.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef POSTGRES_H
#error "validate.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/*
 * The rules of an identifier (userId, eventId): 1 to max bytes of UTF-8
 * without NUL, and the messages that say which rule a string breaks.
 */
typedef struct IdRule
{
	size_t		max;
	const char *empty;
	const char *too_long;
	const char *nul;
	const char *not_utf8;
} IdRule;

static const IdRule user_id_rule = {
	EV_USER_ID_MAX,
	"userId must not be empty",
	"userId must be at most " EV_STR(EV_USER_ID_MAX) " bytes",
	"userId must not contain NUL characters",
	"userId must be valid UTF-8"
};

static const IdRule event_id_rule = {
	EV_EVENT_ID_MAX,
	"eventId must not be empty",
	"eventId must be at most " EV_STR(EV_EVENT_ID_MAX) " bytes",
	"eventId must not contain NUL characters",
	"eventId must be valid UTF-8"
};

/*
 * check_id applies an identifier's rules in a fixed order (empty, too
 * long, NUL, UTF-8), so that a string breaking several gets the same
 * message on every path.
 */
static const char *
check_id(const IdRule *rule, const char *s, size_t len)
{
	if (len == 0)
		return rule->empty;
	if (len > rule->max)
		return rule->too_long;
	if (memchr(s, '\0', len) != NULL)
		return rule->nul;
	if (!ev_utf8_valid(s, len))
		return rule->not_utf8;
	return NULL;
}

/* ev_check_user_id checks the userId s[0..len) (decoded, unquoted). */
const char *
ev_check_user_id(const char *s, size_t len)
{
	return check_id(&user_id_rule, s, len);
}

/* ev_check_event_id checks the eventId s[0..len) (decoded, unquoted). */
const char *
ev_check_event_id(const char *s, size_t len)
{
	return check_id(&event_id_rule, s, len);
}

/*
 * The rule of an event type's name and of a metric's name, one rule for
 * both: 1 to EV_NAME_MAX bytes of ASCII letters, digits, '_', '-' and '.',
 * the first a letter.  Such a name needs no quoting in JSON, in a URL or
 * in SQL output, and cannot be confused with a number.  Names are case
 * sensitive.  A string breaking the rule gets the field's message, which
 * states the whole rule.
 */
#define NAME_RULE(field) \
	field " must be 1 to " EV_STR(EV_NAME_MAX) " characters: letters, " \
	"digits, '_', '-' or '.', starting with a letter"

/* name_chars[c]: 1 for a letter, 2 for the other characters of a name */
static const unsigned char name_chars[256] = {
	['-'] = 2,['.'] = 2,['_'] = 2,
	['0'] = 2,['1'] = 2,['2'] = 2,['3'] = 2,['4'] = 2,
	['5'] = 2,['6'] = 2,['7'] = 2,['8'] = 2,['9'] = 2,
	['A'] = 1,['B'] = 1,['C'] = 1,['D'] = 1,['E'] = 1,['F'] = 1,['G'] = 1,
	['H'] = 1,['I'] = 1,['J'] = 1,['K'] = 1,['L'] = 1,['M'] = 1,['N'] = 1,
	['O'] = 1,['P'] = 1,['Q'] = 1,['R'] = 1,['S'] = 1,['T'] = 1,['U'] = 1,
	['V'] = 1,['W'] = 1,['X'] = 1,['Y'] = 1,['Z'] = 1,
	['a'] = 1,['b'] = 1,['c'] = 1,['d'] = 1,['e'] = 1,['f'] = 1,['g'] = 1,
	['h'] = 1,['i'] = 1,['j'] = 1,['k'] = 1,['l'] = 1,['m'] = 1,['n'] = 1,
	['o'] = 1,['p'] = 1,['q'] = 1,['r'] = 1,['s'] = 1,['t'] = 1,['u'] = 1,
	['v'] = 1,['w'] = 1,['x'] = 1,['y'] = 1,['z'] = 1
};

/* name_valid: does s[0..len) follow the rule of names? */
static inline bool
name_valid(const char *s, size_t len)
{
	if (len == 0 || len > EV_NAME_MAX ||
		name_chars[(unsigned char) s[0]] != 1)
		return false;
	for (size_t i = 1; i < len; i++)
		if (name_chars[(unsigned char) s[i]] == 0)
			return false;
	return true;
}

/*
 * ev_check_name checks the name s[0..len) (decoded, unquoted) of an event,
 * that is of its type.  Whether the type is defined is the server's
 * business, not this rule's.
 */
const char *
ev_check_name(const char *s, size_t len)
{
	return name_valid(s, len) ? NULL : NAME_RULE("name");
}

/* ev_check_metric checks the name s[0..len) of a metric. */
const char *
ev_check_metric(const char *s, size_t len)
{
	return name_valid(s, len) ? NULL : NAME_RULE("metric");
}

static const char *const effect_names[] = {
	[EV_EFFECT_ADD] = "add",
	[EV_EFFECT_SUBTRACT] = "subtract",
	[EV_EFFECT_COUNT] = "count"
};

/*
 * ev_parse_effect sets *effect from its name s[0..len): "add", "subtract"
 * or "count", exactly.  Returns false (leaving *effect alone) for anything
 * else.
 */
bool
ev_parse_effect(const char *s, size_t len, EvEffect *effect)
{
	for (int e = EV_EFFECT_ADD; e <= EV_EFFECT_COUNT; e++)
	{
		if (len == strlen(effect_names[e]) &&
			memcmp(s, effect_names[e], len) == 0)
		{
			*effect = (EvEffect) e;
			return true;
		}
	}
	return false;
}

/* ev_effect_name: the name of an effect, NULL if it is none */
const char *
ev_effect_name(EvEffect effect)
{
	if ((int) effect < EV_EFFECT_ADD || (int) effect > EV_EFFECT_COUNT)
		return NULL;
	return effect_names[effect];
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
 * ev_check_json_text checks buf[0..len), before json-c parses it, for what
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
bool
ev_check_json_text(const char *buf, size_t len, char *errbuf, size_t errlen)
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
			quotes = ev_zero_bytes(w ^ (ones * '"'));
			notable = ev_zero_bytes(w ^ (ones * '\\')) |
				ev_zero_bytes(w & (ones * 0xe0)) | (w & (ones * 0x80));
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
			for (p++; p < end && ev_is_json_space((char) *p); p++)
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
 * into out (EV_USER_ID_MAX + 1 bytes) and checks it with ev_check_user_id,
 * like the userId of an event.  A raw '/' means the path has another
 * segment, which no user id has.  Returns NULL on success, else a
 * client-facing message: the decoding's own errors first, then the
 * userId's.
 */
const char *
ev_decode_user_id(const char *in, char *out, size_t *outlen)
{
	size_t		o = 0;
	const char *msg;

	/* one byte past the limit is enough to refuse the id */
	for (const char *p = in; *p != '\0' && o <= EV_USER_ID_MAX; p++)
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
			p += 2;
		}
		out[o++] = c;
	}
	if ((msg = ev_check_user_id(out, o)) != NULL)
		return msg;
	out[o] = '\0';
	*outlen = o;
	return NULL;
}
