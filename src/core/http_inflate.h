/*-------------------------------------------------------------------------
 *
 * http_inflate.h
 *	  Compressed request bodies (Content-Encoding: gzip or deflate),
 *	  inflated as they stream in, within a size limit.
 *
 * Backend-free (no postgres.h): unit tested and fuzzed on its own.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_INFLATE_H
#define EVPROC_HTTP_INFLATE_H

#include <stdbool.h>
#include <stddef.h>

/* what a Content-Encoding header asks for */
typedef enum BodyCoding
{
	CODING_IDENTITY,			/* none, or "identity" */
	CODING_GZIP,				/* "gzip" or "x-gzip" */
	CODING_DEFLATE,				/* "deflate": zlib (RFC 1950), or raw deflate */
	CODING_UNSUPPORTED			/* anything else, or a list of codings */
} BodyCoding;

/* what feeding or finishing a compressed body came to */
typedef enum InflateResult
{
	INFLATE_OK,					/* so far so good */
	INFLATE_TOO_LARGE,			/* more than the limit, in or out */
	INFLATE_BAD,				/* not valid data: see body_inflater_error */
	INFLATE_NO_MEMORY,
	INFLATE_STOPPED				/* the sink said stop */
} InflateResult;

/*
 * What an inflater holds in memory at most (zlib's state and its 32 kB
 * window, and ours), to count as request body memory.
 */
#define INFLATER_MEMORY		(48 * 1024)

typedef struct BodyInflater BodyInflater;

/* takes len inflated bytes; false stops the inflating (INFLATE_STOPPED) */
typedef bool (*InflateSink) (void *arg, const char *data, size_t len);

extern BodyCoding body_coding_parse(const char *value);
extern const char *body_coding_name(BodyCoding coding);
extern BodyInflater *body_inflater_create(BodyCoding coding, size_t limit);
extern InflateResult body_inflater_feed(BodyInflater *bi, const char *data,
										size_t len, InflateSink sink,
										void *arg);
extern InflateResult body_inflater_finish(BodyInflater *bi);
extern const char *body_inflater_error(const BodyInflater *bi);
extern size_t body_inflater_out(const BodyInflater *bi);
extern void body_inflater_free(BodyInflater *bi);

#endif							/* EVPROC_HTTP_INFLATE_H */
