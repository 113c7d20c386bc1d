/*-------------------------------------------------------------------------
 *
 * http_ratelimit.c
 *	  Rate limits of POST /liveEvent, in events per second with a burst of
 *	  one second's worth (ratelimit.c's token buckets): per client address
 *	  (evproc.rate_limit_per_client) and per token (its rate_limit).  And
 *	  the limit of reads per client address, in requests per second
 *	  (evproc.read_rate_limit_per_client, http_ratelimit_read), buckets of
 *	  their own.
 *
 * A request is looked at twice.  Before its body is read
 * (http_ratelimit_open), it is refused if not even one event would fit
 * now, so that a client over its limit costs no reading or parsing.  Once
 * the body is parsed, and before intake journals anything
 * (http_ratelimit_take), its n events are taken from each bucket that
 * applies, or the request is refused whole and nothing is journaled:
 * 429 with Retry-After, or 413 if n is more than the burst (no wait would
 * help; evproc-client then splits the batch).  A request under both
 * limits and refused by one gets back what the other took.  The replies
 * carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset of the
 * limit closest to being reached.
 *
 * A client is its address; an IPv6 one by its /64 prefix (what one host
 * usually has to pick addresses from), an IPv4-mapped one as IPv4.  The
 * buckets are this worker's (memory allocated on first use, fixed in
 * size): with evproc.workers > 1, connections spread over the workers, so
 * a client's events may add up to the limit at each of them.
 *
 * Runs inside libmicrohttpd's callbacks: malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/clock.h"
#include "core/ratelimit.h"
#include "http/http_client.h"
#include "http/http_ratelimit.h"
#include "shared/settings.h"

#include <netinet/in.h>
#include <sys/random.h>

/* buckets kept: clients seen within a second or so, and tokens */
#define CLIENT_SLOTS		65536
#define TOKEN_SLOTS			4096

/* the buckets, by RateKind; NULL until needed */
static RateLimiter *tables[RATE_NKINDS];
static const uint32 table_slots[RATE_NKINDS] = {
	CLIENT_SLOTS, TOKEN_SLOTS, CLIENT_SLOTS
};

static const char *const limit_names[RATE_NKINDS] = {
	"from one client address (evproc.rate_limit_per_client)",
	"with this token (its rate_limit)",
	"from one client address (evproc.read_rate_limit_per_client)"
};

/* what each limit counts */
static const char *const limit_units[RATE_NKINDS] = {
	"events", "events", "requests"
};

/* table: kind's buckets, made on first use; NULL if out of memory */
static RateLimiter *
table(RateKind kind)
{
	if (tables[kind] == NULL)
	{
		uint64		seed;

		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
			seed = (uint64) monotonic_us() ^ ((uint64) getpid() << 32);
		tables[kind] = ratelimit_create(table_slots[kind], seed);
	}
	return tables[kind];
}

/*
 * note_headers keeps for the reply the RateLimit-* values of d if they are
 * the closest to the limit so far (or force: the limit that refused).
 */
static void
note_headers(HttpRequest *req, const RateDecision *d, bool force)
{
	if (force || !req->rate_headers || d->remaining < req->rate_remaining)
	{
		req->rate_headers = true;
		req->rate_limit = d->limit;
		req->rate_remaining = d->remaining;
		req->rate_reset = d->reset;
	}
}

/*
 * http_ratelimit_refund gives back what the limits took for req: it was
 * refused after all (another limit, or the journal could not be written).
 */
void
http_ratelimit_refund(HttpRequest *req)
{
	for (int k = 0; k < RATE_NKINDS; k++)
	{
		if (tables[k] != NULL)
			ratelimit_give_back(tables[k], &req->rate_taken[k]);
		memset(&req->rate_taken[k], 0, sizeof(RateCharge));
	}
}

/* refuse decides the reply to a request over a limit of kind */
static void
refuse(HttpRequest *req, RateKind kind, const RateDecision *d, uint32 n)
{
	char		msg[256];

	note_headers(req, d, true);
	/* what another limit took for this request is not used after all */
	http_ratelimit_refund(req);
	if (d->never)
	{
		snprintf(msg, sizeof(msg),
				 "the batch has %u events, more than the %u per second allowed %s; send smaller batches",
				 n, d->limit, limit_names[kind]);
		request_set_error(req, MHD_HTTP_CONTENT_TOO_LARGE, msg);
		return;
	}
	snprintf(msg, sizeof(msg),
			 "rate limit exceeded: at most %u %s per second %s; retry after %u s",
			 d->limit, limit_units[kind], limit_names[kind], d->retry_after);
	request_set_error(req, MHD_HTTP_TOO_MANY_REQUESTS, msg);
	req->retry_after = (int) Max(d->retry_after, 1);
}

