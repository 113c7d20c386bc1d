/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Who may send requests: the token of evproc.auth_token or
 *	  evproc.auth_token_file, the worker's table of the tokens of
 *	  evproc.tokens (token_table.c, loaded by tokens.c), and the check of
 *	  a request's Authorization header against them.
 *
 * Only hashes are compared: the header's token is hashed (SHA-256) and
 * compared in constant time with the setting's token's hash and with the
 * table's.  The setting's token has every scope.  While there is no token
 * at all (the setting empty and evproc.tokens without a row, revoked and
 * expired ones included), the server is open; with evproc.public_reads,
 * lookups are.
 *
 * auth_check runs inside libmicrohttpd's callbacks: no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "journal/safe_open.h"
#include "shared/auth.h"
#include "shared/settings.h"

#include <fcntl.h>

#include <microhttpd.h>

static char auth_token[1024];	/* the setting's token, while loading */
static uint8_t setting_hash[TOKEN_HASH_LEN];	/* its hash */
static bool setting_set = false;	/* there is a setting's token */
static bool auth_refuse_all = false;	/* a setting without a usable token */
static TokenTable *tokens = NULL;	/* NULL until evproc.tokens is read */
static uint64 credentials = 0;	/* see auth_credentials */
static int64 next_expiry_us = 0;	/* when a token expires next; 0: none */
static bool public_reads_seen = false;	/* evproc.public_reads, as loaded */
static bool loaded_once = false;	/* auth_load has run */

/*
 * same_tokens: do a and b let in the same tokens for the same things (in
 * any order: a reload reads the rows in any order)?
 */
static bool
same_tokens(const TokenTable *a, const TokenTable *b)
{
	if (a == NULL || b == NULL || a->n != b->n || a->open != b->open)
		return a == b;
	for (int i = 0; i < b->n; i++)
	{
		const TokenEntry *y = &b->entries[i];
		const TokenEntry *x = token_table_find(a, y->hash);

		if (x == NULL || x->scopes != y->scopes ||
			x->expires_us != y->expires_us || x->revoked != y->revoked)
			return false;
	}
	return true;
}

/* earliest_expiry: when the next token of the table expires; 0: none */
static int64
earliest_expiry(int64 now)
{
	int64		next = 0;

	for (int i = 0; tokens != NULL && i < tokens->n; i++)
	{
		int64		e = tokens->entries[i].expires_us;

		if (e > now && !tokens->entries[i].revoked && (next == 0 || e < next))
			next = e;
	}
	return next;
}

/*
 * auth_set_tokens makes table the tokens of evproc.tokens in force (an
 * empty one if the table is not there).  The caller owns it, and frees the
 * one before after this call.
 */
void
auth_set_tokens(TokenTable *table)
{
	if (!same_tokens(tokens, table))
		credentials++;
	tokens = table;
	next_expiry_us = earliest_expiry(token_now_us());
}

/* auth_timeout_ms: how long the loop may sleep before a token expires */
long
auth_timeout_ms(void)
{
	int64		now = token_now_us();

	if (next_expiry_us == 0)
		return -1;
	return next_expiry_us <= now ? 0 : (long) ((next_expiry_us - now) / 1000 + 1);
}

/*
 * auth_credentials: a count that moves whenever who may do what changes:
 * a token created, revoked, changed or expired, the setting's token or
 * evproc.public_reads changed.  The worker closes the open streams when it
 * does, so that their clients are checked again (stream_close_all).
 */
uint64
auth_credentials(void)
{
	int64		now;

	if (next_expiry_us != 0 && (now = token_now_us()) >= next_expiry_us)
	{
		credentials++;
		next_expiry_us = earliest_expiry(now);
	}
	return credentials;
}

/* grant sets the grant's outcome for the entry index of the table */
static void
set_result(AuthGrant *grant, AuthResult result, AuthBy by, int index)
{
	grant->result = result;
	grant->by = by;
	grant->rate_limit = 0;
	grant->name[0] = '\0';
	if (index >= 0)
	{
		const TokenEntry *e = &tokens->entries[index];

		grant->rate_limit = e->rate_limit;
		memcpy(grant->name, e->name, sizeof(grant->name));
	}
}

/*
 * auth_check decides whether a request that needs need may go on, given
 * its Authorization header (NULL if none), "<token>" or "Bearer <token>",
 * and says who it is in *grant.
 */
void
auth_check(const char *given, AuthNeed need, AuthGrant *grant)
{
	bool		public_read = need == AUTH_LOOKUP && evproc_public_reads;
	int			scope = need == AUTH_WRITE ? TOKEN_SCOPE_WRITE : TOKEN_SCOPE_READ;
	uint8_t		hash[TOKEN_HASH_LEN];
	int			index = -1;
	AuthResult	result;

	if (need == AUTH_PUBLIC ||
		(!setting_set && !auth_refuse_all && tokens != NULL && tokens->open))
	{
		set_result(grant, AUTH_OK, AUTH_BY_NONE, -1);
		return;
	}
	if (given != NULL && strncasecmp(given, "Bearer ", 7) == 0)
		given += 7;
	if (given == NULL || given[0] == '\0')
	{
		set_result(grant, public_read ? AUTH_OK : AUTH_MISSING,
				   AUTH_BY_NONE, -1);
		return;
	}
	token_sha256(given, strlen(given), hash);
	if (setting_set && token_hash_equal(hash, setting_hash))
	{
		set_result(grant, AUTH_OK, AUTH_BY_SETTING, -1);
		return;
	}
	switch (token_table_check(tokens, hash, scope, token_now_us(), &index))
	{
		case TOKEN_OK:
			result = AUTH_OK;
			break;
		case TOKEN_EXPIRED:
			result = AUTH_EXPIRED;
			break;
		case TOKEN_REVOKED:
			result = AUTH_REVOKED;
			break;
		case TOKEN_NO_SCOPE:
			result = AUTH_NO_SCOPE;
			break;
		default:
			/* unknown; or, before the table is read, undecided */
			result = tokens == NULL ? AUTH_UNAVAILABLE : AUTH_UNKNOWN;
			break;
	}
	if (result != AUTH_OK && public_read)
		set_result(grant, AUTH_OK, AUTH_BY_NONE, -1);
	else
		set_result(grant, result, index >= 0 ? AUTH_BY_TABLE : AUTH_BY_NONE,
				   index);
}

