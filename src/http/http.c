/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The HTTP server: a libmicrohttpd daemon in external-select mode,
 *	  driven by the worker's event loop.  It parses, routes, suspends and
 *	  replies; what a request needs from the journal or the database is
 *	  handed over (to intake, or to the worker's lookups) with the request
 *	  as the one to answer.
 *
 * The routes, their methods and the scope each needs: the table routes[].
 *
 * Requests that need the journal or the database wait for the worker,
 * which does that work after MHD_run returns and then has them answered
 * (a request still waiting on the next MHD_run is suspended: see
 * handle_request).  So nothing in this file's libmicrohttpd callbacks calls
 * into PostgreSQL (they use malloc, not palloc): an ereport(ERROR) can
 * never longjmp through libmicrohttpd's stack.
 *
 * A request's state and reply are http_request.c's, its connection's
 * upkeep (framing, deadlines, body memory, peers that closed) is
 * http_conn.c's, and the token check is auth.c's.  With a certificate
 * set, the daemon speaks TLS only, and tls.c owns the certificate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "http/dashboard.h"
#include "http/http.h"
#include "http/http_conn.h"
#include "http/http_cors.h"
#include "http/http_events.h"
#include "http/http_lookup.h"
#include "http/http_ratelimit.h"
#include "http/http_ready.h"
#include "http/http_request.h"
#include "http/http_stream.h"
#include "http/tls_reply.h"
#include "ingest/intake.h"
#include "shared/auth.h"
#include "shared/pressure.h"
#include "shared/settings.h"
#include "shared/tls.h"
/* after microhttpd.h (http_conn.h): its libmicrohttpd part */
#include "core/compat.h"

#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static struct MHD_Daemon *daemon_handle = NULL;
static EvParser *parser = NULL;
static bool refuse_new = false;	/* shutting down: suspend nothing more */

/* the reply to nearly every POST (one event, no eventId): built once */
#define ACCEPTED_ONE	"{\"accepted\": 1}\n"
static struct MHD_Response *accepted_one = NULL;

/*
 * A route's handlers: setup runs on the request's first callback, once it is
 * admitted, and sets the request up or decides its reply; run, once the
 * whole request is in and no reply is decided, hands it over (NULL: the
 * reply is always decided by setup).
 */
typedef struct HttpRoute HttpRoute;
typedef void (*RouteSetup) (HttpRequest *req, const HttpRoute *route,
							const char *url, const char *method);
typedef enum MHD_Result (*RouteRun) (HttpRequest *req);

struct HttpRoute
{
	const char *path;			/* exact, or with :userId (see route_match) */
	const char *allow;			/* "POST", "GET" or "GET, HEAD": the Allow */
	AuthNeed	need;			/* the scope it needs (auth.c) */
	bool		read_limit;		/* counted against the client's read limit */
	PromRoute	label;			/* its Prometheus label (prom.c) */
	RouteSetup	setup;
	RouteRun	run;
	HttpLookupKind lookup;		/* its kind, if a lookup answers it */
};

/*
 * admit checks where a request comes from (a browser page of another
 * origin: http_cors.c, which also answers OPTIONS), its method against
 * allow ("POST", "GET" or "GET, HEAD") and its Authorization against what
 * the route needs (auth.c; the outcome is kept in req->auth).  False, with
 * the reply decided (OPTIONS answered; 403 for another origin, 405 with
 * Allow, 401, 403, or 503 before the tokens are read), if it is refused.
 */
static bool
admit(HttpRequest *req, const char *method, const char *allow, AuthNeed need)
{
	bool		post = strcmp(allow, MHD_HTTP_METHOD_POST) == 0;

	if (!cors_admit(req, method, allow))
		return false;
	if (strcmp(method, post ? MHD_HTTP_METHOD_POST : MHD_HTTP_METHOD_GET) != 0 &&
		!(strstr(allow, MHD_HTTP_METHOD_HEAD) != NULL &&
		  strcmp(method, MHD_HTTP_METHOD_HEAD) == 0))
	{
		req->allow = allow;
		request_set_error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
						  post ? "method not allowed; use POST" :
						  "method not allowed; use GET");
		return false;
	}
	if (need == AUTH_PUBLIC)
		return true;			/* req->auth stays as it was */
	auth_check(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
										   MHD_HTTP_HEADER_AUTHORIZATION),
			   need, &req->auth);
	if (req->auth.result != AUTH_OK)
	{
		request_set_error(req, auth_status(req->auth.result),
						  auth_message(req->auth.result, need));
		req->retry_after = req->auth.result == AUTH_UNAVAILABLE ? 1 : 0;
		return false;
	}
	return true;
}

