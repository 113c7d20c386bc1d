/*-------------------------------------------------------------------------
 *
 * http_lookup.h
 *	  GET /userEvents/:userId: its queue for the worker, its reply.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_LOOKUP_H
#define EVPROC_HTTP_LOOKUP_H

#include "postgres.h"

#include "ingest/lookup.h"

struct HttpRequest;

/* in libmicrohttpd's callbacks */
extern void http_lookup_queue(struct HttpRequest *req);
extern void http_lookup_stop(void);

/* answering what the worker did */
extern RevenueLookup *http_lookups(int *n);
extern int	http_lookups_waiting(void);
extern void http_answer_lookups(LookupOutcome outcome, const char *error);

#endif							/* EVPROC_HTTP_LOOKUP_H */
