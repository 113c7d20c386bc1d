/*-------------------------------------------------------------------------
 *
 * pressure.h
 *	  Back-pressure and readiness: whether POSTs are accepted now, and why
 *	  not.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_PRESSURE_H
#define EVPROC_PRESSURE_H

#include "postgres.h"

#include "journal/journal.h"

/* the worker, once a pass */
extern void pressure_note_segments(int count, uint64 bytes, time_t oldest);
extern void pressure_update(Journal *journal, bool journal_failing,
							bool schema_ready, time_t unrotated_since,
							bool ingest_locked);
extern void pressure_standby(bool schema_ready);
extern void pressure_backlog(uint64 *bytes, int *files, double *lag_seconds);
extern long pressure_timeout_ms(void);
extern bool pressure_rotation_helps(void);

/* the HTTP server, inside libmicrohttpd's callbacks (no PostgreSQL calls) */
extern const char *pressure_refusal(int *retry_after);
extern size_t pressure_ready_json(char *out, size_t outlen, bool *ready);

#endif							/* EVPROC_PRESSURE_H */
