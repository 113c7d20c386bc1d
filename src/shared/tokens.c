/*-------------------------------------------------------------------------
 *
 * tokens.c
 *	  The tokens of evproc.tokens: the worker's copy, which auth.c checks
 *	  requests against; the signal that the table changed; the writes of
 *	  last_used; and evproc.new_token(), the token that
 *	  evproc_create_token() hands out once, and its hash.
 *
 * The same mechanism as the event types' (types.c): a statement trigger
 * on evproc.tokens (evproc.tokens_changed) has the workers told at commit
 * (changes.c); each pass of a worker's loop compares the table's
 * generation with its copy's and reads the table again (changes.c).  So a
 * new, changed or revoked token takes effect within a pass of its commit,
 * without a reload of the configuration.  Until the table has been
 * read once, requests that need a token of the table get 503; without the
 * table (the extension missing or older than 1.3), there are no table
 * tokens.
 *
 * last_used is not written per request: auth.c notes uses in the copy
 * (token_table.c), and the worker writes them, at most once a minute per
 * token, in a unit of work of their own, with one parameterised UPDATE;
 * never inside an ingest transaction (its row locks would stay until it
 * ends).  The trigger ignores updates of last_used alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/token_table.h"
#include "shared/auth.h"
#include "shared/changes.h"
#include "shared/db.h"
#include "shared/role.h"
#include "shared/tokens.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

/* the worker's copy, also auth.c's (NULL until read once) */
static TokenTable *current = NULL;
static bool from_table = false; /* else the table is missing */
static bool kept_stale = false; /* table gone: the copy kept (logged) */

/* random bytes of a token: 256 bits */
#define TOKEN_RANDOM_BYTES	32
/* Unix time - PostgreSQL time, in microseconds */
#define UNIX_OFFSET_US	\
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

PG_FUNCTION_INFO_V1(evproc_tokens_changed);
PG_FUNCTION_INFO_V1(evproc_new_token);

/*
 * evproc_tokens_changed is the statement trigger of evproc.tokens: the
 * workers are told when the transaction commits.
 */
Datum
evproc_tokens_changed(PG_FUNCTION_ARGS)
{
	changes_note(fcinfo, WATCH_TOKENS);
	return PointerGetDatum(NULL);
}

/*
 * evproc_new_token returns a new token and its SHA-256: "evp_" and 256
 * random bits (pg_strong_random) in base64url, 47 characters that need no
 * escaping in a header or a URL.  The prefix makes a leaked token
 * recognisable (secret scanners).  The hash is made here, not in SQL, so
 * that the token is never a value in a statement that could be logged
 * (auto_explain shows the parameters of nested statements in their plans).
 */
Datum
evproc_new_token(PG_FUNCTION_ARGS)
{
	uint8		bytes[TOKEN_RANDOM_BYTES];
	char		token[4 + (TOKEN_RANDOM_BYTES + 2) / 3 * 4 + 1];
	uint8		hash[TOKEN_HASH_LEN];
	bytea	   *hash_datum = palloc(VARHDRSZ + TOKEN_HASH_LEN);
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tuple;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "evproc.new_token() must return a record");
	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random token")));
	memcpy(token, "evp_", 4);
	token_b64url(bytes, sizeof(bytes), token + 4);
	token_sha256(token, strlen(token), hash);
	SET_VARSIZE(hash_datum, VARHDRSZ + TOKEN_HASH_LEN);
	memcpy(VARDATA(hash_datum), hash, TOKEN_HASH_LEN);
	values[0] = PointerGetDatum(cstring_to_text(token));
	values[1] = PointerGetDatum(hash_datum);
	tuple = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	explicit_bzero(bytes, sizeof(bytes));
	explicit_bzero(token, sizeof(token));
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/* to_unix_us: a timestamptz as Unix time in microseconds */
static int64
to_unix_us(TimestampTz ts)
{
	return ts + UNIX_OFFSET_US;
}

/*
 * set_table makes the n entries the copy, keeping what this worker noted
 * of the uses of the tokens it had (by hash), and hands it to auth.c.
 */
