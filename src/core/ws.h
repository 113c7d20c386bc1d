/*-------------------------------------------------------------------------
 *
 * ws.h
 *	  The WebSocket protocol (RFC 6455) as a codec: the opening
 *	  handshake (checking the client's upgrade request and computing
 *	  Sec-WebSocket-Accept), a streaming decoder of client-to-server
 *	  frames that yields whole messages or the close code to answer with,
 *	  and an encoder of server-to-client frames (ws.c; the handshake is
 *	  ws_handshake.c).
 *
 * Backend-free (libc only) and without I/O: the caller reads bytes from
 * the socket, feeds them to a WsDecoder, and writes the frames the encoder
 * builds.  Nothing in the server uses it yet (issue 12 wires it in).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_WS_H
#define EVPROC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the opcodes of RFC 6455 §5.2 */
typedef enum WsOpcode
{
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA
} WsOpcode;

/* the close codes of RFC 6455 §7.4.1 that the decoder reports */
#define WS_CLOSE_NORMAL			1000
#define WS_CLOSE_PROTOCOL		1002	/* a frame breaks the protocol */
#define WS_CLOSE_NO_STATUS		1005	/* received close without a code */
#define WS_CLOSE_INVALID_DATA	1007	/* text that is not UTF-8 */
#define WS_CLOSE_TOO_BIG		1009	/* message over the maximum size */
#define WS_CLOSE_INTERNAL		1011	/* out of memory */

/* the largest payload of a control frame (§5.5) */
#define WS_CONTROL_MAX			125
/* the largest header of a server frame (unmasked): 2 + 8 bytes */
#define WS_HEADER_MAX			10
/* Sec-WebSocket-Accept: 28 characters of base64, and a NUL */
#define WS_ACCEPT_SIZE			29

/* the handshake (§4.2) */
extern bool ws_accept_key(const char *client_key, char out[WS_ACCEPT_SIZE]);
extern const char *ws_check_request(const char *upgrade, const char *connection,
									const char *version, const char *key);

/* the published algorithms under the handshake, exposed for the tests */
extern void ws_sha1(const void *data, size_t len, unsigned char out[20]);
extern size_t ws_base64_encode(const unsigned char *in, size_t len, char *out);

/* is code one that a close frame may carry (§7.4)? */
extern bool ws_close_code_valid(int code);

/* the decoder of client frames (§5) */
typedef struct WsDecoder WsDecoder;

typedef enum WsResult
{
	WS_NEED_MORE,				/* all input consumed, no message complete */
	WS_MESSAGE,					/* *msg holds a message */
	WS_ERROR					/* the connection must be closed */
} WsResult;

/*
 * A decoded message: a whole text or binary message (its fragments
 * joined), a ping, a pong or a close.  data is unmasked and valid until
 * the next call on the decoder; len 0 is possible (data is then non-NULL).
 * For a close, close_code is the code received (WS_CLOSE_NO_STATUS if the
 * payload was empty) and reason/reason_len its UTF-8 reason (not
 * NUL-terminated).
 */
typedef struct WsMessage
{
	WsOpcode	opcode;
	const unsigned char *data;
	size_t		len;
	int			close_code;
	const char *reason;
	size_t		reason_len;
} WsMessage;

extern WsDecoder *ws_decoder_create(size_t max_message);
extern void ws_decoder_free(WsDecoder *d);
extern WsResult ws_decoder_feed(WsDecoder *d, const void *data, size_t len,
								size_t *consumed, WsMessage *msg);
extern const char *ws_decoder_error(const WsDecoder *d, int *close_code);
extern bool ws_decoder_closed(const WsDecoder *d);

/* the encoder of server frames (§5.2, unmasked): 0 if it does not fit */
extern size_t ws_frame_size(size_t payload_len);
extern size_t ws_frame_header(unsigned char out[WS_HEADER_MAX], WsOpcode opcode,
							  bool fin, uint64_t payload_len);
extern size_t ws_encode_frame(unsigned char *out, size_t outsize,
							  WsOpcode opcode, const void *payload, size_t len);
extern size_t ws_encode_text(unsigned char *out, size_t outsize,
							 const char *text, size_t len);
extern size_t ws_encode_ping(unsigned char *out, size_t outsize,
							 const void *payload, size_t len);
extern size_t ws_encode_pong(unsigned char *out, size_t outsize,
							 const void *payload, size_t len);
extern size_t ws_encode_close(unsigned char *out, size_t outsize, int code,
							  const char *reason);

#endif							/* EVPROC_WS_H */
