/*-------------------------------------------------------------------------
 *
 * intake_sink.h
 *	  Where intake.c's group commits make a batch durable: the journal
 *	  file, or the journal tables in the database (intake_sink.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_INTAKE_SINK_H
#define EVPROC_INTAKE_SINK_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "journal/journal.h"

/*
 * One row per evproc.journal_storage, each working on the journal that
 * intake.c owns.  flush: JOURNAL_DURABLE, JOURNAL_SYNCING (a file's sync
 * started with s; s NULL syncs inline) or -1, the failure logged unless
 * quiet (the journal is failing already); the batch is gone either way
 * (*lsn: the end of its commit, for the synchronous standbys; left
 * invalid by a file).  probe: could a flush succeed now; rotate: as
 * intake_rotate, with nothing being synced; is_empty: nothing journaled
 * since the last rotation; busy: neither a flush nor a rotation can be
 * done now.
 */
typedef struct IntakeSink
{
	int			(*flush) (Journal *j, JournalSyncer *s, bool quiet,
						  XLogRecPtr *lsn);
	bool		(*probe) (Journal *j);
	bool		(*rotate) (Journal *j, char *name);
	bool		(*is_empty) (const Journal *j);
	bool		(*busy) (void);
} IntakeSink;

/* [0]: files, [1]: database */
extern const IntakeSink intake_sinks[2];

extern void intake_sink_failed(const Journal *j);

#endif							/* EVPROC_INTAKE_SINK_H */
