/*-------------------------------------------------------------------------
 *
 * changes.h
 *	  Telling the workers that a table they keep a copy of has changed
 *	  (evproc.event_types, evproc.tokens): a generation counter per table
 *	  in shared memory, bumped by the committing backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CHANGES_H
#define EVPROC_CHANGES_H

#include "postgres.h"

#include "fmgr.h"

typedef enum WatchedTable
{
	WATCH_EVENT_TYPES,
	WATCH_TOKENS,
	WATCH_NTABLES
} WatchedTable;

/* postmaster: shared memory */
extern Size changes_shmem_size(void);
extern void changes_shmem_init(void);

/* a backend, in a statement trigger: the workers are told at commit */
extern void changes_note(FunctionCallInfo fcinfo, WatchedTable table);

/* a worker: the table's generation, to compare with its copy's */
extern uint64 changes_generation(WatchedTable table);

#endif							/* EVPROC_CHANGES_H */
