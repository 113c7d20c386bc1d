/*-------------------------------------------------------------------------
 *
 * watch.c
 *	  "evproc-client watch USER" and "watch --all [--users a,b]": follow
 *	  the server's live updates (Server-Sent Events on
 *	  GET /userEvents/USER/stream or GET /stream[?users=a,b]) and print
 *	  the data of each message as one line on standard output, flushed at
 *	  once.
 *
 * The stream is parsed as it arrives (sse.c, fed from libcurl's write
 * callback).  Whenever the connection fails or ends, the client connects
 * again after an exponential back-off with full jitter (backoff.c), and
 * sends "Last-Event-ID: <id of the last message printed>" so that the
 * server skips what was printed already (or sends the current state after
 * a gap).  429 and 5xx are retried too, honouring Retry-After up to 10 s;
 * any other HTTP error is final.  The consecutive failures are counted
 * against --max-retries (unlimited by default); a connection that
 * delivered a message, or stayed up for a while, resets the count.
 *
 * Exit status: 0 when interrupted (SIGINT, SIGTERM) or when standard
 * output is closed by its reader; 1 for an HTTP error that a retry cannot
 * mend, a reply that is not an event stream, --max-retries exhausted, or
 * output that cannot be written.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "client.h"
#include "console.h"
#include "eventid.h"
#include "prng.h"
#include "reply.h"
#include "sse.h"
#include "urlenc.h"

/* no byte for this long ends the connection: the server pings every 15 s */
#define WATCH_IDLE_LIMIT_S		45

/* a connection up for this long was healthy, even without a message */
#define WATCH_HEALTHY_MS		5000

/* the state of one connection, for the write callback */
typedef struct WatchConn
{
	CURL	   *h;
	SseParser  *parser;
	bool		checked;		/* status and Content-Type looked at */
	bool		is_stream;		/* 200 with text/event-stream */
	StrBuf		body;			/* the reply body, if not a stream */
	bool		too_long;		/* the parser refused a line */
	bool		out_failed;		/* standard output could not be written */
	int			out_errno;
	int64_t		bytes;			/* stream bytes received */
	int64_t		events;			/* messages printed */
} WatchConn;

