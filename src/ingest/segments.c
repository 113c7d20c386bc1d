/*-------------------------------------------------------------------------
 *
 * segments.c
 *	  The journal kept in the database (evproc.journal_storage = database):
 *	  this worker's current segment and its group commits, sealing, the
 *	  sealed segments that ingest reads and deletes, and the truncation of
 *	  the ring of journal tables.
 *
 * A segment is a row of evproc.journal_segments (worker, seg) and the rows
 * of its group commits in evproc.journal_<seg % 3>, one per pass, holding
 * the pass's journal lines exactly as a journal file would.  A worker's
 * segment is started by its first group commit after a rotation (in the
 * same transaction), sealed by a rotation (sealed_at, bytes), and at worker
 * start a segment left unsealed by an earlier run is sealed (as the
 * journal file left by an earlier run is rotated).  Ingest folds the
 * sealed segments oldest first; the transaction that counts one deletes
 * its row of journal_segments (segments_consume) and records its name in
 * processed_files, so it is counted exactly once whatever happens after.
 * Its journal rows stay until their table is truncated: a table holding
 * no live segment (of any worker) is truncated, with a conditional lock
 * only, once a segment of it is counted; a try that missed the lock is
 * made again when the next segment is counted or sealed.  Nothing depends
 * on truncation but the tables' size: a segment's rows are found by
 * (worker, seg), and seg comes from a sequence, so never repeats.
 * Starting a segment locks its table (ROW EXCLUSIVE) before its row is
 * inserted, so a truncation, which checks under its ACCESS EXCLUSIVE lock
 * that no live segment is in the table, cannot miss one.
 *
 * Runs in the worker's loop, outside libmicrohttpd's callbacks; each unit
 * of work here is short (see intake.c for when group commits wait).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ingest/segments.h"
#include "shared/db.h"
#include "shared/settings.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include <time.h>

#define SEG_TABLES	3

static const char *const tables[SEG_TABLES] = {
	"journal_0", "journal_1", "journal_2"
};

/* A segment of this worker: the current one, or the one being ingested. */
typedef struct Segment
{
	int64		seg;			/* 0: none */
	int			tab;
	char		name[JOURNAL_NAME_MAX];
	int64		passes;			/* group commits in it */
	uint64		bytes;
} Segment;

static int	my_worker = 0;
static Journal *namer = NULL;	/* makes the segments' names */
static Segment current;			/* seg 0: the next group commit starts one */
static bool opened = false;		/* open_work has run (see segments_open) */

/* this worker's sealed segments not yet counted */
static int	sealed_count = 0;
static uint64 sealed_bytes = 0;
static time_t sealed_oldest = 0;

/*
 * The segment ingest reads, a few of its rows at a time: chunk holds the
 * bytes of the rows up to pass chunk_pass not yet handed to the reader
 * (malloc'd), read_at of them handed already.
 */
static Segment reading;
static char *chunk = NULL;
static size_t chunk_cap = 0;	/* kept between chunks: no page faults */
static size_t chunk_len = 0;
static size_t read_at = 0;
static int64 chunk_pass = 0;
static bool read_all = false;	/* the segment's last row is in chunk */

/* a chunk is at least this many bytes, unless the segment ends first */
#define SEG_CHUNK_BYTES		(1024 * 1024)
/* passes (rows) asked for at once to make up a chunk */
#define SEG_CHUNK_ROWS		16

/* the journal tables that may hold rows of counted segments only */
static int	untruncated = (1 << SEG_TABLES) - 1;

static void truncate_untruncated(void);

/* the group commit's INSERT into each journal table, prepared once */
static SPIPlanPtr plan_append[SEG_TABLES];

/* fetch_chunk's SELECT of each journal table, prepared once */
static SPIPlanPtr plan_fetch[SEG_TABLES];

/*
 * missing_tables raises the error for journal tables that are not there:
 * the extension is older than 1.6.
 */
static void
missing_tables(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("evproc.journal_storage is \"database\" but the journal tables of the evproc extension are missing in database \"%s\"",
					evproc_database),
			 errhint("Run ALTER EXTENSION evproc UPDATE in that database.")));
}

