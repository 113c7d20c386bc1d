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
 * standby, since nothing wakes a background worker at promotion: the pass
 * that first sees the server promoted gets true from role_refresh, and the
 * worker takes up the primary's duties then (worker.c).  A server never
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

static bool standby = false;	/* as of the last role_refresh */
static bool known = false;		/* role_refresh was called */

/*
 * role_refresh reads the server's role.  Returns true when it has just
 * turned from standby into primary (the server was promoted since the last
 * call); false otherwise, the first call included.
 */
bool
role_refresh(void)
{
	bool		was_standby = known && standby;

	standby = RecoveryInProgress();
	known = true;
	return was_standby && !standby;
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
