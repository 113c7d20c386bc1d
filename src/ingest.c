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
 * evproc.processed_files with the file's name.  Only after that commit is
 * the file moved to processed/.  A file whose name is already recorded was
 * counted before (we crashed between commit and move) and is only moved.
 * An error leaves the file where it is and is retried after a back-off.
 *
 *-------------------------------------------------------------------------
 */
#include "evproc.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

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
	JournalReader reader;
	MemoryContext cxt;			/* everything about the current file */
	MemoryContext step_cxt;		/* reset at each step */
	usertotals_hash *totals;
	int64		events;			/* valid events, counted or not */
	int64		id_events;		/* of which carry an eventId */
	int64		duplicates;		/* eventIds seen before: not counted */
	List	   *rejected;		/* of RejectedLine */
	int64		nrejected;

	/* applying */
	JournalReader dedupe_reader;
	bool		dedupe_open;
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

static SPIPlanPtr plan_is_processed = NULL;
static SPIPlanPtr plan_upsert = NULL;
static SPIPlanPtr plan_reject = NULL;
static SPIPlanPtr plan_record = NULL;
static SPIPlanPtr plan_seen = NULL;

void
ingest_init(void)
{
	memset(&state, 0, sizeof(state));
	state.reader.fd = -1;
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
	if (state.dedupe_open)
		jreader_close(&state.dedupe_reader);
	state.dedupe_open = false;
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

	if (state.active)
		return 0;
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
	Oid			record[4] = {TEXTOID, INT8OID, INT8OID, INT8OID};
	Oid			seen[1] = {TEXTARRAYOID};

	/*
	 * Each plan on its own: an error (a lock timeout on a table) can stop us
	 * after some of them, and the next try must prepare the rest.
	 */
	if (plan_is_processed == NULL)
		plan_is_processed = evproc_prepare(
									"SELECT 1 FROM evproc.processed_files WHERE filename = $1",
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
							  "(filename, events, rejected, duplicates) "
							  "VALUES ($1, $2, $3, $4)",
							  4, record);
	if (plan_seen == NULL)
		plan_seen = evproc_prepare(
							"INSERT INTO evproc.seen_events (event_id) "
							"SELECT pg_catalog.unnest($1) "
							"ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
							1, seen);
}

static void
check_schema(void)
{
	if (!evproc_schema_ready())
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the tables of the evproc extension are missing in database \"%s\"",
						evproc_database),
				 errhint("Run CREATE EXTENSION evproc in that database.")));
	prepare_plans();
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

static bool
is_processed(const char *name)
{
	Datum		arg = CStringGetTextDatum(name);

	evproc_execute_plan(plan_is_processed, &arg, true, 1, SPI_OK_SELECT);
	return SPI_processed > 0;
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

static void
reject_line(const char *line, size_t len, const char *reason)
{
	RejectedLine *r = palloc(sizeof(RejectedLine));

	r->lineno = (int64) state.reader.lineno;
	r->text = printable_line(line, len);
	r->reason = pstrdup(reason);
	state.rejected = lappend(state.rejected, r);
	state.nrejected++;
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

	if (!state.dedupe_open)
	{
		if (jreader_open(&state.dedupe_reader, state.path, INGEST_MAX_LINE) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not open file \"%s\": %m", state.path)));
		state.dedupe_open = true;
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
		kind = jreader_next(&state.dedupe_reader, &line, &len);
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
	if (done)
	{
		jreader_close(&state.dedupe_reader);
		state.dedupe_open = false;
	}
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

/* move_file moves the current file to processed/, durably. */
static void
move_file(Journal *journal)
{
	if (journal_archive_done(journal, state.name) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not move file \"%s\" to %s/: %m",
						state.path, JOURNAL_PROCESSED)));
}

/*
 * commit_file records the file's name with its counts and commits the
 * transaction that applied it; then the file is moved.  A crash between
 * the two leaves a recorded file behind, which start_file only moves.
 */
static void
commit_file(Journal *journal)
{
	Datum		args[4];

	evproc_fault("ingest-before-commit");
	args[0] = CStringGetTextDatum(state.name);
	args[1] = Int64GetDatum(state.events);
	args[2] = Int64GetDatum(state.nrejected);
	args[3] = Int64GetDatum(state.duplicates);
	evproc_execute_plan(plan_record, args, false, 0, SPI_OK_INSERT);
	evproc_end_work();
	state.phase = PHASE_NONE;

	evproc_fault("ingest-after-commit");
	ereport(DEBUG1,
			(errmsg("evproc: ingested \"%s\": " INT64_FORMAT " events, %d users, " INT64_FORMAT " rejected lines, " INT64_FORMAT " duplicates",
					state.name, state.events, state.nsorted,
					state.nrejected, state.duplicates)));
	if (state.nrejected > 0)
		ereport(LOG,
				(errmsg("evproc: file \"%s\" had " INT64_FORMAT " rejected lines; see evproc.rejected_lines",
						state.name, state.nrejected)));
	ingest_abandon();
	move_file(journal);
}

/* start_file opens the next archived file, if any.  Returns false if none. */
static bool
start_file(Journal *journal)
{
	int			rc = journal_next_archive(journal->dir, state.name);
	bool		processed;

	if (rc < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read directory \"%s\": %m", journal->dir)));
	if (rc == 0)
		return false;
	snprintf(state.path, sizeof(state.path), "%s/%s", journal->dir, state.name);
	evproc_fault("ingest-before-start");

	/* counted before a crash?  then it only needs moving */
	evproc_begin_work("evproc: checking an archived file");
	check_schema();
	processed = is_processed(state.name);
	evproc_end_work();
	if (processed)
	{
		ereport(LOG,
				(errmsg("evproc: file \"%s\" was already ingested; moving it to %s/",
						state.name, JOURNAL_PROCESSED)));
		move_file(journal);
		return true;
	}

	if (jreader_open(&state.reader, state.path, INGEST_MAX_LINE) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", state.path)));
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
	state.active = true;
	state.phase = PHASE_READING;
	return true;
}

/*
 * file_step does the next bounded piece of work on the current file.  After
 * reading it, one transaction applies it over several calls (a chunk of
 * rows each), so HTTP keeps being served; revenue lookups wait for the
 * commit (revenue.c), since they must not see it half done.
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
			{
				jreader_close(&state.reader);
				evproc_begin_work("evproc: ingesting an archived file");
				check_schema();
				state.phase = state.id_events > 0 ? PHASE_DEDUPE : PHASE_TOTALS;
				if (state.phase == PHASE_TOTALS)
					sort_totals();
			}
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
