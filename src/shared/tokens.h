/*-------------------------------------------------------------------------
 *
 * tokens.h
 *	  The tokens of evproc.tokens: the worker's copy (handed to auth.c),
 *	  the signal that the table changed, the last_used marks, and the
 *	  SQL-callable parts of evproc_create_token().
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TOKENS_H
#define EVPROC_TOKENS_H

#include "postgres.h"

/* the worker, each pass */
extern void tokens_upkeep(void);
extern long tokens_timeout_ms(void);

#endif							/* EVPROC_TOKENS_H */
