/*-------------------------------------------------------------------------
 *
 * tls_probe.c
 *	  The reads of a TLS connection (GnuTLS's pull function).  Plain HTTP
 *	  sent to the HTTPS port ("curl http://" for "https://") is answered
 *	  with a 400 that says to use https://, as nginx's 497 does, instead of
 *	  a connection closed without a word; and bytes are read ahead, so
 *	  that a record costs one recv instead of two.
 *
 * libmicrohttpd hands each accepted socket to GnuTLS, which reads the
 * handshake itself; "GET / HTTP/1.1" is no TLS record, and the connection
 * was simply closed (curl: "Empty reply from server").  A TLS connection
 * begins with a record whose first byte is its content type (22, a
 * handshake; an SSLv2-style hello has the high bit set), never a letter,
 * while an HTTP request begins with its method: upper-case letters.
 *
 * So each TLS session's reads go through probe_pull (GnuTLS's pull
 * function, set when libmicrohttpd announces the connection, before any
 * byte is read): it reads as GnuTLS would (recv), and looks at the first
 * byte of the first read.  A letter: what else has arrived of the request
 * is read (so that closing the socket does not reset it and lose the
 * reply), the 400 is written in plain text, the socket shut down for
 * writing, and the read fails, which ends the handshake: libmicrohttpd
 * closes the connection.  Anything else is left to GnuTLS.
 *
 * This needs no socket of our own and no change to how connections are
 * accepted (accepting them ourselves and passing them with
 * MHD_add_connection would have meant owning the listening socket, its
 * SO_REUSEPORT with several workers, and the connection limit): only the
 * first read of each TLS connection is looked at, then it is a plain recv.
 * The state lives in the connection's tracking (http_conn.c), freed when
 * libmicrohttpd says the connection is closed; nothing reads through the
 * TLS session after that.
 *
 * Reading ahead: GnuTLS reads a record with two reads of exact sizes, its
 * 5-byte header and then its body, each a recv of its own.  probe_pull
 * instead reads as much as has arrived (up to a record and a bit) into one
 * buffer, ahead, shared by all connections, and serves GnuTLS's reads from
 * it: one recv per request where there were two.  The buffer belongs to
 * the connection whose bytes it holds until they are all taken, which
 * normally happens within the same gnutls_record_recv; if another
 * connection reads meanwhile (its owner has a pipelined request left that
 * libmicrohttpd is not reading yet), that one reads without reading ahead.
 * libmicrohttpd (0.9.75) keeps reading a TLS connection it was told is
 * readable until GnuTLS says EAGAIN (connection_https.c: recv_tls_adapter
 * never takes a short read for drained), and probe_pull says EAGAIN only
 * when the buffer holds none of the connection's bytes and the socket has
 * none either: bytes read ahead are never left behind an edge that has
 * passed.  What the connection tracking asks of a socket (is anything
 * left to read?) counts them too (tls_probe_buffered).
 *
 * Acknowledging the handshake at once: a TLS 1.3 client sends its
 * Finished and then its first request.  GnuTLS as libmicrohttpd sets it up
 * sends nothing after reading that Finished (no session ticket), so the
 * kernel delays its ACK (40 ms on Linux), and a client with Nagle's
 * algorithm on (Python's http.client, wrk; curl turns it off) holds its
 * request back until that ACK: every new connection's first reply came
 * some 40 ms late.  So while the handshake runs, each read after the
 * first asks the kernel to acknowledge what it has received now
 * (TCP_QUICKACK), a few times per connection at most.
 *
 * A handshake waiting for the client: libmicrohttpd (0.9.75) keeps such a
 * connection among its ready ones (nothing clears its read-ready flag
 * when the handshake wants more), so MHD_get_timeout says not to wait at
 * all and the loop would read its socket again and again for as long as
 * the client takes: a round trip of CPU per handshake, or all of it for a
 * client that stalls.  The handshakes whose last read found nothing are
 * counted (tls_probe_handshakes_waiting) for http_conn.c, which then
 * waits a little instead; the client's next bytes wake the loop anyway.
 *
 * Runs inside libmicrohttpd's callbacks: no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/event.h"
#include "http/tls_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>

/*
 * Plain requests answered whose failed handshake libmicrohttpd has not
 * logged yet (see tls_probe_quiet).
 */
static int	answered_unlogged = 0;

/* handshakes whose last read found nothing (see the top) */
static int	handshakes_waiting = 0;

/* what is read of a plain request: for its Host and target */
#define PROBE_KEEP			2048
/* at most this much more is read (and dropped) before the reply */
#define PROBE_DRAIN_MAX		(64 * 1024)

/*
 * copy_field copies the value at p (up to CR, LF, or a space if stop_at_space)
 * into out if it is made of characters that need no JSON escaping and fits;
 * else leaves out empty.
 */