/* setup of GET /metrics: the text exposition, now */
static void
setup_metrics(HttpRequest *req, const HttpRoute *route, const char *url,
			  const char *method)
{
	char	   *text;
	size_t		len;

	if (!admit(req, method, route->allow, route->need))
		return;
	if ((text = prom_render(&len)) == NULL)
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	else
	{
		/* the body ends in a newline already; no JSON */
		request_set_reply(req, MHD_HTTP_OK, text, len - 1);
		req->content_type = "text/plain; version=0.0.4; charset=utf-8";
		free(text);
	}
}

/* setup of GET /health: we answer, so the loop is alive; that is all */
static void
setup_health(HttpRequest *req, const HttpRoute *route, const char *url,
			 const char *method)
{
	static const char ok[] = "{\"status\": \"ok\"}";

	if (admit(req, method, route->allow, route->need))
		request_set_reply(req, MHD_HTTP_OK, ok, sizeof(ok) - 1);
}

/* setup of GET /ready: 200 or 503, the role, and why (http_ready.c) */
static void
setup_ready(HttpRequest *req, const HttpRoute *route, const char *url,
			const char *method)
{
	if (admit(req, method, route->allow, route->need))
		http_ready_reply(req);
}

/*
 * setup of POST /liveEvent: the role (a standby refuses), back-pressure,
 * the rate limit, the Content-Encoding and the announced size, all before
 * the body is read.
 */
static void
setup_event(HttpRequest *req, const HttpRoute *route, const char *url,
			const char *method)
{
	const char *clen;
	const char *refusal;
	int			retry_after = 0;

	if (!admit(req, method, route->allow, route->need))
		return;
	if (http_refuse_on_standby(req))
		return;
	if ((refusal = pressure_refusal(&retry_after)) != NULL)
	{
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, refusal);
		req->retry_after = retry_after;
		return;
	}
	if (!http_ratelimit_request_open(req))
		return;
	/* Content-Encoding: gzip or deflate gets an inflater, others 415 */
	if (!http_events_coding(req))
		return;
	clen = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
									   MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen != NULL)
	{
		unsigned long long size = strtoull(clen, NULL, 10);

		if (size > (unsigned long long) evproc_max_body_size)
		{
			request_set_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
							  "request body is larger than evproc.max_body_size");
			return;
		}
		/*
		 * the announced size is counted from now on (a compressed body's,
		 * once inflated, is not known yet)
		 */
		if (req->inflate == NULL &&
			!conn_reserve_body(&req->held, (size_t) size))
		{
			request_set_busy(req);
			return;
		}
		req->fixed = req->inflate == NULL;
	}
}

/* run of POST /liveEvent: the events parsed, handed to intake */
static enum MHD_Result
run_event(HttpRequest *req)
{
	http_events_accept(req, parser);
	request_free_body(req);		/* parsed: no longer needed */
	return req->status == 0 ? MHD_YES : request_send_reply(req);
}

/*
 * setup of a route a lookup answers (GET /userEvents/:userId, /topUsers):
 * its arguments, as its kind reads them (http_lookup.c).
 */
static void
setup_lookup(HttpRequest *req, const HttpRoute *route, const char *url,
			 const char *method)
{
	if (admit(req, method, route->allow, route->need))
		http_lookup_parse(req, route->lookup, url);
}

/* run of a route a lookup answers: queued for the worker's lookups */
static enum MHD_Result
run_lookup(HttpRequest *req)
{
	http_lookup_queue(req, req->route->lookup);
	return req->status == 0 ? MHD_YES : request_send_reply(req);
}

/*
 * setup of GET /userEvents/:userId/stream.  It is admitted as a lookup of
 * that user first (the same scope; a 405 says "GET, HEAD", and until the
 * userId is decoded it is counted under the lookups' label), then as a
 * stream, which HEAD is not.
 */