static void
check_tables(void)
{
	if (!db_has_table("journal_segments"))
		missing_tables();
}

/* table_oid: the journal table name's OID; missing_tables if it is not there */
static Oid
table_oid(const char *name)
{
	Oid			relid = db_extension_rel(name);

	if (!OidIsValid(relid))
		missing_tables();
	return relid;
}

/* run runs a parameterised statement and checks its SPI result. */
static void
run(const char *sql, int nargs, Oid *types, Datum *args, bool read_only,
	int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, args, NULL,
										   read_only, 0);

	if (rc != expect)
		elog(ERROR, "SPI_execute_with_args failed: %s",
			 SPI_result_code_string(rc));
}

static int64
get_int8(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row],
								  SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * load_backlog reads this worker's sealed segments not yet counted (in a
 * unit of work).
 */
static void
load_backlog(void)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(my_worker)};

	run("SELECT count(*), coalesce(sum(bytes), 0)::bigint,"
		" coalesce(extract(epoch FROM min(started_at)), 0)::bigint"
		" FROM evproc.journal_segments"
		" WHERE worker = $1 AND sealed_at IS NOT NULL",
		1, types, args, true, SPI_OK_SELECT);
	sealed_count = (int) get_int8(0, 1);
	sealed_bytes = (uint64) get_int8(0, 2);
	sealed_oldest = (time_t) get_int8(0, 3);
}

/*
 * open_work seals the segments of this worker left unsealed by an earlier
 * run (their bytes as committed: a group commit is all or nothing, so no
 * segment ends in a torn line), forgets empty ones, and reads the backlog.
 */
static void
open_work(void *arg)
{
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(my_worker)};

	db_begin("evproc: sealing the journal segments of an earlier run");
	check_tables();
	run("UPDATE evproc.journal_segments AS s SET sealed_at = now(),"
		" bytes = (SELECT coalesce(sum(octet_length(j.lines)), 0) FROM ("
		"  SELECT lines FROM evproc.journal_0 WHERE s.tab = 0 AND worker = s.worker AND seg = s.seg"
		"  UNION ALL SELECT lines FROM evproc.journal_1 WHERE s.tab = 1 AND worker = s.worker AND seg = s.seg"
		"  UNION ALL SELECT lines FROM evproc.journal_2 WHERE s.tab = 2 AND worker = s.worker AND seg = s.seg"
		" ) AS j)"
		" WHERE s.worker = $1 AND s.sealed_at IS NULL",
		1, types, args, false, SPI_OK_UPDATE);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("evproc: sealed " UINT64_FORMAT " journal segment(s) left by an earlier run",
						(uint64) SPI_processed)));
	run("DELETE FROM evproc.journal_segments WHERE worker = $1 AND bytes = 0",
		1, types, args, false, SPI_OK_DELETE);
	load_backlog();
	db_commit();
	opened = true;
}

/*
 * segments_open makes this worker's journal in the database usable: names
 * come from names (the journal's naming, so that they look like and sort
 * like the files'), a segment left unsealed is sealed.  A failure is
 * logged: it is tried again before each group commit, which fails (503)
 * until the tables are there (CREATE EXTENSION, or the update to 1.6).
 */
void
segments_open(int worker_index, Journal *names)
{
	ErrorData  *edata;

	my_worker = worker_index;
	namer = names;
	memset(&current, 0, sizeof(current));
	edata = db_try(open_work, NULL);
	if (edata != NULL)
	{
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("evproc: could not open the journal in the database: %s",
						edata->message),
				 edata->hint ? errhint("%s", edata->hint) : 0));
		FreeErrorData(edata);
	}
}

/*
 * start_segment starts a new segment of this worker into *seg, in the open
 * unit of work: its table is locked first (see the header comment).
 */
