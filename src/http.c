/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The HTTP server: a libmicrohttpd daemon in external-select mode,
 *	  driven by the worker's event loop.  Routing, authentication, request
 *	  validation and replies live here.
 *
 * Routes:
 *	  POST /liveEvent			validate, append to the journal batch, reply
 *								after the batch is durable (group commit)
 *	  GET  /userEvents/:userId	revenue lookup, answered in a batch per pass
 *
 * Requests that need the journal or the database are queued for the worker,
 * which does that work after MHD_run returns and then answers them (a
 * request still waiting on the next MHD_run is suspended: see
 * handle_request).  So nothing in this file's libmicrohttpd callbacks calls
 * into PostgreSQL (they use malloc, not palloc): an ereport(ERROR) can
 * never longjmp through libmicrohttpd's stack.  Only the logger reports
 * with ereport(LOG), which does not throw.
 *
 * Connection upkeep, outside libmicrohttpd (see "Connection tracking"):
 * a peer that closed its side is noticed at once, a request must arrive in
 * full within evproc.request_timeout, the bodies being received share
 * evproc.max_body_memory, the open file limit is raised and the
 * connection limit kept below it, and libmicrohttpd's messages are
 * rate-limited.
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"
#include "idcache.h"
#include "lib/ilist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUTE_EVENT_PATH	"/liveEvent"
#define ROUTE_USER_PREFIX	"/userEvents/"

typedef enum Route
{
	ROUTE_NONE,					/* an error reply is already decided */
	ROUTE_EVENT,
	ROUTE_USER
} Route;

struct ConnTrack;

/*
 * Per-request state; lives from the first callback to request_completed,
 * or, if its connection closes while the request is queued for the worker,
 * until the worker is done with it (orphaned).
 */
typedef struct HttpRequest
{
	Route		route;
	struct MHD_Connection *conn;	/* NULL once orphaned */
	struct ConnTrack *track;	/* its connection's tracking, or NULL */
	bool		suspended;
	bool		queued;			/* handed to the worker (or answered) */
	bool		in_queue;		/* in pending_posts, pending_lookups or
								 * to_resume */
	bool		orphaned;		/* its connection closed while in_queue */

	/* request body (POST) */
	char	   *body;
	size_t		len;			/* bytes received (kept or dropped) */
	size_t		cap;
	size_t		held;			/* bytes counted in body_memory */
	bool		fixed;			/* held is the announced Content-Length */

	/* GET target */
	char		user_id[EV_USER_ID_MAX + 1];
	size_t		user_id_len;

	/* POST: events accepted, and duplicates (-1: no eventIds given) */
	long		accepted;
	long		duplicates;

	/* the reply, once decided */
	unsigned int status;		/* 0 while undecided */
	struct MHD_Response *canned;	/* a prebuilt reply, or NULL */
	char	   *reply;
	size_t		reply_len;
	const char *allow;			/* Allow header for 405 */
	bool		close;			/* send "Connection: close" */
	bool		retry_after;	/* a 503 to retry: Retry-After: 1 */
} HttpRequest;

/*
 * ConnTrack follows one connection from accept to close (libmicrohttpd's
 * socket context), for what libmicrohttpd does not do itself: noticing a
 * peer that closed while its request is incomplete, and the request
 * deadline.  See "Connection tracking" below.
 */
typedef struct ConnTrack
{
	struct MHD_Connection *conn;
	int			fd;
	HttpRequest *req;			/* the current request, if its headers are in */
	bool		busy;			/* the request is in: answering it */
	bool		idle;			/* kept alive, no byte of a next request yet */
	bool		peer_closed;	/* the peer shut down its sending side */
	int64		started_ms;		/* the current request's clock (monotonic) */
	dlist_node	clock_node;		/* in request_clock, or NULLs */
	dlist_node	eof_node;		/* in eof_watch, or NULLs */
} ConnTrack;

/* Suspended requests waiting for the worker. */
typedef struct RequestQueue
{
	HttpRequest **items;
	int			n;
	int			cap;
} RequestQueue;

static struct MHD_Daemon *daemon_handle = NULL;
static char auth_token[1024];	/* the token in force; "" for none */
static bool auth_refuse_all = false;	/* no usable token: refuse all */
static Journal *journal = NULL;
static EvParser *parser = NULL;
static RequestQueue pending_posts;
static RequestQueue pending_lookups;
static RequestQueue to_resume;
static bool refuse_new = false;	/* shutting down: suspend nothing more */

/* connection upkeep (see "Connection tracking") */
static int	watch_fd = -1;		/* our epoll: MHD's epoll fd + each socket */
/* connections reading a request, oldest first */
static dlist_head request_clock = DLIST_STATIC_INIT(request_clock);

/* connections whose peer closed before their request was in */
static dlist_head eof_watch = DLIST_STATIC_INIT(eof_watch);
static int	n_tracks = 0;
static int	tracks_peak = 0;
static long n_cut_timeout = 0;	/* cut for evproc.request_timeout, unlogged */
static int64 next_cut_report = 0;

/* bytes of request bodies held (see reserve_body) and their high mark */
static size_t body_memory = 0;
static size_t body_peak = 0;

