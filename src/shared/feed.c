/*-------------------------------------------------------------------------
 *
 * feed.c
 *	  The change feed: after each ingest commit, the worker that committed
 *	  publishes the users whose metrics the file changed, with a sequence
 *	  number; every worker reads what was published, in order, and tells
 *	  its subscribers (see stream.c).
 *
 * The feed is a ring of FEED_BYTES in shared memory, under one LWLock:
 * records of a sequence number and a user id, appended at the head; the
 * oldest are overwritten.  A reader whose cursor fell behind the tail has
 * missed some: FEED_GAP, and it resynchronizes (sends current states).  A
 * file that changed more than FEED_MAX_USERS users publishes one record
 * without a user ("many users"), which readers treat as a gap too.
 *
 * Sequence numbers only grow, also across restarts and crashes: a file's
 * number is the larger of the last number plus one and the LSN of its
 * commit record.  Numbers are taken under the lock as the records are
 * appended, so they follow the order of the records; and after a restart
 * (the shared memory is new) they start above the WAL position of any
 * commit published before.  A record is appended only after its commit, so
 * a reader never hears of a change that a crash could take back.  Only
 * publications move the numbers: what a client sends (a resume point) is
 * only ever compared with them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/evlimits.h"
#include "shared/feed.h"
#include "shared/workers.h"

#include "access/xlog.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

/* the ring's size (the most users one file publishes: feed.h) */
#define FEED_BYTES			(4 * 1024 * 1024)

/* A record: its header, then the user id (len bytes), padded to 8. */
typedef struct FeedRecord
{
	uint64		seq;
	uint32		len;			/* 0: many users */
	uint32		pad;
} FeedRecord;

typedef struct FeedShared
{
	LWLock	   *lock;
	uint64		head;			/* byte position past the newest record */
	uint64		tail;			/* byte position of the oldest record */
	uint64		last_seq;
	uint64		first_seq;		/* the first published since start-up */
	uint64		dropped_seq;	/* the newest of the records dropped */
	char		data[FEED_BYTES];
} FeedShared;

static FeedShared *feed = NULL;

Size
feed_shmem_size(void)
{
	return MAXALIGN(sizeof(FeedShared));
}

void
feed_shmem_request(void)
{
	RequestNamedLWLockTranche("evproc feed", 1);
}

void
feed_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	feed = ShmemInitStruct("evproc feed", sizeof(FeedShared), &found);
	if (!found)
	{
		feed->lock = &(GetNamedLWLockTranche("evproc feed"))->lock;
		feed->head = feed->tail = 0;
		feed->last_seq = feed->first_seq = feed->dropped_seq = 0;
	}
	LWLockRelease(AddinShmemInitLock);
}

static inline size_t
record_size(uint32 len)
{
	return sizeof(FeedRecord) + TYPEALIGN(8, len);
}

/* ring_write / ring_read copy n bytes at byte position pos of the ring */
static void
ring_write(uint64 pos, const void *src, size_t n)
{
	size_t		off = pos % FEED_BYTES;
	size_t		first = Min(n, FEED_BYTES - off);

	memcpy(feed->data + off, src, first);
	memcpy(feed->data, (const char *) src + first, n - first);
}

static void
ring_read(uint64 pos, void *dst, size_t n)
{
	size_t		off = pos % FEED_BYTES;
	size_t		first = Min(n, FEED_BYTES - off);

	memcpy(dst, feed->data + off, first);
	memcpy((char *) dst + first, feed->data, n - first);
}

/* append adds a record, dropping the oldest ones to make room; locked */
static void
append(uint64 seq, const char *user_id, uint32 len)
{
	FeedRecord	rec;
	size_t		size = record_size(len);

	while (feed->head + size - feed->tail > FEED_BYTES)
	{
		FeedRecord	old;

		ring_read(feed->tail, &old, sizeof(old));
		feed->tail += record_size(old.len);
		feed->dropped_seq = old.seq;
	}
	rec.seq = seq;
	rec.len = len;
	rec.pad = 0;
	ring_write(feed->head, &rec, sizeof(rec));
	if (len > 0)
		ring_write(feed->head + sizeof(rec), user_id, len);
	feed->head += size;
}

/*
 * take_seq numbers the next change, as the header says (the larger of the
 * last number plus one and its commit's LSN).  Under the feed's lock.
 */
static uint64
take_seq(XLogRecPtr commit_lsn)
{
	uint64		seq = Max(feed->last_seq + 1, (uint64) commit_lsn);

	feed->last_seq = seq;
	if (feed->first_seq == 0)
		feed->first_seq = seq;
	return seq;
}

/*
 * feed_publish publishes the users (n of them) whose metrics the
 * transaction committed at commit_lsn changed, and wakes the workers.
 * Returns the sequence number they got.
 */
