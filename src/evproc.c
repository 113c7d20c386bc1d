/*-------------------------------------------------------------------------
 *
 * evproc.c
 *	  Module entry point: defines the settings, reserves shared memory and
 *	  registers the background worker.
 *
 * The worker starts once the server is consistent: on a hot standby too,
 * where it serves reads only (role.c), until a promotion.
 *
 * The worker needs the library in shared_preload_libraries.  Loaded any
 * other way the SQL side still works (the lookup function reads the
 * tables), and a WARNING says how to start the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "shared/changes.h"
#include "shared/feed.h"
#include "shared/settings.h"
#include "shared/status.h"
#include "shared/tokens.h"
#include "shared/types.h"
#include "shared/workers.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

PG_MODULE_MAGIC;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
evproc_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(workers_shmem_size());
	RequestAddinShmemSpace(changes_shmem_size());
	RequestAddinShmemSpace(feed_shmem_size());
	RequestAddinShmemSpace(status_shmem_size());
	feed_shmem_request();
}

static void
evproc_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	workers_shmem_init();
	changes_shmem_init();
	feed_shmem_init();
	status_shmem_init();
}

void
_PG_init(void)
{
	BackgroundWorker worker;

	evproc_define_settings();

	if (!process_shared_preload_libraries_in_progress)
	{
		ereport(WARNING,
				(errmsg("evproc is not loaded via shared_preload_libraries, so its HTTP worker is not running"),
				 errhint("Add evproc to shared_preload_libraries and restart the server.")));
		return;
	}

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = evproc_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = evproc_shmem_startup;

	for (int i = 0; i < evproc_workers; i++)
	{
		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_ConsistentState;
		worker.bgw_restart_time = 5;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "evproc");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "evproc_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "evproc worker %d", i);
		snprintf(worker.bgw_type, BGW_MAXLEN, "evproc");
		worker.bgw_main_arg = Int32GetDatum(i);
		worker.bgw_notify_pid = 0;
		RegisterBackgroundWorker(&worker);
	}
}
