/*-------------------------------------------------------------------------
 *
 * fuzz_inflate.c
 *	  libFuzzer target for the streaming inflater of compressed request
 *	  bodies (http_inflate.c).
 *
 * The first input byte picks the coding, the limit and what the rest is:
 * the body itself, or data that zlib compresses first (as gzip, zlib or
 * raw deflate; then maybe truncated, or with one byte changed, so that
 * valid streams and their near misses are reached too).  The second byte
 * seeds the points where the body is split.  The body is inflated at once
 * and in pieces; both must give the same bytes and the same outcome and
 * message (split independence).  Besides not reading or writing out of
 * bounds (ASan, UBSan), the target checks that nothing past the limit
 * ever comes out, and that an untouched compressed stream inflates to
 * exactly its data when that fits the limit (and is refused as too large
 * when it does not).
 *
 *	  make fuzz-inflate FUZZ_SECONDS=60
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/http_inflate.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t limits[] = {0, 1, 100, 1000, 16383, 16384, 16385, 1 << 20};

typedef struct Out
{
	char	   *p;
	size_t		len;
	size_t		cap;
} Out;

static bool
sink(void *arg, const char *data, size_t len)
{
	Out		   *o = arg;

	if (len == 0)
		abort();				/* the sink is never called for nothing */
	if (o->len + len > o->cap)
	{
		o->cap = (o->len + len) * 2 + 64;
		o->p = realloc(o->p, o->cap);
		if (o->p == NULL)
			abort();
	}
	memcpy(o->p + o->len, data, len);
	o->len += len;
	return true;
}

/* run inflates body, split where seed says (seed 0: whole) */
static InflateResult
run(BodyCoding coding, size_t limit, const uint8_t *body, size_t len,
	uint32_t seed, Out *out, char *err, size_t errlen)
{
	BodyInflater *bi = body_inflater_create(coding, limit);
	InflateResult r = INFLATE_OK;
	size_t		off = 0;

	if (bi == NULL)
		abort();
	while (off < len && r == INFLATE_OK)
	{
		size_t		n = len - off;

		if (seed != 0)
		{
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (seed & 0x100 ? 3 : 40);
			if (n > len - off)
				n = len - off;
		}
		r = body_inflater_feed(bi, (const char *) body + off, n, sink, out);
		off += n;
		if (body_inflater_out(bi) > limit || out->len > limit)
			abort();
	}
	if (r == INFLATE_OK)
		r = body_inflater_finish(bi);
	snprintf(err, errlen, "%s", r == INFLATE_OK ? "" : body_inflater_error(bi));
	body_inflater_free(bi);
	return r;
}

/* compress data with zlib's windowBits window; *len in and out */
static uint8_t *
compress_as(const uint8_t *data, size_t *len, int window)
{
	z_stream	zs;
	size_t		cap = *len + *len / 100 + 128;
	uint8_t    *out = malloc(cap);

	memset(&zs, 0, sizeof(zs));
	if (out == NULL || deflateInit2(&zs, 6, Z_DEFLATED, window, 8,
									Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	zs.next_in = (uint8_t *) data;
	zs.avail_in = (uInt) * len;
	zs.next_out = out;
	zs.avail_out = (uInt) cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		abort();
	*len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int windows[] = {31, 15, -15};
	uint8_t		mode;
	uint8_t		seed;
	BodyCoding	coding;
	size_t		limit;
	const uint8_t *plain = NULL;
	size_t		plain_len = 0;
	uint8_t    *packed = NULL;
	const uint8_t *body;
	size_t		len;
	bool		intact = false;
	Out			whole = {0};
	Out			split = {0};
	char		err1[256];
	char		err2[256];
	InflateResult r1;
	InflateResult r2;

	if (size < 2)
		return 0;
	mode = data[0];
	seed = data[1];
	data += 2;
	size -= 2;
	limit = limits[mode & 7];
	body = data;
	len = size;
	coding = (mode & 8) ? CODING_DEFLATE : CODING_GZIP;
	if (mode & 0x30)
	{
		/* compress the rest: 1 gzip, 2 zlib, 3 raw deflate */
		int			kind = ((mode >> 4) & 3) - 1;

		plain = data;
		plain_len = size;
		packed = compress_as(data, &len, windows[kind]);
		body = packed;
		coding = kind == 0 ? CODING_GZIP : CODING_DEFLATE;
		intact = true;
		if ((mode & 0xc0) == 0x40 && len > 0)
		{
			len -= 1 + seed % len;	/* truncated */
			intact = false;
		}
		else if ((mode & 0xc0) == 0x80 && len > 0)
		{
			packed[seed % len] ^= (uint8_t) (1 + (seed >> 3));
			intact = false;
		}
	}

	r1 = run(coding, limit, body, len, 0, &whole, err1, sizeof(err1));
	r2 = run(coding, limit, body, len, 1u + seed, &split, err2, sizeof(err2));
	if (r1 != r2 || strcmp(err1, err2) != 0)
	{
		fprintf(stderr, "whole: %d %s; split: %d %s\n", r1, err1, r2, err2);
		abort();
	}
	if (whole.len != split.len ||
		(whole.len > 0 && memcmp(whole.p, split.p, whole.len) != 0))
		abort();
	if (intact)
	{
		if (plain_len <= limit && len <= limit)
		{
			if (r1 != INFLATE_OK || whole.len != plain_len ||
				(plain_len > 0 && memcmp(whole.p, plain, plain_len) != 0))
			{
				fprintf(stderr, "intact stream: %d %s\n", r1, err1);
				abort();
			}
		}
		else if (r1 != INFLATE_TOO_LARGE)
			abort();
	}
	if (r1 == INFLATE_BAD && err1[0] == '\0')
		abort();
	free(whole.p);
	free(split.p);
	free(packed);
	return 0;
}
