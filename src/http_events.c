/*-------------------------------------------------------------------------
 *
 * http_events.c
 *	  The body of POST /liveEvent: an event, a JSON array or NDJSON of
 *	  them, parsed and validated all or nothing, each given its type, and
 *	  handed to intake with the request as the one to answer.
 *
 * Runs inside libmicrohttpd's callbacks: malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "http_conn.h"
#include "http_events.h"
#include "http_ratelimit.h"
#include "intake.h"
#include "settings.h"
#include "types.h"

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
	/* over a rate limit: refused whole, before anything is journaled */
	if (!http_ratelimit_client_take(req, (uint32) n))
	{
		free(events);
		return;
	}
	conn_client_address(req->conn, addr);
	if (intake_accept(events, n, addr, req))
		req->in_queue = true;
	else
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	free(events);
}
