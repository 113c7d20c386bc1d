/*-------------------------------------------------------------------------
 *
 * segments.h
 *	  The journal kept in the database (evproc.journal_storage = database):
 *	  group commits into this worker's current segment, sealing, the sealed
 *	  segments ingest folds, and the truncation of the ring of tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_SEGMENTS_H
#define EVPROC_SEGMENTS_H

#include "postgres.h"

#include "journal/journal.h"

/* the worker's side: start, group commits, rotation */
extern void segments_open(int worker_index, Journal *names);
extern bool segments_append(const char *data, size_t len, char *errbuf,
							size_t errlen);
extern bool segments_probe(void);
extern bool segments_seal(char *name);
extern void segments_backlog(int *count, uint64 *bytes, time_t *oldest);

/* ingest's side */
extern bool segments_open_next(JournalReader *reader, char *name,
							   size_t max_line);
extern void segments_consume(void);
extern void segments_consumed(Journal *journal);
extern void segments_release(void);

#endif							/* EVPROC_SEGMENTS_H */
