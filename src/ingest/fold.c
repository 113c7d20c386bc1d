/*-------------------------------------------------------------------------
 *
 * fold.c
 *	  What one archived file adds to the database, exactly once: its events
 *	  folded into per-user sums, its eventIds checked against
 *	  evproc.seen_events, its rejected lines, and its row in
 *	  evproc.processed_files.
 *
 * While ingest.c reads a file, the events are summed per user in memory
 * with exact 128-bit decimals, and the lines that are not events are kept
 * (the first evproc.max_rejected_lines of them; all are counted).  Then,
 * in the file's one transaction, ingest.c has the eventIds checked chunk
 * by chunk, the sums upserted chunk by chunk in user id order (one
 * set-based statement per chunk; concurrent ingests cannot deadlock), the
 * rejected lines stored, and the file recorded, each step bounded so the
 * event loop keeps serving.  One file is folded at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/stepsort.h"
#include "ingest/fold.h"
#include "ingest/fold_top.h"
#include "ingest/lookup.h"
#include "shared/db.h"
#include "shared/settings.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* rows per statement of the file's transaction */
#define FOLD_CHUNK_ROWS			2500
/* bytes of a rejected line kept in evproc.rejected_lines */
#define FOLD_REJECT_KEEP		4096

/* the keys of the sums are stored in blocks of this size */
#define FOLD_ARENA_BLOCK		(256 * 1024)
/* the most distinct metrics one file may change */
#define FOLD_MAX_METRICS		1000

/*
 * A key of the sums: the length of what follows (two bytes, unaligned),
 * then a user id and a metric, each NUL-terminated, one after the other
 * ("<len>user\0metric\0"); a buffer of KEY_BUFSZ holds any.  With the
 * length in front, hashing and comparing a key never looks for its NULs.
 */
#define KEY_HDR		sizeof(uint16)
#define KEY_BUFSZ	(KEY_HDR + EV_USER_ID_MAX + 1 + EV_NAME_MAX + 1)

/* key_len: the key's length, its header included */
static inline size_t
key_len(const char *key)
{
	uint16		len;

	memcpy(&len, key, sizeof(len));
	return KEY_HDR + len;
}

/* key_user: the key's user id, NUL-terminated */
static inline const char *
key_user(const char *key)
{
	return key + KEY_HDR;
}

static inline const char *
key_metric(const char *key)
{
	return key_user(key) + strlen(key_user(key)) + 1;
}

static inline bool
key_equal(const char *a, const char *b)
{
	size_t		len = key_len(a);

	return len == key_len(b) && memcmp(a + KEY_HDR, b + KEY_HDR, len - KEY_HDR) == 0;
}

/*
 * make_key writes user_id's and metric's key into buf (KEY_BUFSZ bytes),
 * given their lengths, and returns its length.
 */
static inline size_t
make_key(char *buf, const char *user_id, size_t user_len, const char *metric,
		 size_t metric_len)
{
	uint16		len = (uint16) (user_len + 1 + metric_len + 1);

	memcpy(buf, &len, sizeof(len));
	memcpy(buf + KEY_HDR, user_id, user_len + 1);
	memcpy(buf + KEY_HDR + user_len + 1, metric, metric_len + 1);
	return KEY_HDR + len;
}

/* compare_keys orders keys by user id, then metric */
static inline int
compare_keys(const char *a, const char *b)
{
	int			c = strcmp(key_user(a), key_user(b));

	return c != 0 ? c : strcmp(key_metric(a), key_metric(b));
}

/*
 * A user's sum of one metric, in a simplehash table keyed by user and
 * metric.  The sum is PG's int128, which (unlike a bare __int128) is only
 * 8-byte aligned, as palloc'd memory is.  32 bytes: a file can have
 * hundreds of thousands of them.
 */
typedef struct UserTotal
{
	char	   *key;			/* user id, then metric (see make_key) */
	uint32		hash;
	char		status;
	int128		total;
} UserTotal;

