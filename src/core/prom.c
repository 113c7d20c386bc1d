/*-------------------------------------------------------------------------
 *
 * prom.c
 *	  The worker's Prometheus series (counters, gauges and histograms), and
 *	  their rendering in Prometheus's text exposition format (version
 *	  0.0.4) for GET /metrics.  "prom", not "metrics": in evproc a metric
 *	  is a user's (evproc.user_metrics).
 *
 * The modules report what happened (a request answered, a group commit, a
 * file ingested); the worker sets the gauges once a pass.  Each worker's
 * values live in shared memory (placed by status.c), so its counters
 * survive the worker's restarts and start from zero only when the server
 * does; before prom_attach (unit tests) they live here.  With several
 * workers every series carries a "worker" label, and a scrape, whichever
 * worker it reaches, shows every worker's series.
 *
 * Backend-free: rendering runs inside libmicrohttpd's callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "core/prom.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTGRES_H
#error "prom.c is backend-free: it must not include PostgreSQL backend headers"
#endif

#define NBUCKETS	PROM_NBUCKETS
static const double buckets[NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

/* the HTTP statuses counted one by one; others fall in 0 ("other") */
#define NCODES		PROM_NCODES
static const unsigned int codes[NCODES] = {
	101, 200, 400, 401, 403, 404, 405, 413, 415, 429, 431, 500, 503, 0
};

static const char *const route_names[PR_NROUTES] = {
	"liveEvent", "userEvents", "stream", "health", "metrics", "other"
};

static PromValues local;	/* until prom_attach */
static PromValues *all = &local;	/* every worker's, nall of them */
static int	nall = 1;
static PromValues *m = &local;	/* this worker's */

/*
 * prom_attach makes all[worker_index] this worker's values, and
 * all[0 .. nworkers - 1] what a scrape shows.
 */
void
prom_attach(PromValues *workers, int nworkers, int worker_index)
{
	all = workers;
	nall = nworkers;
	m = &workers[worker_index];
}

static void
observe(PromHistogram *h, double seconds)
{
	int			i = 0;

	while (i < NBUCKETS && seconds > buckets[i])
		i++;
	if (i < NBUCKETS)
		h->counts[i]++;
	h->count++;
	h->sum += seconds;
}

void
prom_request(PromRoute route, unsigned int status, double seconds)
{
	int			c = 0;

	while (codes[c] != 0 && codes[c] != status)
		c++;
	m->requests[route][c]++;
	observe(&m->durations[route], seconds);
}

void
prom_accepted(long events, long duplicates)
{
	m->accepted_total += (uint64_t) events;
	if (duplicates > 0)
		m->duplicate_total += (uint64_t) duplicates;
}

void
prom_journal_flush(uint64_t bytes, double seconds)
{
	m->journal_bytes_total += bytes;
	observe(&m->fsync_seconds, seconds);
}

void
prom_ingested(int64_t events, int64_t rejected)
{
	m->ingested_total += (uint64_t) events;
	m->rejected_total += (uint64_t) rejected;
}

void
prom_ingest_error(void)
{
	m->ingest_errors_total++;
}

void
prom_gauges(const PromGauges *g)
{
	m->gauges = *g;
}

/* prom_requests_total: the HTTP requests m has answered, all routes */
uint64_t
prom_requests_total(const PromValues *w)
{
	uint64_t	n = 0;

	for (int r = 0; r < PR_NROUTES; r++)
		for (int c = 0; c < NCODES; c++)
			n += w->requests[r][c];
	return n;
}

/* A growing text buffer (malloc). */
typedef struct Out
{
	char	   *buf;
	size_t		len;
	size_t		cap;
	bool		failed;
} Out;

static void put(Out *o, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
put(Out *o, const char *fmt,...)
{
	va_list		ap;
	int			n;

	if (o->failed)
		return;
	for (;;)
	{
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0)
		{
			o->failed = true;
			return;
		}
		if ((size_t) n < o->cap - o->len)
		{
			o->len += (size_t) n;
			return;
		}
		{
			size_t		cap = o->cap * 2 + (size_t) n;
			char	   *buf = realloc(o->buf, cap);

			if (buf == NULL)
			{
				o->failed = true;
				return;
			}
			o->buf = buf;
			o->cap = cap;
		}
	}
}

static void
header(Out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * labels writes a series' label set for worker w: the given labels (""
 * or e.g. "route=\"x\""), then the worker's if several run; nothing at all
 * when both are empty.
 */
static void
labels(Out *o, int w, const char *given)
{
	if (nall > 1)
		put(o, "{%s%sworker=\"%d\"}", given, given[0] != '\0' ? "," : "", w);
	else if (given[0] != '\0')
		put(o, "{%s}", given);
}

/* histogram writes worker w's series of a histogram */
static void
histogram(Out *o, const char *name, int w, const char *given,
		  const PromHistogram *h)
{
	uint64_t	cumulative = 0;
	char		le[96];

	for (int i = 0; i <= NBUCKETS; i++)
	{
		if (i < NBUCKETS)
		{
			cumulative += h->counts[i];
			snprintf(le, sizeof(le), "%s%sle=\"%g\"", given,
					 given[0] != '\0' ? "," : "", buckets[i]);
		}
		else
			snprintf(le, sizeof(le), "%s%sle=\"+Inf\"", given,
					 given[0] != '\0' ? "," : "");
		put(o, "%s_bucket", name);
		labels(o, w, le);
		put(o, " %llu\n", (unsigned long long) (i < NBUCKETS ? cumulative : h->count));
	}
	put(o, "%s_sum", name);
	labels(o, w, given);
	put(o, " %.9g\n%s_count", h->sum, name);
	labels(o, w, given);
	put(o, " %llu\n", (unsigned long long) h->count);
}