static void
start_segment(Segment *seg)
{
	Oid			types[4] = {INT4OID, INT8OID, INT2OID, TEXTOID};
	Datum		args[4];

	run("SELECT pg_catalog.nextval('evproc.journal_seg_seq')", 0, NULL, NULL,
		false, SPI_OK_SELECT);
	memset(seg, 0, sizeof(Segment));
	seg->seg = get_int8(0, 1);
	seg->tab = (int) (seg->seg % SEG_TABLES);
	LockRelationOid(table_oid(tables[seg->tab]), RowExclusiveLock);
	journal_make_name(namer, time(NULL), seg->name);
	args[0] = Int32GetDatum(my_worker);
	args[1] = Int64GetDatum(seg->seg);
	args[2] = Int16GetDatum((int16) seg->tab);
	args[3] = CStringGetTextDatum(seg->name);
	run("INSERT INTO evproc.journal_segments (worker, seg, tab, name)"
		" VALUES ($1, $2, $3, $4)", 4, types, args, false, SPI_OK_INSERT);
}

typedef struct AppendCall
{
	const char *data;
	size_t		len;
	Segment		seg;			/* the segment after the group commit */
} AppendCall;

static void
append_work(void *arg)
{
	AppendCall *call = arg;
	Oid			types[4] = {INT4OID, INT8OID, INT8OID, BYTEAOID};
	Datum		args[4];
	bytea	   *lines;

	db_begin("evproc: journaling a group commit");
	check_tables();
	if (call->seg.seg == 0)
		start_segment(&call->seg);
	lines = palloc(VARHDRSZ + call->len);
	SET_VARSIZE(lines, VARHDRSZ + call->len);
	memcpy(VARDATA(lines), call->data, call->len);
	call->seg.passes++;
	args[0] = Int32GetDatum(my_worker);
	args[1] = Int64GetDatum(call->seg.seg);
	args[2] = Int64GetDatum(call->seg.passes);
	args[3] = PointerGetDatum(lines);
	if (plan_append[call->seg.tab] == NULL)
	{
		char		sql[128];

		snprintf(sql, sizeof(sql),
				 "INSERT INTO evproc.%s (worker, seg, pass, lines)"
				 " VALUES ($1, $2, $3, $4)", tables[call->seg.tab]);
		plan_append[call->seg.tab] = db_prepare(sql, 4, types);
	}
	db_execute(plan_append[call->seg.tab], args, false, 0, SPI_OK_INSERT);
	evproc_fault("journal-db-before-commit");
	db_commit();
	evproc_fault("journal-db-after-commit");
}

/*
 * segments_append group-commits len bytes of journal lines: one
 * transaction inserting one row into the current segment (started first
 * if there is none), committed under synchronous_commit.  Returns true
 * once committed; false, with the error in errbuf, if nothing was kept.
 * Call with no unit of work open.
 */
bool
segments_append(const char *data, size_t len, char *errbuf, size_t errlen)
{
	AppendCall	call;
	ErrorData  *edata;

	Assert(!db_in_work());
	if (!opened && (edata = db_try(open_work, NULL)) != NULL)
	{
		strlcpy(errbuf, edata->message, errlen);
		FreeErrorData(edata);
		return false;
	}
	call.data = data;
	call.len = len;
	call.seg = current;
	edata = db_try(append_work, &call);
	if (edata != NULL)
	{
		strlcpy(errbuf, edata->message, errlen);
		FreeErrorData(edata);
		return false;
	}
	call.seg.bytes += len;
	current = call.seg;
	return true;
}

static void
probe_work(void *arg)
{
	bool	   *ok = arg;

	db_begin("evproc: probing the journal tables");
	check_tables();
	*ok = db_try_lock(tables, SEG_TABLES, RowExclusiveLock);
	db_commit();
}

/*
 * segments_probe: could a group commit be written now (the tables there,
 * none of them locked by another session)?
 */
bool
segments_probe(void)
{
	bool		ok = false;
	ErrorData  *edata = db_try(probe_work, &ok);

	if (edata != NULL)
		FreeErrorData(edata);
	return ok;
}