/* A burst worth giving memory back after (see give_back_memory). */
#define TRIM_AFTER_BYTES	(8 * 1024 * 1024)
#define TRIM_AFTER_CONNECTIONS	256

/*
 * Open files kept out of evproc.max_connections' reach for the journal,
 * ingest, the database's files and libmicrohttpd's own descriptors.
 */
#define FD_RESERVE			128

/* libmicrohttpd's messages: at most LOG_BURST lines per LOG_WINDOW_MS */
#define LOG_BURST			20
#define LOG_WINDOW_MS		10000
static int64 log_window_start = 0;
static int	log_lines = 0;
static long log_suppressed = 0;

/* the reply to nearly every POST (one event, no eventId): built once */
#define ACCEPTED_ONE	"{\"accepted\": 1}\n"
static struct MHD_Response *accepted_one = NULL;
static IdCache recent_ids;		/* eventIds journaled, or pending in the batch */

#define RECENT_IDS_CAPACITY		65536

static bool
queue_push(RequestQueue *q, HttpRequest *req)
{
	if (q->n == q->cap)
	{
		int			newcap = q->cap ? q->cap * 2 : 64;
		HttpRequest **items = realloc(q->items, newcap * sizeof(HttpRequest *));

		if (items == NULL)
			return false;
		q->items = items;
		q->cap = newcap;
	}
	q->items[q->n++] = req;
	return true;
}

/*
 * set_reply decides a request's reply; it is queued by the next callback.
 * The body gets a final newline, so that curl's output ends its line.
 */
static void
set_reply(HttpRequest *req, unsigned int status, const char *body, size_t len)
{
	req->canned = NULL;
	free(req->reply);
	req->reply = malloc(len + 1);
	if (req->reply == NULL)
	{
		req->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		req->reply_len = 0;
		return;
	}
	memcpy(req->reply, body, len);
	req->reply[len] = '\n';
	req->reply_len = len + 1;
	req->status = status;
}

static void
set_error(HttpRequest *req, unsigned int status, const char *message)
{
	char		body[EV_ERROR_BUFSZ * 7];
	size_t		len = ev_json_error(message, body, sizeof(body));

	set_reply(req, status, body, len);
}

/*
 * reserve_body counts n more bytes of request body memory for req, if
 * that keeps all bodies together within evproc.max_body_memory.
 */
static bool
reserve_body(HttpRequest *req, size_t n)
{
	if (body_memory + n > (size_t) evproc_max_body_memory)
		return false;
	body_memory += n;
	req->held += n;
	if (body_memory > body_peak)
		body_peak = body_memory;
	return true;
}

/* free_body frees req's body buffer and its count; len stays. */
static void
free_body(HttpRequest *req)
{
	free(req->body);
	req->body = NULL;
	req->cap = 0;
	body_memory -= req->held;
	req->held = 0;
}

/* set_busy answers 503 with Retry-After: body memory is taken up. */
static void
set_busy(HttpRequest *req)
{
	set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
			  "too many request bodies are being received; retry later");
	req->retry_after = true;
}

static enum MHD_Result
send_reply(HttpRequest *req)
{
	struct MHD_Response *response;
	enum MHD_Result ret;

	if (req->canned != NULL)
		return MHD_queue_response(req->conn, req->status, req->canned);

	response = MHD_create_response_from_buffer(req->reply_len, req->reply,
											   MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
							"application/json");
	if (req->allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, req->allow);
	if (req->close)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	if (req->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
								"Bearer");
	if (req->retry_after)
		MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	ret = MHD_queue_response(req->conn, req->status, response);
	MHD_destroy_response(response);
	return ret;
}

/*
 * authorized checks the Authorization header against evproc.auth_token,
 * accepting "<token>" and "Bearer <token>".  The comparison takes the same
 * time wherever the first difference is.
 */
static bool
authorized(struct MHD_Connection *conn)
{
	const char *token = auth_token;
	const char *given;
	size_t		tlen;
	size_t		glen;
	unsigned char diff;

	if (auth_refuse_all)
		return false;
	if (token[0] == '\0')
		return true;
	given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
										MHD_HTTP_HEADER_AUTHORIZATION);
	if (given == NULL)
		return false;
	if (strncasecmp(given, "Bearer ", 7) == 0)
		given += 7;
	tlen = strlen(token);
	glen = strlen(given);
	diff = (unsigned char) (tlen != glen);
	for (size_t i = 0; i < glen; i++)
		diff |= (unsigned char) given[i] ^ (unsigned char) token[i % tlen];
	return diff == 0;
}

/*
 * http_load_token sets the token in force: the first line of
 * evproc.auth_token_file if that is set, else evproc.auth_token.  If the
 * file cannot be read, every request is refused (401) rather than let in,
 * and the problem is logged (never the token).  Called at start and on
 * SIGHUP.
 */
