/*-------------------------------------------------------------------------
 *
 * syncrep.c
 *	  Has a commit reached the synchronous standbys?  The worker's own
 *	  replacement for waiting in SyncRepWaitForLSN at commit.
 *
 * A backend that commits under synchronous_commit = on (or remote_write,
 * remote_apply) with synchronous_standby_names set sleeps in
 * SyncRepWaitForLSN until the standbys confirm the commit: for as long as
 * they take, forever if they are gone.  The worker cannot sleep there: it
 * serves HTTP, streams and lookups from the same loop.  So its units of
 * work commit with synchronous_commit = local (db.c), and what must wait
 * for the standbys, the answers to POSTs of the database journal, waits in
 * intake.c: the commit's end LSN is kept with them, and each pass asks
 * syncrep_reached whether the synchronous standbys have confirmed it, as
 * SyncRepWaitForLSN would have, by the server's synchronous_commit (write,
 * flush or apply) and synchronous_standby_names.  The loop serves
 * meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/syncrep.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "replication/walsender_private.h"
#include "storage/lwlock.h"
#include "utils/guc.h"

/* set by the checkpointer from synchronous_standby_names (PostgreSQL 15.14+, 17.6+) */
#ifdef SYNC_STANDBY_DEFINED
#define STANDBYS_KNOWN(ctl)		(((ctl)->sync_standbys_status & SYNC_STANDBY_INIT) != 0)
#define STANDBYS_DEFINED(ctl)	(((ctl)->sync_standbys_status & SYNC_STANDBY_DEFINED) != 0)
#else
#define STANDBYS_KNOWN(ctl)		true
#define STANDBYS_DEFINED(ctl)	((ctl)->sync_standbys_defined)
#endif

/*
 * wait_mode: which of the standbys' positions a commit waits for under
 * the server's synchronous_commit (the worker's session keeps the
 * server's value, reloaded with it), or -1 if it does not wait for
 * standbys at all.  The setting's reset value is read, not
 * synchronous_commit itself: inside a unit of work (ingest's transaction,
 * open while the loop answers POSTs) the variable holds db.c's local,
 * which would answer every waiter at once, before the standbys have its
 * commit.
 */
static int
wait_mode(void)
{
	const char *value;

	if (max_wal_senders == 0)
		return -1;
	value = GetConfigOptionResetString("synchronous_commit");
	if (strcmp(value, "remote_write") == 0)
		return SYNC_REP_WAIT_WRITE;
	if (strcmp(value, "remote_apply") == 0)
		return SYNC_REP_WAIT_APPLY;
	if (strcmp(value, "on") == 0)
		return SYNC_REP_WAIT_FLUSH;
	return -1;					/* off, local */
}

/*
 * syncrep_commit_lsn: the end of the commit record of the unit of work
 * just committed, for syncrep_reached.
 */
XLogRecPtr
syncrep_commit_lsn(void)
{
	return XactLastCommitEnd;
}

/*
 * syncrep_reached: has the commit ending at lsn reached the synchronous
 * standbys, in the sense of the server's synchronous_commit?  True at once
 * when there is nothing to wait for (synchronous_commit local or off, no
 * synchronous_standby_names), as SyncRepWaitForLSN returns at once.
 */
bool
syncrep_reached(XLogRecPtr lsn)
{
	volatile WalSndCtlData *ctl = WalSndCtl;
	int			mode;
	bool		reached;

	/* no commit (the journal in files): nothing to wait for, no lookup */
	if (XLogRecPtrIsInvalid(lsn))
		return true;
	mode = wait_mode();
	if (mode < 0 || ctl == NULL)
		return true;
	/* the checkpointer has read the names, and there are none */
	if (STANDBYS_KNOWN(ctl) && !STANDBYS_DEFINED(ctl))
		return true;
	LWLockAcquire(SyncRepLock, LW_SHARED);
	if (lsn <= ctl->lsn[mode])
		reached = true;
	else if (STANDBYS_KNOWN(ctl))
		reached = !STANDBYS_DEFINED(ctl);
	else
		reached = (SyncRepStandbyNames == NULL || SyncRepStandbyNames[0] == '\0');
	LWLockRelease(SyncRepLock);
	return reached;
}
