/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The HTTP server, as the worker's loop drives it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_H
#define EVPROC_HTTP_H

#include "postgres.h"

#include "http/http_lookup.h"
#include "ingest/intake.h"
#include "ingest/lookup.h"

extern bool http_start(void);
extern void http_refuse_new(void);
extern void http_stop(void);
extern int	http_epoll_fd(void);
extern long http_timeout_ms(void);
extern void http_run(void);
extern bool http_resume_all(void);
extern void http_send_now(void);
extern int	http_connections(void);

/* answering what the worker did for the requests */
extern void http_answer_post(void *waiter, const IntakeReceipt *receipt);

#endif							/* EVPROC_HTTP_H */