void
http_load_token(void)
{
	const char *path = evproc_auth_token_file;
	const char *token = evproc_auth_token;

	explicit_bzero(auth_token, sizeof(auth_token));
	auth_refuse_all = false;
	if (path != NULL && path[0] != '\0')
	{
		FILE	   *f = fopen(path, "r");
		size_t		len = 0;

		if (f != NULL && fgets(auth_token, sizeof(auth_token), f) != NULL)
		{
			len = strcspn(auth_token, "\r\n");
			/* a first line too long for the buffer is no token either */
			if (auth_token[len] == '\0' && fgetc(f) != EOF)
				len = 0;
			auth_token[len] = '\0';
		}
		if (f != NULL)
			fclose(f);
		if (len == 0)
		{
			ereport(LOG,
					(errmsg("evproc: could not read a token from evproc.auth_token_file \"%s\"; refusing all requests",
							path)));
			/* not a sentinel token: libmicrohttpd passes any byte through */
			auth_refuse_all = true;
		}
	}
	else if (token != NULL && strlen(token) >= sizeof(auth_token))
	{
		ereport(LOG,
				(errmsg("evproc: evproc.auth_token is longer than %zu bytes; refusing all requests",
						sizeof(auth_token) - 1)));
		auth_refuse_all = true;
	}
	else if (token != NULL)
		strcpy(auth_token, token);
}

static void
client_address(struct MHD_Connection *conn, char *out)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	strcpy(out, "unknown");
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL)
		return;
	sa = info->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
				  out, EV_ADDR_BUFSZ);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
				  out, EV_ADDR_BUFSZ);
}

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
 * framing_error checks that where the request body ends cannot be read in
 * two ways, by us and by a proxy in front of us: a header field name that
 * is not a token ("Transfer-Encoding : chunked" is ignored by
 * libmicrohttpd, while others read it as chunked), more than one
 * Content-Length (libmicrohttpd takes the first; even equal ones are
 * refused), more than one Transfer-Encoding, one that is not exactly
 * "chunked", or both Content-Length and Transfer-Encoding.  Returns the
 * problem, or NULL.
 */
static const char *
framing_error(struct MHD_Connection *conn)
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
 * route_request runs on a request's first callback, once its headers are
 * in: it picks the route or decides an error reply.
 */
static void
route_request(HttpRequest *req, const char *url, const char *method)
{
	const char *framing = framing_error(req->conn);

	if (framing != NULL)
	{
		/* the rest of the connection cannot be trusted: never read it */
		req->close = true;
		set_error(req, MHD_HTTP_BAD_REQUEST, framing);
		return;
	}
	if (strcmp(url, ROUTE_EVENT_PATH) == 0)
	{
		const char *clen;

		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		{
			req->allow = "POST";
			set_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "method not allowed; use POST");
			return;
		}
		if (!authorized(req->conn))
		{
			set_error(req, MHD_HTTP_UNAUTHORIZED,
					  "missing or invalid Authorization token");
			return;
		}
		clen = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
										   MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen != NULL)
		{
			unsigned long long size = strtoull(clen, NULL, 10);

			if (size > (unsigned long long) evproc_max_body_size)
			{
				set_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
						  "request body is larger than evproc.max_body_size");
				return;
			}
			/* the announced size is counted from now on */
			if (!reserve_body(req, (size_t) size))
			{
				set_busy(req);
				return;
			}
			req->fixed = true;
		}
		req->route = ROUTE_EVENT;
	}
	else if (strncmp(url, ROUTE_USER_PREFIX, strlen(ROUTE_USER_PREFIX)) == 0)
	{
		const char *err;

		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
			strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		{
			req->allow = "GET, HEAD";
			set_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "method not allowed; use GET");
			return;
		}
		if (!authorized(req->conn))
		{
			set_error(req, MHD_HTTP_UNAUTHORIZED,
					  "missing or invalid Authorization token");
			return;
		}
		err = ev_decode_user_id(url + strlen(ROUTE_USER_PREFIX),
								req->user_id, &req->user_id_len);
		if (err != NULL)
		{
			set_error(req, MHD_HTTP_BAD_REQUEST, err);
			return;
		}
		req->route = ROUTE_USER;
	}
	else
		set_error(req, MHD_HTTP_NOT_FOUND, "not found");
}

/*
 * receive_body collects upload data, up to evproc.max_body_size, in a
 * buffer counted in body_memory: of the announced size (reserved when the
 * request was routed), or growing for a chunked body.  Once the reply is
 * decided during the upload (a chunked body past evproc.max_body_size,
 * 413, or past evproc.max_body_memory, 503), the rest is read and dropped
 * so that the reply can be sent when it ends (libmicrohttpd cannot reply
 * in the middle of an upload); past four times the size limit we stop
 * reading and close the connection.  Returns false to close it.
 */
