/*-------------------------------------------------------------------------
 *
 * stream_ws.c
 *	  The WebSocket side of live-update streams (RFC 6455): once
 *	  libmicrohttpd has switched a connection's protocol, its socket is
 *	  ours: frames out (the states, pings, the close), frames in (the
 *	  client's pings, pongs and close; anything else closes it), in the
 *	  worker's loop.
 *
 * The sockets are non-blocking and in an epoll set of their own, which
 * the worker waits on with the rest (wsconn_epoll_fd); wsconn_run reads
 * and writes what is ready.  What a client sends is decoded and checked by
 * ws.c (masking, sizes, UTF-8, close codes).  Bytes waiting to be sent are
 * counted (wsconn_pending), so that stream.c can close a client that does
 * not read.  When a connection ends, for whatever reason, its closed
 * function is called once, and libmicrohttpd is told (MHD_upgrade_action).
 *
 * Whatever the clients do, what one connection costs is bounded: the
 * bytes it may have waiting (WS_OUT_MAX, the pongs of its pings included:
 * over that it is closed), the bytes read from it in one pass of the
 * worker's loop (WS_READ_PASS), the connections served in one pass
 * (WS_EVENTS, one epoll_wait), and the time its close may take
 * (WS_CLOSE_MS).  No loop here runs for as long as clients keep sending,
 * so the worker's loop keeps serving everyone and answering signals.
 *
 * Runs in the worker's loop and in libmicrohttpd's upgrade callback:
 * malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "core/ws.h"
#include "http/stream_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/ilist.h"

/* the largest message a client may send (it has nothing to say) */
#define WS_MAX_MESSAGE		4096
/* how long we wait for the client to close after our close frame is out */
#define WS_DRAIN_MS			2000
/* how long a close may take in all (a client that does not read, or answer) */
#define WS_CLOSE_MS			5000
/* the bytes one connection may have waiting to be sent, control frames too */
#define WS_OUT_MAX			(1024 * 1024)
/* the bytes read from one connection in one pass of the loop */
#define WS_READ_PASS		(64 * 1024)
/* the connections served in one pass (one epoll_wait) */
#define WS_EVENTS			64

struct WsConn
{
	int			fd;
	struct MHD_UpgradeResponseHandle *urh;
	WsDecoder  *decoder;
	WsClosedFn	closed;
	void	   *arg;
	unsigned char *out;			/* frames to send: out[off..len) */
	size_t		off;
	size_t		len;
	size_t		cap;
	bool		closing;		/* our close frame is queued */
	bool		draining;		/* it is out: read until the client ends */
	int64		deadline;		/* closing: end it then (monotonic ms) */
	bool		dead;			/* done: ended at the end of wsconn_run */
	dlist_node	node;
};

static int	epoll_fd = -1;
static dlist_head conns = DLIST_STATIC_INIT(conns);

bool
wsconn_init(void)
{
	epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	return epoll_fd >= 0;
}

/* wsconn_epoll_fd: the descriptor the worker waits on for WebSocket I/O */
int
wsconn_epoll_fd(void)
{
	return epoll_fd;
}

/* watch asks epoll for writability too while bytes wait */
static void
watch(WsConn *c)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | EPOLLRDHUP | (c->off < c->len ? EPOLLOUT : 0);
	ev.data.ptr = c;
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/*
 * kill_conn marks a connection done and takes it out of the epoll set at
 * once: a socket left in it would be reported ready (its end of file)
 * again and again until the connection is ended.
 */
static void
kill_conn(WsConn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
}

static void flush(WsConn *c);

/* append adds bytes to the output, unchecked; false if out of memory */
static bool
append(WsConn *c, const unsigned char *data, size_t len)
{
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len + len > c->cap)
	{
		size_t		cap = Max(c->cap * 2, c->len + len + 1024);
		unsigned char *out = realloc(c->out, cap);

		if (out == NULL)
		{
			kill_conn(c);
			return false;
		}
		c->out = out;
		c->cap = cap;
	}
	memcpy(c->out + c->len, data, len);
	c->len += len;
	return true;
}

/*
 * queue appends a frame (its header and its payload) to the output, for
 * flush to send (after the pongs of all the pings read in a pass: one
 * send, not one per pong).  Nothing is queued once our close frame is.  A
 * frame that would take the bytes waiting over WS_OUT_MAX (whatever it
 * is: a state, a ping, the pong of a client's ping) is not queued: the
 * client does not read what it is sent, and the connection is closed.
 */
