/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Who may send requests: the token in force (evproc.auth_token or
 *	  evproc.auth_token_file) and the check of a request's Authorization
 *	  header against it.
 *
 * auth_check runs inside libmicrohttpd's callbacks: no PostgreSQL calls.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "auth.h"
#include "settings.h"

static char auth_token[1024];	/* the token in force; "" for none */
static bool auth_refuse_all = false;	/* no usable token: refuse all */

/*
 * auth_check checks an Authorization header (NULL if none) against the
 * token in force, accepting "<token>" and "Bearer <token>".  The
 * comparison takes the same time wherever the first difference is.
 */
bool
auth_check(const char *given)
{
	const char *token = auth_token;
	size_t		tlen;
	size_t		glen;
	unsigned char diff;

	if (auth_refuse_all)
		return false;
	if (token[0] == '\0')
		return true;
	if (given == NULL)
		return false;
	if (strncasecmp(given, "Bearer ", 7) == 0)
		given += 7;
	tlen = strlen(token);
	glen = strlen(given);
	diff = (unsigned char) (tlen != glen);
	for (size_t i = 0; i < glen; i++)
		diff |= (unsigned char) given[i] ^ (unsigned char) token[i % tlen];
	return diff == 0;
}

/*
 * auth_load sets the token in force: the first line of
 * evproc.auth_token_file if that is set, else evproc.auth_token.  If the
 * file cannot be read, every request is refused (401) rather than let in,
 * and the problem is logged (never the token).  Called at start and on
 * SIGHUP.
 */
void
auth_load(void)
{
	const char *path = evproc_auth_token_file;
	const char *token = evproc_auth_token;

	explicit_bzero(auth_token, sizeof(auth_token));
	auth_refuse_all = false;
	if (path != NULL && path[0] != '\0')
	{
		FILE	   *f = fopen(path, "r");
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
					(errmsg("evproc: could not read a token from evproc.auth_token_file \"%s\"; refusing all requests",
							path)));
			/* not a sentinel token: libmicrohttpd passes any byte through */
			auth_refuse_all = true;
		}
	}
	else if (token != NULL && strlen(token) >= sizeof(auth_token))
	{
		ereport(LOG,
				(errmsg("evproc: evproc.auth_token is longer than %zu bytes; refusing all requests",
						sizeof(auth_token) - 1)));
		auth_refuse_all = true;
	}
	else if (token != NULL)
		strcpy(auth_token, token);
}
