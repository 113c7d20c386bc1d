/*-------------------------------------------------------------------------
 *
 * http_stream.h
 *	  The HTTP side of a live-update stream request.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_STREAM_H
#define EVPROC_HTTP_STREAM_H

#include "http/http_request.h"

extern enum MHD_Result http_stream_open(HttpRequest *req);

#endif							/* EVPROC_HTTP_STREAM_H */