static void
setup_user_stream(HttpRequest *req, const HttpRoute *route, const char *url,
				  const char *method)
{
	const char *rest = url + strlen("/userEvents/");
	char		segment[EV_USER_ID_MAX * 3 + 2];
	size_t		n = strlen(rest) - strlen("/stream");
	const char *err;

	req->prom_route = PR_LOOKUP;
	if (!admit(req, method, "GET, HEAD", route->need))
		return;
	/* longer than any encoded id: let the decoder say so */
	if (n >= sizeof(segment))
		err = ev_decode_user_id(rest, req->user_id, &req->user_id_len);
	else
	{
		memcpy(segment, rest, n);
		segment[n] = '\0';
		req->prom_route = route->label;
		err = ev_decode_user_id(segment, req->user_id, &req->user_id_len);
	}
	if (err != NULL)
		request_set_error(req, MHD_HTTP_BAD_REQUEST, err);
	else
		(void) admit(req, method, route->allow, AUTH_PUBLIC);
}

/* setup of GET /stream: every user's stream (or those of ?users=) */
static void
setup_stream(HttpRequest *req, const HttpRoute *route, const char *url,
			 const char *method)
{
	if (admit(req, method, route->allow, route->need))
		req->all_users = true;
}

/* setup of GET /dashboard: the same bytes for all (what it shows asks) */
static void
setup_dashboard(HttpRequest *req, const HttpRoute *route, const char *url,
				const char *method)
{
	if (admit(req, method, route->allow, route->need))
		dashboard_reply(req);
}

/*
 * The routes, one row each: its path, the methods it allows (as its Allow
 * header says them), the scope its token needs (AUTH_PUBLIC: none), whether
 * a valid request is counted against the client's read rate limit, its
 * Prometheus label (several routes share one: the labels are prom.h's
 * PromRoute), its handlers, and for a route a lookup answers, its kind.
 * The first row whose path matches is the route, so
 * /userEvents/:userId/stream comes before /userEvents/:userId.  Adding a
 * route is one row here plus its setup (and run, if the request waits for
 * something) above; for a route answered from the database, one row here
 * (setup_lookup, run_lookup) plus its kind's row in http_lookup.c.
 */
static const HttpRoute routes[] = {
	{"/metrics", "GET, HEAD", AUTH_READ, false, PR_METRICS, setup_metrics, NULL},
	{"/health", "GET, HEAD", AUTH_PUBLIC, false, PR_HEALTH, setup_health, NULL},
	{"/ready", "GET, HEAD", AUTH_PUBLIC, false, PR_HEALTH, setup_ready, NULL},
	{"/liveEvent", "POST", AUTH_WRITE, false, PR_EVENTS, setup_event, run_event},
	{"/userEvents/:userId/stream", "GET", AUTH_LOOKUP, true, PR_STREAM,
	setup_user_stream, http_stream_open},
	{"/userEvents/:userId", "GET, HEAD", AUTH_LOOKUP, true, PR_LOOKUP,
	setup_lookup, run_lookup, LK_USER},
	{"/topUsers", "GET, HEAD", AUTH_LOOKUP, true, PR_LOOKUP,
	setup_lookup, run_lookup, LK_TOP},
	{"/dashboard", "GET, HEAD", AUTH_PUBLIC, false, PR_OTHER, setup_dashboard, NULL},
	{"/stream", "GET", AUTH_READ, true, PR_STREAM, setup_stream, http_stream_open},
};

/*
 * route_match says whether url is route's path.  A path with :userId
 * matches any url that starts as it does: the userId is what follows, up to
 * the rest of the path (the part before the first "/" after that prefix:
 * "/userEvents/a/b" is a userId that the decoder refuses, a 400).
 */
static bool
route_match(const HttpRoute *route, const char *url)
{
	const char *param = strstr(route->path, ":userId");
	size_t		prefix;
	const char *slash;

	if (param == NULL)
		return strcmp(url, route->path) == 0;
	prefix = param - route->path;
	if (strncmp(url, route->path, prefix) != 0)
		return false;
	param += strlen(":userId");
	if (*param == '\0')
		return true;
	slash = strchr(url + prefix, '/');
	return slash != NULL && strcmp(slash, param) == 0;
}

/*
 * route_request runs on a request's first callback, once its headers are
 * in: it finds the route (req->route) and sets the request up, or decides
 * an error reply.
 */
