/*-------------------------------------------------------------------------
 *
 * http_request.c
 *	  One HTTP request's state, from its first callback to its reply: the
 *	  reply decided for it, its body's memory, and the replies waiting for
 *	  their connection to be resumed.
 *
 * Everything here runs in the worker's loop or inside libmicrohttpd's
 * callbacks: malloc, never PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "http/http_request.h"
#include "http/tls_reply.h"
#include "shared/settings.h"

#include <errno.h>
#include <strings.h>

/* requests whose reply is decided, to resume (request_resume_answered) */
static RequestQueue to_resume;

bool
request_queue_push(RequestQueue *q, HttpRequest *req)
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
 * request_hand_over queues req on q, a queue the worker answers in its
 * pass (http_lookup.c's, every kind of lookup), or decides a 503 if out of
 * memory.
 */
void
request_hand_over(RequestQueue *q, HttpRequest *req)
{
	if (request_queue_push(q, req))
		req->in_queue = true;
	else
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
}

/*
 * request_set_reply decides a request's reply; it is queued by the next
 * callback.  The body gets a final newline, so that curl's output ends its
 * line.
 */
void
request_set_reply(HttpRequest *req, unsigned int status, const char *body,
				  size_t len)
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

void
request_set_error(HttpRequest *req, unsigned int status, const char *message)
{
	char		body[EV_ERROR_BUFSZ * 7];
	size_t		len = ev_json_error(message, body, sizeof(body));

	request_set_reply(req, status, body, len);
}

/*
 * request_append_body adds upload data (or what it inflated to) to the
 * body, up to evproc.max_body_size, in a buffer counted in body memory: of
 * the announced size (reserved when the request was routed), or growing
 * (a chunked or compressed body).  Past evproc.max_body_size (413), past
 * evproc.max_body_memory (503) or out of memory (503), the body is freed
 * and the reply decided; len keeps counting what came.
 */
void
request_append_body(HttpRequest *req, const char *data, size_t size)
{
	if (req->len + size > (size_t) evproc_max_body_size)
	{
		request_free_body(req);
		req->len += size;
		request_set_error(req, MHD_HTTP_CONTENT_TOO_LARGE,
				  "request body is larger than evproc.max_body_size");
		return;
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
			if (newcap > req->held && !conn_reserve_body(&req->held, newcap - req->held))
			{
				request_free_body(req);
				req->len += size;
				request_set_busy(req);
				return;
			}
		}
		body = realloc(req->body, newcap);
		if (body == NULL)
		{
			request_free_body(req);
			req->len += size;
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
			return;
		}
		req->body = body;
		req->cap = newcap;
	}
	memcpy(req->body + req->len, data, size);
	req->len += size;
}

/* request_free_body frees req's body buffer and its count; len stays. */
void
request_free_body(HttpRequest *req)
{
	free(req->body);
	req->body = NULL;
	req->cap = 0;
	conn_release_body(&req->held);
}

/* request_free_inflater frees req's inflater, if any, and its count. */
void
request_free_inflater(HttpRequest *req)
{
	body_inflater_free(req->inflate);
	req->inflate = NULL;
	conn_release_body(&req->inflate_held);
}

/* request_set_busy answers 503 with Retry-After: body memory is taken up. */
void
request_set_busy(HttpRequest *req)
{
	request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE,
			  "too many request bodies are being received; retry later");
	req->retry_after = 1;
}

/*
 * A body worth reading and dropping rather than closing the connection
 * over, when the reply is decided before it is read (request_can_drain).
 */
#define DRAIN_MAX_BYTES		(64 * 1024)

/*
 * request_can_drain: can a request whose reply is decided as soon as its
 * headers are in (an error, or /health) keep its connection?  libmicrohttpd
 * closes the connection after a reply queued in the first callback, since
 * the body is not read then (it sets "discard_request"); so, instead, the
 * reply waits for the end of the request, and what body there is, is read
 * and dropped (receive_body).  That is worth it for a body announced with
 * a Content-Length of at most DRAIN_MAX_BYTES; not for a larger or chunked
 * one (of a size not known), nor when the client waits for "100 Continue"
 * before sending it (an early reply saves the upload), nor after a
 * framing error (the rest of the connection cannot be trusted).
 */
bool
request_can_drain(HttpRequest *req)
{
	const char *clen;
	char	   *end;
	unsigned long long size;

	if (req->close ||
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
									MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL ||
		MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
									MHD_HTTP_HEADER_EXPECT) != NULL)
		return false;
	clen = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
									   MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen == NULL)
		return true;
	errno = 0;
	size = strtoull(clen, &end, 10);
	return errno == 0 && end != clen && *end == '\0' &&
		size <= DRAIN_MAX_BYTES;
}

/*
 * add_cors_headers: the headers of a reply to an allowed cross-origin
 * request (http_cors.c decided it is one): its origin, and for a
 * preflight what the route takes; for others the headers of ours that its
 * script may read besides the CORS-safelisted ones.
 */
