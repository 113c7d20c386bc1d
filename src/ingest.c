/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  Folding archived journal files into per-user revenue, exactly once.
 *
 * Files are taken oldest (first by name) first.  A file is streamed in
 * slices, a bounded number of lines per call of ingest_step, so that the
 * event loop keeps serving HTTP while a large file is read.  Its events are
 * summed per user in memory with exact 128-bit decimals; lines that are not
 * valid events are kept aside with their line number and reason.
 *
 * At the end of the file, one transaction applies everything: a set-based
 * upsert of the per-user sums, the rejected lines, and a row in
 * evproc.processed_files with the file's name and fingerprint (its size
 * and SHA-256, computed as it is read).  Only after that commit is the file
 * moved to processed/.  A file whose name is recorded with the same
 * fingerprint was counted before (we crashed between commit and move) and
 * is only moved; one whose name is recorded with another fingerprint is a
 * different file that happens to reuse a name: it is renamed to a new name
 * of our own and counted under it, never skipped.  A file that can never be
 * read as it is (not a regular file, no permission, a name that is not
 * UTF-8) is set aside in failed/ and the others go on.  Any other error
 * leaves the file where it is and is retried after a back-off.
 *
 * Nothing here waits for a lock held by someone else: the tables are
 * locked conditionally before a file's transaction starts to write, and
 * if that fails the transaction is retried a little later (the file is not
 * read again).
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lockdefs.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include <sys/stat.h>

/* work per call of ingest_step: this many lines, or this much time */
#define INGEST_SLICE_LINES		100000
#define INGEST_SLICE_MS			5
/* rows per upsert or insert statement: one statement per loop pass */
#define INGEST_CHUNK_ROWS		2500
/* longest line we read; longer ones are rejected */
#define INGEST_MAX_LINE			(64 * 1024)
/* how much of a rejected line we store */
#define INGEST_REJECT_KEEP		4096
/* back-off after a failure, doubling up to the maximum */
#define INGEST_BACKOFF_MIN_MS	1000
#define INGEST_BACKOFF_MAX_MS	60000
/* how often to look for dropped files when idle */
#define INGEST_SCAN_MS			1000
/* retry of a file's transaction when a table is locked by someone else */
#define INGEST_LOCKED_RETRY_MS	100
/* files removed from processed/ per pass */
#define INGEST_PRUNE_BATCH		1000

/*
 * Per-user sum, in a simplehash table keyed by user id.  The sum is PG's
 * int128, which (unlike a bare __int128) is only 8-byte aligned, as
 * palloc'd memory is.
 */
typedef struct UserTotal
{
	char	   *user_id;
	uint32		hash;
	char		status;
	int			order;			/* its row in sorted; -1 before sort_totals */
	int128		total;
} UserTotal;

#define SH_PREFIX			usertotals
#define SH_ELEMENT_TYPE		UserTotal
#define SH_KEY_TYPE			char *
#define SH_KEY				user_id
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key), strlen(key))
#define SH_EQUAL(tb, a, b)	(strcmp(a, b) == 0)
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

typedef enum IngestPhase
{
	PHASE_NONE,
	PHASE_READING,				/* summing the file, slice by slice */
	PHASE_READ,					/* read; its transaction is to start */
	PHASE_APPLYING,				/* the file's transaction is open: */
	PHASE_DEDUPE,				/* ... checking eventIds, chunk by chunk */
	PHASE_TOTALS,				/* ... upserting sums, chunk by chunk */
	PHASE_REJECTED				/* ... storing rejected lines, then commit */
} IngestPhase;

typedef struct IngestState
{
	bool		active;			/* a file is in progress */
	IngestPhase phase;
	char		name[JOURNAL_NAME_MAX];
	char		path[MAXPGPATH];
	JournalReader reader;		/* open from start_file to the end */
	pg_cryptohash_ctx *sha256;	/* fingerprint of what was read */
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	int64		size;			/* bytes read in the first pass */
	MemoryContext cxt;			/* everything about the current file */
	MemoryContext step_cxt;		/* reset at each step */
	usertotals_hash *totals;
	int64		events;			/* valid events, counted or not */
	int64		id_events;		/* of which carry an eventId */
	int64		duplicates;		/* eventIds seen before: not counted */
	List	   *rejected;		/* of RejectedLine */
	int64		nrejected;

	/* applying */
	TimestampTz apply_at;		/* PHASE_READ: when to try again */
	bool		rewound;		/* the eventId pass has started */
	int64		dedupe_seq;
	UserTotal **sorted;
	int			nsorted;
	int			next_row;
	ListCell   *next_rejected;

	TimestampTz next_scan;
	TimestampTz retry_at;
	int			backoff_ms;
	char		last_error[256];
} IngestState;

