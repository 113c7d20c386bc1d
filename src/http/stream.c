/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  Live updates over HTTP: the subscribers of GET /userEvents/:userId/
 *	  stream and GET /stream, and what they are sent: Server-Sent Events,
 *	  or WebSocket messages once a subscriber upgraded (stream_ws.c).
 *
 * The HTTP server opens a subscriber (stream_open) and answers 200 with a
 * response whose body libmicrohttpd pulls from the subscriber's buffer;
 * when the buffer is empty the connection is suspended, and it is resumed
 * when something is appended.  The worker, each pass, tells this module
 * what the change feed says (stream_note_change): the users some
 * subscriber watches are wanted (stream_index.c); it looks their states
 * up (stream_wanted, lookup.c, stream_answer), and each state is
 * appended, as one message, to the buffers of the subscribers that watch
 * the user and do not have it yet (by sequence number).  A new
 * subscriber's first states are looked up for it alone (stream_welcome).
 *
 * Memory is bounded per subscriber: a subscriber of one user keeps only
 * the newest state not yet started; a subscriber of many users whose
 * buffer exceeds STREAM_BUF_MAX (it does not read) is closed, with a
 * comment saying why, and resumes with Last-Event-ID.
 *
 * What runs inside libmicrohttpd's callbacks (stream_open, the reader,
 * the free callback) uses malloc and no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "core/event.h"
#include "core/stream_index.h"
#include "core/ws.h"
#include "http/http_conn.h"
#include "http/stream.h"
#include "http/stream_ws.h"
#include "shared/feed.h"
#include "shared/settings.h"

#include <time.h>
#include "lib/ilist.h"

/*
 * A stream's response block, which libmicrohttpd allocates with each
 * stream's response: small (16 kB made 10,000 streams 160 MB; 1 kB, about
 * 7 MB of their 135).  Messages are small; a large first state only takes
 * more calls of the reader.
 */
#define STREAM_BLOCK		256
/* a subscriber's buffer grows by at least this much (it starts empty) */
#define STREAM_BUF_STEP		256
/* bytes a subscriber may have waiting before it is closed */
#define STREAM_BUF_MAX		(256 * 1024)
/* an idle stream gets a comment this often, for proxies */
#define STREAM_PING_MS		15000
/* a WebSocket upgrade not done after this long is given up */
#define STREAM_UPGRADE_MS	10000
/* the subscribers' upkeep (gone clients, pings) runs this often at most */
#define STREAM_SCAN_MS		200
/* user states looked up per pass */
#define STREAM_BATCH		500

typedef struct Subscriber Subscriber;

struct Subscriber
{
	struct MHD_Connection *conn;	/* Server-Sent Events */
	WsConn	   *ws;				/* WebSocket, once upgraded */
	bool		upgrading;		/* WebSocket, not yet upgraded */
	int64		opened_ms;
	bool		all;			/* GET /stream */
	UserEntry **users;			/* the users it watches by name */
	int			nusers;
	uint64		since;			/* the client's resume point (0: none) */
	uint64		sent_seq;		/* GET /stream: the seq the client has */
	bool		welcomed;		/* its first states were asked for */
	bool		suspended;
	bool		closing;		/* send what is left, then end */
	char	   *buf;			/* bytes to send: buf[off..len) */
	size_t		off;
	size_t		len;
	size_t		cap;
	int64		last_write_ms;
	dlist_node	node;			/* in subscribers */
	dlist_node	all_node;		/* in everyone, if it watches every user */
};

static dlist_head subscribers = DLIST_STATIC_INIT(subscribers);
static int	nsubscribers = 0;
/* the subscribers of every user (GET /stream without users) */
static dlist_head everyone = DLIST_STATIC_INIT(everyone);
static int	nall = 0;
static int	nnew = 0;			/* subscribers not yet welcomed */
static int64 next_scan_ms = 0;	/* see stream_upkeep */
static uint64 closed_seen = 0;
static bool resumed_any = false;
/* the newest seq read from the feed: what this worker's states are as of */
static uint64 read_seq = 0;

