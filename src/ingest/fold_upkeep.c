/*-------------------------------------------------------------------------
 *
 * fold_upkeep.c
 *	  What fold.c keeps up outside a file's transaction: forgetting
 *	  eventIds older than evproc.dedupe_retention, and the newest file name
 *	  recorded in evproc.processed_files (the journal's new names must sort
 *	  after it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/fold.h"
#include "shared/db.h"
#include "shared/settings.h"

#include "catalog/pg_type.h"
#include "utils/memutils.h"

/*
 * fold_prune_seen forgets eventIds older than evproc.dedupe_retention.
 * Errors are logged and the prune is simply tried again next time.
 */
void
fold_prune_seen(void)
{
	uint64		n = db_prune("seen_events", "seen_at",
							 (double) evproc_dedupe_retention);

	if (n > 0)
		ereport(DEBUG1,
				(errmsg("evproc: forgot " UINT64_FORMAT " eventIds older than evproc.dedupe_retention",
						n)));
}

/*
 * fold_last_recorded_name gives a name with the newest stamp and the
 * largest sequence number among the names recorded in
 * evproc.processed_files, palloc'd in TopMemoryContext, or NULL if there
 * is none (or the tables are missing): the journal's new names must sort
 * after it even when those files are gone from processed/.  Errors are
 * raised: at worker start, nothing can go on without it.
 */
char *
fold_last_recorded_name(void)
{
	char	   *result = NULL;

	db_begin("evproc: reading recorded file names");
	if (db_has_table("processed_files"))
	{
		/* names the workers make: events-<stamp>-<seq>[-<hex>][.w<N>].jsonl */
		int			rc = SPI_execute("SELECT pg_catalog.max(pg_catalog.substr(filename, 8, 16)), "
									 "pg_catalog.max(pg_catalog.substring(filename, "
									 "'^events-[0-9]{8}T[0-9]{6}Z-([0-9]{1,18})(?:-[0-9a-f]+)?(?:\\.w[0-9]+)?\\.jsonl$')"
									 "::pg_catalog.int8) "
									 "FROM evproc.processed_files "
									 "WHERE filename OPERATOR(pg_catalog.~) "
									 "'^events-[0-9]{8}T[0-9]{6}Z-[0-9]{1,18}(?:-[0-9a-f]+)?(?:\\.w[0-9]+)?\\.jsonl$'",
									 true, 1);

		if (rc == SPI_OK_SELECT && SPI_processed == 1)
		{
			char	   *stamp = SPI_getvalue(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1);
			char	   *seq = SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 2);

			if (stamp != NULL && seq != NULL)
				result = MemoryContextStrdup(TopMemoryContext,
											 psprintf("events-%s-%s.jsonl",
													  stamp, seq));
		}
	}
	db_commit();
	return result;
}
