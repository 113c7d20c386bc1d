/*-------------------------------------------------------------------------
 *
 * generate.h
 *	  Test events of "evproc-client generate".
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_GENERATE_H
#define EVPROC_CLIENT_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../src/core/evlimits.h"

/* the longest event type name, in bytes (until evlimits.h defines it) */
#ifndef EV_NAME_MAX
#define EV_NAME_MAX			63
#endif

/* room for one generated line, newline and NUL included */
#define GEN_LINE_BUFSZ	(96 + EV_NAME_MAX)

/*
 * The event names "generate" draws from, each equally likely (a name
 * listed twice is drawn twice as often).  names point into storage.
 */
typedef struct GenTypes
{
	int			n;
	const char **names;
	char	   *storage;
} GenTypes;

extern bool gen_type_name_valid(const char *name, size_t len,
								const char **why);
extern bool gen_types_parse(const char *list, GenTypes *types, char *err,
							size_t errlen);
extern void gen_types_free(GenTypes *types);
extern size_t gen_event(uint64_t *state, int64_t users,
						const GenTypes *types, char *buf, size_t buflen);
extern int	gen_write(FILE *out, int64_t n, int64_t users, uint64_t seed,
					  const GenTypes *types);

#endif							/* EVPROC_CLIENT_GENERATE_H */
