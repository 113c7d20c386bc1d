/*-------------------------------------------------------------------------
 *
 * client.h
 *	  Settings of an evproc-client run, the commands that talk to the
 *	  server, and their common HTTP plumbing (transport.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_CLIENT_H
#define EVPROC_CLIENT_CLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "strbuf.h"

#define CLIENT_VERSION			"1.0"
#define CLIENT_DEFAULT_URL		"http://127.0.0.1:8000"

/* largest server reply that is read (replies are a few dozen bytes) */
#define HTTP_MAX_REPLY			(1024 * 1024)

typedef struct ClientConfig
{
	const char *url;			/* base URL, e.g. http://127.0.0.1:8000 */
	const char *token;			/* bearer token, or NULL */
	long		timeout_ms;		/* whole request, connection included */
	int			max_retries;	/* retries per request (watch: -1 for
								 * no limit) */
	int			batch_size;		/* events per request */
	int			concurrency;	/* requests in flight */
	size_t		max_batch_bytes;	/* body size that closes a batch */
	bool		progress;		/* report progress on stderr */
	bool		compress;		/* send: gzip the request bodies */
} ClientConfig;

/* set by SIGINT/SIGTERM */
extern volatile sig_atomic_t cl_interrupted;

/* send.c */
extern int	cmd_send(const ClientConfig *cfg, const char *path);

/* revenue_cmd.c */
extern int	cmd_revenue(const ClientConfig *cfg, const char *user);

/* watch.c */
typedef struct WatchOptions
{
	const char *user;			/* watch USER, or NULL for --all */
	const char *users;			/* --all --users a,b (NULL: every user) */
	const char *since;			/* --since N: first Last-Event-ID, or NULL */
} WatchOptions;

extern int	cmd_watch(const ClientConfig *cfg, const WatchOptions *opts);

/* room for a reason: curl's error text and what is said around it */
#define REASON_BUFSZ		(CURL_ERROR_SIZE + 512)

/* transport.c */
extern int64_t now_ms(void);
extern void sleep_ms(int64_t ms);
extern struct curl_slist *http_headers(const ClientConfig *cfg,
									   const char *content_type);
extern struct curl_slist *http_stream_headers(const ClientConfig *cfg,
											  const char *last_id);
extern CURL *http_easy(const ClientConfig *cfg, const char *url,
					   struct curl_slist *headers, StrBuf *reply,
					   char *errbuf);
extern void http_reply_info(CURL *h, long *status, int64_t *retry_after_ms);
extern void http_describe_error(CURLcode rc, const char *errbuf,
								const char *url, long timeout_ms,
								char *out, size_t outlen);

#endif							/* EVPROC_CLIENT_CLIENT_H */