#define SH_PREFIX			usertotals
#define SH_ELEMENT_TYPE		UserTotal
#define SH_KEY_TYPE			char *
#define SH_KEY				key
#define SH_HASH_KEY(tb, k)	hash_bytes((const unsigned char *) (k), key_len(k))
#define SH_EQUAL(tb, a, b)	key_equal(a, b)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a)	((a)->hash)
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

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
	usertotals_hash *totals;
	List	   *rejected;		/* of RejectedLine */
	FoldCounts	counts;
	char	   *arena;			/* where the next key goes (see store_key) */
	size_t		arena_left;
	const char **metrics;		/* the distinct metrics the file changes */
	int			nmetrics;
	StepSort	sort;			/* sorting them, a step at a time */
	UserTotal **sorted;			/* NULL until they are sorted */
	int			nsorted;
	int			next_row;		/* rows before it are upserted */
	ListCell   *next_rejected;
} fold;

static SPIPlanPtr plan_recorded = NULL;
static SPIPlanPtr plan_upsert = NULL;
static SPIPlanPtr plan_reject = NULL;
static SPIPlanPtr plan_record = NULL;
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
	fold.totals = usertotals_create(fold.cxt, 1024, NULL);
	fold.rejected = NIL;
	memset(&fold.counts, 0, sizeof(fold.counts));
	fold.metrics = MemoryContextAlloc(fold.cxt,
									  sizeof(char *) * FOLD_MAX_METRICS);
	fold.nmetrics = 0;
	fold.arena = NULL;
	fold.arena_left = 0;
	fold.sorted = NULL;
	fold.nsorted = 0;
	fold.next_row = 0;
	fold.next_rejected = NULL;
}

/* fold_end forgets the file, whether it was recorded or not. */
void
fold_end(void)
{
	if (fold.cxt != NULL)
		MemoryContextDelete(fold.cxt);
	memset(&fold, 0, sizeof(fold));
	fold_top_end();
}

/* fold_note_events counts n valid events of the file. */
void
fold_note_events(int64 n)
{
	fold.counts.events += n;
}

/*
 * store_key copies a key (len bytes) into the file's memory, densely: a
 * file can have hundreds of thousands of them, and a chunk of their own
 * would cost them twice the memory.
 */
static char *
store_key(const char *key, size_t len)
{
	char	   *p;

	if (fold.arena_left < len)
	{
		size_t		size = Max(len, FOLD_ARENA_BLOCK);

		fold.arena = MemoryContextAlloc(fold.cxt, size);
		fold.arena_left = size;
	}
	p = fold.arena;
	memcpy(p, key, len);
	fold.arena += len;
	fold.arena_left -= len;
	return p;
}

/* note_metric adds metric to the file's metrics, if it is new. */
static void
note_metric(const char *metric)
{
	for (int i = 0; i < fold.nmetrics; i++)
		if (strcmp(fold.metrics[i], metric) == 0)
			return;
	if (fold.nmetrics == FOLD_MAX_METRICS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" changes more than %d metrics",
						fold.name, FOLD_MAX_METRICS)));
	fold.metrics[fold.nmetrics++] = MemoryContextStrdup(fold.cxt, metric);
}

/* add_hashed adds delta to the sum of key (len bytes), whose hash is hash */
static inline void
add_hashed(const char *key, size_t len, uint32 hash, ev_int128 delta)
{
	bool		found;
	UserTotal  *entry;
	ev_int128	total;

	entry = usertotals_insert_hash(fold.totals, (char *) key, hash, &found);
	if (!found)
	{
		entry->key = store_key(key, len);
		entry->total = 0;
		note_metric(key_metric(entry->key));
	}
	total = entry->total;
	if (__builtin_add_overflow(total, delta, &total))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("metric \"%s\" of user \"%s\" in file \"%s\" is out of range",
						key_metric(key), key_user(key), fold.name)));
	entry->total = total;
}

