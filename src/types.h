/*-------------------------------------------------------------------------
 *
 * types.h
 *	  Event types: the worker's copy of evproc.event_types, and the
 *	  signal that it changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TYPES_H
#define EVPROC_TYPES_H

#include "postgres.h"

/* postmaster: shared memory */
extern Size types_shmem_size(void);
extern void types_shmem_init(void);

#endif							/* EVPROC_TYPES_H */
