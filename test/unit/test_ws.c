/*-------------------------------------------------------------------------
 *
 * test_ws.c
 *	  Unit tests of the WebSocket codec (ws.c, ws_handshake.c): SHA-1
 *	  (FIPS 180 vectors) and base64 (RFC 4648 vectors), the handshake (the
 *	  key of RFC 6455 §1.3, the header checks), the frame examples of
 *	  §5.7 both ways, every error of the decoder with its close code, the
 *	  close codes of §7.4, UTF-8 split across fragments, and that feeding
 *	  a stream in any pieces (byte by byte included) gives what feeding it
 *	  at once gives.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ws.h"
#include "unit.h"

#define FIN		0x80
#define RSV1	0x40
#define RSV2	0x20
#define RSV3	0x10

static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A byte string being built: the input stream of a test */
typedef struct Bytes
{
	unsigned char *p;
	size_t		len;
	size_t		cap;
} Bytes;

static void
put(Bytes *b, const void *data, size_t len)
{
	if (b->len + len > b->cap)
	{
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (b->p == NULL)
			abort();
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
put_byte(Bytes *b, unsigned c)
{
	unsigned char x = (unsigned char) c;

	put(b, &x, 1);
}

/*
 * frame appends a masked client frame: first byte b0 (FIN, RSV, opcode),
 * payload, with the length in form 0 (shortest), 2 (16 bits) or 8 (64).
 */
static void
frame_as(Bytes *b, unsigned b0, const void *payload, size_t len, int form)
{
	const unsigned char *p = payload;

	put_byte(b, b0);
	if (form == 0 && len < 126)
		put_byte(b, 0x80 | (unsigned) len);
	else if (form == 0 ? len <= 0xFFFF : form == 2)
	{
		put_byte(b, 0x80 | 126);
		put_byte(b, (unsigned) (len >> 8) & 0xFF);
		put_byte(b, (unsigned) len & 0xFF);
	}
	else
	{
		put_byte(b, 0x80 | 127);
		for (int i = 7; i >= 0; i--)
			put_byte(b, (unsigned) ((uint64_t) len >> (8 * i)) & 0xFF);
	}
	put(b, mask_key, 4);
	for (size_t i = 0; i < len; i++)
		put_byte(b, p[i] ^ mask_key[i & 3]);
}

static void
frame(Bytes *b, unsigned b0, const void *payload, size_t len)
{
	frame_as(b, b0, payload, len, 0);
}

static void
frame_str(Bytes *b, unsigned b0, const char *s)
{
	frame(b, b0, s, strlen(s));
}

/*
 * run decodes in[0..len) fed in pieces of chunk bytes (0: at once) and
 * returns a transcript of what came out, one line per message ("text 5
 * Hello", "close 1000 bye") and an error line ("error 1002 ...") last.
 */
static Bytes
run(size_t max, const unsigned char *in, size_t len, size_t chunk)
{
	WsDecoder  *d = ws_decoder_create(max);
	Bytes		t = {0};
	size_t		off = 0;
	bool		failed = false;

	while (off < len && !failed)
	{
		size_t		n = chunk == 0 || len - off < chunk ? len - off : chunk;
		size_t		used = 0;

		while (used < n || n == 0)
		{
			WsMessage	m;
			size_t		c;
			WsResult	r = ws_decoder_feed(d, in + off + used, n - used, &c, &m);
			char		line[64];

			used += c;
			if (r == WS_NEED_MORE)
			{
				if (used != n)
					put(&t, "bad consumed\n", 13);
				break;
			}
			if (r == WS_ERROR)
			{
				int			code;
				const char *e = ws_decoder_error(d, &code);

				snprintf(line, sizeof(line), "error %d ", code);
				put(&t, line, strlen(line));
				put(&t, e, strlen(e));
				put(&t, "\n", 1);
				failed = true;
				break;
			}
			if (m.opcode == WS_OP_CLOSE)
			{
				snprintf(line, sizeof(line), "close %d ", m.close_code);
				put(&t, line, strlen(line));
				put(&t, m.reason, m.reason_len);
			}
			else
			{
				snprintf(line, sizeof(line), "%s %zu ",
						 m.opcode == WS_OP_TEXT ? "text" :
						 m.opcode == WS_OP_BINARY ? "binary" :
						 m.opcode == WS_OP_PING ? "ping" : "pong", m.len);
				put(&t, line, strlen(line));
				put(&t, m.data, m.len);
			}
			put(&t, "\n", 1);
		}
		off += n;
	}
	put(&t, "", 1);				/* a NUL at the end */
	ws_decoder_free(d);
	return t;
}

/*
 * expect: decoding b gives the transcript want, at once, byte by byte and
 * in pieces of 2, 3, 7 and 100 bytes.
 */
static void
expect_at(size_t max, Bytes *b, const char *want, int line)
{
	static const size_t chunks[] = {0, 1, 2, 3, 7, 100};

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
	{
		Bytes		t = run(max, b->p, b->len, chunks[i]);

		if (!unit_check(strcmp((char *) t.p, want) == 0, __FILE__, line,
						"expect", "in pieces of %zu", chunks[i]))
		{
			fprintf(stderr, "    got:  %.300s\n    want: %.300s\n",
					(char *) t.p, want);
		}
		free(t.p);
	}
	free(b->p);
	*b = (Bytes) {0};
}

#define EXPECT(max, b, want) expect_at((max), (b), (want), __LINE__)

static void
test_sha1_base64(void)
{
	static const struct
	{
		const char *in;
		const char *hex;
	}			v[] = {
		{"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		"84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
	};
	static const struct
	{
		size_t		n;
		const char *hex;
	}			a[] = {
		{55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
		{56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
		{63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
		{64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
		{65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
		{119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
		{120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
		{1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"},
	};
	static const char *b64[][2] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
	};
	unsigned char d[20];
	char		hex[41];
	char		out[16];
	char	   *many = malloc(1000000);

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
	{
		ws_sha1(v[i].in, strlen(v[i].in), d);
		for (int j = 0; j < 20; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		CHECK_STR_EQ(hex, v[i].hex);
	}
	memset(many, 'a', 1000000);
	for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
	{
		ws_sha1(many, a[i].n, d);
		for (int j = 0; j < 20; j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		CHECK_MSG(strcmp(hex, a[i].hex) == 0, "SHA-1 of %zu 'a': %s", a[i].n, hex);
	}
	free(many);
	for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++)
	{
		CHECK_INT_EQ(ws_base64_encode((const unsigned char *) b64[i][0],
									  strlen(b64[i][0]), out), strlen(b64[i][1]));
		CHECK_STR_EQ(out, b64[i][1]);
	}
}

static void
test_handshake(void)
{
	char		acc[WS_ACCEPT_SIZE];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

	CHECK(ws_accept_key(key, acc));
	/* the value of RFC 6455 §1.3 and §4.2.2 */
	CHECK_STR_EQ(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	CHECK(!ws_accept_key("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", acc));

	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "13", key), NULL);
	CHECK_STR_EQ(ws_check_request("WebSocket", "keep-alive, Upgrade", " 13 ", key), NULL);
	CHECK_STR_EQ(ws_check_request("h2c, websocket", "upgrade,keep-alive", "13", key), NULL);
	CHECK_STR_EQ(ws_check_request(NULL, "Upgrade", "13", key),
				 "the Upgrade header must be \"websocket\"");
	CHECK_STR_EQ(ws_check_request("websockets", "Upgrade", "13", key),
				 "the Upgrade header must be \"websocket\"");
	CHECK_STR_EQ(ws_check_request("h2c", "Upgrade", "13", key),
				 "the Upgrade header must be \"websocket\"");
	CHECK_STR_EQ(ws_check_request("websocket", NULL, "13", key),
				 "the Connection header must contain \"Upgrade\"");
	CHECK_STR_EQ(ws_check_request("websocket", "keep-alive", "13", key),
				 "the Connection header must contain \"Upgrade\"");
	CHECK_STR_EQ(ws_check_request("websocket", "Upgraded", "13", key),
				 "the Connection header must contain \"Upgrade\"");
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", NULL, key),
				 "the Sec-WebSocket-Version header is missing (it must be 13)");
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "8", key),
				 "Sec-WebSocket-Version must be 13");
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "130", key),
				 "Sec-WebSocket-Version must be 13");
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "13, 8", key),
				 "Sec-WebSocket-Version must be 13");
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "13", NULL),
				 "the Sec-WebSocket-Key header is missing");
#define BADKEY(k) \
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "13", (k)), \
				 "Sec-WebSocket-Key must be the base64 of 16 bytes")
	BADKEY("");
	BADKEY("dGhlIHNhbXBsZSBub25jZQ");	/* no padding */
	BADKEY("dGhlIHNhbXBsZSBub25jZQ=");
	BADKEY("dGhlIHNhbXBsZSBub25jZQ==A");
	BADKEY("dGhlIHNhbXBsZSBub25j");	/* 15 bytes */
	BADKEY("dGhlIHNhbXBsZSBub25jZT==");	/* bits left over */
	BADKEY("dGhlIHNhbXBsZSBub25j*Q==");
	BADKEY("dGhlIHNhbXBsZSBub25jZQ=A");
	BADKEY("dGhlIHNhbXBsZSBub25jZGU=");	/* 17 bytes */
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "13",
								  "AAAAAAAAAAAAAAAAAAAAAA=="), NULL);
	CHECK_STR_EQ(ws_check_request("websocket", "Upgrade", "13",
								  "/+/+/+/+/+/+/+/+/+/+/w=="), NULL);
}

