/*-------------------------------------------------------------------------
 *
 * http_slots.h
 *	  Who may hold the HTTP server's connection slots: the limit the open
 *	  file limit allows, the overflow band answered 503 at once, the
 *	  streams' share and each client's streams.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_SLOTS_H
#define EVPROC_HTTP_SLOTS_H

#include "postgres.h"

typedef struct SlotPeer SlotPeer;

/* What one connection holds (kept in its tracking, http_conn.c). */
typedef struct SlotHold
{
	bool		overflow;		/* accepted beyond the limit: gets 503 */
	bool		stream;			/* holds one of the streams' slots */
	SlotPeer   *peer;			/* its client's count, while a stream */
} SlotHold;

/* the server's start: the limit to give libmicrohttpd */
extern unsigned int slots_start(bool tls);

/* a connection's life (libmicrohttpd's connection notifications) */
extern void slots_opened(SlotHold *h);
extern void slots_closed(SlotHold *h);

/* a stream on it (inside libmicrohttpd's callbacks) */
extern unsigned int slots_admit_stream(SlotHold *h, const char *client,
									   const char **error, int *retry_after);
extern void slots_release_stream(SlotHold *h);

/* the worker's upkeep */
extern bool slots_report(void);

#endif							/* EVPROC_HTTP_SLOTS_H */