static IngestState state;

static void add_to_totals(const char *user_id, ev_int128 delta);
static EvParser *line_parser = NULL;

static SPIPlanPtr plan_recorded = NULL;
static SPIPlanPtr plan_upsert = NULL;
static SPIPlanPtr plan_reject = NULL;
static SPIPlanPtr plan_record = NULL;
static SPIPlanPtr plan_seen = NULL;

/* owns the SHA-256 contexts, which live across transactions */
static ResourceOwner ingest_owner = NULL;

void
ingest_init(void)
{
	memset(&state, 0, sizeof(state));
	state.reader.fd = -1;
	ingest_owner = ResourceOwnerCreate(NULL, "evproc ingest");
	line_parser = ev_parser_create();
	if (line_parser == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/*
 * ingest_abandon drops the file in progress, rolling back its transaction if
 * one is open; the file stays in place for a later try.
 */
void
ingest_abandon(void)
{
	if (state.active && state.phase >= PHASE_APPLYING)
	{
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	if (state.reader.fd >= 0 && state.reader.buf != NULL)
		jreader_close(&state.reader);
	if (state.sha256 != NULL)
		pg_cryptohash_free(state.sha256);
	state.sha256 = NULL;
	state.rewound = false;
	if (state.cxt != NULL)
		MemoryContextDelete(state.cxt);
	state.cxt = NULL;
	state.step_cxt = NULL;
	state.totals = NULL;
	state.sorted = NULL;
	state.rejected = NIL;
	state.next_rejected = NULL;
	state.phase = PHASE_NONE;
	state.active = false;
}

/*
 * ingest_wake asks to look for archived files at once (a rotation made
 * one), but unlike scan_now of ingest_step not during a back-off.
 */
void
ingest_wake(void)
{
	state.next_scan = 0;
}

/* ingest_timeout_ms: how long the loop may sleep as far as ingest goes. */
long
ingest_timeout_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next;

	if (state.active && state.phase == PHASE_READ)
		next = state.apply_at;
	else if (state.active)
		return 0;
	else
		next = Max(state.next_scan, state.retry_at);
	if (next <= now)
		return 0;
	return (long) ((next - now + 999) / 1000);
}

static void
prepare_plans(void)
{
	Oid			text1[1] = {TEXTOID};
	Oid			upsert[2] = {TEXTARRAYOID, NUMERICARRAYOID};
	Oid			reject[4] = {TEXTOID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Oid			record[6] = {TEXTOID, INT8OID, INT8OID, INT8OID, INT8OID, BYTEAOID};
	Oid			seen[1] = {TEXTARRAYOID};

	/*
	 * Each plan on its own: an error (a lock timeout on a table) can stop us
	 * after some of them, and the next try must prepare the rest.
	 */
	if (plan_recorded == NULL)
		plan_recorded = evproc_prepare(
								"SELECT size, sha256 FROM evproc.processed_files WHERE filename = $1",
								1, text1);
	if (plan_upsert == NULL)
		plan_upsert = evproc_prepare(
							  "INSERT INTO evproc.user_revenue AS r (user_id, revenue) "
							  "SELECT u, d FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS t(u, d) "
							  "ON CONFLICT (user_id) DO UPDATE "
							  "SET revenue = r.revenue OPERATOR(pg_catalog.+) excluded.revenue, "
							  "updated_at = pg_catalog.now()",
							  2, upsert);
	if (plan_reject == NULL)
		plan_reject = evproc_prepare(
							  "INSERT INTO evproc.rejected_lines (filename, line_number, line, reason) "
							  "SELECT $1, n, l, r FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3), "
							  "pg_catalog.unnest($4)) AS t(n, l, r)",
							  4, reject);
	if (plan_record == NULL)
		plan_record = evproc_prepare(
							  "INSERT INTO evproc.processed_files "
							  "(filename, events, rejected, duplicates, size, sha256) "
							  "VALUES ($1, $2, $3, $4, $5, $6)",
							  6, record);
	if (plan_seen == NULL)
		plan_seen = evproc_prepare(
							"INSERT INTO evproc.seen_events (event_id) "
							"SELECT pg_catalog.unnest($1) "
							"ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
							1, seen);
}

/*
 * check_schema makes sure the extension's tables are there and of this
 * library's version; prepare_plans then prepares what is missing.
 */
static void
check_schema(void)
{
	Oid			files;

	if (!evproc_schema_ready())
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the tables of the evproc extension are missing in database \"%s\"",
						evproc_database),
				 errhint("Run CREATE EXTENSION evproc in that database.")));
	files = get_relname_relid("processed_files", get_namespace_oid("evproc", false));
	if (get_attnum(files, "sha256") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("the evproc extension in database \"%s\" is older than its library",
						evproc_database),
				 errhint("Run ALTER EXTENSION evproc UPDATE in that database.")));
}


