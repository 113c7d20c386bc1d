/*-------------------------------------------------------------------------
 *
 * tls_reply.c
 *	  The writes of a TLS connection: a reply whose header and body are in
 *	  memory goes out as one TLS record, in one send, where libmicrohttpd
 *	  sends two.
 *
 * libmicrohttpd (0.9.75 and 1.0 alike) writes a reply over TLS with two
 * gnutls_record_send calls, the header and then the body: two records, two
 * sendmsg, then a setsockopt(TCP_NODELAY) to push them, where plain HTTP
 * makes one sendmsg; and the client decrypts two records.  So the
 * connection tracking (http_conn.c) corks the TLS session
 * (gnutls_record_cork) before such a reply is queued; GnuTLS keeps what
 * libmicrohttpd writes, and tls_reply_flush sends it as one record once
 * libmicrohttpd is done with the request.
 *
 * Only a reply that fits in one record (TLS_REPLY_MAX_BODY) is corked, to
 * a whole request on a connection that stays open (http_request.c):
 * libmicrohttpd closes the others right after the reply, and a reply
 * still kept in GnuTLS would go with the connection.
 *
 * The socket: libmicrohttpd sets TCP_CORK on a TLS connection's socket
 * before the first reply it sends in pieces (one under 1,400 bytes with a
 * body), and from then on pushes each reply by setting TCP_NODELAY after
 * its last send, leaving the cork on.  Our record is sent after that push,
 * so it would wait for the kernel's cork timer (200 ms).  So after each
 * flush, until the cork has been found on the socket once and taken off,
 * it is looked for (getsockopt): libmicrohttpd sets it once per
 * connection at most, as it believes the socket corked ever after, and
 * with TCP_NODELAY on every later record goes out at once.
 *
 * A flush that finds the socket full (a client that does not read its
 * replies) leaves the rest in GnuTLS, which stays corked and keeps the
 * order of what follows.  The connection waits in flush_wait, flushed
 * again after each run of libmicrohttpd (its socket is in the worker's
 * epoll set for EPOLLOUT too: see http_conn.c), and a next request on it
 * is suspended until the reply is out (tls_reply_hold), so that GnuTLS
 * keeps at most the replies of one request per connection: without that,
 * a client pipelining requests without reading would have every reply
 * kept in memory, where the socket's own limit holds libmicrohttpd back.
 * A reply that gets no byte out for evproc.connection_timeout has its
 * connection cut, as libmicrohttpd would do: it does not time out a
 * suspended connection.
 *
 * Runs inside libmicrohttpd's callbacks or right after MHD_run: no
 * PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "http/tls_reply.h"
#include "shared/settings.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

/* connections with a reply left to send once their socket has room */
static dlist_head flush_wait = DLIST_STATIC_INIT(flush_wait);

/* a held connection was resumed: libmicrohttpd must run to take it up */
static bool resumed = false;

/*
 * tls_reply_start: conn's writes, if it is a TLS connection; fd is its
 * socket.
 */
void
tls_reply_start(struct MHD_Connection *conn, TlsReply *reply, int fd)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	memset(reply, 0, sizeof(TlsReply));
	reply->conn = conn;
	reply->session = info != NULL ? info->tls_session : NULL;
	reply->fd = fd;
}

/* let_go resumes a held connection (cut, or its reply out) */
static void
let_go(TlsReply *reply)
{
	if (!reply->held)
		return;
	reply->held = false;
	MHD_resume_connection(reply->conn);
	resumed = true;
}

/* stop_waiting takes reply out of flush_wait, resuming it if held */
static void
stop_waiting(TlsReply *reply)
{
	if (reply->waiting)
	{
		dlist_delete(&reply->wait_node);
		reply->waiting = false;
	}
	let_go(reply);
}

/* tls_reply_stop: the connection closes; what GnuTLS keeps goes with it */
void
tls_reply_stop(TlsReply *reply)
{
	if (reply->waiting)
		dlist_delete(&reply->wait_node);
	reply->waiting = false;
}

/*
 * tls_reply_cork: what libmicrohttpd writes from now on is kept, until
 * tls_reply_flush.  Nothing for a plain connection.
 */
