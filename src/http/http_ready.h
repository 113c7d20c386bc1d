/*-------------------------------------------------------------------------
 *
 * http_ready.h
 *	  The server's readiness and role as HTTP says them: GET /ready
 *	  (?role=) and the refusal of writes on a hot standby (http_ready.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_READY_H
#define EVPROC_HTTP_READY_H

#include "http/http_request.h"

extern void http_ready_reply(HttpRequest *req);
extern bool http_refuse_on_standby(HttpRequest *req);

#endif							/* EVPROC_HTTP_READY_H */
