/*-------------------------------------------------------------------------
 *
 * http_events.c
 *	  The body of POST /liveEvent: an event, a JSON array or NDJSON of
 *	  them, parsed and validated all or nothing, each given its type, and
 *	  handed to intake with the request as the one to answer.  A body
 *	  with Content-Encoding gzip or deflate is inflated as it comes in
 *	  (http_inflate.c), within evproc.max_body_size once inflated.
 *
 * Runs inside libmicrohttpd's callbacks: malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/http_inflate.h"
#include "http/http_client.h"
#include "http/http_conn.h"
#include "http/http_events.h"
#include "http/http_ratelimit.h"
#include "ingest/intake.h"
#include "shared/pressure.h"
#include "shared/settings.h"
#include "shared/types.h"

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

/* the Content-Encoding headers of a request: how many, and the first */
typedef struct CodingHeaders
{
	int			count;
	const char *value;
} CodingHeaders;

static enum MHD_Result
find_coding(void *cls, enum MHD_ValueKind kind, const char *key,
			const char *value)
{
	CodingHeaders *ch = cls;

	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_ENCODING) == 0 &&
		ch->count++ == 0)
		ch->value = value;
	return MHD_YES;
}

/*
 * http_events_coding reads the Content-Encoding of a POST: none or
 * "identity" leave the body as it comes; gzip and deflate get it an
 * inflater, its memory counted as body memory; anything else (br, a list
 * of codings, two headers) is refused: 415 with Accept-Encoding, as RFC
 * 9110 15.5.16 says.  Returns false if the reply is decided.
 */
bool
http_events_coding(HttpRequest *req)
{
	CodingHeaders ch = {0};
	BodyCoding	coding;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, find_coding, &ch);
	if (ch.count == 0)
		return true;
	coding = ch.count > 1 ? CODING_UNSUPPORTED : body_coding_parse(ch.value);
	if (coding == CODING_IDENTITY)
		return true;
	if (coding == CODING_UNSUPPORTED)
	{
		char		msg[160];

		snprintf(msg, sizeof(msg),
				 "Content-Encoding \"%.64s\" is not supported; use gzip, deflate or none",
				 ch.count > 1 ? "(more than one header)" : ch.value);
		request_set_error(req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, msg);
		req->accept_encoding = "gzip, deflate";
		return false;
	}
	if (!conn_reserve_body(&req->inflate_held, INFLATER_MEMORY))
	{
		request_set_busy(req);
		return false;
	}
	req->inflate = body_inflater_create(coding, (size_t) evproc_max_body_size);
	if (req->inflate == NULL)
	{
		request_free_inflater(req);
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return false;
	}
	return true;
}

/*
 * refuse_inflated decides the reply to a compressed body the inflater
 * refused (r), frees the body and the inflater: 413 past
 * evproc.max_body_size, 400 if not valid, 503 out of memory; for
 * INFLATE_STOPPED the reply is decided already.
 */
static void
refuse_inflated(HttpRequest *req, InflateResult r)
{
	char		msg[256];

	snprintf(msg, sizeof(msg), "%s", body_inflater_error(req->inflate));
	request_free_body(req);
	request_free_inflater(req);
	if (r == INFLATE_TOO_LARGE)
	{
		strlcat(msg, " (evproc.max_body_size)", sizeof(msg));
		request_set_error(req, MHD_HTTP_CONTENT_TOO_LARGE, msg);
	}
	else if (r == INFLATE_BAD)
		request_set_error(req, MHD_HTTP_BAD_REQUEST, msg);
	else if (r == INFLATE_NO_MEMORY)
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
}

/* inflated is the inflater's sink: the body grows (or its reply is decided) */
static bool
inflated(void *arg, const char *data, size_t len)
{
	HttpRequest *req = arg;

	request_append_body(req, data, len);
	return req->status == 0;
}

/*
 * http_events_inflate inflates the next piece of a compressed body into
 * the body; if it is refused, the reply is decided.
 */
void
http_events_inflate(HttpRequest *req, const char *data, size_t size)
{
	InflateResult r = body_inflater_feed(req->inflate, data, size, inflated,
										 req);

	if (r != INFLATE_OK)
		refuse_inflated(req, r);
}

static void
set_bad_batch(HttpRequest *req, const char *message, long index)
{
	char		error[EV_ERROR_BUFSZ * 7];
	char		body[EV_ERROR_BUFSZ * 7 + 32];
	size_t		len = ev_json_error(message, error, sizeof(error));

	if (index < 0 || len < 2)
	{
		request_set_reply(req, MHD_HTTP_BAD_REQUEST, error, len);
		return;
	}
	/* {"error": "...", "index": N} */
	len = (size_t) snprintf(body, sizeof(body), "%.*s, \"index\": %ld}",
							(int) len - 1, error, index);
	request_set_reply(req, MHD_HTTP_BAD_REQUEST, body, len);
}

/*
 * http_events_accept validates a POSTed event or batch (all or nothing), gives
 * each event the type its name has (see types.c), and hands the events to
 * intake, with the request as the one to answer
 * (http_answer_post) once they are durable.
 */
void
http_events_accept(HttpRequest *req, EvParser *parser)
{
	EvEvent    *events;
	size_t		n;
	bool		is_batch;
	long		bad_index;
	char		err[EV_ERROR_BUFSZ];
	char		addr[EV_ADDR_BUFSZ];
	InflateResult r;
	const char *refusal;
	int			retry_after = 0;

	/* a compressed body must have ended where its data ends */
	if (req->inflate != NULL)
	{
		if ((r = body_inflater_finish(req->inflate)) != INFLATE_OK)
		{
			refuse_inflated(req, r);
			return;
		}
		request_free_inflater(req);
	}
	if (!ev_parse_batch(parser, req->body, req->len, is_ndjson(req->conn),
						(size_t) evproc_max_batch_events, &events, &n,
						&is_batch, &bad_index, err, sizeof(err)))
	{
		set_bad_batch(req, err, bad_index);
		return;
	}
	/* each event counts under the type its name has now */
	for (size_t i = 0; i < n; i++)
	{
		if (types_resolve(types_current(), &events[i], err, sizeof(err)) != NULL)
		{
			char		msg[EV_ERROR_BUFSZ + 32];

			if (is_batch)
				snprintf(msg, sizeof(msg), "event %zu: %s", i, err);
			else
				snprintf(msg, sizeof(msg), "%s", err);
			set_bad_batch(req, msg, is_batch ? (long) i : -1);
			free(events);
			return;
		}
	}
	/*
	 * back-pressure again, now that the body is in: what other requests
	 * journaled since this one was let in counts, so that the backlog
	 * never passes evproc.max_backlog by more than one batch
	 */
	if ((refusal = pressure_refusal(&retry_after)) != NULL)
	{
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, refusal);
		req->retry_after = retry_after;
		free(events);
		return;
	}
	/* over a rate limit: refused whole, before anything is journaled */
	if (!http_ratelimit_request_take(req, (uint32) n))
	{
		free(events);
		return;
	}
	client_address(req->conn, addr);
	if (intake_accept(events, n, addr, req))
		req->in_queue = true;
	else
	{
		http_ratelimit_refund(req);
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	free(events);
}