static void
seal_work(void *arg)
{
	Oid			types[3] = {INT4OID, INT8OID, INT8OID};
	Datum		args[3];

	args[0] = Int32GetDatum(my_worker);
	args[1] = Int64GetDatum(current.seg);
	args[2] = Int64GetDatum((int64) current.bytes);
	db_begin("evproc: sealing a journal segment");
	run("UPDATE evproc.journal_segments SET sealed_at = now(), bytes = $3"
		" WHERE worker = $1 AND seg = $2 AND sealed_at IS NULL",
		3, types, args, false, SPI_OK_UPDATE);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("journal segment \"%s\" was removed or sealed by another session",
						current.name)));
	db_commit();
}

/*
 * segments_seal seals the current segment (the next group commit starts
 * a new one) and gives its name, "" if there was none.  Returns false,
 * logged, on failure: the segment stays current.  No unit of work open.
 */
bool
segments_seal(char *name)
{
	ErrorData  *edata;

	name[0] = '\0';
	if (current.seg == 0)
		return true;
	edata = db_try(seal_work, NULL);
	if (edata != NULL)
	{
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("evproc: could not seal the journal segment \"%s\": %s",
						current.name, edata->message)));
		FreeErrorData(edata);
		return false;
	}
	strlcpy(name, current.name, JOURNAL_NAME_MAX);
	if (sealed_count++ == 0)
		sealed_oldest = time(NULL);
	sealed_bytes += current.bytes;
	memset(&current, 0, sizeof(current));

	/*
	 * A truncation that missed its lock is tried again now too, not only
	 * when the next segment is counted: with segments large or ingest
	 * behind (or paused), that could be long, and the tables would grow
	 * meanwhile.  (Nothing is tried when every table is settled.)
	 */
	truncate_untruncated();
	return true;
}

/* segments_backlog: this worker's sealed segments not yet counted */
void
segments_backlog(int *count, uint64 *bytes, time_t *oldest)
{
	*count = sealed_count;
	*bytes = sealed_bytes;
	*oldest = sealed_count > 0 ? sealed_oldest : 0;
}

/*
 * fetch_chunk replaces the chunk with the rows of the segment being read
 * that follow pass chunk_pass, SEG_CHUNK_BYTES or more of them (or all that
 * are left): read_all once none is left.  It asks for a range of passes,
 * not for the first rows after chunk_pass (ORDER BY pass LIMIT): however
 * the planner runs it, with or without statistics of the table (autovacuum
 * is off on the journal tables), it visits at most SEG_CHUNK_ROWS rows.
 * The LIMIT form, planned on a table never analyzed, became a bitmap scan
 * of all the segment's rows after chunk_pass, sorted, for each chunk: a
 * segment of 170,000 rows took over 10 minutes.  Passes are numbered from
 * 1 without gaps; a gap would only make a range return fewer rows, since
 * the end is reading.passes, the segment's last pass.
 *
 * Rows of a sealed segment never change, and its table is not truncated
 * while its row is in journal_segments, so reading it in pieces, in units
 * of work of their own or in ingest's transaction (the eventId pass reads
 * it again), gives the bytes that were committed.
 */
static void
fetch_chunk(void)
{
	Datum		args[4];
	bool		own = !db_in_work();
	int64		range_end = chunk_pass + SEG_CHUNK_ROWS;
	size_t		len = 0;
	uint64		rows;
	uint64		i;

	if (own)
		db_begin("evproc: reading a journal segment");
	args[0] = Int32GetDatum(my_worker);
	args[1] = Int64GetDatum(reading.seg);
	args[2] = Int64GetDatum(chunk_pass);
	args[3] = Int64GetDatum(range_end);
	if (plan_fetch[reading.tab] == NULL)
	{
		Oid			types[4] = {INT4OID, INT8OID, INT8OID, INT8OID};
		char		sql[160];

		snprintf(sql, sizeof(sql),
				 "SELECT pass, lines FROM evproc.%s"
				 " WHERE worker = $1 AND seg = $2 AND pass > $3 AND pass <= $4"
				 " ORDER BY pass", tables[reading.tab]);
		plan_fetch[reading.tab] = db_prepare(sql, 4, types);
	}
	db_execute(plan_fetch[reading.tab], args, true, 0, SPI_OK_SELECT);
	rows = SPI_processed;
	for (i = 0; i < rows && len < SEG_CHUNK_BYTES; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i],
									  SPI_tuptable->tupdesc, 2, &isnull);
		bytea	   *part = DatumGetByteaPP(d);	/* maybe decompressed */
		size_t		n = VARSIZE_ANY_EXHDR(part);

		if (len + n > chunk_cap)
		{
			size_t		cap = Max(len + n, Max(chunk_cap * 2, SEG_CHUNK_BYTES));
			char	   *grown = realloc(chunk, cap);

			if (grown == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("out of memory")));
			chunk = grown;
			chunk_cap = cap;
		}
		memcpy(chunk + len, VARDATA_ANY(part), n);
		len += n;
		chunk_pass = get_int8(i, 1);
		if ((Pointer) part != DatumGetPointer(d))
			pfree(part);
	}
	/* every row of the range taken: the next chunk starts after it */
	if (i == rows)
		chunk_pass = range_end;
	read_all = i == rows && range_end >= reading.passes;
	SPI_freetuptable(SPI_tuptable);
	read_at = 0;
	chunk_len = len;
	if (own)
		db_commit();
}