/*
 * http_ratelimit_open: may a request under kind's limit for key (rate
 * events per second; <= 0: none) be read?  False, with 429 decided, if
 * not even one event would fit now.  Nothing is taken.
 */
bool
http_ratelimit_open(HttpRequest *req, RateKind kind, const char *key,
					double rate)
{
	RateLimiter *rl;
	RateDecision d;

	if (rate <= 0 || key == NULL || (rl = table(kind)) == NULL)
		return true;
	d = ratelimit_peek(rl, key, rate, 1, monotonic_us());
	if (d.allowed)
		return true;
	refuse(req, kind, &d, 1);
	return false;
}

/*
 * http_ratelimit_take takes n events (a parsed request's) from kind's
 * bucket for key (rate events per second; <= 0: no limit).  False, with
 * the reply decided (429, or 413 if n can never fit) and whatever other
 * limits took for the request given back, if they do not all fit.  Out of
 * memory for the buckets, nothing is limited.
 */
bool
http_ratelimit_take(HttpRequest *req, RateKind kind, const char *key,
					double rate, uint32 n)
{
	RateLimiter *rl;
	RateDecision d;

	if (rate <= 0 || key == NULL || (rl = table(kind)) == NULL)
		return true;
	d = ratelimit_take(rl, key, rate, n, monotonic_us(),
					   &req->rate_taken[kind]);
	if (!d.allowed)
	{
		refuse(req, kind, &d, n);
		return false;
	}
	note_headers(req, &d, false);
	return true;
}

/* token_key: the key of req's token's bucket, NULL if it has no limit */
static const char *
token_key(HttpRequest *req)
{
	return req->auth.rate_limit > 0 && req->auth.name[0] != '\0' ?
		req->auth.name : NULL;
}

/*
 * http_ratelimit_request_open: http_ratelimit_open for the limits that
 * apply to req: its client's (evproc.rate_limit_per_client) and its
 * token's (evproc.tokens.rate_limit).
 */
bool
http_ratelimit_request_open(HttpRequest *req)
{
	char		key[INET6_ADDRSTRLEN + 4];

	if (evproc_rate_limit_per_client > 0 &&
		client_key(req->conn, key, sizeof(key)) &&
		!http_ratelimit_open(req, RATE_CLIENT, key, evproc_rate_limit_per_client))
		return false;
	return http_ratelimit_open(req, RATE_TOKEN, token_key(req),
							   req->auth.rate_limit);
}

/*
 * http_ratelimit_request_take: http_ratelimit_take of n events for both
 * limits; if the second refuses, the first one's charge is given back.
 */
bool
http_ratelimit_request_take(HttpRequest *req, uint32 n)
{
	char		key[INET6_ADDRSTRLEN + 4];

	if (evproc_rate_limit_per_client > 0 &&
		client_key(req->conn, key, sizeof(key)) &&
		!http_ratelimit_take(req, RATE_CLIENT, key, evproc_rate_limit_per_client, n))
		return false;
	return http_ratelimit_take(req, RATE_TOKEN, token_key(req),
							   req->auth.rate_limit, n);
}

/*
 * http_ratelimit_read takes one request from the read limit of req's
 * client (evproc.read_rate_limit_per_client): false, with 429 and
 * Retry-After decided, if it is over it.
 */
bool
http_ratelimit_read(HttpRequest *req)
{
	char		key[INET6_ADDRSTRLEN + 4];

	if (evproc_read_rate_limit_per_client <= 0 ||
		!client_key(req->conn, key, sizeof(key)))
		return true;
	return http_ratelimit_take(req, RATE_READ, key,
							   evproc_read_rate_limit_per_client, 1);
}

/* http_ratelimit_stop frees the buckets (the HTTP server stops) */
void
http_ratelimit_stop(void)
{
	for (int k = 0; k < RATE_NKINDS; k++)
	{
		ratelimit_free(tables[k]);
		tables[k] = NULL;
	}
}