static bool
set_table(TokenEntry *rows, int n, bool table, bool any_rows)
{
	TokenTable *t;

	for (int i = 0; i < n; i++)
	{
		TokenEntry *old = token_table_find(current, rows[i].hash);

		if (old != NULL)
		{
			rows[i].used_us = old->used_us;
			rows[i].written_us = Max(rows[i].written_us, old->written_us);
		}
	}
	if ((t = token_table_new(rows, n)) == NULL)
		return false;
	/* rows that are not valid tokens keep the server closed too */
	t->open = !any_rows;
	for (int i = 0; i < n; i++)
	{
		TokenEntry *e = &t->entries[i];

		if (e->used_us > e->written_us)
			t->write_due_us = Min(t->write_due_us,
								  e->written_us + TOKEN_USED_INTERVAL_US);
	}
	auth_set_tokens(t);
	token_table_free(current);
	current = t;
	from_table = table;
	return true;
}

/* load reads evproc.tokens into the copy; SPI is connected. */
static void
load(void)
{
	TokenEntry *rows;
	int			n = 0;
	int			rc;

	rc = db_select_latest("SELECT name, hash,"
						  " ('write' = ANY (scopes))::int + 2 * ('read' = ANY (scopes))::int,"
						  " coalesce(rate_limit, 0), expires, revoked IS NOT NULL,"
						  " last_used FROM evproc.tokens");
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	rows = palloc0(sizeof(TokenEntry) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		TokenEntry *e = &rows[n];
		bool		isnull[7];
		Datum		v[7];
		char	   *name;
		bytea	   *hash;

		for (int c = 0; c < 7; c++)
			v[c] = SPI_getbinval(tuple, desc, c + 1, &isnull[c]);
		name = isnull[0] ? NULL : TextDatumGetCString(v[0]);
		hash = isnull[1] ? NULL : DatumGetByteaPP(v[1]);
		/* the table's CHECKs make these hold; a row that breaks them is skipped */
		if (name == NULL || strlen(name) > TOKEN_NAME_MAX || hash == NULL ||
			VARSIZE_ANY_EXHDR(hash) != TOKEN_HASH_LEN)
		{
			ereport(LOG,
					(errmsg("evproc: token \"%s\" in evproc.tokens is not valid; ignored",
							name ? name : "(null)")));
			continue;
		}
		strlcpy(e->name, name, sizeof(e->name));
		memcpy(e->hash, VARDATA_ANY(hash), TOKEN_HASH_LEN);
		e->scopes = DatumGetInt32(v[2]);
		e->rate_limit = DatumGetInt32(v[3]);
		if (isnull[4] || DatumGetTimestampTz(v[4]) == DT_NOEND)
			e->expires_us = 0;
		else if (DatumGetTimestampTz(v[4]) == DT_NOBEGIN)
			e->expires_us = 1;
		else
			e->expires_us = Max(to_unix_us(DatumGetTimestampTz(v[4])), 1);
		e->revoked = DatumGetBool(v[5]);
		e->written_us = isnull[6] || TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(v[6])) ?
			0 : to_unix_us(DatumGetTimestampTz(v[6]));
		n++;
	}
	kept_stale = false;
	if (!set_table(rows, n, true, SPI_processed > 0))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	ereport(DEBUG1,
			(errmsg_internal("evproc: %d tokens read from evproc.tokens", n)));
}

static TableCopy copy = {WATCH_TOKENS, "tokens", load};

/*
 * reload reloads the copy from evproc.tokens (see changes_read).  If the
 * table is missing, there are no table tokens until it is there, unless
 * tokens were read from it before; if it is locked, or reading it fails,
 * the copy stays (none yet: requests that need a table token get 503).
 */
