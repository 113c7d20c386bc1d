/*-------------------------------------------------------------------------
 *
 * http_slots.c
 *	  Who may hold the HTTP server's connection slots.
 *
 * A worker serves at most evproc.max_connections connections, fewer if the
 * open file limit does not leave room for them (slots_start).  Above that
 * limit libmicrohttpd is given a small overflow band: a connection that
 * arrives when all the served slots are taken is accepted into the band
 * and its request is answered at once with 503, Retry-After and
 * Connection: close (http.c), instead of waiting unanswered in the
 * kernel's listen backlog until some slot frees (libmicrohttpd stops
 * accepting at its own limit).  Only past the band too do new connections
 * wait in the backlog, and the band empties as fast as its 503s go out.
 *
 * Live-update streams (Server-Sent Events and WebSocket alike) hold their
 * slot for as long as the client likes, so they may hold only a share of
 * the served slots: evproc.reserved_connections are kept for requests
 * (POST, GET, /health), as PostgreSQL keeps superuser_reserved_connections,
 * and evproc.max_subscribers bounds the streams further.  One client
 * address (an IPv6 client by its /64, see client_key) may hold at
 * most evproc.max_streams_per_client streams; past it, 429 with
 * Retry-After.  Each worker counts its own connections.
 *
 * The counts follow each connection from libmicrohttpd's "started" to its
 * "closed" notification (through http_conn.c's tracking, which keeps a
 * SlotHold per connection), so a stream's slot is given back when its
 * connection goes, whatever ends it.
 *
 * Runs inside libmicrohttpd's callbacks and the worker's loop: malloc, no
 * PostgreSQL calls but ereport(LOG) at the start and in slots_report.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http/http_slots.h"
#include "shared/settings.h"

#include <microhttpd.h>
#include <sys/resource.h>

/*
 * Open files kept out of the connections' reach for the journal, ingest,
 * the database's files and libmicrohttpd's own descriptors.
 */
#define FD_RESERVE			128

/* connections past the limit that are accepted only to be answered 503 */
#define BAND_FOR(n)			Max(4, Min(64, (n) / 16))

/* Retry-After of a client over its streams */
#define CLIENT_RETRY_AFTER	5

/* A client address and its open streams. */
struct SlotPeer
{
	SlotPeer   *next;			/* in its bucket */
	int			streams;
	char		key[FLEXIBLE_ARRAY_MEMBER];
};

#define PEER_BUCKETS		1024

static SlotPeer *peers[PEER_BUCKETS];

static int	served = 0;			/* connections served (slots_start) */
static int	band = 0;			/* the overflow band above them */
static int	reserve = 0;		/* served slots streams may not take */
static int	n_served = 0;		/* connections in served slots */
static int	n_streams = 0;		/* of which streams */
static long n_refused = 0;		/* band connections since the last report */

/*
 * raise_file_limit raises the soft limit on open files to the hard one and
 * returns it; RLIM_INFINITY if there is none (or it cannot be read).
 */
static rlim_t
raise_file_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return RLIM_INFINITY;
	if (rl.rlim_cur != rl.rlim_max)
	{
		struct rlimit raised = rl;

		raised.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			return rl.rlim_max;
	}
	return rl.rlim_cur;
}

/* reserve_for: the slots kept for requests when n are served */
static int
reserve_for(int n)
{
	return evproc_reserved_connections < n ? evproc_reserved_connections :
		n / 2;
}

/*
 * descriptors_for: the open files n served connections may need: theirs,
 * the band's, and over TLS two more per stream (libmicrohttpd relays an
 * upgraded TLS connection, a WebSocket, through a socket pair).
 */
static rlim_t
descriptors_for(int n, bool tls)
{
	return (rlim_t) n + BAND_FOR(n) + (tls ? 2 * (rlim_t) (n - reserve_for(n)) : 0);
}

/*
 * slots_start decides the limits: evproc.max_connections served, fewer if
 * the open file limit (raised to the hard one first) has no room for them
 * with FD_RESERVE descriptors kept for everything else; logs when it
 * cannot honour the settings.  Returns the limit for libmicrohttpd: the
 * served connections and the overflow band.
 */
