/*-------------------------------------------------------------------------
 *
 * http_lookup.c
 *	  GET /userEvents/:userId: its queue for the worker (which answers it
 *	  with the revenue lookups, lookup.c), and its reply.
 *
 * Everything here runs in the worker's loop or inside libmicrohttpd's
 * callbacks: malloc, never PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/validate.h"
#include "http/http_lookup.h"
#include "http/http_request.h"
#include "http/http_top.h"

#include <stdlib.h>

static RequestQueue pending_lookups;	/* GETs waiting for the worker */
static RevenueLookup *lookups = NULL;	/* their user ids, for the worker */
static int	lookups_cap = 0;

/* http_lookup_queue hands a lookup to the worker (or decides a 503). */
void
http_lookup_queue(HttpRequest *req)
{
	request_hand_over(&pending_lookups, req);
}

/*
 * http_lookups gives the lookups waiting for the worker (n of them), their
 * user ids filled in, for http_answer_lookups.  NULL if none, or out of
 * memory (then they are answered 503).
 */
RevenueLookup *
http_lookups(int *n)
{
	*n = 0;
	if (pending_lookups.n == 0)
		return NULL;
	if (pending_lookups.n > lookups_cap)
	{
		RevenueLookup *grown = realloc(lookups, pending_lookups.cap *
									   sizeof(RevenueLookup));

		if (grown == NULL)
		{
			http_answer_lookups(LOOKUP_FAILED, "out of memory");
			return NULL;
		}
		lookups = grown;
		lookups_cap = pending_lookups.cap;
	}
	for (int i = 0; i < pending_lookups.n; i++)
	{
		lookups[i].user_id = pending_lookups.items[i]->user_id;
		lookups[i].revenue = NULL;
		lookups[i].metrics = NULL;
	}
	*n = pending_lookups.n;
	return lookups;
}

/*
 * set_revenue answers a lookup: 200 with the user's revenue and metrics,
 * or 404.
 */
static void
set_revenue(HttpRequest *req, const char *revenue, const char *metrics)
{
	char		user[EV_USER_ID_MAX * 6 + 3];
	char	   *body;
	size_t		len;

	if (revenue == NULL)
	{
		request_set_error(req, MHD_HTTP_NOT_FOUND, "user not found");
		return;
	}
	ev_json_quote(req->user_id, req->user_id_len, user, sizeof(user));
	len = strlen(user) + strlen(revenue) + strlen(metrics) + 48;
	body = malloc(len);
	if (body == NULL)
	{
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return;
	}
	len = (size_t) snprintf(body, len,
							"{\"userId\": %s, \"revenue\": %s, \"metrics\": %s}",
							user, revenue, metrics);
	request_set_reply(req, MHD_HTTP_OK, body, len);
	free(body);
}

/*
 * http_answer_lookups answers the lookups http_lookups gave: with their
 * values (LOOKUP_ANSWERED), 503 with error (LOOKUP_FAILED), or not yet
 * (LOOKUP_WAITING: they stay queued).  Orphaned ones are dropped.
 */
void
http_answer_lookups(LookupOutcome outcome, const char *error)
{
	int			kept = 0;

	for (int i = 0; i < pending_lookups.n; i++)
	{
		HttpRequest *req = pending_lookups.items[i];

		if (outcome == LOOKUP_ANSWERED && !req->orphaned)
			set_revenue(req, lookups[i].revenue, lookups[i].metrics);
		else if (outcome == LOOKUP_FAILED && !req->orphaned)
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, error);
		if (req->status == 0 && !req->orphaned)
			pending_lookups.items[kept++] = req;	/* still waiting */
		else
			request_answer(req);
	}
	pending_lookups.n = kept;
}

/* http_lookups_waiting: how many lookups and top lists wait for the worker. */
int
http_lookups_waiting(void)
{
	return pending_lookups.n + http_tops_waiting();
}

/* http_lookup_stop frees the queue (the requests are libmicrohttpd's). */
void
http_lookup_stop(void)
{
	free(pending_lookups.items);
	free(lookups);
	memset(&pending_lookups, 0, sizeof(pending_lookups));
	lookups = NULL;
	lookups_cap = 0;
}
