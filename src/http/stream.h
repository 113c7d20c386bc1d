/*-------------------------------------------------------------------------
 *
 * stream.h
 *	  Live updates over HTTP: the subscribers of GET /userEvents/:userId/
 *	  stream and GET /stream, and what they are sent (Server-Sent Events).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_STREAM_H
#define EVPROC_STREAM_H

#include "postgres.h"

#include <microhttpd.h>

#include "ingest/lookup.h"

/* the HTTP server, inside libmicrohttpd's callbacks (no PostgreSQL calls) */
extern struct MHD_Response *stream_open(struct MHD_Connection *conn,
										const char *user_id,
										char **users, int nusers,
										uint64 since, const char **error);
extern struct MHD_Response *stream_open_ws(const char *key,
										   const char *user_id,
										   char **users, int nusers,
										   uint64 since, const char **error);
extern int	stream_count(void);
extern void stream_close_all(bool shutdown);

/* the worker */
extern bool stream_start(void);
extern int	stream_epoll_fd(void);
extern void stream_note_change(uint64 seq, const char *user_id, void *arg);
extern void stream_welcome(void);
extern RevenueLookup *stream_wanted(int *n);
extern void stream_answer(LookupOutcome outcome);
extern bool stream_upkeep(void);
extern long stream_timeout_ms(void);

#endif							/* EVPROC_STREAM_H */
