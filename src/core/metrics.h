/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  The worker's counters, gauges and histograms, and GET /metrics in
 *	  Prometheus's text exposition format.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_METRICS_H
#define EVPROC_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum MetricRoute
{
	MR_EVENTS,					/* POST /liveEvent */
	MR_LOOKUP,					/* GET /userEvents/:userId */
	MR_STREAM,					/* the live-update streams */
	MR_HEALTH,					/* /health, /ready */
	MR_METRICS,					/* /metrics */
	MR_OTHER,
	MR_NROUTES
} MetricRoute;

/* gauges the worker sets */
typedef struct MetricGauges
{
	uint64_t	backlog_bytes;
	int			backlog_files;
	double		ingest_lag_seconds;
	int			connections;
	int			subscribers;
} MetricGauges;

#define METRICS_NBUCKETS	13
#define METRICS_NCODES		16

typedef struct MetricHistogram
{
	uint64_t	counts[METRICS_NBUCKETS];	/* not cumulative: per bucket */
	uint64_t	count;
	double		sum;
} MetricHistogram;

/*
 * One worker's metrics.  The worker keeps them in shared memory (status.c),
 * so that counters survive its restarts and anyone can read them: each
 * field is written by that worker only, as one aligned 8-byte store, and a
 * reader may see a histogram's buckets a request apart from its count.
 */
typedef struct Metrics
{
	uint64_t	requests[MR_NROUTES][METRICS_NCODES];
	MetricHistogram durations[MR_NROUTES];
	uint64_t	accepted_total;
	uint64_t	duplicate_total;
	uint64_t	journal_bytes_total;
	MetricHistogram fsync_seconds;
	uint64_t	ingested_total;
	uint64_t	rejected_total;
	uint64_t	ingest_errors_total;
	MetricGauges gauges;
} Metrics;

/* the worker: where its metrics live, and those of all workers */
extern void metrics_attach(Metrics *all, int nworkers, int worker_index);

/* what happened, counted in this worker's metrics */
extern void metrics_request(MetricRoute route, unsigned int status,
							double seconds);
extern void metrics_accepted(long events, long duplicates);
extern void metrics_journal_flush(uint64_t bytes, double seconds);
extern void metrics_ingested(int64_t events, int64_t rejected);
extern void metrics_ingest_error(void);
extern void metrics_gauges(const MetricGauges *gauges);

/* reading */
extern uint64_t metrics_requests_total(const Metrics *m);
extern char *metrics_render(size_t *len);

#endif							/* EVPROC_METRICS_H */