/* segment_read is the reader's source: the segment's bytes, in order. */
static ssize_t
segment_read(void *arg, char *into, size_t room)
{
	size_t		n;

	while (read_at == chunk_len && !read_all)
		fetch_chunk();
	n = Min(room, chunk_len - read_at);
	memcpy(into, chunk + read_at, n);
	read_at += n;
	return (ssize_t) n;
}

/* segment_rewind starts the segment again from its first row. */
static int
segment_rewind(void *arg)
{
	read_at = chunk_len = 0;
	chunk_pass = 0;
	read_all = false;
	return 0;
}

/*
 * segments_open_next opens reader on this worker's oldest sealed segment,
 * if any (its row is read in a unit of work of its own; its bytes are read
 * as reader asks for them); name is the name it is counted under.  Returns
 * false if there is none (or the journal is in files).  Called with no
 * unit of work open.
 */
bool
segments_open_next(JournalReader *reader, char *name, size_t max_line)
{
	static const JournalSource source = {segment_read, segment_rewind, NULL};
	Oid			types[1] = {INT4OID};
	Datum		args[1];
	Oid			pass_types[2] = {INT4OID, INT8OID};
	Datum		pass_args[2];
	char		sql[128];

	if (!settings_journal_in_database() || !opened)
		return false;
	segments_release();
	db_begin("evproc: opening a journal segment");
	if (!db_has_table("journal_segments"))
	{
		db_commit();
		return false;
	}
	args[0] = Int32GetDatum(my_worker);
	run("SELECT seg, tab::bigint, name, bytes FROM evproc.journal_segments"
		" WHERE worker = $1 AND sealed_at IS NOT NULL ORDER BY seg LIMIT 1",
		1, types, args, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		db_commit();
		return false;
	}
	reading.seg = get_int8(0, 1);
	reading.tab = (int) get_int8(0, 2);
	if (reading.tab < 0 || reading.tab >= SEG_TABLES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("journal segment %lld names journal table %d",
						(long long) reading.seg, reading.tab)));
	strlcpy(reading.name, SPI_getvalue(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 3),
			sizeof(reading.name));
	reading.bytes = (uint64) get_int8(0, 4);
	/* its last pass, where fetch_chunk stops (one index probe) */
	snprintf(sql, sizeof(sql),
			 "SELECT coalesce(max(pass), 0) FROM evproc.%s"
			 " WHERE worker = $1 AND seg = $2", tables[reading.tab]);
	pass_args[0] = Int32GetDatum(my_worker);
	pass_args[1] = Int64GetDatum(reading.seg);
	run(sql, 2, pass_types, pass_args, true, SPI_OK_SELECT);
	reading.passes = get_int8(0, 1);
	db_commit();
	if (jreader_open_source(reader, &source, max_line) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	strlcpy(name, reading.name, JOURNAL_NAME_MAX);
	return true;
}

/*
 * segments_consume deletes the row of the segment being ingested, in the
 * unit of work that counts it: it must still be there, sealed, or the
 * transaction fails (and nothing of it is counted).
 */
