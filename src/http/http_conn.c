/*-------------------------------------------------------------------------
 *
 * http_conn.c
 *	  HTTP connections, beyond what libmicrohttpd does for them: framing
 *	  checks, tracking (peers that closed, request deadlines, the slot
 *	  each holds: http_slots.c), the memory of request bodies and the
 *	  rate-limited log.
 *
 * Everything here runs in the worker's loop or inside libmicrohttpd's
 * callbacks, with malloc and without PostgreSQL calls, except the logging
 * (ereport at LOG, which does not throw).  It knows nothing of what the
 * requests are for: a request is linked to its connection's tracking only
 * through the slot that conn_track fills in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "core/event.h"
#include "http/http_conn.h"
#include "http/http_slots.h"
#include "http/tls_probe.h"
#include "http/tls_reply.h"
#include "shared/settings.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/ilist.h"

/*
 * ConnTrack follows one connection from accept to close (libmicrohttpd's
 * socket context), for what libmicrohttpd does not do itself: noticing a
 * peer that closed while its request is incomplete, and the request
 * deadline.  See "Connection tracking" below.
 */
struct ConnTrack
{
	struct MHD_Connection *conn;
	int			fd;
	ConnTrack **slot;			/* the current request's link to us, if its
								 * headers are in; NULLed when we go */
	bool		busy;			/* the request is in: answering it */
	bool		idle;			/* kept alive, no byte of a next request yet */
	bool		peer_closed;	/* the peer shut down its sending side */
	SlotHold	hold;			/* what it holds of the slots */
	int64		started_ms;		/* the current request's clock (monotonic) */
	dlist_node	clock_node;		/* in request_clock, or NULLs */
	dlist_node	eof_node;		/* in eof_watch, or NULLs */
	TlsProbe	probe;			/* over TLS: its first read (tls_probe.c) */
	TlsReply	reply;			/* over TLS: its writes (tls_reply.c) */
};

static int	watch_fd = -1;		/* our epoll: MHD's epoll fd + each socket */
/* connections reading a request, oldest first */
static dlist_head request_clock = DLIST_STATIC_INIT(request_clock);

/* connections whose peer closed before their request was in */
static dlist_head eof_watch = DLIST_STATIC_INIT(eof_watch);
static int	n_tracks = 0;
static uint64 peers_closed = 0;	/* peers seen closing, ever */
static int	tracks_peak = 0;
static long n_cut_timeout = 0;	/* cut for evproc.request_timeout, unlogged */
static int64 next_cut_report = 0;
static int64 next_slots_report = 0;

/* bytes of request bodies held (see conn_reserve_body) and their high mark */
static size_t body_memory = 0;
static size_t body_peak = 0;

/* A burst worth giving memory back after (see give_back_memory). */
#define TRIM_AFTER_BYTES	(8 * 1024 * 1024)
#define TRIM_AFTER_CONNECTIONS	256

/* how often to look at the connections while a TLS handshake waits */
#define HANDSHAKE_POLL_MS	1

/* libmicrohttpd's messages: at most LOG_BURST lines per LOG_WINDOW_MS */
#define LOG_BURST			20
#define LOG_WINDOW_MS		10000
static int64 log_window_start = 0;
static int	log_lines = 0;
static long log_suppressed = 0;

/* What check_header has seen of one request's header fields. */
typedef struct FramingCheck
{
	int			content_length; /* Content-Length fields */
	int			transfer_encoding;	/* Transfer-Encoding fields */
	const char *error;			/* the first problem found, or NULL */
} FramingCheck;

/* is_token: is s a field name as RFC 9110 defines it (1*tchar)? */
static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL))
			return false;
	}
	return true;
}