static bool
receive_body(HttpRequest *req, const char *data, size_t size)
{
	if (req->status != 0)
	{
		req->len += size;
		return req->len <= 4 * (size_t) evproc_max_body_size;
	}
	if (req->len + size > (size_t) evproc_max_body_size)
	{
		free_body(req);
		req->len += size;
		set_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
				  "request body is larger than evproc.max_body_size");
		return true;
	}
	if (req->len + size > req->cap)
	{
		size_t		newcap;
		char	   *body;

		if (req->fixed && req->len + size <= req->held)
			newcap = req->held;
		else
		{
			newcap = req->cap ? req->cap : 1024;
			while (newcap < req->len + size)
				newcap *= 2;
			if (newcap > (size_t) evproc_max_body_size)
				newcap = (size_t) evproc_max_body_size;
			if (newcap > req->held && !reserve_body(req, newcap - req->held))
			{
				free_body(req);
				req->len += size;
				set_busy(req);
				return true;
			}
		}
		body = realloc(req->body, newcap);
		if (body == NULL)
		{
			free_body(req);
			req->len += size;
			set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
			return true;
		}
		req->body = body;
		req->cap = newcap;
	}
	memcpy(req->body + req->len, data, size);
	req->len += size;
	return true;
}

/*
 * media_type_is: does a Content-Type value name the media type type
 * (case-insensitive), alone or with parameters ("; charset=utf-8")?
 */
static bool
media_type_is(const char *value, const char *type)
{
	size_t		len = strlen(type);

	if (strncasecmp(value, type, len) != 0)
		return false;
	value += len;
	while (*value == ' ' || *value == '\t')
		value++;
	return *value == '\0' || *value == ';';
}

/* is_ndjson: does the request declare a body of one event per line? */
static bool
is_ndjson(struct MHD_Connection *conn)
{
	const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
												   MHD_HTTP_HEADER_CONTENT_TYPE);

	return type != NULL &&
		(media_type_is(type, "application/x-ndjson") ||
		 media_type_is(type, "application/jsonl"));
}

static int
compare_event_ids(const void *a, const void *b)
{
	const EvEvent *ea = *(EvEvent *const *) a;
	const EvEvent *eb = *(EvEvent *const *) b;
	int			c = strcmp(ea->event_id, eb->event_id);

	/* among equal ids, the earliest event comes first and is kept */
	return c != 0 ? c : (ea < eb ? -1 : ea > eb);
}

/*
 * mark_duplicates finds events that repeat an eventId of an earlier event
 * of the same batch: they are acknowledged but not journaled again.
 * Returns how many there are (skip[i] set for each), or -1 out of memory.
 */