/* the lookups handed to the worker (stream_wanted) */
static RevenueLookup *wanted = NULL;
static UserEntry **wanted_entries = NULL;
static int	nwanted = 0;

/* wake resumes a suspended subscriber: it has something to send */
static void
wake(Subscriber *s)
{
	if (s->suspended)
	{
		s->suspended = false;
		MHD_resume_connection(s->conn);
		resumed_any = true;
	}
}

/*
 * send_to appends len bytes to a subscriber's buffer.  replace: the bytes
 * replace what is waiting and not yet started (a subscriber of one user
 * only needs the newest state).  A subscriber that has too much waiting is
 * closed.
 */
static void
send_to(Subscriber *s, const char *data, size_t len, bool replace)
{
	if (s->closing)
		return;
	if (replace && s->off == 0)
		s->len = 0;
	if (s->off > 0 && s->off == s->len)
		s->off = s->len = 0;
	if (s->len - s->off + len > STREAM_BUF_MAX)
	{
		static const char reason[] = ": closed: the client does not read fast enough; reconnect with Last-Event-ID\n\n";

		s->closing = true;
		data = reason;
		len = sizeof(reason) - 1;
	}
	if (s->len + len > s->cap)
	{
		size_t		cap = Max(s->cap * 2, s->len + len + STREAM_BUF_STEP);
		char	   *buf = realloc(s->buf, cap);

		if (buf == NULL)
		{
			s->closing = true;
			wake(s);
			return;
		}
		s->buf = buf;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	wake(s);
}

/*
 * emit sends a subscriber a message: a user's state (json) of sequence
 * number seq, or, with json NULL, a "resync" (the states since seq are not
 * known), or a ping (seq 0 too).  Server-Sent Events carry the number in
 * "id:", WebSocket text frames only in the JSON.
 */
static void
emit(Subscriber *s, uint64 seq, const char *json, bool replace, bool ping)
{
	char		head[96];
	char	   *msg;
	int			len;

	if (s->ws != NULL)
	{
		if (ping)
			wsconn_ping(s->ws);
		else if (wsconn_pending(s->ws) > STREAM_BUF_MAX)
			wsconn_close(s->ws, 1008, "the client does not read fast enough; reconnect with ?since=");
		else if (json != NULL)
			wsconn_send_text(s->ws, json, strlen(json));
		else
		{
			len = snprintf(head, sizeof(head), "{\"resync\": true, \"seq\": " UINT64_FORMAT "}", seq);
			wsconn_send_text(s->ws, head, (size_t) len);
		}
		s->last_write_ms = monotonic_ms();
		return;
	}
	if (s->upgrading)
		return;
	if (ping)
	{
		send_to(s, ": ping\n\n", 8, false);
		return;
	}
	if (json == NULL)
	{
		len = snprintf(head, sizeof(head),
					   "id: " UINT64_FORMAT "\nevent: resync\ndata: {\"seq\": " UINT64_FORMAT "}\n\n",
					   seq, seq);
		send_to(s, head, (size_t) len, false);
		return;
	}
	len = snprintf(head, sizeof(head), "id: " UINT64_FORMAT "\ndata: ", seq);
	msg = malloc(len + strlen(json) + 3);
	if (msg == NULL)
		return;
	memcpy(msg, head, len);
	strcpy(msg + len, json);
	strcat(msg + len, "\n\n");
	send_to(s, msg, strlen(msg), replace);
	free(msg);
}

/*
 * reader is the body of a subscriber's response: what is in its buffer;
 * with nothing to send, the connection is suspended until there is.
 */
static ssize_t
reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	Subscriber *s = cls;
	size_t		n;

	if (s->off < s->len)
	{
		n = Min(max, s->len - s->off);
		memcpy(buf, s->buf + s->off, n);
		s->off += n;
		if (s->off == s->len)
			s->off = s->len = 0;
		s->last_write_ms = monotonic_ms();
		return (ssize_t) n;
	}
	if (s->closing)
		return MHD_CONTENT_READER_END_OF_STREAM;
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	return 0;
}

