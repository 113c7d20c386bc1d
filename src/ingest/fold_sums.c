/*-------------------------------------------------------------------------
 *
 * fold_sums.c
 *	  The per-user sums of the file being folded, one range of users at a
 *	  time: a user's events summed per metric with exact 128-bit decimals,
 *	  in a hash table of at most FOLD_RANGE_PAIRS (user, metric) pairs, and
 *	  listed in (user id, metric) order for fold.c's upserts.
 *
 * A file's users are split into ranges by user id, in order: the first
 * read of the file sums the users from the first on, and when the table
 * would hold more than FOLD_RANGE_PAIRS pairs, the pairs of the last
 * users (about an eighth of them) are dropped and the range ends before
 * the first of those users; later events of users at or after that bound
 * are ignored.  Once the range's sums are upserted (in the file's one
 * transaction), the next range starts at that bound and the file is read
 * again for it (ingest.c), until a read ends without a bound.  A user's
 * pairs are always in one range, so each user's sums are whole when
 * upserted, and every pair is upserted once, in (user id, metric) order
 * over the whole file, as when all sums fitted: concurrent ingests cannot
 * deadlock.  The memory of a file's sums is so bounded (about 11 MB) at the
 * cost of reading a file with more pairs again: the bench's file of
 * 300,000 pairs is read three times.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "core/stepsort.h"
#include "ingest/fold.h"
#include "ingest/fold_sums.h"
#include "journal/line.h"

#include "common/hashfn.h"
#include "utils/memutils.h"

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
 * 8-byte aligned, as palloc'd memory is.  32 bytes: a range can have
 * a hundred thousand of them.
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
/* not grown early for long probes: FOLD_RANGE_PAIRS fill 2^17 to 88% */
#define SH_GROW_MIN_FILLFACTOR	SH_FILLFACTOR
#define SH_SCOPE			static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* the sums of the file being folded */
static struct
{
	const char *name;			/* the file, for messages */
	MemoryContext cxt;			/* the file's: table, metrics, bounds */
	MemoryContext keys_cxt;		/* the range's keys and sorted list */
	usertotals_hash *totals;
	char	   *arena;			/* where the next key goes (see store_key) */
	size_t		arena_left;
	const char **metrics;		/* the distinct metrics the file changes */
	int			nmetrics;
	char	   *lo;				/* the range's first user; NULL: the first */
	char	   *hi;				/* users from it on are left to a later
								 * range; NULL: none yet */
	int			range;			/* ranges done before this one */
	StepSort	sort;			/* sorting them, a step at a time */
	UserTotal **sorted;			/* NULL until they are sorted */
	int			nsorted;
}			sums;

/* sums_begin starts the sums of file name, in cxt (the file's memory). */
void
sums_begin(MemoryContext cxt, const char *name)
{
	memset(&sums, 0, sizeof(sums));
	sums.name = name;
	sums.cxt = cxt;
	sums.keys_cxt = AllocSetContextCreate(cxt, "evproc fold keys",
										  ALLOCSET_DEFAULT_SIZES);
	sums.totals = usertotals_create(cxt, 1024, NULL);
	sums.metrics = MemoryContextAlloc(cxt, sizeof(char *) * FOLD_MAX_METRICS);
}

/* sums_end forgets them (their memory goes with the file's context). */
void
sums_end(void)
{
	memset(&sums, 0, sizeof(sums));
}

/*
 * store_key copies a key (len bytes) into the range's memory, densely: a
 * range can have a hundred thousand of them, and a chunk of their own
 * would cost them twice the memory.
 */
static char *
store_key(const char *key, size_t len)
{
	char	   *p;

	if (sums.arena_left < len)
	{
		size_t		size = Max(len, FOLD_ARENA_BLOCK);

		sums.arena = MemoryContextAlloc(sums.keys_cxt, size);
		sums.arena_left = size;
	}
	p = sums.arena;
	memcpy(p, key, len);
	sums.arena += len;
	sums.arena_left -= len;
	return p;
}

/* note_metric adds metric to the file's metrics, if it is new. */
static void
note_metric(const char *metric)
{
	for (int i = 0; i < sums.nmetrics; i++)
		if (strcmp(sums.metrics[i], metric) == 0)
			return;
	if (sums.nmetrics == FOLD_MAX_METRICS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("file \"%s\" changes more than %d metrics",
						sums.name, FOLD_MAX_METRICS)));
	sums.metrics[sums.nmetrics++] = MemoryContextStrdup(sums.cxt, metric);
}

/*
 * select_user reorders the n entries of a so that the k-th has the user it
 * would have if they were sorted by user, those before it no greater
 * users, those after it no smaller (Hoare's selection).
 */
