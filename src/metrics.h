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

extern void metrics_set_worker(int worker_index, int nworkers);
extern void metrics_request(MetricRoute route, unsigned int status,
							double seconds);
extern void metrics_accepted(long events, long duplicates);
extern void metrics_journal_flush(uint64_t bytes, double seconds);
extern void metrics_ingested(int64_t events, int64_t rejected);
extern void metrics_ingest_error(void);
extern void metrics_gauges(const MetricGauges *gauges);
extern char *metrics_render(size_t *len);

#endif							/* EVPROC_METRICS_H */