/* free_subscriber: its connection is gone */
static void
free_subscriber(void *cls)
{
	Subscriber *s = cls;

	for (int i = 0; i < s->nusers; i++)
		index_unwatch(s->users[i], s);
	if (s->all && s->nusers == 0)
	{
		dlist_delete(&s->all_node);
		nall--;
	}
	if (!s->welcomed)
		nnew--;
	dlist_delete(&s->node);
	nsubscribers--;
	free(s->users);
	free(s->buf);
	free(s);
}

/* forget undoes a subscriber that was not opened after all */
static void
forget(Subscriber *s)
{
	for (int k = 0; k < s->nusers; k++)
		index_unwatch(s->users[k], s);
	free(s->users);
	free(s);
}

/*
 * subscribe makes a subscriber of user_id (GET /userEvents/:userId/
 * stream), or of users[0..nusers) or every user if none (GET /stream),
 * whose client has what was sent up to sequence number since (0:
 * nothing), not yet listed; NULL with *error set if it cannot (503).
 */
static Subscriber *
subscribe(const char *user_id, char **users, int nusers, uint64 since,
		  const char **error)
{
	Subscriber *s;
	int			n = user_id != NULL ? 1 : nusers;

	if (nsubscribers >= evproc_max_subscribers)
	{
		*error = "too many subscribers (evproc.max_subscribers); retry later";
		return NULL;
	}
	*error = "out of memory";
	s = calloc(1, sizeof(Subscriber));
	if (s == NULL || (n > 0 && (s->users = calloc(n, sizeof(UserEntry *))) == NULL))
	{
		free(s);
		return NULL;
	}
	s->all = (user_id == NULL);
	s->since = since;
	s->last_write_ms = s->opened_ms = monotonic_ms();
	for (int i = 0; i < n; i++)
	{
		UserEntry  *e = index_watch(user_id != NULL ? user_id : users[i], s);

		if (e == NULL)
		{
			forget(s);
			return NULL;
		}
		for (int k = 0; k < s->nusers && e != NULL; k++)
			if (s->users[k] == e)
				e = NULL;		/* named twice: watched once */
		if (e != NULL)
			s->users[s->nusers++] = e;
	}
	*error = NULL;
	return s;
}

/* list makes a subscriber count, and receive what comes */
static void
list(Subscriber *s)
{
	dlist_push_tail(&subscribers, &s->node);
	nsubscribers++;
	nnew++;
	if (s->all && s->nusers == 0)
	{
		dlist_push_tail(&everyone, &s->all_node);
		nall++;
	}
}

/*
 * stream_open opens a stream of Server-Sent Events on conn (see
 * subscribe) and returns its response (200), or NULL with *error set
 * (503).  Runs inside libmicrohttpd's callbacks.
 */
struct MHD_Response *
stream_open(struct MHD_Connection *conn, const char *user_id,
			char **users, int nusers, uint64 since, const char **error)
{
	Subscriber *s = subscribe(user_id, users, nusers, since, error);
	struct MHD_Response *response;

	if (s == NULL)
		return NULL;
	s->conn = conn;
	response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
												 reader, s, free_subscriber);
	if (response == NULL)
	{
		*error = "out of memory";
		forget(s);
		return NULL;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
							"text/event-stream");
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL,
							"no-cache");
	MHD_add_response_header(response, "X-Accel-Buffering", "no");
	/* a browser page of any origin may subscribe with EventSource */
	MHD_add_response_header(response, "Access-Control-Allow-Origin", "*");
	/* a stream that ends (too slow a reader, shutdown) ends its connection */
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	/* a stream is idle between changes: never time it out */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	list(s);
	return response;
}

