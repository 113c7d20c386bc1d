/*-------------------------------------------------------------------------
 *
 * generate.h
 *	  Test events of "evproc-client generate".
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_GENERATE_H
#define EVPROC_CLIENT_GENERATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* room for one generated line, newline and NUL included */
#define GEN_LINE_BUFSZ	128

extern size_t gen_event(uint64_t *state, int64_t users, char *buf,
						size_t buflen);
extern int	gen_write(FILE *out, int64_t n, int64_t users, uint64_t seed);

#endif							/* EVPROC_CLIENT_GENERATE_H */
