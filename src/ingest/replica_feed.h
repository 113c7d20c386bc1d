/*-------------------------------------------------------------------------
 *
 * replica_feed.h
 *	  The standby feed: each ingest commit's changed users in
 *	  evproc.user_changes, read back by a hot standby's worker for its
 *	  streams (replica_feed.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_REPLICA_FEED_H
#define EVPROC_REPLICA_FEED_H

#include "postgres.h"

/* the primary: in a file's transaction, and once a minute */
extern void replica_feed_record(const char *const *users, int nusers);
extern void replica_feed_prune(void);

/* a hot standby's worker (one of them), each pass */
extern void replica_feed_poll(void);
extern long replica_feed_timeout_ms(void);

#endif							/* EVPROC_REPLICA_FEED_H */
