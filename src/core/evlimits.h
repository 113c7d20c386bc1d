/*-------------------------------------------------------------------------
 *
 * evlimits.h
 *	  The limits and names of evproc's protocol, in one place: the server
 *	  (src/) and evproc-client (client/) both include this header, so that
 *	  neither repeats what the other defines.
 *
 * Plain macros only, no declarations: any C file may include it, whether
 * it is compiled with PostgreSQL's headers or without.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_EVLIMITS_H
#define EVPROC_EVLIMITS_H

/*
 * An event's strings, in bytes of UTF-8: a userId of 1 to EV_USER_ID_MAX
 * bytes and an optional eventId of 1 to EV_EVENT_ID_MAX bytes.
 */
#define EV_USER_ID_MAX		255
#define EV_EVENT_ID_MAX		128

/*
 * Values are exact decimals: at most EV_INT_DIGITS digits before the
 * decimal point and EV_FRAC_DIGITS after it (after trailing zeros are
 * dropped), written as a literal of at most EV_LITERAL_DIGITS digits.
 * Anything else is rejected, never rounded.
 */
#define EV_INT_DIGITS		18
#define EV_FRAC_DIGITS		9
#define EV_LITERAL_DIGITS	100

/*
 * An event type's name, and the metric it changes: 1 to EV_NAME_MAX bytes
 * of ASCII letters, digits, '_', '-' and '.', starting with a letter (the
 * rule is validate.c's ev_check_name).
 */
#define EV_NAME_MAX			63

/* the predefined event types, and the metric they change */
#define EV_NAME_ADD_REVENUE			"add_revenue"
#define EV_NAME_SUBTRACT_REVENUE	"subtract_revenue"
#define EV_METRIC_REVENUE			"revenue"

/* the longest journal line evproc writes, newline and NUL included */
#define EV_LINE_MAX			3072

/* EV_STR(EV_USER_ID_MAX) is "255": a limit spelled in a message */
#define EV_STR_(x)			#x
#define EV_STR(x)			EV_STR_(x)

#endif							/* EVPROC_EVLIMITS_H */
