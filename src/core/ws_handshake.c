/*-------------------------------------------------------------------------
 *
 * ws_handshake.c
 *	  The opening handshake of the WebSocket protocol (RFC 6455 §4.2):
 *	  checking a client's upgrade request headers and computing
 *	  Sec-WebSocket-Accept, with the SHA-1 of FIPS 180-4 and the base64 of
 *	  RFC 4648 written here (both small and only needed for this).
 *
 * Backend-free (libc only), without I/O; see ws.h.  The frames are ws.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "core/ws.h"

#include <string.h>

#ifdef POSTGRES_H
#error "ws_handshake.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* the GUID of RFC 6455 §1.3 that the accept key is computed with */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---------------------------------------------------------------- SHA-1 */

static uint32_t
rotl(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

/* sha1_block processes one 64-byte block into the state h (FIPS 180-4 §6.1.2) */
static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t	w[80];
	uint32_t	a = h[0],
				b = h[1],
				c = h[2],
				d = h[3],
				e = h[4];

	for (int t = 0; t < 16; t++)
		w[t] = (uint32_t) p[4 * t] << 24 | (uint32_t) p[4 * t + 1] << 16 |
			(uint32_t) p[4 * t + 2] << 8 | (uint32_t) p[4 * t + 3];
	for (int t = 16; t < 80; t++)
		w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
	for (int t = 0; t < 80; t++)
	{
		uint32_t	f,
					k,
					tmp;

		if (t < 20)
		{
			f = (b & c) | (~b & d);
			k = 0x5A827999;
		}
		else if (t < 40)
		{
			f = b ^ c ^ d;
			k = 0x6ED9EBA1;
		}
		else if (t < 60)
		{
			f = (b & c) | (b & d) | (c & d);
			k = 0x8F1BBCDC;
		}
		else
		{
			f = b ^ c ^ d;
			k = 0xCA62C1D6;
		}
		tmp = rotl(a, 5) + f + e + k + w[t];
		e = d;
		d = c;
		c = rotl(b, 30);
		b = a;
		a = tmp;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

/* ws_sha1 computes the SHA-1 digest of data[0..len) into out */
void
ws_sha1(const void *data, size_t len, unsigned char out[20])
{
	uint32_t	h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	const unsigned char *p = data;
	unsigned char last[128];
	size_t		rest = len % 64;
	size_t		nlast;
	uint64_t	bits = (uint64_t) len * 8;

	for (size_t i = 0; i + 64 <= len; i += 64)
		sha1_block(h, p + i);

	/* padding: 0x80, zeros, and the length in bits, big-endian */
	memset(last, 0, sizeof(last));
	if (rest > 0)
		memcpy(last, p + len - rest, rest);
	last[rest] = 0x80;
	nlast = rest + 1 + 8 <= 64 ? 64 : 128;
	for (int i = 0; i < 8; i++)
		last[nlast - 1 - i] = (unsigned char) (bits >> (8 * i));
	sha1_block(h, last);
	if (nlast == 128)
		sha1_block(h, last + 64);

	for (int i = 0; i < 5; i++)
	{
		out[4 * i] = (unsigned char) (h[i] >> 24);
		out[4 * i + 1] = (unsigned char) (h[i] >> 16);
		out[4 * i + 2] = (unsigned char) (h[i] >> 8);
		out[4 * i + 3] = (unsigned char) h[i];
	}
}

/* --------------------------------------------------------------- base64 */

static const char b64_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * ws_base64_encode writes the base64 of in[0..len) (with '=' padding) and
 * a NUL to out, which must hold 4 * ((len + 2) / 3) + 1 bytes; returns the
 * length written, NUL excluded.
 */
size_t
ws_base64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t		o = 0;

	for (size_t i = 0; i < len; i += 3)
	{
		uint32_t	v = (uint32_t) in[i] << 16;
		size_t		n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t) in[i + 1] << 8;
		if (n > 2)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = n > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = n > 2 ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* b64_value: the 6-bit value of a base64 character, or -1 */
static int
b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64_alphabet, c) : NULL;

	return p != NULL ? (int) (p - b64_alphabet) : -1;
}

/*
 * key_is_16_bytes: is key the canonical base64 of exactly 16 bytes?  That
 * is 22 characters of the alphabet (the last with its 4 low bits zero, as
 * an encoder writes them) and "==".
 */
static bool
key_is_16_bytes(const char *key)
{
	if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return false;
	for (int i = 0; i < 22; i++)
		if (b64_value(key[i]) < 0)
			return false;
	return (b64_value(key[21]) & 15) == 0;
}

/* ------------------------------------------------------------ handshake */

/*
 * ws_accept_key computes the Sec-WebSocket-Accept value for a client's
 * Sec-WebSocket-Key (§4.2.2): base64(SHA-1(key + GUID)), 28 characters
 * and a NUL.  false if the key is too long to be one (over 64 bytes).
 */
bool
ws_accept_key(const char *client_key, char out[WS_ACCEPT_SIZE])
{
	char		buf[64 + sizeof(WS_GUID)];
	size_t		klen = strlen(client_key);
	unsigned char digest[20];

	if (klen > 64)
		return false;
	memcpy(buf, client_key, klen);
	memcpy(buf + klen, WS_GUID, sizeof(WS_GUID) - 1);
	ws_sha1(buf, klen + sizeof(WS_GUID) - 1, digest);
	ws_base64_encode(digest, sizeof(digest), out);
	return true;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * has_token: does the comma-separated list s hold token, compared without
 * regard to ASCII case, with optional white space around the elements?
 */
static bool
has_token(const char *s, const char *token)
{
	size_t		tlen = strlen(token);

	while (*s != '\0')
	{
		const char *start;
		const char *end;

		while (is_ows(*s) || *s == ',')
			s++;
		start = s;
		while (*s != '\0' && *s != ',')
			s++;
		end = s;
		while (end > start && is_ows(end[-1]))
			end--;
		if ((size_t) (end - start) == tlen)
		{
			size_t		i;

			for (i = 0; i < tlen; i++)
			{
				char		a = start[i];
				char		b = token[i];

				if (a >= 'A' && a <= 'Z')
					a += 'a' - 'A';
				if (a != b)
					break;
			}
			if (i == tlen)
				return true;
		}
	}
	return false;
}

/*
 * ws_check_request checks the headers of a client's opening handshake
 * (§4.2.1), each given as its value or NULL if absent: Upgrade must list
 * "websocket" and Connection "upgrade" (tokens, any case),
 * Sec-WebSocket-Version must be 13 and Sec-WebSocket-Key the base64 of 16
 * bytes.  Returns NULL if they are acceptable, else a static message for
 * the client.  The method (GET) and HTTP/1.1 are the caller's to check.
 */
const char *
ws_check_request(const char *upgrade, const char *connection,
				 const char *version, const char *key)
{
	if (upgrade == NULL || !has_token(upgrade, "websocket"))
		return "the Upgrade header must be \"websocket\"";
	if (connection == NULL || !has_token(connection, "upgrade"))
		return "the Connection header must contain \"Upgrade\"";
	if (version == NULL)
		return "the Sec-WebSocket-Version header is missing (it must be 13)";
	while (is_ows(*version))
		version++;
	if (strncmp(version, "13", 2) != 0 || version[2 + strspn(version + 2, " \t")] != '\0')
		return "Sec-WebSocket-Version must be 13";
	if (key == NULL)
		return "the Sec-WebSocket-Key header is missing";
	if (!key_is_16_bytes(key))
		return "Sec-WebSocket-Key must be the base64 of 16 bytes";
	return NULL;
}
