/*-------------------------------------------------------------------------
 *
 * ws.c
 *	  The frames of the WebSocket protocol (RFC 6455): the streaming
 *	  decoder of client frames with every check of §5 and §7.4, and the
 *	  encoder of server frames.  The opening handshake is
 *	  ws_handshake.c's.
 *
 * The decoder takes bytes as they arrive, split anywhere, and gives the
 * same messages and the same error whatever the split.  Its memory is
 * bounded: a message buffer that grows with the bytes received, never
 * beyond the maximum message size given at creation (a frame header that
 * announces more is refused before anything is allocated), a 125-byte
 * buffer for control frames (which may come between the fragments of a
 * message) and a 14-byte frame header.
 *
 * Backend-free (libc only), without I/O; see ws.h.
 *
 *-------------------------------------------------------------------------
 */
#include "core/ws.h"

#include <stdlib.h>
#include <string.h>

#ifdef POSTGRES_H
#error "ws.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* a delivered message buffer larger than this is freed, not kept */
#define WS_KEEP_BUFFER 4096

/* ----------------------------------------------------------------- UTF-8 */

/*
 * An incremental UTF-8 validator (Unicode Table 3-7, well-formed byte
 * sequences): need is the number of continuation bytes still expected,
 * lo..hi the range of the next one (narrower after E0, ED, F0, F4, which
 * excludes overlong forms, surrogates and code points over U+10FFFF).
 */
typedef struct Utf8State
{
	uint8_t		need;
	uint8_t		lo;
	uint8_t		hi;
} Utf8State;

/* utf8_feed validates s[0..len) after what st has seen; false if invalid */
static bool
utf8_feed(Utf8State *st, const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = s[i];

		if (st->need > 0)
		{
			if (c < st->lo || c > st->hi)
				return false;
			st->need--;
			st->lo = 0x80;
			st->hi = 0xBF;
			continue;
		}
		if (c < 0x80)
			continue;
		st->lo = 0x80;
		st->hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF)
			st->need = 1;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			st->need = 2;
			if (c == 0xE0)
				st->lo = 0xA0;
			else if (c == 0xED)
				st->hi = 0x9F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			st->need = 3;
			if (c == 0xF0)
				st->lo = 0x90;
			else if (c == 0xF4)
				st->hi = 0x8F;
		}
		else
			return false;
	}
	return true;
}

static bool
utf8_valid(const unsigned char *s, size_t len)
{
	Utf8State	st = {0, 0x80, 0xBF};

	return utf8_feed(&st, s, len) && st.need == 0;
}

/* ---------------------------------------------------------------- decoder */

typedef enum DecState
{
	DEC_HEADER,					/* reading a frame header */
	DEC_PAYLOAD,				/* reading a frame's payload */
	DEC_CLOSED,					/* a close was delivered: input ignored */
	DEC_ERROR					/* failed: see error, close_code */
} DecState;

struct WsDecoder
{
	size_t		max_message;
	DecState	state;
	bool		delivered;		/* a message was returned: reset it first */

	/* the frame being read */
	unsigned char hdr[14];
	size_t		hdr_have;
	size_t		hdr_need;
	bool		fin;
	WsOpcode	opcode;
	unsigned char mask[4];
	uint64_t	frame_len;
	uint64_t	frame_got;

	/* the data message being assembled (msg_opcode 0: none) */
	WsOpcode	msg_opcode;
	unsigned char *buf;
	size_t		len;
	size_t		cap;
	Utf8State	utf8;

	/* the control frame being read */
	unsigned char ctl[WS_CONTROL_MAX];
	size_t		ctl_len;

	const char *error;
	int			close_code;
};

/*
 * ws_decoder_create makes a decoder that accepts data messages (text or
 * binary, fragments joined) of at most max_message bytes.  NULL if out of
 * memory.
 */
WsDecoder *
ws_decoder_create(size_t max_message)
{
	WsDecoder  *d = calloc(1, sizeof(WsDecoder));

	if (d == NULL)
		return NULL;
	d->max_message = max_message;
	d->state = DEC_HEADER;
	d->hdr_need = 2;
	return d;
}

void
ws_decoder_free(WsDecoder *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	free(d);
}

/*
 * ws_decoder_error: the reason the decoder failed (NULL if it has not),
 * and in *close_code the code of the close frame to answer with.
 */
const char *
ws_decoder_error(const WsDecoder *d, int *close_code)
{
	if (close_code != NULL)
		*close_code = d->state == DEC_ERROR ? d->close_code : 0;
	return d->state == DEC_ERROR ? d->error : NULL;
}

