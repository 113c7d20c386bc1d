/*-------------------------------------------------------------------------
 *
 * http_top.c
 *	  GET /topUsers?limit=N&metric=M: the users with the largest values of
 *	  a metric (revenue by default), largest first, ties by userId.  Its
 *	  arguments, its queue for the worker (which answers it with the
 *	  revenue lookups, lookup.c), and its reply.
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

static RequestQueue pending_tops;	/* GET /topUsers waiting for the worker */
static TopLookup *tops = NULL;	/* their arguments, for the worker */
static int	tops_cap = 0;

/* argument: a query argument's value, or NULL */
static const char *
argument(HttpRequest *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/*
 * http_top_parse reads the arguments of GET /topUsers: limit (1 to 100,
 * default 10) and metric (default revenue), or decides a 400.
 */
void
http_top_parse(HttpRequest *req)
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

/* http_top_queue hands a top list to the worker (or decides a 503). */
void
http_top_queue(HttpRequest *req)
{
	request_hand_over(&pending_tops, req);
}

/*
 * http_tops gives the top lists waiting for the worker (n of them), their
 * arguments filled in, for http_answer_tops.  NULL if none, or out of
 * memory (then they are answered 503).
 */
TopLookup *
http_tops(int *n)
{
	*n = 0;
	if (pending_tops.n == 0)
		return NULL;
	if (pending_tops.n > tops_cap)
	{
		TopLookup  *grown = realloc(tops, pending_tops.cap * sizeof(TopLookup));

		if (grown == NULL)
		{
			http_answer_tops(LOOKUP_FAILED, "out of memory");
			return NULL;
		}
		tops = grown;
		tops_cap = pending_tops.cap;
	}
	for (int i = 0; i < pending_tops.n; i++)
	{
		tops[i].metric = pending_tops.items[i]->metric;
		tops[i].limit = pending_tops.items[i]->limit;
		tops[i].users = NULL;
	}
	*n = pending_tops.n;
	return tops;
}

/* set_top answers a top list: 200 with the metric and its users. */
static void
set_top(HttpRequest *req, const char *users)
{
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

/*
 * http_answer_tops answers the top lists http_tops gave: with their users
 * (LOOKUP_ANSWERED), 503 with error (LOOKUP_FAILED), or not yet
 * (LOOKUP_WAITING: they stay queued).  Orphaned ones are dropped.
 */
void
http_answer_tops(LookupOutcome outcome, const char *error)
{
	int			kept = 0;

	for (int i = 0; i < pending_tops.n; i++)
	{
		HttpRequest *req = pending_tops.items[i];

		if (outcome == LOOKUP_ANSWERED && !req->orphaned)
			set_top(req, tops[i].users != NULL ? tops[i].users : "[]");
		else if (outcome == LOOKUP_FAILED && !req->orphaned)
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, error);
		if (req->status == 0 && !req->orphaned)
			pending_tops.items[kept++] = req;	/* still waiting */
		else
			request_answer(req);
	}
	pending_tops.n = kept;
}

/* http_tops_waiting: how many top lists wait for the worker. */
int
http_tops_waiting(void)
{
	return pending_tops.n;
}

/* http_top_stop frees the queue (the requests are libmicrohttpd's). */
void
http_top_stop(void)
{
	free(pending_tops.items);
	free(tops);
	memset(&pending_tops, 0, sizeof(pending_tops));
	tops = NULL;
	tops_cap = 0;
}
