/*-------------------------------------------------------------------------
 *
 * urlenc.h
 *	  URLs of evproc-client: percent-encoding of user ids, endpoint URLs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_URLENC_H
#define EVPROC_CLIENT_URLENC_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

extern void url_encode_segment(const char *s, size_t len, StrBuf *out);
extern bool url_encode_list(const char *list, StrBuf *out);
extern char *url_endpoint(const char *base, const char *path);
extern bool url_base_valid(const char *base);

#endif							/* EVPROC_CLIENT_URLENC_H */