/* array_datum makes a one-dimensional array of n elements of type elemtype. */
static Datum
array_datum(Datum *elems, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, elemtype,
										   typlen, typbyval, typalign));
}

/* How a file's name was recorded before, if it was. */
typedef enum Recorded
{
	RECORDED_NOT,				/* a new name */
	RECORDED_SAME,				/* with this file's fingerprint: counted */
	RECORDED_LEGACY,			/* before fingerprints (1.0): counted */
	RECORDED_OTHER				/* with another fingerprint: another file */
} Recorded;

/* recorded_as looks the current file's name up in evproc.processed_files. */
static Recorded
recorded_as(void)
{
	Datum		arg = CStringGetTextDatum(state.name);
	bool		size_null;
	bool		hash_null;
	Datum		size;
	Datum		hash;

	evproc_execute_plan(plan_recorded, &arg, false, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return RECORDED_NOT;
	size = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 &size_null);
	hash = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
						 &hash_null);
	if (size_null || hash_null)
		return RECORDED_LEGACY;
	if (DatumGetInt64(size) == state.size &&
		VARSIZE_ANY_EXHDR(DatumGetPointer(hash)) == PG_SHA256_DIGEST_LENGTH &&
		memcmp(VARDATA_ANY(DatumGetPointer(hash)), state.digest,
			   PG_SHA256_DIGEST_LENGTH) == 0)
		return RECORDED_SAME;
	return RECORDED_OTHER;
}

/*
 * printable_line makes a rejected line storable as text: at most
 * INGEST_REJECT_KEEP bytes, and if it is not valid UTF-8 or holds NULs,
 * every byte outside printable ASCII written as \xNN.
 */
static char *
printable_line(const char *line, size_t len)
{
	StringInfoData buf;

	if (len > INGEST_REJECT_KEEP)
		len = INGEST_REJECT_KEEP;
	initStringInfo(&buf);
	if (ev_utf8_valid(line, len) && memchr(line, '\0', len) == NULL)
		appendBinaryStringInfo(&buf, line, (int) len);
	else
	{
		for (size_t i = 0; i < len; i++)
		{
			unsigned char c = (unsigned char) line[i];

			if (c >= 0x20 && c < 0x7f)
				appendStringInfoChar(&buf, (char) c);
			else
				appendStringInfo(&buf, "\\x%02x", c);
		}
	}
	return buf.data;
}

/*
 * reject_line keeps a rejected line for evproc.rejected_lines: the first
 * evproc.max_rejected_lines of a file, so that memory stays bounded
 * whatever the file; the rest are only counted.
 */
static void
reject_line(const char *line, size_t len, const char *reason)
{
	if (state.nrejected++ < evproc_max_rejected_lines)
	{
		RejectedLine *r = palloc(sizeof(RejectedLine));

		r->lineno = (int64) state.reader.lineno;
		r->text = printable_line(line, len);
		r->reason = pstrdup(reason);
		state.rejected = lappend(state.rejected, r);
	}
}

static bool
is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

/*
 * read_slice reads a slice of the current file (INGEST_SLICE_LINES lines or
 * INGEST_SLICE_MS, whichever ends first) into the per-user sums, so that
 * HTTP requests wait at most about that long.  Returns true at the end of
 * the file.
 */
static bool
read_slice(void)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(state.cxt);
	bool		done = false;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   INGEST_SLICE_MS);

	for (int i = 0; i < INGEST_SLICE_LINES; i++)
	{
		const char *line;
		size_t		len;
		EvEvent		ev;
		char		err[EV_ERROR_BUFSZ];
		JournalLine kind;

		if ((i & 1023) == 1023 && GetCurrentTimestamp() >= deadline)
			break;
		kind = jreader_next(&state.reader, &line, &len);
		if (kind == JL_MORE)
		{
			/* a block of a too-long line: it may be gigabytes */
			if (GetCurrentTimestamp() >= deadline)
				break;
			continue;
		}
		if (kind == JL_EOF)
		{
			done = true;
			break;
		}
		if (kind == JL_ERROR)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", state.path)));
		if (kind == JL_TOO_LONG)
		{
			reject_line(line, len, "line is too long");
			continue;
		}
		if (is_blank(line, len))
			continue;
		if (!ev_parse_line(line_parser, line, len, &ev, err, sizeof(err)))
		{
			reject_line(line, len, err);
			continue;
		}

		state.events++;
		if (ev.event_id_len > 0)
		{
			/* counted in commit_file, once its eventId is known new */
			state.id_events++;
			continue;
		}
		add_to_totals(ev.user_id, ev_event_delta(&ev));
	}
	MemoryContextSwitchTo(oldcxt);
	return done;
}

