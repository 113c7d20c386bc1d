/*-------------------------------------------------------------------------
 *
 * ingest_moves.h
 *	  Moving an archived entry out of the queue once ingest is done with it
 *	  (processed/, failed/), or skipping it if it cannot be moved.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_INGEST_MOVES_H
#define EVPROC_INGEST_MOVES_H

#include "postgres.h"

#include "ingest/fold.h"
#include "journal/journal.h"

/* files removed from processed/ per pass */
#define INGEST_PRUNE_BATCH		1000

extern void ingest_log_counted(const char *name, const FoldCounts *counts);
extern void ingest_recorded(Journal *journal, const char *name,
							Recorded recorded, int64 size);
extern void ingest_skip(Journal *journal, const char *name, const char *what);
extern void ingest_move_done(Journal *journal, const char *name);
extern bool ingest_next_archive(Journal *journal, char *name);
extern void ingest_set_aside(Journal *journal, const char *name,
							 const char *why);

#endif							/* EVPROC_INGEST_MOVES_H */
