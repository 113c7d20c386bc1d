/*-------------------------------------------------------------------------
 *
 * strbuf.h
 *	  Growable byte buffers and allocation helpers of evproc-client.
 *
 * A StrBuf always keeps its data NUL-terminated, so it can be used as a C
 * string when it holds no NUL bytes.  Allocation failures end the program
 * with "out of memory" (exit status 1): a command-line client has nothing
 * sensible left to do then.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_STRBUF_H
#define EVPROC_CLIENT_STRBUF_H

#include <stddef.h>

typedef struct StrBuf
{
	char	   *data;			/* NUL-terminated; NULL until first use */
	size_t		len;			/* bytes used, without the NUL */
	size_t		cap;			/* bytes allocated */
} StrBuf;

extern void *cl_malloc(size_t size);
extern void *cl_realloc(void *ptr, size_t size);
extern char *cl_strdup(const char *s);

extern void sb_init(StrBuf *sb);
extern void sb_free(StrBuf *sb);
extern void sb_reset(StrBuf *sb);
extern void sb_reserve(StrBuf *sb, size_t extra);
extern void sb_append(StrBuf *sb, const void *data, size_t len);
extern void sb_append_str(StrBuf *sb, const char *s);
extern void sb_append_char(StrBuf *sb, char c);
extern void sb_printf(StrBuf *sb, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

#endif							/* EVPROC_CLIENT_STRBUF_H */