static void
select_user(UserTotal **a, int n, int k)
{
	int			lo = 0;
	int			hi = n - 1;

	while (lo < hi)
	{
		const char *pivot = key_user(a[lo + (hi - lo) / 2]->key);
		int			i = lo;
		int			j = hi;

		while (i <= j)
		{
			while (strcmp(key_user(a[i]->key), pivot) < 0)
				i++;
			while (strcmp(key_user(a[j]->key), pivot) > 0)
				j--;
			if (i <= j)
			{
				UserTotal  *t = a[i];

				a[i++] = a[j];
				a[j--] = t;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
}

/*
 * compact_keys copies the keys of the sums left in the table into new
 * blocks and frees the old ones, with the keys of the dropped sums.
 */
static void
compact_keys(void)
{
	MemoryContext old = sums.keys_cxt;
	usertotals_iterator it;
	UserTotal  *entry;

	sums.keys_cxt = AllocSetContextCreate(sums.cxt, "evproc fold keys",
										  ALLOCSET_DEFAULT_SIZES);
	sums.arena = NULL;
	sums.arena_left = 0;
	usertotals_start_iterate(sums.totals, &it);
	while ((entry = usertotals_iterate(sums.totals, &it)) != NULL)
		entry->key = store_key(entry->key, key_len(entry->key));
	MemoryContextDelete(old);
}

/*
 * end_range_early ends the range before its last users, the table being
 * full: the user of the pair at seven eighths of them, in order, becomes
 * the range's end, and the pairs of that user and those after it are
 * dropped (summed by a later range).  If that is the first user, the
 * range keeps it whole and ends at the next; a range of a single user is
 * not cut (a user has at most FOLD_MAX_METRICS pairs).
 */
static void
end_range_early(void)
{
	int			n = sums.totals->members;
	UserTotal **all = palloc(sizeof(UserTotal *) * n);
	char	  **drop = palloc(sizeof(char *) * n);
	const char *end;
	const char *next = NULL;
	int			ndrop = 0;
	int			k = 0;
	usertotals_iterator it;
	UserTotal  *entry;

	usertotals_start_iterate(sums.totals, &it);
	while ((entry = usertotals_iterate(sums.totals, &it)) != NULL)
		all[k++] = entry;
	select_user(all, n, n - n / 8);
	end = key_user(all[n - n / 8]->key);
	for (k = 0; k < n && strcmp(key_user(all[k]->key), end) >= 0; k++)
		;
	if (k == n)
	{
		/* none before it: the next user after it, if any */
		for (k = 0; k < n; k++)
			if (strcmp(key_user(all[k]->key), end) > 0 &&
				(next == NULL || strcmp(key_user(all[k]->key), next) < 0))
				next = key_user(all[k]->key);
		if (next == NULL)
		{
			pfree(drop);
			pfree(all);
			return;
		}
		end = next;
	}
	if (sums.hi != NULL)
		pfree(sums.hi);
	sums.hi = MemoryContextStrdup(sums.cxt, end);
	/* by key: deleting moves other entries of the table */
	for (k = 0; k < n; k++)
		if (strcmp(key_user(all[k]->key), sums.hi) >= 0)
			drop[ndrop++] = all[k]->key;
	for (k = 0; k < ndrop; k++)
		usertotals_delete(sums.totals, drop[k]);
	pfree(drop);
	pfree(all);
	compact_keys();
}

/*
 * add_hashed adds delta to the sum of key (len bytes), whose hash is hash,
 * if its user is in the range.
 */
static inline void
add_hashed(const char *key, size_t len, uint32 hash, ev_int128 delta)
{
	bool		found;
	UserTotal  *entry;
	ev_int128	total;

	if ((sums.lo != NULL && strcmp(key_user(key), sums.lo) < 0) ||
		(sums.hi != NULL && strcmp(key_user(key), sums.hi) >= 0))
		return;
	entry = usertotals_insert_hash(sums.totals, (char *) key, hash, &found);
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
						key_metric(key), key_user(key), sums.name)));
	entry->total = total;
	if (!found && sums.totals->members > FOLD_RANGE_PAIRS)
		end_range_early();
}

/*
 * fold_add adds one event's amount to its user's sum of metric (user_len
 * and metric_len bytes, each NUL-terminated), if the user is in the range.
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
 * sums, those of users in the range.  With a hundred thousand sums, most
 * of the time of an addition is spent waiting for its bucket to come from
 * memory: the buckets of the whole batch are asked for first, then filled.
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
		__builtin_prefetch(&sums.totals->data[hashes[i] & sums.totals->sizemask]);
	}
	for (int i = 0; i < n; i++)
		add_hashed(keys[i], lens[i], hashes[i], ev_event_delta(&evs[i]));
}

/* compare_raw compares a user id of len bytes with user, as strcmp does */
static int
compare_raw(const char *id, size_t len, const char *user)
{
	size_t		ulen = strlen(user);
	int			c = memcmp(id, user, Min(len, ulen));

	return c != 0 ? c : (len < ulen ? -1 : len > ulen);
}

