/*-------------------------------------------------------------------------
 *
 * line.h
 *	  A journal line's layout: its literals, written once here for the
 *	  writer and the reader of line.c, with their lengths taken from them.
 *
 * A line, one event, as journal_line_format writes it:
 *
 *	{"userId":U,"name":"N","value":V,"metric":"M","effect":"E"
 *	 [,"eventId":I],"receivedAt":"T","clientAddr":A}
 *
 * Backend-free: included by line.c and by the backend files that write or
 * read lines (ingest/intake.c, ingest/ingest.c), after postgres.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_JOURNAL_LINE_H
#define EVPROC_JOURNAL_LINE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/event.h"

/* each member's opening, up to its value, in the order of a line */
#define LINE_USER_ID		"{\"userId\":"
#define LINE_NAME			",\"name\":"
#define LINE_VALUE			",\"value\":"
#define LINE_METRIC			",\"metric\":"
#define LINE_EFFECT			",\"effect\":"
#define LINE_EVENT_ID		",\"eventId\":"
#define LINE_RECEIVED_AT	",\"receivedAt\":"
#define LINE_CLIENT_ADDR	",\"clientAddr\":"
#define LINE_END			"}"

/* the length of a literal (one of the above, or one made of them) */
#define LINE_LEN(lit)		(sizeof(lit) - 1)

extern size_t journal_line_format(const EvEvent *ev, const char *received_at,
								  const char *client_addr,
								  char *out, size_t outlen);
extern bool journal_line_blank(const char *line, size_t len);
extern bool journal_line_parse(EvParser *parser, const char *line, size_t len,
							   EvEvent *ev, char *errbuf, size_t errlen);

#endif							/* EVPROC_JOURNAL_LINE_H */
