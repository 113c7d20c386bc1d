/*-------------------------------------------------------------------------
 *
 * http_top.c
 *	  GET /topUsers?limit=N&metric=M: the users with the largest values of
 *	  a metric (revenue by default), largest first, ties by userId.  Its
 *	  arguments, its question to the worker (its row of http_lookup.c's
 *	  kinds; lookup.c's lookup_tops answers it), and its reply.
 *
 * Everything here runs in the worker's loop or inside libmicrohttpd's
 * callbacks: malloc, never PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/validate.h"
#include "http/http_request.h"
#include "http/http_top.h"

#include <errno.h>
#include <stdlib.h>

#define TOP_DEFAULT_LIMIT	10

/* argument: a query argument's value, or NULL */
static const char *
argument(HttpRequest *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/*
 * http_top_parse reads the arguments of GET /topUsers: limit (1 to 100,
 * default 10) and metric (default revenue), or decides a 400.  They are
 * the query's: url is not needed.
 */
void
http_top_parse(HttpRequest *req, const char *url)
{
	const char *limit = argument(req, "limit");
	const char *metric = argument(req, "metric");
	const char *err;

	req->limit = TOP_DEFAULT_LIMIT;
	if (limit != NULL)
	{
		char	   *end;
		long		n;

		errno = 0;
		n = strtol(limit, &end, 10);
		if (limit[0] < '0' || limit[0] > '9' || *end != '\0' || errno != 0 ||
			n < 1 || n > TOP_MAX_LIMIT)
		{
			request_set_error(req, MHD_HTTP_BAD_REQUEST,
							  "limit must be an integer from 1 to " CppAsString2(TOP_MAX_LIMIT));
			return;
		}
		req->limit = (int) n;
	}
	if (metric == NULL)
		metric = EV_METRIC_REVENUE;
	if ((err = ev_check_metric(metric, strlen(metric))) != NULL)
	{
		request_set_error(req, MHD_HTTP_BAD_REQUEST, err);
		return;
	}
	strcpy(req->metric, metric);	/* checked: at most EV_NAME_MAX bytes */
}

/* http_top_fill: the worker's question for a top list (its arguments) */
void
http_top_fill(const HttpRequest *req, void *item)
{
	TopLookup  *top = item;

	top->metric = req->metric;
	top->limit = req->limit;
	top->users = NULL;
}

/*
 * http_top_render answers a top list: 200 with the metric and the users the
 * worker found.
 */
void
http_top_render(HttpRequest *req, const void *item)
{
	const TopLookup *top = item;
	const char *users = top->users != NULL ? top->users : "[]";
	size_t		len = strlen(req->metric) + strlen(users) + 32;
	char	   *body = malloc(len);

	if (body == NULL)
	{
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return;
	}
	/* a valid metric name needs no escaping */
	len = (size_t) snprintf(body, len, "{\"metric\": \"%s\", \"users\": %s}",
							req->metric, users);
	request_set_reply(req, MHD_HTTP_OK, body, len);
	free(body);
}
