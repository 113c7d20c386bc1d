/*-------------------------------------------------------------------------
 *
 * eventid.h
 *	  eventIds of evproc-client: random UUIDs (version 4) from the
 *	  operating system's random source.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_EVENTID_H
#define EVPROC_CLIENT_EVENTID_H

#include <stdbool.h>
#include <stddef.h>

#include "../src/core/evlimits.h"

/* a UUID in text form: 36 characters and a NUL */
#define EVENTID_UUID_LEN	36
#define EVENTID_BUFSZ		(EVENTID_UUID_LEN + 1)

extern bool random_bytes(void *buf, size_t len);
extern void uuid_v4_format(const unsigned char raw[16], char out[EVENTID_BUFSZ]);
extern bool uuid_v4_new(char out[EVENTID_BUFSZ]);
extern bool uuid_v4_valid(const char *s, size_t len);

#endif							/* EVPROC_CLIENT_EVENTID_H */