static void
queue(WsConn *c, const unsigned char *head, size_t hlen,
	  const unsigned char *payload, size_t plen)
{
	if (c->dead || c->closing)
		return;
	if (wsconn_pending(c) + hlen + plen > WS_OUT_MAX)
	{
		wsconn_close(c, 1008, "the client does not read fast enough; reconnect with ?since=");
		return;
	}
	if (append(c, head, hlen) && plen > 0)
		(void) append(c, payload, plen);
}

/*
 * flush sends what the socket takes now.  Once our close frame is out,
 * the connection ends at once if the client's close came already (the
 * close handshake is over: the server closes first, RFC 6455 §7.1.1);
 * otherwise our side of it is shut and we wait for the client's close
 * (or its end of file) until WS_DRAIN_MS.
 */
static void
flush(WsConn *c)
{
	while (!c->dead && c->off < c->len)
	{
		ssize_t		n = send(c->fd, c->out + c->off, c->len - c->off,
							 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			c->off += (size_t) n;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else if (!(n < 0 && errno == EINTR))
			kill_conn(c);
	}
	if (c->dead)
		return;
	if (c->off == c->len && c->closing && ws_decoder_closed(c->decoder))
	{
		kill_conn(c);
		return;
	}
	if (c->off == c->len && c->closing && !c->draining)
	{
		/*
		 * Closing the socket now, with bytes of the client unread, would
		 * send a reset that may destroy our close frame before the client
		 * reads it: end our side, and read until the client closes too.
		 * (Over TLS our socket is one end of libmicrohttpd's socketpair,
		 * and the half-close does not reach the client: there, the
		 * client's close frame, or WS_DRAIN_MS, ends the connection.)
		 */
		(void) shutdown(c->fd, SHUT_WR);
		c->draining = true;
		c->deadline = Min(c->deadline, monotonic_ms() + WS_DRAIN_MS);
	}
	watch(c);
}

/*
 * take decodes n bytes the client sent and answers its messages: a pong
 * for a ping, our close for its close, a close for anything else (a
 * stream takes no messages).  After the client's close, or a frame that
 * breaks the protocol, what follows is not read.  Each message uses at
 * least one byte: bounded by n.
 */
static void
take(WsConn *c, const unsigned char *data, size_t n)
{
	size_t		off = 0;

	while (off < n && !c->dead && !ws_decoder_closed(c->decoder))
	{
		WsMessage	msg;
		size_t		used = 0;
		WsResult	r = ws_decoder_feed(c->decoder, data + off, n - off,
										&used, &msg);
		int			code;

		off += used;
		if (r == WS_NEED_MORE)
			break;
		if (r == WS_ERROR)
		{
			const char *why = ws_decoder_error(c->decoder, &code);

			wsconn_close(c, code, why);
			break;
		}
		switch (msg.opcode)
		{
			case WS_OP_PING:
				{
					unsigned char head[WS_HEADER_MAX];
					size_t		hlen = ws_frame_header(head, WS_OP_PONG, true,
													   msg.len);

					queue(c, head, hlen, msg.data, msg.len);
					break;
				}
			case WS_OP_CLOSE:
				/* answer with the same code (or none); flush ends it */
				wsconn_close(c, msg.close_code == WS_CLOSE_NO_STATUS ?
							 WS_CLOSE_NORMAL : msg.close_code, NULL);
				break;
			case WS_OP_PONG:
				break;
			default:
				wsconn_close(c, 1003, "this stream takes no messages");
				break;
		}
	}
}

/*
 * wsconn_start takes over an upgraded connection: its socket, and the
 * bytes libmicrohttpd read past the request.  NULL if it cannot (the
 * connection is then closed).
 */
WsConn *
wsconn_start(MHD_socket sock, struct MHD_UpgradeResponseHandle *urh,
			 const char *extra, size_t extra_len, WsClosedFn closed, void *arg)
{
	WsConn	   *c = calloc(1, sizeof(WsConn));
	struct epoll_event ev;
	int			flags;

	if (c == NULL || (c->decoder = ws_decoder_create(WS_MAX_MESSAGE)) == NULL)
	{
		free(c);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return NULL;
	}
	c->fd = sock;
	c->urh = urh;
	c->closed = closed;
	c->arg = arg;
	flags = fcntl(sock, F_GETFL);
	(void) fcntl(sock, F_SETFL, flags | O_NONBLOCK);
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, sock, &ev) != 0)
	{
		ws_decoder_free(c->decoder);
		free(c);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return NULL;
	}
	dlist_push_tail(&conns, &c->node);
	/* a client may have sent frames right after its request */
	take(c, (const unsigned char *) extra, extra_len);
	flush(c);
	return c;
}

