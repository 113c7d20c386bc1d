/*-------------------------------------------------------------------------
 *
 * intake.h
 *	  The group commit: accepted events, the journal they go to, the
 *	  recent eventIds, and the clients waiting for their events to be
 *	  durable.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_INTAKE_H
#define EVPROC_INTAKE_H

/*
 * How often the loop looks whether the synchronous standbys confirmed a
 * commit that answers wait for (nothing wakes it when they do).
 */
#define INTAKE_REPLICATION_POLL_MS	1

#include "postgres.h"

#include "core/event.h"
#include "journal/journal.h"

/* What became of one client's events once the group commit is done. */
typedef struct IntakeReceipt
{
	bool		durable;		/* false: none of them was kept */
	long		accepted;		/* events in the request */
	long		duplicates;		/* of which repeated an eventId; -1 if none
								 * carried an eventId */
} IntakeReceipt;

/* Answers a waiter (see intake_accept) once its events are durable. */
typedef void (*IntakeAnswerFn) (void *waiter, const IntakeReceipt *receipt);

/* the worker */
extern bool intake_open(const char *dir, int worker_index,
						const char *last_recorded, int elevel);
extern bool intake_move(const char *dir, const char *last_recorded);
extern void intake_apply_settings(void);
extern void intake_close(void);
extern int	intake_pending(void);
extern int	intake_sync_fd(void);
extern int	intake_replicating(void);
extern void intake_flush(IntakeAnswerFn answer, bool wait);
extern bool intake_rotation_due(void);
extern bool intake_rotate(char *name);
extern bool intake_is_empty(void);
extern bool intake_busy(void);
extern bool intake_failing(void);
extern time_t intake_unrotated_since(void);
extern const char *intake_dir(void);
extern Journal *intake_journal(void);

/* the HTTP layer, inside libmicrohttpd's callbacks */
extern bool intake_accept(const EvEvent *events, size_t n,
						  const char *client_addr, void *waiter);

#endif							/* EVPROC_INTAKE_H */
