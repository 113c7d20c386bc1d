/*-------------------------------------------------------------------------
 *
 * port_claim.h
 *	  Whether a worker may take the HTTP port: free, or held by another
 *	  worker of this server (port_claim.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_PORT_CLAIM_H
#define EVPROC_PORT_CLAIM_H

extern void port_claim(void);

#endif							/* EVPROC_PORT_CLAIM_H */
