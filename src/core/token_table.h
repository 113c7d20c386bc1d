/*-------------------------------------------------------------------------
 *
 * token_table.h
 *	  The worker's in-memory table of the tokens of evproc.tokens: their
 *	  SHA-256 hashes, scopes, limits and times, looked up by hash in
 *	  constant time per entry.  Backend-free (plain C): it runs inside
 *	  libmicrohttpd's callbacks and in the unit tests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TOKEN_TABLE_H
#define EVPROC_TOKEN_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOKEN_HASH_LEN		32	/* SHA-256 */
#define TOKEN_NAME_MAX		63	/* evproc.tokens.name's CHECK */

/* scopes, as a bit set */
#define TOKEN_SCOPE_WRITE	1
#define TOKEN_SCOPE_READ	2

/* at most one write of last_used per token and worker in this time */
#define TOKEN_USED_INTERVAL_US	(60 * INT64_C(1000000))

/* One token: a row of evproc.tokens, and what this worker saw of its use. */
typedef struct TokenEntry
{
	uint8_t		hash[TOKEN_HASH_LEN];
	char		name[TOKEN_NAME_MAX + 1];
	int			scopes;			/* TOKEN_SCOPE_* bits */
	int32_t		rate_limit;		/* events per second; 0: none */
	int64_t		expires_us;		/* Unix time in microseconds; 0: never */
	bool		revoked;
	int64_t		used_us;		/* last accepted use here (Unix us); 0: none */
	int64_t		written_us;		/* last_used as read or last written */
} TokenEntry;

/* The table: the entries, and an open-addressing index on their hash. */
typedef struct TokenTable
{
	TokenEntry *entries;
	int			n;
	bool		open;			/* no row at all: no token is needed */
	int32_t    *slots;			/* entry index + 1; 0: empty */
	uint32_t	mask;			/* number of slots - 1 (a power of 2) */
	int64_t		write_due_us;	/* when a use should be written; INT64_MAX:
								 * none waiting */
} TokenTable;

/* What a token gets for a request needing a scope. */
typedef enum TokenVerdict
{
	TOKEN_OK,
	TOKEN_UNKNOWN,
	TOKEN_EXPIRED,
	TOKEN_REVOKED,
	TOKEN_NO_SCOPE
} TokenVerdict;

extern TokenTable *token_table_new(const TokenEntry *entries, int n);
extern void token_table_free(TokenTable *table);
extern TokenEntry *token_table_find(const TokenTable *table,
									const uint8_t hash[TOKEN_HASH_LEN]);
extern TokenVerdict token_table_check(TokenTable *table,
									  const uint8_t hash[TOKEN_HASH_LEN],
									  int scope, int64_t now_us,
									  int *index);
extern bool token_hash_equal(const uint8_t *a, const uint8_t *b);
extern void token_sha256(const void *data, size_t len,
						 uint8_t out[TOKEN_HASH_LEN]);
extern size_t token_b64url(const uint8_t *src, size_t n, char *dst);
extern int64_t token_now_us(void);

#endif							/* EVPROC_TOKEN_TABLE_H */
