/*-------------------------------------------------------------------------
 *
 * json_compat.c
 *	  The rewrite of a JSON text before json-c versions 0.17 and later read
 *	  it (see compat.h for why): an integer outside int64/uint64 gets ".0",
 *	  and with "escape" (json-c 0.18) each non-ASCII character in a string
 *	  becomes a \u escape (two, a surrogate pair, above U+FFFF).  And the
 *	  way back: an offset in the rewritten text to one in the original, for
 *	  json-c's error messages.
 *
 * Backend-free; also linked into evproc-client (client/jsonl.c).  In the
 * server the text has passed ev_check_json_text (valid UTF-8, strings
 * delimited as in JSON); bytes that are not UTF-8 are left as they are.
 *
 *-------------------------------------------------------------------------
 */
#include "core/compat.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTGRES_H
#error "json_compat.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/*
 * wide_integer: whether buf[i..j) (an optional '-' and digits, not followed
 * by '.', 'e' or 'E') is an integer that int64 (negative) or uint64 cannot
 * hold.  One with a leading zero is left to json-c, which refuses it.
 */
static bool
wide_integer(const char *buf, size_t i, size_t j)
{
	bool		neg = buf[i] == '-';
	const char *limit = neg ? "9223372036854775808" : "18446744073709551615";
	size_t		start = i + (neg ? 1 : 0);
	size_t		ndig = j - start;
	size_t		nlimit = strlen(limit);

	if (ndig == 0 || (buf[start] == '0' && ndig > 1))
		return false;
	if (ndig != nlimit)
		return ndig > nlimit;
	return memcmp(buf + start, limit, ndig) > 0;
}

/*
 * utf8_length: the length of the UTF-8 sequence of 2 to 4 bytes at buf[i],
 * or 0 if there is none (an ASCII byte, or bytes that are not UTF-8: left
 * as they are, for json-c to refuse as it does without the rewrite).
 */
static int
utf8_length(const char *buf, size_t i, size_t len)
{
	unsigned char c = (unsigned char) buf[i];
	int			n = c >= 0xc2 && c <= 0xdf ? 2 :
		c >= 0xe0 && c <= 0xef ? 3 :
		c >= 0xf0 && c <= 0xf4 ? 4 : 0;

	if (n == 0 || len - i < (size_t) n)
		return 0;
	for (int k = 1; k < n; k++)
		if (((unsigned char) buf[i + k] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * rewrite: the one pass behind both functions.  Writes the rewritten text
 * to out (if not NULL) and returns its length; if stop is not SIZE_MAX,
 * returns instead the offset in buf of the unit whose rewriting covers
 * offset stop of the output.
 */
static size_t
rewrite(const char *buf, size_t len, bool escape, char *out, size_t stop)
{
	size_t		i = 0;
	size_t		o = 0;
	bool		in_string = false;

#define EMIT(s, n) \
	do { \
		if (out != NULL) \
			memcpy(out + o, (s), (n)); \
		o += (n); \
	} while (0)

	while (i < len)
	{
		unsigned char c = (unsigned char) buf[i];
		size_t		from = i;

		if (in_string && c == '\\' && i + 1 < len)
		{
			EMIT(buf + i, 2);
			i += 2;
		}
		else if (c == '"')
		{
			in_string = !in_string;
			EMIT(buf + i, 1);
			i++;
		}
		else if (in_string && escape && utf8_length(buf, i, len) > 0)
		{
			/* one UTF-8 sequence */
			int			n = utf8_length(buf, i, len);
			uint32_t	cp = c & (0x7f >> n);
			char		esc[16];

			for (int k = 1; k < n; k++)
				cp = (cp << 6) | ((unsigned char) buf[i + k] & 0x3f);
			if (cp >= 0x10000)
				snprintf(esc, sizeof(esc), "\\u%04x\\u%04x",
						 (unsigned) (0xd800 + ((cp - 0x10000) >> 10)),
						 (unsigned) (0xdc00 + ((cp - 0x10000) & 0x3ff)));
			else
				snprintf(esc, sizeof(esc), "\\u%04x", (unsigned) cp);
			EMIT(esc, strlen(esc));
			i += n;
		}
		else if (!in_string && (c == '-' || (c >= '0' && c <= '9')))
		{
			/* the whole number: an integer if it is only "-" and digits */
			size_t		j = i + 1;
			size_t		digits_end;

			while (j < len && buf[j] >= '0' && buf[j] <= '9')
				j++;
			digits_end = j;
			while (j < len && ((buf[j] >= '0' && buf[j] <= '9') ||
							   buf[j] == '.' || buf[j] == 'e' || buf[j] == 'E' ||
							   buf[j] == '+' || buf[j] == '-'))
				j++;
			EMIT(buf + i, j - i);
			if (j == digits_end && wide_integer(buf, i, j))
				EMIT(".0", 2);
			i = j;
		}
		else
		{
			EMIT(buf + i, 1);
			i++;
		}
		if (stop != SIZE_MAX && o > stop)
			return from;
	}
#undef EMIT
	return stop != SIZE_MAX ? len : o;
}

/*
 * compat_json_rewrite returns the rewritten text of buf[0..len) (malloc'd,
 * NUL-terminated, its length in *outlen), or NULL if out of memory.
 */
char *
compat_json_rewrite(const char *buf, size_t len, bool escape, size_t *outlen)
{
	size_t		n = rewrite(buf, len, escape, NULL, SIZE_MAX);
	char	   *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	rewrite(buf, len, escape, out, SIZE_MAX);
	out[n] = '\0';
	*outlen = n;
	return out;
}

/*
 * compat_json_source_offset maps an offset of the rewritten text of
 * buf[0..len) back to buf: the start of the unit it falls in.
 */
size_t
compat_json_source_offset(const char *buf, size_t len, bool escape,
						  size_t offset)
{
	return rewrite(buf, len, escape, NULL, offset);
}
