/*-------------------------------------------------------------------------
 *
 * tls_probe.h
 *	  The reads of a TLS connection: plain HTTP sent to the HTTPS port
 *	  answered with a readable 400 instead of a closed connection, and one
 *	  recv for a record where GnuTLS would make two (tls_probe.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TLS_PROBE_H
#define EVPROC_TLS_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

/*
 * A TLS connection's reads: its first read, watched, and the bytes read
 * ahead of what GnuTLS asked for (lives with the connection).
 */
typedef struct TlsProbe
{
	int			fd;
	bool		seen;			/* its first bytes have been looked at */
	bool		handshaking;	/* the client's Finished not yet in */
	bool		waiting;		/* ... and the last read found nothing */
	void	   *session;		/* its gnutls_session_t */
} TlsProbe;

extern void tls_probe_start(struct MHD_Connection *conn, TlsProbe *probe,
							int fd);
extern void tls_probe_stop(TlsProbe *probe);
extern size_t tls_probe_buffered(const TlsProbe *probe);
extern int	tls_probe_handshakes_waiting(void);
extern bool tls_probe_quiet(const char *fmt);

#endif							/* EVPROC_TLS_PROBE_H */
