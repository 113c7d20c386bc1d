/*-------------------------------------------------------------------------
 *
 * http_top.h
 *	  GET /topUsers: its arguments, its question to the worker, its reply
 *	  (its row of http_lookup.c's kinds).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_TOP_H
#define EVPROC_HTTP_TOP_H

#include "postgres.h"

#include "ingest/lookup.h"

struct HttpRequest;

extern void http_top_parse(struct HttpRequest *req, const char *url);
extern void http_top_fill(const struct HttpRequest *req, void *item);
extern void http_top_render(struct HttpRequest *req, const void *item);

#endif							/* EVPROC_HTTP_TOP_H */
