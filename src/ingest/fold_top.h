/*-------------------------------------------------------------------------
 *
 * fold_top.h
 *	  The top lists (evproc.top_users) kept by a file's ingest transaction:
 *	  its upserts with the users that may enter a list, and the merge at
 *	  the end of the file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_FOLD_TOP_H
#define EVPROC_FOLD_TOP_H

#include "postgres.h"

extern void fold_top_start(void);
extern bool fold_top_upsert(Datum *args);
extern void fold_top_apply(const char *const *metrics, int nmetrics);
extern void fold_top_end(void);

#endif							/* EVPROC_FOLD_TOP_H */