/* add_to_totals adds one event's amount to its user's sum. */
static void
add_to_totals(const char *user_id, ev_int128 delta)
{
	bool		found;
	UserTotal  *entry = usertotals_insert(state.totals, (char *) user_id, &found);
	ev_int128	total;

	if (!found)
	{
		entry->user_id = MemoryContextStrdup(state.cxt, user_id);
		entry->order = -1;
		entry->total = 0;
	}
	total = entry->total;
	if (__builtin_add_overflow(total, delta, &total))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("revenue of user \"%s\" in file \"%s\" is out of range",
						user_id, state.name)));
	entry->total = total;
}

/* An event with an eventId, waiting to be checked against seen_events. */
typedef struct IdEvent
{
	char	   *event_id;
	char	   *user_id;
	ev_int128	delta;
	int64		seq;			/* order in the file: the first one wins */
} IdEvent;

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
 * count_new_ids takes a chunk of events with eventIds: it records the ids
 * in evproc.seen_events and adds to the sums only the events whose id was
 * not there yet (and only the first of a repeated id in the chunk).
 */
static void
count_new_ids(IdEvent *chunk, int n)
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
	arg = array_datum(ids, nids, TEXTOID);
	evproc_execute_plan(plan_seen, &arg, false, 0, SPI_OK_INSERT_RETURNING);

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
			state.duplicates++;
			continue;
		}
		while (j < nfresh && strcmp(fresh[j], chunk[i].event_id) < 0)
			j++;
		if (j < nfresh && strcmp(fresh[j], chunk[i].event_id) == 0)
			add_to_totals(chunk[i].user_id, chunk[i].delta);
		else
			state.duplicates++;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * dedupe_step reads the file a second time, inside the ingest transaction,
 * for the events that carry an eventId: one chunk of them per call, so
 * memory stays bounded and the loop keeps serving.  Returns true when the
 * file is done.
 */
static bool
dedupe_step(void)
{
	IdEvent    *chunk = palloc(sizeof(IdEvent) * INGEST_CHUNK_ROWS);
	int			n = 0;
	bool		done = false;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   INGEST_SLICE_MS);

	/* the same descriptor as the first pass: the file cannot be swapped */
	if (!state.rewound)
	{
		if (jreader_rewind(&state.reader) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", state.path)));
		state.rewound = true;
	}
	/* a chunk of ids, within the bounds of a slice (see read_slice) */
	for (int i = 0; n < INGEST_CHUNK_ROWS && i < INGEST_SLICE_LINES; i++)
	{
		const char *line;
		size_t		len;
		EvEvent		ev;
		char		err[EV_ERROR_BUFSZ];
		JournalLine kind;

		if ((i & 1023) == 1023 && GetCurrentTimestamp() >= deadline)
			break;
		kind = jreader_next(&state.reader, &line, &len);
		if (kind == JL_MORE && GetCurrentTimestamp() >= deadline)
			break;
		if (kind == JL_ERROR)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", state.path)));
		if (kind == JL_EOF)
		{
			done = true;
			break;
		}
		if (kind != JL_LINE || is_blank(line, len) ||
			!ev_parse_line(line_parser, line, len, &ev, err, sizeof(err)) ||
			ev.event_id_len == 0)
			continue;
		chunk[n].event_id = pstrdup(ev.event_id);
		chunk[n].user_id = pstrdup(ev.user_id);
		chunk[n].delta = ev_event_delta(&ev);
		chunk[n].seq = state.dedupe_seq++;
		n++;
	}
	if (n > 0)
		count_new_ids(chunk, n);
	return done;
}

static int
compare_totals(const void *a, const void *b)
{
	return strcmp((*(UserTotal *const *) a)->user_id,
				  (*(UserTotal *const *) b)->user_id);
}

/* sort_totals lists the per-user sums in user id order. */
static void
sort_totals(void)
{
	usertotals_iterator it;
	UserTotal  *entry;
	int			k = 0;

	state.nsorted = state.totals->members;
	state.sorted = MemoryContextAlloc(state.cxt,
									  sizeof(UserTotal *) * Max(state.nsorted, 1));
	usertotals_start_iterate(state.totals, &it);
	while ((entry = usertotals_iterate(state.totals, &it)) != NULL)
		state.sorted[k++] = entry;
	qsort(state.sorted, state.nsorted, sizeof(UserTotal *), compare_totals);
	for (k = 0; k < state.nsorted; k++)
		state.sorted[k]->order = k;
	state.next_row = 0;
}

/*
 * totals_step upserts the next chunk of per-user sums.  Going in user id
 * order means concurrent ingests cannot deadlock.  Returns true when all
 * sums are applied.
 */
