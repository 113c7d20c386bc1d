/*-------------------------------------------------------------------------
 *
 * tls.h
 *	  HTTPS for the HTTP server: the certificate and key in force
 *	  (evproc.tls_cert_file, evproc.tls_key_file) and their reload (tls.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_TLS_H
#define EVPROC_TLS_H

#include <microhttpd.h>

extern bool tls_start(void);
extern const struct MHD_OptionItem *tls_mhd_options(void);
extern bool tls_reload(void);
extern void tls_stop(void);

#endif							/* EVPROC_TLS_H */