/* The examples of RFC 6455 §5.7, both as the decoder and the encoder see them */
static void
test_rfc_examples(void)
{
	static const unsigned char hello_unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
	static const unsigned char hello_masked[] =
	{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	static const unsigned char frag1[] = {0x01, 0x03, 'H', 'e', 'l'};
	static const unsigned char frag2[] = {0x80, 0x02, 'l', 'o'};
	static const unsigned char ping[] = {0x89, 0x05, 'H', 'e', 'l', 'l', 'o'};
	static const unsigned char pong_masked[] =
	{0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	unsigned char out[70000];
	unsigned char *big = calloc(1, 65536);
	Bytes		b = {0};
	size_t		n;

	/* a client must mask: the unmasked "Hello" is refused */
	put(&b, hello_unmasked, sizeof(hello_unmasked));
	EXPECT(100, &b, "error 1002 client frame is not masked\n");
	put(&b, hello_masked, sizeof(hello_masked));
	EXPECT(100, &b, "text 5 Hello\n");
	put(&b, pong_masked, sizeof(pong_masked));
	EXPECT(100, &b, "pong 5 Hello\n");
	frame(&b, 0x01, "Hel", 3);
	frame(&b, 0x80, "lo", 2);
	EXPECT(100, &b, "text 5 Hello\n");
	frame_str(&b, FIN | 0x9, "Hello");
	EXPECT(100, &b, "ping 5 Hello\n");

	/* the server's frames */
	n = ws_encode_text(out, sizeof(out), "Hello", 5);
	CHECK_MEM_EQ((char *) out, n, (const char *) hello_unmasked, sizeof(hello_unmasked));
	n = ws_frame_header(out, WS_OP_TEXT, false, 3);
	memcpy(out + n, "Hel", 3);
	CHECK_MEM_EQ((char *) out, n + 3, (const char *) frag1, sizeof(frag1));
	n = ws_frame_header(out, WS_OP_CONTINUATION, true, 2);
	memcpy(out + n, "lo", 2);
	CHECK_MEM_EQ((char *) out, n + 2, (const char *) frag2, sizeof(frag2));
	n = ws_encode_ping(out, sizeof(out), "Hello", 5);
	CHECK_MEM_EQ((char *) out, n, (const char *) ping, sizeof(ping));
	n = ws_encode_pong(out, sizeof(out), "Hello", 5);
	CHECK_INT_EQ(n, 7);
	CHECK_INT_EQ(out[0], 0x8a);

	/* 256 bytes: 16-bit length; 64 KiB: 64-bit length */
	n = ws_encode_frame(out, sizeof(out), WS_OP_BINARY, big, 256);
	CHECK_INT_EQ(n, 260);
	CHECK_MEM_EQ((char *) out, 4, "\x82\x7e\x01\x00", 4);
	CHECK_INT_EQ(ws_frame_size(256), 260);
	n = ws_encode_frame(out, sizeof(out), WS_OP_BINARY, big, 65536);
	CHECK_INT_EQ(n, 65546);
	CHECK_MEM_EQ((char *) out, 10, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	CHECK_INT_EQ(ws_frame_size(65536), 65546);
	CHECK_INT_EQ(ws_frame_size(125), 127);
	CHECK_INT_EQ(ws_frame_size(126), 130);
	CHECK_INT_EQ(ws_frame_size(65535), 65539);
	CHECK_INT_EQ(ws_frame_header(out, WS_OP_BINARY, true, (uint64_t) 1 << 40), 10);
	CHECK_MEM_EQ((char *) out, 10, "\x82\x7f\x00\x00\x01\x00\x00\x00\x00\x00", 10);

	frame(&b, FIN | 0x2, big, 256);
	{
		Bytes		t = run(100000, b.p, b.len, 0);

		CHECK_INT_EQ(t.len, strlen("binary 256 \n") + 256 + 1);
		free(t.p);
	}
	frame(&b, FIN | 0x2, big, 65536);
	{
		Bytes		t = run(65536, b.p, b.len, 0);
		Bytes		t1 = run(65536, b.p, b.len, 1);

		CHECK_INT_EQ(t.len, strlen("binary 256 \n") + 256 + strlen("binary 65536 \n") + 65536 + 1);
		CHECK_MEM_EQ((char *) t.p, t.len, (char *) t1.p, t1.len);
		free(t.p);
		free(t1.p);
	}
	free(b.p);
	b = (Bytes) {0};
	free(big);
}

/* every error of the decoder, with its close code */
static void
test_errors(void)
{
	Bytes		b = {0};
	static const unsigned char unknown[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
	char		big[200];

	memset(big, 'x', sizeof(big));
	frame_str(&b, FIN | RSV1 | 0x1, "a");
	EXPECT(100, &b, "error 1002 reserved bits are set\n");
	frame_str(&b, FIN | RSV2 | 0x1, "a");
	EXPECT(100, &b, "error 1002 reserved bits are set\n");
	frame_str(&b, FIN | RSV3 | 0x9, "");
	EXPECT(100, &b, "error 1002 reserved bits are set\n");
	for (size_t i = 0; i < sizeof(unknown); i++)
	{
		frame_str(&b, FIN | 0x1, "ok");
		frame_str(&b, FIN | unknown[i], "");
		frame_str(&b, FIN | 0x1, "never");
		EXPECT(100, &b, "text 2 ok\nerror 1002 unknown opcode\n");
	}
	/* control frames: FIN and at most 125 bytes */
	frame_str(&b, 0x9, "a");
	EXPECT(100, &b, "error 1002 control frame is fragmented\n");
	frame_str(&b, 0x8, "");
	EXPECT(100, &b, "error 1002 control frame is fragmented\n");
	frame_str(&b, 0xA, "");
	EXPECT(100, &b, "error 1002 control frame is fragmented\n");
	frame(&b, FIN | 0x9, big, 126);
	EXPECT(1000, &b, "error 1002 control frame payload is over 125 bytes\n");
	frame(&b, FIN | 0xA, big, 126);
	EXPECT(1000, &b, "error 1002 control frame payload is over 125 bytes\n");
	frame(&b, FIN | 0x8, big, 127);
	EXPECT(1000, &b, "error 1002 control frame payload is over 125 bytes\n");
	/*
	 * a control frame's length in an extended form: the error names the
	 * length encoding if the length is not over 125, the size if it is
	 */
	frame_as(&b, FIN | 0x9, "a", 1, 2);
	EXPECT(1000, &b, "error 1002 control frame length in the 16-bit form: a control frame's length must be in the 7-bit form\n");
	frame_as(&b, FIN | 0x9, big, 125, 8);
	EXPECT(1000, &b, "error 1002 control frame length in the 64-bit form: a control frame's length must be in the 7-bit form\n");
	frame_as(&b, FIN | 0x8, big, 0, 8);
	EXPECT(1000, &b, "error 1002 control frame length in the 64-bit form: a control frame's length must be in the 7-bit form\n");
	frame_as(&b, FIN | 0xA, big, 126, 8);
	EXPECT(1000, &b, "error 1002 control frame payload is over 125 bytes\n");
	frame_as(&b, FIN | 0x9, big, 200, 2);
	EXPECT(1000, &b, "error 1002 control frame payload is over 125 bytes\n");
	frame(&b, FIN | 0x9, big, 125);
	{
		Bytes		t = run(10, b.p, b.len, 1);

		CHECK(strncmp((char *) t.p, "ping 125 xxx", 12) == 0);
		free(t.p);
		free(b.p);
		b = (Bytes) {0};
	}

	/* fragmentation */
	frame_str(&b, FIN | 0x0, "a");
	EXPECT(100, &b, "error 1002 continuation frame without a message to continue\n");
	frame_str(&b, FIN | 0x1, "a");
	frame_str(&b, FIN | 0x0, "b");
	EXPECT(100, &b, "text 1 a\nerror 1002 continuation frame without a message to continue\n");
	frame_str(&b, 0x1, "a");
	frame_str(&b, FIN | 0x1, "b");
	EXPECT(100, &b, "error 1002 new data frame before the fragmented message ended\n");
	frame_str(&b, 0x2, "a");
	frame_str(&b, 0x2, "b");
	EXPECT(100, &b, "error 1002 new data frame before the fragmented message ended\n");

	/* the maximum message size, over fragments too */
	frame(&b, FIN | 0x2, big, 10);
	frame(&b, FIN | 0x2, big, 11);
	EXPECT(10, &b, "binary 10 xxxxxxxxxx\nerror 1009 message exceeds the maximum size\n");
	frame(&b, 0x1, big, 4);
	frame(&b, 0x0, big, 6);
	frame(&b, FIN | 0x0, big, 0);
	frame(&b, 0x1, big, 4);
	frame(&b, 0x0, big, 6);
	frame(&b, FIN | 0x0, big, 1);
	EXPECT(10, &b, "text 10 xxxxxxxxxx\nerror 1009 message exceeds the maximum size\n");
	frame(&b, FIN | 0x1, big, 200);
	EXPECT(199, &b, "error 1009 message exceeds the maximum size\n");
	frame(&b, FIN | 0x1, big, 0);
	EXPECT(0, &b, "text 0 \n");
	frame(&b, FIN | 0x1, big, 1);
	EXPECT(0, &b, "error 1009 message exceeds the maximum size\n");
	/* control frames do not count against it */
	frame(&b, 0x1, big, 10);
	frame(&b, FIN | 0x9, big, 20);
	frame(&b, FIN | 0x0, big, 0);
	EXPECT(10, &b, "ping 20 xxxxxxxxxxxxxxxxxxxx\ntext 10 xxxxxxxxxx\n");

	/* 64-bit lengths: huge ones refused before any byte or allocation */
	put(&b, "\x82\xff\x40\x00\x00\x00\x00\x00\x00\x00", 10);
	EXPECT(1 << 20, &b, "error 1009 message exceeds the maximum size\n");
	put(&b, "\x82\xff\x80\x00\x00\x00\x00\x00\x00\x05", 10);
	EXPECT(1 << 20, &b, "error 1002 64-bit payload length has its high bit set\n");
	put(&b, "\x82\xfe\xff\xff", 4);
	EXPECT(65534, &b, "error 1009 message exceeds the maximum size\n");
	put(&b, "\x82\xfe\xff\xff", 4);
	EXPECT(65535, &b, "");		/* acceptable: waits for the rest */
	put(&b, "\x81\xff\x00\x00\x00\x00\x00\x00\x00\x03", 10);
	EXPECT(3, &b, "");
	/* non-minimal lengths are allowed */
	frame_as(&b, FIN | 0x1, "Hello", 5, 2);
	frame_as(&b, FIN | 0x1, "Hello", 5, 8);
	frame_as(&b, FIN | 0x2, "", 0, 8);
	EXPECT(100, &b, "text 5 Hello\ntext 5 Hello\nbinary 0 \n");

	/* after an error the decoder stays failed */
	{
		WsDecoder  *d = ws_decoder_create(10);
		WsMessage	m;
		size_t		c;
		int			code = 0;

		CHECK_STR_EQ(ws_decoder_error(d, &code), NULL);
		CHECK_INT_EQ(code, 0);
		CHECK_INT_EQ(ws_decoder_feed(d, "\x81\x05", 2, &c, &m), WS_ERROR);
		CHECK_INT_EQ(c, 2);
		CHECK_INT_EQ(ws_decoder_feed(d, "\x81\x85", 2, &c, &m), WS_ERROR);
		CHECK_INT_EQ(c, 0);
		CHECK_STR_EQ(ws_decoder_error(d, &code), "client frame is not masked");
		CHECK_INT_EQ(code, WS_CLOSE_PROTOCOL);
		ws_decoder_free(d);
	}
}

static void
test_utf8(void)
{
	Bytes		b = {0};

	frame_str(&b, FIN | 0x1, "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
	EXPECT(100, &b, "text 17 h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\n");
	/* split across fragments, with a ping in between */
	frame_str(&b, 0x1, "\xe2");
	frame_str(&b, 0x0, "\x82");
	frame_str(&b, FIN | 0x9, "p");
	frame_str(&b, FIN | 0x0, "\xac!");
	EXPECT(100, &b, "ping 1 p\ntext 4 \xe2\x82\xac!\n");
	frame_str(&b, 0x1, "\xf0\x9f");
	frame_str(&b, 0x0, "");
	frame_str(&b, FIN | 0x0, "\x98\x80");
	EXPECT(100, &b, "text 4 \xf0\x9f\x98\x80\n");
	/* binary is not checked */
	frame_str(&b, FIN | 0x2, "\xff\xc0\x80");
	EXPECT(100, &b, "binary 3 \xff\xc0\x80\n");

#define BAD_TEXT(s) \
	do { \
		frame_str(&b, FIN | 0x1, s); \
		EXPECT(100, &b, "error 1007 text message is not valid UTF-8\n"); \
	} while (0)
	BAD_TEXT("\xc0\x80");		/* overlong */
	BAD_TEXT("\xc1\xbf");
	BAD_TEXT("\xe0\x80\x80");
	BAD_TEXT("\xf0\x80\x80\x80");
	BAD_TEXT("\xed\xa0\x80");	/* surrogate */
	BAD_TEXT("\xf4\x90\x80\x80");	/* over U+10FFFF */
	BAD_TEXT("\xf5\x80\x80\x80");
	BAD_TEXT("\xff");
	BAD_TEXT("\x80");			/* lone continuation */
	BAD_TEXT("a\xe2\x82");		/* cut at the end of the message */
	BAD_TEXT("\xe2\x82" "a");
	/* cut at the end of a fragmented message */
	frame_str(&b, 0x1, "\xe2\x82\xac");
	frame_str(&b, FIN | 0x0, "\xe2\x82");
	EXPECT(100, &b, "error 1007 text message is not valid UTF-8\n");
	/* fails fast: in the first fragment, before the message ends */
	frame_str(&b, 0x1, "\xc0");
	put(&b, "\x80", 1);			/* not even a whole next frame */
	EXPECT(100, &b, "error 1007 text message is not valid UTF-8\n");
}

static void
test_close(void)
{
	Bytes		b = {0};
	static const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
	1010, 1011, 3000, 3999, 4000, 4999};
	static const int invalid[] = {0, 999, 1004, 1005, 1006, 1012, 1014,
	1015, 1016, 2000, 2999, 5000, 65535};
	char		p[3];
	char		want[64];

	frame_str(&b, FIN | 0x8, "");
	EXPECT(100, &b, "close 1005 \n");
	frame_str(&b, FIN | 0x8, "\x03\xe8");
	EXPECT(100, &b, "close 1000 \n");
	frame_str(&b, FIN | 0x8, "\x03\xe9going away \xc3\xa9");
	EXPECT(100, &b, "close 1001 going away \xc3\xa9\n");
	frame_str(&b, FIN | 0x8, "\x03");
	EXPECT(100, &b, "error 1002 close frame payload of 1 byte\n");
	frame_str(&b, FIN | 0x8, "\x03\xe8\xff");
	EXPECT(100, &b, "error 1007 close reason is not valid UTF-8\n");
	frame_str(&b, FIN | 0x8, "\x03\xe8\xe2\x82");
	EXPECT(100, &b, "error 1007 close reason is not valid UTF-8\n");
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
	{
		p[0] = (char) (valid[i] >> 8);
		p[1] = (char) valid[i];
		frame(&b, FIN | 0x8, p, 2);
		snprintf(want, sizeof(want), "close %d \n", valid[i]);
		EXPECT(100, &b, want);
		CHECK(ws_close_code_valid(valid[i]));
	}
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
	{
		p[0] = (char) (invalid[i] >> 8);
		p[1] = (char) invalid[i];
		frame(&b, FIN | 0x8, p, 2);
		EXPECT(100, &b, "error 1002 invalid close code\n");
		CHECK_MSG(!ws_close_code_valid(invalid[i]), "code %d", invalid[i]);
	}
	/* after a close, what follows is ignored, even garbage */
	frame_str(&b, FIN | 0x1, "a");
	frame_str(&b, FIN | 0x8, "\x03\xe8");
	frame_str(&b, FIN | 0x1, "b");
	put(&b, "\xff\xff\xff", 3);
	EXPECT(100, &b, "text 1 a\nclose 1000 \n");
	/* a close between fragments */
	frame_str(&b, 0x1, "a");
	frame_str(&b, FIN | 0x8, "\x03\xe8");
	EXPECT(100, &b, "close 1000 \n");
	{
		WsDecoder  *d = ws_decoder_create(10);
		WsMessage	m;
		size_t		c;

		CHECK(!ws_decoder_closed(d));
		CHECK_INT_EQ(ws_decoder_feed(d, "\x88\x80\x01\x02\x03\x04", 6, &c, &m), WS_MESSAGE);
		CHECK(ws_decoder_closed(d));
		CHECK_INT_EQ(ws_decoder_feed(d, "\x81\x05", 2, &c, &m), WS_NEED_MORE);
		CHECK_INT_EQ(c, 2);
		CHECK_STR_EQ(ws_decoder_error(d, NULL), NULL);
		ws_decoder_free(d);
	}
}

static void
test_encoder(void)
{
	unsigned char out[300];
	char		reason[130];
	unsigned char big[200] = {0};

	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 1000, "bye"), 7);
	CHECK_MEM_EQ((char *) out, 7, "\x88\x05\x03\xe8" "bye", 7);
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 1009, NULL), 4);
	CHECK_MEM_EQ((char *) out, 4, "\x88\x02\x03\xf1", 4);
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 0, NULL), 2);
	CHECK_MEM_EQ((char *) out, 2, "\x88\x00", 2);
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 0, "x"), 0);
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 1005, NULL), 0);
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 1006, ""), 0);
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 1000, "\xff"), 0);
	memset(reason, 'r', 123);
	reason[123] = '\0';
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 4000, reason), 127);
	reason[123] = 'r';
	reason[124] = '\0';
	CHECK_INT_EQ(ws_encode_close(out, sizeof(out), 4000, reason), 0);
	CHECK_INT_EQ(ws_encode_close(out, 6, 1000, "bye"), 0);

	CHECK_INT_EQ(ws_encode_ping(out, sizeof(out), big, 125), 127);
	CHECK_INT_EQ(ws_encode_ping(out, sizeof(out), big, 126), 0);
	CHECK_INT_EQ(ws_encode_pong(out, sizeof(out), big, 126), 0);
	CHECK_INT_EQ(ws_encode_pong(out, sizeof(out), "", 0), 2);
	CHECK_MEM_EQ((char *) out, 2, "\x8a\x00", 2);
	CHECK_INT_EQ(ws_encode_text(out, sizeof(out), "\xe2\x82", 2), 0);
	CHECK_INT_EQ(ws_encode_text(out, 6, "Hello", 5), 0);
	CHECK_INT_EQ(ws_encode_text(out, 7, "Hello", 5), 7);
	CHECK_INT_EQ(ws_encode_frame(out, 129, WS_OP_BINARY, big, 126), 0);
	CHECK_INT_EQ(ws_encode_frame(out, 130, WS_OP_BINARY, big, 126), 130);
	CHECK_MEM_EQ((char *) out, 4, "\x82\x7e\x00\x7e", 4);
}

