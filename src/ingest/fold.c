/*-------------------------------------------------------------------------
 *
 * fold.c
 *	  What one archived file adds to the database, exactly once: its events
 *	  folded into per-user sums, its eventIds checked against
 *	  evproc.seen_events, its rejected lines, and its row in
 *	  evproc.processed_files.
 *
 * While ingest.c reads a file, the events are summed per user in memory
 * with exact 128-bit decimals (fold_sums.c: a range of users at a time, so
 * that memory stays bounded), and the lines that are not events are kept
 * (the first evproc.max_rejected_lines of them; all are counted).  Then,
 * in the file's one transaction, ingest.c has the eventIds checked chunk
 * by chunk, the range's sums upserted chunk by chunk in user id order (one
 * set-based statement per chunk; concurrent ingests cannot deadlock), then
 * the file read again for each further range of users and its sums
 * upserted likewise, the rejected lines stored, and the file recorded,
 * each step bounded so the event loop keeps serving.  Nothing is
 * committed before the file is recorded.  One file is folded at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/fold.h"
#include "ingest/fold_sums.h"
#include "ingest/fold_top.h"
#include "shared/db.h"
#include "shared/feed.h"
#include "shared/settings.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* rows per statement of the file's transaction */
#define FOLD_CHUNK_ROWS			2500
/* element moves of the sort of the sums between two looks at the clock */
#define FOLD_SORT_MOVES			8192
/* bytes of a rejected line kept in evproc.rejected_lines */
#define FOLD_REJECT_KEEP		4096

typedef struct RejectedLine
{
	int64		lineno;
	char	   *text;
	const char *reason;
} RejectedLine;

/* the file being folded */
static struct
{
	char	   *name;			/* NULL: no file */
	MemoryContext cxt;			/* everything about it */
	List	   *rejected;		/* of RejectedLine */
	FoldCounts	counts;
	int			next_row;		/* the range's rows before it are upserted */
	ListCell   *next_rejected;
	uint8	   *fresh;			/* bit per event with an eventId: counted */
	int64		nfresh;			/* its bits */
	const char **users;			/* the users of the ranges applied, the
								 * first keep_users of them */
	int			nusers;			/* all of them */
	int			keep_users;
} fold;

/* by schema: [1] where processed_files has murmur3_128 (1.8 on) */
static SPIPlanPtr plan_recorded[2];
static SPIPlanPtr plan_upsert = NULL;
static SPIPlanPtr plan_reject = NULL;
static SPIPlanPtr plan_record[2];
static bool murmur3_schema;		/* this transaction's: 1.8 or later */
static SPIPlanPtr plan_seen = NULL;
static SPIPlanPtr plan_notify_users = NULL;
static SPIPlanPtr plan_notify_file = NULL;

/* the channel the ingest transactions notify (see fold_notify) */
#define FOLD_CHANNEL			"evproc_updates"
/* a notification's payload is at most this long (PostgreSQL: < 8000) */
#define FOLD_PAYLOAD_MAX		7900

/* fold_begin starts folding the file name. */
void
fold_begin(const char *name)
{
	fold_end();
	fold.cxt = AllocSetContextCreate(TopMemoryContext, "evproc fold",
									 ALLOCSET_DEFAULT_SIZES);
	fold.name = MemoryContextStrdup(fold.cxt, name);
	fold.rejected = NIL;
	memset(&fold.counts, 0, sizeof(fold.counts));
	fold.next_row = 0;
	fold.next_rejected = NULL;
	/* enough for the feed and for evproc_updates (see fold_users) */
	fold.keep_users = Max(FEED_MAX_USERS, evproc_notify_max_users);
	fold.users = MemoryContextAlloc(fold.cxt, sizeof(char *) * fold.keep_users);
	fold.nusers = 0;
	fold.fresh = NULL;
	fold.nfresh = 0;
	sums_begin(fold.cxt, fold.name);
}

/* fold_end forgets the file, whether it was recorded or not. */
void
fold_end(void)
{
	if (fold.cxt != NULL)
		MemoryContextDelete(fold.cxt);
	memset(&fold, 0, sizeof(fold));
	sums_end();
	fold_top_end();
}

/* fold_note_events counts n valid events of the file. */
void
fold_note_events(int64 n)
{
	fold.counts.events += n;
}

/*
 * fold_printable makes text storable as text and fit for the log: at most
 * FOLD_REJECT_KEEP bytes, and if it is not valid UTF-8 or holds NULs,
 * every byte outside printable ASCII written as \xNN.  palloc'd.
 */
