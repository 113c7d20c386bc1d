/*-------------------------------------------------------------------------
 *
 * http_top.h
 *	  GET /topUsers: its arguments, its queue for the worker, its reply.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_TOP_H
#define EVPROC_HTTP_TOP_H

#include "postgres.h"

#include "ingest/lookup.h"

struct HttpRequest;

/* in libmicrohttpd's callbacks */
extern void http_top_parse(struct HttpRequest *req);
extern void http_top_queue(struct HttpRequest *req);
extern void http_top_stop(void);

/* answering what the worker did */
extern TopLookup *http_tops(int *n);
extern int	http_tops_waiting(void);
extern void http_answer_tops(LookupOutcome outcome, const char *error);

#endif							/* EVPROC_HTTP_TOP_H */