/*
 * fold_add adds one event's amount to its user's sum of metric (user_len
 * and metric_len bytes, each NUL-terminated).
 */
void
fold_add(const char *user_id, size_t user_len, const char *metric,
		 size_t metric_len, ev_int128 delta)
{
	char		key[KEY_BUFSZ];
	size_t		len = make_key(key, user_id, user_len, metric, metric_len);

	add_hashed(key, len, hash_bytes((const unsigned char *) key, len), delta);
}

/*
 * fold_add_events adds n (at most FOLD_BATCH) typed events to their users'
 * sums.  With hundreds of thousands of sums, most of the time of an
 * addition is spent waiting for its bucket to come from memory: the
 * buckets of the whole batch are asked for first, then filled.
 */
void
fold_add_events(const EvEvent *evs, int n)
{
	char		keys[FOLD_BATCH][KEY_BUFSZ];
	size_t		lens[FOLD_BATCH];
	uint32		hashes[FOLD_BATCH];

	Assert(n <= FOLD_BATCH);
	for (int i = 0; i < n; i++)
	{
		lens[i] = make_key(keys[i], evs[i].user_id, evs[i].user_id_len,
						   evs[i].metric, evs[i].metric_len);
		hashes[i] = hash_bytes((const unsigned char *) keys[i], lens[i]);
		__builtin_prefetch(&fold.totals->data[hashes[i] & fold.totals->sizemask]);
	}
	for (int i = 0; i < n; i++)
		add_hashed(keys[i], lens[i], hashes[i], ev_event_delta(&evs[i]));
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

	if (plan_recorded == NULL)
		plan_recorded = db_prepare(
								   "SELECT size, sha256 FROM evproc.processed_files WHERE filename = $1",
								   1, text1);
	if (plan_upsert == NULL)
		plan_upsert = db_prepare(FOLD_UPSERT_SQL, 3, upsert);
	if (plan_reject == NULL)
		plan_reject = db_prepare(
								 "INSERT INTO evproc.rejected_lines (filename, line_number, line, reason) "
								 "SELECT $1, n, l, r FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), "
								 "pg_catalog.unnest($4)) AS t(n, l, r)",
								 4, reject);
	if (plan_record == NULL)
		plan_record = db_prepare(
								 "INSERT INTO evproc.processed_files "
								 "(filename, events, rejected, duplicates, size, sha256) "
								 "VALUES ($1, $2, $3, $4, $5, $6)",
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
 * fold_recorded_as looks name up in evproc.processed_files and compares
 * what is recorded with the file's fingerprint (size and SHA-256).
 */
Recorded
fold_recorded_as(const char *name, int64 size, const uint8 *digest)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		size_null;
	bool		hash_null;
	Datum		rec_size;
	Datum		rec_hash;

	db_execute(plan_recorded, &arg, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return RECORDED_NOT;
	rec_size = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							 &size_null);
	rec_hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
							 &hash_null);
	if (size_null || hash_null)
		return RECORDED_LEGACY;
	if (DatumGetInt64(rec_size) == size &&
		VARSIZE_ANY_EXHDR(DatumGetPointer(rec_hash)) == PG_SHA256_DIGEST_LENGTH &&
		memcmp(VARDATA_ANY(DatumGetPointer(rec_hash)), digest,
			   PG_SHA256_DIGEST_LENGTH) == 0)
		return RECORDED_SAME;
	return RECORDED_OTHER;
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
 * fold_count_new_ids takes a chunk of events with eventIds: it records the
 * ids in evproc.seen_events and adds to the sums only the events whose id
 * was not there yet (and only the first of a repeated id in the chunk).
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
			fold_add(chunk[i].user_id, strlen(chunk[i].user_id),
					 chunk[i].metric, strlen(chunk[i].metric), chunk[i].delta);
		else
			fold.counts.duplicates++;
	}
	SPI_freetuptable(SPI_tuptable);
}