/* check_header: a MHD_KeyValueIterator over the header fields */
static enum MHD_Result
check_header(void *cls, enum MHD_ValueKind kind, const char *key,
			 const char *value)
{
	FramingCheck *fc = cls;

	if (!is_token(key))
		fc->error = "invalid header field name";
	else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		fc->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
	{
		fc->transfer_encoding++;
		if (value == NULL || strcasecmp(value, "chunked") != 0)
			fc->error = "unsupported Transfer-Encoding; only \"chunked\" is accepted";
	}
	return fc->error == NULL ? MHD_YES : MHD_NO;
}

/*
 * conn_framing_error checks that where the request body ends cannot be read in
 * two ways, by us and by a proxy in front of us: a header field name that
 * is not a token ("Transfer-Encoding : chunked" is ignored by
 * libmicrohttpd, while others read it as chunked), more than one
 * Content-Length (libmicrohttpd takes the first; even equal ones are
 * refused), more than one Transfer-Encoding, one that is not exactly
 * "chunked", or both Content-Length and Transfer-Encoding.  Returns the
 * problem, or NULL.
 */
const char *
conn_framing_error(struct MHD_Connection *conn)
{
	FramingCheck fc = {0};

	MHD_get_connection_values(conn, MHD_HEADER_KIND, check_header, &fc);
	if (fc.error != NULL)
		return fc.error;
	if (fc.content_length > 1)
		return "more than one Content-Length header";
	if (fc.transfer_encoding > 1)
		return "more than one Transfer-Encoding header";
	if (fc.content_length > 0 && fc.transfer_encoding > 0)
		return "both Content-Length and Transfer-Encoding";
	return NULL;
}

/*
 * log_flush_suppressed reports the messages suppressed in a window that
 * has ended, in one line.
 */
static void
log_flush_suppressed(int64 now)
{
	if (log_suppressed > 0 && now - log_window_start >= LOG_WINDOW_MS)
	{
		ereport(LOG,
				(errmsg("evproc: HTTP server: %ld more messages suppressed in %d s",
						log_suppressed, LOG_WINDOW_MS / 1000)));
		log_suppressed = 0;
	}
}

/*
 * conn_log logs libmicrohttpd's messages, at most LOG_BURST lines in
 * LOG_WINDOW_MS; the rest are counted and reported in one line when the
 * window ends (a flood of aborted connections would otherwise write one
 * line each).
 */
void
conn_log(void *cls, const char *fmt, va_list ap)
{
	char		msg[512];
	size_t		len;
	int64		now = monotonic_ms();

	if (tls_probe_quiet(fmt))
		return;
	if (now - log_window_start >= LOG_WINDOW_MS)
	{
		log_flush_suppressed(now);
		log_window_start = now;
		log_lines = 0;
	}
	if (log_lines >= LOG_BURST)
	{
		log_suppressed++;
		return;
	}
	log_lines++;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	ereport(LOG, (errmsg("evproc: HTTP server: %s", msg)));
}

/*
 * Connection tracking
 *
 * libmicrohttpd (0.9.75, epoll, edge-triggered) takes a read shorter than
 * its buffer to mean that the socket is drained.  When the peer's FIN
 * arrives together with the last bytes (send a partial request, then
 * close), the one edge is spent on that read: the end of file is never
 * read, and the connection stays in CLOSE-WAIT, holding its descriptor and
 * its slot, until the idle timeout.  Nor does libmicrohttpd bound the time
 * a request takes to arrive, only the idle time between bytes.
 *
 * So each connection also has a ConnTrack (the socket context), and its
 * socket is in our own epoll set, watch_fd, for EPOLLRDHUP and EPOLLIN
 * (edge-triggered).  watch_fd also holds libmicrohttpd's epoll fd, so the
 * worker waits on watch_fd alone (http_epoll_fd).  After each MHD_run,
 * conn_upkeep:
 *	  - for a connection whose peer has closed and whose request is not in
 *		(none yet, or partly read), looks whether anything is left to read
 *		(recv with MSG_PEEK): if not, the request can never complete, and
 *		the socket is shut down, which libmicrohttpd sees at once (EPOLLHUP)
 *		and closes the connection;
 *	  - shuts down a connection whose request has not arrived in full within
 *		evproc.request_timeout: the request clock starts at accept, or on a
 *		kept-alive connection with the first byte of the next request, and
 *		stops when the whole request is in.  request_clock is in the order
 *		of starting, so the sweep looks at its head only.
 * A request whose reply is queued is never cut.
 */

