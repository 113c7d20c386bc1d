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
 * workers every series carries a "worker" label (but those shown once,
 * such as evproc_build_info), and a scrape, whichever worker it reaches,
 * shows every worker's series.
 *
 * The series are the rows of a table (series[], below), written by one
 * loop: a new one is a row plus the code that sets its value.
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

/*
 * The series, one row per family, in the order GET /metrics shows them;
 * prom_render writes them all in one loop.  A row gives: the family's name; its type;
 * its HELP text; its labels (PROM_PER_WORKER: one series per worker, with
 * a "worker" label when several run; PROM_PER_ROUTE and
 * PROM_PER_ROUTE_CODE: one per worker and route, and status code, shown
 * once it has counted something, liveEvent's (200) always so the family
 * is never empty; PROM_ONCE: one series whatever the workers, its labels
 * the row's fixed text); and where its value comes from: a field of
 * PromValues (its C type and offsetof) or a getter.  Adding a series is a
 * row here plus the code that sets its value.
 */
typedef enum PromType
{
	PROM_COUNTER,
	PROM_GAUGE,
	PROM_HISTOGRAM,
} PromType;

typedef enum PromLabels
{
	PROM_PER_WORKER,
	PROM_PER_ROUTE,				/* the field: an array [PR_NROUTES] */
	PROM_PER_ROUTE_CODE,		/* the field: [PR_NROUTES][NCODES] */
	PROM_ONCE,
} PromLabels;

typedef enum PromField
{
	PROM_U64,					/* uint64_t */
	PROM_INT,					/* int */
	PROM_DOUBLE,				/* double */
	PROM_HIST,					/* PromHistogram */
	PROM_GETTER,				/* no field: the row's getter */
} PromField;

typedef struct PromSeries
{
	const char *name;
	PromType	type;
	const char *help;
	PromLabels	labels;
	const char *fixed;			/* PROM_ONCE: its labels, e.g. a="x" */
	PromField	field;
	size_t		offset;			/* of the field in PromValues */
	double		(*get) (const PromValues *w);	/* PROM_GETTER */
} PromSeries;

/* a row whose value is a field of PromValues, of C type kind */
#define ROW(name, type, labels, kind, field, help) \
	{name, type, help, labels, NULL, kind, offsetof(PromValues, field), NULL}
/* a row whose value is get's (fixed: PROM_ONCE's labels, else NULL) */
#define ROW_GET(name, type, labels, fixed, get, help) \
	{name, type, help, labels, fixed, PROM_GETTER, 0, get}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* evproc_build_info: its labels (prom_build_info), and its value, 1 */
static char build_labels[512];

static double
build_info(const PromValues *w)
{
	(void) w;
	return 1;
}

static const PromSeries series[] = {
	ROW("evproc_http_requests_total", PROM_COUNTER, PROM_PER_ROUTE_CODE,
		PROM_U64, requests,
		"HTTP requests answered, by route and status code (code=\"other\": any other)."),
	ROW("evproc_http_request_duration_seconds", PROM_HISTOGRAM, PROM_PER_ROUTE,
		PROM_HIST, durations,
		"Time from a request's headers to its reply being queued, by route."),
	ROW("evproc_events_accepted_total", PROM_COUNTER, PROM_PER_WORKER,
		PROM_U64, accepted_total,
		"Events acknowledged (200), duplicates included."),
	ROW("evproc_events_duplicate_total", PROM_COUNTER, PROM_PER_WORKER,
		PROM_U64, duplicate_total,
		"Acknowledged events whose eventId was seen recently: not journaled again."),
	ROW("evproc_journal_bytes_total", PROM_COUNTER, PROM_PER_WORKER,
		PROM_U64, journal_bytes_total,
		"Bytes made durable in the journal."),
	ROW("evproc_journal_fsync_seconds", PROM_HISTOGRAM, PROM_PER_WORKER,
		PROM_HIST, fsync_seconds,
		"Time of each group commit's write and fdatasync."),
	ROW("evproc_ingest_backlog_files", PROM_GAUGE, PROM_PER_WORKER,
		PROM_INT, gauges.backlog_files,
		"Archived journal files waiting to be ingested."),
	ROW("evproc_ingest_backlog_bytes", PROM_GAUGE, PROM_PER_WORKER,
		PROM_U64, gauges.backlog_bytes,
		"Bytes acknowledged and not yet counted: files waiting and the active journal."),
	ROW("evproc_ingest_lag_seconds", PROM_GAUGE, PROM_PER_WORKER,
		PROM_DOUBLE, gauges.ingest_lag_seconds,
		"Age of the oldest acknowledged event not yet counted (0 if none)."),
	ROW("evproc_ingested_events_total", PROM_COUNTER, PROM_PER_WORKER,
		PROM_U64, ingested_total,
		"Valid events of the files ingested (duplicates included)."),
	ROW("evproc_rejected_lines_total", PROM_COUNTER, PROM_PER_WORKER,
		PROM_U64, rejected_total,
		"Lines of ingested files that were not valid events."),
	ROW("evproc_ingest_errors_total", PROM_COUNTER, PROM_PER_WORKER,
		PROM_U64, ingest_errors_total,
		"Failed attempts to ingest a file (each retried after a back-off)."),
	ROW("evproc_connections", PROM_GAUGE, PROM_PER_WORKER,
		PROM_INT, gauges.connections,
		"Open HTTP connections."),
	ROW("evproc_stream_subscribers", PROM_GAUGE, PROM_PER_WORKER,
		PROM_INT, gauges.subscribers,
		"Open live-update streams."),
	ROW_GET("evproc_build_info", PROM_GAUGE, PROM_ONCE, build_labels, build_info,
			"Always 1: the versions of evproc and of what it runs with, as labels."),
};

