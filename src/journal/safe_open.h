/*-------------------------------------------------------------------------
 *
 * safe_open.h
 *	  Opening a file at a path that someone else named (a setting, a name
 *	  found in the journal directory) without ever blocking, and only if
 *	  it is a regular file.
 *
 * Backend-free (libc only): used by the journal (unit tested on its own)
 * as well as by the worker's settings files (auth.c, tls.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_SAFE_OPEN_H
#define EVPROC_SAFE_OPEN_H

#include <sys/types.h>

/* safe_open_at's result when the path names something else */
#define SAFE_OPEN_NOT_REGULAR	(-2)

extern int	safe_open_at(int dirfd, const char *path, int flags, mode_t mode,
						 mode_t *found);
extern const char *safe_open_kind(mode_t mode);

#endif							/* EVPROC_SAFE_OPEN_H */
