/*-------------------------------------------------------------------------
 *
 * changes.h
 *	  The workers' copies of tables (evproc.event_types, evproc.tokens):
 *	  the signal that a table changed (a generation counter per table in
 *	  shared memory, bumped by the committing backend), and when and how a
 *	  worker reads the table again.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CHANGES_H
#define EVPROC_CHANGES_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"

typedef enum WatchedTable
{
	WATCH_EVENT_TYPES,
	WATCH_TOKENS,
	WATCH_NTABLES
} WatchedTable;

/* postmaster: shared memory */
extern Size changes_shmem_size(void);
extern void changes_shmem_init(void);

/* a backend, in a statement trigger: the workers are told at commit */
extern void changes_note(FunctionCallInfo fcinfo, WatchedTable table);

/* How reading a table went. */
typedef enum TableRead
{
	TABLE_READ,					/* the copy is the table */
	TABLE_MISSING,				/* no such table (yet, or any more) */
	TABLE_UNREAD				/* locked, or reading failed: keep the copy */
} TableRead;

/* A worker's copy of a table: what it reads, and when it reads it again. */
typedef struct TableCopy
{
	WatchedTable table;
	const char *name;			/* the table, in schema evproc */
	void		(*load) (void); /* reads it (SPI connected, table locked) */
	uint64		generation;		/* the table's generation when read */
	TimestampTz next_read;		/* read again then, changed or not */
	int			backoff_ms;		/* after failed reads, doubling */
} TableCopy;

/* a worker */
extern bool changes_stale(const TableCopy *copy);
extern TableRead changes_read(TableCopy *copy);
extern long changes_timeout_ms(const TableCopy *copy);

#endif							/* EVPROC_CHANGES_H */
