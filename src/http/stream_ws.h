/*-------------------------------------------------------------------------
 *
 * stream_ws.h
 *	  A live-update stream's WebSocket connection, after the upgrade.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_STREAM_WS_H
#define EVPROC_STREAM_WS_H

#include "postgres.h"

#include <microhttpd.h>

typedef struct WsConn WsConn;

/* called once, when the connection is gone */
typedef void (*WsClosedFn) (void *arg);

extern bool wsconn_init(void);
extern int	wsconn_epoll_fd(void);
extern WsConn *wsconn_start(MHD_socket sock,
							struct MHD_UpgradeResponseHandle *urh,
							const char *extra, size_t extra_len,
							WsClosedFn closed, void *arg);
extern void wsconn_send_text(WsConn *c, const char *text, size_t len);
extern void wsconn_ping(WsConn *c);
extern void wsconn_close(WsConn *c, int code, const char *reason);
extern size_t wsconn_pending(const WsConn *c);
extern bool wsconn_run(void);
extern void wsconn_close_all(void);

#endif							/* EVPROC_STREAM_WS_H */