static void
route_request(HttpRequest *req, const char *url, const char *method)
{
	const char *framing = conn_framing_error(req->conn);

	if (framing != NULL)
	{
		/* the rest of the connection cannot be trusted: never read it */
		req->close = true;
		request_set_error(req, MHD_HTTP_BAD_REQUEST, framing);
		return;
	}
	for (int i = 0; i < lengthof(routes); i++)
	{
		if (!route_match(&routes[i], url))
			continue;
		req->route = &routes[i];
		req->prom_route = routes[i].label;
		routes[i].setup(req, &routes[i], url, method);
		/* a valid read counts against the client's read limit */
		if (req->status == 0 && routes[i].read_limit)
			(void) http_ratelimit_read(req);
		return;
	}
	if (!cors_method_known(method))
		request_set_error(req, MHD_HTTP_NOT_IMPLEMENTED,
						  "method not implemented; evproc serves GET, HEAD, POST and OPTIONS");
	else
		request_set_error(req, MHD_HTTP_NOT_FOUND, "not found");
}

/*
 * receive_body takes upload data: appended to the body as it is
 * (request_append_body), or inflated into it (http_events_inflate).  Once
 * the reply is decided during the upload (a body past
 * evproc.max_body_size, 413, or past evproc.max_body_memory, 503, or a
 * compressed body that is not valid, 400), the rest is read and dropped so
 * that the reply can be sent when it ends (libmicrohttpd cannot reply in
 * the middle of an upload); past four times the size limit we stop reading
 * and close the connection.  Returns false to close it.
 */
static bool
receive_body(HttpRequest *req, const char *data, size_t size)
{
	if (req->status != 0)
	{
		/* a body drained (request_can_drain) may be over the size limit */
		req->len += size;
		return req->draining ||
			req->len <= 4 * (size_t) evproc_max_body_size;
	}
	if (req->inflate != NULL)
		http_events_inflate(req, data, size);
	else
		request_append_body(req, data, size);
	return true;
}

/*
 * handle_request is libmicrohttpd's access handler: the first call has the
 * headers, the next ones the body, and the calls after that, once the
 * whole request is in, want the reply.
 *
 * The first of those calls hands the request to the worker (the intake
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
		/* the last reply is not out yet: this one waits (see http_conn.c) */
		if (conn_hold_unflushed(conn))
			return MHD_YES;
		req = calloc(1, sizeof(HttpRequest));
		if (req == NULL)
			return MHD_NO;
		req->conn = conn;
		req->keep_alive = request_keeps_alive(conn, version);
		req->started_us = monotonic_us();
		req->prom_route = PR_OTHER;
		*req_cls = req;
		conn_track(conn, &req->track);
		if (conn_overflow(req->track))
		{
			/* beyond the connection limit (http_slots.c): refused at once */
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
							  "all connection slots are taken (evproc.max_connections); retry later");
			req->retry_after = 1;
			req->close = true;
		}
		else
			route_request(req, url, method);

		/*
		 * A reply decided now (a refusal, /health) is sent once the
		 * request is in, a small body read and dropped, so that the
		 * connection stays open; else at once, and libmicrohttpd closes
		 * the connection after it (see request_can_drain).
		 */
		if (req->status != 0 && !(req->draining = request_can_drain(req)))
		{
			conn_busy(req->track);
			return request_send_reply(req);
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
	req->whole = true;
	conn_busy(req->track);
	if (!req->queued && req->status == 0)
	{
		req->queued = true;
		if (refuse_new)
		{
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
							  "server is shutting down");
			req->retry_after = 5;
		}
		else if (req->route != NULL && req->route->run != NULL)
			return req->route->run(req);	/* not suspended: see above */
		if (req->status == 0)
			return MHD_YES;		/* not suspended: see above */
	}
	if (req->status != 0)
		return request_send_reply(req);
	if (!req->suspended)
	{
		req->suspended = true;
		MHD_suspend_connection(conn);
	}
	return MHD_YES;
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
	conn_untrack(&req->track);
	if (req->in_queue)
	{
		request_free_body(req);
		req->orphaned = true;
		req->conn = NULL;
		return;
	}
	request_free(req);
}

/* We decode paths ourselves (ev_decode_user_id), so MHD must not. */
static size_t
unescape_nothing(void *cls, struct MHD_Connection *conn, char *s)
{
	return strlen(s);
}

/*
 * http_start starts the HTTP server on evproc.listen_address and
 * evproc.port; accepted events go to intake.
 */
