/*-------------------------------------------------------------------------
 *
 * tls_reply.h
 *	  The writes of a TLS connection: a reply whose header and body are in
 *	  memory goes out as one TLS record, in one send (tls_reply.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TLS_REPLY_H
#define EVPROC_TLS_REPLY_H

#include "postgres.h"

#include <microhttpd.h>

#include "lib/ilist.h"

/*
 * The largest reply body sent as one record: a TLS record holds 16 kB,
 * with room left for the header.  A larger reply takes several records
 * anyway, and is left to libmicrohttpd.
 */
#define TLS_REPLY_MAX_BODY	(15 * 1024)

/* A TLS connection's writes (lives with the connection). */
typedef struct TlsReply
{
	struct MHD_Connection *conn;
	void	   *session;		/* its gnutls_session_t; NULL: not TLS */
	int			fd;
	bool		corked;			/* GnuTLS keeps what is written */
	bool		socket_uncorked;	/* TCP_CORK taken off the socket */
	bool		waiting;		/* a reply waits for room: in flush_wait */
	bool		held;			/* its next request waits (suspended) */
	size_t		left;			/* bytes GnuTLS still keeps, when waiting */
	int64		progress_ms;	/* when waiting began, or bytes last left */
	dlist_node	wait_node;
} TlsReply;

extern void tls_reply_start(struct MHD_Connection *conn, TlsReply *reply,
							int fd);
extern void tls_reply_stop(TlsReply *reply);
extern void tls_reply_cork(TlsReply *reply);
extern void tls_reply_flush(TlsReply *reply);
extern bool tls_reply_hold(TlsReply *reply);
extern void tls_reply_cut(TlsReply *reply);
extern void tls_reply_flush_waiting(void);
extern bool tls_reply_take_resumed(void);
extern bool tls_reply_resume_pending(void);
extern void tls_reply_let_go_all(void);

#endif							/* EVPROC_TLS_REPLY_H */
