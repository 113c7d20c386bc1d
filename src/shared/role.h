/*-------------------------------------------------------------------------
 *
 * role.h
 *	  The server's role as the worker sees it: primary or hot standby.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_ROLE_H
#define EVPROC_ROLE_H

#include "postgres.h"

/* how long after "POST on a standby" (503) a client should try again */
#define ROLE_RETRY_AFTER_S	5

/* the worker's loop (or a backend): read the role again */
extern bool role_refresh(void);
extern void role_writes_taken(void);
extern bool role_server_standby(void);
extern long role_timeout_ms(void);

/* anywhere, inside libmicrohttpd's callbacks too (reads a copy) */
extern bool role_standby(void);
extern const char *role_name(void);

#endif							/* EVPROC_ROLE_H */