/* ws_closed: a subscriber's WebSocket connection is gone (a WsClosedFn) */
static void
ws_closed(void *arg)
{
	free_subscriber(arg);
}

/* upgraded: libmicrohttpd handed the connection over after the 101 */
static void
upgraded(void *cls, struct MHD_Connection *connection, void *req_cls,
		 const char *extra_in, size_t extra_in_size, MHD_socket sock,
		 struct MHD_UpgradeResponseHandle *urh)
{
	Subscriber *s = cls;

	s->upgrading = false;
	s->ws = wsconn_start(sock, urh, extra_in, extra_in_size, ws_closed, s);
	if (s->ws == NULL)
		free_subscriber(s);
}

/*
 * stream_open_ws opens a stream over WebSocket (see subscribe): the 101
 * response that switches the connection's protocol, with the handshake's
 * Sec-WebSocket-Accept for the client's key; NULL with *error set (503).
 * Runs inside libmicrohttpd's callbacks.
 */
struct MHD_Response *
stream_open_ws(const char *key, const char *user_id, char **users,
			   int nusers, uint64 since, const char **error)
{
	Subscriber *s = subscribe(user_id, users, nusers, since, error);
	struct MHD_Response *response;
	char		accept[WS_ACCEPT_SIZE];

	if (s == NULL)
		return NULL;
	if (!ws_accept_key(key, accept) ||
		(response = MHD_create_response_for_upgrade(upgraded, s)) == NULL)
	{
		*error = "out of memory";
		forget(s);
		return NULL;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(response, "Sec-WebSocket-Accept", accept);
	s->upgrading = true;
	list(s);
	return response;
}

/* stream_start prepares the WebSocket side; false if it cannot. */
bool
stream_start(void)
{
	return wsconn_init();
}

/* stream_epoll_fd: the descriptor the worker waits on for WebSocket I/O */
int
stream_epoll_fd(void)
{
	return wsconn_epoll_fd();
}

int
stream_count(void)
{
	return nsubscribers;
}

/*
 * stream_close_all ends every stream: what is waiting is sent, then the
 * response ends; none stays suspended.  At shutdown WebSocket connections
 * end at once (1001); when who may read changed (a token revoked, expired
 * or changed) they get a close (1008).  Clients reconnect, are checked
 * again, and resume where they were (Last-Event-ID, ?since=).
 */
void
stream_close_all(bool shutdown)
{
	dlist_iter	iter;

	if (shutdown)
		wsconn_close_all();
	dlist_foreach(iter, &subscribers)
	{
		Subscriber *s = dlist_container(Subscriber, node, iter.cur);

		if (!shutdown && s->ws != NULL)
			wsconn_close(s->ws, 1008, "the tokens changed; reconnect with ?since=");
		s->closing = true;
		wake(s);
	}
}

/*
 * note_gap: the feed cannot say what changed up to seq: every watched
 * user's state is looked up again, and the subscribers of every user get
 * a "resync" event.
 */
static void
note_gap(uint64 seq)
{
	dlist_iter	iter;

	index_changed_all(seq);
	dlist_foreach(iter, &everyone)
	{
		Subscriber *s = dlist_container(Subscriber, all_node, iter.cur);

		if (s->welcomed && s->sent_seq < seq)
		{
			emit(s, seq, NULL, false, false);
			s->sent_seq = seq;
		}
	}
}

/*
 * stream_note_change: the feed says user_id's metrics changed at seq (a
 * FeedChangeFn); NULL user: many users did, or the feed cannot say.
 */
void
stream_note_change(uint64 seq, const char *user_id, void *arg)
{
	UserEntry  *e;

	read_seq = Max(read_seq, seq);
	if (user_id == NULL)
	{
		note_gap(seq);
		return;
	}
	e = index_find(user_id, nall > 0);
	if (e != NULL)
		index_changed(e, seq);
}

/*
 * stream_welcome asks for the first states of the new subscribers, for
 * each of them alone, labelled with the newest seq this worker has read
 * (their states are looked up after it, so they hold every change up to
 * it).  A client's resume point (stream_index.c: resume_kind) is only
 * compared with the feed's numbers, never moves them: without one, or
 * with one the server never reached, the client gets every user's current
 * state; with a known one, the states of the users that changed since (a
 * subscriber of every user: one "resync" event if anything did).  Worker
 * only (the feed is in shared memory).
 */
void
stream_welcome(void)
{
	dlist_iter	iter;

	if (nnew == 0)
		return;
	dlist_foreach(iter, &subscribers)
	{
		Subscriber *s = dlist_container(Subscriber, node, iter.cur);
		ResumeKind	kind;
		uint64		from;
		uint64		have;

		/* a WebSocket not yet upgraded could not be sent its states */
		if (s->welcomed || s->upgrading)
			continue;
		kind = resume_kind(s->since, read_seq, feed_last_seq());
		if (kind == RESUME_WAIT)
			continue;
		s->welcomed = true;
		nnew--;
		from = kind == RESUME_FROM ? s->since : 0;

		/*
		 * A file's users share its seq: a client of several users cut off
		 * in the middle of one seq's states has some of them, and says
		 * only that seq.  It gets that seq's states again: one sent twice
		 * is harmless (a state, not a delta), one lost is not.
		 */
		have = from > 0 && s->nusers > 1 ? from - 1 : from;
		for (int i = 0; i < s->nusers; i++)
		{
			UserEntry  *e = s->users[i];
			bool		changed = have == 0 ||
				feed_changed_since(have, read_seq, e->user_id);

			index_first(e, s, have, changed ? read_seq : 0);
		}
		s->sent_seq = from;
		if (s->all && s->nusers == 0 &&
			(kind == RESUME_UNKNOWN ||
			 (from > 0 && feed_changed_since(from, read_seq, NULL))))
		{
			emit(s, read_seq, NULL, false, false);
			s->sent_seq = read_seq;
		}
	}
}

/*
 * stream_wanted gives the users whose state is wanted (n of them, at most
 * STREAM_BATCH a pass, in seq order), for lookup_revenue and then
 * stream_answer.
 */
RevenueLookup *
stream_wanted(int *n)
{
	*n = 0;
	nwanted = 0;
	if (index_nwanted() == 0)
		return NULL;
	if (wanted == NULL)
	{
		wanted = malloc(sizeof(RevenueLookup) * STREAM_BATCH);
		wanted_entries = malloc(sizeof(UserEntry *) * STREAM_BATCH);
		if (wanted == NULL || wanted_entries == NULL)
			return NULL;
	}
	for (UserEntry *e = index_wanted_head(); e != NULL && nwanted < STREAM_BATCH;
		 e = e->wnext)
	{
		wanted[nwanted].user_id = e->user_id;
		wanted[nwanted].revenue = wanted[nwanted].metrics = NULL;
		wanted_entries[nwanted++] = e;
	}
	*n = nwanted;
	return wanted;
}

/* state_json: a user's state as sent, with seq (malloc'd; NULL if none) */
static char *
state_json(const RevenueLookup *item, uint64 seq)
{
	char		user[EV_USER_ID_MAX * 6 + 3];
	char	   *json;
	size_t		cap;

	ev_json_quote(item->user_id, strlen(item->user_id), user, sizeof(user));
	cap = strlen(user) + strlen(item->revenue) + strlen(item->metrics) + 96;
	json = malloc(cap);
	if (json != NULL)
		snprintf(json, cap,
				 "{\"userId\": %s, \"revenue\": %s, \"metrics\": %s, \"seq\": " UINT64_FORMAT "}",
				 user, item->revenue, item->metrics, seq);
	return json;
}

/*
 * deliver sends user entry e's state to whom it is for: each watcher, with
 * the seq index_label gives (a new subscriber's first state goes to it
 * alone; nothing goes twice), and, if the feed said it changed, the
 * subscribers of every user that do not have that seq yet (the users of
 * one file share its number).  Subscribers not yet welcomed get nothing:
 * what they have is not known yet.
 */
static void
deliver(UserEntry *e, const RevenueLookup *item)
{
	char	   *json = NULL;
	uint64		json_seq = 0;
	dlist_iter	iter;

	for (int i = 0; i < e->nwatches; i++)
	{
		Subscriber *s = e->watches[i].sub;
		uint64		seq;

		if (!s->welcomed || (seq = index_label(e, &e->watches[i])) == 0)
			continue;
		if (json_seq != seq)
		{
			free(json);
			json = state_json(item, seq);
			json_seq = seq;
		}
		if (json != NULL)
			emit(s, seq, json, s->nusers == 1, false);
	}
	dlist_foreach(iter, &everyone)
	{
		Subscriber *s = dlist_container(Subscriber, all_node, iter.cur);

		if (e->changed_seq != 0 && s->welcomed &&
			s->sent_seq <= e->changed_seq)
		{
			if (json_seq != e->changed_seq)
			{
				free(json);
				json = state_json(item, e->changed_seq);
				json_seq = e->changed_seq;
			}
			if (json != NULL)
				emit(s, json_seq, json, false, false);
			s->sent_seq = e->changed_seq;
		}
	}
	free(json);
}

/*
 * stream_answer takes the lookups stream_wanted gave: answered states are
 * sent (an unknown user's state is not: nothing to say yet); if they could
 * not be looked up, they stay wanted for a later pass.
 */
void
stream_answer(LookupOutcome outcome)
{
	if (outcome != LOOKUP_ANSWERED)
		return;
	for (int i = 0; i < nwanted; i++)
	{
		UserEntry  *e = wanted_entries[i];

		if (wanted[i].revenue != NULL && wanted[i].metrics != NULL)
			deliver(e, &wanted[i]);
		index_answered(e);
	}
	nwanted = 0;
}

/*
 * scan ends the streams whose client went away (or whose upgrade never
 * completed) and pings the idle ones.
 */
static void
scan(int64 now)
{
	dlist_mutable_iter miter;

	dlist_foreach_modify(miter, &subscribers)
	{
		Subscriber *s = dlist_container(Subscriber, node, miter.cur);

		/* an upgrade that never completed (the client went away) */
		if (s->upgrading && now - s->opened_ms > STREAM_UPGRADE_MS)
		{
			free_subscriber(s);
			continue;
		}
		/* a client that went away while we waited: end its stream */
		if (s->suspended && !s->closing && conn_peer_closed(s->conn))
		{
			s->closing = true;
			wake(s);
			continue;
		}
		if (s->off == s->len && now - s->last_write_ms >= STREAM_PING_MS)
		{
			emit(s, 0, NULL, false, true);
			s->last_write_ms = now;
		}
	}
}

/*
 * stream_upkeep ends the streams whose client went away, pings idle
 * ones, and says whether libmicrohttpd must run: a suspended stream was
 * resumed since the last call, or a WebSocket connection ended (to close).
 */
bool
stream_upkeep(void)
{
	int64		now = monotonic_ms();
	bool		ended = wsconn_run();
	bool		any;

	/* at once if a peer was seen closing, else a few times a second */
	if (now >= next_scan_ms || conn_peers_closed() != closed_seen)
	{
		closed_seen = conn_peers_closed();
		next_scan_ms = now + STREAM_SCAN_MS;
		scan(now);
	}
	any = resumed_any || ended;
	resumed_any = false;
	return any;
}

/* stream_timeout_ms: how long the loop may sleep as far as streams go. */
long
stream_timeout_ms(void)
{
	if (index_nwanted() > 0 || resumed_any)
		return 0;
	return nsubscribers > 0 ? 1000 : -1;
}