static void
copy_field(const char *p, bool stop_at_space, char *out, size_t outlen)
{
	size_t		n = 0;

	out[0] = '\0';
	while (p[n] != '\0' && p[n] != '\r' && p[n] != '\n' &&
		   !(stop_at_space && p[n] == ' '))
	{
		unsigned char c = (unsigned char) p[n];

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || n + 1 >= outlen)
			return;
		n++;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/*
 * answer_plain reads what has arrived of the plain HTTP request (up to
 * PROBE_DRAIN_MAX), of which head holds the first have bytes, and writes a
 * 400 saying to use https://, with the URL when the request's Host and
 * target are plain.
 */
static void
answer_plain(int fd, char *head, size_t have)
{
	char		drop[4096];
	size_t		total = have;
	ssize_t		n;
	char		host[256];
	char		target[512];
	char		message[EV_ERROR_BUFSZ];
	char		body[EV_ERROR_BUFSZ * 2];
	char		reply[EV_ERROR_BUFSZ * 3];
	const char *p;
	size_t		blen;
	int			len;

	while (total < PROBE_DRAIN_MAX &&
		   (n = recv(fd, have < PROBE_KEEP - 1 ? head + have : drop,
					 have < PROBE_KEEP - 1 ? PROBE_KEEP - 1 - have : sizeof(drop),
					 MSG_DONTWAIT)) > 0)
	{
		if (have < PROBE_KEEP - 1)
			have += (size_t) n;
		total += (size_t) n;
	}
	head[have] = '\0';

	host[0] = target[0] = '\0';
	if ((p = strchr(head, ' ')) != NULL)
		copy_field(p + 1, true, target, sizeof(target));
	for (p = head; (p = strchr(p, '\n')) != NULL; p++)
		if (strncasecmp(p + 1, "Host:", 5) == 0)
		{
			p += 6;
			while (*p == ' ' || *p == '\t')
				p++;
			copy_field(p, false, host, sizeof(host));
			break;
		}
	if (host[0] != '\0' && target[0] == '/')
		snprintf(message, sizeof(message),
				 "plain HTTP sent to the HTTPS port; use https://%.100s%.120s",
				 host, target);
	else
		snprintf(message, sizeof(message),
				 "plain HTTP sent to the HTTPS port; use https://");
	blen = ev_json_error(message, body, sizeof(body) - 1);
	body[blen++] = '\n';
	len = snprintf(reply, sizeof(reply),
				   "HTTP/1.1 400 Bad Request\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: %zu\r\n"
				   "Connection: close\r\n"
				   "\r\n%.*s", blen, (int) blen, body);
	if (len > 0 && (size_t) len < sizeof(reply))
		(void) send(fd, reply, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void) shutdown(fd, SHUT_WR);
}

/* the read-ahead buffer: a record of the largest size and its header */
#define AHEAD_SIZE			(16384 + 2048 + 5)

static char ahead[AHEAD_SIZE];
static TlsProbe *ahead_owner = NULL;	/* whose bytes it holds, if any */
static size_t ahead_pos = 0;	/* the next of them */
static size_t ahead_end = 0;

/*
 * first_bytes looks at the first bytes read on a session (n of them at
 * buf): plain HTTP is answered (see the top) and -1 returned, with errno
 * set; else n.
 */
static ssize_t
first_bytes(TlsProbe *probe, const char *buf, ssize_t n)
{
	unsigned char first = (unsigned char) buf[0];

	probe->seen = true;
	if (first >= 'A' && first <= 'Z')
	{
		char		head[PROBE_KEEP];
		size_t		have = Min((size_t) n, (size_t) PROBE_KEEP - 1);

		memcpy(head, buf, have);
		answer_plain(probe->fd, head, have);
		answered_unlogged++;
		errno = ECONNRESET;
		return -1;
	}
	return n;
}

/* take_ahead copies up to size of probe's bytes read ahead to data */
static size_t
take_ahead(TlsProbe *probe, void *data, size_t size)
{
	size_t		n = Min(size, ahead_end - ahead_pos);

	memcpy(data, ahead + ahead_pos, n);
	ahead_pos += n;
	if (ahead_pos == ahead_end)
		ahead_owner = NULL;
	return n;
}

/* set_waiting: probe's handshake waits for the client, or no longer */
static void
set_waiting(TlsProbe *probe, bool waiting)
{
	if (probe->waiting == waiting)
		return;
	probe->waiting = waiting;
	handshakes_waiting += waiting ? 1 : -1;
}

/* handshaking: is probe's handshake still running (its Finished not in)? */
static bool
handshaking(TlsProbe *probe)
{
	if (probe->handshaking &&
		gnutls_handshake_get_last_in((gnutls_session_t) probe->session) ==
		GNUTLS_HANDSHAKE_FINISHED)
		probe->handshaking = false;
	return probe->handshaking;
}

/*
 * read_done: a read on probe's socket returned n.  Bytes (not the first,
 * the ClientHello, answered at once anyway): while its handshake runs,
 * the kernel acknowledges them at once (see the top).  Nothing: a
 * handshake waits for the client.
 */
static void
read_done(TlsProbe *probe, ssize_t n)
{
	if (n < 0 && errno == EAGAIN)
	{
		int			save_errno = errno;	/* for GnuTLS */

		set_waiting(probe, handshaking(probe));
		errno = save_errno;
		return;
	}
	set_waiting(probe, false);
	if (n <= 0 || !probe->seen || !handshaking(probe))
		return;
#ifdef TCP_QUICKACK
	{
		int			on = 1;

		(void) setsockopt(probe->fd, IPPROTO_TCP, TCP_QUICKACK, &on,
						  sizeof(on));
	}
#endif
}

/*
 * probe_pull is GnuTLS's pull function for a session (ptr is its
 * TlsProbe): what was read ahead for it, else a recv, ahead when the
 * buffer is free; on the first bytes the check described above.
 */
static ssize_t
probe_pull(gnutls_transport_ptr_t ptr, void *data, size_t size)
{
	TlsProbe   *probe = ptr;
	ssize_t		n;

	if (ahead_owner == probe)
		return (ssize_t) take_ahead(probe, data, size);
	if (ahead_owner != NULL || size >= AHEAD_SIZE)
	{
		/* the buffer holds another's bytes, or is no help: read as asked */
		n = recv(probe->fd, data, size, 0);
		read_done(probe, n);
		if (n > 0 && !probe->seen)
			return first_bytes(probe, data, n);
		return n;
	}
	n = recv(probe->fd, ahead, sizeof(ahead), 0);
	read_done(probe, n);
	if (n <= 0)
		return n;
	if (!probe->seen && first_bytes(probe, ahead, n) < 0)
		return -1;
	ahead_owner = probe;
	ahead_pos = 0;
	ahead_end = (size_t) n;
	return (ssize_t) take_ahead(probe, data, size);
}

/*
 * probe_pull_timeout is GnuTLS's pull timeout function for the session:
 * waits up to ms for bytes to read, as GnuTLS's own does (at once if some
 * were read ahead).
 */
static int
probe_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	TlsProbe   *probe = ptr;
	struct pollfd pfd;

	if (ahead_owner == probe)
		return 1;
	pfd.fd = probe->fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	return poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int) ms);
}

