/*-------------------------------------------------------------------------
 *
 * http_client.h
 *	  Who a connection's client is: its address and its key in the
 *	  per-client limits (http_client.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_HTTP_CLIENT_H
#define EVPROC_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>

extern void client_address(struct MHD_Connection *conn, char *out);
extern bool client_key(struct MHD_Connection *conn, char *out, size_t outlen);

#endif							/* EVPROC_HTTP_CLIENT_H */