static bool
totals_step(void)
{
	int			start = state.next_row;
	int			m = Min(INGEST_CHUNK_ROWS, state.nsorted - start);
	Datum	   *users;
	Datum	   *sums;
	Datum		args[2];

	if (m <= 0)
		return true;
	users = palloc(sizeof(Datum) * m);
	sums = palloc(sizeof(Datum) * m);
	for (int i = 0; i < m; i++)
	{
		char		num[EV_DECIMAL_BUFSZ];

		ev_decimal_format(state.sorted[start + i]->total, num);
		users[i] = CStringGetTextDatum(state.sorted[start + i]->user_id);
		sums[i] = DirectFunctionCall3(numeric_in, CStringGetDatum(num),
									  ObjectIdGetDatum(InvalidOid),
									  Int32GetDatum(-1));
	}
	args[0] = array_datum(users, m, TEXTOID);
	args[1] = array_datum(sums, m, NUMERICOID);
	evproc_execute_plan(plan_upsert, args, false, 0, SPI_OK_INSERT);
	state.next_row += m;
	if (state.next_row < state.nsorted)
		evproc_fault("ingest-mid-transaction");
	return state.next_row >= state.nsorted;
}

/* rejected_step stores the next chunk of rejected lines. */
static bool
rejected_step(void)
{
	Datum	   *linenos;
	Datum	   *texts;
	Datum	   *reasons;
	Datum		args[4];
	int			m = 0;
	ListCell   *lc = state.next_rejected;

	if (lc == NULL)
		return true;
	linenos = palloc(sizeof(Datum) * INGEST_CHUNK_ROWS);
	texts = palloc(sizeof(Datum) * INGEST_CHUNK_ROWS);
	reasons = palloc(sizeof(Datum) * INGEST_CHUNK_ROWS);
	for (; lc != NULL && m < INGEST_CHUNK_ROWS;
		 lc = lnext(state.rejected, lc), m++)
	{
		RejectedLine *r = lfirst(lc);

		linenos[m] = Int64GetDatum(r->lineno);
		texts[m] = CStringGetTextDatum(r->text);
		reasons[m] = CStringGetTextDatum(r->reason);
	}
	args[0] = CStringGetTextDatum(state.name);
	args[1] = array_datum(linenos, m, INT8OID);
	args[2] = array_datum(texts, m, TEXTOID);
	args[3] = array_datum(reasons, m, TEXTOID);
	evproc_execute_plan(plan_reject, args, false, 0, SPI_OK_INSERT);
	state.next_rejected = lc;
	return lc == NULL;
}

/*
 * printable_name is a file name fit for the log and the database: itself
 * if it is valid UTF-8, else escaped (see printable_line).
 */
static char *
printable_name(const char *name)
{
	return printable_line(name, strlen(name));
}

/*
 * move_file moves the current file to processed/, durably and never over
 * another file; with evproc.processed_retention = 0 it is removed there.
 */
static void
move_file(Journal *journal)
{
	char		final_name[JOURNAL_NAME_MAX];

	if (journal_archive_done(journal, state.name, final_name) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not move file \"%s\" to %s/: %m",
						state.path, JOURNAL_PROCESSED)));
	if (strcmp(final_name, state.name) != 0)
		ereport(LOG,
				(errmsg("evproc: %s/%s exists already; file \"%s\" is kept there as \"%s\"",
						JOURNAL_PROCESSED, state.name, state.name, final_name)));
	if (evproc_processed_retention == 0)
		(void) journal_prune_processed(journal, time(NULL), 0,
									   INGEST_PRUNE_BATCH);
}

/*
 * set_aside moves a file that cannot be ingested as it is into failed/ and
 * says why, loudly: it may hold acknowledged events.
 */
static void
set_aside(Journal *journal, const char *why)
{
	char		final_name[JOURNAL_NAME_MAX];

	if (journal_set_aside(journal, state.name, final_name) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not move file \"%s\" to %s/: %m",
						printable_name(state.name), JOURNAL_FAILED)));
	ereport(WARNING,
			(errmsg("evproc: file \"%s\" in \"%s\" cannot be ingested: %s",
					printable_name(state.name), journal->dir, why),
			 errdetail("It was moved to %s/%s.", JOURNAL_FAILED,
					   printable_name(final_name)),
			 errhint("Fix it and move it back into \"%s\" under a name of the form events-*.jsonl to have it ingested.",
					 journal->dir)));
}

/*
 * commit_file records the file's name with its counts and fingerprint and
 * commits the transaction that applied it; then the file is moved.  A
 * crash between the two leaves a recorded file behind, which the next try
 * recognises by its fingerprint and only moves.
 */
