/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker's entry point (registered by evproc.c by name).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_WORKER_H
#define EVPROC_WORKER_H

#include "postgres.h"

#include "fmgr.h"

extern PGDLLEXPORT void evproc_worker_main(Datum main_arg);

#endif							/* EVPROC_WORKER_H */