/* ws_decoder_closed: has the decoder delivered the client's close? */
bool
ws_decoder_closed(const WsDecoder *d)
{
	return d->state == DEC_CLOSED;
}

static bool
fail(WsDecoder *d, int code, const char *error)
{
	d->state = DEC_ERROR;
	d->close_code = code;
	d->error = error;
	return false;
}

static bool
is_control(WsOpcode op)
{
	return (op & 0x8) != 0;
}

/*
 * check_data_size: may a data frame of frame_len bytes join the message?
 * Checked as soon as the length is known, before any byte is stored.
 */
static bool
check_data_size(WsDecoder *d)
{
	if (!is_control(d->opcode) && d->frame_len > d->max_message - d->len)
		return fail(d, WS_CLOSE_TOO_BIG, "message exceeds the maximum size");
	return true;
}

/*
 * header_start checks the first two bytes of a frame (§5.2, §5.4, §5.5)
 * and sets hdr_need to the length of the whole header.
 */
static bool
header_start(WsDecoder *d)
{
	unsigned char b0 = d->hdr[0];
	unsigned char b1 = d->hdr[1];
	unsigned	op = b0 & 0x0F;
	unsigned	len7 = b1 & 0x7F;

	d->fin = (b0 & 0x80) != 0;
	d->opcode = (WsOpcode) op;
	if (b0 & 0x70)
		return fail(d, WS_CLOSE_PROTOCOL, "reserved bits are set");
	if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY &&
		op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
		return fail(d, WS_CLOSE_PROTOCOL, "unknown opcode");
	if (!(b1 & 0x80))
		return fail(d, WS_CLOSE_PROTOCOL, "client frame is not masked");
	if (is_control(d->opcode))
	{
		if (!d->fin)
			return fail(d, WS_CLOSE_PROTOCOL, "control frame is fragmented");
		/* an extended length is checked once read (header_length) */
	}
	else if (op == WS_OP_CONTINUATION && d->msg_opcode == 0)
		return fail(d, WS_CLOSE_PROTOCOL,
					"continuation frame without a message to continue");
	else if (op != WS_OP_CONTINUATION && d->msg_opcode != 0)
		return fail(d, WS_CLOSE_PROTOCOL,
					"new data frame before the fragmented message ended");
	d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
	if (len7 < 126)
	{
		d->frame_len = len7;
		return check_data_size(d);
	}
	return true;
}

/*
 * header_length reads an extended (16 or 64-bit) length, checked as soon
 * as its last byte is in, before the mask key.  Data frames may use a
 * longer form than needed; a control frame, whose payload is at most 125
 * bytes (§5.5), must use the 7-bit form (§5.2: the shortest), and the
 * error says which rule it breaks, its size or its length encoding.
 */
static bool
header_length(WsDecoder *d)
{
	size_t		ext = d->hdr_need - 6;

	d->frame_len = 0;
	for (size_t i = 0; i < ext; i++)
		d->frame_len = d->frame_len << 8 | d->hdr[2 + i];
	if (ext == 8 && (d->hdr[2] & 0x80))
		return fail(d, WS_CLOSE_PROTOCOL,
					"64-bit payload length has its high bit set");
	if (is_control(d->opcode))
		return fail(d, WS_CLOSE_PROTOCOL,
					d->frame_len > WS_CONTROL_MAX ?
					"control frame payload is over 125 bytes" :
					ext == 2 ?
					"control frame length in the 16-bit form: a control frame's length must be in the 7-bit form" :
					"control frame length in the 64-bit form: a control frame's length must be in the 7-bit form");
	return check_data_size(d);
}

/* header_end reads the mask key: the frame's payload comes next */
static void
header_end(WsDecoder *d)
{
	size_t		ext = d->hdr_need - 6;

	memcpy(d->mask, d->hdr + 2 + ext, 4);
	d->frame_got = 0;
	if (is_control(d->opcode))
		d->ctl_len = 0;
	else if (d->opcode != WS_OP_CONTINUATION)
	{
		d->msg_opcode = d->opcode;
		d->len = 0;
		d->utf8.need = 0;
	}
}

/* reserve: room in the message buffer for need bytes (need <= max) */
static bool
reserve(WsDecoder *d, size_t need)
{
	size_t		cap;
	unsigned char *p;

	if (need <= d->cap)
		return true;
	cap = d->cap < 256 ? 256 : d->cap;
	while (cap < need && cap <= d->max_message / 2)
		cap *= 2;
	if (cap < need || cap > d->max_message)
		cap = need > d->max_message / 2 ? d->max_message : need;
	p = realloc(d->buf, cap);
	if (p == NULL)
		return fail(d, WS_CLOSE_INTERNAL, "out of memory");
	d->buf = p;
	d->cap = cap;
	return true;
}