/*
 * A ConnTrack's dlist nodes are NULL (calloc) while not in a list; PG 15's
 * ilist.h has no dlist_node_is_detached yet, so these two keep that rule.
 */
static inline bool
node_linked(const dlist_node *node)
{
	return node->next != NULL;
}

static inline void
node_unlink(dlist_node *node)
{
	dlist_delete(node);
	node->prev = node->next = NULL;
}

static void
clock_start(ConnTrack *t, int64 now)
{
	if (node_linked(&t->clock_node))
		dlist_delete(&t->clock_node);
	t->started_ms = now;
	dlist_push_tail(&request_clock, &t->clock_node);
	t->idle = false;
}

static void
clock_stop(ConnTrack *t)
{
	if (node_linked(&t->clock_node))
		node_unlink(&t->clock_node);
}

static void
eof_add(ConnTrack *t)
{
	if (!node_linked(&t->eof_node))
		dlist_push_tail(&eof_watch, &t->eof_node);
}

static void
eof_remove(ConnTrack *t)
{
	if (node_linked(&t->eof_node))
		node_unlink(&t->eof_node);
}

/* cut_connection shuts a connection's socket down; MHD then closes it. */
static void
cut_connection(ConnTrack *t)
{
	clock_stop(t);
	eof_remove(t);
	t->busy = true;				/* nothing more to do for it */
	(void) shutdown(t->fd, SHUT_RDWR);
	tls_reply_cut(&t->reply);
}

/* track_of: conn's tracking (libmicrohttpd's socket context), or NULL */
static ConnTrack *
track_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

/* reply_queued: has libmicrohttpd a reply to send on this connection? */
static bool
reply_queued(ConnTrack *t)
{
	return MHD_get_connection_info(t->conn, MHD_CONNECTION_INFO_HTTP_STATUS) != NULL;
}

/*
 * conn_notify (MHD_OPTION_NOTIFY_CONNECTION) starts and ends the
 * tracking of a connection.  Without memory for it, a connection is simply
 * not tracked.
 */
void
conn_notify(void *cls, struct MHD_Connection *conn,
				  void **socket_context,
				  enum MHD_ConnectionNotificationCode toe)
{
	ConnTrack  *t = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		const union MHD_ConnectionInfo *info;
		struct epoll_event ev;

		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info == NULL || (t = calloc(1, sizeof(ConnTrack))) == NULL)
			return;
		t->conn = conn;
		t->fd = info->connect_fd;
		/* EPOLLOUT: for a reply waiting for room (tls_reply.c) */
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT | EPOLLET;
		ev.data.ptr = t;
		if (epoll_ctl(watch_fd, EPOLL_CTL_ADD, t->fd, &ev) != 0)
		{
			free(t);
			return;
		}
		clock_start(t, monotonic_ms());
		slots_opened(&t->hold);
		tls_probe_start(conn, &t->probe, t->fd);
		tls_reply_start(conn, &t->reply, t->fd);
		*socket_context = t;
		if (++n_tracks > tracks_peak)
			tracks_peak = n_tracks;
	}
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && t != NULL)
	{
		/* before libmicrohttpd closes the socket: its number may be reused */
		(void) epoll_ctl(watch_fd, EPOLL_CTL_DEL, t->fd, NULL);
		tls_probe_stop(&t->probe);
		tls_reply_stop(&t->reply);
		clock_stop(t);
		eof_remove(t);
		if (t->slot != NULL)
			*t->slot = NULL;
		slots_closed(&t->hold);
		free(t);
		*socket_context = NULL;
		n_tracks--;
	}
}

