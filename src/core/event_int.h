/*-------------------------------------------------------------------------
 *
 * event_int.h
 *	  The interface among the event modules (event.c, event_fast.c,
 *	  event_type.c): not for other callers, which use event.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_EVENT_INT_H
#define EVPROC_EVENT_INT_H

#include "core/event.h"

/* ev_clear_type: the event's type is not known (yet) */
static inline void
ev_clear_type(EvEvent *ev)
{
	ev->typed = false;
	ev->metric[0] = '\0';
	ev->metric_len = 0;
	ev->effect = EV_EFFECT_ADD;
}

/* event_type.c */
extern const char *ev_line_type(EvEvent *ev, const char *metric, size_t mlen,
								const char *effect, size_t elen);

/* event_fast.c */
extern bool ev_fast_parse_line(const char *line, size_t len, EvEvent *ev);
extern bool ev_fast_parse_event(const char *buf, size_t len, bool line,
								EvEvent *ev);

#endif							/* EVPROC_EVENT_INT_H */