static long
mark_duplicates(EvEvent *events, size_t n, bool *skip)
{
	EvEvent   **with_id = malloc(n * sizeof(EvEvent *));
	size_t		m = 0;
	long		dups = 0;

	if (with_id == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
	{
		skip[i] = false;
		if (events[i].event_id_len > 0)
			with_id[m++] = &events[i];
	}
	qsort(with_id, m, sizeof(EvEvent *), compare_event_ids);
	for (size_t i = 1; i < m; i++)
	{
		if (strcmp(with_id[i]->event_id, with_id[i - 1]->event_id) == 0)
		{
			skip[with_id[i] - events] = true;
			dups++;
		}
	}
	free(with_id);
	return dups;
}

static void
set_bad_batch(HttpRequest *req, const char *message, long index)
{
	char		error[EV_ERROR_BUFSZ * 7];
	char		body[EV_ERROR_BUFSZ * 7 + 32];
	size_t		len = ev_json_error(message, error, sizeof(error));

	if (index < 0 || len < 2)
	{
		set_reply(req, MHD_HTTP_BAD_REQUEST, error, len);
		return;
	}
	/* {"error": "...", "index": N} */
	len = (size_t) snprintf(body, sizeof(body), "%.*s, \"index\": %ld}",
							(int) len - 1, error, index);
	set_reply(req, MHD_HTTP_BAD_REQUEST, body, len);
}

/*
 * accept_events validates a POSTed event or batch (all or nothing) and
 * appends its journal lines to the group-commit batch; the request then
 * waits in pending_posts until that batch is durable.  An event whose
 * eventId was journaled recently, or is already in this batch (from this
 * request or an earlier one of the same pass), is a duplicate: counted in
 * the reply, not journaled again.
 */
static void
accept_events(HttpRequest *req)
{
	EvEvent    *events;
	size_t		n;
	bool		is_batch;
	long		bad_index;
	long		dups = 0;
	bool	   *skip = NULL;
	char		err[EV_ERROR_BUFSZ];
	char		line[EV_LINE_MAX];
	char		stamp[EV_TIMESTAMP_BUFSZ];
	char		addr[EV_ADDR_BUFSZ];
	struct timespec now;
	size_t		mark = journal->len;
	bool		any_id = false;
	time_t		now_s = time(NULL);

	if (!ev_parse_batch(parser, req->body, req->len, is_ndjson(req->conn),
						(size_t) evproc_max_batch_events, &events, &n,
						&is_batch, &bad_index, err, sizeof(err)))
	{
		set_bad_batch(req, err, bad_index);
		return;
	}
	for (size_t i = 0; i < n && !any_id; i++)
		any_id = events[i].event_id_len > 0;
	if (any_id)
	{
		/* repeats within the request, and of ids known to the cache */
		skip = malloc(n * sizeof(bool));
		dups = skip ? mark_duplicates(events, n, skip) : -1;
		if (dups < 0)
			goto oom;
		for (size_t i = 0; i < n; i++)
		{
			if (!skip[i] && events[i].event_id_len > 0 &&
				idcache_contains(&recent_ids, events[i].event_id, now_s,
								 evproc_dedupe_retention))
			{
				skip[i] = true;
				dups++;
			}
		}
	}

	clock_gettime(CLOCK_REALTIME, &now);
	ev_format_timestamp(&now, stamp);
	client_address(req->conn, addr);
	for (size_t i = 0; i < n; i++)
	{
		size_t		len;

		if (skip != NULL && skip[i])
			continue;
		len = ev_format_journal_line(&events[i], stamp, addr, line, sizeof(line));
		if (len == 0 || journal_append(journal, line, len) != 0)
			goto oom;
	}
	if (!queue_push(&pending_posts, req))
		goto oom;
	req->in_queue = true;

	/*
	 * Only now that nothing can fail: the ids are pending until the batch is
	 * durable (http_complete_posts), so that a later request of this pass
	 * sees them.
	 */
	for (size_t i = 0; skip != NULL && i < n; i++)
		if (!skip[i] && events[i].event_id_len > 0)
			idcache_add_pending(&recent_ids, events[i].event_id);
	req->accepted = (long) n;
	req->duplicates = any_id ? dups : -1;
	free(events);
	free(skip);
	return;

oom:
	/* take back what this request added to the batch */
	journal->len = mark;
	free(events);
	free(skip);
	set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
}

static void track_request(HttpRequest *req);
static void track_busy(HttpRequest *req);
static void untrack_request(HttpRequest *req);

/*
 * handle_request is libmicrohttpd's access handler: the first call has the
 * headers, the next ones the body, and the calls after that, once the
 * whole request is in, want the reply.
 *
 * The first of those calls hands the request to the worker (the journal
 * batch, or the lookups) and returns without a reply and WITHOUT
 * suspending the connection: libmicrohttpd then parks it (its "block"
 * state) and calls again on each MHD_run, which the worker does right after
 * the flush, so the reply usually goes out in the same pass.  A request
 * still unanswered at such a later call is suspended then.  Suspending in
 * the first call would keep libmicrohttpd's "read" state on the
 * connection, and on resume it would read first: a client that had
 * half-closed its side after the request (HTTP/1.0, nc -N) then reads as
 * end of file, and libmicrohttpd closes the connection without the reply,
 * although the events were journaled.
 */
static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *conn, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **req_cls)
{
	HttpRequest *req = *req_cls;

	if (req == NULL)
	{
		req = calloc(1, sizeof(HttpRequest));
		if (req == NULL)
			return MHD_NO;
		req->conn = conn;
		*req_cls = req;
		track_request(req);
		route_request(req, url, method);
		/* reject early: no need to read the body of a refused request */
		if (req->status != 0)
		{
			track_busy(req);
			return send_reply(req);
		}
		return MHD_YES;
	}

	if (*upload_data_size > 0)
	{
		bool		keep = receive_body(req, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return keep ? MHD_YES : MHD_NO;
	}

	/* the whole request is in */
	track_busy(req);
	if (!req->queued && req->status == 0)
	{
		req->queued = true;
		if (refuse_new)
			set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "server is shutting down");
		else if (req->route == ROUTE_EVENT)
		{
			accept_events(req);
			free_body(req);		/* parsed: no longer needed */
		}
		else if (req->route == ROUTE_USER)
		{
			if (queue_push(&pending_lookups, req))
				req->in_queue = true;
			else
				set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		}
		if (req->status == 0)
			return MHD_YES;		/* not suspended: see above */
	}
	if (req->status != 0)
		return send_reply(req);
	if (!req->suspended)
	{
		req->suspended = true;
		MHD_suspend_connection(conn);
	}
	return MHD_YES;
}

static void
free_request(HttpRequest *req)
{
	free_body(req);
	free(req->reply);
	free(req);
}

/*
 * request_completed frees a request, unless it is queued for the worker
 * (its connection closed before the answer): then it is orphaned, and the
 * queue frees it when the worker is done.
 */
static void
request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
				  enum MHD_RequestTerminationCode toe)
{
	HttpRequest *req = *req_cls;

	if (req == NULL)
		return;
	*req_cls = NULL;
	untrack_request(req);
	if (req->in_queue)
	{
		free_body(req);
		req->orphaned = true;
		req->conn = NULL;
		return;
	}
	free_request(req);
}

/* We decode paths ourselves (ev_decode_user_id), so MHD must not. */
static size_t
unescape_nothing(void *cls, struct MHD_Connection *conn, char *s)
{
	return strlen(s);
}

/* monotonic_ms: a monotonic clock in milliseconds. */
static int64
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
 * log_mhd logs libmicrohttpd's messages, at most LOG_BURST lines in
 * LOG_WINDOW_MS; the rest are counted and reported in one line when the
 * window ends (a flood of aborted connections would otherwise write one
 * line each).
 */
static void
log_mhd(void *cls, const char *fmt, va_list ap)
{
	char		msg[512];
	size_t		len;
	int64		now = monotonic_ms();

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
 * http_upkeep:
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
}

