/*-------------------------------------------------------------------------
 *
 * test_inflate.c
 *	  Unit tests of http_inflate.c: Content-Encoding values, and the
 *	  streaming inflater of gzip and deflate bodies (whole and split at
 *	  every point, concatenated members, truncated, garbage, trailing
 *	  bytes, bombs, the input limit).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/http_inflate.h"
#include "unit.h"

/* what the sink got */
typedef struct Sink
{
	char	   *data;
	size_t		len;
	size_t		calls;
	size_t		stop_after;		/* refuse once this much came (0: never) */
} Sink;

static bool
sink(void *arg, const char *data, size_t len)
{
	Sink	   *s = arg;

	if (s->stop_after > 0 && s->len >= s->stop_after)
		return false;
	s->data = realloc(s->data, s->len + len);
	if (s->data == NULL)
		abort();
	memcpy(s->data + s->len, data, len);
	s->len += len;
	s->calls++;
	return true;
}

/* compress: data deflated with zlib's windowBits (31 gzip, 15 zlib, -15 raw) */
static char *
compress_as(const char *data, size_t len, int window, size_t *outlen)
{
	z_stream	zs;
	size_t		cap = len + len / 100 + 64;
	char	   *out = malloc(cap);

	memset(&zs, 0, sizeof(zs));
	if (out == NULL || deflateInit2(&zs, 6, Z_DEFLATED, window, 8,
									Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	zs.next_in = (unsigned char *) data;
	zs.avail_in = (uInt) len;
	zs.next_out = (unsigned char *) out;
	zs.avail_out = (uInt) cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		abort();
	*outlen = zs.total_out;
	deflateEnd(&zs);
	return out;
}

/*
 * inflate_split inflates body in pieces: first of split bytes (all if 0),
 * then the rest in pieces of step bytes.  Returns the result of the feed
 * that failed, or of finish; *err gets the message.
 */
static InflateResult
inflate_split(BodyCoding coding, size_t limit, const char *body, size_t len,
			  size_t split, size_t step, Sink *s, char *err, size_t errlen)
{
	BodyInflater *bi = body_inflater_create(coding, limit);
	InflateResult r = INFLATE_OK;
	size_t		off = 0;

	if (bi == NULL)
		abort();
	while (off < len && r == INFLATE_OK)
	{
		size_t		n = off == 0 && split > 0 ? split : step;

		if (n > len - off)
			n = len - off;
		r = body_inflater_feed(bi, body + off, n, sink, s);
		off += n;
	}
	if (r == INFLATE_OK)
		r = body_inflater_finish(bi);
	snprintf(err, errlen, "%s", r == INFLATE_OK ? "" : body_inflater_error(bi));
	body_inflater_free(bi);
	return r;
}

static InflateResult
inflate_whole(BodyCoding coding, size_t limit, const char *body, size_t len,
			  Sink *s, char *err, size_t errlen)
{
	return inflate_split(coding, limit, body, len, 0, len > 0 ? len : 1, s,
						 err, errlen);
}

static void
sink_reset(Sink *s)
{
	free(s->data);
	memset(s, 0, sizeof(*s));
}

static void
test_coding_parse(void)
{
	CHECK(body_coding_parse(NULL) == CODING_IDENTITY);
	CHECK(body_coding_parse("") == CODING_IDENTITY);
	CHECK(body_coding_parse("identity") == CODING_IDENTITY);
	CHECK(body_coding_parse(" Identity ") == CODING_IDENTITY);
	CHECK(body_coding_parse("gzip") == CODING_GZIP);
	CHECK(body_coding_parse("GZip") == CODING_GZIP);
	CHECK(body_coding_parse("\tgzip ") == CODING_GZIP);
	CHECK(body_coding_parse("x-gzip") == CODING_GZIP);
	CHECK(body_coding_parse("deflate") == CODING_DEFLATE);
	CHECK(body_coding_parse("br") == CODING_UNSUPPORTED);
	CHECK(body_coding_parse("compress") == CODING_UNSUPPORTED);
	CHECK(body_coding_parse("zstd") == CODING_UNSUPPORTED);
	CHECK(body_coding_parse("gzip, br") == CODING_UNSUPPORTED);
	CHECK(body_coding_parse("gzip, gzip") == CODING_UNSUPPORTED);
	CHECK(body_coding_parse("gzipx") == CODING_UNSUPPORTED);
	CHECK(body_coding_parse("gzi") == CODING_UNSUPPORTED);
	CHECK(body_inflater_create(CODING_IDENTITY, 100) == NULL);
	CHECK(body_inflater_create(CODING_UNSUPPORTED, 100) == NULL);
}

/* some text that compresses, of about n bytes */
static char *
sample(size_t n)
{
	char	   *s = malloc(n + 64);
	size_t		len = 0;

	for (int i = 0; len < n; i++)
		len += (size_t) sprintf(s + len,
								"{\"userId\":\"u%d\",\"name\":\"add_revenue\",\"value\":%d}\n",
								i % 97, i);
	return s;
}

/* every format, whole, split at every point, and byte by byte */
static void
test_round_trip(void)
{
	static const struct
	{
		BodyCoding	coding;
		int			window;
	}			formats[] = {
		{CODING_GZIP, 31}, {CODING_DEFLATE, 15}, {CODING_DEFLATE, -15}
	};
	char	   *text = sample(3000);
	size_t		tlen = strlen(text);
	char		err[200];

	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++)
	{
		size_t		zlen;
		char	   *z = compress_as(text, tlen, formats[f].window, &zlen);
		Sink		s = {0};
		bool		all_ok = true;

		CHECK(zlen < tlen / 3);
		CHECK_INT_EQ(inflate_whole(formats[f].coding, 1 << 20, z, zlen, &s,
								   err, sizeof(err)), INFLATE_OK);
		CHECK_MEM_EQ(s.data, s.len, text, tlen);
		sink_reset(&s);
		for (size_t split = 1; split < zlen; split++)
		{
			InflateResult r = inflate_split(formats[f].coding, 1 << 20, z,
											zlen, split, zlen, &s, err,
											sizeof(err));

			if (r != INFLATE_OK || s.len != tlen ||
				memcmp(s.data, text, tlen) != 0)
			{
				CHECK_MSG(false, "format %zu split at %zu: %s", f, split, err);
				all_ok = false;
			}
			sink_reset(&s);
			if (!all_ok)
				break;
		}
		CHECK(all_ok);
		CHECK_INT_EQ(inflate_split(formats[f].coding, 1 << 20, z, zlen, 1, 1,
								   &s, err, sizeof(err)), INFLATE_OK);
		CHECK_MEM_EQ(s.data, s.len, text, tlen);
		sink_reset(&s);
		free(z);
	}
	free(text);
}

/* concatenated gzip members are one body; deflate is one stream only */
static void
test_members(void)
{
	size_t		alen,
				blen;
	char	   *a = compress_as("first\n", 6, 31, &alen);
	char	   *b = compress_as("second\n", 7, 31, &blen);
	char	   *ab = malloc(alen + blen);
	char		err[200];
	Sink		s = {0};

	memcpy(ab, a, alen);
	memcpy(ab + alen, b, blen);
	for (size_t split = 1; split <= alen + blen; split++)
	{
		CHECK_INT_EQ(inflate_split(CODING_GZIP, 100, ab, alen + blen, split,
								   3, &s, err, sizeof(err)), INFLATE_OK);
		CHECK_MEM_EQ(s.data, s.len, "first\nsecond\n", 13);
		sink_reset(&s);
	}
	free(a);
	free(b);
	a = compress_as("first\n", 6, 15, &alen);
	b = compress_as("second\n", 7, 15, &blen);
	memcpy(ab, a, alen);
	memcpy(ab + alen, b, blen);
	CHECK_INT_EQ(inflate_whole(CODING_DEFLATE, 100, ab, alen + blen, &s,
							   err, sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "trailing bytes after the end of the deflate data");
	sink_reset(&s);
	free(a);
	free(b);
	free(ab);
}

/* every proper prefix of a body is truncated (or empty) */
static void
test_truncated(void)
{
	char	   *text = sample(2000);
	size_t		zlen;
	char	   *z = compress_as(text, strlen(text), 31, &zlen);
	char		err[200];
	Sink		s = {0};
	bool		all_bad = true;

	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1 << 20, z, 0, &s, err,
							   sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "the gzip body is empty");
	for (size_t len = 1; len < zlen; len++)
	{
		InflateResult r = inflate_whole(CODING_GZIP, 1 << 20, z, len, &s,
										err, sizeof(err));

		sink_reset(&s);
		if (r != INFLATE_BAD || strcmp(err, "the gzip body is truncated") != 0)
		{
			CHECK_MSG(false, "prefix of %zu bytes: %d %s", len, r, err);
			all_bad = false;
			break;
		}
	}
	CHECK(all_bad);
	free(z);
	z = compress_as(text, strlen(text), 15, &zlen);
	CHECK_INT_EQ(inflate_whole(CODING_DEFLATE, 1 << 20, z, zlen - 1, &s, err,
							   sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "the deflate body is truncated");
	sink_reset(&s);
	CHECK_INT_EQ(inflate_whole(CODING_DEFLATE, 1 << 20, z, 1, &s, err,
							   sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "the deflate body is truncated");
	sink_reset(&s);
	free(z);
	free(text);
}

/* garbage, a broken checksum, bytes after the end */
static void
test_bad(void)
{
	static const char json[] = "{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}";
	char		err[200];
	Sink		s = {0};
	size_t		zlen;
	char	   *z;
	char	   *more;

	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1000, json, strlen(json), &s, err,
							   sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "request body is not gzip data (Content-Encoding: gzip)");
	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1000, "\x1f\x8bxxxxxxxxxxxxxxxx", 18,
							   &s, err, sizeof(err)), INFLATE_BAD);
	CHECK(strncmp(err, "request body is not valid gzip data: ", 37) == 0);
	CHECK_INT_EQ(inflate_whole(CODING_DEFLATE, 1000, json, strlen(json), &s,
							   err, sizeof(err)), INFLATE_BAD);
	CHECK(strncmp(err, "request body is not valid deflate data: ", 40) == 0);
	sink_reset(&s);

	/* the CRC-32 of a gzip member is checked */
	z = compress_as(json, strlen(json), 31, &zlen);
	z[zlen - 6] ^= 1;
	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1000, z, zlen, &s, err,
							   sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "request body is not valid gzip data: incorrect data check");
	sink_reset(&s);
	z[zlen - 6] ^= 1;

	/* bytes after the end: one, two, zeros, anything */
	more = malloc(zlen + 8);
	memcpy(more, z, zlen);
	memcpy(more + zlen, "\0\0\0\0xyz\n", 8);
	for (size_t extra = 1; extra <= 8; extra++)
	{
		CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1000, more, zlen + extra, &s,
								   err, sizeof(err)), INFLATE_BAD);
		CHECK_STR_EQ(err, "trailing bytes after the end of the gzip data");
		sink_reset(&s);
		CHECK_INT_EQ(inflate_split(CODING_GZIP, 1000, more, zlen + extra, zlen,
								   1, &s, err, sizeof(err)), INFLATE_BAD);
		CHECK_STR_EQ(err, "trailing bytes after the end of the gzip data");
		sink_reset(&s);
	}
	free(more);
	free(z);

	/* a zlib stream with a preset dictionary: not for us */
	CHECK_INT_EQ(inflate_whole(CODING_DEFLATE, 1000, "\x78\xbb\x00\x00\x00\x01", 6,
							   &s, err, sizeof(err)), INFLATE_BAD);
	CHECK_STR_EQ(err, "the deflate body needs a preset dictionary");
	sink_reset(&s);

	/* the shortest raw deflate stream: nothing */
	CHECK_INT_EQ(inflate_whole(CODING_DEFLATE, 1000, "\x03\x00", 2, &s, err,
							   sizeof(err)), INFLATE_OK);
	CHECK_INT_EQ(s.len, 0);
	sink_reset(&s);
}