char *
fold_printable(const char *text, size_t len)
{
	StringInfoData buf;

	if (len > FOLD_REJECT_KEEP)
		len = FOLD_REJECT_KEEP;
	initStringInfo(&buf);
	if (ev_utf8_valid(text, len) && memchr(text, '\0', len) == NULL)
		appendBinaryStringInfo(&buf, text, (int) len);
	else
	{
		for (size_t i = 0; i < len; i++)
		{
			unsigned char c = (unsigned char) text[i];

			if (c >= 0x20 && c < 0x7f)
				appendStringInfoChar(&buf, (char) c);
			else
				appendStringInfo(&buf, "\\x%02x", c);
		}
	}
	return buf.data;
}

/*
 * fold_reject keeps a rejected line for evproc.rejected_lines: the first
 * evproc.max_rejected_lines of a file, so that memory stays bounded
 * whatever the file; the rest are only counted.
 */
void
fold_reject(int64 lineno, const char *line, size_t len, const char *reason)
{
	if (fold.counts.rejected++ < evproc_max_rejected_lines)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(fold.cxt);
		RejectedLine *r = palloc(sizeof(RejectedLine));

		r->lineno = lineno;
		r->text = fold_printable(line, len);
		r->reason = pstrdup(reason);
		fold.rejected = lappend(fold.rejected, r);
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * fold_prepare prepares the statements of a file's transaction that are
 * not yet prepared.  Each on its own: an error (a lock timeout on a
 * table) can stop us after some of them, and the next try must prepare
 * the rest.
 */
void
fold_prepare(void)
{
	Oid			text1[1] = {TEXTOID};
	Oid			upsert[3] = {TEXTARRAYOID, TEXTARRAYOID, NUMERICARRAYOID};
	Oid			reject[4] = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Oid			record[6] = {TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID};
	Oid			seen[1] = {TEXTARRAYOID};

	/*
	 * ALTER EXTENSION evproc UPDATE adds processed_files.murmur3_128 while
	 * the worker runs (it waits for the lock that a file's transaction
	 * holds): each transaction looks, and uses the plans of its schema.
	 */
	murmur3_schema = db_has_column("processed_files", "murmur3_128");
	if (plan_recorded[murmur3_schema] == NULL)
		plan_recorded[murmur3_schema] = db_prepare(murmur3_schema ?
												   "SELECT size, sha256, murmur3_128 FROM evproc.processed_files WHERE filename = $1" :
												   "SELECT size, sha256, NULL::pg_catalog.bytea FROM evproc.processed_files WHERE filename = $1",
												   1, text1);
	if (plan_upsert == NULL)
		plan_upsert = db_prepare(FOLD_UPSERT_SQL, 3, upsert);
	if (plan_reject == NULL)
		plan_reject = db_prepare(
								 "INSERT INTO evproc.rejected_lines (filename, line_number, line, reason) "
								 "SELECT $1, n, l, r FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4)) AS t(n, l, r)",
								 4, reject);
#define RECORD_SQL(hash) \
	"INSERT INTO evproc.processed_files " \
	"(filename, events, rejected, duplicates, size, " hash ") " \
	"VALUES ($1, $2, $3, $4, $5, $6)"
	if (plan_record[murmur3_schema] == NULL)
		plan_record[murmur3_schema] = db_prepare(murmur3_schema ?
												 RECORD_SQL("murmur3_128") :
												 RECORD_SQL("sha256"),
												 6, record);
	if (plan_notify_users == NULL)
	{
		Oid			users[1] = {TEXTARRAYOID};

		/*
		 * The user's state, as GET /userEvents/:userId gives it; a state too
		 * long for a payload is sent without its metrics.
		 */
		plan_notify_users = db_prepare(
									   "SELECT pg_catalog.pg_notify('" FOLD_CHANNEL "', CASE "
									   "WHEN pg_catalog.octet_length(p) OPERATOR(pg_catalog.<=) " CppAsString2(FOLD_PAYLOAD_MAX) " THEN p "
									   "ELSE pg_catalog.format('{\"userId\": %s, \"revenue\": %s}', u, r) END) "
									   "FROM (SELECT pg_catalog.to_json(user_id)::pg_catalog.text AS u, "
									   "COALESCE(pg_catalog.max(value) FILTER (WHERE metric OPERATOR(pg_catalog.=) '" EV_METRIC_REVENUE "'), 0)::pg_catalog.text AS r, "
									   "pg_catalog.format('{\"userId\": %s, \"revenue\": %s, \"metrics\": %s}', "
									   "pg_catalog.to_json(user_id)::pg_catalog.text, "
									   "COALESCE(pg_catalog.max(value) FILTER (WHERE metric OPERATOR(pg_catalog.=) '" EV_METRIC_REVENUE "'), 0), "
									   "pg_catalog.jsonb_object_agg(metric, value)) AS p "
									   "FROM evproc.user_metrics WHERE user_id OPERATOR(pg_catalog.=) ANY ($1) "
									   "GROUP BY user_id) AS s",
									   1, users);
	}
	if (plan_notify_file == NULL)
	{
		Oid			file[2] = {TEXTOID, INT4OID};

		plan_notify_file = db_prepare(
									  "SELECT pg_catalog.pg_notify('" FOLD_CHANNEL "', "
									  "pg_catalog.format('{\"file\": %s, \"users\": %s}', "
									  "pg_catalog.to_json($1)::pg_catalog.text, $2))",
									  2, file);
	}
	if (plan_seen == NULL)
		plan_seen = db_prepare(
							   "INSERT INTO evproc.seen_events (event_id) "
							   "SELECT pg_catalog.unnest($1) "
							   "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
							   1, seen);
}

/*
 * fold_records_sha256: does this transaction's schema record a SHA-256
 * (before 1.8), which the caller must then compute before fold_record?
 */
bool
fold_records_sha256(void)
{
	return !murmur3_schema;
}

/* same_bytes: is the bytea datum exactly len bytes equal to bytes? */
static bool
same_bytes(Datum d, const uint8 *bytes, size_t len)
{
	return VARSIZE_ANY_EXHDR(DatumGetPointer(d)) == len &&
		memcmp(VARDATA_ANY(DatumGetPointer(d)), bytes, len) == 0;
}

/*
 * fold_recorded_as looks name up in evproc.processed_files and compares
 * what is recorded with the file's fingerprint fp: its size and
 * MurmurHash3, or, for a row recorded by 1.1 to 1.7, its SHA-256, which
 * the caller computes only when told so (RECORDED_NEEDS_SHA256).
 */
Recorded
fold_recorded_as(const char *name, const Fingerprint *fp)
{
	Datum		arg = CStringGetTextDatum(name);
	Datum		values[3];
	bool		nulls[3];

	db_execute(plan_recorded[murmur3_schema], &arg, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return RECORDED_NOT;
	for (int i = 0; i < 3; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[0],
								  SPI_tuptable->tupdesc, i + 1, &nulls[i]);
	if (nulls[0] || (nulls[1] && nulls[2]))
		return RECORDED_LEGACY;
	if (DatumGetInt64(values[0]) != fp->size)
		return RECORDED_OTHER;
	if (!nulls[2])
		return same_bytes(values[2], fp->murmur3, EV_HASH128_LEN) ?
			RECORDED_SAME : RECORDED_OTHER;
	if (!fp->has_sha256)
		return RECORDED_NEEDS_SHA256;
	return same_bytes(values[1], fp->sha256, PG_SHA256_DIGEST_LENGTH) ?
		RECORDED_SAME : RECORDED_OTHER;
}

static int
compare_id_events(const void *a, const void *b)
{
	const IdEvent *ea = a;
	const IdEvent *eb = b;
	int			c = strcmp(ea->event_id, eb->event_id);

	return c != 0 ? c : (ea->seq < eb->seq ? -1 : ea->seq > eb->seq);
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * fold_fresh_begin makes room for the verdicts on the events with an
 * eventId of the file's n lines: the ranges after the first read the file
 * again, and count only those found new (see fold_fresh).  A bit a line.
 */
void
fold_fresh_begin(int64 n)
{
	fold.nfresh = n;
	fold.fresh = MemoryContextAllocExtended(fold.cxt, n / 8 + 1,
											MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
}

/* fold_fresh: was the event with an eventId on line seq counted? */
bool
fold_fresh(int64 seq)
{
	return seq < fold.nfresh && (fold.fresh[seq / 8] & (1 << (seq % 8))) != 0;
}

/*
 * fold_count_new_ids takes a chunk of events with eventIds: it records the
 * ids in evproc.seen_events and adds to the sums only the events whose id
 * was not there yet (and only the first of a repeated id in the chunk),
 * noting them for the later ranges (fold_fresh).
 */
void
fold_count_new_ids(IdEvent *chunk, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(n, 1));
	char	  **fresh;
	int			nids = 0;
	int			nfresh;
	Datum		arg;

	qsort(chunk, n, sizeof(IdEvent), compare_id_events);
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(chunk[i].event_id, chunk[i - 1].event_id) != 0)
			ids[nids++] = CStringGetTextDatum(chunk[i].event_id);
	arg = db_array(ids, nids, TEXTOID);
	db_execute(plan_seen, &arg, false, 0, SPI_OK_INSERT_RETURNING);

	nfresh = (int) SPI_processed;
	fresh = palloc(sizeof(char *) * Max(nfresh, 1));
	for (int i = 0; i < nfresh; i++)
		fresh[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	qsort(fresh, nfresh, sizeof(char *), compare_strings);

	/* merge: both sorted by id */
	for (int i = 0, j = 0; i < n; i++)
	{
		if (i > 0 && strcmp(chunk[i].event_id, chunk[i - 1].event_id) == 0)
		{
			fold.counts.duplicates++;
			continue;
		}
		while (j < nfresh && strcmp(fresh[j], chunk[i].event_id) < 0)
			j++;
		if (j < nfresh && strcmp(fresh[j], chunk[i].event_id) == 0)
		{
			fold_add(chunk[i].user_id, strlen(chunk[i].user_id),
					 chunk[i].metric, strlen(chunk[i].metric), chunk[i].delta);
			if (chunk[i].seq < fold.nfresh)
				fold.fresh[chunk[i].seq / 8] |= 1 << (chunk[i].seq % 8);
		}
		else
			fold.counts.duplicates++;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * fold_sort_begin starts listing the range's sums in (user id, metric)
 * order, for its upserts (fold_sums.c); fold_sort_for sorts them for about
 * ms milliseconds, and returns true once they are sorted.  The eventIds
 * must all have been counted.
 */
void
fold_sort_begin(void)
{
	sums_sort_begin();
	fold.next_row = 0;
	fold.next_rejected = list_head(fold.rejected);
}

bool
fold_sort_for(long ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   ms);

	do
	{
		if (sums_sort_step(FOLD_SORT_MOVES))
			return true;
	} while (GetCurrentTimestamp() < deadline);
	return false;
}

/*
 * note_users notes the distinct users of the range whose sums were all
 * upserted (in order: by user, then metric), for fold_notify and
 * fold_users: the first keep_users of them, all counted.  A user's sums
 * are all in one range.
 */
static void
note_users(void)
{
	int			n = sums_count();

	for (int i = 0; i < n; i++)
	{
		if (i > 0 && strcmp(sums_user(i), sums_user(i - 1)) == 0)
			continue;
		if (fold.nusers < fold.keep_users)
			fold.users[fold.nusers] = MemoryContextStrdup(fold.cxt, sums_user(i));
		fold.nusers++;
	}
	fold.counts.rows += n;
}

/*
 * fold_upsert_step upserts the next chunk of the range's sums, at most
 * max_rows of them (the caller keeps a statement short).  Returns true
 * when all sums of the range are applied.
 */
bool
fold_upsert_step(int max_rows)
{
	int			start = fold.next_row;
	int			m = Min(Min(FOLD_CHUNK_ROWS, Max(max_rows, 1)),
						sums_count() - start);
	Datum	   *users;
	Datum	   *metrics;
	Datum	   *totals;
	Datum		args[3];

	if (m <= 0)
	{
		note_users();
		return true;
	}
	/* the floors before the file's first upsert */
	if (start == 0 && sums_range() == 0)
		fold_top_start();
	users = palloc(sizeof(Datum) * m);
	metrics = palloc(sizeof(Datum) * m);
	totals = palloc(sizeof(Datum) * m);
	for (int i = 0; i < m; i++)
	{
		char		num[EV_DECIMAL_BUFSZ];

		ev_decimal_format(sums_total(start + i), num);
		users[i] = CStringGetTextDatum(sums_user(start + i));
		metrics[i] = CStringGetTextDatum(sums_metric(start + i));
		totals[i] = db_numeric(num);
	}
	args[0] = db_array(users, m, TEXTOID);
	args[1] = db_array(metrics, m, TEXTOID);
	args[2] = db_array(totals, m, NUMERICOID);
	if (!fold_top_upsert(args))
		db_execute(plan_upsert, args, false, 0, SPI_OK_INSERT);
	fold.next_row += m;
	if (fold.next_row < sums_count())
	{
		evproc_fault("ingest-mid-transaction");
		return false;
	}
	note_users();
	return true;
}

/*
 * fold_next_range starts the next range of the file's users, once the
 * last one's sums are applied: the file is then to be read again for them
 * (fold_sums.c).  Returns false if none is left.
 */
bool
fold_next_range(void)
{
	fold.next_row = 0;
	return sums_next_range();
}

/* fold_rejected_step stores the next chunk of rejected lines. */
bool
fold_rejected_step(void)
{
	Datum	   *linenos;
	Datum	   *texts;
	Datum	   *reasons;
	Datum		args[4];
	int			m = 0;
	ListCell   *lc = fold.next_rejected;

	if (lc == NULL)
		return true;
	linenos = palloc(sizeof(Datum) * FOLD_CHUNK_ROWS);
	texts = palloc(sizeof(Datum) * FOLD_CHUNK_ROWS);
	reasons = palloc(sizeof(Datum) * FOLD_CHUNK_ROWS);
	for (; lc != NULL && m < FOLD_CHUNK_ROWS;
		 lc = lnext(fold.rejected, lc), m++)
	{
		RejectedLine *r = lfirst(lc);

		linenos[m] = Int64GetDatum(r->lineno);
		texts[m] = CStringGetTextDatum(r->text);
		reasons[m] = CStringGetTextDatum(r->reason);
	}
	args[0] = CStringGetTextDatum(fold.name);
	args[1] = db_array(linenos, m, INT8OID);
	args[2] = db_array(texts, m, TEXTOID);
	args[3] = db_array(reasons, m, TEXTOID);
	db_execute(plan_reject, args, false, 0, SPI_OK_INSERT);
	fold.next_rejected = lc;
	return lc == NULL;
}

/*
 * fold_apply_tops brings the top lists of the file's metrics up to date
 * (fold_top.c), after the last upsert.
 */
void
fold_apply_tops(void)
{
	const char *const *metrics;
	int			nmetrics = sums_metrics(&metrics);

	fold_top_apply(metrics, nmetrics);
}

/*
 * fold_notify notifies channel evproc_updates of the users whose metrics
 * the file changed, in the file's transaction, so that listeners hear of
 * them when (and only if) it commits: one notification per user with the
 * user's new state, up to evproc.notify_max_users users; a file that
 * changes more sends one notification naming the file and the number of
 * users instead, so that the cost stays bounded.  Call after the upserts.
 */
void
fold_notify(void)
{
	Datum	   *users;
	Datum		arg;

	if (fold.nusers == 0)
		return;
	/* more than were kept: only if the setting was raised since */
	if (fold.nusers > evproc_notify_max_users || fold.nusers > fold.keep_users)
	{
		Datum		args[2];

		args[0] = CStringGetTextDatum(fold.name);
		args[1] = Int32GetDatum(fold.nusers);
		db_execute(plan_notify_file, args, false, 0, SPI_OK_SELECT);
		return;
	}
	users = palloc(sizeof(Datum) * fold.nusers);
	for (int i = 0; i < fold.nusers; i++)
		users[i] = CStringGetTextDatum(fold.users[i]);
	arg = db_array(users, fold.nusers, TEXTOID);
	db_execute(plan_notify_users, &arg, false, 0, SPI_OK_SELECT);
}

/*
 * fold_users gives the number of distinct users whose metrics the file
 * changes, and in *users the first of them, up to FEED_MAX_USERS at least
 * (allocated in cxt, which must outlive the file's transaction; the ids
 * stay valid until fold_end): the feed lists no more (see feed_publish).
 */
int
fold_users(MemoryContext cxt, const char ***users)
{
	int			n = Min(fold.nusers, fold.keep_users);

	*users = MemoryContextAlloc(cxt, sizeof(char *) * Max(n, 1));
	memcpy(*users, fold.users, sizeof(char *) * n);
	return fold.nusers;
}

/*
 * fold_record records the file's name with its counts and fingerprint in
 * evproc.processed_files (its MurmurHash3, or its SHA-256 before schema
 * 1.8), the last statement of its transaction, and gives the counts.
 */
void
fold_record(const Fingerprint *fp, FoldCounts *counts)
{
	Datum		args[6];

	Assert(murmur3_schema || fp->has_sha256);
	args[0] = CStringGetTextDatum(fold.name);
	args[1] = Int64GetDatum(fold.counts.events);
	args[2] = Int64GetDatum(fold.counts.rejected);
	args[3] = Int64GetDatum(fold.counts.duplicates);
	args[4] = Int64GetDatum(fp->size);
	args[5] = PointerGetDatum(murmur3_schema ?
							  cstring_to_text_with_len((const char *) fp->murmur3,
													   EV_HASH128_LEN) :
							  cstring_to_text_with_len((const char *) fp->sha256,
													   PG_SHA256_DIGEST_LENGTH));
	db_execute(plan_record[murmur3_schema], args, false, 0, SPI_OK_INSERT);
	*counts = fold.counts;
}
