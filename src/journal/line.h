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
 * A request of two or more events is written as a receipt line, what the
 * events' lines would all end with, followed by their lines without it:
 *
 *	{"receivedAt":"T","clientAddr":A}
 *	{"userId":U,"name":"N","value":V,"metric":"M","effect":"E"[,"eventId":I]}
 *	...
 *
 * so that a batch of 100 events journals 94 bytes an event, not 157 (the
 * kernel's copy of the journal into the page cache was half the worker's
 * time for batches).  An event's receive time and client are those of the
 * receipt line before it; ingest skips receipt lines (they are no events).
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
/* a receipt line's opening: LINE_RECEIVED_AT as its first member */
#define LINE_RECEIPT		"{\"receivedAt\":"

/* the length of a literal (one of the above, or one made of them) */
#define LINE_LEN(lit)		(sizeof(lit) - 1)

/*
 * The end of a line, from "receivedAt" on: the same for every event of one
 * request, so it is written once per request (journal_line_tail) and then
 * copied into each of its lines, or into its receipt line
 * (journal_line_receipt) when the lines end with LINE_SHORT_TAIL.
 */
#define LINE_TAIL_MAX \
	(LINE_LEN(LINE_RECEIVED_AT LINE_CLIENT_ADDR LINE_END "\n") + \
	 EV_TIMESTAMP_BUFSZ + 2 + 6 * EV_ADDR_BUFSZ + 3)

typedef struct JournalLineTail
{
	size_t		len;
	char		text[LINE_TAIL_MAX];
} JournalLineTail;

/* the end of an event line after a receipt line */
#define LINE_SHORT_TAIL		LINE_END "\n"

extern bool journal_line_tail(const char *received_at, const char *client_addr,
							  JournalLineTail *tail);
extern void journal_line_short_tail(JournalLineTail *tail);
extern size_t journal_line_receipt(const JournalLineTail *tail, char *out,
								   size_t outlen);
extern size_t journal_line_format_tail(const EvEvent *ev,
									   const JournalLineTail *tail,
									   char *out, size_t outlen);
extern size_t journal_line_format(const EvEvent *ev, const char *received_at,
								  const char *client_addr,
								  char *out, size_t outlen);
extern bool journal_line_skipped(const char *line, size_t len);
extern bool journal_line_parse(EvParser *parser, const char *line, size_t len,
							   EvEvent *ev, char *errbuf, size_t errlen);

#endif							/* EVPROC_JOURNAL_LINE_H */