/* a bomb stops at the limit; exactly the limit is fine */
static void
test_limits(void)
{
	size_t		big = 20 * 1024 * 1024;
	char	   *zeros = calloc(1, big);
	size_t		zlen;
	char	   *z = compress_as(zeros, big, 31, &zlen);
	char		err[200];
	Sink		s = {0};
	BodyInflater *bi;
	char	   *header;

	CHECK(zlen < 30000);
	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1 << 20, z, zlen, &s, err,
							   sizeof(err)), INFLATE_TOO_LARGE);
	CHECK_STR_EQ(err, "the inflated gzip body is over the limit");
	CHECK(s.len <= (1 << 20));
	sink_reset(&s);
	/* the same fed in small pieces */
	CHECK_INT_EQ(inflate_split(CODING_GZIP, 1 << 20, z, zlen, 1, 7, &s, err,
							   sizeof(err)), INFLATE_TOO_LARGE);
	CHECK(s.len <= (1 << 20));
	sink_reset(&s);
	free(z);

	z = compress_as(zeros, 100000, 31, &zlen);
	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 100000, z, zlen, &s, err,
							   sizeof(err)), INFLATE_OK);
	CHECK_INT_EQ(s.len, 100000);
	sink_reset(&s);
	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 99999, z, zlen, &s, err,
							   sizeof(err)), INFLATE_TOO_LARGE);
	CHECK_INT_EQ(s.len, 99999);
	sink_reset(&s);
	free(z);

	/*
	 * A gzip header with a file name that never ends gives no output: the
	 * input is limited too.
	 */
	header = malloc(3000);
	memcpy(header, "\x1f\x8b\x08\x08\0\0\0\0\0\x03", 10);
	memset(header + 10, 'a', 2990);
	bi = body_inflater_create(CODING_GZIP, 2000);
	CHECK_INT_EQ(body_inflater_feed(bi, header, 1500, sink, &s), INFLATE_OK);
	CHECK_INT_EQ(body_inflater_feed(bi, header + 1500, 1500, sink, &s),
				 INFLATE_TOO_LARGE);
	CHECK_STR_EQ(body_inflater_error(bi), "the gzip body is over the limit");
	CHECK_INT_EQ(body_inflater_out(bi), 0);
	/* once failed, nothing more */
	CHECK_INT_EQ(body_inflater_feed(bi, header, 1, sink, &s), INFLATE_BAD);
	CHECK_INT_EQ(body_inflater_finish(bi), INFLATE_BAD);
	body_inflater_free(bi);
	free(header);

	/* a sink that says stop */
	z = compress_as(zeros, 100000, 31, &zlen);
	s.stop_after = 1;
	CHECK_INT_EQ(inflate_whole(CODING_GZIP, 1 << 20, z, zlen, &s, err,
							   sizeof(err)), INFLATE_STOPPED);
	CHECK_INT_EQ(s.calls, 1);
	sink_reset(&s);
	free(z);
	free(zeros);
}

int
main(void)
{
	test_coding_parse();
	test_round_trip();
	test_members();
	test_truncated();
	test_bad();
	test_limits();
	return unit_summary();
}