/* auth_status: the HTTP status of a refusal */
unsigned int
auth_status(AuthResult result)
{
	switch (result)
	{
		case AUTH_OK:
			return MHD_HTTP_OK;
		case AUTH_NO_SCOPE:
			return MHD_HTTP_FORBIDDEN;
		case AUTH_UNAVAILABLE:
			return MHD_HTTP_SERVICE_UNAVAILABLE;
		default:
			return MHD_HTTP_UNAUTHORIZED;
	}
}

/* auth_message: what a refusal's JSON error says */
const char *
auth_message(AuthResult result, AuthNeed need)
{
	switch (result)
	{
		case AUTH_EXPIRED:
			return "the token has expired";
		case AUTH_REVOKED:
			return "the token has been revoked";
		case AUTH_NO_SCOPE:
			return need == AUTH_WRITE ?
				"the token does not have the write scope this request needs" :
				"the token does not have the read scope this request needs";
		case AUTH_UNAVAILABLE:
			return "the tokens are not loaded yet; retry shortly";
		default:
			return "missing or invalid Authorization token";
	}
}

/*
 * auth_load sets the setting's token: the first line of
 * evproc.auth_token_file if that is set, else evproc.auth_token; only its
 * hash is kept.  If the file cannot be read, no setting's token matches
 * and the server is not open (only the tokens of evproc.tokens let
 * requests in), and the problem is logged (never the token).  A path that
 * is not a regular file (a FIFO would block the worker in open) is not
 * read at all: the token in force stays (at start, there is none: all is
 * refused).  Called at start and on SIGHUP.
 */
void
auth_load(void)
{
	const char *path = evproc_auth_token_file;
	const char *token = evproc_auth_token;
	bool		was_set = setting_set;
	bool		was_refusing = auth_refuse_all;
	uint8_t		was_hash[TOKEN_HASH_LEN];
	bool		first = !loaded_once;
	FILE	   *f = NULL;

	loaded_once = true;
	if (path != NULL && path[0] != '\0')
	{
		mode_t		found;
		int			fd = safe_open_at(AT_FDCWD, path, O_RDONLY, 0, &found);

		if (fd == SAFE_OPEN_NOT_REGULAR)
		{
			ereport(LOG,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("evproc: evproc.auth_token_file \"%s\" is %s, not a regular file; %s",
							path, safe_open_kind(found),
							first ? "refusing all requests but those with a token of evproc.tokens" :
							"the token in force stays")));
			if (first)
			{
				auth_refuse_all = true;
				setting_set = false;
			}
			if (first || public_reads_seen != evproc_public_reads)
				credentials++;
			public_reads_seen = evproc_public_reads;
			return;
		}
		if (fd >= 0 && (f = fdopen(fd, "r")) == NULL)
			close(fd);
	}
	memcpy(was_hash, setting_hash, TOKEN_HASH_LEN);
	explicit_bzero(auth_token, sizeof(auth_token));
	auth_refuse_all = false;
	if (path != NULL && path[0] != '\0')
	{
		size_t		len = 0;

		if (f != NULL && fgets(auth_token, sizeof(auth_token), f) != NULL)
		{
			len = strcspn(auth_token, "\r\n");
			/* a first line too long for the buffer is no token either */
			if (auth_token[len] == '\0' && fgetc(f) != EOF)
				len = 0;
			auth_token[len] = '\0';
		}
		if (f != NULL)
			fclose(f);
		if (len == 0)
		{
			ereport(LOG,
					(errmsg("evproc: could not read a token from evproc.auth_token_file \"%s\"; refusing all requests but those with a token of evproc.tokens",
							path)));
			/* not a sentinel token: libmicrohttpd passes any byte through */
			auth_refuse_all = true;
		}
	}
	else if (token != NULL && strlen(token) >= sizeof(auth_token))
	{
		ereport(LOG,
				(errmsg("evproc: evproc.auth_token is longer than %zu bytes; refusing all requests but those with a token of evproc.tokens",
						sizeof(auth_token) - 1)));
		auth_refuse_all = true;
	}
	else if (token != NULL)
		strcpy(auth_token, token);
	setting_set = !auth_refuse_all && auth_token[0] != '\0';
	token_sha256(auth_token, strlen(auth_token), setting_hash);
	explicit_bzero(auth_token, sizeof(auth_token));
	if (was_set != setting_set || was_refusing != auth_refuse_all ||
		public_reads_seen != evproc_public_reads ||
		memcmp(was_hash, setting_hash, TOKEN_HASH_LEN) != 0)
		credentials++;
	public_reads_seen = evproc_public_reads;
}
