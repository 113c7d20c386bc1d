/*-------------------------------------------------------------------------
 *
 * http_inflate.c
 *	  Compressed request bodies: which Content-Encoding a request declares,
 *	  and the streaming inflater that turns each piece of a gzip or
 *	  deflate body into the bytes it stands for, as the pieces come in,
 *	  never holding more than the limit.
 *
 * The inflated bytes go to a sink, at most 16 kB at a time; the inflater
 * itself holds only zlib's state.  It stops at the limit: past limit bytes
 * out (a decompression bomb) or limit bytes in (a gzip header or empty
 * blocks give no output: without this they could be sent for ever), it
 * says INFLATE_TOO_LARGE and has produced limit bytes at most.
 *
 * gzip: RFC 1952; concatenated members are one body, as gzip(1) and most
 * HTTP libraries read them (RFC 1952 2.2: a gzip file is a series of
 * members); after the last member nothing may follow, not even zeros.
 * deflate: RFC 9110 says zlib's format (RFC 1950), which is what is
 * expected; a raw deflate stream (RFC 1951), which some clients send, is
 * taken as well, told apart by its first two bytes (no real encoder
 * writes a raw stream that starts like a valid zlib header, as a stored
 * block's padding bits are zero).  Only one stream.
 *
 * Backend-free: malloc and zlib only, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "core/http_inflate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* the inflated bytes are handed to the sink in pieces of at most this */
#define INFLATE_CHUNK		16384

/* at most this much input is handed to zlib at once (its avail_in is 32 bits) */
#define INFLATE_MAX_IN		((size_t) 1 << 30)

#define NAME(bi)	body_coding_name((bi)->coding)

struct BodyInflater
{
	z_stream	zs;
	BodyCoding	coding;
	bool		zinit;			/* zs is initialised */
	bool		in_stream;		/* inside a gzip member or deflate stream */
	bool		failed;			/* an error was returned: no more */
	int			streams;		/* streams (members) ended so far */
	unsigned char lead[2];		/* a stream's first bytes, until we have 2 */
	int			nlead;
	size_t		limit;
	size_t		in;				/* bytes taken in */
	size_t		out;			/* bytes given out */
	char		error[160];
};

/*
 * body_coding_parse reads a Content-Encoding value (NULL: no header): one
 * coding, case-insensitive, with optional white space around it.
 */
BodyCoding
body_coding_parse(const char *value)
{
	size_t		len;

	if (value == NULL)
		return CODING_IDENTITY;
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
#define IS(name) (len == strlen(name) && strncasecmp(value, name, len) == 0)
	if (len == 0 || IS("identity"))
		return CODING_IDENTITY;
	if (IS("gzip") || IS("x-gzip"))
		return CODING_GZIP;
	if (IS("deflate"))
		return CODING_DEFLATE;
#undef IS
	return CODING_UNSUPPORTED;
}

const char *
body_coding_name(BodyCoding coding)
{
	switch (coding)
	{
		case CODING_IDENTITY:
			return "identity";
		case CODING_GZIP:
			return "gzip";
		case CODING_DEFLATE:
			return "deflate";
		case CODING_UNSUPPORTED:
			break;
	}
	return "unsupported";
}

/*
 * body_inflater_create makes the inflater of a gzip or deflate body that
 * may inflate to at most limit bytes (and be at most limit bytes itself).
 * NULL if out of memory or coding is neither.
 */
BodyInflater *
body_inflater_create(BodyCoding coding, size_t limit)
{
	BodyInflater *bi;

	if (coding != CODING_GZIP && coding != CODING_DEFLATE)
		return NULL;
	bi = calloc(1, sizeof(BodyInflater));
	if (bi == NULL)
		return NULL;
	bi->coding = coding;
	bi->limit = limit;
	return bi;
}