static void
commit_file(Journal *journal)
{
	Datum		args[6];

	evproc_fault("ingest-before-commit");
	args[0] = CStringGetTextDatum(state.name);
	args[1] = Int64GetDatum(state.events);
	args[2] = Int64GetDatum(state.nrejected);
	args[3] = Int64GetDatum(state.duplicates);
	args[4] = Int64GetDatum(state.size);
	args[5] = PointerGetDatum(cstring_to_text_with_len((char *) state.digest,
													   PG_SHA256_DIGEST_LENGTH));
	evproc_execute_plan(plan_record, args, false, 0, SPI_OK_INSERT);
	evproc_end_work();
	state.phase = PHASE_NONE;

	evproc_fault("ingest-after-commit");
	ereport(DEBUG1,
			(errmsg("evproc: ingested \"%s\": " INT64_FORMAT " events, %d users, " INT64_FORMAT " rejected lines, " INT64_FORMAT " duplicates",
					state.name, state.events, state.nsorted,
					state.nrejected, state.duplicates)));
	if (state.nrejected > evproc_max_rejected_lines)
		ereport(LOG,
				(errmsg("evproc: file \"%s\" had " INT64_FORMAT " rejected lines; the first %d are in evproc.rejected_lines",
						state.name, state.nrejected, evproc_max_rejected_lines)));
	else if (state.nrejected > 0)
		ereport(LOG,
				(errmsg("evproc: file \"%s\" had " INT64_FORMAT " rejected lines; see evproc.rejected_lines",
						state.name, state.nrejected)));
	ingest_abandon();
	move_file(journal);
}

/* hash_block feeds the fingerprint with a block read from the file. */
static void
hash_block(void *arg, const char *data, size_t len)
{
	if (pg_cryptohash_update(state.sha256, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute the SHA-256 of \"%s\": %s",
			 state.path, pg_cryptohash_error(state.sha256));
}

/*
 * start_file opens the next archived file, if any.  Returns false if there
 * is none.  Files that cannot be opened as regular files are set aside
 * (or, if they vanished, forgotten) and true is returned: the caller looks
 * for the next one at once.
 */
static bool
start_file(Journal *journal)
{
	int			rc = journal_next_archive(journal->dir, state.name);
	int			fd;
	const char *why = NULL;
	ResourceOwner oldowner;

	if (rc < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read directory \"%s\": %m", journal->dir)));
	if (rc == 0)
		return false;
	snprintf(state.path, sizeof(state.path), "%s/%s", journal->dir, state.name);
	evproc_fault("ingest-before-start");

	/* never store a name that pg_dump could not restore */
	if (!ev_utf8_valid(state.name, strlen(state.name)))
	{
		set_aside(journal, "its name is not valid UTF-8");
		return true;
	}
	switch (journal_open_archive(journal, state.name, &fd, &why))
	{
		case ARCHIVE_OPENED:
			break;
		case ARCHIVE_VANISHED:
			return true;
		case ARCHIVE_UNUSABLE:
			set_aside(journal, why);
			return true;
		case ARCHIVE_ERROR:
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", state.path)));
	}
	if (jreader_open_fd(&state.reader, fd, INGEST_MAX_LINE) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", state.path)));

	/* from here on, ingest_abandon cleans up */
	state.active = true;
	state.phase = PHASE_READING;
	oldowner = CurrentResourceOwner;
	CurrentResourceOwner = ingest_owner;
	state.sha256 = pg_cryptohash_create(PG_SHA256);
	CurrentResourceOwner = oldowner;
	if (state.sha256 == NULL || pg_cryptohash_init(state.sha256) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not start a SHA-256 computation")));
	state.reader.on_read = hash_block;
	state.cxt = AllocSetContextCreate(TopMemoryContext, "evproc ingest",
									  ALLOCSET_DEFAULT_SIZES);
	state.step_cxt = AllocSetContextCreate(state.cxt, "evproc ingest step",
										   ALLOCSET_DEFAULT_SIZES);
	state.totals = usertotals_create(state.cxt, 1024, NULL);
	state.events = 0;
	state.id_events = 0;
	state.duplicates = 0;
	state.dedupe_seq = 0;
	state.rejected = NIL;
	state.nrejected = 0;
	state.apply_at = 0;
	return true;
}

/*
 * finish_reading ends the first pass: the fingerprint is final and the
 * file waits for its transaction.
 */
static void
finish_reading(void)
{
	if (pg_cryptohash_final(state.sha256, state.digest,
							sizeof(state.digest)) < 0)
		elog(ERROR, "could not compute the SHA-256 of \"%s\": %s",
			 state.path, pg_cryptohash_error(state.sha256));
	pg_cryptohash_free(state.sha256);
	state.sha256 = NULL;
	state.size = (int64) state.reader.offset;
	state.phase = PHASE_READ;
	state.apply_at = 0;
}

/*
 * begin_apply starts the file's transaction, unless a table is locked by
 * someone else (then it is tried again shortly).  A file whose name was
 * recorded before is not applied: it is moved if it is the same file, or
 * renamed to be counted under a name of its own if it is not.
 */
static void
begin_apply(Journal *journal)
{
	Recorded	recorded;
	char		new_name[JOURNAL_NAME_MAX];

	if (GetCurrentTimestamp() < state.apply_at)
		return;
	evproc_begin_work("evproc: ingesting an archived file");
	check_schema();
	/* before preparing plans, which would wait for the locks too */
	if (!evproc_try_lock(evproc_tables, EVPROC_NTABLES, RowExclusiveLock))
	{
		evproc_end_work();
		if (state.apply_at == 0)
			ereport(LOG,
					(errmsg("evproc: file \"%s\" waits for a lock on the tables of evproc held by another session",
							state.name),
					 errdetail("It is ingested as soon as the lock is released; HTTP is served meanwhile.")));
		state.apply_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 INGEST_LOCKED_RETRY_MS);
		return;
	}
	prepare_plans();
	state.phase = PHASE_APPLYING;
	recorded = recorded_as();
	if (recorded == RECORDED_NOT)
	{
		state.phase = state.id_events > 0 ? PHASE_DEDUPE : PHASE_TOTALS;
		if (state.phase == PHASE_TOTALS)
			sort_totals();
		return;
	}

	evproc_end_work();
	state.phase = PHASE_NONE;
	ingest_abandon();
	switch (recorded)
	{
		case RECORDED_SAME:
		case RECORDED_LEGACY:
			ereport(LOG,
					(errmsg("evproc: file \"%s\" was already ingested%s; moving it to %s/",
							state.name,
							recorded == RECORDED_LEGACY ?
							" (recorded without a fingerprint)" : "",
							JOURNAL_PROCESSED)));
			move_file(journal);
			break;
		case RECORDED_OTHER:
			if (journal_rename_archive(journal, state.name, new_name,
									   time(NULL)) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not rename file \"%s\": %m", state.path)));
			ereport(WARNING,
					(errmsg("evproc: file \"%s\" has the name of a file ingested before, but other contents; it is counted as \"%s\"",
							state.name, new_name),
					 errdetail("Size " INT64_FORMAT " bytes.  A file name is never counted twice, and a file is never skipped for its name alone.",
							   state.size)));
			break;
		case RECORDED_NOT:
			break;
	}
}

