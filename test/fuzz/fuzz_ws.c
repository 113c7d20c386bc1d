/*-------------------------------------------------------------------------
 *
 * fuzz_ws.c
 *	  libFuzzer target for the WebSocket frame decoder (ws.c).
 *
 * The first input byte picks the maximum message size, the second seeds
 * the points where the rest (the client's byte stream) is split.  The
 * stream is decoded at once and in pieces; both must give the same
 * messages and the same error (split independence).  Besides not reading
 * or writing out of bounds (ASan, UBSan), the target checks what every
 * result promises: a data message within the maximum size, text that is
 * UTF-8 (by a reference decoder of code points, written differently from
 * ws.c's), control payloads of at most 125 bytes, a close code that is
 * valid or 1005, an error code among 1002, 1007, 1009, all input consumed
 * unless it failed; and that each message, encoded by the encoder and
 * masked again, decodes to itself.
 *
 *	  make fuzz-ws FUZZ_SECONDS=60
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ws.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t max_sizes[] = {0, 1, 3, 16, 125, 126, 1000, 70000};

/* A transcript of a decoding: the messages and the outcome, as bytes */
typedef struct Out
{
	unsigned char *p;
	size_t		len;
	size_t		cap;
} Out;

static void
out_put(Out *o, const void *data, size_t len)
{
	if (o->len + len > o->cap)
	{
		o->cap = (o->len + len) * 2 + 64;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL)
			abort();
	}
	if (len > 0)
		memcpy(o->p + o->len, data, len);
	o->len += len;
}

/* utf8_ok: a reference check, decoding each code point */
static bool
utf8_ok(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned	c = s[i];
		int			n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 :
			(c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
		uint32_t	cp;
		static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};

		if (n < 0)
			return false;
		cp = n == 0 ? c : c & (0x3F >> n);
		for (int k = 1; k <= n; k++)
		{
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

/* check_message: the promises of a message; abort if one is broken */
static void
check_message(const WsMessage *m, size_t max)
{
	switch (m->opcode)
	{
		case WS_OP_TEXT:
			if (!utf8_ok(m->data, m->len))
				abort();
			/* fall through */
		case WS_OP_BINARY:
			if (m->len > max || m->data == NULL)
				abort();
			break;
		case WS_OP_CLOSE:
			if (m->len > WS_CONTROL_MAX ||
				(m->len == 0 ? m->close_code != WS_CLOSE_NO_STATUS :
				 !ws_close_code_valid(m->close_code) ||
				 m->reason_len != m->len - 2 ||
				 !utf8_ok((const unsigned char *) m->reason, m->reason_len)))
				abort();
			break;
		case WS_OP_PING:
		case WS_OP_PONG:
			if (m->len > WS_CONTROL_MAX || m->data == NULL)
				abort();
			break;
		default:
			abort();
	}
}

/*
 * check_round_trip: the message encoded as a server frame, masked, and
 * decoded by a new decoder is the same message.
 */
static void
check_round_trip(const WsMessage *m, size_t max)
{
	unsigned char *f = malloc(ws_frame_size(m->len) + 4);
	size_t		n;
	size_t		h;
	size_t		c;
	WsDecoder  *d = ws_decoder_create(max);
	WsMessage	again;
	static const unsigned char key[4] = {0xA1, 0x07, 0x5C, 0xEE};

	if (m->opcode == WS_OP_CLOSE)
		n = ws_encode_close(f, ws_frame_size(m->len),
							m->len == 0 ? 0 : m->close_code, NULL);
	else if (m->opcode == WS_OP_TEXT)
		n = ws_encode_text(f, ws_frame_size(m->len), (const char *) m->data, m->len);
	else
		n = ws_encode_frame(f, ws_frame_size(m->len), m->opcode, m->data, m->len);
	if (n == 0 || d == NULL)
		abort();
	/* mask it: the key after the header, the payload XORed */
	h = n - (m->opcode == WS_OP_CLOSE ? (m->len == 0 ? 0 : 2) : m->len);
	memmove(f + h + 4, f + h, n - h);
	memcpy(f + h, key, 4);
	f[1] |= 0x80;
	for (size_t i = 0; i < n - h; i++)
		f[h + 4 + i] ^= key[i & 3];
	if (ws_decoder_feed(d, f, n + 4, &c, &again) != WS_MESSAGE || c != n + 4 ||
		again.opcode != m->opcode ||
		(m->opcode != WS_OP_CLOSE &&
		 (again.len != m->len || memcmp(again.data, m->data, m->len) != 0)) ||
		(m->opcode == WS_OP_CLOSE && again.close_code != m->close_code))
		abort();
	ws_decoder_free(d);
	free(f);
}

/*
 * decode: the transcript of in[0..len) fed in pieces; cuts[0..ncuts) are
 * the offsets where a new piece starts (ascending).
 */
static Out
decode(size_t max, const unsigned char *in, size_t len, const size_t *cuts,
	   size_t ncuts, bool check)
{
	WsDecoder  *d = ws_decoder_create(max);
	Out			o = {0};
	size_t		start = 0;

	if (d == NULL)
		abort();
	for (size_t k = 0; k <= ncuts; k++)
	{
		size_t		end = k < ncuts ? cuts[k] : len;
		size_t		off = start;

		for (;;)
		{
			WsMessage	m;
			size_t		c;
			WsResult	r = ws_decoder_feed(d, in + off, end - off, &c, &m);
			int			code;

			if (c > end - off)
				abort();
			off += c;
			if (r == WS_MESSAGE)
			{
				if (check)
				{
					check_message(&m, max);
					check_round_trip(&m, max);
				}
				out_put(&o, "M", 1);
				out_put(&o, &m.opcode, sizeof(m.opcode));
				out_put(&o, &m.close_code, sizeof(m.close_code));
				out_put(&o, &m.len, sizeof(m.len));
				out_put(&o, m.data, m.len);
				continue;
			}
			if (r == WS_NEED_MORE)
			{
				if (off != end)
					abort();
				break;
			}
			/* WS_ERROR: the same code and reason whatever the split */
			{
				const char *e = ws_decoder_error(d, &code);

				if (e == NULL || (code != WS_CLOSE_PROTOCOL &&
								  code != WS_CLOSE_INVALID_DATA &&
								  code != WS_CLOSE_TOO_BIG))
					abort();
				out_put(&o, "E", 1);
				out_put(&o, &code, sizeof(code));
				out_put(&o, e, strlen(e));
			}
			ws_decoder_free(d);
			return o;
		}
		start = end;
	}
	ws_decoder_free(d);
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t		max;
	uint32_t	seed;
	const unsigned char *in;
	size_t		len;
	size_t		cuts[64];
	size_t		ncuts = 0;
	Out			whole;
	Out			split;

	if (size < 2)
		return 0;
	max = max_sizes[data[0] % (sizeof(max_sizes) / sizeof(max_sizes[0]))];
	seed = data[1] * 2654435761u + 1;
	in = data + 2;
	len = size - 2;

	/* up to 64 cuts, ascending, some of them empty pieces */
	for (size_t pos = 0; len > 0 && ncuts < 64;)
	{
		seed = seed * 1103515245u + 12345u;
		pos += (seed >> 16) % (data[0] & 0x80 ? 4 : 40);
		if (pos > len)
			break;
		cuts[ncuts++] = pos;
	}

	whole = decode(max, in, len, NULL, 0, true);
	split = decode(max, in, len, cuts, ncuts, false);
	if (whole.len != split.len || (whole.len > 0 &&
								   memcmp(whole.p, split.p, whole.len) != 0))
		abort();
	free(whole.p);
	free(split.p);
	return 0;
}