/* by user id, then metric */
static int
compare_totals(const void *a, const void *b)
{
	return compare_keys(((const UserTotal *) a)->key,
						((const UserTotal *) b)->key);
}

/*
 * fold_sort_begin starts listing the sums in (user id, metric) order, for
 * the upserts: going in one order, concurrent ingests cannot deadlock.
 * The eventIds must all have been counted.  fold_sort_step sorts them, a
 * bounded piece at a time: one qsort of a file's 100,000 users took 30 ms.
 */
void
fold_sort_begin(void)
{
	usertotals_iterator it;
	UserTotal  *entry;
	int			k = 0;
	void	  **all;
	void	  **tmp;

	fold.nsorted = fold.totals->members;
	all = MemoryContextAlloc(fold.cxt, sizeof(void *) * Max(fold.nsorted, 1));
	tmp = MemoryContextAlloc(fold.cxt, sizeof(void *) * Max(fold.nsorted, 1));
	usertotals_start_iterate(fold.totals, &it);
	while ((entry = usertotals_iterate(fold.totals, &it)) != NULL)
		all[k++] = entry;
	stepsort_init(&fold.sort, all, tmp, fold.nsorted, compare_totals);
	fold.sorted = NULL;
	fold.next_row = 0;
	fold.next_rejected = list_head(fold.rejected);
}

/*
 * fold_sort_step sorts the sums for about budget element moves.  Returns
 * true once they are sorted.
 */
bool
fold_sort_step(size_t budget)
{
	if (fold.sorted != NULL)
		return true;
	if (!stepsort_run(&fold.sort, budget))
		return false;
	fold.sorted = (UserTotal **) stepsort_result(&fold.sort);
	pfree(fold.sort.tmp);		/* the other array */
	fold.sort.tmp = NULL;
	return true;
}

/*
 * fold_upsert_step upserts the next chunk of per-user sums, at most
 * max_rows of them (the caller keeps a statement short).  Returns true
 * when all sums are applied.
 */
bool
fold_upsert_step(int max_rows)
{
	int			start = fold.next_row;
	int			m = Min(Min(FOLD_CHUNK_ROWS, Max(max_rows, 1)),
						fold.nsorted - start);
	Datum	   *users;
	Datum	   *metrics;
	Datum	   *sums;
	Datum		args[3];

	if (m <= 0)
		return true;
	if (start == 0)
		fold_top_start();
	users = palloc(sizeof(Datum) * m);
	metrics = palloc(sizeof(Datum) * m);
	sums = palloc(sizeof(Datum) * m);
	for (int i = 0; i < m; i++)
	{
		const char *key = fold.sorted[start + i]->key;
		char		num[EV_DECIMAL_BUFSZ];

		ev_decimal_format(fold.sorted[start + i]->total, num);
		users[i] = CStringGetTextDatum(key_user(key));
		metrics[i] = CStringGetTextDatum(key_metric(key));
		sums[i] = db_numeric(num);
	}
	args[0] = db_array(users, m, TEXTOID);
	args[1] = db_array(metrics, m, TEXTOID);
	args[2] = db_array(sums, m, NUMERICOID);
	if (!fold_top_upsert(args))
		db_execute(plan_upsert, args, false, 0, SPI_OK_INSERT);
	fold.next_row += m;
	if (fold.next_row < fold.nsorted)
		evproc_fault("ingest-mid-transaction");
	return fold.next_row >= fold.nsorted;
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
	fold_top_apply(fold.metrics, fold.nmetrics);
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
	int			nusers = 0;
	Datum	   *users;
	Datum		arg;
	int			n = 0;

	/* the distinct users, in order: fold.sorted is by user, then metric */
	for (int i = 0; i < fold.nsorted; i++)
		if (i == 0 || strcmp(key_user(fold.sorted[i]->key),
							 key_user(fold.sorted[i - 1]->key)) != 0)
			nusers++;
	if (nusers == 0)
		return;
	if (nusers > evproc_notify_max_users)
	{
		Datum		args[2];

		args[0] = CStringGetTextDatum(fold.name);
		args[1] = Int32GetDatum(nusers);
		db_execute(plan_notify_file, args, false, 0, SPI_OK_SELECT);
		return;
	}
	users = palloc(sizeof(Datum) * nusers);
	for (int i = 0; i < fold.nsorted; i++)
		if (i == 0 || strcmp(key_user(fold.sorted[i]->key),
							 key_user(fold.sorted[i - 1]->key)) != 0)
			users[n++] = CStringGetTextDatum(key_user(fold.sorted[i]->key));
	arg = db_array(users, n, TEXTOID);
	db_execute(plan_notify_users, &arg, false, 0, SPI_OK_SELECT);
}

