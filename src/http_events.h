/*-------------------------------------------------------------------------
 *
 * http_events.h
 *	  The body of POST /liveEvent.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_EVENTS_H
#define EVPROC_HTTP_EVENTS_H

#include "event.h"
#include "http_request.h"

extern void http_events_accept(HttpRequest *req, EvParser *parser);

#endif							/* EVPROC_HTTP_EVENTS_H */
