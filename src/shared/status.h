/*-------------------------------------------------------------------------
 *
 * status.h
 *	  What each worker is doing and has counted, in shared memory: its
 *	  Prometheus series, its activity (also shown in pg_stat_activity), its journal
 *	  directory, and whether ingest is paused.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_STATUS_H
#define EVPROC_STATUS_H

#include "postgres.h"

#include "core/prom.h"
#include "journal/journal.h"

#include "datatype/timestamp.h"

typedef enum WorkerActivity
{
	WA_STARTING,
	WA_SERVING,					/* serving HTTP, nothing to ingest */
	WA_INGESTING,				/* a file is being ingested */
	WA_WAITING_LOCK,			/* a file waits for a lock on the tables */
	WA_BACKING_OFF,				/* a file failed; retried at retry_at */
	WA_PAUSED,					/* evproc_pause_ingest() */
	WA_STANDBY					/* on a hot standby: serving reads only */
} WorkerActivity;

/* the archived entries a worker skips (shown in evproc.journal_files) */
#define STATUS_MAX_SKIPPED	8

typedef struct StatusSkipped
{
	char		name[JOURNAL_NAME_MAX];
	char		why[160];
	TimestampTz retry_at;
} StatusSkipped;

/* a copy of one worker's status, for the SQL views */
typedef struct WorkerStatusCopy
{
	pid_t		pid;			/* 0 if not running */
	TimestampTz started;		/* when the worker last started; 0 never */
	WorkerActivity activity;
	char		file[JOURNAL_NAME_MAX]; /* in progress, or failed last */
	char		error[256];		/* the last failure ("" none) */
	TimestampTz retry_at;		/* backing off until then */
	char		dir[MAXPGPATH]; /* the journal directory ("" not known) */
	uint64		paused_ack;		/* the last pause it stopped ingest for */
	int			nskipped;
	StatusSkipped skipped[STATUS_MAX_SKIPPED];	/* see journal_skip */
	PromValues	prom;
} WorkerStatusCopy;

/* postmaster: shared memory */
extern Size status_shmem_size(void);
extern void status_shmem_init(void);

/* the worker */
extern void status_attach(int worker_index, const char *dir);
extern void status_set_dir(const char *dir);
extern void status_report(WorkerActivity activity, const char *file,
						  const char *error, TimestampTz retry_at);
extern bool status_ingest_paused(void);
extern void status_set_skipped(const Journal *journal);
extern void status_set_listening(int port);
extern int	status_siblings_listening(int port, int *starting);

/* backends */
extern void status_read(int worker_index, WorkerStatusCopy *copy);
extern TimestampTz status_stats_reset(void);
extern const char *status_activity_name(WorkerActivity activity);
extern void status_pause(bool pause, int wait_ms);

#endif							/* EVPROC_STATUS_H */