/*
 * conn_track links a new request on conn (its headers are in) to the
 * connection's tracking: *slot is set to it, and NULLed if the connection
 * goes first.  Without tracking (out of memory), *slot stays NULL.
 */
void
conn_track(struct MHD_Connection *conn, ConnTrack **slot)
{
	ConnTrack  *t = track_of(conn);

	*slot = t;
	if (t == NULL)
		return;
	t->slot = slot;
	t->busy = false;
	/* pipelined, so no new byte was seen: its clock starts now */
	if (t->idle)
		clock_start(t, monotonic_ms());
}

/* conn_busy: the request is in, or its reply decided: stop the clock */
void
conn_busy(ConnTrack *t)
{
	if (t == NULL)
		return;
	t->busy = true;
	clock_stop(t);
	eof_remove(t);
}

/*
 * conn_untrack: the request linked through *slot is done; the connection
 * waits for the next one (or closes).  If the peer has closed, check it
 * again.
 */
void
conn_untrack(ConnTrack **slot)
{
	ConnTrack  *t = *slot;

	if (t == NULL)
		return;
	*slot = NULL;
	t->slot = NULL;
	t->busy = false;
	t->idle = true;
	clock_stop(t);
	if (t->peer_closed)
		eof_add(t);
	tls_reply_flush(&t->reply);
}

/*
 * conn_cork_reply: the reply about to be queued on t's connection is
 * whole in memory, and the connection stays open after it: over TLS, it
 * goes out as one record once libmicrohttpd is done with it (tls_reply.c).
 */
void
conn_cork_reply(ConnTrack *t)
{
	if (t != NULL)
		tls_reply_cork(&t->reply);
}

/* conn_hold_unflushed: as a request on conn begins, tls_reply_hold */
bool
conn_hold_unflushed(struct MHD_Connection *conn)
{
	ConnTrack  *t = track_of(conn);

	return t != NULL && tls_reply_hold(&t->reply);
}

/*
 * drain_watch takes the socket events of watch_fd.  Bytes arriving on a
 * kept-alive connection start the clock of its next request.  Events
 * taken right after an MHD_run (after_run) may be of bytes that this run
 * has read already, even a whole request, answered in the same run: then
 * the clock starts only if bytes are still unread (in the socket, or read
 * ahead over TLS: tls_probe.c).  Before a run, bytes
 * that arrived since the last run cannot have been read.
 */
static void
drain_watch(bool after_run)
{
	struct epoll_event events[64];
	int			n;
	int64		now = monotonic_ms();

	do
	{
		n = epoll_wait(watch_fd, events, lengthof(events), 0);
		for (int i = 0; i < n; i++)
		{
			ConnTrack  *t = events[i].data.ptr;
			char		c;

			if (t == NULL)
				continue;		/* libmicrohttpd's epoll fd */
			if (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			{
				t->peer_closed = true;
				peers_closed++;
				if (!t->busy)
					eof_add(t);
			}
			else if ((events[i].events & EPOLLIN) && t->idle && !t->busy &&
					 (!after_run || tls_probe_buffered(&t->probe) > 0 ||
					  recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0))
				clock_start(t, now);	/* a next request begins */
		}
	} while (n == lengthof(events));
}

/*
 * check_eof cuts the connections whose peer has closed and that have
 * nothing left to read (in the socket, or read ahead over TLS) while their
 * request is not in.
 */
static void
check_eof(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &eof_watch)
	{
		ConnTrack  *t = dlist_container(ConnTrack, eof_node, iter.cur);
		char		c;
		ssize_t		n;

		if (t->busy || reply_queued(t))
			eof_remove(t);		/* libmicrohttpd answers, then closes */
		else if (tls_probe_buffered(&t->probe) == 0)
		{
			n = recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				cut_connection(t);
			/* else bytes are left, which libmicrohttpd will read */
		}
	}
}

/*
 * sweep_deadlines cuts the connections whose request has not arrived in
 * full within evproc.request_timeout.
 */
