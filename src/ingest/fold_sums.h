/*-------------------------------------------------------------------------
 *
 * fold_sums.h
 *	  The per-user sums of the file being folded (fold.c's, in memory),
 *	  one range of users at a time, so that their memory stays bounded
 *	  whatever the number of (user, metric) pairs in the file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_FOLD_SUMS_H
#define EVPROC_FOLD_SUMS_H

#include "postgres.h"

#include "core/event.h"

/*
 * The most (user, metric) pairs summed at once: a file with more is
 * applied in ranges of users, one after the other, each read from the
 * file again (see fold_sums.c).
 */
#define FOLD_RANGE_PAIRS	115000

extern void sums_begin(MemoryContext cxt, const char *name);
extern void sums_end(void);
extern int	sums_metrics(const char *const **metrics);
extern void sums_sort_begin(void);
extern bool sums_sort_step(size_t budget);
extern int	sums_count(void);
extern const char *sums_user(int i);
extern const char *sums_metric(int i);
extern int128 sums_total(int i);
extern int	sums_range(void);
extern bool sums_next_range(void);

#endif							/* EVPROC_FOLD_SUMS_H */