/* payload stores n payload bytes at in, unmasked */
static bool
payload(WsDecoder *d, const unsigned char *in, size_t n)
{
	unsigned char *dst;

	if (is_control(d->opcode))
		dst = d->ctl + d->ctl_len;
	else
	{
		if (!reserve(d, d->len + n))
			return false;
		dst = d->buf + d->len;
	}
	for (size_t i = 0; i < n; i++)
		dst[i] = in[i] ^ d->mask[(d->frame_got + i) & 3];
	if (is_control(d->opcode))
		d->ctl_len += n;
	else
	{
		if (d->msg_opcode == WS_OP_TEXT && !utf8_feed(&d->utf8, dst, n))
			return fail(d, WS_CLOSE_INVALID_DATA,
						"text message is not valid UTF-8");
		d->len += n;
	}
	d->frame_got += n;
	return true;
}

/*
 * frame_end: a frame has been read whole.  Returns true with *msg filled
 * if it completes a message; false if not, or on an error (d->state).
 */
static bool
frame_end(WsDecoder *d, WsMessage *msg)
{
	memset(msg, 0, sizeof(*msg));
	d->state = DEC_HEADER;
	d->hdr_have = 0;
	d->hdr_need = 2;
	if (is_control(d->opcode))
	{
		msg->opcode = d->opcode;
		msg->data = d->ctl;
		msg->len = d->ctl_len;
		if (d->opcode != WS_OP_CLOSE)
			return true;
		msg->close_code = WS_CLOSE_NO_STATUS;
		msg->reason = (const char *) d->ctl;
		if (d->ctl_len == 1)
			return fail(d, WS_CLOSE_PROTOCOL, "close frame payload of 1 byte");
		if (d->ctl_len >= 2)
		{
			msg->close_code = d->ctl[0] << 8 | d->ctl[1];
			msg->reason = (const char *) d->ctl + 2;
			msg->reason_len = d->ctl_len - 2;
			if (!ws_close_code_valid(msg->close_code))
				return fail(d, WS_CLOSE_PROTOCOL, "invalid close code");
			if (!utf8_valid(d->ctl + 2, d->ctl_len - 2))
				return fail(d, WS_CLOSE_INVALID_DATA,
							"close reason is not valid UTF-8");
		}
		d->state = DEC_CLOSED;
		return true;
	}
	if (!d->fin)
		return false;
	if (d->msg_opcode == WS_OP_TEXT && d->utf8.need != 0)
		return fail(d, WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
	msg->opcode = d->msg_opcode;
	msg->data = d->buf != NULL ? d->buf : d->ctl;
	msg->len = d->len;
	d->delivered = true;
	return true;
}

/*
 * ws_decoder_feed reads data[0..len) until a message is complete, the
 * input is used up or an error is found, and sets *consumed to the bytes
 * it read.  WS_MESSAGE: *msg holds the message (valid until the next call)
 * and the caller feeds the rest of the input again.  WS_NEED_MORE: all
 * input was read.  WS_ERROR: the connection must be closed with the code
 * ws_decoder_error gives; the decoder stays failed.  After a close message
 * the decoder ignores (consumes) whatever follows.
 */
WsResult
ws_decoder_feed(WsDecoder *d, const void *data, size_t len, size_t *consumed,
				WsMessage *msg)
{
	const unsigned char *in = data;
	size_t		pos = 0;

	*consumed = 0;
	if (d->delivered)
	{
		/* the data message returned last time is done with */
		d->delivered = false;
		d->msg_opcode = 0;
		d->len = 0;
		if (d->cap > WS_KEEP_BUFFER)
		{
			free(d->buf);
			d->buf = NULL;
			d->cap = 0;
		}
	}
	if (d->state == DEC_ERROR)
		return WS_ERROR;
	if (d->state == DEC_CLOSED)
	{
		*consumed = len;
		return WS_NEED_MORE;
	}
	for (;;)
	{
		if (d->state == DEC_HEADER)
		{
			if (pos == len)
				break;
			d->hdr[d->hdr_have++] = in[pos++];
			if (d->hdr_have == 2 && !header_start(d))
				break;
			if (d->hdr_have == d->hdr_need - 4 && d->hdr_have > 2 &&
				!header_length(d))
				break;
			if (d->hdr_have < d->hdr_need)
				continue;
			header_end(d);
			d->state = DEC_PAYLOAD;
		}
		if (d->frame_got < d->frame_len)
		{
			uint64_t	left = d->frame_len - d->frame_got;
			size_t		n = len - pos < left ? len - pos : (size_t) left;

			if (n > 0 && !payload(d, in + pos, n))
				break;
			pos += n;
			if (d->frame_got < d->frame_len)
				break;
		}
		if (frame_end(d, msg))
		{
			*consumed = pos;
			return WS_MESSAGE;
		}
		if (d->state == DEC_ERROR)
			break;
	}
	*consumed = pos;
	return d->state == DEC_ERROR ? WS_ERROR : WS_NEED_MORE;
}

/* --------------------------------------------------------------- encoder */

/*
 * ws_close_code_valid: may a close frame carry code (§7.4.1, §7.4.2)?
 * 1000-1003 and 1007-1011 (1004 is reserved, 1005, 1006 and 1015 must not
 * be sent) and the registered and private ranges 3000-4999.
 */
bool
ws_close_code_valid(int code)
{
	return (code >= 1000 && code <= 1003) ||
		(code >= 1007 && code <= 1011) ||
		(code >= 3000 && code <= 4999);
}

/* ws_frame_size: the bytes of a server frame with len bytes of payload */
size_t
ws_frame_size(size_t payload_len)
{
	return payload_len + (payload_len < 126 ? 2 : payload_len <= 0xFFFF ? 4 : 10);
}

/*
 * ws_frame_header writes the header of an unmasked frame, with the
 * shortest length form (7, 16 or 64 bits), and returns its length; the
 * payload is the caller's to write after it.
 */
size_t
ws_frame_header(unsigned char out[WS_HEADER_MAX], WsOpcode opcode, bool fin,
				uint64_t payload_len)
{
	out[0] = (fin ? 0x80 : 0) | (opcode & 0x0F);
	if (payload_len < 126)
	{
		out[1] = (unsigned char) payload_len;
		return 2;
	}
	if (payload_len <= 0xFFFF)
	{
		out[1] = 126;
		out[2] = (unsigned char) (payload_len >> 8);
		out[3] = (unsigned char) payload_len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char) (payload_len >> (56 - 8 * i));
	return 10;
}

/*
 * ws_encode_frame writes a whole (FIN) unmasked frame into out[0..outsize)
 * and returns its length; 0 if it does not fit or a control frame's
 * payload is over 125 bytes.
 */
size_t
ws_encode_frame(unsigned char *out, size_t outsize, WsOpcode opcode,
				const void *payload, size_t len)
{
	size_t		h;

	if (is_control(opcode) && len > WS_CONTROL_MAX)
		return 0;
	if (outsize < ws_frame_size(len))
		return 0;
	h = ws_frame_header(out, opcode, true, len);
	if (len > 0)
		memcpy(out + h, payload, len);
	return h + len;
}

/* ws_encode_text: a text frame; 0 also if text is not valid UTF-8 */
size_t
ws_encode_text(unsigned char *out, size_t outsize, const char *text,
			   size_t len)
{
	if (!utf8_valid((const unsigned char *) text, len))
		return 0;
	return ws_encode_frame(out, outsize, WS_OP_TEXT, text, len);
}

size_t
ws_encode_ping(unsigned char *out, size_t outsize, const void *payload,
			   size_t len)
{
	return ws_encode_frame(out, outsize, WS_OP_PING, payload, len);
}

/* ws_encode_pong: the answer to a ping, with its payload (§5.5.3) */
size_t
ws_encode_pong(unsigned char *out, size_t outsize, const void *payload,
			   size_t len)
{
	return ws_encode_frame(out, outsize, WS_OP_PONG, payload, len);
}

/*
 * ws_encode_close: a close frame with code and a UTF-8 reason (NULL for
 * none) of at most 123 bytes; code 0 gives an empty payload (no reason).
 * 0 if the code may not be sent, the reason is too long or not UTF-8.
 */
size_t
ws_encode_close(unsigned char *out, size_t outsize, int code,
				const char *reason)
{
	unsigned char p[WS_CONTROL_MAX];
	size_t		rlen = reason != NULL ? strlen(reason) : 0;

	if (code == 0)
		return rlen == 0 ? ws_encode_frame(out, outsize, WS_OP_CLOSE, NULL, 0) : 0;
	if (!ws_close_code_valid(code) || rlen > WS_CONTROL_MAX - 2 ||
		!utf8_valid((const unsigned char *) reason, rlen))
		return 0;
	p[0] = (unsigned char) (code >> 8);
	p[1] = (unsigned char) code;
	if (rlen > 0)
		memcpy(p + 2, reason, rlen);
	return ws_encode_frame(out, outsize, WS_OP_CLOSE, p, rlen + 2);
}