/*
 * names_user_key: is there a "userId" in text (n bytes)?  Looked for at
 * its capital I, which few lines have.
 */
static bool
names_user_key(const char *text, size_t n)
{
	const char *end = text + n;

	for (const char *q = text; (q = memchr(q, 'I', end - q)) != NULL; q++)
		if (q - text >= 5 && end - q >= 3 &&
			memcmp(q - 5, "\"user", 5) == 0 && memcmp(q, "Id\"", 3) == 0)
			return true;
	return false;
}

/*
 * fold_skip_line: is the line certainly an event of a user outside the
 * range, so that a later range's read can skip it without parsing it?
 * Only for a line laid out as the journal writes it, its userId first,
 * with no backslash (the user id is then the string's bytes) and no other
 * "userId" (the last of repeated keys would win).  Any other is parsed.
 */
bool
fold_skip_line(const char *line, size_t len)
{
	const char *user = line + LINE_LEN(LINE_USER_ID "\"");
	const char *end;
	size_t		ulen;

	if ((sums.lo == NULL && sums.hi == NULL) ||
		len < LINE_LEN(LINE_USER_ID "\"") ||
		memcmp(line, LINE_USER_ID "\"", LINE_LEN(LINE_USER_ID "\"")) != 0 ||
		(end = memchr(user, '"', line + len - user)) == NULL)
		return false;
	ulen = end - user;
	if ((sums.lo == NULL || compare_raw(user, ulen, sums.lo) >= 0) &&
		(sums.hi == NULL || compare_raw(user, ulen, sums.hi) < 0))
		return false;			/* in the range, if it is what it seems */
	return memchr(line, '\\', len) == NULL &&
		!names_user_key(end, line + len - end);
}

/* sums_metrics: the distinct metrics the file changes, in all ranges */
int
sums_metrics(const char *const **metrics)
{
	*metrics = sums.metrics;
	return sums.nmetrics;
}

/* by user id, then metric (stepsort compares the pointers themselves) */
static int
compare_totals(const void *a, const void *b)
{
	return compare_keys(((const UserTotal *) a)->key,
						((const UserTotal *) b)->key);
}

/*
 * sums_sort_begin starts listing the range's sums in (user id, metric)
 * order, for the upserts: going in one order, concurrent ingests cannot
 * deadlock.  sums_sort_step sorts them, a bounded piece at a time: one
 * qsort of a file's 100,000 users took 30 ms.
 */
void
sums_sort_begin(void)
{
	usertotals_iterator it;
	UserTotal  *entry;
	int			k = 0;
	void	  **all;
	void	  **tmp;

	sums.nsorted = sums.totals->members;
	all = MemoryContextAlloc(sums.keys_cxt, sizeof(void *) * Max(sums.nsorted, 1));
	tmp = MemoryContextAlloc(sums.keys_cxt, sizeof(void *) * Max(sums.nsorted, 1));
	usertotals_start_iterate(sums.totals, &it);
	while ((entry = usertotals_iterate(sums.totals, &it)) != NULL)
		all[k++] = entry;
	stepsort_init(&sums.sort, all, tmp, sums.nsorted, compare_totals);
	sums.sorted = NULL;
}

/*
 * sums_sort_step sorts the sums for about budget element moves.  Returns
 * true once they are sorted.
 */
bool
sums_sort_step(size_t budget)
{
	if (sums.sorted != NULL)
		return true;
	if (!stepsort_run(&sums.sort, budget))
		return false;
	sums.sorted = (UserTotal **) stepsort_result(&sums.sort);
	pfree(sums.sort.tmp);		/* the other array */
	sums.sort.tmp = NULL;
	return true;
}

/* sums_count: the range's sums (sorted: sums_user(0 .. count - 1)) */
int
sums_count(void)
{
	return sums.nsorted;
}

const char *
sums_user(int i)
{
	return key_user(sums.sorted[i]->key);
}

const char *
sums_metric(int i)
{
	return key_metric(sums.sorted[i]->key);
}

int128
sums_total(int i)
{
	return sums.sorted[i]->total;
}

/* sums_range: how many ranges were done before this one */
int
sums_range(void)
{
	return sums.range;
}

/*
 * sums_next_range starts the next range, at the users the last one left
 * (its sums all applied), with an empty table: the file is then to be
 * read again.  Returns false if the last range was the file's last.
 */
bool
sums_next_range(void)
{
	if (sums.hi == NULL)
		return false;
	if (sums.lo != NULL)
		pfree(sums.lo);
	sums.lo = sums.hi;
	sums.hi = NULL;
	usertotals_reset(sums.totals);
	MemoryContextReset(sums.keys_cxt);
	sums.arena = NULL;
	sums.arena_left = 0;
	sums.sorted = NULL;
	sums.nsorted = 0;
	sums.range++;
	return true;
}
