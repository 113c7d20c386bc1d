/*-------------------------------------------------------------------------
 *
 * feed.h
 *	  The change feed: which users' metrics committed ingests changed, in
 *	  commit order, in shared memory, for every worker's subscribers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_FEED_H
#define EVPROC_FEED_H

#include "postgres.h"

#include "access/xlogdefs.h"

/* postmaster: shared memory */
extern Size feed_shmem_size(void);
extern void feed_shmem_request(void);
extern void feed_shmem_init(void);

/* the most users one commit publishes one by one; more: "many users" */
#define FEED_MAX_USERS		10000

/* a worker, after an ingest commit (or its replay, on a hot standby) */
extern uint64 feed_publish(XLogRecPtr commit_lsn, const char *const *users,
						   int nusers);
extern uint64 feed_publish_many(XLogRecPtr commit_lsn);

/* a worker, reading what was published since its cursor */
typedef enum FeedRead
{
	FEED_OK,					/* the changes since the cursor follow */
	FEED_GAP					/* some were overwritten: resynchronize */
} FeedRead;

/* One change read: user NULL means "many users" (a bulk file). */
typedef void (*FeedChangeFn) (uint64 seq, const char *user_id, void *arg);

extern void feed_publish_gap(void);
extern uint64 feed_cursor(void);
extern uint64 feed_last_seq(void);
extern FeedRead feed_read(uint64 *cursor, FeedChangeFn fn, void *arg);
extern bool feed_changed_since(uint64 since, uint64 until,
							   const char *user_id);

#endif							/* EVPROC_FEED_H */
