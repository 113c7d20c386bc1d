/*-------------------------------------------------------------------------
 *
 * evproc.h
 *	  Declarations shared by the backend-side modules of evproc.
 *
 * Module map (one file per responsibility):
 *	  evproc.c		_PG_init: settings, shared memory, worker registration
 *	  settings.c	the evproc.* configuration parameters (GUCs)
 *	  worker.c		the background worker's event loop and lifecycle
 *	  http.c		libmicrohttpd server: routing, validation, replies
 *	  revenue.c		revenue lookups for GET /userEvents/:userId (SPI)
 *	  ingest.c		folding archived journal files into revenue (SPI)
 *	  sql_api.c		SQL-callable functions (evproc_rotate)
 *	  event.c		backend-free: event parsing, exact decimals, JSON
 *	  journal.c		backend-free: journal files, rotation, reader
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_H
#define EVPROC_H

#include "postgres.h"

#include "storage/condition_variable.h"
#include "storage/spin.h"

#include "event.h"
#include "journal.h"

/* settings.c */
extern char *evproc_listen_address;
extern int	evproc_port;
extern char *evproc_database;
extern char *evproc_directory;
extern int	evproc_rotation_interval;
extern bool evproc_fsync;
extern char *evproc_auth_token;
extern char *evproc_auth_token_file;
extern int	evproc_max_header_size;
extern int	evproc_max_body_size;
extern int	evproc_max_batch_events;
extern int	evproc_dedupe_retention;
extern int	evproc_max_connections;
extern int	evproc_workers;
extern int	evproc_connection_timeout;
extern int	evproc_rotation_size;
extern int	evproc_processed_retention;
extern int	evproc_max_rejected_lines;
extern int	evproc_request_timeout;
extern int	evproc_max_body_memory;
extern char *evproc_fault_injection;

extern void evproc_define_settings(void);
extern void evproc_fault(const char *point);

/*
 * State shared between the workers and backends calling evproc_rotate().
 * A backend bumps rotate_requested and sets every worker's latch; each
 * worker rotates, ingests everything archived in its directory, then sets
 * its slot's rotate_completed to the request it served (with an error
 * message if ingest failed) and broadcasts on cv.
 */
#define EVPROC_MAX_WORKERS	8

typedef struct EvprocWorkerSlot
{
	pid_t		pid;			/* 0 if this worker is not running */
	int			procno;
	uint64		rotate_completed;
	char		rotated_file[JOURNAL_NAME_MAX]; /* "" if the journal was empty */
	char		error[256];		/* "" on success */
} EvprocWorkerSlot;

typedef struct EvprocShared
{
	slock_t		mutex;
	uint64		rotate_requested;
	ConditionVariable cv;
	EvprocWorkerSlot workers[EVPROC_MAX_WORKERS];
} EvprocShared;

extern EvprocShared *evproc_shared;

/* worker.c */
extern PGDLLEXPORT void evproc_worker_main(Datum main_arg);
extern void evproc_begin_work(const char *activity);
extern void evproc_end_work(void);
extern ErrorData *evproc_catch_error(MemoryContext cxt);
extern struct _SPI_plan *evproc_prepare(const char *sql, int nargs,
										Oid *argtypes);
extern void evproc_execute_plan(struct _SPI_plan *plan, Datum *args,
								bool read_only, long tcount, int expect);

/* http.c */
extern bool http_start(Journal *journal);
extern void http_load_token(void);
extern void http_refuse_new(void);
extern void http_stop(void);
extern int	http_epoll_fd(void);
extern long http_timeout_ms(void);
extern void http_run(void);
extern int	http_pending_posts(void);
extern void http_complete_posts(bool durable);
extern int	http_pending_lookups(void);
extern const char *http_lookup_user(int i);
extern void http_complete_lookup(int i, const char *revenue);
extern void http_fail_lookups(int status, const char *message);
extern bool http_resume_all(void);

/* revenue.c */
extern void revenue_serve_lookups(void);
extern long revenue_timeout_ms(void);
#define EVPROC_NTABLES 4
extern const char *const evproc_tables[EVPROC_NTABLES];
extern bool evproc_schema_ready(void);
extern bool evproc_try_lock(const char *const *tables, int ntables,
							int lockmode);

/* ingest.c */
typedef enum IngestResult
{
	INGEST_BUSY,				/* work remains: call again soon */
	INGEST_IDLE,				/* no archived file waiting */
	INGEST_FAILED				/* a file failed; retry after a back-off */
} IngestResult;

extern void ingest_init(void);
extern IngestResult ingest_step(Journal *journal, bool scan_now,
								char *errbuf, size_t errlen);
extern long ingest_timeout_ms(void);
extern void ingest_abandon(void);
extern void ingest_wake(void);
extern void ingest_prune_seen(void);
extern bool ingest_in_transaction(void);
extern bool ingest_uncommitted(const char *user_id, char *delta);
extern void ingest_prune_processed(Journal *journal);

#endif							/* EVPROC_H */