static void
reload(void)
{
	if (changes_read(&copy) != TABLE_MISSING)
		return;
	if (from_table && !current->open)
	{
		/*
		 * Never open the server because the table went away (DROP
		 * EXTENSION, a restore, a rename): the tokens read before stay.
		 */
		if (!kept_stale)
			ereport(LOG,
					(errmsg("evproc: evproc.tokens cannot be read any more; the tokens read before stay in force until the worker restarts")));
		kept_stale = true;
		return;
	}
	if (!set_table(NULL, 0, false, false))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/* The uses to write: n hashes (bytea) and times (timestamptz). */
typedef struct UsedMarks
{
	Datum	   *hashes;
	Datum	   *times;
	int			n;
} UsedMarks;

/* write_used_in_unit writes the uses of arg (UsedMarks) to last_used */
static void
write_used_in_unit(void *arg)
{
	static SPIPlanPtr plan = NULL;
	UsedMarks  *marks = arg;
	Datum		args[2];

	db_begin("evproc: writing evproc.tokens.last_used");
	if (db_has_table("tokens"))
	{
		/* in the transaction: the arrays' types are looked up */
		args[0] = db_array(marks->hashes, marks->n, BYTEAOID);
		args[1] = db_array(marks->times, marks->n, TIMESTAMPTZOID);
		if (plan == NULL)
		{
			Oid			types[2] = {BYTEAARRAYOID, TIMESTAMPTZARRAYOID};

			plan = db_prepare("UPDATE evproc.tokens AS t SET last_used = u.at"
							  " FROM ROWS FROM (pg_catalog.unnest($1),"
							  " pg_catalog.unnest($2)) AS u(hash, at)"
							  " WHERE t.hash = u.hash"
							  " AND (t.last_used IS NULL OR t.last_used < u.at)",
							  2, types);
		}
		db_execute(plan, args, false, 0, SPI_OK_UPDATE);
	}
	db_commit();
}

/*
 * write_used writes the uses noted since the last write of each token whose
 * last write is a minute old: one UPDATE for them all.  Not inside an
 * ingest transaction: then it is tried again a second later.
 */
static void
write_used(int64 now_us)
{
	Datum	   *hashes;
	Datum	   *times;
	int		   *which;
	int			n = 0;
	int64		next_due = INT64_MAX;
	UsedMarks	marks;
	ErrorData  *edata;

	if (db_in_work())
	{
		current->write_due_us = now_us + 1000000;
		return;
	}
	if (role_standby())
	{
		/* read-only: the uses stay noted, written after a promotion */
		current->write_due_us = INT64_MAX;
		return;
	}
	hashes = palloc(sizeof(Datum) * current->n);
	times = palloc(sizeof(Datum) * current->n);
	which = palloc(sizeof(int) * current->n);
	for (int i = 0; i < current->n; i++)
	{
		TokenEntry *e = &current->entries[i];
		bytea	   *b;

		if (e->used_us <= e->written_us)
			continue;
		if (e->written_us + TOKEN_USED_INTERVAL_US > now_us)
		{
			next_due = Min(next_due, e->written_us + TOKEN_USED_INTERVAL_US);
			continue;
		}
		b = palloc(VARHDRSZ + TOKEN_HASH_LEN);
		SET_VARSIZE(b, VARHDRSZ + TOKEN_HASH_LEN);
		memcpy(VARDATA(b), e->hash, TOKEN_HASH_LEN);
		hashes[n] = PointerGetDatum(b);
		times[n] = TimestampTzGetDatum(e->used_us - UNIX_OFFSET_US);
		which[n++] = i;
	}
	current->write_due_us = next_due;
	if (n == 0 || !from_table)
		return;
	marks.hashes = hashes;
	marks.times = times;
	marks.n = n;
	edata = db_try(write_used_in_unit, &marks);
	if (edata != NULL)
	{
		ereport(LOG,
				(errmsg("evproc: could not write evproc.tokens.last_used: %s",
						edata->message),
				 errdetail("It is tried again shortly.")));
		FreeErrorData(edata);
		current->write_due_us = Min(next_due, now_us + 10 * 1000000);
		return;
	}
	for (int i = 0; i < n; i++)
		current->entries[which[i]].written_us = now_us;
}

/*
 * tokens_upkeep, each pass of the worker's loop: reloads the copy if the
 * table changed (or was never read, or at the periodic reload), and writes
 * the uses that are due to last_used.
 */
void
tokens_upkeep(void)
{
	int64		now_us;

	if (changes_stale(&copy))
		reload();
	now_us = token_now_us();
	if (current != NULL && now_us >= current->write_due_us)
		write_used(now_us);
}

/* tokens_timeout_ms: how long the loop may sleep as far as tokens go. */
long
tokens_timeout_ms(void)
{
	long		timeout = changes_timeout_ms(&copy);

	if (current != NULL && current->write_due_us != INT64_MAX)
	{
		int64		now_us = token_now_us();

		timeout = Min(timeout, current->write_due_us <= now_us ? 0 :
					  (long) ((current->write_due_us - now_us + 999) / 1000));
	}
	return timeout;
}
