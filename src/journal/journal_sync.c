/*-------------------------------------------------------------------------
 *
 * journal_sync.c
 *	  An fdatasync that runs while its caller goes on: the journal's group
 *	  commit submits the sync of one batch and parses the next requests
 *	  meanwhile, instead of sleeping in fdatasync.
 *
 * Linux's native asynchronous I/O (io_setup, io_submit) has an
 * IOCB_CMD_FDSYNC command since 4.18, for every file system with an
 * fsync: the kernel runs the fdatasync on its own worker and signals an
 * eventfd when it is done.  The caller waits on that descriptor with its
 * other ones, so that no thread of ours is needed.  Where the interface
 * is missing (another kernel, a seccomp filter, aio-max-nr reached),
 * jsync_open fails and callers sync inline, as before.
 *
 * At most one sync is in flight per syncer: the journal writes its next
 * batch only after the last one is durable (journal_flush_begin), so
 * that a failure cuts off one batch, never a batch with another behind it.
 *
 * Backend-free (libc and Linux system calls only).
 *
 *-------------------------------------------------------------------------
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "journal/journal.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/aio_abi.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#endif

#ifdef POSTGRES_H
#error "journal_sync.c is backend-free: it must not include PostgreSQL backend headers"
#endif

#if defined(__linux__) && defined(__NR_io_setup)

_Static_assert(sizeof(struct iocb) <= sizeof(((JournalSyncer *) 0)->cb),
			   "JournalSyncer.cb holds a struct iocb");

/* glibc wraps none of these */
static long
sys_io_setup(unsigned nr, aio_context_t *ctx)
{
	return syscall(__NR_io_setup, nr, ctx);
}

static long
sys_io_destroy(aio_context_t ctx)
{
	return syscall(__NR_io_destroy, ctx);
}

static long
sys_io_submit(aio_context_t ctx, long n, struct iocb **iocbs)
{
	return syscall(__NR_io_submit, ctx, n, iocbs);
}

static long
sys_io_getevents(aio_context_t ctx, long min_nr, long nr,
				 struct io_event *events, struct timespec *timeout)
{
	return syscall(__NR_io_getevents, ctx, min_nr, nr, events, timeout);
}

/*
 * jsync_open makes an asynchronous syncer: an AIO context for one request
 * and the eventfd its completions signal.  Returns 0, or -1 with errno
 * (then s is unusable and the journal syncs inline).
 */
int
jsync_open(JournalSyncer *s)
{
	aio_context_t ctx = 0;
	int			save;

	memset(s, 0, sizeof(*s));
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0)
		return -1;
	if (sys_io_setup(1, &ctx) != 0)
	{
		save = errno;
		close(s->efd);
		s->efd = -1;
		errno = save;
		return -1;
	}
	s->ctx = (uint64_t) ctx;
	return 0;
}

/*
 * jsync_close waits for a sync still in flight (io_destroy does) and
 * releases the syncer.
 */
void
jsync_close(JournalSyncer *s)
{
	if (s->ctx != 0)
		(void) sys_io_destroy((aio_context_t) s->ctx);
	if (s->efd >= 0)
		close(s->efd);
	memset(s, 0, sizeof(*s));
	s->efd = -1;
}

/*
 * jsync_start submits the fdatasync of fd.  Returns 0, or -1 with errno
 * (nothing in flight then).  A kernel or file system that cannot do it
 * (EINVAL, ENOSYS, EOPNOTSUPP) turns the syncer off for good: jsync_usable
 * is then false, and the caller syncs inline from then on.
 */
int
jsync_start(JournalSyncer *s, int fd)
{
	struct iocb *cb = (struct iocb *) s->cb;
	struct iocb *cbs[1] = {cb};
	long		rc;

	memset(cb, 0, sizeof(*cb));
	cb->aio_fildes = (uint32_t) fd;
	cb->aio_lio_opcode = IOCB_CMD_FDSYNC;
	cb->aio_flags = IOCB_FLAG_RESFD;
	cb->aio_resfd = (uint32_t) s->efd;
	do
		rc = sys_io_submit((aio_context_t) s->ctx, 1, cbs);
	while (rc < 0 && errno == EINTR);
	if (rc == 1)
	{
		s->busy = true;
		return 0;
	}
	if (rc == 0)
		errno = EAGAIN;
	if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
		s->off = true;
	return -1;
}

/*
 * drain reads the eventfd's count of completions not read yet (owed), so
 * that a caller waiting on it sleeps until the next one.  No system call
 * when nothing is owed.
 */
static void
drain(JournalSyncer *s)
{
	uint64_t	count;

	if (s->owed > 0 && read(s->efd, &count, sizeof(count)) == sizeof(count))
		s->owed -= count < s->owed ? count : s->owed;
}

/*
 * jsync_reap collects the sync in flight: 1 once it is done (*err: 0 if
 * the file is durable, else the errno of the failed fdatasync), 0 if it
 * is not done yet (never with wait) or none is in flight.  The kernel
 * signals the eventfd just after the completion is visible, so a signal
 * may come after the sync was collected (with wait, say): it is owed, and
 * read by a later call (jsync_drain) rather than left to wake the caller
 * again and again.
 */
int
jsync_reap(JournalSyncer *s, bool wait, int *err)
{
	struct io_event ev;
	long		rc;

	if (!s->busy)
	{
		drain(s);
		return 0;
	}
	for (;;)
	{
		struct timespec zero = {0, 0};

		rc = sys_io_getevents((aio_context_t) s->ctx, wait ? 1 : 0, 1, &ev,
							  wait ? NULL : &zero);
		if (rc >= 0 || errno != EINTR)
			break;
	}
	if (rc == 0)
		return 0;
	s->busy = false;
	if (rc < 0)
		*err = errno;			/* cannot happen with a valid context */
	else
	{
		*err = ev.res < 0 ? (int) -ev.res : 0;
		s->owed++;
	}
	drain(s);
	return 1;
}

/* jsync_drain reads a completion's signal still owed (see jsync_reap) */
void
jsync_drain(JournalSyncer *s)
{
	if (!s->busy)
		drain(s);
}

#else							/* no Linux AIO: always inline */

int
jsync_open(JournalSyncer *s)
{
	memset(s, 0, sizeof(*s));
	s->efd = -1;
	errno = ENOSYS;
	return -1;
}

void
jsync_close(JournalSyncer *s)
{
	memset(s, 0, sizeof(*s));
	s->efd = -1;
}

int
jsync_start(JournalSyncer *s, int fd)
{
	(void) fd;
	s->off = true;
	errno = ENOSYS;
	return -1;
}

int
jsync_reap(JournalSyncer *s, bool wait, int *err)
{
	(void) s;
	(void) wait;
	(void) err;
	return 0;
}

void
jsync_drain(JournalSyncer *s)
{
	(void) s;
}

#endif