/*
 * file_step does the next bounded piece of work on the current file.  After
 * reading it, one transaction applies it over several calls (a chunk of
 * rows each), so HTTP keeps being served; revenue lookups meanwhile see
 * the committed values (see ingest_uncommitted).
 */
static void
file_step(Journal *journal)
{
	MemoryContext oldcxt;

	MemoryContextReset(state.step_cxt);
	oldcxt = MemoryContextSwitchTo(state.step_cxt);
	switch (state.phase)
	{
		case PHASE_READING:
			if (read_slice())
				finish_reading();
			break;
		case PHASE_READ:
			begin_apply(journal);
			break;
		case PHASE_DEDUPE:
			if (dedupe_step())
			{
				sort_totals();
				state.phase = PHASE_TOTALS;
			}
			break;
		case PHASE_TOTALS:
			if (totals_step())
			{
				state.next_rejected = list_head(state.rejected);
				state.phase = PHASE_REJECTED;
			}
			break;
		case PHASE_REJECTED:
			if (rejected_step())
				commit_file(journal);
			break;
		default:
			elog(ERROR, "evproc: unexpected ingest phase %d", (int) state.phase);
	}
	MemoryContextSwitchTo(oldcxt);
}

/* ingest_in_transaction: is a file's transaction open across loop passes? */
bool
ingest_in_transaction(void)
{
	return state.active && state.phase >= PHASE_APPLYING;
}

/*
 * ingest_uncommitted tells whether the open ingest transaction has already
 * added a sum to user_id's row of evproc.user_revenue (the rows are
 * upserted in sorted order, so: whether its row comes before next_row).
 * If so, delta gets that sum as a numeric literal (EV_DECIMAL_BUFSZ
 * bytes): a lookup inside the transaction takes it off again, so that it
 * answers the committed value, never a file half counted.
 */
bool
ingest_uncommitted(const char *user_id, char *delta)
{
	UserTotal  *entry;

	if (!ingest_in_transaction() || state.totals == NULL)
		return false;
	entry = usertotals_lookup(state.totals, (char *) user_id);
	if (entry == NULL || entry->order < 0 || entry->order >= state.next_row)
		return false;
	ev_decimal_format(entry->total, delta);
	return true;
}

