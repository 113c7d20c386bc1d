/*-------------------------------------------------------------------------
 *
 * backoff.h
 *	  Retry policy of evproc-client: what to do with each reply or
 *	  transport error, and how long to wait before a retry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_BACKOFF_H
#define EVPROC_CLIENT_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

/* back-off defaults: base and cap of the exponential delay, in ms */
#define BACKOFF_BASE_MS		100
#define BACKOFF_CAP_MS		10000

/* what to do with a request that got an HTTP status */
typedef enum ReplyAction
{
	ACT_DONE,					/* 2xx: acknowledged, never send it again */
	ACT_RETRY,					/* 429, 5xx: send the same request again later */
	ACT_BAD_REQUEST,			/* 400: events refused; split out the bad one */
	ACT_TOO_LARGE,				/* 413: split the batch, or reject one event */
	ACT_FATAL,					/* every request would fail alike: stop */
	ACT_FAIL					/* this request failed for good; go on */
} ReplyAction;

extern ReplyAction reply_action(long status);
extern bool curl_error_retryable(CURLcode rc);
extern int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t cap_ms,
								uint64_t rnd);
extern int64_t backoff_retry_ms(int attempt, int64_t retry_after_ms,
								uint64_t rnd);

#endif							/* EVPROC_CLIENT_BACKOFF_H */
