/*-------------------------------------------------------------------------
 *
 * http_lookup.c
 *	  The requests answered by the worker's lookups (lookup.c): the table
 *	  of their kinds, one queue for all of them, and the kind of GET
 *	  /userEvents/:userId (a user's values; GET /topUsers is http_top.c's).
 *
 * A kind's row says how a request of that kind is read (its arguments),
 * what it asks the worker (an item of the type its worker function
 * answers), that function and the table it reads (locked without waiting:
 * while it is not free, the lookups wait), and how the answer becomes the
 * reply.  Adding
 * a route answered from the database is a row of http.c's routes (with
 * setup_lookup, run_lookup and its kind), a row here, and its functions.
 *
 * Everything here runs in the worker's loop or inside libmicrohttpd's
 * callbacks: malloc, never PostgreSQL calls (the worker functions of the
 * table run in the worker, called by lookup_serve).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/validate.h"
#include "http/http_lookup.h"
#include "http/http_request.h"
#include "http/http_top.h"

#include <stdlib.h>

/* A kind of request answered by a lookup. */
typedef struct LookupKind
{
	size_t		item_size;		/* what it asks the worker: its item type */
	/* its arguments into req (or a 400); NULL: none */
	void		(*parse) (HttpRequest *req, const char *url);
	/* its item's question, the answer unset */
	void		(*fill) (const HttpRequest *req, void *item);
	LookupServeFn serve;		/* the worker function answering the items */
	const char *table;			/* the table of evproc it reads */
	/* its reply, from its item's answer */
	void		(*render) (HttpRequest *req, const void *item);
} LookupKind;

static void user_parse(HttpRequest *req, const char *url);
static void user_fill(const HttpRequest *req, void *item);
static void user_render(HttpRequest *req, const void *item);

/* The kinds, one row each (LK_NONE is none). */
static const LookupKind kinds[LK_NKINDS] = {
	[LK_USER] = {sizeof(RevenueLookup), user_parse, user_fill, lookup_users,
	"user_metrics", user_render},
	[LK_TOP] = {sizeof(TopLookup), http_top_parse, http_top_fill, lookup_tops,
	"user_metrics", http_top_render},
};

static RequestQueue pending_lookups;	/* requests waiting for the worker */
static int	handed = 0;			/* how many of them (the first ones) the
								 * worker was given */

/* Per kind: its items for the worker, in the order of the queue. */
static char *items[LK_NKINDS];
static int	items_cap[LK_NKINDS];
static LookupWork work[LK_NKINDS];

/* http_lookup_parse reads the arguments of a request of a kind. */
void
http_lookup_parse(HttpRequest *req, HttpLookupKind kind, const char *url)
{
	if (kinds[kind].parse != NULL)
		kinds[kind].parse(req, url);
}

/* http_lookup_queue hands a request to the worker (or decides a 503). */
void
http_lookup_queue(HttpRequest *req, HttpLookupKind kind)
{
	req->lookup = kind;
	request_hand_over(&pending_lookups, req);
}

/*
 * http_lookup_work gives the items of the requests waiting for the worker,
 * grouped by kind, for lookup_serve and then http_answer_lookups: nwork
 * kinds, in the order of the table.  NULL if none wait, or out of memory
 * (then they are answered 503).
 */
LookupWork *
http_lookup_work(int *nwork)
{
	handed = 0;
	*nwork = 0;
	if (pending_lookups.n == 0)
		return NULL;
	for (int k = LK_NONE + 1; k < LK_NKINDS; k++)
	{
		if (items_cap[k] < pending_lookups.n)
		{
			char	   *grown = realloc(items[k], pending_lookups.cap *
										kinds[k].item_size);

			if (grown == NULL)
			{
				http_answer_lookups(LOOKUP_FAILED, "out of memory");
				return NULL;
			}
			items[k] = grown;
			items_cap[k] = pending_lookups.cap;
		}
		work[k].serve = kinds[k].serve;
		work[k].table = kinds[k].table;
		work[k].items = items[k];
		work[k].n = 0;
	}
	for (int i = 0; i < pending_lookups.n; i++)
	{
		HttpRequest *req = pending_lookups.items[i];
		int			k = req->lookup;

		kinds[k].fill(req, items[k] + work[k].n++ * kinds[k].item_size);
	}
	handed = pending_lookups.n;
	*nwork = LK_NKINDS - (LK_NONE + 1);
	return &work[LK_NONE + 1];
}

