/*-------------------------------------------------------------------------
 *
 * bench_line.c
 *	  A micro-benchmark (not a test) of journal_line_parse on journal lines
 *	  as the worker writes them: 100000 lines of four types (add, subtract,
 *	  add to another metric, count), half with an eventId, parsed N times
 *	  in all (default 10 million).  With "untyped", the lines are written
 *	  without metric and effect, as older versions wrote them.
 *
 *	  cc -O2 -Isrc -o /tmp/bench_line test/unit/bench_line.c \
 *		src/journal/line.c src/core/event.c src/core/event_fast.c \
 *		src/core/event_type.c src/core/decimal.c src/core/validate.c \
 *		src/core/format.c -ljson-c
 *	  /tmp/bench_line [N] [untyped]
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "journal/line.h"

#define NLINES 100000

int
main(int argc, char **argv)
{
	static const struct
	{
		const char *name;
		const char *metric;
		EvEffect	effect;
	}			types[] = {
		{EV_NAME_ADD_REVENUE, EV_METRIC_REVENUE, EV_EFFECT_ADD},
		{EV_NAME_SUBTRACT_REVENUE, EV_METRIC_REVENUE, EV_EFFECT_SUBTRACT},
		{"purchase", "purchases", EV_EFFECT_ADD},
		{"signup", "signups", EV_EFFECT_COUNT}
	};
	long		total = argc > 1 ? atol(argv[1]) : 10000000;
	bool		untyped = argc > 2 && strcmp(argv[2], "untyped") == 0;
	char	   *lines = malloc((size_t) NLINES * EV_LINE_MAX);
	size_t	   *starts = malloc(NLINES * sizeof(size_t));
	size_t	   *lens = malloc(NLINES * sizeof(size_t));
	size_t		used = 0;
	EvParser   *parser = ev_parser_create();
	EvEvent		ev;
	char		err[EV_ERROR_BUFSZ];
	struct timespec t0;
	struct timespec t1;
	long		ok = 0;
	double		secs;
	uint64_t	state = 42;

	for (int i = 0; i < NLINES; i++)
	{
		char	   *line = lines + used;	/* packed, as in a file */
		int			t;

		state = state * 6364136223846793005ULL + 1442695040888963407ULL;
		t = (int) (state >> 60) % 4;
		memset(&ev, 0, sizeof(ev));
		ev.user_id_len = (size_t) sprintf(ev.user_id, "user%d",
										  (int) (state >> 33) % 100000);
		ev.name_len = strlen(types[t].name);
		memcpy(ev.name, types[t].name, ev.name_len + 1);
		ev.has_value = true;
		ev.value = (ev_int128) ((state >> 20) % 100000) * 10000000;
		if (state & 1)
			ev.event_id_len = (size_t) sprintf(ev.event_id,
											   "%08x-e29b-41d4-a716-446655440000",
											   (unsigned) (state >> 8));
		if (ev_set_type(&ev, types[t].metric, strlen(types[t].metric),
						types[t].effect) != NULL)
			return 1;
		lens[i] = journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									  "127.0.0.1", line, EV_LINE_MAX) - 1;
		if (untyped)
		{
			char	   *m = strstr(line, ",\"metric\"");
			char	   *e = strstr(m, "\",\"eventId\"");

			e = e != NULL ? e + 1 : strstr(m, ",\"receivedAt\"");
			memmove(m, e, strlen(e) + 1);
			lens[i] = strlen(line) - 1;
		}
		starts[i] = used;
		used += lens[i] + 1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < total; i++)
		if (journal_line_parse(parser, lines + starts[i % NLINES],
							   lens[i % NLINES], &ev, err, sizeof(err)) &&
			ev.typed != untyped)
			ok++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%s lines: %ld parsed (%ld as expected) in %.3f s: %.2f M lines/s\n",
		   untyped ? "untyped" : "typed", total, ok, secs, total / secs / 1e6);
	ev_parser_free(parser);
	free(lines);
	free(starts);
	free(lens);
	return ok == total ? 0 : 1;
}
