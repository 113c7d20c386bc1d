/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  Who may send requests: the check of a request's token against
 *	  evproc.auth_token(_file) and the tokens of evproc.tokens, and what
 *	  the check tells about the token (for the rate limits).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_AUTH_H
#define EVPROC_AUTH_H

#include "postgres.h"

#include "core/token_table.h"

/* What a route needs. */
typedef enum AuthNeed
{
	AUTH_PUBLIC,				/* nothing: /health, /ready, /dashboard */
	AUTH_LOOKUP,				/* read scope, none if evproc.public_reads */
	AUTH_READ,					/* read scope */
	AUTH_WRITE					/* write scope */
} AuthNeed;

/* The outcome of a check. */
typedef enum AuthResult
{
	AUTH_OK,
	AUTH_MISSING,				/* 401: no token given */
	AUTH_UNKNOWN,				/* 401: not a token */
	AUTH_EXPIRED,				/* 401 */
	AUTH_REVOKED,				/* 401 */
	AUTH_NO_SCOPE,				/* 403: a token without the scope needed */
	AUTH_UNAVAILABLE			/* 503: evproc.tokens not read yet */
} AuthResult;

/* Who was let in. */
typedef enum AuthBy
{
	AUTH_BY_NONE,				/* anyone: an open server, a public route */
	AUTH_BY_SETTING,			/* evproc.auth_token or auth_token_file */
	AUTH_BY_TABLE				/* a token of evproc.tokens */
} AuthBy;

/*
 * What auth_check says of a request (http.c keeps it in HttpRequest.auth;
 * a request of a public route keeps it zeroed: AUTH_OK, AUTH_BY_NONE).
 * For a token of evproc.tokens (by == AUTH_BY_TABLE; also with
 * AUTH_EXPIRED, AUTH_REVOKED and AUTH_NO_SCOPE), name is its name and
 * rate_limit its rate_limit (the rate limiter's key and limit); else name
 * is "" and rate_limit 0.
 */
typedef struct AuthGrant
{
	AuthResult	result;
	AuthBy		by;
	int32		rate_limit;		/* events per second; 0: no limit */
	char		name[TOKEN_NAME_MAX + 1];
} AuthGrant;

/* the worker: settings (start, SIGHUP), and the table (tokens.c) */
extern void auth_load(void);
extern void auth_set_tokens(TokenTable *table);
extern uint64 auth_credentials(void);
extern long auth_timeout_ms(void);

/* inside libmicrohttpd's callbacks too: no PostgreSQL calls */
extern void auth_check(const char *authorization, AuthNeed need,
					   AuthGrant *grant);
extern unsigned int auth_status(AuthResult result);
extern const char *auth_message(AuthResult result, AuthNeed need);

#endif							/* EVPROC_AUTH_H */
