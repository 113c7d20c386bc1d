/*-------------------------------------------------------------------------
 *
 * gen_events.c
 *	  Writes N journal lines (as the worker writes them) over U users to
 *	  stdout, for the ingest benchmark.  Deterministic, every value 1, so
 *	  the expected totals are known.
 *
 *	  gen_events [-t TYPE1,TYPE2,...] [-p PREFIX] N U
 *
 *	  Line i is of user PREFIX(i % U) (PREFIX: "user"), so every user gets
 *	  N/U events.  Without -t every event is an add_revenue.  With -t,
 *	  line i has the type (i % U + i / U) % T of the T names listed, so
 *	  that each user meets every type in turn and neighbouring lines
 *	  differ; the lines carry no recorded metric or effect (a file dropped
 *	  by hand: ingest applies the definitions current then), and the
 *	  number of events of each name is written to stderr, one "NAME COUNT"
 *	  line each, for checking the totals.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TYPES	64

static void
usage(void)
{
	fprintf(stderr, "usage: gen_events [-t TYPE1,TYPE2,...] [-p PREFIX] N USERS\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	long		n;
	long		users;
	const char *prefix = "user";
	char	   *types[MAX_TYPES];
	long		counts[MAX_TYPES] = {0};
	int			ntypes = 0;
	int			c;
	static char buf[1 << 20];

	while ((c = getopt(argc, argv, "t:p:")) != -1)
	{
		switch (c)
		{
			case 't':
				for (char *t = strtok(optarg, ","); t != NULL; t = strtok(NULL, ","))
				{
					if (ntypes == MAX_TYPES)
					{
						fprintf(stderr, "gen_events: at most %d types\n", MAX_TYPES);
						return 2;
					}
					types[ntypes++] = t;
				}
				if (ntypes == 0)
					usage();
				break;
			case 'p':
				prefix = optarg;
				break;
			default:
				usage();
		}
	}
	if (argc - optind != 2)
		usage();
	n = atol(argv[optind]);
	users = atol(argv[optind + 1]);
	if (n < 0 || users < 1)
		usage();
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	for (long i = 0; i < n; i++)
	{
		int			t = ntypes > 0 ? (int) ((i % users + i / users) % ntypes) : 0;

		printf("{\"userId\":\"%s%ld\",\"name\":\"%s\",\"value\":1,"
			   "\"receivedAt\":\"2026-11-22T05:00:00.000000Z\",\"clientAddr\":\"127.0.0.1\"}\n",
			   prefix, i % users, ntypes > 0 ? types[t] : "add_revenue");
		counts[t]++;
	}
	for (int t = 0; t < ntypes; t++)
		fprintf(stderr, "%s %ld\n", types[t], counts[t]);
	return fflush(stdout) == 0 ? 0 : 1;
}
