/*-------------------------------------------------------------------------
 *
 * transport.c
 *	  The libcurl plumbing shared by "send", "revenue" and "watch": request
 *	  headers (bearer token), one easy handle per request with its
 *	  timeout and reply buffer, and readable descriptions of transport
 *	  errors.  Also the monotonic clock of the client.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* sleep_ms sleeps ms milliseconds, or less if a signal ends the run */
void
sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t) (ms / 1000);
	ts.tv_nsec = (long) (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !cl_interrupted)
		;
}

static struct curl_slist *
add_header(struct curl_slist *list, const char *header)
{
	struct curl_slist *l = curl_slist_append(list, header);

	if (l == NULL)
	{
		fputs("evproc-client: out of memory\n", stderr);
		exit(1);
	}
	return l;
}

/* add_auth_header adds "Authorization: Bearer" if there is a token */
static struct curl_slist *
add_auth_header(struct curl_slist *list, const ClientConfig *cfg)
{
	StrBuf		sb;

	if (cfg->token == NULL)
		return list;
	sb_init(&sb);
	sb_printf(&sb, "Authorization: Bearer %s", cfg->token);
	list = add_header(list, sb.data);
	/* the token should not linger in freed memory */
	memset(sb.data, 0, sb.len);
	sb_free(&sb);
	return list;
}

/*
 * http_headers makes the header list of every request: the token, the
 * body's type, and no "Expect: 100-continue" round trip.
 */
struct curl_slist *
http_headers(const ClientConfig *cfg, const char *content_type)
{
	struct curl_slist *list = NULL;
	StrBuf		sb;

	sb_init(&sb);
	list = add_header(list, "Accept: application/json");
	list = add_header(list, "Expect:");
	if (content_type != NULL)
	{
		sb_printf(&sb, "Content-Type: %s", content_type);
		list = add_header(list, sb.data);
	}
	sb_free(&sb);
	return add_auth_header(list, cfg);
}

/*
 * http_stream_headers makes the header list of a request for an event
 * stream ("watch"): the token, and Last-Event-ID unless last_id is NULL
 * or empty.
 */
struct curl_slist *
http_stream_headers(const ClientConfig *cfg, const char *last_id)
{
	struct curl_slist *list = NULL;

	list = add_header(list, "Accept: text/event-stream");
	list = add_header(list, "Cache-Control: no-cache");
	if (last_id != NULL && last_id[0] != '\0')
	{
		StrBuf		sb;

		sb_init(&sb);
		sb_printf(&sb, "Last-Event-ID: %s", last_id);
		list = add_header(list, sb.data);
		sb_free(&sb);
	}
	return add_auth_header(list, cfg);
}

static size_t
write_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	StrBuf	   *reply = arg;
	size_t		n = size * nmemb;

	if (reply->len + n > HTTP_MAX_REPLY)
		return 0;				/* makes the transfer fail */
	sb_append(reply, data, n);
	return n;
}

/*
 * http_easy makes the easy handle of one request to url; the reply body
 * goes to reply, an error description to errbuf (CURL_ERROR_SIZE bytes).
 */
CURL *
http_easy(const ClientConfig *cfg, const char *url,
		  struct curl_slist *headers, StrBuf *reply, char *errbuf)
{
	CURL	   *h = curl_easy_init();

	if (h == NULL)
	{
		fputs("evproc-client: cannot initialize libcurl\n", stderr);
		exit(1);
	}
	errbuf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_reply);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, reply);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "evproc-client/" CLIENT_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	return h;
}

/*
 * http_reply_info reads a finished transfer's HTTP status (0 if none) and
 * the server's Retry-After in ms (0 if none).
 */
void
http_reply_info(CURL *h, long *status, int64_t *retry_after_ms)
{
	curl_off_t	retry_after = 0;

	*status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after) != CURLE_OK ||
		retry_after < 0)
		retry_after = 0;
	*retry_after_ms = (int64_t) retry_after * 1000;
}

/*
 * http_describe_error writes what went wrong with a request that got no
 * HTTP reply, in words a user can act on.
 */
void
http_describe_error(CURLcode rc, const char *errbuf, const char *url,
					long timeout_ms, char *out, size_t outlen)
{
	const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

	switch (rc)
	{
		case CURLE_COULDNT_CONNECT:
			snprintf(out, outlen, "cannot connect to %s (%s)", url, detail);
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
			snprintf(out, outlen, "cannot resolve the host of %s (%s)",
					 url, detail);
			break;
		case CURLE_OPERATION_TIMEDOUT:
			snprintf(out, outlen, "no reply from %s within %.1f s (%s)",
					 url, timeout_ms / 1000.0, detail);
			break;
		case CURLE_GOT_NOTHING:
			snprintf(out, outlen,
					 "%s closed the connection without a reply", url);
			break;
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
			snprintf(out, outlen, "connection to %s broken (%s)",
					 url, detail);
			break;
		case CURLE_WRITE_ERROR:
			snprintf(out, outlen, "reply from %s is larger than %d bytes",
					 url, HTTP_MAX_REPLY);
			break;
		default:
			snprintf(out, outlen, "request to %s failed: %s", url, detail);
			break;
	}
}