/* counter writes a counter's family: one series per worker */
static void
counter(Out *o, const char *name, const char *help, size_t offset)
{
	header(o, name, "counter", help);
	for (int w = 0; w < nall; w++)
	{
		put(o, "%s", name);
		labels(o, w, "");
		put(o, " %llu\n", (unsigned long long)
			*(const uint64_t *) ((const char *) &all[w] + offset));
	}
}

#define COUNTER(o, name, field, help) \
	counter(o, name, help, offsetof(PromValues, field))

/* gauge writes a gauge's family: one series per worker, read by get */
static void
gauge(Out *o, const char *name, const char *help, double (*get) (const PromValues *))
{
	header(o, name, "gauge", help);
	for (int w = 0; w < nall; w++)
	{
		put(o, "%s", name);
		labels(o, w, "");
		put(o, " %.9g\n", get(&all[w]));
	}
}

static double
g_files(const PromValues *w)
{
	return w->gauges.backlog_files;
}

static double
g_bytes(const PromValues *w)
{
	return (double) w->gauges.backlog_bytes;
}

static double
g_lag(const PromValues *w)
{
	return w->gauges.ingest_lag_seconds;
}

static double
g_connections(const PromValues *w)
{
	return w->gauges.connections;
}

static double
g_subscribers(const PromValues *w)
{
	return w->gauges.subscribers;
}

/*
 * prom_render writes the exposition (malloc'd, *len bytes), or returns
 * NULL out of memory.
 */
char *
prom_render(size_t *len)
{
	Out			o = {malloc(16384), 0, 16384, false};

	if (o.buf == NULL)
		return NULL;
	header(&o, "evproc_http_requests_total", "counter",
		   "HTTP requests answered, by route and status code (code=\"other\": any other).");
	for (int w = 0; w < nall; w++)
		for (int r = 0; r < PR_NROUTES; r++)
			for (int c = 0; c < NCODES; c++)
			{
				char		given[64];

				if (all[w].requests[r][c] == 0 && !(c == 1 && r == PR_EVENTS))
					continue;
				if (codes[c] == 0)
					snprintf(given, sizeof(given), "route=\"%s\",code=\"other\"",
							 route_names[r]);
				else
					snprintf(given, sizeof(given), "route=\"%s\",code=\"%u\"",
							 route_names[r], codes[c]);
				put(&o, "evproc_http_requests_total");
				labels(&o, w, given);
				put(&o, " %llu\n", (unsigned long long) all[w].requests[r][c]);
				if (codes[c] == 0)
					break;
			}
	header(&o, "evproc_http_request_duration_seconds", "histogram",
		   "Time from a request's headers to its reply being queued, by route.");
	for (int w = 0; w < nall; w++)
		for (int r = 0; r < PR_NROUTES; r++)
		{
			char		given[64];

			if (all[w].durations[r].count == 0 && r != PR_EVENTS)
				continue;
			snprintf(given, sizeof(given), "route=\"%s\"", route_names[r]);
			histogram(&o, "evproc_http_request_duration_seconds", w, given,
					  &all[w].durations[r]);
		}
	COUNTER(&o, "evproc_events_accepted_total", accepted_total,
			"Events acknowledged (200), duplicates included.");
	COUNTER(&o, "evproc_events_duplicate_total", duplicate_total,
			"Acknowledged events whose eventId was seen recently: not journaled again.");
	COUNTER(&o, "evproc_journal_bytes_total", journal_bytes_total,
			"Bytes made durable in the journal.");
	header(&o, "evproc_journal_fsync_seconds", "histogram",
		   "Time of each group commit's write and fdatasync.");
	for (int w = 0; w < nall; w++)
		histogram(&o, "evproc_journal_fsync_seconds", w, "", &all[w].fsync_seconds);
	gauge(&o, "evproc_ingest_backlog_files",
		  "Archived journal files waiting to be ingested.", g_files);
	gauge(&o, "evproc_ingest_backlog_bytes",
		  "Bytes acknowledged and not yet counted: files waiting and the active journal.",
		  g_bytes);
	gauge(&o, "evproc_ingest_lag_seconds",
		  "Age of the oldest acknowledged event not yet counted (0 if none).", g_lag);
	COUNTER(&o, "evproc_ingested_events_total", ingested_total,
			"Valid events of the files ingested (duplicates included).");
	COUNTER(&o, "evproc_rejected_lines_total", rejected_total,
			"Lines of ingested files that were not valid events.");
	COUNTER(&o, "evproc_ingest_errors_total", ingest_errors_total,
			"Failed attempts to ingest a file (each retried after a back-off).");
	gauge(&o, "evproc_connections", "Open HTTP connections.", g_connections);
	gauge(&o, "evproc_stream_subscribers", "Open live-update streams.",
		  g_subscribers);
	if (o.failed)
	{
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