/* wsconn_send_text sends one text message */
void
wsconn_send_text(WsConn *c, const char *text, size_t len)
{
	unsigned char header[WS_HEADER_MAX];
	size_t		hlen = ws_frame_header(header, WS_OP_TEXT, true, len);

	queue(c, header, hlen, (const unsigned char *) text, len);
	flush(c);
}

void
wsconn_ping(WsConn *c)
{
	unsigned char frame[WS_HEADER_MAX];
	size_t		len = ws_encode_ping(frame, sizeof(frame), NULL, 0);

	queue(c, frame, len, NULL, 0);
	flush(c);
}

/*
 * wsconn_close starts the close handshake: our close frame, after what is
 * queued (even over WS_OUT_MAX: it is the last frame); the connection ends
 * once it is out and the client closed too, and in any case WS_CLOSE_MS
 * from now.
 */
void
wsconn_close(WsConn *c, int code, const char *reason)
{
	unsigned char frame[WS_HEADER_MAX + WS_CONTROL_MAX];
	size_t		len = ws_encode_close(frame, sizeof(frame), code, reason);

	if (c->closing || c->dead)
		return;
	if (len == 0)
		len = ws_encode_close(frame, sizeof(frame), code, NULL);
	c->closing = true;
	c->deadline = monotonic_ms() + WS_CLOSE_MS;
	if (append(c, frame, len))
		flush(c);
}

/* wsconn_pending: bytes waiting to be sent */
size_t
wsconn_pending(const WsConn *c)
{
	return c->len - c->off;
}

/*
 * receive reads what the client sent, at most WS_READ_PASS bytes in a
 * pass: a client that sends without pause (a flood of pings) takes its
 * share of each pass, and the rest waits in the socket for the next one
 * (epoll reports it again).
 */
static void
receive(WsConn *c)
{
	unsigned char buf[4096];
	size_t		taken = 0;

	while (taken < WS_READ_PASS && !c->dead)
	{
		ssize_t		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
					   errno != EINTR))
			kill_conn(c);
		if (n <= 0)
			break;
		taken += (size_t) n;
		take(c, buf, (size_t) n);
	}
	flush(c);
}

/* end closes a dead connection and tells its owner */
static void
end(WsConn *c)
{
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	dlist_delete(&c->node);
	MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
	ws_decoder_free(c->decoder);
	free(c->out);
	c->closed(c->arg);
	free(c);
}

/*
 * wsconn_run does the I/O that is ready (without waiting), for at most
 * WS_EVENTS connections: one epoll_wait, never a loop that the clients
 * could keep going (the others are served in the next pass, which comes
 * at once since the epoll descriptor is still readable).  Then it ends
 * the connections that are done, and those whose close took too long.
 * Returns whether it ended any: libmicrohttpd must then run (twice, over
 * TLS: once to see our side closed, once to close the client's
 * connection), as nothing wakes the loop for it.
 */
bool
wsconn_run(void)
{
	struct epoll_event events[WS_EVENTS];
	int			n;
	int64		now;
	bool		ended = false;
	dlist_mutable_iter iter;

	n = epoll_wait(epoll_fd, events, lengthof(events), 0);
	for (int i = 0; i < n; i++)
	{
		WsConn	   *c = events[i].data.ptr;

		if (events[i].events & EPOLLOUT)
			flush(c);
		if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			receive(c);
	}
	now = monotonic_ms();
	dlist_foreach_modify(iter, &conns)
	{
		WsConn	   *c = dlist_container(WsConn, node, iter.cur);

		if (c->closing && now >= c->deadline)
			kill_conn(c);
		if (c->dead)
		{
			end(c);
			ended = true;
		}
	}
	return ended;
}

/* wsconn_close_all ends every connection at once (shutdown) */
void
wsconn_close_all(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &conns)
	{
		WsConn	   *c = dlist_container(WsConn, node, iter.cur);

		wsconn_close(c, 1001, "the server is shutting down");
		kill_conn(c);
		end(c);
	}
	if (epoll_fd >= 0)
		close(epoll_fd);
	epoll_fd = -1;
}
