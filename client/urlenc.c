/*-------------------------------------------------------------------------
 *
 * urlenc.c
 *	  URLs of evproc-client: percent-encoding of a user id as one path
 *	  segment (everything but the RFC 3986 unreserved characters is
 *	  encoded, "/" included, since the server decodes "%2F"), of a list
 *	  of them for a query parameter, and joining
 *	  the base URL with an endpoint path.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <strings.h>

#include "urlenc.h"

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		c == '~';
}

/* url_encode_segment appends the percent-encoded form of s to out */
void
url_encode_segment(const char *s, size_t len, StrBuf *out)
{
	static const char hex[] = "0123456789ABCDEF";

	sb_reserve(out, len * 3);
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (is_unreserved(c))
			sb_append_char(out, (char) c);
		else
		{
			char		enc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};

			sb_append(out, enc, 3);
		}
	}
}

/*
 * url_encode_list appends a comma-separated list (the "users" query
 * parameter of GET /stream), each item percent-encoded on its own, so that
 * a comma inside an item becomes %2C.  Returns false, with out partly
 * written, if an item is empty (",," or a leading or trailing comma).
 */
bool
url_encode_list(const char *list, StrBuf *out)
{
	const char *p = list;

	for (;;)
	{
		const char *comma = strchr(p, ',');
		size_t		len = comma != NULL ? (size_t) (comma - p) : strlen(p);

		if (len == 0)
			return false;
		url_encode_segment(p, len, out);
		if (comma == NULL)
			return true;
		sb_append_char(out, ',');
		p = comma + 1;
	}
}

/*
 * url_endpoint returns base + path (malloc'd), without doubling the "/"
 * between them: "http://h:8000/" + "/liveEvent" is "http://h:8000/liveEvent".
 */
char *
url_endpoint(const char *base, const char *path)
{
	StrBuf		sb;
	size_t		blen = strlen(base);

	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	sb_init(&sb);
	sb_append(&sb, base, blen);
	sb_append_str(&sb, path);
	return sb.data;
}

/*
 * url_base_valid: does base look like an http(s) URL without query or
 * fragment, and without characters that could split an HTTP request?
 */
bool
url_base_valid(const char *base)
{
	size_t		skip;

	if (strncasecmp(base, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(base, "https://", 8) == 0)
		skip = 8;
	else
		return false;
	if (base[skip] == '\0' || base[skip] == '/')
		return false;
	for (const char *p = base; *p != '\0'; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
			return false;
	}
	return true;
}
