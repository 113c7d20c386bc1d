/*-------------------------------------------------------------------------
 *
 * gzip.h
 *	  Request bodies compressed with gzip (zlib), for "send".
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_GZIP_H
#define EVPROC_CLIENT_GZIP_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

extern bool gzip_body(const char *data, size_t len, StrBuf *out);

#endif							/* EVPROC_CLIENT_GZIP_H */