/* reply_queued: has libmicrohttpd a reply to send on this connection? */
static bool
reply_queued(ConnTrack *t)
{
	return MHD_get_connection_info(t->conn, MHD_CONNECTION_INFO_HTTP_STATUS) != NULL;
}

/*
 * notify_connection (MHD_OPTION_NOTIFY_CONNECTION) starts and ends the
 * tracking of a connection.  Without memory for it, a connection is simply
 * not tracked.
 */
static void
notify_connection(void *cls, struct MHD_Connection *conn,
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
		ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
		ev.data.ptr = t;
		if (epoll_ctl(watch_fd, EPOLL_CTL_ADD, t->fd, &ev) != 0)
		{
			free(t);
			return;
		}
		clock_start(t, monotonic_ms());
		*socket_context = t;
		if (++n_tracks > tracks_peak)
			tracks_peak = n_tracks;
	}
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && t != NULL)
	{
		/* before libmicrohttpd closes the socket: its number may be reused */
		(void) epoll_ctl(watch_fd, EPOLL_CTL_DEL, t->fd, NULL);
		clock_stop(t);
		eof_remove(t);
		if (t->req != NULL)
			t->req->track = NULL;
		free(t);
		*socket_context = NULL;
		n_tracks--;
	}
}

/* track_request links a new request (its headers are in) to its connection */
static void
track_request(HttpRequest *req)
{
	const union MHD_ConnectionInfo *info;
	ConnTrack  *t;

	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	t = info != NULL ? info->socket_context : NULL;
	if (t == NULL)
		return;
	req->track = t;
	t->req = req;
	t->busy = false;
	/* pipelined, so no new byte was seen: its clock starts now */
	if (t->idle)
		clock_start(t, monotonic_ms());
}

/* track_busy: req's request is in, or its reply decided: stop the clock */
static void
track_busy(HttpRequest *req)
{
	ConnTrack  *t = req->track;

	if (t == NULL)
		return;
	t->busy = true;
	clock_stop(t);
	eof_remove(t);
}

/*
 * untrack_request: the request is done; the connection waits for the
 * next one (or closes).  If the peer has closed, check it again.
 */
static void
untrack_request(HttpRequest *req)
{
	ConnTrack  *t = req->track;

	if (t == NULL)
		return;
	req->track = NULL;
	t->req = NULL;
	t->busy = false;
	t->idle = true;
	clock_stop(t);
	if (t->peer_closed)
		eof_add(t);
}

/*
 * drain_watch takes the socket events of watch_fd.  Bytes arriving on a
 * kept-alive connection start the clock of its next request.  Events
 * taken right after an MHD_run (after_run) may be of bytes that this run
 * has read already, even a whole request, answered in the same run: then
 * the clock starts only if bytes are still unread.  Before a run, bytes
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
				if (!t->busy)
					eof_add(t);
			}
			else if ((events[i].events & EPOLLIN) && t->idle && !t->busy &&
					 (!after_run ||
					  recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0))
				clock_start(t, now);	/* a next request begins */
		}
	} while (n == lengthof(events));
}

/*
 * check_eof cuts the connections whose peer has closed and that have
 * nothing left to read while their request is not in.
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
		else
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
 * upkeep_wait_ms: milliseconds until http_upkeep has something to do (the
 * next request deadline, a report at the end of its window), or -1.
 */
static long
upkeep_wait_ms(int64 now)
{
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
 * run_mhd runs libmicrohttpd runs times, with the connection upkeep that
 * goes with each run (see "Connection tracking").
 */
static void
run_mhd(int runs)
{
	drain_watch(false);
	for (int i = 0; i < runs; i++)
	{
		MHD_run(daemon_handle);
		drain_watch(true);
	}
	check_eof();
}

/*
 * http_upkeep: once a pass, the request deadlines, the memory give-back
 * and the rate-limited reports.
 */
static void
http_upkeep(void)
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
}

/*
 * connection_limit raises the soft limit on open files to the hard one, and
 * returns how many connections that leaves room for: evproc.max_connections
 * at most, and FD_RESERVE descriptors kept for everything else.
 */
static unsigned int
connection_limit(void)
{
	struct rlimit rl;
	rlim_t		soft;
	rlim_t		room;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return (unsigned int) evproc_max_connections;
	soft = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max)
	{
		struct rlimit raised = rl;

		raised.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			soft = rl.rlim_max;
	}
	if (soft == RLIM_INFINITY)
		return (unsigned int) evproc_max_connections;
	room = soft > 2 * FD_RESERVE ? soft - FD_RESERVE : Max(soft / 2, 1);
	if (room >= (rlim_t) evproc_max_connections)
		return (unsigned int) evproc_max_connections;
	ereport(LOG,
			(errmsg("evproc: serving at most %u HTTP connections, not evproc.max_connections = %d: the open file limit is %llu, of which %d are kept for the journal, ingest and the database",
					(unsigned int) room, evproc_max_connections,
					(unsigned long long) soft, FD_RESERVE),
			 errhint("Raise the open file limit of the server (LimitNOFILE= in its systemd unit, or ulimit -n) or lower evproc.max_connections.")));
	return (unsigned int) room;
}

