/*-------------------------------------------------------------------------
 *
 * revenue_cmd.c
 *	  "evproc-client revenue USER": GET /userEvents/<percent-encoded USER>
 *	  and print the user's revenue on the first line, then one "NAME VALUE"
 *	  line for each of the user's other metrics, sorted by name (none from
 *	  a server without event types), the numbers exactly as the server
 *	  wrote them.
 *
 * Transport errors, 429 and 5xx are retried like in "send" (a GET can
 * always be repeated).  An unknown user is an error: a message on stderr
 * and exit status 1.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "client.h"
#include "console.h"
#include "eventid.h"
#include "prng.h"
#include "reply.h"
#include "urlenc.h"


int
cmd_revenue(const ClientConfig *cfg, const char *user)
{
	StrBuf		path;
	StrBuf		reply;
	StrBuf		revenue;
	StrBuf		metrics;
	StrBuf		reason;
	char	   *url;
	struct curl_slist *headers;
	uint64_t	jitter;
	int			code = 1;

	sb_init(&path);
	sb_init(&reply);
	sb_init(&revenue);
	sb_init(&metrics);
	sb_init(&reason);
	sb_append_str(&path, "/userEvents/");
	url_encode_segment(user, strlen(user), &path);
	url = url_endpoint(cfg->url, path.data);
	headers = http_headers(cfg, NULL);
	if (!random_bytes(&jitter, sizeof(jitter)))
		jitter = (uint64_t) now_ms();

	for (int attempt = 0;; attempt++)
	{
		char		errbuf[CURL_ERROR_SIZE];
		char		error[REASON_BUFSZ];
		long		status;
		int64_t		retry_after_ms;
		CURL	   *h;
		CURLcode	rc;
		bool		retry = false;
		int64_t		delay;

		sb_reset(&reason);
		sb_reset(&reply);
		sb_reset(&metrics);
		h = http_easy(cfg, url, headers, &reply, errbuf);
		rc = curl_easy_perform(h);
		http_reply_info(h, &status, &retry_after_ms);
		curl_easy_cleanup(h);

		if (rc != CURLE_OK)
		{
			http_describe_error(rc, errbuf, url, cfg->timeout_ms,
								error, sizeof(error));
			sb_append_str(&reason, error);
			retry = curl_error_retryable(rc);
		}
		else
		{
			reply_error_text(reply.data, reply.len, error, sizeof(error));
			if (status == 200)
			{
				if (reply_revenue(reply.data, reply.len, &revenue) &&
					reply_metrics(reply.data, reply.len, &metrics))
				{
					printf("%s\n%s", revenue.data,
						   metrics.data != NULL ? metrics.data : "");
					code = fflush(stdout) == 0 ? 0 : 1;
					break;
				}
				console_message("unexpected reply from %s: %s", url, error);
				break;
			}
			if (status == 404 && strcmp(error, "user not found") == 0)
			{
				console_message("user \"%s\" not found", user);
				break;
			}
			sb_printf(&reason, "HTTP %ld from %s: %s%s", status, url, error,
					  status == 401 ? " (check --token or EVPROC_TOKEN)" :
					  status == 404 ? " (check --url or EVPROC_URL)" : "");
			retry = reply_action(status) == ACT_RETRY;
		}
		if (!retry || attempt >= cfg->max_retries || cl_interrupted)
		{
			if (retry && attempt > 0)
				console_message("%s (gave up after %d %s)", reason.data, attempt,
								attempt == 1 ? "retry" : "retries");
			else
				console_message("%s", reason.data);
			break;
		}
		delay = backoff_retry_ms(attempt, retry_after_ms, splitmix64(&jitter));
		console_message("%s; retry %d of %d in %.1f s", reason.data, attempt + 1,
						cfg->max_retries, delay / 1000.0);
		sleep_ms(delay);
	}

	curl_slist_free_all(headers);
	free(url);
	sb_free(&path);
	sb_free(&reply);
	sb_free(&revenue);
	sb_free(&metrics);
	sb_free(&reason);
	return code;
}
