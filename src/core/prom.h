/*-------------------------------------------------------------------------
 *
 * prom.h
 *	  The worker's Prometheus series (counters, gauges and histograms), and
 *	  GET /metrics in Prometheus's text exposition format.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_PROM_H
#define EVPROC_PROM_H

#include <stddef.h>
#include <stdint.h>

typedef enum PromRoute
{
	PR_EVENTS,					/* POST /liveEvent */
	PR_LOOKUP,					/* GET /userEvents/:userId */
	PR_STREAM,					/* the live-update streams */
	PR_HEALTH,					/* /health, /ready */
	PR_METRICS,					/* /metrics */
	PR_OTHER,
	PR_NROUTES
} PromRoute;

/* gauges the worker sets */
typedef struct PromGauges
{
	uint64_t	backlog_bytes;
	int			backlog_files;
	double		ingest_lag_seconds;
	int			connections;
	int			subscribers;
} PromGauges;

#define PROM_NBUCKETS	13
#define PROM_NCODES		16

typedef struct PromHistogram
{
	uint64_t	counts[PROM_NBUCKETS];	/* not cumulative: per bucket */
	uint64_t	count;
	double		sum;
} PromHistogram;

/*
 * One worker's values of the series.  The worker keeps them in shared memory (status.c),
 * so that counters survive its restarts and anyone can read them: each
 * field is written by that worker only, as one aligned 8-byte store, and a
 * reader may see a histogram's buckets a request apart from its count.
 */
typedef struct PromValues
{
	uint64_t	requests[PR_NROUTES][PROM_NCODES];
	PromHistogram durations[PR_NROUTES];
	uint64_t	accepted_total;
	uint64_t	duplicate_total;
	uint64_t	journal_bytes_total;
	PromHistogram fsync_seconds;
	uint64_t	ingested_total;
	uint64_t	rejected_total;
	uint64_t	ingest_errors_total;
	PromGauges	gauges;
} PromValues;

/* the worker: where its values live, and those of all workers */
extern void prom_attach(PromValues *all, int nworkers, int worker_index);

/* what happened, counted in this worker's values */
extern void prom_request(PromRoute route, unsigned int status,
						 double seconds);
extern void prom_accepted(long events, long duplicates);
extern void prom_journal_flush(uint64_t bytes, double seconds);
extern void prom_ingested(int64_t events, int64_t rejected);
extern void prom_ingest_error(void);
extern void prom_gauges(const PromGauges *gauges);
extern void prom_build_info(const char *version, const char *postgresql,
							const char *libmicrohttpd, const char *tls);

/* reading */
extern uint64_t prom_requests_total(const PromValues *m);
extern char *prom_render(size_t *len);

#endif							/* EVPROC_PROM_H */
