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
 * Runs in the worker's loop and in libmicrohttpd's upgrade callback:
 * malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "clock.h"
#include "stream_ws.h"
#include "ws.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/ilist.h"

/* the largest message a client may send (it has nothing to say) */
#define WS_MAX_MESSAGE		4096
/* how long we wait for the client to close after our close frame */
#define WS_DRAIN_MS			2000

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
	int64		drain_until;	/* ... or until then (monotonic ms) */
	bool		dead;
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

/* watch_out asks epoll for writability too while bytes wait */
static void
watch(WsConn *c)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | EPOLLRDHUP | (c->off < c->len ? EPOLLOUT : 0);
	ev.data.ptr = c;
	(void) epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* queue appends a frame to the output, and tries to send at once */
static void flush(WsConn *c);

static void
queue(WsConn *c, const unsigned char *frame, size_t len)
{
	if (c->dead || c->closing)
		return;
	if (c->off > 0 && c->off == c->len)
		c->off = c->len = 0;
	if (c->len + len > c->cap)
	{
		size_t		cap = Max(c->cap * 2, c->len + len + 1024);
		unsigned char *out = realloc(c->out, cap);

		if (out == NULL)
		{
			c->dead = true;
			return;
		}
		c->out = out;
		c->cap = cap;
	}
	memcpy(c->out + c->len, frame, len);
	c->len += len;
	flush(c);
}

/* flush sends what the socket takes now */
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
		else if (n < 0 && errno == EINTR)
			continue;
		else
			c->dead = true;
	}
	if (c->off == c->len && c->closing && !c->draining && !c->dead)
	{
		/*
		 * Our close frame is out.  Closing the socket now, with bytes of the
		 * client unread, would send a reset that may destroy the frame
		 * before the client reads it: end our side, and read what the
		 * client still sends until it closes too (or WS_DRAIN_MS).
		 */
		(void) shutdown(c->fd, SHUT_WR);
		c->draining = true;
		c->drain_until = monotonic_ms() + WS_DRAIN_MS;
	}
	if (!c->dead)
		watch(c);
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
	if (extra_len > 0)
	{
		/* a client may have sent frames right after its request */
		size_t		used = 0;
		WsMessage	msg;

		while (used < extra_len &&
			   ws_decoder_feed(c->decoder, extra + used, extra_len - used,
							   &used, &msg) == WS_MESSAGE)
			;
	}
	return c;
}

/* wsconn_send_text sends one text message */
void
wsconn_send_text(WsConn *c, const char *text, size_t len)
{
	unsigned char header[WS_HEADER_MAX];
	size_t		hlen = ws_frame_header(header, WS_OP_TEXT, true, len);

	queue(c, header, hlen);
	queue(c, (const unsigned char *) text, len);
}

void
wsconn_ping(WsConn *c)
{
	unsigned char frame[WS_HEADER_MAX];
	size_t		len = ws_encode_ping(frame, sizeof(frame), NULL, 0);

	queue(c, frame, len);
}

/*
 * wsconn_close starts the close handshake: our close frame, after what is
 * queued; the connection ends once it is out.
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
	queue(c, frame, len);
	c->closing = true;
	flush(c);
}

/* wsconn_pending: bytes waiting to be sent */
size_t
wsconn_pending(const WsConn *c)
{
	return c->len - c->off;
}

/* receive reads what the client sent and answers its control frames */
static void
receive(WsConn *c)
{
	unsigned char buf[4096];

	for (;;)
	{
		ssize_t		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t		off = 0;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
					   errno != EINTR))
		{
			c->dead = true;
			return;
		}
		if (n < 0)
			return;
		if (c->closing)
			continue;			/* after our close frame: discarded */
		while (off < (size_t) n && !c->dead)
		{
			WsMessage	msg;
			size_t		used = 0;
			WsResult	r = ws_decoder_feed(c->decoder, buf + off,
											(size_t) n - off, &used, &msg);
			int			code;

			off += used;
			if (r == WS_NEED_MORE)
				break;
			if (r == WS_ERROR)
			{
				const char *why = ws_decoder_error(c->decoder, &code);

				wsconn_close(c, code, why);
				return;
			}
			switch (msg.opcode)
			{
				case WS_OP_PING:
					{
						unsigned char frame[WS_HEADER_MAX + WS_CONTROL_MAX];
						size_t		len = ws_encode_pong(frame, sizeof(frame),
														 msg.data, msg.len);

						queue(c, frame, len);
						break;
					}
				case WS_OP_CLOSE:
					/* answer with the same code (or none), then end */
					wsconn_close(c, msg.close_code == WS_CLOSE_NO_STATUS ?
								 WS_CLOSE_NORMAL : msg.close_code, NULL);
					return;
				case WS_OP_PONG:
					break;
				default:
					/* a stream takes no messages */
					wsconn_close(c, 1003, "this stream takes no messages");
					return;
			}
		}
	}
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
 * wsconn_run does the I/O that is ready (without waiting), then ends the
 * connections that are done.
 */
void
wsconn_run(void)
{
	struct epoll_event events[64];
	int			n;
	dlist_mutable_iter iter;

	do
	{
		n = epoll_wait(epoll_fd, events, lengthof(events), 0);
		for (int i = 0; i < n; i++)
		{
			WsConn	   *c = events[i].data.ptr;

			if (events[i].events & EPOLLOUT)
				flush(c);
			if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				receive(c);
		}
	} while (n == lengthof(events));
	dlist_foreach_modify(iter, &conns)
	{
		WsConn	   *c = dlist_container(WsConn, node, iter.cur);

		if (c->draining && monotonic_ms() >= c->drain_until)
			c->dead = true;
		if (c->dead)
			end(c);
	}
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
		c->dead = true;
		end(c);
	}
	if (epoll_fd >= 0)
		close(epoll_fd);
	epoll_fd = -1;
}
