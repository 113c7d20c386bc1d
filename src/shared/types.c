/*-------------------------------------------------------------------------
 *
 * types.c
 *	  Event types: the worker's copy of evproc.event_types, which the HTTP
 *	  server and ingest resolve event names with, and the table's trigger.
 *
 * The statement trigger on evproc.event_types (evproc_event_types_changed)
 * has the workers told at commit (changes.c).  Each pass of a worker's
 * loop compares the table's generation with that of its copy and reads
 * the table again (changes.c), so a definition takes effect within a pass
 * of its commit.  While the table cannot be read
 * (the extension is missing or older than the library), the two
 * predefined types are used, so that existing clients keep working.
 *
 * The copy is a sorted array in malloc'd memory: types_lookup runs inside
 * libmicrohttpd's callbacks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/changes.h"
#include "shared/db.h"
#include "shared/settings.h"
#include "shared/types.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* the worker's copy */
static TypeSet current = {NULL, 0};
static bool from_table = false; /* else the predefined types */

static const EvType predefined[] = {
	{EV_NAME_ADD_REVENUE, EV_METRIC_REVENUE, sizeof(EV_METRIC_REVENUE) - 1,
	EV_EFFECT_ADD},
	{EV_NAME_SUBTRACT_REVENUE, EV_METRIC_REVENUE, sizeof(EV_METRIC_REVENUE) - 1,
	EV_EFFECT_SUBTRACT},
};

PG_FUNCTION_INFO_V1(evproc_event_types_changed);

/*
 * evproc_event_types_changed is the statement trigger of
 * evproc.event_types: the workers are told when the transaction commits.
 */
Datum
evproc_event_types_changed(PG_FUNCTION_ARGS)
{
	changes_note(fcinfo, WATCH_EVENT_TYPES);
	return PointerGetDatum(NULL);
}

static int
compare_types(const void *a, const void *b)
{
	return strcmp(((const EvType *) a)->name, ((const EvType *) b)->name);
}

/* set_types makes the n types the copy (malloc'd, sorted by name). */
static bool
set_types(const EvType *src, int n, bool table)
{
	EvType	   *copy = malloc(sizeof(EvType) * Max(n, 1));

	if (copy == NULL)
		return false;
	memcpy(copy, src, sizeof(EvType) * n);
	qsort(copy, n, sizeof(EvType), compare_types);
	free(current.types);
	current.types = copy;
	current.n = n;
	from_table = table;
	return true;
}

/* load reads evproc.event_types into the copy; SPI is connected. */
static void
load(void)
{
	EvType	   *rows;
	int			n = 0;
	int			rc;

	rc = db_select_latest("SELECT name, metric, effect FROM evproc.event_types");
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	rows = palloc(sizeof(EvType) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *metric = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *effect = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);
		EvType	   *t = &rows[n];

		/* the table's CHECKs make these hold; a row that breaks them is skipped */
		if (name == NULL || metric == NULL || effect == NULL ||
			ev_check_name(name, strlen(name)) != NULL ||
			ev_check_metric(metric, strlen(metric)) != NULL ||
			!ev_parse_effect(effect, strlen(effect), &t->effect))
		{
			ereport(LOG,
					(errmsg("evproc: event type \"%s\" in evproc.event_types is not valid; ignored",
							name ? name : "(null)")));
			continue;
		}
		strlcpy(t->name, name, sizeof(t->name));
		strlcpy(t->metric, metric, sizeof(t->metric));
		t->metric_len = strlen(t->metric);
		n++;
	}
	if (!set_types(rows, n, true))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

static TableCopy copy = {WATCH_EVENT_TYPES, "event_types", load};

/* types_stale: should types_reload run now? */
bool
types_stale(void)
{
	return current.types == NULL || changes_stale(&copy);
}

/* types_timeout_ms: how long the loop may sleep as far as types go. */
long
types_timeout_ms(void)
{
	return changes_timeout_ms(&copy);
}

/*
 * types_reload reloads the copy from evproc.event_types (see
 * changes_read).  If the table is missing, the predefined types are used
 * until it is there (logged once); if it is locked, or reading it fails,
 * the copy stays (the predefined types if there is none yet).
 */
void
types_reload(void)
{
	TableRead	result = changes_read(&copy);

	if (result == TABLE_READ || (result == TABLE_UNREAD && current.types != NULL))
		return;
	if (from_table || current.types == NULL)
		ereport(LOG,
				(errmsg("evproc: evproc.event_types cannot be read in database \"%s\"; only the predefined event types are accepted",
						evproc_database),
				 errhint("Run CREATE EXTENSION evproc, or ALTER EXTENSION evproc UPDATE, in that database.")));
	if (!set_types(predefined, lengthof(predefined), false) &&
		current.types == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
}

/*
 * types_from_table: were the types last read from evproc.event_types (the
 * database was reachable and the tables there)?
 */
bool
types_from_table(void)
{
	return from_table;
}

/* types_current: the worker's copy of the types. */
const TypeSet *
types_current(void)
{
	return &current;
}

/*
 * types_copy gives a copy of the current types, palloc'd in cxt, that
 * stays as it is whatever changes later: ingest reads a whole file with
 * one set of definitions.
 */
TypeSet *
types_copy(MemoryContext cxt)
{
	TypeSet    *set = MemoryContextAlloc(cxt, sizeof(TypeSet));

	set->n = current.n;
	set->types = MemoryContextAlloc(cxt, sizeof(EvType) * Max(current.n, 1));
	memcpy(set->types, current.types, sizeof(EvType) * current.n);
	return set;
}

/*
 * types_lookup finds the type named name[0..len) in set, or NULL.  No
 * PostgreSQL calls: it runs inside libmicrohttpd's callbacks.
 */
const EvType *
types_lookup(const TypeSet *set, const char *name, size_t len)
{
	int			lo = 0;
	int			hi = set->n - 1;

	if (len > EV_NAME_MAX)
		return NULL;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strncmp(name, set->types[mid].name, len);

		if (c == 0 && set->types[mid].name[len] != '\0')
			c = -1;
		if (c == 0)
			return &set->types[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * types_resolve gives an event its type in set by its name: NULL, or a
 * message (written into errbuf) if the name is not a defined type or the
 * event lacks what its type needs (a value).  No PostgreSQL calls.
 */
const char *
types_resolve(const TypeSet *set, EvEvent *ev, char *errbuf, size_t errlen)
{
	const EvType *t = types_lookup(set, ev->name, ev->name_len);
	const char *msg;

	if (t == NULL)
	{
		snprintf(errbuf, errlen, "event \"%s\" is not a defined type",
				 ev->name);
		return errbuf;
	}
	msg = ev_set_type(ev, t->metric, t->metric_len, t->effect);
	if (msg != NULL)
	{
		snprintf(errbuf, errlen, "%s", msg);
		return errbuf;
	}
	return NULL;
}
