/*-------------------------------------------------------------------------
 *
 * dashboard.h
 *	  GET /dashboard: the operator's live page.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_DASHBOARD_H
#define EVPROC_DASHBOARD_H

#include "http/http_request.h"

extern void dashboard_reply(HttpRequest *req);
extern void dashboard_stop(void);

#endif							/* EVPROC_DASHBOARD_H */
