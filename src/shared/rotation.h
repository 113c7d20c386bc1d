/*-------------------------------------------------------------------------
 *
 * rotation.h
 *	  Which workers run, and evproc_rotate()'s tickets: the shared memory
 *	  between the workers and the backends that call evproc_rotate().
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_ROTATION_H
#define EVPROC_ROTATION_H

#include "postgres.h"

#define EVPROC_MAX_WORKERS	8

/* postmaster: shared memory */
extern Size rotation_shmem_size(void);
extern void rotation_shmem_init(void);

/* a backend: evproc_rotate() */
extern char *rotation_request(int timeout_ms);
extern void rotation_wake_workers(void);
extern pid_t rotation_worker_pid(int worker_index);

/* a worker */
extern void rotation_attach(int worker_index);
extern bool rotation_take_request(void);
extern bool rotation_pending(void);
extern void rotation_set_file(const char *name);
extern void rotation_complete(const char *error);

#endif							/* EVPROC_ROTATION_H */
