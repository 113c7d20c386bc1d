/*-------------------------------------------------------------------------
 *
 * fuzz_event.c
 *	  libFuzzer target for the backend-free input handling: the event
 *	  parser/validator and the URL user id decoder.
 *
 * The first input byte picks the target (user id, event, JSON batch or
 * NDJSON batch); the rest is the input.  Besides
 * not crashing, the target checks properties: an accepted event formats to
 * a journal line that parses back to the same event, and a decoded user id
 * is valid UTF-8 without NUL.
 *
 *	  make fuzz && test/fuzz/fuzz_event -runs=10000000 test/fuzz/corpus
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static EvParser *parser;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_event_round_trip(const EvEvent *ev)
{
	char		line[EV_LINE_MAX];
	char		err[EV_ERROR_BUFSZ];
	EvEvent		again;
	size_t		len;

	len = ev_format_journal_line(ev, "2026-01-01T00:00:00.000000Z",
								 "127.0.0.1", line, sizeof(line));
	if (len == 0 || line[len - 1] != '\n')
		abort();
	if (!ev_parse_event(parser, line, len - 1, &again, err, sizeof(err)))
		abort();
	if (again.kind != ev->kind || again.value != ev->value ||
		again.event_id_len != ev->event_id_len ||
		memcmp(again.event_id, ev->event_id, ev->event_id_len) != 0 ||
		again.user_id_len != ev->user_id_len ||
		memcmp(again.user_id, ev->user_id, ev->user_id_len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (parser == NULL)
		parser = ev_parser_create();
	if (size == 0)
		return 0;

	if ((data[0] & 3) >= 2)
	{
		EvEvent    *events;
		size_t		n;
		bool		is_batch;
		long		bad;
		char		err[EV_ERROR_BUFSZ];

		if (ev_parse_batch(parser, (const char *) data + 1, size - 1,
						   (data[0] & 3) == 3, 100, &events, &n, &is_batch,
						   &bad, err, sizeof(err)))
		{
			if (n == 0 || n > 100)
				abort();
			for (size_t i = 0; i < n; i++)
				check_event_round_trip(&events[i]);
			free(events);
		}
		else if (err[0] == '\0' || bad >= 100)
			abort();
	}
	else if (data[0] & 1)
	{
		EvEvent		ev;
		char		err[EV_ERROR_BUFSZ];

		EvEvent		full;
		bool		ok = ev_parse_line(parser, (const char *) data + 1, size - 1,
									   &ev, err, sizeof(err));

		/* the journal fast path must agree with the full parser */
		if (ok != ev_parse_event(parser, (const char *) data + 1, size - 1,
								 &full, err, sizeof(err)))
			abort();
		if (ok && (full.kind != ev.kind || full.value != ev.value ||
				   strcmp(full.user_id, ev.user_id) != 0 ||
				   strcmp(full.event_id, ev.event_id) != 0))
			abort();
		if (ok)
			check_event_round_trip(&ev);
		else if (err[0] == '\0')
			abort();
	}
	else
	{
		char	   *in = malloc(size);
		char		out[EV_USER_ID_MAX + 1];
		size_t		outlen;

		memcpy(in, data + 1, size - 1);
		in[size - 1] = '\0';
		if (ev_decode_user_id(in, out, &outlen) == NULL)
		{
			if (outlen == 0 || outlen > EV_USER_ID_MAX ||
				memchr(out, '\0', outlen) != NULL ||
				!ev_utf8_valid(out, outlen))
				abort();
		}
		free(in);
	}
	return 0;
}