void
segments_consume(void)
{
	Oid			types[2] = {INT4OID, INT8OID};
	Datum		args[2];

	args[0] = Int32GetDatum(my_worker);
	args[1] = Int64GetDatum(reading.seg);
	run("DELETE FROM evproc.journal_segments"
		" WHERE worker = $1 AND seg = $2 AND sealed_at IS NOT NULL",
		2, types, args, false, SPI_OK_DELETE);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("journal segment \"%s\" was removed by another session",
						reading.name)));
}

/* A journal table to truncate, and whether that is settled. */
typedef struct TruncateCall
{
	int			tab;
	bool		settled;		/* its lock was had: truncated, or need not be */
} TruncateCall;

/*
 * truncate_work truncates journal table tab if no live segment is in it
 * and it holds rows, without waiting for its lock; the check runs on the
 * latest snapshot, taken once the lock is held.
 */
static void
truncate_work(void *arg)
{
	TruncateCall *call = arg;
	char		sql[80];

	db_begin("evproc: truncating a journal table");
	if (!ConditionalLockRelationOid(table_oid(tables[call->tab]),
									AccessExclusiveLock))
	{
		db_commit();
		return;
	}
	call->settled = true;
	snprintf(sql, sizeof(sql),
			 "SELECT 1 FROM evproc.journal_segments WHERE tab = %d LIMIT 1",
			 call->tab);
	if (db_select_latest(sql) != SPI_OK_SELECT)
		elog(ERROR, "could not read evproc.journal_segments");
	if (SPI_processed == 0)
	{
		snprintf(sql, sizeof(sql), "SELECT 1 FROM evproc.%s LIMIT 1",
				 tables[call->tab]);
		if (db_select_latest(sql) != SPI_OK_SELECT)
			elog(ERROR, "could not read evproc.%s", tables[call->tab]);
		if (SPI_processed > 0)
		{
			snprintf(sql, sizeof(sql), "TRUNCATE evproc.%s",
					 tables[call->tab]);
			run(sql, 0, NULL, NULL, false, SPI_OK_UTILITY);
		}
	}
	db_commit();
}

/*
 * truncate_untruncated truncates the tables marked untruncated (they may
 * hold rows of counted segments only) if no live segment is left in them,
 * each in a unit of work of its own, never waiting for a lock.  A table
 * whose lock was had is settled; one whose lock was taken (a session
 * reading it, autovacuum of a schema older than 1.7) or whose try failed
 * (logged at DEBUG1 only) stays marked, for the next try.  Called with
 * no unit of work open.
 */
static void
truncate_untruncated(void)
{
	for (int tab = 0; tab < SEG_TABLES; tab++)
	{
		TruncateCall call = {tab, false};
		ErrorData  *edata;

		if ((untruncated & (1 << tab)) == 0 ||
			(current.seg != 0 && tab == current.tab))
			continue;
		edata = db_try(truncate_work, &call);
		if (edata != NULL)
		{
			ereport(DEBUG1,
					(errmsg("evproc: could not truncate evproc.%s: %s",
							tables[tab], edata->message)));
			FreeErrorData(edata);
		}
		else if (call.settled)
			untruncated &= ~(1 << tab);
	}
}

/*
 * segments_consumed: the segment being ingested was counted (its
 * transaction committed).  It leaves the backlog, and the tables that may
 * hold only counted rows now (its own, and those a try missed before)
 * are truncated if no live segment is left in them.
 */
void
segments_consumed(Journal *journal)
{
	sealed_count = Max(sealed_count - 1, 0);
	sealed_bytes -= Min(sealed_bytes, reading.bytes);
	journal->archives_moved++;	/* the backlog is measured again */
	untruncated |= 1 << reading.tab;
	segments_release();
	truncate_untruncated();
}

/* segments_release forgets the segment read for ingest, if any. */
void
segments_release(void)
{
	free(chunk);
	chunk = NULL;
	chunk_cap = 0;
	segment_rewind(NULL);
	memset(&reading, 0, sizeof(reading));
}
