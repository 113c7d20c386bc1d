/*-------------------------------------------------------------------------
 *
 * reply.h
 *	  Reading the evproc server's JSON replies.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_REPLY_H
#define EVPROC_CLIENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

extern bool reply_accepted(const char *body, size_t len, int64_t *accepted,
						   int64_t *duplicates);
extern void reply_error_text(const char *body, size_t len, char *out,
							 size_t outlen);
extern bool reply_error_index(const char *body, size_t len, long *index);
extern const char *reply_strip_event_prefix(const char *error, long index);
extern bool reply_revenue(const char *body, size_t len, StrBuf *out);
extern bool reply_metrics(const char *body, size_t len, StrBuf *out);
extern bool json_member_raw(const char *s, size_t len, const char *key,
							size_t *voff, size_t *vlen);

#endif							/* EVPROC_CLIENT_REPLY_H */
