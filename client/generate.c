/*-------------------------------------------------------------------------
 *
 * generate.c
 *	  Test events of "evproc-client generate": one JSON event per line,
 *	  userIds user1..userU, about three adds for each subtract, integer
 *	  values 0..99, no eventIds ("send" adds them).  The sequence depends
 *	  only on the seed (splitmix64), so a run can be reproduced.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>

#include "../src/evlimits.h"
#include "generate.h"
#include "prng.h"

/*
 * gen_event writes the next event of the sequence in *state, with its
 * newline, into buf; returns its length (0 if buf is too small).
 */
size_t
gen_event(uint64_t *state, int64_t users, char *buf, size_t buflen)
{
	uint64_t	user = 1 + splitmix64(state) % (uint64_t) (users > 0 ? users : 1);
	uint64_t	kind = splitmix64(state) % 4;
	uint64_t	value = splitmix64(state) % 100;
	int			n;

	n = snprintf(buf, buflen,
				 "{\"userId\": \"user%" PRIu64 "\", \"name\": \"%s\", \"value\": %" PRIu64 "}\n",
				 user, kind == 0 ? EV_NAME_SUBTRACT_REVENUE : EV_NAME_ADD_REVENUE,
				 value);
	if (n < 0 || (size_t) n >= buflen)
		return 0;
	return (size_t) n;
}

/* gen_write writes n events to out; returns 0, or -1 on a write error */
int
gen_write(FILE *out, int64_t n, int64_t users, uint64_t seed)
{
	uint64_t	state = seed;
	char		line[GEN_LINE_BUFSZ];

	for (int64_t i = 0; i < n; i++)
	{
		size_t		len = gen_event(&state, users, line, sizeof(line));

		if (len == 0 || fwrite(line, 1, len, out) != len)
			return -1;
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
