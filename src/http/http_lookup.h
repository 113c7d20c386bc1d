/*-------------------------------------------------------------------------
 *
 * http_lookup.h
 *	  The requests that wait for the worker's lookups: their kinds, their
 *	  queue, their replies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_LOOKUP_H
#define EVPROC_HTTP_LOOKUP_H

#include "postgres.h"

#include "ingest/lookup.h"

struct HttpRequest;

/* The kinds of request answered by the worker's lookups (http_lookup.c). */
typedef enum HttpLookupKind
{
	LK_NONE = 0,				/* not answered by a lookup */
	LK_USER,					/* GET /userEvents/:userId */
	LK_TOP,						/* GET /topUsers */
	LK_NKINDS
} HttpLookupKind;

/* in libmicrohttpd's callbacks */
extern void http_lookup_parse(struct HttpRequest *req, HttpLookupKind kind,
							  const char *url);
extern void http_lookup_queue(struct HttpRequest *req, HttpLookupKind kind);
extern void http_lookup_stop(void);

/* answering what the worker did */
extern LookupWork *http_lookup_work(int *nwork);
extern int	http_lookups_waiting(void);
extern void http_answer_lookups(LookupOutcome outcome, const char *error);

#endif							/* EVPROC_HTTP_LOOKUP_H */
