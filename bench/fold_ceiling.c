/*-------------------------------------------------------------------------
 *
 * fold_ceiling.c
 *	  The ceiling of ingest for the benchmark: reads a journal file and
 *	  sums its events per (user, metric) with the parser ingest uses
 *	  (ev_parse_line, the event sources of the unit tests), touching no
 *	  database, and prints how long that took.  Ingest cannot be faster
 *	  than this; bench/run.sh prints ingest's speed as a ratio to it.
 *
 *	  fold_ceiling FILE
 *
 *	  Prints "SECONDS EVENTS REJECTED PAIRS" (PAIRS: distinct (user,
 *	  metric) sums).  Lines without a recorded type are given the type of
 *	  the built-in names (add_revenue, subtract_revenue; revenue) and, like
 *	  any other name, the type "NAME, add" otherwise, so that a file of
 *	  any names is summed the way a defined type would be.
 *
 *-------------------------------------------------------------------------
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "journal/line.h"

/* one (user, metric) sum; the table is open addressing, linear probing */
typedef struct Sum
{
	char	   *key;			/* "user\0metric\0", NULL: empty slot */
	size_t		key_len;
	uint64_t	hash;
	ev_int128	total;
} Sum;

static Sum *table;
static size_t table_size = 1 << 16;	/* a power of two */
static size_t table_used;

/* FNV-1a, 64-bit */
static uint64_t
hash_key(const char *key, size_t len)
{
	uint64_t	h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) key[i]) * 1099511628211ULL;
	return h;
}

static void
grow(void)
{
	Sum		   *old = table;
	size_t		old_size = table_size;

	table_size *= 2;
	table = calloc(table_size, sizeof(Sum));
	if (table == NULL)
	{
		perror("fold_ceiling");
		exit(1);
	}
	for (size_t i = 0; i < old_size; i++)
	{
		size_t		j;

		if (old[i].key == NULL)
			continue;
		for (j = old[i].hash & (table_size - 1); table[j].key != NULL;
			 j = (j + 1) & (table_size - 1))
			;
		table[j] = old[i];
	}
	free(old);
}

/* add adds delta to the sum of (user, metric) */
static void
add(const EvEvent *ev, ev_int128 delta)
{
	char		key[EV_USER_ID_MAX + EV_NAME_MAX + 2];
	size_t		len = ev->user_id_len + 1 + ev->metric_len + 1;
	uint64_t	h;
	size_t		j;

	memcpy(key, ev->user_id, ev->user_id_len + 1);
	memcpy(key + ev->user_id_len + 1, ev->metric, ev->metric_len + 1);
	h = hash_key(key, len);
	for (j = h & (table_size - 1); table[j].key != NULL;
		 j = (j + 1) & (table_size - 1))
	{
		if (table[j].hash == h && table[j].key_len == len &&
			memcmp(table[j].key, key, len) == 0)
		{
			table[j].total += delta;
			return;
		}
	}
	table[j].key = malloc(len);
	if (table[j].key == NULL)
	{
		perror("fold_ceiling");
		exit(1);
	}
	memcpy(table[j].key, key, len);
	table[j].key_len = len;
	table[j].hash = h;
	table[j].total = delta;
	if (++table_used * 2 > table_size)
		grow();
}

static EvParser *parser;
static long events;
static long rejected;

/* fold_line sums one line of the file, or counts it as rejected */
static void
fold_line(const char *line, size_t len)
{
	EvEvent		ev;
	char		err[EV_ERROR_BUFSZ];

	if (journal_line_skipped(line, len))
		return;
	if (!journal_line_parse(parser, line, len, &ev, err, sizeof(err)))
	{
		rejected++;
		return;
	}
	if (!ev.typed)
	{
		if (strcmp(ev.name, "subtract_revenue") == 0)
			ev_set_type(&ev, "revenue", 7, EV_EFFECT_SUBTRACT);
		else if (strcmp(ev.name, "add_revenue") == 0)
			ev_set_type(&ev, "revenue", 7, EV_EFFECT_ADD);
		else
			ev_set_type(&ev, ev.name, ev.name_len, EV_EFFECT_ADD);
	}
	if (!ev.typed)
	{
		rejected++;
		return;
	}
	add(&ev, ev_event_delta(&ev));
	events++;
}

int
main(int argc, char **argv)
{
	static char buf[1 << 20];
	size_t		have = 0;
	int			fd;
	struct timespec t0;
	struct timespec t1;

	if (argc != 2)
	{
		fprintf(stderr, "usage: fold_ceiling FILE\n");
		return 2;
	}
	parser = ev_parser_create();
	table = calloc(table_size, sizeof(Sum));
	if (parser == NULL || table == NULL)
	{
		fprintf(stderr, "fold_ceiling: out of memory\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fd = open(argv[1], O_RDONLY);
	if (fd < 0)
	{
		perror(argv[1]);
		return 1;
	}
	for (;;)
	{
		ssize_t		n = read(fd, buf + have, sizeof(buf) - have);
		char	   *p = buf;
		char	   *nl;

		if (n < 0)
		{
			perror(argv[1]);
			return 1;
		}
		have += (size_t) n;
		while ((nl = memchr(p, '\n', buf + have - p)) != NULL)
		{
			fold_line(p, (size_t) (nl - p));
			p = nl + 1;
		}
		have -= (size_t) (p - buf);
		memmove(buf, p, have);
		if (n == 0)
			break;
		if (have == sizeof(buf))
		{
			fprintf(stderr, "fold_ceiling: a line longer than %zu bytes\n",
					sizeof(buf));
			return 1;
		}
	}
	fold_line(buf, have);		/* a last line without its newline */
	close(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.3f %ld %ld %zu\n",
		   (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		   events, rejected, table_used);
	ev_parser_free(parser);
	return 0;
}
