/*-------------------------------------------------------------------------
 *
 * strbuf.c
 *	  Growable byte buffers and allocation helpers of evproc-client.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static void
out_of_memory(void)
{
	fputs("evproc-client: out of memory\n", stderr);
	exit(1);
}

void *
cl_malloc(size_t size)
{
	void	   *p = malloc(size > 0 ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

void *
cl_realloc(void *ptr, size_t size)
{
	void	   *p = realloc(ptr, size > 0 ? size : 1);

	if (p == NULL)
		out_of_memory();
	return p;
}

char *
cl_strdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *p = cl_malloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

void
sb_init(StrBuf *sb)
{
	sb->data = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void
sb_free(StrBuf *sb)
{
	free(sb->data);
	sb_init(sb);
}

/* sb_reset empties the buffer but keeps its memory */
void
sb_reset(StrBuf *sb)
{
	sb->len = 0;
	if (sb->data != NULL)
		sb->data[0] = '\0';
}

/* sb_reserve makes room for extra more bytes (plus the NUL) */
void
sb_reserve(StrBuf *sb, size_t extra)
{
	size_t		need;
	size_t		newcap;

	if (extra > (size_t) -1 / 2 - sb->len)
		out_of_memory();
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return;
	newcap = sb->cap > 0 ? sb->cap : 64;
	while (newcap < need)
		newcap *= 2;
	sb->data = cl_realloc(sb->data, newcap);
	sb->cap = newcap;
}

void
sb_append(StrBuf *sb, const void *data, size_t len)
{
	sb_reserve(sb, len);
	if (len > 0)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void
sb_append_str(StrBuf *sb, const char *s)
{
	sb_append(sb, s, strlen(s));
}

void
sb_append_char(StrBuf *sb, char c)
{
	sb_append(sb, &c, 1);
}

void
sb_printf(StrBuf *sb, const char *fmt,...)
{
	va_list		ap;
	int			n;

	sb_reserve(sb, 64);
	va_start(ap, fmt);
	n = vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n >= sb->cap - sb->len)
	{
		sb_reserve(sb, (size_t) n);
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t) n;
}