unsigned int
slots_start(bool tls)
{
	rlim_t		soft = raise_file_limit();
	int			n = evproc_max_connections;

	if (soft != RLIM_INFINITY)
	{
		rlim_t		room = soft > 2 * FD_RESERVE ? soft - FD_RESERVE :
			Max(soft / 2, 1);

		while (n > 1 && descriptors_for(n, tls) > room)
			n--;
		if (n < evproc_max_connections)
			ereport(LOG,
					(errmsg("evproc: serving at most %d HTTP connections, not evproc.max_connections = %d: the open file limit is %llu, of which %d are kept for the journal, ingest and the database, %d for connections answered 503 beyond the limit%s",
							n, evproc_max_connections,
							(unsigned long long) soft, FD_RESERVE,
							BAND_FOR(n),
							tls ? ", and 2 per stream for WebSocket over TLS" : ""),
					 errhint("Raise the open file limit of the server (LimitNOFILE= in its systemd unit, or ulimit -n) or lower evproc.max_connections.")));
	}
	served = n;
	band = BAND_FOR(n);
	reserve = reserve_for(n);
	if (reserve != evproc_reserved_connections)
		ereport(LOG,
				(errmsg("evproc: evproc.reserved_connections = %d leaves no slot for live-update streams of the %d HTTP connections served: %d are kept for requests instead",
						evproc_reserved_connections, served, reserve),
				 errhint("Lower evproc.reserved_connections below evproc.max_connections.")));
	return (unsigned int) (served + band);
}

/* slots_opened: a connection is accepted; beyond the limit, into the band */
void
slots_opened(SlotHold *h)
{
	memset(h, 0, sizeof(*h));
	if (n_served < served)
		n_served++;
	else
	{
		h->overflow = true;
		n_refused++;
	}
}

/* slots_closed: the connection is gone, and whatever it held is free */
void
slots_closed(SlotHold *h)
{
	slots_release_stream(h);
	if (!h->overflow)
		n_served--;
}

/* peer_hash: FNV-1a of a client key */
static uint32
peer_hash(const char *key)
{
	uint32		h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char) *key) * 16777619u;
	return h;
}

/* find_peer: the entry of client key, made if need be; NULL if no memory */
static SlotPeer *
find_peer(const char *key)
{
	SlotPeer  **bucket = &peers[peer_hash(key) % PEER_BUCKETS];
	SlotPeer   *p;
	size_t		len = strlen(key);

	for (p = *bucket; p != NULL; p = p->next)
		if (strcmp(p->key, key) == 0)
			return p;
	p = malloc(offsetof(SlotPeer, key) + len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p->key, key, len + 1);
	p->streams = 0;
	p->next = *bucket;
	*bucket = p;
	return p;
}

/* drop_peer frees the entry of a client without streams */
static void
drop_peer(SlotPeer *p)
{
	SlotPeer  **link = &peers[peer_hash(p->key) % PEER_BUCKETS];

	while (*link != p)
		link = &(*link)->next;
	*link = p->next;
	free(p);
}

/*
 * slots_admit_stream decides whether the connection of h, from client
 * (its key, or NULL if unknown), may become a stream: 0, and the stream
 * counts from now on; or the status to refuse it with (429: the client
 * holds evproc.max_streams_per_client; 503: the streams hold their share),
 * with *error and *retry_after set.
 */
unsigned int
slots_admit_stream(SlotHold *h, const char *client, const char **error,
				   int *retry_after)
{
	SlotPeer   *p = NULL;

	*retry_after = 1;
	if (h == NULL)
	{
		*error = "out of memory";
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	/* a connection holds one stream's slot at most, counted once */
	if (h->stream)
		return 0;
	if (client != NULL)
	{
		if ((p = find_peer(client)) == NULL)
		{
			*error = "out of memory";
			return MHD_HTTP_SERVICE_UNAVAILABLE;
		}
		if (evproc_max_streams_per_client > 0 &&
			p->streams >= evproc_max_streams_per_client)
		{
			*error = "too many streams from this client address (evproc.max_streams_per_client); retry later";
			*retry_after = CLIENT_RETRY_AFTER;
			return MHD_HTTP_TOO_MANY_REQUESTS;
		}
	}
	if (n_streams >= served - reserve || n_streams >= evproc_max_subscribers)
	{
		if (p != NULL && p->streams == 0)
			drop_peer(p);
		*error = n_streams >= evproc_max_subscribers ?
			"too many subscribers (evproc.max_subscribers); retry later" :
			"the streams hold their share of the connections (evproc.max_connections less evproc.reserved_connections); retry later";
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	}
	if (p != NULL)
		p->streams++;
	h->stream = true;
	h->peer = p;
	n_streams++;
	return 0;
}

/* slots_release_stream: h is no longer a stream (or did not become one) */
void
slots_release_stream(SlotHold *h)
{
	if (!h->stream)
		return;
	h->stream = false;
	n_streams--;
	if (h->peer != NULL && --h->peer->streams == 0)
		drop_peer(h->peer);
	h->peer = NULL;
}

/*
 * slots_report logs how many connections were answered 503 for being
 * beyond the limit since the last report; false if there were none (the
 * caller paces the reports).
 */
bool
slots_report(void)
{
	if (n_refused == 0)
		return false;
	ereport(LOG,
			(errmsg("evproc: answered %ld HTTP connections with 503: all %d connection slots were taken (evproc.max_connections)",
					n_refused, served)));
	n_refused = 0;
	return true;
}