/*
 * http_start starts the HTTP server on evproc.listen_address and
 * evproc.port, appending accepted events to the given journal.
 */
bool
http_start(Journal *j)
{
	struct sockaddr_storage addr;
	socklen_t	addrlen;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	const char *listen = evproc_listen_address;
	uint64		seed;

	journal = j;
	parser = ev_parser_create();
	if (!pg_strong_random(&seed, sizeof(seed)))
		seed = 0;				/* still correct, only predictable */
	if (parser == NULL || !idcache_init(&recent_ids, RECENT_IDS_CAPACITY, seed))
		return false;
	/* without it (out of memory), the reply is built for each request */
	accepted_one = MHD_create_response_from_buffer(sizeof(ACCEPTED_ONE) - 1,
												   (void *) ACCEPTED_ONE,
												   MHD_RESPMEM_PERSISTENT);
	if (accepted_one != NULL)
		MHD_add_response_header(accepted_one, MHD_HTTP_HEADER_CONTENT_TYPE,
								"application/json");

	memset(&addr, 0, sizeof(addr));
	if (strcmp(listen, "*") == 0)
	{
		struct sockaddr_in *sin = (struct sockaddr_in *) &addr;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16) evproc_port);
		addrlen = sizeof(*sin);
	}
	else if (strchr(listen, ':') != NULL)
	{
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16) evproc_port);
		if (inet_pton(AF_INET6, listen, &sin6->sin6_addr) != 1)
			goto bad_address;
		flags |= MHD_USE_IPv6;
		addrlen = sizeof(*sin6);
	}
	else
	{
		struct sockaddr_in *sin = (struct sockaddr_in *) &addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16) evproc_port);
		if (inet_pton(AF_INET, listen, &sin->sin_addr) != 1)
			goto bad_address;
		addrlen = sizeof(*sin);
	}
	(void) addrlen;

	watch_fd = epoll_create1(EPOLL_CLOEXEC);
	if (watch_fd < 0)
	{
		ereport(LOG,
				(errmsg("evproc: could not create an epoll set: %m")));
		return false;
	}

	daemon_handle = MHD_start_daemon(flags, (uint16) evproc_port,
									 NULL, NULL,
									 handle_request, NULL,
									 MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
									 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
									 MHD_OPTION_CONNECTION_LIMIT,
									 connection_limit(),
									 MHD_OPTION_CONNECTION_TIMEOUT,
									 (unsigned int) evproc_connection_timeout,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT,
									 (size_t) evproc_max_header_size,
									 MHD_OPTION_NOTIFY_COMPLETED,
									 request_completed, NULL,
									 MHD_OPTION_NOTIFY_CONNECTION,
									 notify_connection, NULL,
									 MHD_OPTION_UNESCAPE_CALLBACK,
									 unescape_nothing, NULL,

	/*
	 * Several workers share the port with SO_REUSEPORT.  Last, because
	 * with one worker the option list simply ends here: passing 0 would
	 * turn off SO_REUSEADDR too.
	 */
									 evproc_workers > 1 ?
									 MHD_OPTION_LISTENING_ADDRESS_REUSE :
									 MHD_OPTION_END,
									 (unsigned int) 1,
									 MHD_OPTION_END);
	if (daemon_handle == NULL)
		return false;

	/* the worker waits on watch_fd, which holds libmicrohttpd's epoll fd */
	{
		const union MHD_DaemonInfo *info;
		struct epoll_event ev;

		info = MHD_get_daemon_info(daemon_handle, MHD_DAEMON_INFO_EPOLL_FD);
		ev.events = EPOLLIN;
		ev.data.ptr = NULL;
		if (info == NULL ||
			epoll_ctl(watch_fd, EPOLL_CTL_ADD, info->epoll_fd, &ev) != 0)
		{
			ereport(LOG,
					(errmsg("evproc: could not watch the HTTP server's epoll set: %m")));
			return false;
		}
	}
	return true;

bad_address:
	ereport(LOG,
			(errmsg("evproc: invalid evproc.listen_address \"%s\"", listen)));
	return false;
}

/*
 * http_refuse_new makes every request that is complete from now on answered
 * with 503 at once instead of being suspended for the worker: at shutdown,
 * MHD_stop_daemon must not find a suspended connection (it aborts).
 */
void
http_refuse_new(void)
{
	refuse_new = true;
}

void
http_stop(void)
{
	if (daemon_handle != NULL)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	if (accepted_one != NULL)
		MHD_destroy_response(accepted_one);
	accepted_one = NULL;
	ev_parser_free(parser);
	parser = NULL;
	idcache_free(&recent_ids);
	if (watch_fd >= 0)
		close(watch_fd);
	watch_fd = -1;
}

/*
 * http_epoll_fd: the descriptor the worker waits on for HTTP work, an
 * epoll set holding libmicrohttpd's and the connection tracking's.
 */
int
http_epoll_fd(void)
{
	return watch_fd;
}

