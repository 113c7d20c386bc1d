/*-------------------------------------------------------------------------
 *
 * db.h
 *	  The worker's database plumbing: units of work (transaction, SPI,
 *	  snapshot), the one error-catching wrapper, kept plans, and the
 *	  extension's schema.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_DB_H
#define EVPROC_DB_H

#include "postgres.h"

#include "executor/spi.h"

/* the tables of the extension, in the order they are locked */
#define DB_NTABLES 4
extern const char *const db_tables[DB_NTABLES];

/* a function run by db_try or db_try_sub */
typedef void (*DbWork) (void *arg);

extern void db_begin(const char *activity);
extern void db_standing_activity(bool running, const char *text);
extern void db_commit(void);
extern int	db_select_latest(const char *sql);
extern void db_abort(void);
extern bool db_in_work(void);
extern void db_report_stats(void);
extern long db_stats_timeout_ms(void);
extern ErrorData *db_try(DbWork work, void *arg);
extern ErrorData *db_try_sub(DbWork work, void *arg);

extern uint64 db_prune(const char *table, const char *column,
					   double seconds);
extern SPIPlanPtr db_prepare(const char *sql, int nargs, Oid *argtypes);
extern void db_execute(SPIPlanPtr plan, Datum *args, bool read_only,
					   long tcount, int expect);
extern void db_execute_committed(SPIPlanPtr plan, Datum *args, long tcount,
								 int expect);
extern Datum db_array(Datum *elems, int n, Oid elemtype);
extern Datum db_numeric(const char *literal);

extern Oid	db_extension_rel(const char *name);
extern bool db_schema_ready(void);
extern bool db_has_table(const char *name);
extern bool db_has_column(const char *table, const char *column);
extern void db_check_schema(void);
extern bool db_try_lock(const char *const *tables, int ntables,
						int lockmode);

#endif							/* EVPROC_DB_H */
