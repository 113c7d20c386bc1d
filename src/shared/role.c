/*-------------------------------------------------------------------------
 *
 * role.c
 *	  What this server is, primary or hot standby: the one place that asks
 *	  PostgreSQL (RecoveryInProgress), so that every module decides by the
 *	  same answer, taken once per pass of the worker's loop.
 *
 * On a standby the worker serves reads only: nothing is journaled,
 * ingested, pruned or written to a table (worker.c leaves those steps out,
 * tokens.c keeps the uses of tokens in memory, http.c answers POSTs 503).
 * The loop reads the role again at least every ROLE_POLL_MS while it is a
 * standby, since nothing wakes a background worker at promotion.  Once
 * the server is promoted, role_refresh returns true at every pass until
 * the worker has taken up the primary's duties (worker.c), which it says
 * with role_writes_taken; until then the worker still serves as a standby
 * (POSTs 503), so that a step of the take-over that fails is tried again
 * at the next pass instead of writes starting without it.  A server never
 * turns from primary into standby without a restart, which restarts the
 * worker too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "shared/role.h"

#include "access/xlog.h"

/* a standby reads its role this often, to see a promotion */
#define ROLE_POLL_MS	500

static bool standby = false;	/* serving as a standby: reads only */

/*
 * role_refresh reads the server's role.  Returns true while the server has
 * been promoted and the worker, which served as its standby, has not yet
 * taken up writes (role_writes_taken); false otherwise, the first call
 * included.
 */
bool
role_refresh(void)
{
	if (RecoveryInProgress())
		standby = true;
	return standby && !RecoveryInProgress();
}

/*
 * role_server_standby: is the server a standby right now?  For backends
 * (SQL functions), which do not follow the worker's take-over.
 */
bool
role_server_standby(void)
{
	return RecoveryInProgress();
}

/* role_writes_taken: the worker took up the primary's duties */
void
role_writes_taken(void)
{
	standby = false;
}

/* role_timeout_ms: how long the loop may sleep before reading it again */
long
role_timeout_ms(void)
{
	return standby ? ROLE_POLL_MS : -1;
}

/* role_standby: is the server a hot standby (read-only)? */
bool
role_standby(void)
{
	return standby;
}

/* role_name: "primary" or "standby", as /ready and the errors say it */
const char *
role_name(void)
{
	return standby ? "standby" : "primary";
}