/*
 * tls_probe_quiet: is fmt, a message of libmicrohttpd's, the one it logs
 * for a failed handshake, after a plain request was answered?  That
 * handshake was ended on purpose, and the client told why: not worth a
 * misleading line ("received handshake message out of context").
 * libmicrohttpd logs it at once, so each answer goes with the next such
 * message.
 */
bool
tls_probe_quiet(const char *fmt)
{
	if (answered_unlogged == 0 ||
		strstr(fmt, "handshake message out of context") == NULL)
		return false;
	answered_unlogged--;
	return true;
}

/*
 * tls_probe_start makes conn's TLS session, if it has one, read through
 * probe_pull; fd is its socket.  probe must live as long as the session.
 */
void
tls_probe_start(struct MHD_Connection *conn, TlsProbe *probe, int fd)
{
	const union MHD_ConnectionInfo *info;
	gnutls_session_t session;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (info == NULL || info->tls_session == NULL)
		return;
	session = (gnutls_session_t) info->tls_session;
	probe->fd = fd;
	probe->seen = false;
	probe->handshaking = true;
	probe->waiting = false;
	probe->session = session;
	/* GnuTLS writes to the socket as before: only reads go through us */
	gnutls_transport_set_ptr2(session, probe,
							  (gnutls_transport_ptr_t) (intptr_t) fd);
	gnutls_transport_set_pull_function(session, probe_pull);
	gnutls_transport_set_pull_timeout_function(session, probe_pull_timeout);
}

/*
 * tls_probe_stop: the connection of probe closes; bytes read ahead for it
 * are dropped with it.
 */
void
tls_probe_stop(TlsProbe *probe)
{
	if (ahead_owner == probe)
		ahead_owner = NULL;
	set_waiting(probe, false);
}

/* tls_probe_buffered: bytes of probe's connection read ahead, not yet taken */
size_t
tls_probe_buffered(const TlsProbe *probe)
{
	return ahead_owner == probe ? ahead_end - ahead_pos : 0;
}

/* tls_probe_handshakes_waiting: handshakes waiting for their client */
int
tls_probe_handshakes_waiting(void)
{
	return handshakes_waiting;
}