bool
http_start(void)
{
	struct sockaddr_storage addr;
	socklen_t	addrlen;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	const char *listen = evproc_listen_address;

	parser = ev_parser_create();
	if (parser == NULL)
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

	if (tls_start())
		flags |= MHD_USE_TLS;	/* HTTPS only: see tls.c */
	if (!conn_start())
		return false;

	daemon_handle = MHD_start_daemon(flags, (uint16) evproc_port,
									 NULL, NULL,
									 handle_request, NULL,
									 MHD_OPTION_EXTERNAL_LOGGER, conn_log, NULL,
									 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
									 MHD_OPTION_CONNECTION_LIMIT,
									 slots_start((flags & MHD_USE_TLS) != 0),
									 MHD_OPTION_CONNECTION_TIMEOUT,
									 (unsigned int) evproc_connection_timeout,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT,
									 (size_t) evproc_max_header_size,
									 MHD_OPTION_NOTIFY_COMPLETED,
									 request_completed, NULL,
									 MHD_OPTION_NOTIFY_CONNECTION,
									 conn_notify, NULL,
									 MHD_OPTION_UNESCAPE_CALLBACK,
									 unescape_nothing, NULL,

	/*
	 * how strictly libmicrohttpd reads requests: its default, said
	 * explicitly; why this level, compat.h
	 */
									 COMPAT_MHD_DISCIPLINE, (int) 0,
									 MHD_OPTION_ARRAY, tls_mhd_options(),

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
	/* the worker waits on conn_epoll_fd, which holds libmicrohttpd's */
	return conn_watch_daemon(daemon_handle);

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
	tls_reply_let_go_all();		/* it must find no connection suspended */
	if (daemon_handle != NULL)
		MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	if (accepted_one != NULL)
		MHD_destroy_response(accepted_one);
	accepted_one = NULL;
	ev_parser_free(parser);
	parser = NULL;
	tls_stop();
	http_lookup_stop();
	http_ratelimit_stop();
	dashboard_stop();
	conn_stop();
}

/* http_epoll_fd: the descriptor the worker waits on for HTTP work. */
int
http_epoll_fd(void)
{
	return conn_epoll_fd();
}

/* http_timeout_ms: how long the loop may wait before MHD needs to run. */
long
http_timeout_ms(void)
{
	/* pending lookups are lookup.c's to time, pending POSTs intake's */
	if (request_answers_waiting())
		return 0;
	return conn_timeout_ms(daemon_handle);
}

void
http_run(void)
{
	conn_run(daemon_handle, 1);
	conn_upkeep();
}

/*
 * http_answer_post answers a POST whose events intake has group-committed
 * (an IntakeAnswerFn; waiter is the request): 200 if they are durable, 503
 * if they are not (then none of them was kept).
 */
void
http_answer_post(void *waiter, const IntakeReceipt *receipt)
{
	HttpRequest *req = waiter;

	if (receipt->durable)
		prom_accepted(receipt->accepted, receipt->duplicates);
	if (!receipt->durable)
	{
		http_ratelimit_refund(req);
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
						  "could not write the event journal; no event was accepted");
	}
	else if (receipt->accepted == 1 && receipt->duplicates < 0 &&
			 accepted_one != NULL && !req->rate_headers &&
			 req->cors_origin == NULL)
	{
		req->canned = accepted_one;
		req->reply_len = sizeof(ACCEPTED_ONE) - 1;
		req->status = MHD_HTTP_OK;
	}
	else
	{
		char		body[64];
		int			len;

		if (receipt->duplicates >= 0)
			len = snprintf(body, sizeof(body),
						   "{\"accepted\": %ld, \"duplicates\": %ld}",
						   receipt->accepted, receipt->duplicates);
		else
			len = snprintf(body, sizeof(body), "{\"accepted\": %ld}",
						   receipt->accepted);
		request_set_reply(req, MHD_HTTP_OK, body, (size_t) len);
	}
	request_answer(req);
}

/* http_connections: the connections open now */
int
http_connections(void)
{
	return conn_count();
}

/* http_send_now runs libmicrohttpd, so that what streams got goes out. */
void
http_send_now(void)
{
	conn_run(daemon_handle, 2);
}

/*
 * http_resume_all resumes every request that has its reply (if it was
 * suspended) and runs MHD again at once, so that the replies go out in
 * this pass.  Returns whether anything was answered.
 */
bool
http_resume_all(void)
{
	bool		any = request_resume_answered();

	/*
	 * The first run gives each its reply (handle_request), the second
	 * writes it.
	 */
	if (any)
		conn_run(daemon_handle, 2);
	return any;
}
