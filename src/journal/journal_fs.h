/*-------------------------------------------------------------------------
 *
 * journal_fs.h
 *	  Durable file-system steps shared by the journal files (journal.c,
 *	  journal_archive.c); not for use outside them.
 *
 * Backend-free (libc only).  Functions return -1 with errno set on failure.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_JOURNAL_FS_H
#define EVPROC_JOURNAL_FS_H

#include <dirent.h>
#include <stdbool.h>

extern int	jfs_ensure_dir(const char *path, bool sync);
extern DIR *jfs_opendir_at(int dirfd, const char *name);
extern int	jfs_fsync_dir_path(const char *path);
extern int	jfs_rename_noreplace_at(int fromdirfd, const char *from, int todirfd,
									const char *to, bool sync_file,
									bool sync_dirs, char *final_name);

#endif							/* EVPROC_JOURNAL_FS_H */
