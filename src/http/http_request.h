/*-------------------------------------------------------------------------
 *
 * http_request.h
 *	  One HTTP request's state, from its first callback to its reply, and
 *	  the replies waiting to be sent.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_REQUEST_H
#define EVPROC_HTTP_REQUEST_H

#include "postgres.h"

#include <microhttpd.h>

#include "core/event.h"
#include "core/http_inflate.h"
#include "core/prom.h"
#include "core/ratelimit.h"
#include "http/http_conn.h"
#include "shared/auth.h"

/* a route: a row of http.c's table (its path, methods, scope, handlers) */
struct HttpRoute;

/* the rate limits a request may be under (http_ratelimit.c) */
typedef enum RateKind
{
	RATE_CLIENT,				/* evproc.rate_limit_per_client */
	RATE_TOKEN,					/* its token's rate_limit */
	RATE_READ,					/* evproc.read_rate_limit_per_client */
	RATE_NKINDS
} RateKind;

/*
 * Per-request state; lives from the first callback to request_completed,
 * or, if its connection closes while the request is queued for the worker,
 * until the worker is done with it (orphaned).
 */
typedef struct HttpRequest
{
	const struct HttpRoute *route;	/* its row of http.c's routes, or NULL */
	struct MHD_Connection *conn;	/* NULL once orphaned */
	ConnTrack  *track;		/* its connection's tracking, or NULL */
	bool		suspended;
	bool		queued;			/* handed to the worker (or answered) */
	bool		in_queue;		/* waiting in intake, pending_lookups or
								 * to_resume */
	bool		orphaned;		/* its connection closed while in_queue */
	int			lookup;			/* its HttpLookupKind (http_lookup.h) once
								 * in pending_lookups */

	/* request body (POST) */
	char	   *body;
	size_t		len;			/* bytes received, inflated if compressed
								 * (kept or dropped) */
	size_t		cap;
	size_t		held;			/* bytes counted as body memory */
	bool		fixed;			/* held is the announced Content-Length */
	BodyInflater *inflate;		/* a compressed body's inflater, or NULL */
	size_t		inflate_held;	/* its memory, counted as body memory */

	/* GET target */
	char		user_id[EV_USER_ID_MAX + 1];
	size_t		user_id_len;
	bool		all_users;		/* GET /stream */
	char		metric[EV_NAME_MAX + 1];	/* GET /topUsers */
	int			limit;

	/* the reply, once decided */
	unsigned int status;		/* 0 while undecided */
	struct MHD_Response *canned;	/* a prebuilt reply, or NULL */
	char	   *reply;
	size_t		reply_len;		/* the body's length (reply's or canned's) */
	const char *allow;			/* Allow header for 405 */
	const char *accept_encoding;	/* Accept-Encoding header for 415 */
	bool		close;			/* send "Connection: close" */
	bool		keep_alive;		/* the client keeps the connection open */
	bool		whole;			/* the whole request is in */
	bool		draining;		/* reply decided before the body: the body
								 * is read and dropped, then it is sent */
	const char *cors_origin;	/* an allowed cross-origin request's Origin,
								 * to echo (http_cors.c); else NULL */
	bool		preflight;		/* a CORS preflight (OPTIONS) */
	int			retry_after;	/* a 503 to retry: Retry-After seconds */
	const char *content_type;	/* of the reply; NULL: application/json */
	PromRoute	prom_route;		/* its route's Prometheus label */
	AuthGrant	auth;			/* who sent it (auth.c), once admitted */
	int64		started_us;		/* when its headers were in (monotonic) */

	/* rate limits (http_ratelimit.c) */
	RateCharge	rate_taken[RATE_NKINDS];	/* events taken, by RateKind */
	bool		rate_headers;	/* a limit applies: send RateLimit-* */
	uint32		rate_limit;		/* their values */
	uint32		rate_remaining;
	uint32		rate_reset;
} HttpRequest;

/* Requests waiting for the worker, or for their reply to go out. */
typedef struct RequestQueue
{
	HttpRequest **items;
	int			n;
	int			cap;
} RequestQueue;

extern bool request_queue_push(RequestQueue *q, HttpRequest *req);
extern void request_hand_over(RequestQueue *q, HttpRequest *req);
extern void request_set_reply(HttpRequest *req, unsigned int status,
							  const char *body, size_t len);
extern void request_set_error(HttpRequest *req, unsigned int status,
							  const char *message);
extern void request_set_busy(HttpRequest *req);
extern bool request_can_drain(HttpRequest *req);
extern bool request_keeps_alive(struct MHD_Connection *conn,
								const char *version);
extern enum MHD_Result request_send_reply(HttpRequest *req);
extern void request_append_body(HttpRequest *req, const char *data,
								size_t size);
extern void request_free_body(HttpRequest *req);
extern void request_free_inflater(HttpRequest *req);
extern void request_free(HttpRequest *req);
extern void request_answer(HttpRequest *req);
extern bool request_resume_answered(void);
extern bool request_answers_waiting(void);

#endif							/* EVPROC_HTTP_REQUEST_H */