/*
 * labels writes a series' label set for worker w: the given labels (""
 * or e.g. "route=\"x\""), then the worker's if several run (w >= 0);
 * nothing at all when both are empty.
 */
static void
labels(Out *o, int w, const char *given)
{
	if (nall > 1 && w >= 0)
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

/* field_size: the size of one value of a field (of an array's element) */
static size_t
field_size(PromField field)
{
	switch (field)
	{
		case PROM_U64:
			return sizeof(uint64_t);
		case PROM_INT:
			return sizeof(int);
		case PROM_DOUBLE:
			return sizeof(double);
		case PROM_HIST:
			return sizeof(PromHistogram);
		case PROM_GETTER:
			break;
	}
	return 0;
}

/*
 * value reads the value of row s at p (in worker v's values), as a
 * double; a histogram's is its count.
 */
static double
value(const PromSeries *s, const PromValues *v, const char *p)
{
	switch (s->field)
	{
		case PROM_U64:
			return (double) *(const uint64_t *) p;
		case PROM_INT:
			return *(const int *) p;
		case PROM_DOUBLE:
			return *(const double *) p;
		case PROM_HIST:
			return (double) ((const PromHistogram *) p)->count;
		case PROM_GETTER:
			return s->get(v);
	}
	return 0;
}

/*
 * one writes one series of row s: its value at p in worker w's values v
 * (w < 0: no worker label), with the given labels.  A counter's is an
 * integer, a gauge's any number.
 */
static void
one(Out *o, const PromSeries *s, int w, const PromValues *v, const char *p,
	const char *given)
{
	if (s->type == PROM_HISTOGRAM)
	{
		histogram(o, s->name, w, given, (const PromHistogram *) p);
		return;
	}
	put(o, "%s", s->name);
	labels(o, w, given);
	if (s->type == PROM_COUNTER && s->field == PROM_U64)
		put(o, " %llu\n", (unsigned long long) *(const uint64_t *) p);
	else if (s->type == PROM_COUNTER)
		put(o, " %llu\n", (unsigned long long) value(s, v, p));
	else
		put(o, " %.9g\n", value(s, v, p));
}

/*
 * route_labels writes into given the labels of series i of a row
 * PROM_PER_ROUTE or PROM_PER_ROUTE_CODE (its value is element i of the
 * row's array), and in *always whether it is shown even at 0 (liveEvent's,
 * 200); false when element i is no series (past code "other").
 */
static bool
route_labels(PromLabels kind, int i, char *given, size_t size, bool *always)
{
	int			r = kind == PROM_PER_ROUTE ? i : i / NCODES;
	int			c = kind == PROM_PER_ROUTE ? 0 : i % NCODES;

	if (kind == PROM_PER_ROUTE_CODE && c > 0 && codes[c - 1] == 0)
		return false;
	*always = r == PR_EVENTS && (kind == PROM_PER_ROUTE || codes[c] == 200);
	if (kind == PROM_PER_ROUTE)
		snprintf(given, size, "route=\"%s\"", route_names[r]);
	else if (codes[c] == 0)
		snprintf(given, size, "route=\"%s\",code=\"other\"", route_names[r]);
	else
		snprintf(given, size, "route=\"%s\",code=\"%u\"", route_names[r], codes[c]);
	return true;
}

/* family writes row s: its HELP and TYPE, then its series */
static void
family(Out *o, const PromSeries *s)
{
	int			n = s->labels == PROM_PER_ROUTE ? PR_NROUTES :
		s->labels == PROM_PER_ROUTE_CODE ? PR_NROUTES * NCODES : 1;

	put(o, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name,
		type_names[s->type]);
	if (s->labels == PROM_ONCE)
	{
		one(o, s, -1, &all[0], (const char *) &all[0] + s->offset,
			s->fixed != NULL ? s->fixed : "");
		return;
	}
	for (int w = 0; w < nall; w++)
		for (int i = 0; i < n; i++)
		{
			const char *p = (const char *) &all[w] + s->offset +
				(size_t) i * field_size(s->field);
			char		given[64] = "";
			bool		always = true;

			if (s->labels != PROM_PER_WORKER &&
				!route_labels(s->labels, i, given, sizeof(given), &always))
				continue;
			if (always || value(s, &all[w], p) != 0)
				one(o, s, w, &all[w], p, given);
		}
}

/*
 * label_value copies src into dst as a label value, with '_' for a quote, a
 * backslash or a control character.
 */
static void
label_value(char *dst, size_t size, const char *src)
{
	size_t		i;

	for (i = 0; src[i] != '\0' && i + 1 < size; i++)
		dst[i] = src[i] == '"' || src[i] == '\\' || (unsigned char) src[i] < ' ' ?
			'_' : src[i];
	dst[i] = '\0';
}

/*
 * prom_build_info sets evproc_build_info's labels: the versions of evproc,
 * PostgreSQL, libmicrohttpd and the TLS library.
 */
void
prom_build_info(const char *version, const char *postgresql,
				const char *libmicrohttpd, const char *tls)
{
	char		v[4][96];

	label_value(v[0], sizeof(v[0]), version);
	label_value(v[1], sizeof(v[1]), postgresql);
	label_value(v[2], sizeof(v[2]), libmicrohttpd);
	label_value(v[3], sizeof(v[3]), tls);
	snprintf(build_labels, sizeof(build_labels),
			 "version=\"%s\",postgresql=\"%s\",libmicrohttpd=\"%s\",tls=\"%s\"",
			 v[0], v[1], v[2], v[3]);
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
	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		family(&o, &series[i]);
	if (o.failed)
	{
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
