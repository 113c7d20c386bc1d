/*-------------------------------------------------------------------------
 *
 * fold.h
 *	  What one archived file adds to the database: its events folded into
 *	  per-user sums, its eventIds checked, its rejected lines, and its row
 *	  in evproc.processed_files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_FOLD_H
#define EVPROC_FOLD_H

#include "postgres.h"

#include "common/sha2.h"

#include "core/event.h"
#include "core/hash128.h"

/* An event with an eventId, waiting to be checked against seen_events. */
typedef struct IdEvent
{
	char	   *event_id;
	char	   *user_id;
	char	   *metric;
	ev_int128	delta;
	int64		seq;			/* its line: the first one wins */
} IdEvent;

/*
 * A file's fingerprint: its size and MurmurHash3 x64-128 (recorded from
 * schema 1.8 on), and its SHA-256 once computed (recorded by 1.1 to 1.7;
 * needed only to compare with such a row, or to record into such a schema).
 */
typedef struct Fingerprint
{
	int64		size;
	uint8		murmur3[EV_HASH128_LEN];
	bool		has_sha256;
	uint8		sha256[PG_SHA256_DIGEST_LENGTH];
} Fingerprint;

/* How a file's name was recorded before, if it was. */
typedef enum Recorded
{
	RECORDED_NOT,				/* a new name */
	RECORDED_SAME,				/* with this file's fingerprint: counted */
	RECORDED_LEGACY,			/* before fingerprints (1.0): counted */
	RECORDED_OTHER,				/* with another fingerprint: another file */
	RECORDED_NEEDS_SHA256		/* with a SHA-256 only: compute it, ask again */
} Recorded;

/* What a file's fold came to, for the log and processed_files. */
typedef struct FoldCounts
{
	int64		events;			/* valid events, counted or not */
	int64		duplicates;		/* eventIds seen before: not counted */
	int64		rejected;		/* lines that are not events */
	int			rows;			/* (user, metric) rows changed */
} FoldCounts;

/* reading the file, before its transaction */
/*
 * The upsert of a chunk of sums ($1 users, $2 metrics, $3 sums), alone or
 * inside fold_top.c's statement that also returns what may enter a top
 * list.
 */
#define FOLD_UPSERT_SQL \
	"INSERT INTO evproc.user_metrics AS r (user_id, metric, value) " \
	"SELECT u, m, d FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), " \
	"pg_catalog.unnest($3)) AS t(u, m, d) " \
	"ON CONFLICT (user_id, metric) DO UPDATE " \
	"SET value = r.value OPERATOR(pg_catalog.+) excluded.value, " \
	"updated_at = pg_catalog.now()"

extern void fold_begin(const char *name);
extern void fold_add(const char *user_id, size_t user_len,
					 const char *metric, size_t metric_len, ev_int128 delta);
/* the most events of one call of fold_add_events */
#define FOLD_BATCH		32
extern void fold_add_events(const EvEvent *evs, int n);
extern bool fold_skip_line(const char *line, size_t len);
extern void fold_reject(int64 lineno, const char *line, size_t len,
						const char *reason);
extern void fold_note_events(int64 n);
extern void fold_end(void);

/* in the file's transaction */
extern void fold_prepare(void);
extern bool fold_records_sha256(void);
extern Recorded fold_recorded_as(const char *name, const Fingerprint *fp);
extern void fold_fresh_begin(int64 n);
extern bool fold_fresh(int64 seq);
extern void fold_count_new_ids(IdEvent *chunk, int n);
extern void fold_sort_begin(void);
extern bool fold_sort_for(long ms);
extern bool fold_upsert_step(int max_rows);
extern bool fold_next_range(void);
extern bool fold_rejected_step(void);
extern void fold_apply_tops(void);
extern void fold_notify(void);
extern int	fold_users(MemoryContext cxt, const char ***users);
extern void fold_record(const Fingerprint *fp, FoldCounts *counts);

/* outside a file (fold_prune_seen, fold_last_recorded_name: fold_upkeep.c) */
extern char *fold_printable(const char *text, size_t len);
extern void fold_prune_seen(void);
extern char *fold_last_recorded_name(void);

#endif							/* EVPROC_FOLD_H */
