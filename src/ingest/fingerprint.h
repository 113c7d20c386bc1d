/*-------------------------------------------------------------------------
 *
 * fingerprint.h
 *	  A file's SHA-256, read again when a fingerprint of 1.1 to 1.7 is
 *	  needed (see fingerprint.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_FINGERPRINT_H
#define EVPROC_FINGERPRINT_H

#include "common/cryptohash.h"
#include "ingest/fold.h"
#include "journal/journal.h"

extern pg_cryptohash_ctx *fingerprint_sha256_start(void);
extern void fingerprint_sha256_read(JournalReader *reader, const char *path,
									pg_cryptohash_ctx *ctx, Fingerprint *fp);

#endif							/* EVPROC_FINGERPRINT_H */