/*
 * http_answer_lookups answers the requests http_lookup_work gave: with
 * their answers (LOOKUP_ANSWERED), 503 with error (LOOKUP_FAILED: all of
 * them), or not yet (LOOKUP_WAITING: they stay queued).  Orphaned ones are
 * dropped.
 */
void
http_answer_lookups(LookupOutcome outcome, const char *error)
{
	int			kept = 0;
	int			next[LK_NKINDS] = {0};

	for (int i = 0; i < pending_lookups.n; i++)
	{
		HttpRequest *req = pending_lookups.items[i];
		const LookupKind *kind = &kinds[req->lookup];
		const char *item = NULL;

		if (i < handed)
			item = items[req->lookup] + next[req->lookup]++ * kind->item_size;
		if (outcome == LOOKUP_ANSWERED && item != NULL && !req->orphaned)
			kind->render(req, item);
		else if (outcome == LOOKUP_FAILED && !req->orphaned)
			request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, error);
		if (req->status == 0 && !req->orphaned)
			pending_lookups.items[kept++] = req;	/* still waiting */
		else
			request_answer(req);
	}
	pending_lookups.n = kept;
	handed = 0;
}

/* http_lookups_waiting: how many requests wait for the worker's lookups. */
int
http_lookups_waiting(void)
{
	return pending_lookups.n;
}

/* http_lookup_stop frees the queue (the requests are libmicrohttpd's). */
void
http_lookup_stop(void)
{
	free(pending_lookups.items);
	memset(&pending_lookups, 0, sizeof(pending_lookups));
	handed = 0;
	for (int k = 0; k < LK_NKINDS; k++)
	{
		free(items[k]);
		items[k] = NULL;
		items_cap[k] = 0;
	}
}

/*
 * user_parse reads GET /userEvents/:userId's userId, decoded (a 400 if it is
 * not one).
 */
static void
user_parse(HttpRequest *req, const char *url)
{
	const char *err = ev_decode_user_id(url + strlen("/userEvents/"),
										req->user_id, &req->user_id_len);

	if (err != NULL)
		request_set_error(req, MHD_HTTP_BAD_REQUEST, err);
}

/* user_fill: the worker's question for a user's lookup (the userId) */
static void
user_fill(const HttpRequest *req, void *item)
{
	RevenueLookup *lookup = item;

	lookup->user_id = req->user_id;
	lookup->revenue = NULL;
	lookup->metrics = NULL;
}

/*
 * user_render answers a user's lookup: 200 with the user's revenue and
 * metrics, or 404.
 */
static void
user_render(HttpRequest *req, const void *item)
{
	const RevenueLookup *lookup = item;
	char		user[EV_USER_ID_MAX * 6 + 3];
	char	   *body;
	size_t		len;

	if (lookup->revenue == NULL)
	{
		request_set_error(req, MHD_HTTP_NOT_FOUND, "user not found");
		return;
	}
	ev_json_quote(req->user_id, req->user_id_len, user, sizeof(user));
	len = strlen(user) + strlen(lookup->revenue) + strlen(lookup->metrics) + 48;
	body = malloc(len);
	if (body == NULL)
	{
		request_set_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
		return;
	}
	len = (size_t) snprintf(body, len,
							"{\"userId\": %s, \"revenue\": %s, \"metrics\": %s}",
							user, lookup->revenue, lookup->metrics);
	request_set_reply(req, MHD_HTTP_OK, body, len);
	free(body);
}
