/*-------------------------------------------------------------------------
 *
 * backoff.c
 *	  Retry policy of evproc-client: the decision by HTTP status or
 *	  transport error, and exponential back-off with full jitter.
 *
 * Retrying is safe because every event carries an eventId from before its
 * first send and the server counts an eventId at most once.  Retried:
 * transport errors that may go away (connection refused or reset,
 * timeouts, DNS failures), 429 and every 5xx (503: the journal cannot be
 * written right now).  Never retried: any other 4xx; 400 and 413 lead to
 * splitting the batch instead (see send.c).  401, 403, 404, 405 and
 * unexpected 1xx/3xx answers mean that the URL or the token is wrong, so
 * the run stops rather than failing every batch the same way.
 *
 * The delay before retry number k+1 (attempt k, from 0) is uniform in
 * [0, min(cap, base * 2^k)] ms ("full jitter"), so that many clients that
 * failed together do not come back together.
 *
 *-------------------------------------------------------------------------
 */
#include "backoff.h"

ReplyAction
reply_action(long status)
{
	if (status >= 200 && status <= 299)
		return ACT_DONE;
	if (status == 429 || (status >= 500 && status <= 599))
		return ACT_RETRY;
	if (status == 400)
		return ACT_BAD_REQUEST;
	if (status == 413)
		return ACT_TOO_LARGE;
	if (status == 401 || status == 403 || status == 404 || status == 405)
		return ACT_FATAL;
	if (status >= 400 && status <= 499)
		return ACT_FAIL;
	/* 1xx, 3xx (redirects are not followed), garbage */
	return ACT_FATAL;
}

/*
 * curl_error_retryable: may the same request succeed later?  False for
 * errors of the set-up (bad URL, unsupported protocol, TLS configuration)
 * and for a peer that does not speak HTTP.
 */
bool
curl_error_retryable(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_OK:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_FAILED_INIT:
		case CURLE_URL_MALFORMAT:
		case CURLE_NOT_BUILT_IN:
		case CURLE_OUT_OF_MEMORY:
		case CURLE_BAD_FUNCTION_ARGUMENT:
		case CURLE_UNKNOWN_OPTION:
		case CURLE_WEIRD_SERVER_REPLY:
		case CURLE_SSL_ENGINE_NOTFOUND:
		case CURLE_SSL_ENGINE_SETFAILED:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_LOGIN_DENIED:
		case CURLE_TOO_MANY_REDIRECTS:
		case CURLE_FILESIZE_EXCEEDED:
		case CURLE_WRITE_ERROR:
		case CURLE_READ_ERROR:
			return false;
		default:
			return true;
	}
}

/*
 * backoff_delay_ms: the delay before the retry that follows failed attempt
 * number attempt (0 for the first retry), given 64 random bits rnd.
 */
int64_t
backoff_delay_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t rnd)
{
	int64_t		ceiling = cap_ms;

	if (base_ms <= 0 || cap_ms <= 0)
		return 0;
	if (attempt < 0)
		attempt = 0;
	/* base * 2^attempt, unless that passes the cap (or would overflow) */
	if (attempt < 62 && base_ms <= (cap_ms >> attempt))
		ceiling = base_ms << attempt;
	return (int64_t) (rnd % ((uint64_t) ceiling + 1));
}

/*
 * backoff_retry_ms: the delay before a retry with the default base and
 * cap, honouring a server's Retry-After (retry_after_ms, 0 if none) up to
 * the cap.
 */
int64_t
backoff_retry_ms(int attempt, int64_t retry_after_ms, uint64_t rnd)
{
	int64_t		delay = backoff_delay_ms(attempt, BACKOFF_BASE_MS,
										 BACKOFF_CAP_MS, rnd);

	if (retry_after_ms > delay)
		delay = retry_after_ms < BACKOFF_CAP_MS ? retry_after_ms : BACKOFF_CAP_MS;
	return delay;
}