static InflateResult fail(BodyInflater *bi, InflateResult r,
						  const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* fail records why the inflater stops, and returns r */
static InflateResult
fail(BodyInflater *bi, InflateResult r, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(bi->error, sizeof(bi->error), fmt, ap);
	va_end(ap);
	bi->failed = true;
	return r;
}

/* zlib_header: do two bytes start a zlib stream (RFC 1950)? */
static bool
zlib_header(const unsigned char *b)
{
	return (b[0] & 0x0f) == Z_DEFLATED && (b[0] >> 4) <= 7 &&
		((b[0] << 8) | b[1]) % 31 == 0;
}

/*
 * start_stream begins a stream (a gzip member) whose first two bytes are in
 * bi->lead: they say whether it is one, and for deflate which format.
 */
static InflateResult
start_stream(BodyInflater *bi)
{
	int			window;
	int			rc;

	if (bi->coding == CODING_GZIP)
	{
		if (bi->lead[0] != 0x1f || bi->lead[1] != 0x8b)
		{
			if (bi->streams == 0)
				return fail(bi, INFLATE_BAD,
							"request body is not gzip data (Content-Encoding: gzip)");
			return fail(bi, INFLATE_BAD,
						"trailing bytes after the end of the gzip data");
		}
		window = 16 + MAX_WBITS;
	}
	else
	{
		if (bi->streams > 0)
			return fail(bi, INFLATE_BAD,
						"trailing bytes after the end of the deflate data");
		window = zlib_header(bi->lead) ? MAX_WBITS : -MAX_WBITS;
	}
	if (bi->zinit)
		rc = inflateReset2(&bi->zs, window);
	else
	{
		rc = inflateInit2(&bi->zs, window);
		bi->zinit = rc == Z_OK;
	}
	if (rc == Z_MEM_ERROR)
		return fail(bi, INFLATE_NO_MEMORY, "out of memory for the %s body",
					NAME(bi));
	if (rc != Z_OK)
		return fail(bi, INFLATE_BAD, "cannot inflate the %s body", NAME(bi));
	bi->in_stream = true;
	return INFLATE_OK;
}

/*
 * run inflates n bytes of the current stream, giving what comes out to the
 * sink; *used is how many it took (fewer than n only if the stream ended).
 */
static InflateResult
run(BodyInflater *bi, const unsigned char *data, size_t n, size_t *used,
	InflateSink sink, void *arg)
{
	unsigned char out[INFLATE_CHUNK];
	z_stream   *zs = &bi->zs;
	InflateResult r = INFLATE_OK;

	zs->next_in = (unsigned char *) data;
	zs->avail_in = (uInt) n;
	for (;;)
	{
		/* room for one byte past the limit: that is how it is seen */
		size_t		room = bi->limit - bi->out < sizeof(out) ?
			bi->limit - bi->out + 1 : sizeof(out);
		size_t		got;
		size_t		fits;
		int			rc;

		zs->next_out = out;
		zs->avail_out = (uInt) room;
		rc = inflate(zs, Z_NO_FLUSH);
		got = room - zs->avail_out;
		/* past the limit, what fits still goes out (whatever the splits) */
		fits = got <= bi->limit - bi->out ? got : bi->limit - bi->out;
		bi->out += fits;
		if (fits > 0 && !sink(arg, (const char *) out, fits))
		{
			bi->failed = true;
			r = INFLATE_STOPPED;
			break;
		}
		if (fits < got)
		{
			r = fail(bi, INFLATE_TOO_LARGE,
					 "the inflated %s body is over the limit", NAME(bi));
			break;
		}
		if (rc == Z_STREAM_END)
		{
			bi->in_stream = false;
			bi->streams++;
			break;
		}
		if (rc == Z_OK)
		{
			/* all taken in and nothing more to come out yet */
			if (zs->avail_in == 0 && zs->avail_out > 0)
				break;
			continue;
		}
		if (rc == Z_BUF_ERROR)
			break;				/* needs more input */
		if (rc == Z_MEM_ERROR)
			r = fail(bi, INFLATE_NO_MEMORY, "out of memory for the %s body",
					 NAME(bi));
		else if (rc == Z_NEED_DICT)
			r = fail(bi, INFLATE_BAD,
					 "the deflate body needs a preset dictionary");
		else
			r = fail(bi, INFLATE_BAD, "request body is not valid %s data: %s",
					 NAME(bi), zs->msg != NULL ? zs->msg : "corrupt");
		break;
	}
	*used = n - zs->avail_in;
	zs->next_in = NULL;
	zs->avail_in = 0;
	return r;
}

/*
 * body_inflater_feed takes the next len bytes of the body, and gives what
 * they inflate to to sink.  After anything but INFLATE_OK, the inflater
 * takes nothing more (the reason is in body_inflater_error).
 */
InflateResult
body_inflater_feed(BodyInflater *bi, const char *data, size_t len,
				   InflateSink sink, void *arg)
{
	const unsigned char *p = (const unsigned char *) data;
	bool		over = len > bi->limit - bi->in;

	if (bi->failed)
		return INFLATE_BAD;
	/* what fits the limit is inflated first, so that splits do not matter */
	if (over)
		len = bi->limit - bi->in;
	bi->in += len;
	while (len > 0)
	{
		InflateResult r;
		size_t		used;

		if (!bi->in_stream)
		{
			/* the first two bytes of a stream say what it is */
			size_t		take = 2 - (size_t) bi->nlead;

			if (take > len)
				take = len;
			memcpy(bi->lead + bi->nlead, p, take);
			bi->nlead += (int) take;
			p += take;
			len -= take;
			if (bi->nlead < 2)
				break;
			bi->nlead = 0;
			if ((r = start_stream(bi)) != INFLATE_OK)
				return r;
			/* no stream is shorter than two bytes: both are used */
			if ((r = run(bi, bi->lead, 2, &used, sink, arg)) != INFLATE_OK)
				return r;
			continue;
		}
		if ((r = run(bi, p, len < INFLATE_MAX_IN ? len : INFLATE_MAX_IN,
					 &used, sink, arg)) != INFLATE_OK)
			return r;
		p += used;
		len -= used;
	}
	if (over)
		return fail(bi, INFLATE_TOO_LARGE, "the %s body is over the limit",
					NAME(bi));
	return INFLATE_OK;
}

/*
 * body_inflater_finish says whether the body, now complete, was whole:
 * INFLATE_OK, or INFLATE_BAD if it was empty, ended inside a stream, or
 * had bytes after its end.
 */
InflateResult
body_inflater_finish(BodyInflater *bi)
{
	if (bi->failed)
		return INFLATE_BAD;
	if (bi->streams == 0 && bi->nlead == 0 && !bi->in_stream)
		return fail(bi, INFLATE_BAD, "the %s body is empty", NAME(bi));
	if (bi->streams > 0 && bi->nlead > 0)
		return fail(bi, INFLATE_BAD,
					"trailing bytes after the end of the %s data", NAME(bi));
	if (bi->in_stream || bi->nlead > 0)
		return fail(bi, INFLATE_BAD, "the %s body is truncated", NAME(bi));
	return INFLATE_OK;
}

/* body_inflater_error: why the last call did not return INFLATE_OK */
const char *
body_inflater_error(const BodyInflater *bi)
{
	return bi->error[0] != '\0' ? bi->error : "inflating stopped";
}

/* body_inflater_out: the bytes inflated so far */
size_t
body_inflater_out(const BodyInflater *bi)
{
	return bi->out;
}

void
body_inflater_free(BodyInflater *bi)
{
	if (bi == NULL)
		return;
	if (bi->zinit)
		inflateEnd(&bi->zs);
	free(bi);
}
