/*-------------------------------------------------------------------------
 *
 * test_tokens.c
 *	  Unit tests of token_table.c: SHA-256 against known vectors,
 *	  base64url, the constant-time comparison, and the table's lookups,
 *	  verdicts (unknown, revoked, expired, scopes) and last_used marks.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "core/token_table.h"
#include "unit.h"

static void
hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* FIPS 180-2 and NIST vectors */
static void
test_sha256(void)
{
	uint8_t		h[TOKEN_HASH_LEN];
	char		x[2 * TOKEN_HASH_LEN + 1];
	static const char *const million_a =
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	char	   *a;

	token_sha256("", 0, h);
	hex(h, sizeof(h), x);
	CHECK_STR_EQ(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	token_sha256("abc", 3, h);
	hex(h, sizeof(h), x);
	CHECK_STR_EQ(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	token_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, h);
	hex(h, sizeof(h), x);
	CHECK_STR_EQ(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	a = malloc(1000000);
	memset(a, 'a', 1000000);
	token_sha256(a, 1000000, h);
	hex(h, sizeof(h), x);
	CHECK_STR_EQ(x, million_a);
	free(a);
}

/* RFC 4648's vectors, and the two characters that differ from base64 */
static void
test_b64url(void)
{
	char		out[64];
	static const uint8_t tricky[] = {0xfb, 0xff, 0xbf};

	CHECK_INT_EQ(token_b64url((const uint8_t *) "", 0, out), 0);
	CHECK_STR_EQ(out, "");
	token_b64url((const uint8_t *) "f", 1, out);
	CHECK_STR_EQ(out, "Zg");
	token_b64url((const uint8_t *) "fo", 2, out);
	CHECK_STR_EQ(out, "Zm8");
	token_b64url((const uint8_t *) "foo", 3, out);
	CHECK_STR_EQ(out, "Zm9v");
	token_b64url((const uint8_t *) "foob", 4, out);
	CHECK_STR_EQ(out, "Zm9vYg");
	token_b64url((const uint8_t *) "fooba", 5, out);
	CHECK_STR_EQ(out, "Zm9vYmE");
	CHECK_INT_EQ(token_b64url((const uint8_t *) "foobar", 6, out), 8);
	CHECK_STR_EQ(out, "Zm9vYmFy");
	token_b64url(tricky, 3, out);
	CHECK_STR_EQ(out, "-_-_");
	/* 32 bytes: 43 characters, as evproc.new_token() makes */
	{
		uint8_t		b[32] = {0};

		CHECK_INT_EQ(token_b64url(b, 32, out), 43);
	}
}

static void
test_equal(void)
{
	uint8_t		a[TOKEN_HASH_LEN];
	uint8_t		b[TOKEN_HASH_LEN];

	token_sha256("x", 1, a);
	memcpy(b, a, sizeof(a));
	CHECK(token_hash_equal(a, b));
	for (int i = 0; i < TOKEN_HASH_LEN; i++)
	{
		b[i] ^= 0x80;
		CHECK_MSG(!token_hash_equal(a, b), "a difference at byte %d", i);
		b[i] ^= 0x80;
	}
}

static TokenEntry
entry(const char *token, const char *name, int scopes)
{
	TokenEntry	e;

	memset(&e, 0, sizeof(e));
	token_sha256(token, strlen(token), e.hash);
	snprintf(e.name, sizeof(e.name), "%s", name);
	e.scopes = scopes;
	return e;
}

static TokenVerdict
check(TokenTable *t, const char *token, int scope, int64_t now, int *index)
{
	uint8_t		h[TOKEN_HASH_LEN];

	token_sha256(token, strlen(token), h);
	return token_table_check(t, h, scope, now, index);
}

static void
test_table(void)
{
	TokenEntry	rows[1000];
	TokenTable *t;
	char		tok[32];
	int			index;
	int			found = 0;
	const int64_t now = INT64_C(1700000000000000);

	for (int i = 0; i < 1000; i++)
	{
		snprintf(tok, sizeof(tok), "token-%d", i);
		rows[i] = entry(tok, tok, TOKEN_SCOPE_READ | TOKEN_SCOPE_WRITE);
	}
	rows[1] = entry("token-1", "reader", TOKEN_SCOPE_READ);
	rows[2] = entry("token-2", "writer", TOKEN_SCOPE_WRITE);
	rows[3].revoked = true;
	rows[4].expires_us = now;
	rows[5].expires_us = now + 1;
	rows[6].rate_limit = 25;
	t = token_table_new(rows, 1000);
	CHECK(t != NULL);
	CHECK_INT_EQ(t->write_due_us, INT64_MAX);
	/* every token is found, as itself */
	for (int i = 0; i < 1000; i++)
	{
		TokenEntry *e = token_table_find(t, rows[i].hash);

		if (e != NULL && strcmp(e->name, rows[i].name) == 0)
			found++;
	}
	CHECK_INT_EQ(found, 1000);
	CHECK(check(t, "token-1000", TOKEN_SCOPE_READ, now, &index) == TOKEN_UNKNOWN);
	CHECK_INT_EQ(index, -1);
	CHECK(check(t, "", TOKEN_SCOPE_READ, now, &index) == TOKEN_UNKNOWN);
	CHECK(check(t, "token-0", TOKEN_SCOPE_READ, now, &index) == TOKEN_OK);
	CHECK_STR_EQ(t->entries[index].name, "token-0");
	CHECK(check(t, "token-0", TOKEN_SCOPE_WRITE, now, &index) == TOKEN_OK);
	/* scopes */
	CHECK(check(t, "token-1", TOKEN_SCOPE_READ, now, &index) == TOKEN_OK);
	CHECK_STR_EQ(t->entries[index].name, "reader");
	CHECK(check(t, "token-1", TOKEN_SCOPE_WRITE, now, &index) == TOKEN_NO_SCOPE);
	CHECK(check(t, "token-2", TOKEN_SCOPE_WRITE, now, &index) == TOKEN_OK);
	CHECK(check(t, "token-2", TOKEN_SCOPE_READ, now, &index) == TOKEN_NO_SCOPE);
	CHECK_STR_EQ(t->entries[index].name, "writer");
	/* revoked; expired at its expiry, not before */
	CHECK(check(t, "token-3", TOKEN_SCOPE_READ, now, &index) == TOKEN_REVOKED);
	CHECK(check(t, "token-4", TOKEN_SCOPE_READ, now, &index) == TOKEN_EXPIRED);
	CHECK(check(t, "token-5", TOKEN_SCOPE_READ, now, &index) == TOKEN_OK);
	CHECK(check(t, "token-5", TOKEN_SCOPE_READ, now + 1, &index) == TOKEN_EXPIRED);
	CHECK(check(t, "token-6", TOKEN_SCOPE_WRITE, now, &index) == TOKEN_OK);
	CHECK_INT_EQ(t->entries[index].rate_limit, 25);
	/* a prefix or an extension of a token is not the token */
	CHECK(check(t, "token-", TOKEN_SCOPE_READ, now, &index) == TOKEN_UNKNOWN);
	CHECK(check(t, "token-00", TOKEN_SCOPE_READ, now, &index) == TOKEN_UNKNOWN);
	token_table_free(t);
}

/* uses are noted; a write is due at once, then a minute after the last */
static void
test_used(void)
{
	TokenEntry	rows[2];
	TokenTable *t;
	int			index;
	const int64_t now = INT64_C(1700000000000000);

	rows[0] = entry("a", "a", TOKEN_SCOPE_READ);
	rows[1] = entry("b", "b", TOKEN_SCOPE_READ);
	rows[1].written_us = now - 10 * INT64_C(1000000);
	t = token_table_new(rows, 2);
	/* refused uses are not noted */
	CHECK(check(t, "a", TOKEN_SCOPE_WRITE, now, &index) == TOKEN_NO_SCOPE);
	CHECK_INT_EQ(t->write_due_us, INT64_MAX);
	CHECK_INT_EQ(t->entries[index].used_us, 0);
	/* b was written 10 s ago: due 50 s from now */
	CHECK(check(t, "b", TOKEN_SCOPE_READ, now, &index) == TOKEN_OK);
	CHECK_INT_EQ(t->entries[index].used_us, now);
	CHECK_INT_EQ(t->write_due_us, now + 50 * INT64_C(1000000));
	/* a never written: due now */
	CHECK(check(t, "a", TOKEN_SCOPE_READ, now + 5, &index) == TOKEN_OK);
	CHECK_INT_EQ(t->entries[index].used_us, now + 5);
	CHECK_INT_EQ(t->write_due_us, now + 5);
	token_table_free(t);

	/* an empty table and no table find nothing */
	t = token_table_new(NULL, 0);
	CHECK(t != NULL);
	CHECK(check(t, "a", TOKEN_SCOPE_READ, now, &index) == TOKEN_UNKNOWN);
	token_table_free(t);
	CHECK(check(NULL, "a", TOKEN_SCOPE_READ, now, &index) == TOKEN_UNKNOWN);
}

int
main(void)
{
	test_sha256();
	test_b64url();
	test_equal();
	test_table();
	test_used();
	return unit_summary();
}
