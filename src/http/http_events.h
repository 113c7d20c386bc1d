/*-------------------------------------------------------------------------
 *
 * http_events.h
 *	  The body of POST /liveEvent, compressed or not.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_EVENTS_H
#define EVPROC_HTTP_EVENTS_H

#include "core/event.h"
#include "http/http_request.h"

extern bool http_events_coding(HttpRequest *req);
extern void http_events_inflate(HttpRequest *req, const char *data,
								size_t size);
extern void http_events_accept(HttpRequest *req, EvParser *parser);

#endif							/* EVPROC_HTTP_EVENTS_H */
