/*-------------------------------------------------------------------------
 *
 * http_cors.h
 *	  Requests from browser pages of other origins: which are refused,
 *	  which are let in (evproc.allowed_origins), and OPTIONS (http_cors.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_CORS_H
#define EVPROC_HTTP_CORS_H

#include "http/http_request.h"

extern bool cors_admit(HttpRequest *req, const char *method,
					   const char *allow);
extern bool cors_method_known(const char *method);

#endif							/* EVPROC_HTTP_CORS_H */
