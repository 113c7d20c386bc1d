/*-------------------------------------------------------------------------
 *
 * gen_events.c
 *	  Writes N journal lines (as the worker writes them) over U users to
 *	  stdout, for the ingest benchmark.  Deterministic; every user gets
 *	  N/U events of value 1 (add) so the expected totals are known.
 *
 *	  gen_events N U
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

int
main(int argc, char **argv)
{
	long		n;
	long		users;
	static char buf[1 << 20];

	if (argc != 3)
	{
		fprintf(stderr, "usage: gen_events N USERS\n");
		return 2;
	}
	n = atol(argv[1]);
	users = atol(argv[2]);
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	for (long i = 0; i < n; i++)
		printf("{\"userId\":\"user%ld\",\"name\":\"add_revenue\",\"value\":1,"
			   "\"receivedAt\":\"2026-11-22T05:00:00.000000Z\",\"clientAddr\":\"127.0.0.1\"}\n",
			   i % users);
	return fflush(stdout) == 0 ? 0 : 1;
}
