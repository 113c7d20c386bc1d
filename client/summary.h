/*-------------------------------------------------------------------------
 *
 * summary.h
 *	  The counters of a "send" run and the summary printed at its end.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_CLIENT_SUMMARY_H
#define EVPROC_CLIENT_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* how many reasons are listed, for rejected events and for failures */
#define SUMMARY_MAX_REASONS		10

/*
 * Every event read ends up counted exactly once as accepted, rejected or
 * failed; duplicates are a part of accepted, sent counts distinct events
 * that went into at least one request.
 */
typedef struct Summary
{
	int64_t		read;			/* events read (non-blank lines) */
	int64_t		sent;			/* distinct events sent at least once */
	int64_t		accepted;		/* acknowledged by the server (200) */
	int64_t		duplicates;		/* of those: eventId already known */
	int64_t		rejected;		/* refused: locally or by the server (400) */
	int64_t		failed;			/* not delivered: retries exhausted etc. */
	int64_t		requests;		/* HTTP requests made */
	int64_t		retries;		/* of those: retries */
	int			nreject_reasons;
	char	   *reject_reasons[SUMMARY_MAX_REASONS];
	long		reject_lines[SUMMARY_MAX_REASONS];
	int			nfail_reasons;
	char	   *fail_reasons[SUMMARY_MAX_REASONS];
	int64_t		fail_reasons_seen;
	char	   *aborted;		/* why the run stopped early, or NULL */
} Summary;

extern void summary_init(Summary *s);
extern void summary_free(Summary *s);
extern void summary_reject(Summary *s, long line, const char *reason);
extern void summary_fail(Summary *s, long first_line, long last_line,
						 int64_t count, const char *reason);
extern void summary_accept(Summary *s, int64_t count, int64_t duplicates);
extern void summary_abort(Summary *s, const char *reason);
extern int	summary_exit_code(const Summary *s);
extern bool summary_consistent(const Summary *s);
extern void summary_print(const Summary *s, FILE *out);

#endif							/* EVPROC_CLIENT_SUMMARY_H */
