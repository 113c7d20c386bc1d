/*-------------------------------------------------------------------------
 *
 * ingest.h
 *	  Ingest of the archived journal files, one bounded step at a time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_INGEST_H
#define EVPROC_INGEST_H

#include "postgres.h"

#include "journal/journal.h"

#include "datatype/timestamp.h"

typedef enum IngestResult
{
	INGEST_BUSY,				/* work remains: call again soon */
	INGEST_IDLE,				/* no archived file waiting */
	INGEST_FAILED				/* a file failed; retry after a back-off */
} IngestResult;

/* what ingest is doing, for the worker's status */
typedef struct IngestProgress
{
	const char *file;			/* in progress, or failed last; "" none */
	bool		active;			/* a file is in progress */
	bool		waiting_lock;	/* ... and waits for a lock on the tables */
	const char *error;			/* the last failure, "" none */
	TimestampTz retry_at;		/* backing off until then; 0 not */
} IngestProgress;

extern void ingest_init(void);
extern IngestResult ingest_step(Journal *journal, bool scan_now,
								char *errbuf, size_t errlen);
extern long ingest_timeout_ms(void);
extern void ingest_abandon(void);
extern void ingest_wake(void);
extern void ingest_progress(IngestProgress *progress);
extern void ingest_prune_processed(Journal *journal);

#endif							/* EVPROC_INGEST_H */