/*
 * fold_users gives the distinct users whose metrics the file changes, in
 * *users (allocated in cxt, which must outlive the file's transaction;
 * the ids stay valid until fold_end), and their number.
 */
int
fold_users(MemoryContext cxt, const char ***users)
{
	int			n = 0;

	*users = MemoryContextAlloc(cxt, sizeof(char *) * Max(fold.nsorted, 1));
	for (int i = 0; i < fold.nsorted; i++)
		if (i == 0 || strcmp(key_user(fold.sorted[i]->key),
							 key_user(fold.sorted[i - 1]->key)) != 0)
			(*users)[n++] = key_user(fold.sorted[i]->key);
	return n;
}

/*
 * fold_record records the file's name with its counts and fingerprint in
 * evproc.processed_files, the last statement of its transaction, and
 * gives the counts.
 */
void
fold_record(int64 size, const uint8 *digest, FoldCounts *counts)
{
	Datum		args[6];

	args[0] = CStringGetTextDatum(fold.name);
	args[1] = Int64GetDatum(fold.counts.events);
	args[2] = Int64GetDatum(fold.counts.rejected);
	args[3] = Int64GetDatum(fold.counts.duplicates);
	args[4] = Int64GetDatum(size);
	args[5] = PointerGetDatum(cstring_to_text_with_len((const char *) digest,
													   PG_SHA256_DIGEST_LENGTH));
	db_execute(plan_record, args, false, 0, SPI_OK_INSERT);
	*counts = fold.counts;
	counts->rows = fold.nsorted;
}

/*
 * fold_uncommitted tells what the file's open transaction has already
 * added to user_id's rows of evproc.user_metrics (the rows are upserted in
 * sorted order, so: the sums whose row comes before next_row).  It gives
 * them in *deltas (palloc'd) and returns how many: a lookup inside the
 * transaction takes them off again, so that it answers the committed
 * values, never a file half counted.  An UncommittedFn.
 */
int
fold_uncommitted(const char *user_id, MetricDelta **deltas)
{
	int			n = 0;

	*deltas = NULL;
	if (fold.totals == NULL || fold.next_row == 0)
		return 0;
	for (int i = 0; i < fold.nmetrics; i++)
	{
		char		key[KEY_BUFSZ];
		UserTotal  *entry;

		make_key(key, user_id, strlen(user_id), fold.metrics[i],
				 strlen(fold.metrics[i]));
		entry = usertotals_lookup(fold.totals, key);
		/* upserted in sorted order: those before the next row's are done */
		if (entry == NULL ||
			(fold.next_row < fold.nsorted &&
			 compare_keys(entry->key, fold.sorted[fold.next_row]->key) >= 0))
			continue;
		if (*deltas == NULL)
			*deltas = palloc(sizeof(MetricDelta) * fold.nmetrics);
		(*deltas)[n].metric = fold.metrics[i];
		ev_decimal_format(entry->total, (*deltas)[n].delta);
		n++;
	}
	return n;
}
