/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  The worker's counters, gauges and histograms, and their rendering in
 *	  Prometheus's text exposition format (version 0.0.4) for GET /metrics.
 *
 * The modules report what happened (a request answered, a group commit, a
 * file ingested); the worker sets the gauges once a pass.  Counters live
 * in the worker's memory and start again from zero when the worker
 * restarts (Prometheus's rate() takes such resets in its stride).  With
 * several workers every series carries a "worker" label, and each worker
 * answers for itself: scrape each one (they share the port, so a scrape
 * reaches one of them), or read evproc's SQL views (not built yet).
 *
 * Backend-free: rendering runs inside libmicrohttpd's callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTGRES_H
#error "metrics.c is backend-free: it must not include PostgreSQL backend headers"
#endif

#define NBUCKETS	13
static const double buckets[NBUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
};

typedef struct Histogram
{
	uint64_t	counts[NBUCKETS];	/* not cumulative: per bucket */
	uint64_t	count;
	double		sum;
} Histogram;

/* the HTTP statuses counted one by one; others fall in 0 ("other") */
#define NCODES		16
static const unsigned int codes[NCODES] = {
	101, 200, 400, 401, 403, 404, 405, 413, 429, 431, 500, 503, 0
};

static const char *const route_names[MR_NROUTES] = {
	"liveEvent", "userEvents", "stream", "health", "metrics", "other"
};

static char worker_label[32] = "";	/* ",worker=\"N\"" or "" */
static char worker_only[32] = "";	/* "{worker=\"N\"}" or "" */
static uint64_t requests[MR_NROUTES][NCODES];
static Histogram durations[MR_NROUTES];
static uint64_t accepted_total;
static uint64_t duplicate_total;
static uint64_t journal_bytes_total;
static Histogram fsync_seconds;
static uint64_t ingested_total;
static uint64_t rejected_total;
static uint64_t ingest_errors_total;
static MetricGauges gauges;

/* metrics_set_worker labels every series with the worker, if several run */
void
metrics_set_worker(int worker_index, int nworkers)
{
	if (nworkers > 1)
	{
		snprintf(worker_label, sizeof(worker_label), ",worker=\"%d\"", worker_index);
		snprintf(worker_only, sizeof(worker_only), "{worker=\"%d\"}", worker_index);
	}
}

static void
observe(Histogram *h, double seconds)
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
metrics_request(MetricRoute route, unsigned int status, double seconds)
{
	int			c = 0;

	while (codes[c] != 0 && codes[c] != status)
		c++;
	requests[route][c]++;
	observe(&durations[route], seconds);
}

void
metrics_accepted(long events, long duplicates)
{
	accepted_total += (uint64_t) events;
	if (duplicates > 0)
		duplicate_total += (uint64_t) duplicates;
}

void
metrics_journal_flush(uint64_t bytes, double seconds)
{
	journal_bytes_total += bytes;
	observe(&fsync_seconds, seconds);
}

void
metrics_ingested(int64_t events, int64_t rejected)
{
	ingested_total += (uint64_t) events;
	rejected_total += (uint64_t) rejected;
}

void
metrics_ingest_error(void)
{
	ingest_errors_total++;
}

void
metrics_gauges(const MetricGauges *g)
{
	gauges = *g;
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

/* histogram writes a histogram's series; labels: "" or "route=\"x\"" */
static void
histogram(Out *o, const char *name, const char *labels, const Histogram *h)
{
	uint64_t	cumulative = 0;
	const char *sep = labels[0] != '\0' ? "," : "";

	for (int i = 0; i < NBUCKETS; i++)
	{
		cumulative += h->counts[i];
		put(o, "%s_bucket{%s%sle=\"%g\"%s} %llu\n", name, labels, sep,
			buckets[i], worker_label, (unsigned long long) cumulative);
	}
	put(o, "%s_bucket{%s%sle=\"+Inf\"%s} %llu\n", name, labels, sep,
		worker_label, (unsigned long long) h->count);
	if (labels[0] != '\0' || worker_label[0] != '\0')
	{
		put(o, "%s_sum{%s%s} %.9g\n", name, labels,
			labels[0] != '\0' ? worker_label : worker_label + 1, h->sum);
		put(o, "%s_count{%s%s} %llu\n", name, labels,
			labels[0] != '\0' ? worker_label : worker_label + 1,
			(unsigned long long) h->count);
	}
	else
	{
		put(o, "%s_sum %.9g\n", name, h->sum);
		put(o, "%s_count %llu\n", name, (unsigned long long) h->count);
	}
}

static void
counter(Out *o, const char *name, const char *help, uint64_t value)
{
	header(o, name, "counter", help);
	put(o, "%s%s %llu\n", name, worker_only, (unsigned long long) value);
}

static void
gauge(Out *o, const char *name, const char *help, double value)
{
	header(o, name, "gauge", help);
	put(o, "%s%s %.9g\n", name, worker_only, value);
}

/*
 * metrics_render writes the exposition (malloc'd, *len bytes), or returns
 * NULL out of memory.
 */
char *
metrics_render(size_t *len)
{
	Out			o = {malloc(16384), 0, 16384, false};

	if (o.buf == NULL)
		return NULL;
	header(&o, "evproc_http_requests_total", "counter",
		   "HTTP requests answered, by route and status code (code=\"other\": any other).");
	for (int r = 0; r < MR_NROUTES; r++)
		for (int c = 0; c < NCODES; c++)
		{
			if (requests[r][c] == 0 && !(c == 1 && r == MR_EVENTS))
				continue;
			if (codes[c] == 0)
				put(&o, "evproc_http_requests_total{route=\"%s\",code=\"other\"%s} %llu\n",
					route_names[r], worker_label, (unsigned long long) requests[r][c]);
			else
				put(&o, "evproc_http_requests_total{route=\"%s\",code=\"%u\"%s} %llu\n",
					route_names[r], codes[c], worker_label,
					(unsigned long long) requests[r][c]);
			if (codes[c] == 0)
				break;
		}
	header(&o, "evproc_http_request_duration_seconds", "histogram",
		   "Time from a request's headers to its reply being queued, by route.");
	for (int r = 0; r < MR_NROUTES; r++)
	{
		char		labels[64];

		if (durations[r].count == 0 && r != MR_EVENTS)
			continue;
		snprintf(labels, sizeof(labels), "route=\"%s\"", route_names[r]);
		histogram(&o, "evproc_http_request_duration_seconds", labels, &durations[r]);
	}
	counter(&o, "evproc_events_accepted_total",
			"Events acknowledged (200), duplicates included.", accepted_total);
	counter(&o, "evproc_events_duplicate_total",
			"Acknowledged events whose eventId was seen recently: not journaled again.",
			duplicate_total);
	counter(&o, "evproc_journal_bytes_total",
			"Bytes made durable in the journal.", journal_bytes_total);
	header(&o, "evproc_journal_fsync_seconds", "histogram",
		   "Time of each group commit's write and fdatasync.");
	histogram(&o, "evproc_journal_fsync_seconds", "", &fsync_seconds);
	gauge(&o, "evproc_ingest_backlog_files",
		  "Archived journal files waiting to be ingested.", gauges.backlog_files);
	gauge(&o, "evproc_ingest_backlog_bytes",
		  "Bytes acknowledged and not yet counted: files waiting and the active journal.",
		  (double) gauges.backlog_bytes);
	gauge(&o, "evproc_ingest_lag_seconds",
		  "Age of the oldest acknowledged event not yet counted (0 if none).",
		  gauges.ingest_lag_seconds);
	counter(&o, "evproc_ingested_events_total",
			"Valid events of the files ingested (duplicates included).", ingested_total);
	counter(&o, "evproc_rejected_lines_total",
			"Lines of ingested files that were not valid events.", rejected_total);
	counter(&o, "evproc_ingest_errors_total",
			"Failed attempts to ingest a file (each retried after a back-off).",
			ingest_errors_total);
	gauge(&o, "evproc_connections", "Open HTTP connections.", gauges.connections);
	gauge(&o, "evproc_stream_subscribers", "Open live-update streams.",
		  gauges.subscribers);
	if (o.failed)
	{
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
