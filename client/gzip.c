/*-------------------------------------------------------------------------
 *
 * gzip.c
 *	  Request bodies compressed with gzip (RFC 1952, zlib), sent by "send"
 *	  with Content-Encoding: gzip unless --no-compress.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>
#include <zlib.h>

#include "gzip.h"

/*
 * gzip_body replaces out's contents with data (len bytes) compressed as
 * one gzip member, at zlib's fastest level: NDJSON events shrink several
 * times even so, and a batch of 1,000 takes well under a millisecond.
 * False if zlib fails (out of memory).
 */
bool
gzip_body(const char *data, size_t len, StrBuf *out)
{
	z_stream	zs;
	bool		ok;

	memset(&zs, 0, sizeof(zs));
	/* 16 + 15: a gzip header and trailer around a 32 kB window */
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8,
					 Z_DEFAULT_STRATEGY) != Z_OK)
		return false;
	sb_reset(out);
	sb_reserve(out, deflateBound(&zs, (uLong) len));
	zs.next_in = (unsigned char *) data;
	zs.avail_in = (uInt) len;
	zs.next_out = (unsigned char *) out->data;
	zs.avail_out = (uInt) (out->cap - 1);
	ok = deflate(&zs, Z_FINISH) == Z_STREAM_END;
	out->len = ok ? zs.total_out : 0;
	out->data[out->len] = '\0';
	deflateEnd(&zs);
	return ok;
}