static void
add_cors_headers(struct MHD_Response *response, const HttpRequest *req)
{
	MHD_add_response_header(response, "Access-Control-Allow-Origin",
							req->cors_origin);
	MHD_add_response_header(response, MHD_HTTP_HEADER_VARY, "Origin");
	if (req->preflight)
	{
		MHD_add_response_header(response, "Access-Control-Allow-Methods",
								req->allow != NULL ? req->allow : "GET");
		MHD_add_response_header(response, "Access-Control-Allow-Headers",
								"Authorization, Content-Type, Content-Encoding, Last-Event-ID");
		MHD_add_response_header(response, "Access-Control-Max-Age", "600");
	}
	else
		MHD_add_response_header(response, "Access-Control-Expose-Headers",
								"Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset");
}

/*
 * add_rate_headers: RateLimit-Limit, -Remaining and -Reset (the IETF
 * httpapi RateLimit header fields draft, as separate fields) of the limit
 * closest to being reached.
 */
static void
add_rate_headers(struct MHD_Response *response, const HttpRequest *req)
{
	char		value[16];

	snprintf(value, sizeof(value), "%u", req->rate_limit);
	MHD_add_response_header(response, "RateLimit-Limit", value);
	snprintf(value, sizeof(value), "%u", req->rate_remaining);
	MHD_add_response_header(response, "RateLimit-Remaining", value);
	snprintf(value, sizeof(value), "%u", req->rate_reset);
	MHD_add_response_header(response, "RateLimit-Reset", value);
}

/*
 * request_keeps_alive: does the client of this request (HTTP version) keep
 * its connection open after the reply?  HTTP/1.1 without "Connection:
 * close"; said conservatively (only no Connection header, or exactly
 * "keep-alive"), as it decides whether a reply may wait to be flushed
 * (conn_cork_reply), which needs the connection to stay open.
 */
bool
request_keeps_alive(struct MHD_Connection *conn, const char *version)
{
	const char *connection;

	if (version == NULL || strcmp(version, MHD_HTTP_VERSION_1_1) != 0)
		return false;
	connection = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
											 MHD_HTTP_HEADER_CONNECTION);
	return connection == NULL || strcasecmp(connection, "keep-alive") == 0;
}

enum MHD_Result
request_send_reply(HttpRequest *req)
{
	struct MHD_Response *response;
	enum MHD_Result ret;

	prom_request(req->prom_route, req->status,
					(double) (monotonic_us() - req->started_us) / 1e6);

	/*
	 * A reply to a whole request, on a connection that stays open, goes
	 * out as one TLS record if it fits in one (see tls_reply.c).
	 */
	if (req->whole && req->keep_alive && !req->close &&
		req->reply_len <= TLS_REPLY_MAX_BODY)
		conn_cork_reply(req->track);
	if (req->canned != NULL)
		return MHD_queue_response(req->conn, req->status, req->canned);

	response = MHD_create_response_from_buffer(req->reply_len, req->reply,
											   MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	if (req->status != MHD_HTTP_NO_CONTENT)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
								req->content_type != NULL ? req->content_type :
								"application/json");
	if (req->allow != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, req->allow);
	if (req->accept_encoding != NULL)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ACCEPT_ENCODING,
								req->accept_encoding);
	if (req->close)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	if (req->status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
								"Bearer");
	if (req->retry_after > 0)
	{
		char		seconds[16];

		snprintf(seconds, sizeof(seconds), "%d", req->retry_after);
		MHD_add_response_header(response, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
	}
	if (req->rate_headers)
		add_rate_headers(response, req);
	if (req->cors_origin != NULL)
		add_cors_headers(response, req);
	ret = MHD_queue_response(req->conn, req->status, response);
	MHD_destroy_response(response);
	return ret;
}

void
request_free(HttpRequest *req)
{
	request_free_body(req);
	request_free_inflater(req);
	free(req->reply);
	free(req);
}

/*
 * request_answer moves a request whose reply is decided to to_resume, to
 * be resumed by request_resume_answered; an orphaned one (its connection
 * closed while it waited) is freed instead.
 */
void
request_answer(HttpRequest *req)
{
	if (req->orphaned)
	{
		request_free(req);
		return;
	}
	if (!request_queue_push(&to_resume, req))
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
 * request_resume_answered resumes the connections of the requests that
 * have their reply (or frees the orphaned ones).  Returns whether there
 * were any: then libmicrohttpd must run to send the replies.
 */
bool
request_resume_answered(void)
{
	bool		any = false;

	for (int i = 0; i < to_resume.n; i++)
	{
		HttpRequest *req = to_resume.items[i];

		req->in_queue = false;
		if (req->orphaned)
			request_free(req);
		else if (req->suspended)
		{
			req->suspended = false;
			MHD_resume_connection(req->conn);
		}
		any = true;
	}
	to_resume.n = 0;
	return any;
}

/* request_answers_waiting: are replies waiting to be resumed? */
bool
request_answers_waiting(void)
{
	return to_resume.n > 0;
}