/*
 * A stream of every kind of frame, decoded in every split into two and
 * three pieces, gives the same transcript as at once.
 */
static void
test_splits(void)
{
	Bytes		b = {0};
	Bytes		whole;
	int			bad = 0;
	char		big[300];

	memset(big, 'z', sizeof(big));
	frame_str(&b, FIN | 0x1, "Hello");
	frame_str(&b, 0x1, "\xe2");
	frame_str(&b, FIN | 0x9, "ping");
	frame_str(&b, FIN | 0x0, "\x82\xac");
	frame(&b, FIN | 0x2, big, 300);
	frame_as(&b, FIN | 0x2, big, 3, 8);
	frame_str(&b, FIN | 0xA, "");
	frame_str(&b, FIN | 0x8, "\x03\xe8" "done");
	whole = run(1000, b.p, b.len, 0);
	CHECK(strstr((char *) whole.p, "close 1000 done\n") != NULL);
	for (size_t i = 0; i <= b.len; i++)
		for (size_t j = i; j <= b.len; j += 7)
		{
			/* pieces [0,i) [i,j) [j,len) */
			WsDecoder  *d = ws_decoder_create(1000);
			Bytes		t = {0};
			size_t		cut[4] = {0, i, j, b.len};

			for (int k = 0; k < 3; k++)
			{
				size_t		off = cut[k];

				while (off < cut[k + 1])
				{
					WsMessage	m;
					size_t		c;
					WsResult	r = ws_decoder_feed(d, b.p + off, cut[k + 1] - off, &c, &m);

					off += c;
					if (r == WS_MESSAGE)
					{
						put(&t, &m.opcode, sizeof(m.opcode));
						put(&t, m.data, m.len);
					}
					else if (r != WS_NEED_MORE || off != cut[k + 1])
						bad++;
					if (r != WS_MESSAGE)
						break;
				}
			}
			if (i == 0 && j == 0)
			{
				/* the first: all at once, the reference */
				free(whole.p);
				whole = t;
			}
			else
			{
				if (t.len != whole.len || memcmp(t.p, whole.p, t.len) != 0)
					bad++;
				free(t.p);
			}
			ws_decoder_free(d);
		}
	CHECK_INT_EQ(bad, 0);
	free(whole.p);
	free(b.p);
}

int
main(void)
{
	test_sha1_base64();
	test_handshake();
	test_rfc_examples();
	test_errors();
	test_utf8();
	test_close();
	test_encoder();
	test_splits();
	return unit_summary();
}