void
tls_reply_cork(TlsReply *reply)
{
	if (reply->session == NULL || reply->corked)
		return;
	gnutls_record_cork((gnutls_session_t) reply->session);
	reply->corked = true;
}

/*
 * uncork_socket takes TCP_CORK off reply's socket if libmicrohttpd has set
 * it (see the header comment): after each flush until it is found once.
 */
static void
uncork_socket(TlsReply *reply)
{
	int			on = 0;
	socklen_t	len = sizeof(on);

	if (reply->socket_uncorked ||
		getsockopt(reply->fd, IPPROTO_TCP, TCP_CORK, &on, &len) != 0 ||
		on == 0)
		return;
	on = 0;
	(void) setsockopt(reply->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
	reply->socket_uncorked = true;
}

/*
 * tls_reply_flush sends what was kept since tls_reply_cork, without
 * waiting.  If the socket is full, the rest stays kept and the connection
 * waits in flush_wait; if the connection is broken, its socket is shut
 * down, which libmicrohttpd then sees.
 */
void
tls_reply_flush(TlsReply *reply)
{
	gnutls_session_t session = (gnutls_session_t) reply->session;
	int			ret;

	if (!reply->corked)
		return;
	ret = gnutls_record_uncork(session, 0);
	if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED)
	{
		size_t		left = gnutls_record_check_corked(session);

		if (!reply->waiting || left < reply->left)
			reply->progress_ms = monotonic_ms();
		reply->left = left;
		if (!reply->waiting)
			dlist_push_tail(&flush_wait, &reply->wait_node);
		reply->waiting = true;
		return;
	}
	reply->corked = false;
	stop_waiting(reply);
	if (ret < 0)
		(void) shutdown(reply->fd, SHUT_RDWR);
	else if (ret > 0)
		uncork_socket(reply);
}

/*
 * tls_reply_cut: the connection is cut (its socket shut down); what GnuTLS
 * keeps goes with it, and a held request is let go, for libmicrohttpd to
 * find the connection closed.
 */
void
tls_reply_cut(TlsReply *reply)
{
	reply->corked = false;
	stop_waiting(reply);
}

/*
 * tls_reply_hold: called as a request on the connection begins.  If a
 * reply is still waiting for room, the connection is suspended until it
 * is out (or the connection cut), and true returned: libmicrohttpd then
 * calls again for the request as if it had just begun.
 */
bool
tls_reply_hold(TlsReply *reply)
{
	if (!reply->waiting)
		return false;
	reply->held = true;
	MHD_suspend_connection(reply->conn);
	return true;
}

/*
 * tls_reply_flush_waiting flushes the connections of flush_wait again, and
 * cuts those whose reply got no byte out for evproc.connection_timeout.
 */
void
tls_reply_flush_waiting(void)
{
	dlist_mutable_iter iter;
	int64		now;
	int64		timeout = (int64) evproc_connection_timeout * 1000;

	/* once every pass of the worker's loop: nearly always nothing waits */
	if (dlist_is_empty(&flush_wait))
		return;
	now = monotonic_ms();
	dlist_foreach_modify(iter, &flush_wait)
	{
		TlsReply   *reply = dlist_container(TlsReply, wait_node, iter.cur);

		tls_reply_flush(reply);
		if (reply->waiting && timeout > 0 &&
			now - reply->progress_ms >= timeout)
		{
			(void) shutdown(reply->fd, SHUT_RDWR);
			tls_reply_cut(reply);
		}
	}
}

/*
 * tls_reply_take_resumed: was a held connection resumed since the last
 * call?  libmicrohttpd must then run to take it up.
 */
bool
tls_reply_take_resumed(void)
{
	bool		was = resumed;

	resumed = false;
	return was;
}

/* tls_reply_resume_pending: was a held connection resumed, not yet run? */
bool
tls_reply_resume_pending(void)
{
	return resumed;
}

/*
 * tls_reply_let_go_all resumes every held connection: before
 * libmicrohttpd stops, which must find none suspended.
 */
void
tls_reply_let_go_all(void)
{
	dlist_iter	iter;

	dlist_foreach(iter, &flush_wait)
		let_go(dlist_container(TlsReply, wait_node, iter.cur));
}