/* content_type_is_sse: is ct "text/event-stream", parameters aside? */
static bool
content_type_is_sse(const char *ct)
{
	static const char want[] = "text/event-stream";
	size_t		n = sizeof(want) - 1;

	if (ct == NULL || strncasecmp(ct, want, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* on_event prints one message's data as a line and flushes it */
static bool
on_event(void *arg, const char *data, size_t len, const char *type)
{
	WatchConn  *c = arg;

	(void) type;
	if (fwrite(data, 1, len, stdout) != len || putchar('\n') == EOF ||
		fflush(stdout) != 0)
	{
		c->out_failed = true;
		c->out_errno = errno;
		return false;
	}
	c->events++;
	return true;
}

/*
 * watch_write is libcurl's write callback: the first call looks at the
 * status and type of the reply; a stream goes to the parser, anything else
 * is kept (bounded) to report the server's error.  Returning less than
 * asked ends the transfer with CURLE_WRITE_ERROR.
 */
static size_t
watch_write(char *data, size_t size, size_t nmemb, void *arg)
{
	WatchConn  *c = arg;
	size_t		n = size * nmemb;

	if (!c->checked)
	{
		long		status = 0;
		char	   *ct = NULL;

		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(c->h, CURLINFO_CONTENT_TYPE, &ct);
		c->is_stream = status == 200 && content_type_is_sse(ct);
		c->checked = true;
	}
	if (!c->is_stream)
	{
		if (c->body.len + n > HTTP_MAX_REPLY)
			return 0;
		sb_append(&c->body, data, n);
		return n;
	}
	c->bytes += (int64_t) n;
	switch (sse_feed(c->parser, data, n, on_event, c))
	{
		case SSE_OK:
			return n;
		case SSE_TOO_LONG:
			c->too_long = true;
			return 0;
		case SSE_STOPPED:
			break;
	}
	return 0;
}

/* watch_progress ends the transfer once SIGINT or SIGTERM came */
static int
watch_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	(void) arg;
	(void) dltotal;
	(void) dlnow;
	(void) ultotal;
	(void) ulnow;
	return cl_interrupted ? 1 : 0;
}

/* watch_url builds the stream's URL (malloc'd), or NULL for a bad list */
static char *
watch_url(const ClientConfig *cfg, const WatchOptions *opts)
{
	StrBuf		path;
	char	   *url;

	sb_init(&path);
	if (opts->user != NULL)
	{
		sb_append_str(&path, "/userEvents/");
		url_encode_segment(opts->user, strlen(opts->user), &path);
		sb_append_str(&path, "/stream");
	}
	else
	{
		sb_append_str(&path, "/stream");
		if (opts->users != NULL)
		{
			sb_append_str(&path, "?users=");
			if (!url_encode_list(opts->users, &path))
			{
				sb_free(&path);
				return NULL;
			}
		}
	}
	url = url_endpoint(cfg->url, path.data);
	sb_free(&path);
	return url;
}

/* id_sendable: can id go into a Last-Event-ID header as it is? */
static bool
id_sendable(const char *id)
{
	for (; *id != '\0'; id++)
	{
		if ((unsigned char) *id < 0x20 || (unsigned char) *id == 0x7f)
			return false;
	}
	return true;
}

int
cmd_watch(const ClientConfig *cfg, const WatchOptions *opts)
{
	SseParser	parser;
	StrBuf		reason;
	char	   *url;
	uint64_t	jitter;
	int			failures = 0;
	int			code = 1;

	url = watch_url(cfg, opts);
	if (url == NULL)
	{
		console_message("--users must be user ids separated by commas, none of them empty");
		return 2;
	}
	sse_init(&parser, SSE_DEFAULT_MAX_LINE);
	if (opts->since != NULL)
		sse_set_last_id(&parser, opts->since);
	sb_init(&reason);
	if (!random_bytes(&jitter, sizeof(jitter)))
		jitter = (uint64_t) now_ms();

	while (!cl_interrupted)
	{
		WatchConn	c;
		char		errbuf[CURL_ERROR_SIZE];
		char		error[REASON_BUFSZ];
		struct curl_slist *headers;
		const char *last_id = sse_last_id(&parser);
		long		status = 0;
		int64_t		retry_after_ms = 0;
		int64_t		started;
		int64_t		delay;
		CURLcode	rc;
		bool		retry;

		memset(&c, 0, sizeof(c));
		sb_init(&c.body);
		c.parser = &parser;
		sse_reset(&parser);
		sb_reset(&reason);
		headers = http_stream_headers(cfg, id_sendable(last_id) ? last_id : NULL);
		c.h = http_easy(cfg, url, headers, &c.body, errbuf);
		curl_easy_setopt(c.h, CURLOPT_WRITEFUNCTION, watch_write);
		curl_easy_setopt(c.h, CURLOPT_WRITEDATA, &c);
		/* a healthy stream never ends: only connecting has a time limit */
		curl_easy_setopt(c.h, CURLOPT_TIMEOUT_MS, 0L);
		curl_easy_setopt(c.h, CURLOPT_CONNECTTIMEOUT_MS, cfg->timeout_ms);
		curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c.h, CURLOPT_LOW_SPEED_TIME, (long) WATCH_IDLE_LIMIT_S);
		curl_easy_setopt(c.h, CURLOPT_XFERINFOFUNCTION, watch_progress);
		curl_easy_setopt(c.h, CURLOPT_NOPROGRESS, 0L);

		started = now_ms();
		rc = curl_easy_perform(c.h);
		http_reply_info(c.h, &status, &retry_after_ms);
		if (!c.checked && rc == CURLE_OK)
		{
			char	   *ct = NULL;

			/* a reply without a body never reached watch_write */
			curl_easy_getinfo(c.h, CURLINFO_CONTENT_TYPE, &ct);
			c.is_stream = status == 200 && content_type_is_sse(ct);
		}
		curl_easy_cleanup(c.h);
		curl_slist_free_all(headers);

		if (cl_interrupted || (c.out_failed && c.out_errno == EPIPE))
		{
			/* interrupted, or the reader of our output went away */
			code = 0;
			sb_free(&c.body);
			break;
		}
		if (c.out_failed)
		{
			console_message("cannot write: %s", strerror(c.out_errno));
			sb_free(&c.body);
			break;
		}

		if (c.is_stream)
		{
			/* the stream ended or broke: always connect again */
			if (c.too_long)
				sb_printf(&reason, "stream from %s has a line or message longer than %d bytes",
						  url, SSE_DEFAULT_MAX_LINE);
			else if (rc == CURLE_OK)
				sb_printf(&reason, "stream from %s ended", url);
			else if (rc == CURLE_OPERATION_TIMEDOUT)
				sb_printf(&reason, "no data from %s for %d s", url,
						  WATCH_IDLE_LIMIT_S);
			else
			{
				http_describe_error(rc, errbuf, url, cfg->timeout_ms,
									error, sizeof(error));
				sb_append_str(&reason, error);
			}
			retry = true;
			retry_after_ms = 0;
			if (c.events > 0 || now_ms() - started >= WATCH_HEALTHY_MS)
				failures = 0;
		}
		else if (status == 0)
		{
			/* no HTTP reply at all */
			http_describe_error(rc, errbuf, url, cfg->timeout_ms,
								error, sizeof(error));
			sb_append_str(&reason, error);
			retry = curl_error_retryable(rc);
		}
		else if (status == 200)
		{
			console_message("the reply of %s is not an event stream (is the URL that of an evproc server with live updates?)",
							url);
			sb_free(&c.body);
			break;
		}
		else
		{
			reply_error_text(c.body.data, c.body.len, error, sizeof(error));
			sb_printf(&reason, "HTTP %ld from %s: %s%s", status, url, error,
					  status == 401 ? " (check --token or EVPROC_TOKEN)" :
					  status == 403 ? " (the token is not allowed to read)" :
					  status == 404 ? " (check --url or EVPROC_URL; does the server have live updates?)" :
					  "");
			retry = status == 429 || (status >= 500 && status <= 599);
		}
		sb_free(&c.body);

		if (!retry)
		{
			console_message("%s", reason.data);
			break;
		}
		if (cfg->max_retries >= 0 && failures >= cfg->max_retries)
		{
			console_message("%s (gave up after %d %s)", reason.data, failures,
							failures == 1 ? "retry" : "retries");
			break;
		}
		delay = backoff_retry_ms(failures, retry_after_ms, splitmix64(&jitter));
		/* the server's "retry:" field, like Retry-After, up to the cap */
		if (parser.retry_ms > delay)
			delay = parser.retry_ms < BACKOFF_CAP_MS ? parser.retry_ms : BACKOFF_CAP_MS;
		failures++;
		last_id = sse_last_id(&parser);
		if (last_id[0] != '\0')
			console_message("%s; reconnecting in %.1f s, from id %s", reason.data,
							delay / 1000.0, last_id);
		else
			console_message("%s; reconnecting in %.1f s", reason.data,
							delay / 1000.0);
		sleep_ms(delay);
	}
	if (cl_interrupted)
		code = 0;

	sse_free(&parser);
	sb_free(&reason);
	free(url);
	return code;
}