static void
sweep_deadlines(int64 now)
{
	int64		timeout = (int64) evproc_request_timeout * 1000;

	if (timeout <= 0)
		return;
	while (!dlist_is_empty(&request_clock))
	{
		ConnTrack  *t = dlist_head_element(ConnTrack, clock_node,
										   &request_clock);

		if (t->started_ms + timeout > now)
			break;
		clock_stop(t);
		if (!reply_queued(t))
		{
			cut_connection(t);
			n_cut_timeout++;
		}
	}
}

/*
 * upkeep_wait_ms: milliseconds until conn_upkeep has something to do (the
 * next request deadline, a report at the end of its window), or -1.
 */
static long
upkeep_wait_ms(void)
{
	int64		now = monotonic_ms();
	int64		at = -1;

	if (evproc_request_timeout > 0 && !dlist_is_empty(&request_clock))
		at = dlist_head_element(ConnTrack, clock_node,
								&request_clock)->started_ms +
			(int64) evproc_request_timeout * 1000;
	if (log_suppressed > 0 &&
		(at < 0 || log_window_start + LOG_WINDOW_MS < at))
		at = log_window_start + LOG_WINDOW_MS;
	if (n_cut_timeout > 0 && (at < 0 || next_cut_report < at))
		at = next_cut_report;
	if (at < 0)
		return -1;
	return at <= now ? 0 : (long) Min(at - now, (int64) LONG_MAX);
}

/*
 * conn_timeout_ms: milliseconds the loop may wait before conn_run or
 * conn_upkeep has something to do, or -1.
 *
 * A TLS handshake waiting for its client makes libmicrohttpd ask for no
 * wait at all (tls_probe.c); the client's bytes wake the loop anyway, and
 * whatever else may be ready is looked at every HANDSHAKE_POLL_MS
 * meanwhile, instead of the loop spinning.
 */
long
conn_timeout_ms(struct MHD_Daemon *daemon)
{
	MHD_UNSIGNED_LONG_LONG timeout;
	long		t = -1;
	long		upkeep;

	if (tls_reply_resume_pending())
		return 0;
	if (MHD_get_timeout(daemon, &timeout) == MHD_YES)
		t = timeout > (MHD_UNSIGNED_LONG_LONG) LONG_MAX ? LONG_MAX : (long) timeout;
	if (t == 0 && tls_probe_handshakes_waiting() > 0)
		t = HANDSHAKE_POLL_MS;
	upkeep = upkeep_wait_ms();
	if (upkeep >= 0 && (t < 0 || upkeep < t))
		t = upkeep;
	return t;
}

/*
 * give_back_memory returns freed memory to the system after a burst of
 * request bodies or connections: glibc's dynamic mmap threshold moves big
 * freed buffers into the heap, where they stay.  It runs once the bodies
 * held are back under an eighth of a high mark above TRIM_AFTER_BYTES, or
 * the connections under an eighth of a peak of TRIM_AFTER_CONNECTIONS.
 */
static void
give_back_memory(void)
{
	if ((body_peak >= TRIM_AFTER_BYTES && body_memory <= body_peak / 8) ||
		(tracks_peak >= TRIM_AFTER_CONNECTIONS && n_tracks <= tracks_peak / 8))
	{
		malloc_trim(0);
		body_peak = body_memory;
		tracks_peak = n_tracks;
	}
}

/*
 * conn_run runs libmicrohttpd runs times, with the connection upkeep that
 * goes with each run (see "Connection tracking").
 */
void
conn_run(struct MHD_Daemon *daemon, int runs)
{
	drain_watch(false);
	for (int i = 0; i < runs; i++)
	{
		MHD_run(daemon);
		drain_watch(true);
	}


	/*
	 * After each drain_watch, which may have taken the edge saying that a
	 * waiting reply's socket has room: flush them.  Held connections let
	 * go are taken up by libmicrohttpd at once, a few times at most here
	 * (then the next pass: conn_timeout_ms).
	 */
	tls_reply_flush_waiting();
	for (int i = 0; i < 4 && tls_reply_take_resumed(); i++)
	{
		MHD_run(daemon);
		drain_watch(true);
		tls_reply_flush_waiting();
	}
	check_eof();
}

