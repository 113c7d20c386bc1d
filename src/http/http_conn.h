/*-------------------------------------------------------------------------
 *
 * http_conn.h
 *	  HTTP connections, beyond what libmicrohttpd does for them: framing
 *	  checks, tracking (peers that closed, request deadlines, the slot
 *	  each holds: http_slots.c), the memory of request bodies and the
 *	  rate-limited log.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_CONN_H
#define EVPROC_HTTP_CONN_H

#include "postgres.h"

#include <microhttpd.h>
#include <stdarg.h>

#include "http/http_slots.h"

typedef struct ConnTrack ConnTrack;

/* the server's life */
extern bool conn_start(void);
extern bool conn_watch_daemon(struct MHD_Daemon *daemon);
extern void conn_stop(void);
extern int	conn_epoll_fd(void);
extern int	conn_count(void);
extern void conn_run(struct MHD_Daemon *daemon, int runs);
extern void conn_upkeep(void);
extern long conn_timeout_ms(struct MHD_Daemon *daemon);

/* libmicrohttpd's callbacks (MHD_OPTION_NOTIFY_CONNECTION, the logger) */
extern void conn_notify(void *cls, struct MHD_Connection *conn,
						void **socket_context,
						enum MHD_ConnectionNotificationCode toe);
/* a vprintf-like format (PostgreSQL 17's -Wmissing-format-attribute asks) */
extern void conn_log(void *cls, const char *fmt, va_list ap)
			pg_attribute_printf(2, 0);

/* one request on a connection */
extern void conn_track(struct MHD_Connection *conn, ConnTrack **slot);
extern void conn_busy(ConnTrack *t);
extern void conn_untrack(ConnTrack **slot);
extern void conn_cork_reply(ConnTrack *t);
extern bool conn_hold_unflushed(struct MHD_Connection *conn);
extern const char *conn_framing_error(struct MHD_Connection *conn);
extern bool conn_peer_closed(struct MHD_Connection *conn);
extern uint64 conn_peers_closed(void);
extern SlotHold *conn_hold(ConnTrack *t);
extern bool conn_overflow(ConnTrack *t);
extern bool conn_reserve_body(size_t *held, size_t n);
extern void conn_release_body(size_t *held);

#endif							/* EVPROC_HTTP_CONN_H */
