/*-------------------------------------------------------------------------
 *
 * auth.h
 *	  Who may send requests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_AUTH_H
#define EVPROC_AUTH_H

extern void auth_load(void);
extern bool auth_check(const char *authorization);

#endif							/* EVPROC_AUTH_H */
