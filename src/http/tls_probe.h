/*-------------------------------------------------------------------------
 *
 * tls_probe.h
 *	  Plain HTTP sent to the HTTPS port: answered with a readable 400
 *	  instead of a closed connection (tls_probe.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TLS_PROBE_H
#define EVPROC_TLS_PROBE_H

#include <stdbool.h>
#include <microhttpd.h>

/* A TLS connection's first read, watched (lives with the connection). */
typedef struct TlsProbe
{
	int			fd;
	bool		seen;			/* its first bytes have been looked at */
} TlsProbe;

extern void tls_probe_start(struct MHD_Connection *conn, TlsProbe *probe,
							int fd);
extern bool tls_probe_quiet(const char *fmt);

#endif							/* EVPROC_TLS_PROBE_H */