/*
 * http_upkeep: once a pass, the request deadlines, the memory give-back
 * and the rate-limited reports.
 */
void
conn_upkeep(void)
{
	int64		now = monotonic_ms();

	sweep_deadlines(now);
	give_back_memory();
	log_flush_suppressed(now);
	if (n_cut_timeout > 0 && now >= next_cut_report)
	{
		ereport(LOG,
				(errmsg("evproc: closed %ld HTTP connections whose request did not arrive within evproc.request_timeout (%d s)",
						n_cut_timeout, evproc_request_timeout)));
		n_cut_timeout = 0;
		next_cut_report = now + LOG_WINDOW_MS;
	}
	if (now >= next_slots_report && slots_report())
		next_slots_report = now + LOG_WINDOW_MS;
}

/*
 * conn_peer_closed: has the peer of conn closed its side?  For a
 * connection libmicrohttpd does not watch (suspended), from our own
 * tracking; false if it is not tracked.
 */
bool
conn_peer_closed(struct MHD_Connection *conn)
{
	ConnTrack  *t = track_of(conn);

	return t != NULL && t->peer_closed;
}

/*
 * conn_peers_closed: how many peers have been seen closing their side, a
 * number that grows: a change tells a caller that watches some connections
 * (conn_peer_closed) to look at them.
 */
uint64
conn_peers_closed(void)
{
	return peers_closed;
}

/*
 * conn_hold: what the connection of tracking t holds of the slots
 * (http_slots.c); NULL if it is not tracked (out of memory).
 */
SlotHold *
conn_hold(ConnTrack *t)
{
	return t != NULL ? &t->hold : NULL;
}

/* conn_overflow: was t's connection accepted beyond the limit? */
bool
conn_overflow(ConnTrack *t)
{
	return t != NULL && t->hold.overflow;
}

/* conn_count: the connections open now */
int
conn_count(void)
{
	return n_tracks;
}

/* conn_start makes the epoll set the worker waits on (conn_epoll_fd). */
bool
conn_start(void)
{
	watch_fd = epoll_create1(EPOLL_CLOEXEC);
	if (watch_fd < 0)
	{
		ereport(LOG,
				(errmsg("evproc: could not create an epoll set: %m")));
		return false;
	}
	return true;
}

/* conn_watch_daemon adds libmicrohttpd's epoll fd to the set. */
bool
conn_watch_daemon(struct MHD_Daemon *daemon)
{
	const union MHD_DaemonInfo *info;
	struct epoll_event ev;

	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (info == NULL ||
		epoll_ctl(watch_fd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
	{
		ereport(LOG,
				(errmsg("evproc: could not watch the HTTP server's epoll set: %m")));
		return false;
	}
	return true;
}

void
conn_stop(void)
{
	if (watch_fd >= 0)
		close(watch_fd);
	watch_fd = -1;
}

/*
 * conn_epoll_fd: the descriptor the worker waits on for HTTP work, an
 * epoll set holding libmicrohttpd's and the connection tracking's.
 */
int
conn_epoll_fd(void)
{
	return watch_fd;
}

/*
 * conn_reserve_body counts n more bytes of request body memory in *held,
 * if that keeps all bodies together within evproc.max_body_memory.
 */
bool
conn_reserve_body(size_t *held, size_t n)
{
	if (body_memory + n > (size_t) evproc_max_body_memory)
		return false;
	body_memory += n;
	*held += n;
	if (body_memory > body_peak)
		body_peak = body_memory;
	return true;
}

/* conn_release_body gives back the body memory counted in *held. */
void
conn_release_body(size_t *held)
{
	body_memory -= *held;
	*held = 0;
}
