/*-------------------------------------------------------------------------
 *
 * http_ratelimit.h
 *	  Rate limits of POST /liveEvent, in events per second: per client
 *	  address (evproc.rate_limit_per_client) and per token; of reads, in
 *	  requests per second per client address
 *	  (evproc.read_rate_limit_per_client).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_RATELIMIT_H
#define EVPROC_HTTP_RATELIMIT_H

#include "postgres.h"

#include "http/http_request.h"

/* before the body is read: refused if not even one event would fit now */
extern bool http_ratelimit_open(HttpRequest *req, RateKind kind,
								const char *key, double rate);
/* once the body is parsed: take n events, or refuse the request whole */
extern bool http_ratelimit_take(HttpRequest *req, RateKind kind,
								const char *key, double rate, uint32 n);

/* both for the limits of req: its client's address and its token */
extern bool http_ratelimit_request_open(HttpRequest *req);
extern bool http_ratelimit_request_take(HttpRequest *req, uint32 n);

/* a read (GET /userEvents/:id, /topUsers, a stream's opening) */
extern bool http_ratelimit_read(HttpRequest *req);

extern void http_ratelimit_refund(HttpRequest *req);
extern void http_ratelimit_stop(void);

#endif							/* EVPROC_HTTP_RATELIMIT_H */
