/*-------------------------------------------------------------------------
 *
 * workers.h
 *	  The workers' registry: which workers run, and evproc_rotate()'s
 *	  tickets: the shared memory between the workers and the backends that
 *	  call evproc_rotate().
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_WORKERS_H
#define EVPROC_WORKERS_H

#include "postgres.h"

#define EVPROC_MAX_WORKERS	8

/* postmaster: shared memory */
extern Size workers_shmem_size(void);
extern void workers_shmem_init(void);

/* a backend: evproc_rotate() */
extern char *workers_rotate(int timeout_ms);
extern void workers_wake(void);
extern pid_t workers_pid(int worker_index);

/* a worker */
extern void workers_attach(int worker_index);
extern bool workers_take_rotation(void);
extern bool workers_rotation_pending(void);
extern void workers_set_rotated_file(const char *name);
extern void workers_complete_rotation(const char *error);

#endif							/* EVPROC_WORKERS_H */