/*
 * ingest_prune_processed removes from processed/ the files older than
 * evproc.processed_retention (-1 keeps them), a bounded number per call.
 */
void
ingest_prune_processed(Journal *journal)
{
	int			n;

	if (evproc_processed_retention < 0)
		return;
	n = journal_prune_processed(journal, time(NULL),
								evproc_processed_retention, INGEST_PRUNE_BATCH);
	if (n < 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("evproc: could not prune \"%s/%s\": %m",
						journal->dir, JOURNAL_PROCESSED)));
	else if (n > 0)
		ereport(DEBUG1,
				(errmsg("evproc: removed %d files older than evproc.processed_retention from \"%s/%s\"",
						n, journal->dir, JOURNAL_PROCESSED)));
}

/*
 * ingest_step does a bounded amount of ingest work: opens the next file,
 * reads a slice of it, or applies a chunk of it.  scan_now asks to look
 * for files at once, even during a back-off, rather than at the next
 * periodic scan.  On failure the error is logged, its message copied into
 * errbuf, and the next try is delayed.
 */
IngestResult
ingest_step(Journal *journal, bool scan_now, char *errbuf, size_t errlen)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	IngestResult result = INGEST_BUSY;

	if (!state.active)
	{
		if (!scan_now && now < state.retry_at)
		{
			strlcpy(errbuf, state.last_error, errlen);
			return INGEST_FAILED;
		}
		if (!scan_now && now < state.next_scan)
			return INGEST_IDLE;
		state.next_scan = TimestampTzPlusMilliseconds(now, INGEST_SCAN_MS);
	}

	PG_TRY();
	{
		if (!state.active)
		{
			if (!start_file(journal))
				result = INGEST_IDLE;
		}
		else
			file_step(journal);

		/*
		 * Stop backing off only once a file is finished or moved, or none is
		 * waiting: opening a file succeeds even when applying it keeps
		 * failing (a locked table), and must not reset the back-off.  The
		 * retry time goes too, or ingest_timeout_ms would still wait for it.
		 */
		if (!state.active)
		{
			state.backoff_ms = 0;
			state.retry_at = 0;
		}
		/* a file was finished or moved: look for the next one at once */
		if (result == INGEST_BUSY && !state.active)
			state.next_scan = 0;
	}
	PG_CATCH();
	{
		ErrorData  *edata = evproc_catch_error(oldcxt);

		state.phase = PHASE_NONE;
		ingest_abandon();

		state.backoff_ms = state.backoff_ms == 0 ? INGEST_BACKOFF_MIN_MS :
			Min(state.backoff_ms * 2, INGEST_BACKOFF_MAX_MS);
		state.retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 state.backoff_ms);
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("evproc: could not ingest \"%s\": %s",
						state.name, edata->message),
				 edata->hint ? errhint("%s", edata->hint) : 0,
				 errdetail("Will retry in %d ms.", state.backoff_ms)));
		snprintf(state.last_error, sizeof(state.last_error),
				 "could not ingest \"%s\": %s", state.name, edata->message);
		strlcpy(errbuf, state.last_error, errlen);
		FreeErrorData(edata);
		result = INGEST_FAILED;
	}
	PG_END_TRY();

	return result;
}

/*
 * ingest_prune_seen forgets eventIds older than evproc.dedupe_retention.
 * Errors are logged and the prune is simply tried again next time.
 */
void
ingest_prune_seen(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		evproc_begin_work("evproc: pruning seen eventIds");
		if (evproc_schema_ready())
		{
			Oid			argtypes[1] = {FLOAT8OID};
			Datum		arg = Float8GetDatum((double) evproc_dedupe_retention);
			int			rc;

			/* OPERATOR() operators all bind alike: parenthesize */
			rc = SPI_execute_with_args("DELETE FROM evproc.seen_events "
									   "WHERE seen_at OPERATOR(pg_catalog.<) "
									   "(pg_catalog.now() OPERATOR(pg_catalog.-) "
									   "pg_catalog.make_interval(secs => $1))",
									   1, argtypes, &arg, NULL, false, 0);
			if (rc != SPI_OK_DELETE)
				elog(ERROR, "SPI_execute_with_args failed: %s",
					 SPI_result_code_string(rc));
			if (SPI_processed > 0)
				ereport(DEBUG1,
						(errmsg("evproc: forgot " UINT64_FORMAT " eventIds older than evproc.dedupe_retention",
								SPI_processed)));
		}
		evproc_end_work();
	}
	PG_CATCH();
	{
		ErrorData  *edata = evproc_catch_error(oldcxt);

		ereport(LOG,
				(errmsg("evproc: could not prune evproc.seen_events: %s",
						edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
}
