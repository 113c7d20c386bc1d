/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  Every difference between the PostgreSQL and libmicrohttpd versions
 *	  evproc builds with, in one place: PostgreSQL 15 (tested on Debian 12),
 *	  16 (compiles, untested: no Debian release ships it), 17 (Debian 13)
 *	  and 18 (Debian unstable); libmicrohttpd 0.9.75 (Debian 12) and 1.0.x.
 *	  The rest of src/ calls the names defined here and never tests
 *	  PG_VERSION_NUM or MHD_VERSION itself.
 *
 *	  Backend code only (it needs postgres.h first): core/ and journal/,
 *	  which are built without PostgreSQL, never include it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_PG_COMPAT_H
#define EVPROC_PG_COMPAT_H

#include "postgres.h"

#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#if PG_VERSION_NUM < 150000
#error "evproc needs PostgreSQL 15 or later (shmem_request_hook, MarkGUCPrefixReserved)"
#endif

/*
 * compat_my_procno(): this process's index in ProcGlobal->allProcs, for
 * another process's SetLatch.  PGPROC's pgprocno up to 16; 17 dropped the
 * field for MyProcNumber (storage/procnumber.h, included by proc.h).
 */
#if PG_VERSION_NUM >= 170000
#define compat_my_procno()	((int) MyProcNumber)
#else
#define compat_my_procno()	(MyProc->pgprocno)
#endif

/*
 * compat_create_wait_event_set(nevents): a wait event set that lives as
 * long as the process.  Up to 16 CreateWaitEventSet takes the memory
 * context to allocate it in; 17 takes a resource owner instead, and with
 * none (NULL) allocates it in TopMemoryContext, untracked: the same thing.
 */
#if PG_VERSION_NUM >= 170000
#define compat_create_wait_event_set(nevents) \
	CreateWaitEventSet(NULL, (nevents))
#else
#define compat_create_wait_event_set(nevents) \
	CreateWaitEventSet(TopMemoryContext, (nevents))
#endif

#endif							/* EVPROC_PG_COMPAT_H */
