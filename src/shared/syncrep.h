/*-------------------------------------------------------------------------
 *
 * syncrep.h
 *	  Has a commit reached the synchronous standbys? (see syncrep.c)
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_SYNCREP_H
#define EVPROC_SYNCREP_H

#include "access/xlogdefs.h"

extern XLogRecPtr syncrep_commit_lsn(void);
extern bool syncrep_reached(XLogRecPtr lsn);

#endif							/* EVPROC_SYNCREP_H */
