/*-------------------------------------------------------------------------
 *
 * event_type.c
 *	  The type of an event: the metric it changes and its effect, given
 *	  by the server (ev_set_type) or read from a journal line that records
 *	  it (ev_line_type, for the parsers of event.c and event_fast.c).
 *
 * Backend-free (libc only); see event.h.  The rules of metrics and effects
 * are validate.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "core/event_int.h"

#include <string.h>

#ifdef POSTGRES_H
#error "event_type.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/*
 * set_checked_type is ev_set_type once the metric and effect are checked.
 */
static inline const char *
set_checked_type(EvEvent *ev, const char *metric, size_t metric_len,
				 EvEffect effect)
{
	if (effect != EV_EFFECT_COUNT && !ev->has_value)
		return "value is required";
	memcpy(ev->metric, metric, metric_len);
	ev->metric[metric_len] = '\0';
	ev->metric_len = metric_len;
	ev->effect = effect;
	ev->typed = true;
	return NULL;
}

/*
 * ev_set_type gives the event the type it is accepted with: the metric it
 * changes (ev_check_metric's rule) and the effect.  Returns NULL, or a
 * client-facing message with the event left as it was: "value is
 * required" for an add or subtract event without a value (a count needs
 * none, and ignores one).
 */
const char *
ev_set_type(EvEvent *ev, const char *metric, size_t metric_len,
			EvEffect effect)
{
	const char *msg;

	if ((msg = ev_check_metric(metric, metric_len)) != NULL)
		return msg;
	if (ev_effect_name(effect) == NULL)
		return EV_EFFECT_ERROR;
	return set_checked_type(ev, metric, metric_len, effect);
}

/*
 * ev_line_type reads the type a journal line records: metric[0..mlen) and
 * effect[0..elen), either NULL if the line has none.  A line without both
 * leaves the event untyped; one with both gets them checked and set.
 */
const char *
ev_line_type(EvEvent *ev, const char *metric, size_t mlen,
			 const char *effect, size_t elen)
{
	EvEffect	e;
	const char *msg;

	ev_clear_type(ev);
	if (metric == NULL && effect == NULL)
		return NULL;
	if (metric == NULL || effect == NULL)
		return "metric and effect must be given together";
	if ((msg = ev_check_metric(metric, mlen)) != NULL)
		return msg;
	if (!ev_parse_effect(effect, elen, &e))
		return EV_EFFECT_ERROR;
	return set_checked_type(ev, metric, mlen, e);
}