/* http_timeout_ms: how long the loop may wait before MHD needs to run. */
long
http_timeout_ms(void)
{
	MHD_UNSIGNED_LONG_LONG timeout;
	long		t = -1;
	long		upkeep;

	/* pending lookups are revenue.c's to time (revenue_timeout_ms) */
	if (pending_posts.n > 0 || to_resume.n > 0)
		return 0;
	if (MHD_get_timeout(daemon_handle, &timeout) == MHD_YES)
		t = timeout > (MHD_UNSIGNED_LONG_LONG) LONG_MAX ? LONG_MAX : (long) timeout;
	upkeep = upkeep_wait_ms(monotonic_ms());
	if (upkeep >= 0 && (t < 0 || upkeep < t))
		t = upkeep;
	return t;
}

void
http_run(void)
{
	run_mhd(1);
	http_upkeep();
}

int
http_pending_posts(void)
{
	return pending_posts.n;
}

/*
 * answer moves a request whose reply is decided from its pending queue to
 * to_resume; an orphaned one is freed instead.
 */
static void
answer(HttpRequest *req)
{
	if (req->orphaned)
	{
		free_request(req);
		return;
	}
	if (!queue_push(&to_resume, req))
	{
		/* cannot happen once to_resume has grown: resume at once */
		req->in_queue = false;
		if (req->suspended)
		{
			req->suspended = false;
			MHD_resume_connection(req->conn);
		}
	}
}

/*
 * http_complete_posts answers every request of the last group commit: 200
 * if the batch is durable in the journal, 503 if it is not (then none of it
 * was kept: see journal_flush).  Its eventIds become remembered ids, or are
 * forgotten with it.
 */
void
http_complete_posts(bool durable)
{
	if (durable)
		idcache_commit(&recent_ids, time(NULL), evproc_dedupe_retention);
	else
		idcache_abort(&recent_ids);

	for (int i = 0; i < pending_posts.n; i++)
	{
		HttpRequest *req = pending_posts.items[i];

		if (durable)
		{
			char		body[64];
			int			len;

			if (req->accepted == 1 && req->duplicates < 0 &&
				accepted_one != NULL)
			{
				req->canned = accepted_one;
				req->status = MHD_HTTP_OK;
			}
			else
			{
				if (req->duplicates >= 0)
					len = snprintf(body, sizeof(body),
								   "{\"accepted\": %ld, \"duplicates\": %ld}",
								   req->accepted, req->duplicates);
				else
					len = snprintf(body, sizeof(body), "{\"accepted\": %ld}",
								   req->accepted);
				set_reply(req, MHD_HTTP_OK, body, (size_t) len);
			}
		}
		else
			set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					  "could not write the event journal; no event was accepted");
		answer(req);
	}
	pending_posts.n = 0;
}

int
http_pending_lookups(void)
{
	return pending_lookups.n;
}

const char *
http_lookup_user(int i)
{
	return pending_lookups.items[i]->user_id;
}

/*
 * http_complete_lookup answers lookup i: the revenue as a numeric literal,
 * or NULL for an unknown user (404).
 */
void
http_complete_lookup(int i, const char *revenue)
{
	HttpRequest *req = pending_lookups.items[i];
	char		user[EV_USER_ID_MAX * 6 + 3];
	char	   *body;
	size_t		len;

	if (revenue == NULL)
	{
		set_error(req, MHD_HTTP_NOT_FOUND, "user not found");
		return;
	}
	ev_json_quote(req->user_id, req->user_id_len, user, sizeof(user));
	len = strlen(user) + strlen(revenue) + 32;
	body = malloc(len);
	if (body == NULL)
	{
		set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return;
	}
	len = (size_t) snprintf(body, len, "{\"userId\": %s, \"revenue\": %s}\n",
							user, revenue);
	free(req->reply);
	req->reply = body;
	req->reply_len = len;
	req->status = MHD_HTTP_OK;
}

/* http_fail_lookups answers every lookup not yet answered with an error. */
void
http_fail_lookups(int status, const char *message)
{
	for (int i = 0; i < pending_lookups.n; i++)
		if (pending_lookups.items[i]->status == 0)
			set_error(pending_lookups.items[i], (unsigned int) status, message);
}

/*
 * http_resume_all resumes every request that has its reply (if it was
 * suspended) and runs MHD again at once, so that the replies go out in
 * this pass; lookups without an answer yet stay queued.  Returns whether
 * anything was answered.
 */
bool
http_resume_all(void)
{
	bool		any = false;
	int			kept = 0;

	for (int i = 0; i < pending_lookups.n; i++)
	{
		HttpRequest *req = pending_lookups.items[i];

		if (req->status == 0 && !req->orphaned)
			pending_lookups.items[kept++] = req;	/* still waiting */
		else
			answer(req);
	}
	pending_lookups.n = kept;

	for (int i = 0; i < to_resume.n; i++)
	{
		HttpRequest *req = to_resume.items[i];

		req->in_queue = false;
		if (req->orphaned)
			free_request(req);
		else if (req->suspended)
		{
			req->suspended = false;
			MHD_resume_connection(req->conn);
		}
		any = true;
	}
	to_resume.n = 0;

	/*
	 * The first run gives each its reply (handle_request), the second
	 * writes it.
	 */
	if (any)
		run_mhd(2);
	return any;
}
