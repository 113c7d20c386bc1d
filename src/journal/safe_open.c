/*-------------------------------------------------------------------------
 *
 * safe_open.c
 *	  Opening a file at a path that someone else named, never blocking and
 *	  regular files only.  A FIFO put where a setting's file (the token
 *	  file, a TLS certificate) or a journal file is expected would block a
 *	  plain open() until something writes to it (or, for writing, reads
 *	  from it), and with it the whole event loop; a device or a directory
 *	  is no file to read either.  So every such open goes through
 *	  safe_open_at: O_NONBLOCK for the open itself, fstat on the descriptor
 *	  (so that what is checked is what is read), and O_NONBLOCK cleared
 *	  again on the regular file it returns.
 *
 * Backend-free (libc only).
 *
 *-------------------------------------------------------------------------
 */
#include "journal/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef POSTGRES_H
#error "safe_open.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/*
 * not_regular_at tells whether path (relative to dirfd) names something
 * other than a regular file, after an open failed with an errno that
 * something else gives (a FIFO without a reader opened for writing, a
 * directory opened for writing, a symbolic link with O_NOFOLLOW): *found
 * gets its type.
 */
static bool
not_regular_at(int dirfd, const char *path, int flags, mode_t *found)
{
	struct stat st;

	if (fstatat(dirfd, path, &st,
				(flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) != 0 ||
		S_ISREG(st.st_mode))
		return false;
	*found = st.st_mode;
	return true;
}

/*
 * safe_open_at opens path (relative to dirfd, or AT_FDCWD) with flags and
 * mode as openat does, without blocking, and keeps it only if it is a
 * regular file.  Returns the descriptor (close-on-exec, O_NONBLOCK
 * cleared); -1 with errno set if the open failed; or SAFE_OPEN_NOT_REGULAR
 * if path is something else (a directory, a FIFO, a device, a socket, a
 * symbolic link with O_NOFOLLOW), *found then giving its st_mode.
 */
int
safe_open_at(int dirfd, const char *path, int flags, mode_t mode,
			 mode_t *found)
{
	int			fd = openat(dirfd, path,
							flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
	struct stat st;
	int			fl;
	int			save;

	*found = 0;
	if (fd < 0)
	{
		save = errno;
		if ((save == ENXIO || save == EISDIR || save == ELOOP ||
			 save == ENODEV || save == ETXTBSY) &&
			not_regular_at(dirfd, path, flags, found))
			return SAFE_OPEN_NOT_REGULAR;
		errno = save;
		return -1;
	}
	if (fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode))
	{
		close(fd);
		*found = st.st_mode;
		return SAFE_OPEN_NOT_REGULAR;
	}
	/* a regular file: reads and writes are to behave as usual */
	if ((flags & O_NONBLOCK) == 0 &&
		((fl = fcntl(fd, F_GETFL)) < 0 ||
		 fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0))
		goto fail;
	return fd;

fail:
	save = errno;
	close(fd);
	errno = save;
	return -1;
}

/* safe_open_kind names what a st_mode that is not a regular file is */
const char *
safe_open_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a regular file";
}