uint64
feed_publish(XLogRecPtr commit_lsn, const char *const *users, int nusers)
{
	uint64		seq;

	if (feed == NULL || nusers == 0)
		return 0;
	LWLockAcquire(feed->lock, LW_EXCLUSIVE);
	seq = take_seq(commit_lsn);
	if (nusers > FEED_MAX_USERS)
		append(seq, NULL, 0);
	else
		for (int i = 0; i < nusers; i++)
			append(seq, users[i], (uint32) strlen(users[i]));
	LWLockRelease(feed->lock);
	workers_wake();
	return seq;
}

/*
 * feed_publish_many publishes "many users changed" for a commit: a hot
 * standby's worker, for a commit that replay brought and that changed more
 * than FEED_MAX_USERS users (see replica_feed.c); feed_publish_gap, for a
 * commit that may have been missed.
 */
uint64
feed_publish_many(XLogRecPtr commit_lsn)
{
	uint64		seq;

	if (feed == NULL)
		return 0;
	LWLockAcquire(feed->lock, LW_EXCLUSIVE);
	seq = take_seq(commit_lsn);
	append(seq, NULL, 0);
	LWLockRelease(feed->lock);
	workers_wake();
	return seq;
}

/*
 * feed_publish_gap publishes "many users changed", so that every reader
 * resynchronizes: a worker starting again may have died between a commit
 * and its publication.
 */
void
feed_publish_gap(void)
{
	(void) feed_publish_many(GetXLogInsertRecPtr());
}

/* feed_cursor: a cursor from which a new reader reads (the head). */
uint64
feed_cursor(void)
{
	uint64		head;

	LWLockAcquire(feed->lock, LW_SHARED);
	head = feed->head;
	LWLockRelease(feed->lock);
	return head;
}

/* feed_last_seq: the newest sequence number published. */
uint64
feed_last_seq(void)
{
	uint64		seq;

	LWLockAcquire(feed->lock, LW_SHARED);
	seq = feed->last_seq;
	LWLockRelease(feed->lock);
	return seq;
}

/*
 * feed_read calls fn for each change published since *cursor, in order,
 * and moves the cursor past them; fn must be quick (the lock is held).  If
 * some were overwritten, it moves the cursor to the head, calls fn once
 * with the newest number and no user ("many users"), and returns
 * FEED_GAP.
 */
FeedRead
feed_read(uint64 *cursor, FeedChangeFn fn, void *arg)
{
	char		user[EV_USER_ID_MAX + 1];
	uint64		pos;

	LWLockAcquire(feed->lock, LW_SHARED);
	if (*cursor < feed->tail || *cursor > feed->head)
	{
		*cursor = feed->head;
		fn(feed->last_seq, NULL, arg);
		LWLockRelease(feed->lock);
		return FEED_GAP;
	}
	for (pos = *cursor; pos < feed->head;)
	{
		FeedRecord	rec;

		ring_read(pos, &rec, sizeof(rec));
		if (rec.len > 0 && rec.len <= EV_USER_ID_MAX)
		{
			ring_read(pos + sizeof(rec), user, rec.len);
			user[rec.len] = '\0';
			fn(rec.seq, user, arg);
		}
		else
			fn(rec.seq, NULL, arg);
		pos += record_size(rec.len);
	}
	*cursor = pos;
	LWLockRelease(feed->lock);
	return FEED_OK;
}

/*
 * feed_changed_since: may user_id's state (NULL: any user's) have changed
 * after sequence number since, up to until?  True if a change of that user
 * (or of many users) numbered in (since, until] is in the feed, and, not
 * knowing, if the feed does not reach back that far: since is from before
 * this start-up, or records after it were dropped.
 */
bool
feed_changed_since(uint64 since, uint64 until, const char *user_id)
{
	size_t		len = user_id != NULL ? strlen(user_id) : 0;
	bool		changed;
	uint64		pos;

	if (since >= until)
		return false;
	LWLockAcquire(feed->lock, LW_SHARED);
	changed = feed->first_seq == 0 ? since > 0 :
		(since < feed->first_seq || since < feed->dropped_seq);
	for (pos = feed->tail; !changed && pos < feed->head;)
	{
		FeedRecord	rec;

		ring_read(pos, &rec, sizeof(rec));
		if (rec.seq > until)
			break;
		if (rec.seq > since)
		{
			if (rec.len == 0 || user_id == NULL)
				changed = true;
			else if (rec.len == len)
			{
				char		user[EV_USER_ID_MAX + 1];

				ring_read(pos + sizeof(rec), user, rec.len);
				changed = memcmp(user, user_id, len) == 0;
			}
		}
		pos += record_size(rec.len);
	}
	LWLockRelease(feed->lock);
	return changed;
}
