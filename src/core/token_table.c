/*-------------------------------------------------------------------------
 *
 * token_table.c
 *	  The in-memory table of tokens (see token_table.h): built from the
 *	  rows of evproc.tokens by tokens.c, looked up by auth.c for every
 *	  request that needs a token.
 *
 * A request's token is hashed (SHA-256, GnuTLS's allocation-free
 * one-shot digest) and the hash looked up in an open-addressing index
 * keyed on its first bytes; the 32 bytes are then compared in constant
 * time.  What the index's probing reveals depends on the hash of what the
 * client sent, never on a stored token.  Only hashes are kept: the
 * tokens themselves exist in the client and, once, in the result of
 * evproc_create_token().
 *
 * Backend-free: malloc, no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "core/token_table.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#ifdef POSTGRES_H
#error "token_table.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* slot_of: the first slot to probe for hash */
static uint32_t
slot_of(const uint8_t *hash, uint32_t mask)
{
	return ((uint32_t) hash[0] | (uint32_t) hash[1] << 8 |
			(uint32_t) hash[2] << 16 | (uint32_t) hash[3] << 24) & mask;
}

/*
 * token_table_new makes a table of copies of the n entries (malloc'd),
 * with nothing waiting to be written.  NULL if out of memory.
 */
TokenTable *
token_table_new(const TokenEntry *entries, int n)
{
	TokenTable *t = calloc(1, sizeof(TokenTable));
	uint32_t	nslots = 8;

	if (t == NULL)
		return NULL;
	while (nslots < 2 * (uint32_t) n)
		nslots *= 2;
	t->entries = malloc(sizeof(TokenEntry) * (n > 0 ? n : 1));
	t->slots = calloc(nslots, sizeof(int32_t));
	if (t->entries == NULL || t->slots == NULL)
	{
		token_table_free(t);
		return NULL;
	}
	if (n > 0)
		memcpy(t->entries, entries, sizeof(TokenEntry) * n);
	t->n = n;
	t->open = n == 0;
	t->mask = nslots - 1;
	t->write_due_us = INT64_MAX;
	for (int i = 0; i < n; i++)
	{
		uint32_t	s = slot_of(t->entries[i].hash, t->mask);

		while (t->slots[s] != 0)
			s = (s + 1) & t->mask;
		t->slots[s] = i + 1;
	}
	return t;
}

void
token_table_free(TokenTable *table)
{
	if (table == NULL)
		return;
	free(table->entries);
	free(table->slots);
	free(table);
}

/*
 * token_hash_equal compares two hashes in a time that does not depend on
 * where they differ.
 */
bool
token_hash_equal(const uint8_t *a, const uint8_t *b)
{
	volatile uint8_t diff = 0;

	for (int i = 0; i < TOKEN_HASH_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

/* token_table_find: the entry whose hash is hash, or NULL. */
TokenEntry *
token_table_find(const TokenTable *table, const uint8_t hash[TOKEN_HASH_LEN])
{
	uint32_t	s;

	if (table == NULL)
		return NULL;
	/* the table is at most half full: an empty slot ends every probe */
	for (s = slot_of(hash, table->mask); table->slots[s] != 0;
		 s = (s + 1) & table->mask)
	{
		TokenEntry *e = &table->entries[table->slots[s] - 1];

		if (token_hash_equal(e->hash, hash))
			return e;
	}
	return NULL;
}

/*
 * token_table_check decides what the token of hash gets for a request
 * that needs scope (TOKEN_SCOPE_*) at now_us (Unix time in microseconds):
 * unknown, revoked, expired (at or after its expiry), lacking the scope,
 * or OK.  *index is the entry's index if the token is known, else -1.  An
 * accepted use is noted, to be written to last_used (see tokens.c): at
 * most once per TOKEN_USED_INTERVAL_US per token.
 */
TokenVerdict
token_table_check(TokenTable *table, const uint8_t hash[TOKEN_HASH_LEN],
				  int scope, int64_t now_us, int *index)
{
	TokenEntry *e = token_table_find(table, hash);
	int64_t		due;

	*index = -1;
	if (e == NULL)
		return TOKEN_UNKNOWN;
	*index = (int) (e - table->entries);
	if (e->revoked)
		return TOKEN_REVOKED;
	if (e->expires_us != 0 && now_us >= e->expires_us)
		return TOKEN_EXPIRED;
	if ((e->scopes & scope) != scope)
		return TOKEN_NO_SCOPE;
	e->used_us = now_us;
	due = e->written_us == 0 ? now_us : e->written_us + TOKEN_USED_INTERVAL_US;
	if (due < now_us)
		due = now_us;
	if (due < table->write_due_us)
		table->write_due_us = due;
	return TOKEN_OK;
}

/* token_sha256 puts the SHA-256 of data[0..len) in out. */
void
token_sha256(const void *data, size_t len, uint8_t out[TOKEN_HASH_LEN])
{
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, out) != 0)
	{
		/* cannot happen (SHA-256 is always there): match nothing */
		memset(out, 0, TOKEN_HASH_LEN);
	}
}

/*
 * token_b64url writes src[0..n) in base64url without padding (RFC 4648,
 * section 5) to dst, which has room for 4 * ((n + 2) / 3) + 1 bytes, and
 * returns its length.
 */
size_t
token_b64url(const uint8_t *src, size_t n, char *dst)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t		len = 0;

	for (size_t i = 0; i < n; i += 3)
	{
		uint32_t	v = (uint32_t) src[i] << 16;
		size_t		left = n - i;

		if (left > 1)
			v |= (uint32_t) src[i + 1] << 8;
		if (left > 2)
			v |= src[i + 2];
		dst[len++] = alphabet[(v >> 18) & 63];
		dst[len++] = alphabet[(v >> 12) & 63];
		if (left > 1)
			dst[len++] = alphabet[(v >> 6) & 63];
		if (left > 2)
			dst[len++] = alphabet[v & 63];
	}
	dst[len] = '\0';
	return len;
}

/* token_now_us: the wall clock, Unix time in microseconds. */
int64_t
token_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
