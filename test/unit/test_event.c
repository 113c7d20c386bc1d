/*-------------------------------------------------------------------------
 *
 * test_event.c
 *	  Unit tests of src/core/event.c: event parsing and validation
 *	  (ev_parse_event, with and without its fast paths), exact decimals (ev_decimal_parse,
 *	  ev_decimal_format), JSON output (ev_json_quote, ev_json_error,
 *	  ev_format_timestamp), the journal line of src/journal/line.c
 *	  (journal_line_format, journal_line_parse) and the input checks
 *	  (ev_utf8_valid, ev_decode_user_id).
 *
 * No server needed: build and run with "make unitcheck".
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compat.h"
#include "core/event.h"
#include "journal/line.h"
#include "unit.h"

/* value in units: EV_SCALE-scaled integer */
#define UNITS(n)	((ev_int128) (n) * EV_SCALE)

/* an event around a value literal */
#define VALUE_EVENT(lit) \
	"{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":" lit "}"

/* the message for a name the rule refuses */
#define NAME_BAD \
	"name must be 1 to 63 characters: letters, digits, '_', '-' or '.', " \
	"starting with a letter"
#define METRIC_BAD \
	"metric must be 1 to 63 characters: letters, digits, '_', '-' or '.', " \
	"starting with a letter"

/* the largest value: 18 nines, a point, 9 nines */
#define MAX_VALUE	((ev_int128) 999999999999999999LL * EV_SCALE + 999999999)

static EvParser *parser;

/* i128_str writes v in decimal, independently of ev_decimal_format */
static const char *
i128_str(ev_int128 v, char *buf)
{
	char		tmp[64];
	int			n = 0;
	size_t		o = 0;
	unsigned __int128 mag;

	if (v < 0)
	{
		buf[o++] = '-';
		mag = (unsigned __int128) (-(v + 1)) + 1;
	}
	else
		mag = (unsigned __int128) v;
	do
	{
		tmp[n++] = (char) ('0' + (int) (mag % 10));
		mag /= 10;
	} while (mag > 0);
	while (n > 0)
		buf[o++] = tmp[--n];
	buf[o] = '\0';
	return buf;
}

static void
check_i128(ev_int128 got, ev_int128 want, const char *what,
		   const char *func, int line)
{
	char		g[64];
	char		w[64];

	unit_check(got == want, __FILE__, line, func, "%s: got %s, want %s",
			   what, i128_str(got, g), i128_str(want, w));
}

#define CHECK_I128_EQ(got, want) \
	check_i128((got), (want), #got, __func__, __LINE__)

/*
 * Event parsing helpers.  They report failures at the caller's line.
 */
static bool
check_parse_ok(const char *buf, size_t len, EvEvent *ev,
			   const char *func, int line)
{
	char		err[EV_ERROR_BUFSZ];

	err[0] = '\0';
	memset(ev, 0x5a, sizeof(EvEvent));
	if (!ev_parse_event(parser, buf, len, ev, err, sizeof(err)))
	{
		unit_check(false, __FILE__, line, func,
				   "event should be accepted, got error \"%s\"", err);
		unit_print_mem(buf, len);
		fputc('\n', stderr);
		return false;
	}
	unit_check(true, __FILE__, line, func, "accepted");
	return true;
}

/*
 * check_event: buf is accepted as the event of user with this name and
 * value (NO_VALUE: none given), untyped as every event of a request body.
 */
#define NO_VALUE	((ev_int128) -1)

static void
check_event(const char *buf, size_t len, const char *user, size_t userlen,
			const char *name, ev_int128 value, const char *func, int line)
{
	EvEvent		ev;

	if (!check_parse_ok(buf, len, &ev, func, line))
		return;
	unit_check_mem(ev.user_id, ev.user_id_len, user, userlen,
				   __FILE__, line, func, "user_id");
	unit_check(ev.user_id[ev.user_id_len] == '\0', __FILE__, line, func,
			   "user_id is NUL-terminated");
	unit_check_mem(ev.name, ev.name_len, name, strlen(name),
				   __FILE__, line, func, "name");
	unit_check(ev.name[ev.name_len] == '\0', __FILE__, line, func,
			   "name is NUL-terminated");
	unit_check(ev.has_value == (value != NO_VALUE), __FILE__, line, func,
			   "has_value %d", (int) ev.has_value);
	check_i128(ev.value, value == NO_VALUE ? 0 : value, "value", func, line);
	unit_check(!ev.typed && ev.metric_len == 0 && ev.metric[0] == '\0',
			   __FILE__, line, func, "an event of a request body is untyped");
}

/* EXPECT_EVENT(json, user, name, value): accepted with these fields */
#define EXPECT_EVENT(json, user, name, value) \
	check_event((json), strlen(json), (user), strlen(user), (name), (value), \
				__func__, __LINE__)

/* EXPECT_VALUE(literal, value): a value literal is accepted as value */
#define EXPECT_VALUE(lit, value) \
	EXPECT_EVENT(VALUE_EVENT(lit), "u", EV_NAME_ADD_REVENUE, (value))

typedef enum
{
	MATCH_EXACT,
	MATCH_PREFIX,
	MATCH_FINITE				/* the NaN/Infinity rejections, see below */
} MatchKind;

static void
check_reject(const char *buf, size_t len, const char *want, MatchKind how,
			 const char *func, int line)
{
	EvEvent		ev;
	char		err[EV_ERROR_BUFSZ];
	bool		ok;

	memset(err, 'x', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	if (ev_parse_event(parser, buf, len, &ev, err, sizeof(err)))
	{
		unit_check(false, __FILE__, line, func,
				   "event should be rejected with \"%s\"", want);
		unit_print_mem(buf, len > 300 ? 300 : len);
		fputc('\n', stderr);
		return;
	}
	switch (how)
	{
		case MATCH_EXACT:
			ok = strcmp(err, want) == 0;
			break;
		case MATCH_PREFIX:
			ok = strncmp(err, want, strlen(want)) == 0;
			break;
		default:

			/*
			 * json-c may refuse NaN and Infinity itself or hand them over
			 * as doubles that ev_decimal_parse refuses: either is fine.
			 */
			ok = strcmp(err, "value must be a finite JSON number") == 0 ||
				strncmp(err, "invalid JSON: ", 14) == 0;
			break;
	}
	unit_check(ok, __FILE__, line, func,
			   "error message: got \"%s\", want %s\"%s\"", err,
			   how == MATCH_PREFIX ? "prefix " : "", want);
}

#define EXPECT_REJECT(json, msg) \
	check_reject((json), strlen(json), (msg), MATCH_EXACT, __func__, __LINE__)
#define EXPECT_REJECT_LEN(buf, len, msg) \
	check_reject((buf), (len), (msg), MATCH_EXACT, __func__, __LINE__)
#define EXPECT_REJECT_PREFIX(json, prefix) \
	check_reject((json), strlen(json), (prefix), MATCH_PREFIX, \
				 __func__, __LINE__)
#define EXPECT_REJECT_NONFINITE(json) \
	check_reject((json), strlen(json), "value must be a finite JSON number", \
				 MATCH_FINITE, __func__, __LINE__)

/* user_event builds {"userId":<quoted>,"name":"add_revenue","value":1} */
static char *
user_event(const char *quoted_user)
{
	size_t		len = strlen(quoted_user) + 64;
	char	   *buf = malloc(len);

	snprintf(buf, len, "{\"userId\":%s,\"name\":\"add_revenue\",\"value\":1}",
			 quoted_user);
	return buf;
}

/* repeat_str returns s repeated n times, between prefix and suffix */
static char *
repeat_str(const char *prefix, const char *s, int n, const char *suffix)
{
	size_t		len = strlen(prefix) + strlen(s) * (size_t) n + strlen(suffix);
	char	   *buf = malloc(len + 1);
	size_t		o = 0;

	memcpy(buf, prefix, strlen(prefix));
	o += strlen(prefix);
	for (int i = 0; i < n; i++)
	{
		memcpy(buf + o, s, strlen(s));
		o += strlen(s);
	}
	memcpy(buf + o, suffix, strlen(suffix));
	o += strlen(suffix);
	buf[o] = '\0';
	return buf;
}

/*
 * ev_parse_event: valid events
 */
static void
test_parse_valid(void)
{
	EvEvent		ev;
	char	   *json;
	char	   *user;

	EXPECT_EVENT("{\"userId\": \"user1\", \"name\": \"add_revenue\", \"value\": 100}",
				 "user1", EV_NAME_ADD_REVENUE, UNITS(100));
	EXPECT_EVENT("{\"userId\":\"user1\",\"name\":\"subtract_revenue\",\"value\":50}",
				 "user1", EV_NAME_SUBTRACT_REVENUE, UNITS(50));
	/* any key order, whitespace around and inside */
	EXPECT_EVENT(" \t\r\n{ \"value\" : 7 ,\n\"name\":\"add_revenue\",\t\"userId\":\"x\" }\r\n \t",
				 "x", EV_NAME_ADD_REVENUE, UNITS(7));
	/* escapes and UTF-8 in the user id */
	EXPECT_EVENT("{\"userId\":\"a\\\"b\\\\c\\/d\\ne\\u00e9\",\"name\":\"add_revenue\",\"value\":1}",
				 "a\"b\\c/d\ne\xc3\xa9", EV_NAME_ADD_REVENUE, UNITS(1));
	EXPECT_EVENT("{\"userId\":\"Zo\xc3\xab \xf0\x9f\x98\x80\",\"name\":\"add_revenue\",\"value\":1}",
				 "Zo\xc3\xab \xf0\x9f\x98\x80", EV_NAME_ADD_REVENUE, UNITS(1));
	EXPECT_EVENT("{\"userId\":\"\\ud83d\\ude00\",\"name\":\"add_revenue\",\"value\":1}",
				 "\xf0\x9f\x98\x80", EV_NAME_ADD_REVENUE, UNITS(1));
	/* a one-byte id */
	EXPECT_EVENT("{\"userId\":\"0\",\"name\":\"add_revenue\",\"value\":0}",
				 "0", EV_NAME_ADD_REVENUE, 0);

	/* unknown fields are ignored, whatever they hold */
	EXPECT_EVENT("{\"userId\":\"u\",\"extra\":{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u0000\"},"
				 "\"name\":\"add_revenue\",\"receivedAt\":\"2026-01-01\",\"value\":3,"
				 "\"clientAddr\":false,\"n\":-1e999}",
				 "u", EV_NAME_ADD_REVENUE, UNITS(3));
	/* duplicate keys: the last one wins */
	EXPECT_EVENT("{\"userId\":\"a\",\"name\":\"add_revenue\",\"value\":1,"
				 "\"userId\":\"b\",\"name\":\"subtract_revenue\",\"value\":2}",
				 "b", EV_NAME_SUBTRACT_REVENUE, UNITS(2));

	/* userId of 255 bytes is fine, in ASCII or multibyte */
	user = repeat_str("", "a", 255, "");
	json = repeat_str("{\"userId\":\"", "a", 255,
					  "\",\"name\":\"add_revenue\",\"value\":1}");
	EXPECT_EVENT(json, user, EV_NAME_ADD_REVENUE, UNITS(1));
	if (check_parse_ok(json, strlen(json), &ev, __func__, __LINE__))
	{
		CHECK_INT_EQ(ev.user_id_len, 255);
		CHECK_INT_EQ(ev.user_id[255], '\0');
	}
	free(json);
	free(user);
	user = repeat_str("", "\xe2\x82\xac", 85, "");	/* 85 * 3 = 255 */
	json = repeat_str("{\"userId\":\"", "\xe2\x82\xac", 85,
					  "\",\"name\":\"add_revenue\",\"value\":1}");
	EXPECT_EVENT(json, user, EV_NAME_ADD_REVENUE, UNITS(1));
	free(json);
	free(user);
	user = repeat_str("\"", "\\u20ac", 85, "\"");
	json = user_event(user);
	free(user);
	user = repeat_str("", "\xe2\x82\xac", 85, "");
	EXPECT_EVENT(json, user, EV_NAME_ADD_REVENUE, UNITS(1));
	free(json);
	free(user);

	/* the parser is reusable after errors of every kind */
	EXPECT_REJECT("{\"userId\":\"u\"", "invalid JSON: unexpected end of input");
	EXPECT_EVENT("{\"userId\":\"v\",\"name\":\"add_revenue\",\"value\":2}",
				 "v", EV_NAME_ADD_REVENUE, UNITS(2));
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\"}}", "invalid JSON: ");
	EXPECT_EVENT("{\"userId\":\"w\",\"name\":\"add_revenue\",\"value\":3}",
				 "w", EV_NAME_ADD_REVENUE, UNITS(3));
	EXPECT_REJECT("12", "event must be a JSON object");
	EXPECT_EVENT("{\"userId\":\"x\",\"name\":\"add_revenue\",\"value\":4}",
				 "x", EV_NAME_ADD_REVENUE, UNITS(4));

	/* only len bytes are read: a valid event followed by junk past len */
	{
		const char *buf = "{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":5}garbage";

		check_event(buf, strlen(buf) - 7, "u", 1, EV_NAME_ADD_REVENUE, UNITS(5),
					__func__, __LINE__);
	}

}

/*
 * ev_parse_event: every field error
 */
static void
test_parse_field_errors(void)
{
	char	   *json;

	/* userId */
	EXPECT_REJECT("{\"name\":\"add_revenue\",\"value\":1}", "userId is required");
	EXPECT_REJECT("{}", "userId is required");
	EXPECT_REJECT("{\"userid\":\"u\",\"name\":\"add_revenue\",\"value\":1}",
				  "userId is required");
	EXPECT_REJECT("{\"userId\":null,\"name\":\"add_revenue\",\"value\":1}",
				  "userId is required");
	EXPECT_REJECT("{\"userId\":1,\"name\":\"add_revenue\",\"value\":1}",
				  "userId must be a string");
	EXPECT_REJECT("{\"userId\":true,\"name\":\"add_revenue\",\"value\":1}",
				  "userId must be a string");
	EXPECT_REJECT("{\"userId\":[\"u\"],\"name\":\"add_revenue\",\"value\":1}",
				  "userId must be a string");
	EXPECT_REJECT("{\"userId\":{},\"name\":\"add_revenue\",\"value\":1}",
				  "userId must be a string");
	EXPECT_REJECT("{\"userId\":\"\",\"name\":\"add_revenue\",\"value\":1}",
				  "userId must not be empty");

	json = repeat_str("{\"userId\":\"", "a", 256,
					  "\",\"name\":\"add_revenue\",\"value\":1}");
	EXPECT_REJECT(json, "userId must be at most 255 bytes");
	free(json);
	json = repeat_str("{\"userId\":\"", "\xc3\xa9", 128,	/* 256 bytes */
					  "\",\"name\":\"add_revenue\",\"value\":1}");
	EXPECT_REJECT(json, "userId must be at most 255 bytes");
	free(json);
	json = repeat_str("{\"userId\":\"", "\\u20ac", 86,	/* 258 bytes */
					  "\",\"name\":\"add_revenue\",\"value\":1}");
	EXPECT_REJECT(json, "userId must be at most 255 bytes");
	free(json);
	json = repeat_str("{\"userId\":\"", "a", 100000,
					  "\",\"name\":\"add_revenue\",\"value\":1}");
	EXPECT_REJECT(json, "userId must be at most 255 bytes");
	free(json);

	EXPECT_REJECT("{\"userId\":\"a\\u0000b\",\"name\":\"add_revenue\",\"value\":1}",
				  "userId must not contain NUL characters");
	EXPECT_REJECT("{\"userId\":\"\\u0000\",\"name\":\"add_revenue\",\"value\":1}",
				  "userId must not contain NUL characters");
	EXPECT_REJECT("{\"userId\":\"ab\\u0000\",\"name\":\"add_revenue\",\"value\":1}",
				  "userId must not contain NUL characters");

	/* name */
	EXPECT_REJECT("{\"userId\":\"u\",\"value\":1}", "name is required");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":null,\"value\":1}", "name is required");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":1,\"value\":1}", "name must be a string");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":[\"add_revenue\"],\"value\":1}",
				  "name must be a string");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"\",\"value\":1}", NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue \",\"value\":1}",
				  NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\\u0000\",\"value\":1}",
				  NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"_add\",\"value\":1}", NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"caf\\u00e9\",\"value\":1}",
				  NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"a/b\",\"value\":1}", NAME_BAD);

	/* value: its type (whether one is needed is ev_set_type's to say) */
	EXPECT_REJECT(VALUE_EVENT("\"1\""), "value must be a number");
	EXPECT_REJECT(VALUE_EVENT("true"), "value must be a number");
	EXPECT_REJECT(VALUE_EVENT("false"), "value must be a number");
	EXPECT_REJECT(VALUE_EVENT("[1]"), "value must be a number");
	EXPECT_REJECT(VALUE_EVENT("{\"v\":1}"), "value must be a number");

	/* fields are checked in order: userId, name, value, eventId */
	EXPECT_REJECT("{\"userId\":\"\",\"name\":\"0\",\"value\":-1,\"eventId\":\"\"}",
				  "userId must not be empty");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"0\",\"value\":-1,\"eventId\":\"\"}",
				  NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"x\",\"value\":-1,\"eventId\":\"\"}",
				  "value must be a non-negative number");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"x\",\"eventId\":\"\"}",
				  "eventId must not be empty");

	/* a small error buffer gets a truncated, terminated message */
	{
		EvEvent		ev;
		char		err[8];
		const char *buf = "{\"name\":\"add_revenue\",\"value\":1}";

		CHECK(!ev_parse_event(parser, buf, strlen(buf), &ev, err, sizeof(err)));
		CHECK_STR_EQ(err, "userId ");
	}
}

/*
 * ev_parse_event: the value, which must be exact
 */
static void
test_parse_values(void)
{
	char	   *json;

	EXPECT_VALUE("0", 0);
	EXPECT_VALUE("-0", 0);
	EXPECT_VALUE("-0.0", 0);
	EXPECT_VALUE("0.0", 0);
	EXPECT_VALUE("-0e5", 0);
	EXPECT_VALUE("0e400", 0);
	EXPECT_VALUE("1", UNITS(1));
	EXPECT_VALUE("1.0", UNITS(1));
	EXPECT_VALUE("1e2", UNITS(100));
	EXPECT_VALUE("1E2", UNITS(100));
	EXPECT_VALUE("1e+2", UNITS(100));
	EXPECT_VALUE("1.5E1", UNITS(15));
	EXPECT_VALUE("100e-2", UNITS(1));
	EXPECT_VALUE("0.1", (ev_int128) 100000000);
	EXPECT_VALUE("0.2", (ev_int128) 200000000);
	EXPECT_VALUE("123.456", (ev_int128) 123456000000LL);
	EXPECT_VALUE("1E-9", (ev_int128) 1);
	EXPECT_VALUE("0.000000001", (ev_int128) 1);
	EXPECT_VALUE("0.0000000010", (ev_int128) 1);	/* trailing zeros dropped */
	EXPECT_VALUE("0.000000000123e9", (ev_int128) 123000000);
	EXPECT_VALUE("12345678901234567.8e1", UNITS(123456789012345678LL));
	EXPECT_VALUE("999999999999999999", UNITS(999999999999999999LL));
	EXPECT_VALUE("999999999999999999.999999999", MAX_VALUE);
	EXPECT_VALUE("0.999999999999999999999999999e18", MAX_VALUE);
	EXPECT_VALUE("9223372036854775", UNITS(9223372036854775LL));

	/* 100 digits in the literal are fine, 101 are not */
	json = repeat_str("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1.",
					  "0", 99, "}");
	EXPECT_EVENT(json, "u", EV_NAME_ADD_REVENUE, UNITS(1));
	free(json);
	json = repeat_str("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1.",
					  "0", 100, "}");
	EXPECT_REJECT(json, "value has too many digits");
	free(json);
	json = repeat_str("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":0.",
					  "0", 100, "}");
	EXPECT_REJECT(json, "value has too many digits");
	free(json);

	/* negative */
	EXPECT_REJECT(VALUE_EVENT("-1"), "value must be a non-negative number");
	EXPECT_REJECT(VALUE_EVENT("-0.5"), "value must be a non-negative number");
	EXPECT_REJECT(VALUE_EVENT("-1e2"), "value must be a non-negative number");
	EXPECT_REJECT(VALUE_EVENT("-0.000000001"), "value must be a non-negative number");
	EXPECT_REJECT(VALUE_EVENT("-9223372036854775808"),
				  "value must be a non-negative number");
	EXPECT_REJECT(VALUE_EVENT("-99999999999999999999999"),
				  "value must be a non-negative number");

	/* not finite */
	EXPECT_REJECT_NONFINITE(VALUE_EVENT("NaN"));
	EXPECT_REJECT_NONFINITE(VALUE_EVENT("nan"));
	EXPECT_REJECT_NONFINITE(VALUE_EVENT("Infinity"));
	EXPECT_REJECT_NONFINITE(VALUE_EVENT("-Infinity"));
	EXPECT_REJECT_NONFINITE(VALUE_EVENT("infinity"));

	/* too large, including integers json-c saturates to 64 bits */
	EXPECT_REJECT(VALUE_EVENT("1e400"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("1e18"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("1000000000000000000"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("1000000000000000000.0"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("999999999999999999.9999999999e1"),
				  "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("9223372036854775807"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("9223372036854775808"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("18446744073709551615"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("18446744073709551616"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("99999999999999999999999"), "value must be less than 10^18");
	EXPECT_REJECT(VALUE_EVENT("1e99999999999999999999"), "value must be less than 10^18");

	/* too precise */
	EXPECT_REJECT(VALUE_EVENT("0.0000000001"),
				  "value must have at most 9 digits after the decimal point");
	EXPECT_REJECT(VALUE_EVENT("1.1234567891"),
				  "value must have at most 9 digits after the decimal point");
	EXPECT_REJECT(VALUE_EVENT("1e-10"),
				  "value must have at most 9 digits after the decimal point");
	EXPECT_REJECT(VALUE_EVENT("999999999999999999.9999999999"),
				  "value must have at most 9 digits after the decimal point");
	EXPECT_REJECT(VALUE_EVENT("1e-99999999999999"),
				  "value must have at most 9 digits after the decimal point");

	/* not JSON numbers */
	EXPECT_REJECT_PREFIX(VALUE_EVENT("+1"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT(".5"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("01"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("0x10"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("1+2"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("1e"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("1e+"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("--1"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("1.5.5"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("12a"), "invalid JSON: ");
	EXPECT_REJECT_PREFIX(VALUE_EVENT("- 1"), "invalid JSON: ");
	EXPECT_REJECT(VALUE_EVENT("1."), "value must be a finite JSON number");
	EXPECT_REJECT(VALUE_EVENT("00.5"), "value must be a finite JSON number");
}

/*
 * ev_parse_event: documents that are not a JSON object, or not JSON
 */
static void
test_parse_syntax(void)
{
	char	   *json;

	EXPECT_REJECT("", "request body is empty");
	EXPECT_REJECT(" ", "request body is empty");
	EXPECT_REJECT(" \t\r\n \n", "request body is empty");
	EXPECT_REJECT_LEN("{}", 0, "request body is empty");

	EXPECT_REJECT("[]", "event must be a JSON object");
	EXPECT_REJECT("[{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}]",
				  "event must be a JSON object");
	EXPECT_REJECT("\"str\"", "event must be a JSON object");
	EXPECT_REJECT("1", "event must be a JSON object");
	EXPECT_REJECT("12 ", "event must be a JSON object");
	EXPECT_REJECT("1.5", "event must be a JSON object");
	EXPECT_REJECT("null", "event must be a JSON object");
	EXPECT_REJECT("true", "event must be a JSON object");
	EXPECT_REJECT("false\n", "event must be a JSON object");

	/* incomplete */
	EXPECT_REJECT("{", "invalid JSON: unexpected end of input");
	EXPECT_REJECT("{\"userId\":\"u\",", "invalid JSON: unexpected end of input");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1",
				  "invalid JSON: unexpected end of input");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1 \n",
				  "invalid JSON: unexpected end of input");
	EXPECT_REJECT("{\"userId\":\"u", "invalid JSON: unexpected end of input");
	EXPECT_REJECT("nul", "invalid JSON: unexpected end of input");

	/* trailing garbage */
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1} x",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}{}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}\n{}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1},",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("1 2", "invalid JSON: ");
	{
		static const char buf[] =
			"{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}\0x";
		static const char buf2[] =
			"{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1} \0";

		EXPECT_REJECT_LEN(buf, sizeof(buf) - 1,
						  "invalid JSON: unexpected characters after the event at offset 45");
		EXPECT_REJECT_LEN(buf2, sizeof(buf2) - 1,
						  "invalid JSON: unexpected characters after the event at offset 46");
	}
	/* a raw NUL inside the document */
	{
		static const char buf[] =
			"{\"userId\":\"a\0b\",\"name\":\"add_revenue\",\"value\":1}";

		EXPECT_REJECT_PREFIX(buf, "invalid JSON: ");	/* strlen stops at NUL */
		check_reject(buf, sizeof(buf) - 1, "invalid JSON: ", MATCH_PREFIX,
					 __func__, __LINE__);
	}

	/* not JSON */
	EXPECT_REJECT_PREFIX("{'userId':'u','name':'add_revenue','value':1}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"u\" /* c */,\"name\":\"add_revenue\",\"value\":1}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{userId:\"u\",\"name\":\"add_revenue\",\"value\":1}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"\\x41\",\"name\":\"add_revenue\",\"value\":1}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("{\"userId\":\"\\u12\",\"name\":\"add_revenue\",\"value\":1}",
						 "invalid JSON: ");
	EXPECT_REJECT_PREFIX("}", "invalid JSON: ");
	EXPECT_REJECT_PREFIX("undefined", "invalid JSON: ");

	/* a byte order mark is not JSON */
	EXPECT_REJECT_PREFIX("\xef\xbb\xbf{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}",
						 "invalid JSON: ");

	/* invalid UTF-8, in a field we read or in one we ignore */
	EXPECT_REJECT("{\"userId\":\"\xff\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"a\xc3\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"\xc0\xaf\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"\xe0\x80\xaf\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"\xed\xa0\x80\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"\xf4\x90\x80\x80\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"u\",\"x\":\"\xfe\",\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: invalid UTF-8");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}\xc3",
				  "invalid JSON: invalid UTF-8");

	/* nesting: too deep is refused, moderate nesting in an extra field is fine */
	json = repeat_str("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"x\":",
					  "[", 20, "");
	{
		char	   *full = repeat_str(json, "]", 20, "}");

		EXPECT_EVENT(full, "u", EV_NAME_ADD_REVENUE, UNITS(1));
		free(full);
	}
	free(json);
	json = repeat_str("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"x\":",
					  "[", 1000, "");
	{
		char	   *full = repeat_str(json, "]", 1000, "}");

		EXPECT_REJECT_PREFIX(full, "invalid JSON: ");
		free(full);
	}
	free(json);
	json = repeat_str("", "{\"a\":", 100000, "");
	EXPECT_REJECT_PREFIX(json, "invalid JSON: ");
	free(json);
}

/* EXPECT_USER(quoted, user): {"userId":<quoted>,...} is accepted as user */
#define EXPECT_USER(quoted, user) \
	do { \
		char	   *json_ = user_event(quoted); \
		EXPECT_EVENT(json_, (user), EV_NAME_ADD_REVENUE, UNITS(1)); \
		free(json_); \
	} while (0)

/* EXPECT_USER_REJECT(quoted, msg): {"userId":<quoted>,...} is refused */
#define EXPECT_USER_REJECT(quoted, msg) \
	do { \
		char	   *json_ = user_event(quoted); \
		EXPECT_REJECT(json_, (msg)); \
		free(json_); \
	} while (0)

/*
 * ev_parse_event: strings must be what RFC 8259 allows, and reach us
 * intact: no raw control characters, no lone surrogates, no NUL in a
 * member name, in any string of the body.
 */
static void
test_parse_strings(void)
{
	/* surrogate pairs decode to one 4-byte character, in either case */
	EXPECT_USER("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
	EXPECT_USER("\"\\uD83D\\uDE00\"", "\xf0\x9f\x98\x80");
	EXPECT_USER("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80");	/* U+10000 */
	EXPECT_USER("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf");	/* U+10FFFF */
	EXPECT_USER("\"a\\ud83d\\ude00b\\ud83d\\ude01\"",
				"a\xf0\x9f\x98\x80" "b\xf0\x9f\x98\x81");
	/* just outside the surrogate range, and U+FFFD itself */
	EXPECT_USER("\"\\ud7ff\"", "\xed\x9f\xbf");
	EXPECT_USER("\"\\ue000\"", "\xee\x80\x80");
	EXPECT_USER("\"\\ufffd\"", "\xef\xbf\xbd");
	/* an escaped backslash before "ud800" is no escape */
	EXPECT_USER("\"a\\\\ud800\"", "a\\ud800");
	/* escaped control characters are fine, and DEL needs no escape */
	EXPECT_USER("\"a\\tb\\u0001\\u001f\"", "a\tb\x01\x1f");
	EXPECT_USER("\"a\x7f\"", "a\x7f");
	/* white space between tokens is no string content, after any escapes */
	EXPECT_EVENT("{\n\t\"userId\": \"a\\\"b\\\\\",\r\n\t\"x\": [\"\\\\\", \"\\\"\"],\n"
				 "\t\"name\": \"add_revenue\",\n\t\"value\": 1,\n\t\"long member name\": "
				 "\"a long value, to be skipped eight bytes at a time\"\n}\n",
				 "a\"b\\", EV_NAME_ADD_REVENUE, UNITS(1));
	/* NUL in a value we ignore is valid JSON */
	EXPECT_EVENT("{\"userId\":\"u\",\"x\":\"\\u0000\",\"name\":\"add_revenue\",\"value\":1}",
				 "u", EV_NAME_ADD_REVENUE, UNITS(1));

	/* lone surrogates: json-c would merge them all into U+FFFD */
	EXPECT_USER_REJECT("\"\\ud800\"",
					   "invalid JSON: lone surrogate \\ud800 at offset 11");
	EXPECT_USER_REJECT("\"\\udc00\"",
					   "invalid JSON: lone surrogate \\udc00 at offset 11");
	EXPECT_USER_REJECT("\"\\uDFFF\"",
					   "invalid JSON: lone surrogate \\uDFFF at offset 11");
	EXPECT_USER_REJECT("\"\\ud800x\"",
					   "invalid JSON: lone surrogate \\ud800 at offset 11");
	EXPECT_USER_REJECT("\"x\\ud83d\"",
					   "invalid JSON: lone surrogate \\ud83d at offset 12");
	EXPECT_USER_REJECT("\"\\ude00\\ud83d\"",	/* the wrong order */
					   "invalid JSON: lone surrogate \\ude00 at offset 11");
	EXPECT_USER_REJECT("\"\\ud800\\ud800\"",
					   "invalid JSON: lone surrogate \\ud800 at offset 11");
	EXPECT_USER_REJECT("\"\\ud800\\ud800\\udc00\"",
					   "invalid JSON: lone surrogate \\ud800 at offset 11");

	/*
	 * A parse that fails inside a \u escape leaves nothing behind for the
	 * next one: json_tokener_reset kept a pending high surrogate, which
	 * became a U+FFFD in the next event's userId (another client's).
	 */
	{
		static const char *const poison[] = {
			"\"\\ud83d\\uZZZZ\"", "\"\\ud83d\\u00\"", "\"\\ud83d\\u",
			"\"\\ud83d\\", "\"\\u00", "\"\\ud83d\\x\""
		};

		for (size_t i = 0; i < sizeof(poison) / sizeof(poison[0]); i++)
		{
			char	   *json = user_event(poison[i]);

			EXPECT_REJECT_PREFIX(json, "invalid JSON");
			free(json);
			EXPECT_USER("\"a\\u0041b\\ud83d\\ude00\"", "aAb\xf0\x9f\x98\x80");
		}
	}
	EXPECT_USER_REJECT("\"\\ud83d\\ude00\\udc00\"",
					   "invalid JSON: lone surrogate \\udc00 at offset 23");
	EXPECT_USER_REJECT("\"\\ud800\\u0041\"",
					   "invalid JSON: lone surrogate \\ud800 at offset 11");
	EXPECT_USER_REJECT("\"\\ud83d\\\\ude00\"",	/* the low half is text */
					   "invalid JSON: lone surrogate \\ud83d at offset 11");
	EXPECT_USER_REJECT("\"\\ud83d\\n\"",
					   "invalid JSON: lone surrogate \\ud83d at offset 11");
	/* in every other string: name, eventId, ignored values, member names */
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\\udc00\",\"value\":1}",
				  "invalid JSON: lone surrogate \\udc00 at offset 33");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"eventId\":\"e\\ud800\"}",
				  "invalid JSON: lone surrogate \\ud800 at offset 57");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"x\":[{\"y\":\"\\ud800\"}]}",
				  "invalid JSON: lone surrogate \\ud800 at offset 56");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"\\udc00\":1}",
				  "invalid JSON: lone surrogate \\udc00 at offset 46");
	/* a lone surrogate in an eventId would merge ids: refused too */
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"eventId\":\"\\udfff\"}",
				  "invalid JSON: lone surrogate \\udfff at offset 56");

	/* raw control characters, anywhere in a string */
	EXPECT_USER_REJECT("\"a\x01" "b\"",
					   "invalid JSON: raw control character in a string at offset 12");
	EXPECT_USER_REJECT("\"\x1f\"",
					   "invalid JSON: raw control character in a string at offset 11");
	EXPECT_USER_REJECT("\"a\tb\"",
					   "invalid JSON: raw control character in a string at offset 12");
	EXPECT_USER_REJECT("\"a\nb\"",
					   "invalid JSON: raw control character in a string at offset 12");
	EXPECT_USER_REJECT("\"a\rb\"",
					   "invalid JSON: raw control character in a string at offset 12");
	{
		static const char buf[] =
			"{\"userId\":\"a\0b\",\"name\":\"add_revenue\",\"value\":1}";

		EXPECT_REJECT_LEN(buf, sizeof(buf) - 1,
						  "invalid JSON: raw control character in a string at offset 12");
	}
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\x02\",\"value\":1}",
				  "invalid JSON: raw control character in a string at offset 33");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"eventId\":\"e\x1b\"}",
				  "invalid JSON: raw control character in a string at offset 57");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"x\":[\"\t\"]}",
				  "invalid JSON: raw control character in a string at offset 51");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"a\nb\":1}",
				  "invalid JSON: raw control character in a string at offset 47");
	/* the first problem is reported */
	EXPECT_USER_REJECT("\"\\ud800\x01\"",
					   "invalid JSON: lone surrogate \\ud800 at offset 11");
	EXPECT_USER_REJECT("\"\x01\\ud800\"",
					   "invalid JSON: raw control character in a string at offset 11");
	/* outside strings, a control character is json-c's to refuse */
	EXPECT_REJECT("{\"userId\":\"u\",\x01\"name\":\"add_revenue\",\"value\":1}",
				  "invalid JSON: quoted object property name expected at offset 14");

	/*
	 * \u0000 in a member name: json-c cuts the name there, so
	 * "userId\u0000" would be taken for userId
	 */
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"userId\\u0000\":\"v\"}",
				  "member name must not contain NUL characters (\\u0000 at offset 52)");
	EXPECT_REJECT("{\"value\\u0000x\" : 5,\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}",
				  "member name must not contain NUL characters (\\u0000 at offset 7)");
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"x\":{\"\\u0000\":1}}",
				  "member name must not contain NUL characters (\\u0000 at offset 51)");
	/* a NUL in a userId is refused by name, as before */
	EXPECT_USER_REJECT("\"a\\u0000\"", "userId must not contain NUL characters");

	/* the parser is fine afterwards */
	EXPECT_USER("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80");
}

/*
 * ev_parse_batch and journal_line_parse: the same string checks for every
 * event of a JSON array or NDJSON body, and for a journal line
 */
static void
test_parse_strings_batch(void)
{
	EvEvent    *events;
	EvEvent		ev;
	size_t		n;
	bool		is_batch;
	long		bad;
	char		err[EV_ERROR_BUFSZ];
	const char *body;

	body = "[{\"userId\":\"\\ud83d\\ude00\",\"name\":\"add_revenue\",\"value\":1},"
		"{\"userId\":\"\\ud800\",\"name\":\"add_revenue\",\"value\":1}]";
	CHECK(!ev_parse_batch(parser, body, strlen(body), false, 100, &events, &n,
						  &is_batch, &bad, err, sizeof(err)));
	CHECK_STR_EQ(err, "invalid JSON: lone surrogate \\ud800 at offset 69");
	CHECK_INT_EQ(bad, -1);
	CHECK(events == NULL);

	body = "[{\"userId\":\"a\",\"name\":\"add_revenue\",\"value\":1},"
		"{\"userId\":\"a\x01\",\"name\":\"add_revenue\",\"value\":1}]";
	CHECK(!ev_parse_batch(parser, body, strlen(body), false, 100, &events, &n,
						  &is_batch, &bad, err, sizeof(err)));
	CHECK_STR_EQ(err, "invalid JSON: raw control character in a string at offset 59");

	body = "{\"userId\":\"\\ud83d\\ude00\",\"name\":\"add_revenue\",\"value\":1}\n"
		"{\"userId\":\"\\udc00\",\"name\":\"add_revenue\",\"value\":1}\n";
	CHECK(!ev_parse_batch(parser, body, strlen(body), true, 100, &events, &n,
						  &is_batch, &bad, err, sizeof(err)));
	CHECK_STR_EQ(err, "event 1: invalid JSON: lone surrogate \\udc00 at offset 11");
	CHECK_INT_EQ(bad, 1);

	body = "{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1}\n"
		"{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,\"x\":\"\t\"}\n";
	CHECK(!ev_parse_batch(parser, body, strlen(body), true, 100, &events, &n,
						  &is_batch, &bad, err, sizeof(err)));
	CHECK_STR_EQ(err, "event 1: invalid JSON: raw control character in a string at offset 50");
	CHECK_INT_EQ(bad, 1);

	/* pairs are fine in a batch */
	body = "[{\"userId\":\"\\ud83d\\ude00\",\"name\":\"add_revenue\",\"value\":1},"
		"{\"userId\":\"\\uD83D\\uDE01\",\"name\":\"add_revenue\",\"value\":2}]";
	if (CHECK(ev_parse_batch(parser, body, strlen(body), false, 100, &events,
							 &n, &is_batch, &bad, err, sizeof(err))))
	{
		CHECK_INT_EQ(n, 2);
		CHECK_MEM_EQ(events[0].user_id, events[0].user_id_len,
					 "\xf0\x9f\x98\x80", 4);
		CHECK_MEM_EQ(events[1].user_id, events[1].user_id_len,
					 "\xf0\x9f\x98\x81", 4);
		free(events);
	}

	/* journal lines, as in a dropped file */
	body = "{\"userId\":\"\\ud800\",\"name\":\"add_revenue\",\"value\":1,"
		"\"receivedAt\":\"2026-01-01T00:00:00.000000Z\",\"clientAddr\":\"::1\"}";
	CHECK(!journal_line_parse(parser, body, strlen(body), &ev, err, sizeof(err)));
	CHECK_STR_EQ(err, "invalid JSON: lone surrogate \\ud800 at offset 11");
	body = "{\"userId\":\"a\x01\",\"name\":\"add_revenue\",\"value\":1,"
		"\"receivedAt\":\"2026-01-01T00:00:00.000000Z\",\"clientAddr\":\"::1\"}";
	CHECK(!journal_line_parse(parser, body, strlen(body), &ev, err, sizeof(err)));
	CHECK_STR_EQ(err, "invalid JSON: raw control character in a string at offset 12");
	body = "{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1,"
		"\"receivedAt\":\"2026-01-01T00:00:00.000000Z\",\"clientAddr\":\"::1\x7f\x1f\"}";
	CHECK(!journal_line_parse(parser, body, strlen(body), &ev, err, sizeof(err)));
	CHECK_STR_EQ(err, "invalid JSON: raw control character in a string at offset 106");
	body = "{\"userId\":\"\\ud83d\\ude00\",\"name\":\"add_revenue\",\"value\":1,"
		"\"receivedAt\":\"2026-01-01T00:00:00.000000Z\",\"clientAddr\":\"::1\"}";
	if (CHECK(journal_line_parse(parser, body, strlen(body), &ev, err,
								 sizeof(err))))
		CHECK_MEM_EQ(ev.user_id, ev.user_id_len, "\xf0\x9f\x98\x80", 4);
}

/*
 * Event types: any name the rule allows, the value optional until the
 * server types the event (ev_set_type), and what the event then counts
 */
static void
test_types(void)
{
	EvEvent		ev;
	EvEvent		before;
	char	   *json;
	EvEvent    *events;
	size_t		n;
	bool		is_batch;
	long		bad;
	char		err[EV_ERROR_BUFSZ];
	const char *body;

	/* any name the rule allows, at its boundaries */
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"refund\",\"value\":1}",
				 "u", "refund", UNITS(1));
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"Purchase.v2-EU_x\",\"value\":1}",
				 "u", "Purchase.v2-EU_x", UNITS(1));
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"a\",\"value\":1}", "u", "a", UNITS(1));
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"Add_revenue\",\"value\":1}",
				 "u", "Add_revenue", UNITS(1));
	json = repeat_str("{\"userId\":\"u\",\"name\":\"", "n", EV_NAME_MAX,
					  "\",\"value\":1}");
	{
		char	   *name = repeat_str("", "n", EV_NAME_MAX, "");

		EXPECT_EVENT(json, "u", name, UNITS(1));
		free(name);
	}
	free(json);
	json = repeat_str("{\"userId\":\"u\",\"name\":\"", "n", EV_NAME_MAX + 1,
					  "\",\"value\":1}");
	EXPECT_REJECT(json, NAME_BAD);
	free(json);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"1a\",\"value\":1}", NAME_BAD);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"a b\",\"value\":1}", NAME_BAD);

	/* the value is optional; null is none */
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"signup\"}", "u", "signup", NO_VALUE);
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"add_revenue\"}", "u",
				 "add_revenue", NO_VALUE);
	EXPECT_EVENT(VALUE_EVENT("null"), "u", "add_revenue", NO_VALUE);
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"s\",\"eventId\":\"e\"}", "u", "s",
				 NO_VALUE);
	EXPECT_EVENT(VALUE_EVENT("0"), "u", "add_revenue", 0);

	/* a request body cannot set its type: metric and effect are ignored */
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"x\",\"value\":1,\"metric\":\"m\","
				 "\"effect\":\"count\"}", "u", "x", UNITS(1));
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"x\",\"metric\":1,\"effect\":\"bad\"}",
				 "u", "x", NO_VALUE);
	EXPECT_EVENT("{\"userId\":\"u\",\"name\":\"x\",\"metric\":\"m\"}", "u", "x", NO_VALUE);

	/* batches: any names, values optional */
	body = "[{\"userId\":\"a\",\"name\":\"signup\"},"
		"{\"userId\":\"b\",\"name\":\"refund\",\"value\":2.5}]";
	if (CHECK(ev_parse_batch(parser, body, strlen(body), false, 100, &events,
							 &n, &is_batch, &bad, err, sizeof(err))))
	{
		CHECK_INT_EQ(n, 2);
		CHECK_STR_EQ(events[0].name, "signup");
		CHECK(!events[0].has_value && events[0].value == 0 && !events[0].typed);
		CHECK_STR_EQ(events[1].name, "refund");
		CHECK(events[1].has_value && events[1].value == 2500000000 &&
			  !events[1].typed);
		free(events);
	}
	body = "{\"userId\":\"a\",\"name\":\"signup\"}\n"
		"{\"userId\":\"b\",\"name\":\"-x\",\"value\":1}\n";
	CHECK(!ev_parse_batch(parser, body, strlen(body), true, 100, &events,
						  &n, &is_batch, &bad, err, sizeof(err)));
	CHECK_STR_EQ(err, "event 1: " NAME_BAD);
	CHECK_INT_EQ(bad, 1);

	/* ev_set_type: a count needs no value, ignores one, counts one */
	body = "{\"userId\":\"u\",\"name\":\"signup\"}";
	if (check_parse_ok(body, strlen(body), &ev, __func__, __LINE__))
	{
		CHECK(ev_set_type(&ev, "signups", 7, EV_EFFECT_COUNT) == NULL);
		CHECK(ev.typed && ev.effect == EV_EFFECT_COUNT && !ev.has_value);
		CHECK_MEM_EQ(ev.metric, ev.metric_len, "signups", 7);
		CHECK(ev.metric[7] == '\0');
		CHECK_I128_EQ(ev_event_delta(&ev), (ev_int128) EV_SCALE);
		/* typed again, as the server may: the last type holds */
		CHECK(ev_set_type(&ev, "s", 1, EV_EFFECT_COUNT) == NULL);
		CHECK_STR_EQ(ev.metric, "s");
		CHECK_INT_EQ(ev.metric_len, 1);
	}
	if (check_parse_ok(VALUE_EVENT("7.5"), strlen(VALUE_EVENT("7.5")), &ev,
					   __func__, __LINE__))
	{
		CHECK(ev_set_type(&ev, "n", 1, EV_EFFECT_COUNT) == NULL);
		CHECK_I128_EQ(ev_event_delta(&ev), (ev_int128) EV_SCALE);
		CHECK_I128_EQ(ev.value, (ev_int128) 7500000000);
		CHECK(ev_set_type(&ev, "revenue", 7, EV_EFFECT_ADD) == NULL);
		CHECK_I128_EQ(ev_event_delta(&ev), (ev_int128) 7500000000);
		CHECK(ev_set_type(&ev, "revenue", 7, EV_EFFECT_SUBTRACT) == NULL);
		CHECK_I128_EQ(ev_event_delta(&ev), -(ev_int128) 7500000000);
		CHECK(ev.typed && ev.effect == EV_EFFECT_SUBTRACT);
	}

	/* add and subtract need a value: refused, the event left as it was */
	body = "{\"userId\":\"u\",\"name\":\"add_revenue\"}";
	if (check_parse_ok(body, strlen(body), &ev, __func__, __LINE__))
	{
		before = ev;
		CHECK_STR_EQ(ev_set_type(&ev, "revenue", 7, EV_EFFECT_ADD),
					 "value is required");
		CHECK_STR_EQ(ev_set_type(&ev, "revenue", 7, EV_EFFECT_SUBTRACT),
					 "value is required");
		CHECK(memcmp(&before, &ev, sizeof(ev)) == 0);
		CHECK(!ev.typed);
		/* and a metric or effect the rules refuse */
		CHECK_STR_EQ(ev_set_type(&ev, "", 0, EV_EFFECT_COUNT), METRIC_BAD);
		CHECK_STR_EQ(ev_set_type(&ev, "1m", 2, EV_EFFECT_COUNT), METRIC_BAD);
		CHECK_STR_EQ(ev_set_type(&ev, "m m", 3, EV_EFFECT_COUNT), METRIC_BAD);
		json = repeat_str("", "m", EV_NAME_MAX + 1, "");
		CHECK_STR_EQ(ev_set_type(&ev, json, EV_NAME_MAX + 1, EV_EFFECT_COUNT),
					 METRIC_BAD);
		CHECK_STR_EQ(ev_set_type(&ev, "m", 1, (EvEffect) 3), EV_EFFECT_ERROR);
		CHECK(memcmp(&before, &ev, sizeof(ev)) == 0);
		CHECK(ev_set_type(&ev, json, EV_NAME_MAX, EV_EFFECT_COUNT) == NULL);
		CHECK_INT_EQ(ev.metric_len, EV_NAME_MAX);
		CHECK(ev.metric[EV_NAME_MAX] == '\0');
		free(json);
	}
}

/* expect_line: line is read as this event, typed or not */
static void
expect_line(const char *line, const char *name, ev_int128 value,
			const char *metric, EvEffect effect, const char *event_id,
			const char *func, int lineno)
{
	EvEvent		ev;
	char		err[EV_ERROR_BUFSZ] = "";

	memset(&ev, 0x5a, sizeof(ev));
	if (!unit_check(journal_line_parse(parser, line, strlen(line), &ev, err,
									   sizeof(err)),
					__FILE__, lineno, func, "line accepted: %s", err))
		return;
	unit_check(strcmp(ev.user_id, "u") == 0 && strcmp(ev.name, name) == 0 &&
			   ev.name_len == strlen(name), __FILE__, lineno, func,
			   "userId u, name %s (got %s)", name, ev.name);
	unit_check(ev.has_value == (value != NO_VALUE) &&
			   ev.value == (value == NO_VALUE ? 0 : value),
			   __FILE__, lineno, func, "value");
	unit_check(strcmp(ev.event_id, event_id) == 0 &&
			   ev.event_id_len == strlen(event_id), __FILE__, lineno, func,
			   "eventId %s (got %s)", event_id, ev.event_id);
	if (metric == NULL)
		unit_check(!ev.typed && ev.metric_len == 0 && ev.metric[0] == '\0',
				   __FILE__, lineno, func, "untyped");
	else
		unit_check(ev.typed && strcmp(ev.metric, metric) == 0 &&
				   ev.metric_len == strlen(metric) && ev.effect == effect,
				   __FILE__, lineno, func, "typed %s %d (got %d %s %d)",
				   metric, (int) effect, (int) ev.typed, ev.metric,
				   (int) ev.effect);
}

/* reject_line: line is refused with the message want */
static void
reject_line(const char *line, const char *want, const char *func, int lineno)
{
	EvEvent		ev;
	char		err[EV_ERROR_BUFSZ] = "";

	if (!unit_check(!journal_line_parse(parser, line, strlen(line), &ev, err,
										sizeof(err)),
					__FILE__, lineno, func, "line refused: %s", line))
		return;
	unit_check(strcmp(err, want) == 0, __FILE__, lineno, func,
			   "message \"%s\" (got \"%s\")", want, err);
}

#define EXPECT_LINE(line, name, value, metric, effect, id) \
	expect_line((line), (name), (value), (metric), (effect), (id), \
				__func__, __LINE__)
#define REJECT_LINE(line, msg) reject_line((line), (msg), __func__, __LINE__)

/* the tail of every journal line */
#define TAIL	",\"receivedAt\":\"2026-11-22T05:00:00.123456Z\",\"clientAddr\":\"::1\"}"

/*
 * journal_line_parse: the type a journal line records, or not
 */
static void
test_line_types(void)
{
	/* as written, for each effect, with and without an eventId */
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":1.5,"
				"\"metric\":\"revenue\",\"effect\":\"add\"" TAIL,
				"add_revenue", 1500000000, "revenue", EV_EFFECT_ADD, "");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"refund\",\"value\":2,"
				"\"metric\":\"revenue\",\"effect\":\"subtract\","
				"\"eventId\":\"e1\"" TAIL,
				"refund", UNITS(2), "revenue", EV_EFFECT_SUBTRACT, "e1");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"signup\",\"value\":0,"
				"\"metric\":\"signups\",\"effect\":\"count\"" TAIL,
				"signup", 0, "signups", EV_EFFECT_COUNT, "");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"signup\",\"value\":3,"
				"\"metric\":\"signups\",\"effect\":\"count\",\"eventId\":\"x\"" TAIL,
				"signup", UNITS(3), "signups", EV_EFFECT_COUNT, "x");

	/* in another layout, or with extra members: the same */
	EXPECT_LINE("{\"effect\":\"subtract\",\"metric\":\"m\",\"userId\":\"u\","
				"\"name\":\"n\",\"value\":1}", "n", UNITS(1), "m",
				EV_EFFECT_SUBTRACT, "");
	EXPECT_LINE("{ \"userId\" : \"u\", \"name\" : \"n\", \"metric\" : \"m\", "
				"\"effect\" : \"count\", \"x\": [null] }", "n", NO_VALUE, "m",
				EV_EFFECT_COUNT, "");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"a\","
				"\"effect\":\"add\",\"metric\":\"b\",\"effect\":\"subtract\"}",
				"n", UNITS(1), "b", EV_EFFECT_SUBTRACT, "");

	/* without a type (older versions, files dropped by hand): untyped */
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":100" TAIL,
				"add_revenue", UNITS(100), NULL, 0, "");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"subtract_revenue\",\"value\":1,"
				"\"eventId\":\"e\"" TAIL,
				"subtract_revenue", UNITS(1), NULL, 0, "e");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"signup\"}", "signup", NO_VALUE,
				NULL, 0, "");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"refund\",\"value\":5}", "refund",
				UNITS(5), NULL, 0, "");
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":null,"
				"\"effect\":null}", "n", UNITS(1), NULL, 0, "");

	/* a count needs no value; add and subtract do */
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"signup\",\"metric\":\"signups\","
				"\"effect\":\"count\"" TAIL, "signup", NO_VALUE, "signups",
				EV_EFFECT_COUNT, "");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"add_revenue\",\"metric\":\"revenue\","
				"\"effect\":\"add\"" TAIL, "value is required");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"x\",\"value\":null,\"metric\":\"m\","
				"\"effect\":\"subtract\"}", "value is required");

	/* metric and effect together, each valid */
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\"" TAIL,
				"metric and effect must be given together");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"effect\":\"add\"" TAIL,
				"metric and effect must be given together");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":null}", "metric and effect must be given together");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":\"Add\"" TAIL, EV_EFFECT_ERROR);
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":\"\"" TAIL, EV_EFFECT_ERROR);
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":\"set\"" TAIL, EV_EFFECT_ERROR);
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":\"add\\u0000\"" TAIL, EV_EFFECT_ERROR);
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":1" TAIL, "effect must be a string");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":[],"
				"\"effect\":\"add\"" TAIL, "metric must be a string");
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"\","
				"\"effect\":\"add\"" TAIL, METRIC_BAD);
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":\"a b\","
				"\"effect\":\"add\"" TAIL, METRIC_BAD);
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":"
				"\"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\","
				"\"effect\":\"add\"" TAIL, METRIC_BAD);
	EXPECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":1,\"metric\":"
				"\"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm\","
				"\"effect\":\"add\"" TAIL, "n", UNITS(1),
				"mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm",
				EV_EFFECT_ADD, "");
	/* the fields of the event first */
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"n\",\"value\":-1,\"metric\":\"m\"" TAIL,
				"value must be a non-negative number");

	/*
	 * The fast path scans strings eight bytes at a time: a non-ASCII byte,
	 * a control character or a quote at any offset of a string is seen.
	 */
	for (int i = 0; i < 20; i++)
	{
		char		line[256];
		char		user[32];
		EvEvent		ev;
		char		err[EV_ERROR_BUFSZ];

		memset(user, 'a', 21);
		memcpy(user + i, "\xc3\xa9", 2);
		user[21] = '\0';
		snprintf(line, sizeof(line), "{\"userId\":\"%s\",\"name\":\"n\",\"value\":1,"
				 "\"metric\":\"m\",\"effect\":\"add\"" TAIL, user);
		if (CHECK(journal_line_parse(parser, line, strlen(line), &ev, err,
									 sizeof(err))))
			CHECK(ev.user_id_len == 21 && memcmp(ev.user_id, user, 21) == 0 &&
				  ev.typed);
		user[i] = '\xff';
		snprintf(line, sizeof(line), "{\"userId\":\"%s\",\"name\":\"n\",\"value\":1,"
				 "\"metric\":\"m\",\"effect\":\"add\"" TAIL, user);
		REJECT_LINE(line, "invalid JSON: invalid UTF-8");
		user[i] = '\x1f';
		user[i + 1] = 'a';
		snprintf(line, sizeof(line), "{\"userId\":\"%s\",\"name\":\"n\",\"value\":1,"
				 "\"metric\":\"m\",\"effect\":\"add\"" TAIL, user);
		snprintf(err, sizeof(err),
				 "invalid JSON: raw control character in a string at offset %d",
				 11 + i);
		REJECT_LINE(line, err);
		user[i] = '"';
		snprintf(line, sizeof(line), "{\"userId\":\"%s\",\"name\":\"n\",\"value\":1,"
				 "\"metric\":\"m\",\"effect\":\"add\"" TAIL, user);
		CHECK(!journal_line_parse(parser, line, strlen(line), &ev, err,
								  sizeof(err)));
		user[i] = '\xe9';
		snprintf(line, sizeof(line), "{\"userId\":\"u\",\"name\":\"n\",\"value\":1,"
				 "\"metric\":\"m\",\"effect\":\"add\",\"eventId\":\"%s\"" TAIL, user);
		REJECT_LINE(line, "invalid JSON: invalid UTF-8");
	}
	REJECT_LINE("{\"userId\":\"u\",\"name\":\"_n\",\"value\":1,\"metric\":\"m\","
				"\"effect\":\"add\"" TAIL, NAME_BAD);
}

/*
 * ev_decimal_parse and ev_decimal_format
 */
static void
check_decimal(const char *lit, ev_int128 want, const char *func, int line)
{
	ev_int128	got = -12345;
	const char *msg = ev_decimal_parse(lit, strlen(lit), &got);

	if (!unit_check(msg == NULL, __FILE__, line, func,
					"ev_decimal_parse(\"%s\") accepted (got \"%s\")", lit,
					msg ? msg : ""))
		return;
	check_i128(got, want, lit, func, line);
}

static void
check_decimal_error(const char *lit, const char *want, const char *func,
					int line)
{
	ev_int128	got = -12345;
	const char *msg = ev_decimal_parse(lit, strlen(lit), &got);

	unit_check(msg != NULL && strcmp(msg, want) == 0, __FILE__, line, func,
			   "ev_decimal_parse(\"%s\"): got \"%s\", want \"%s\"", lit,
			   msg ? msg : "(accepted)", want);
	unit_check(got == -12345, __FILE__, line, func,
			   "ev_decimal_parse(\"%s\") leaves *out alone on error", lit);
}

#define EXPECT_DECIMAL(lit, want) check_decimal((lit), (want), __func__, __LINE__)
#define EXPECT_DECIMAL_ERROR(lit, msg) \
	check_decimal_error((lit), (msg), __func__, __LINE__)

static void
check_format(ev_int128 v, const char *want, const char *func, int line)
{
	char		buf[EV_DECIMAL_BUFSZ];
	size_t		len;

	memset(buf, 'x', sizeof(buf));
	len = ev_decimal_format(v, buf);
	unit_check_str(buf, want, __FILE__, line, func, "ev_decimal_format");
	unit_check(len == strlen(want), __FILE__, line, func,
			   "ev_decimal_format length (got %zu, want %zu)", len, strlen(want));
}

#define EXPECT_FORMAT(v, want) check_format((v), (want), __func__, __LINE__)

static void
test_decimal(void)
{
	static const char *const literals[] = {
		"0", "1", "0.1", "0.3", "0.000000001", "1.5", "10", "100",
		"123456789.123456789", "999999999999999999",
		"999999999999999999.999999999", "500000000000000000.5",
		"42.000000042"
	};
	ev_int128	a;
	ev_int128	b;
	char		buf[EV_DECIMAL_BUFSZ];

	EXPECT_DECIMAL("0", 0);
	EXPECT_DECIMAL("-0", 0);
	EXPECT_DECIMAL("0.000", 0);
	EXPECT_DECIMAL("0e999999999999", 0);
	EXPECT_DECIMAL("1", UNITS(1));
	EXPECT_DECIMAL("1e2", UNITS(100));
	EXPECT_DECIMAL("1.5E1", UNITS(15));
	EXPECT_DECIMAL("1E+2", UNITS(100));
	EXPECT_DECIMAL("0.1", (ev_int128) 100000000);
	EXPECT_DECIMAL("1e-9", (ev_int128) 1);
	EXPECT_DECIMAL("123456789e-9", (ev_int128) 123456789);
	EXPECT_DECIMAL("0.0000000010", (ev_int128) 1);
	EXPECT_DECIMAL("999999999999999999", UNITS(999999999999999999LL));
	EXPECT_DECIMAL("999999999999999999.999999999", MAX_VALUE);
	EXPECT_DECIMAL("999999999999999999999999999e-9", MAX_VALUE);

	EXPECT_DECIMAL_ERROR("-1", "value must be a non-negative number");
	EXPECT_DECIMAL_ERROR("-0.1", "value must be a non-negative number");
	EXPECT_DECIMAL_ERROR("1e18", "value must be less than 10^18");
	EXPECT_DECIMAL_ERROR("1000000000000000000", "value must be less than 10^18");
	EXPECT_DECIMAL_ERROR("1e400", "value must be less than 10^18");
	EXPECT_DECIMAL_ERROR("99999999999999999999999", "value must be less than 10^18");
	EXPECT_DECIMAL_ERROR("0.0000000001",
						 "value must have at most 9 digits after the decimal point");
	EXPECT_DECIMAL_ERROR("1e-10",
						 "value must have at most 9 digits after the decimal point");
	EXPECT_DECIMAL_ERROR("", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("-", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("NaN", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("Infinity", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("-Infinity", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("+1", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR(".5", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("1.", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("01", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("00", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("-01", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("1e", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("1e+", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("1.e5", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("0x1", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("1 ", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR(" 1", "value must be a finite JSON number");
	EXPECT_DECIMAL_ERROR("1,5", "value must be a finite JSON number");

	/* only len bytes are read */
	a = -1;
	CHECK(ev_decimal_parse("12345", 2, &a) == NULL);
	CHECK_I128_EQ(a, UNITS(12));

	/* at most 100 digits in the literal, significant or not */
	{
		char	   *lit = repeat_str("1.", "0", 99, "");	/* 100 digits */

		EXPECT_DECIMAL(lit, UNITS(1));
		free(lit);
		lit = repeat_str("1.", "0", 100, "");	/* 101 digits */
		EXPECT_DECIMAL_ERROR(lit, "value has too many digits");
		free(lit);
		lit = repeat_str("", "9", 101, "");
		EXPECT_DECIMAL_ERROR(lit, "value has too many digits");
		free(lit);
		lit = repeat_str("0.", "0", 99, "");	/* 100 digits */
		EXPECT_DECIMAL(lit, 0);
		free(lit);
		lit = repeat_str("0.", "0", 100, "");	/* 101 digits */
		EXPECT_DECIMAL_ERROR(lit, "value has too many digits");
		free(lit);
	}

	/* format */
	EXPECT_FORMAT(0, "0");
	EXPECT_FORMAT(1, "0.000000001");
	EXPECT_FORMAT(10, "0.00000001");
	EXPECT_FORMAT(100000000, "0.1");
	EXPECT_FORMAT(UNITS(1), "1");
	EXPECT_FORMAT(UNITS(100), "100");
	EXPECT_FORMAT(1500000000, "1.5");
	EXPECT_FORMAT(UNITS(1) + 1, "1.000000001");
	EXPECT_FORMAT(MAX_VALUE, "999999999999999999.999999999");
	EXPECT_FORMAT(UNITS(999999999999999999LL), "999999999999999999");
	/* whole numbers either side of the 64-bit shortcut */
	EXPECT_FORMAT(UNITS(18446744073LL), "18446744073");
	EXPECT_FORMAT(UNITS(18446744074LL), "18446744074");
	EXPECT_FORMAT(UNITS(18446744073LL) + 709551615, "18446744073.709551615");
	EXPECT_FORMAT(-UNITS(18446744074LL), "-18446744074");
	EXPECT_FORMAT(-1, "-0.000000001");
	EXPECT_FORMAT(-100000000, "-0.1");
	EXPECT_FORMAT(-UNITS(1), "-1");
	EXPECT_FORMAT(-1500000000, "-1.5");
	EXPECT_FORMAT(-MAX_VALUE, "-999999999999999999.999999999");
	/* sums of many events go beyond the per-event limit */
	EXPECT_FORMAT(MAX_VALUE * 1000, "999999999999999999999.999999");
	{
		ev_int128	max = (ev_int128) (((unsigned __int128) 1 << 127) - 1);
		ev_int128	min = -max - 1;

		EXPECT_FORMAT(max, "170141183460469231731687303715.884105727");
		EXPECT_FORMAT(min, "-170141183460469231731687303715.884105728");
	}

	/* round trips */
	for (size_t i = 0; i < sizeof(literals) / sizeof(literals[0]); i++)
	{
		size_t		len;

		a = -1;
		if (!CHECK_MSG(ev_decimal_parse(literals[i], strlen(literals[i]), &a) == NULL,
					   "ev_decimal_parse(\"%s\")", literals[i]))
			continue;
		len = ev_decimal_format(a, buf);
		CHECK_MEM_EQ(buf, len, literals[i], strlen(literals[i]));
		b = -1;
		CHECK(ev_decimal_parse(buf, len, &b) == NULL);
		CHECK_I128_EQ(b, a);
	}
	for (ev_int128 v = 0; v < MAX_VALUE; v = v * 7 + 3)
	{
		size_t		len = ev_decimal_format(v, buf);

		b = -1;
		if (CHECK_MSG(ev_decimal_parse(buf, len, &b) == NULL,
					  "parse of formatted \"%s\"", buf))
			CHECK_I128_EQ(b, v);
	}

	/* 0.1 + 0.2 is exactly 0.3 */
	CHECK(ev_decimal_parse("0.1", 3, &a) == NULL);
	CHECK(ev_decimal_parse("0.2", 3, &b) == NULL);
	ev_decimal_format(a + b, buf);
	CHECK_STR_EQ(buf, "0.3");
	ev_decimal_format(a - b, buf);
	CHECK_STR_EQ(buf, "-0.1");

	/* integers json-c has converted: the same rules as a literal */
	CHECK(ev_decimal_from_int64(0, &a) == NULL && a == 0);
	CHECK(ev_decimal_from_int64(999999999999999999LL, &a) == NULL &&
		  a == (ev_int128) 999999999999999999LL * EV_SCALE);
	CHECK_STR_EQ(ev_decimal_from_int64(1000000000000000000LL, &a),
				 "value must be less than 10^18");
	CHECK_STR_EQ(ev_decimal_from_int64(INT64_MAX, &a),
				 "value must be less than 10^18");
	CHECK_STR_EQ(ev_decimal_from_int64(-1, &a),
				 "value must be a non-negative number");
	CHECK_STR_EQ(ev_decimal_from_int64(INT64_MIN, &a),
				 "value must be a non-negative number");
}

/*
 * ev_json_quote and ev_json_error
 */
static void
check_quote(const char *s, size_t len, const char *want, const char *func,
			int line)
{
	char		out[1024];
	size_t		n;

	memset(out, 'x', sizeof(out));
	n = ev_json_quote(s, len, out, sizeof(out));
	unit_check_mem(out, n, want, strlen(want), __FILE__, line, func,
				   "ev_json_quote output");
	unit_check(out[n] == '\0', __FILE__, line, func,
			   "ev_json_quote terminates its output");
}

#define EXPECT_QUOTE(s, want) \
	check_quote((s), sizeof(s) - 1, (want), __func__, __LINE__)

static void
test_json_quote(void)
{
	char		out[256];
	char		ctl[5];
	size_t		n;

	EXPECT_QUOTE("", "\"\"");
	EXPECT_QUOTE("user1", "\"user1\"");
	EXPECT_QUOTE("a\"b", "\"a\\\"b\"");
	EXPECT_QUOTE("a\\b", "\"a\\\\b\"");
	EXPECT_QUOTE("\"\\", "\"\\\"\\\\\"");
	EXPECT_QUOTE("/", "\"/\"");
	EXPECT_QUOTE("\n\r\t", "\"\\n\\r\\t\"");
	EXPECT_QUOTE("\b\f", "\"\\u0008\\u000c\"");
	EXPECT_QUOTE("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	EXPECT_QUOTE("a\0b", "\"a\\u0000b\"");
	EXPECT_QUOTE(" ~", "\" ~\"");
	EXPECT_QUOTE("\xc3\xa9\xf0\x9f\x98\x80", "\"\xc3\xa9\xf0\x9f\x98\x80\"");
	/* invalid UTF-8 passes through (callers quote validated text) */
	EXPECT_QUOTE("\xff", "\"\xff\"");

	/* the worst case needs 6 * len + 3 bytes, and never more is written */
	memset(ctl, 1, sizeof(ctl));
	memset(out, 'x', sizeof(out));
	n = ev_json_quote(ctl, 5, out, 6 * 5 + 3);
	CHECK_INT_EQ(n, 32);
	CHECK_STR_EQ(out, "\"\\u0001\\u0001\\u0001\\u0001\\u0001\"");
	memset(out, 'x', sizeof(out));
	CHECK_INT_EQ(ev_json_quote(ctl, 5, out, 6 * 5 + 2), 0);
	CHECK(out[6 * 5 + 2] == 'x');
	memset(out, 'x', sizeof(out));
	CHECK_INT_EQ(ev_json_quote("abc", 3, out, 2), 0);
	CHECK_INT_EQ(ev_json_quote("", 0, out, 2), 0);
	CHECK(out[2] == 'x');
	CHECK_INT_EQ(ev_json_quote("", 0, out, 3), 2);
	CHECK_STR_EQ(out, "\"\"");
	{
		char		big[6 * 40 + 3];
		char		ctl40[40];

		memset(ctl40, 0x1b, sizeof(ctl40));
		for (size_t outlen = 0; outlen < sizeof(big); outlen++)
		{
			memset(big, 'x', sizeof(big));
			n = ev_json_quote(ctl40, sizeof(ctl40), big, outlen);
			if (n != 0)
				break;
			for (size_t i = outlen; i < sizeof(big); i++)
				if (big[i] != 'x')
				{
					CHECK_MSG(false, "ev_json_quote wrote past outlen %zu", outlen);
					break;
				}
		}
		CHECK_INT_EQ(ev_json_quote(ctl40, sizeof(ctl40), big, sizeof(big)),
					 6 * 40 + 2);
	}

	/* ev_json_error */
	memset(out, 'x', sizeof(out));
	n = ev_json_error("value must be a non-negative number", out, sizeof(out));
	CHECK_STR_EQ(out, "{\"error\": \"value must be a non-negative number\"}");
	CHECK_INT_EQ(n, strlen(out));
	n = ev_json_error("name must be \"add_revenue\" or \"subtract_revenue\"",
					  out, sizeof(out));
	CHECK_STR_EQ(out, "{\"error\": \"name must be \\\"add_revenue\\\" or \\\"subtract_revenue\\\"\"}");
	CHECK_INT_EQ(n, strlen(out));
	n = ev_json_error("a\\b\nc", out, sizeof(out));
	CHECK_STR_EQ(out, "{\"error\": \"a\\\\b\\nc\"}");
	CHECK_INT_EQ(n, strlen(out));
	n = ev_json_error("", out, sizeof(out));
	CHECK_STR_EQ(out, "{\"error\": \"\"}");
	CHECK_INT_EQ(n, 13);
	/* exactly large enough, and one byte short */
	CHECK_INT_EQ(ev_json_error("abc", out, 17), 16);
	CHECK_STR_EQ(out, "{\"error\": \"abc\"}");
	CHECK_INT_EQ(ev_json_error("abc", out, 16), 0);
	/* every message ev_parse_event makes fits an error buffer */
	{
		char		msg[EV_ERROR_BUFSZ];
		char		resp[EV_ERROR_BUFSZ * 6 + 16];

		memset(msg, '"', sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		n = ev_json_error(msg, resp, sizeof(resp));
		CHECK_INT_EQ(n, 2 * (EV_ERROR_BUFSZ - 1) + 13);
	}
}

/*
 * journal_line_format and ev_format_timestamp
 */

/* same_typed_event: do two typed events agree in every field? */
static bool
same_typed_event(const EvEvent *a, const EvEvent *b)
{
	return a->user_id_len == b->user_id_len &&
		memcmp(a->user_id, b->user_id, a->user_id_len) == 0 &&
		a->user_id[a->user_id_len] == '\0' &&
		a->name_len == b->name_len &&
		memcmp(a->name, b->name, a->name_len) == 0 &&
		a->name[a->name_len] == '\0' &&
		a->value == b->value && a->typed && b->typed &&
		a->metric_len == b->metric_len &&
		memcmp(a->metric, b->metric, a->metric_len) == 0 &&
		a->metric[a->metric_len] == '\0' &&
		a->effect == b->effect &&
		a->event_id_len == b->event_id_len &&
		memcmp(a->event_id, b->event_id, a->event_id_len) == 0 &&
		a->event_id[a->event_id_len] == '\0';
}

/*
 * check_line_round_trip: the journal line of ev parses back, with the fast
 * path and with json-c alone, to the same event and type, its value
 * written (0 for a count without one); without its newline too.
 */
static void
check_line_round_trip(const EvEvent *ev, const char *func, int line)
{
	char		buf[EV_LINE_MAX];
	char		err[EV_ERROR_BUFSZ];
	EvEvent		again;
	size_t		len;
	EvParser   *p = ev_parser_create();

	len = journal_line_format(ev, "2026-11-22T05:00:00.123456Z",
							  "2001:db8::ffff:192.0.2.1", buf, sizeof(buf));
	if (!unit_check(len > 0 && len == strlen(buf) && buf[len - 1] == '\n',
					__FILE__, line, func, "journal line formatted (len %zu)", len))
	{
		ev_parser_free(p);
		return;
	}
	for (int fast = 1; fast >= 0; fast--)
	{
		ev_parser_set_fast(p, fast);
		for (size_t l = len; l >= len - 1; l--)
		{
			memset(&again, 0x5a, sizeof(again));
			err[0] = '\0';
			if (!unit_check(journal_line_parse(p, buf, l, &again, err, sizeof(err)),
							__FILE__, line, func,
							"journal line parses back (fast %d): %s", fast, err))
				continue;
			unit_check(same_typed_event(&again, ev) && again.has_value,
					   __FILE__, line, func,
					   "round trip keeps the event and its type (fast %d)", fast);
		}
	}
	/* read as a request body, it is the same event, untyped */
	if (unit_check(ev_parse_event(p, buf, len, &again, err, sizeof(err)),
				   __FILE__, line, func, "journal line parses as an event: %s", err))
		unit_check(!again.typed && again.value == ev->value &&
				   again.name_len == ev->name_len,
				   __FILE__, line, func, "as an event, untyped");
	ev_parser_free(p);
}

/*
 * set_typed_event fills *ev as a parser would, then types it; value
 * NO_VALUE for none.
 */
static void
set_typed_event(EvEvent *ev, const char *user, size_t len, const char *name,
				const char *metric, EvEffect effect, ev_int128 value)
{
	memset(ev, 0, sizeof(EvEvent));
	memcpy(ev->user_id, user, len);
	ev->user_id[len] = '\0';
	ev->user_id_len = len;
	ev->name_len = strlen(name);
	memcpy(ev->name, name, ev->name_len + 1);
	ev->has_value = value != NO_VALUE;
	ev->value = ev->has_value ? value : 0;
	CHECK(ev_set_type(ev, metric, strlen(metric), effect) == NULL);
}

/* set_event: an add_revenue or subtract_revenue event of user */
static void
set_event(EvEvent *ev, const char *user, size_t len, const char *name,
		  ev_int128 value)
{
	set_typed_event(ev, user, len, name, EV_METRIC_REVENUE,
					strcmp(name, EV_NAME_ADD_REVENUE) == 0 ?
					EV_EFFECT_ADD : EV_EFFECT_SUBTRACT, value);
}

static void
test_journal_line(void)
{
	EvEvent		ev;
	char		buf[EV_LINE_MAX];
	char		ts[EV_TIMESTAMP_BUFSZ];
	struct timespec t;
	size_t		len;
	const char *want;

	set_event(&ev, "user1", 5, EV_NAME_ADD_REVENUE, UNITS(100));
	len = journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
							  "127.0.0.1", buf, sizeof(buf));
	want = "{\"userId\":\"user1\",\"name\":\"add_revenue\",\"value\":100,"
		"\"metric\":\"revenue\",\"effect\":\"add\","
		"\"receivedAt\":\"2026-11-22T05:00:00.123456Z\",\"clientAddr\":\"127.0.0.1\"}\n";
	CHECK_STR_EQ(buf, want);
	CHECK_INT_EQ(len, strlen(want));
	check_line_round_trip(&ev, __func__, __LINE__);

	set_event(&ev, "a\"b\\c\n\x01\x7f\xc3\xa9", 10, EV_NAME_SUBTRACT_REVENUE,
			  500000001);
	len = journal_line_format(&ev, "1970-01-01T00:00:00.000000Z", "::1",
							  buf, sizeof(buf));
	want = "{\"userId\":\"a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\",\"name\":\"subtract_revenue\","
		"\"value\":0.500000001,\"metric\":\"revenue\",\"effect\":\"subtract\","
		"\"receivedAt\":\"1970-01-01T00:00:00.000000Z\","
		"\"clientAddr\":\"::1\"}\n";
	CHECK_STR_EQ(buf, want);
	CHECK_INT_EQ(len, strlen(want));
	check_line_round_trip(&ev, __func__, __LINE__);

	/* a count, with an eventId: the value written is 0 */
	set_typed_event(&ev, "u", 1, "signup", "signups", EV_EFFECT_COUNT, NO_VALUE);
	memcpy(ev.event_id, "e-1", 4);
	ev.event_id_len = 3;
	len = journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
							  "127.0.0.1", buf, sizeof(buf));
	want = "{\"userId\":\"u\",\"name\":\"signup\",\"value\":0,"
		"\"metric\":\"signups\",\"effect\":\"count\",\"eventId\":\"e-1\","
		"\"receivedAt\":\"2026-11-22T05:00:00.123456Z\",\"clientAddr\":\"127.0.0.1\"}\n";
	CHECK_STR_EQ(buf, want);
	CHECK_INT_EQ(len, strlen(want));
	check_line_round_trip(&ev, __func__, __LINE__);

	/* too small an output buffer: 0, never an overrun */
	set_event(&ev, "user1", 5, EV_NAME_ADD_REVENUE, UNITS(100));
	len = journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
							  "127.0.0.1", buf, sizeof(buf));
	CHECK_INT_EQ(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									 "127.0.0.1", buf, len), 0);
	CHECK_INT_EQ(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									 "127.0.0.1", buf, len + 1), len);

	/* one request's tail, written once, gives the lines one at a time would */
	{
		JournalLineTail tail;
		char		again[EV_LINE_MAX];
		char		addr[EV_ADDR_BUFSZ * 2];

		const char *want_tail = ",\"receivedAt\":\"2026-11-22T05:00:00.123456Z\","
			"\"clientAddr\":\"127.0.0.1\"}\n";

		CHECK(journal_line_tail("2026-11-22T05:00:00.123456Z", "127.0.0.1",
								&tail));
		CHECK(tail.len == strlen(want_tail) &&
			  memcmp(tail.text, want_tail, tail.len) == 0);
		for (int i = 0; i < 3; i++)
		{
			set_event(&ev, i == 1 ? "u\"2" : "user1", i == 1 ? 3 : 5,
					  EV_NAME_ADD_REVENUE, UNITS(i));
			len = journal_line_format_tail(&ev, &tail, again, sizeof(again));
			CHECK_INT_EQ(len, journal_line_format(&ev,
												  "2026-11-22T05:00:00.123456Z",
												  "127.0.0.1", buf, sizeof(buf)));
			CHECK_STR_EQ(again, buf);
		}

		/*
		 * A receipt line: the tail as an object of its own, skipped by
		 * ingest; the lines after it end with the short tail, and parse to
		 * the same events, fast and with json-c alone.
		 */
		len = journal_line_receipt(&tail, again, sizeof(again));
		CHECK_STR_EQ(again, "{\"receivedAt\":\"2026-11-22T05:00:00.123456Z\","
					 "\"clientAddr\":\"127.0.0.1\"}\n");
		CHECK_INT_EQ(len, strlen(again));
		CHECK(journal_line_skipped(again, len - 1));
		CHECK(journal_line_skipped(again, len - 1 - 1) == false);	/* no '}' */
		CHECK_INT_EQ(journal_line_receipt(&tail, again, len), 0);
		CHECK_INT_EQ(journal_line_receipt(&tail, again, len + 1), len);
		{
			EvParser   *p = ev_parser_create();
			JournalLineTail short_tail;
			EvEvent		back;
			char		err[EV_ERROR_BUFSZ];

			/* a receipt line is no event: read as one, it is refused */
			CHECK(!journal_line_parse(p, again, len - 1, &back, err, sizeof(err)));
			journal_line_short_tail(&short_tail);
			set_event(&ev, "u\"2", 3, EV_NAME_ADD_REVENUE, UNITS(7));
			memcpy(ev.event_id, "e-1", 4);
			ev.event_id_len = 3;
			len = journal_line_format_tail(&ev, &short_tail, again, sizeof(again));
			CHECK_STR_EQ(again, "{\"userId\":\"u\\\"2\",\"name\":\"add_revenue\","
						 "\"value\":7,\"metric\":\"revenue\",\"effect\":\"add\","
						 "\"eventId\":\"e-1\"}\n");
			CHECK(!journal_line_skipped(again, len - 1));
			for (int fast = 1; fast >= 0; fast--)
			{
				ev_parser_set_fast(p, fast);
				memset(&back, 0x5a, sizeof(back));
				CHECK(journal_line_parse(p, again, len - 1, &back, err, sizeof(err)) &&
					  same_typed_event(&back, &ev));
			}
			ev_parser_free(p);
			ev.event_id[0] = '\0';
			ev.event_id_len = 0;
		}

		/* only the receipt line as written is skipped; anything else is an error */
		CHECK(journal_line_skipped("", 0));
		CHECK(journal_line_skipped(" \t\r", 3));
		{
			static const char *const not_skipped[] = {
				"{\"receivedAt\":\"t\"}",
				"{\"receivedAt\":\"t\",\"clientAddr\":\"a\"} ",
				" {\"receivedAt\":\"t\",\"clientAddr\":\"a\"}",
				"{\"receivedAt\": \"t\",\"clientAddr\":\"a\"}",
				"{\"receivedAt\":\"t\",\"clientAddr\":\"a\",\"userId\":\"u\"}",
				"{\"receivedAt\":\"t\\n\",\"clientAddr\":\"a\"}",
				"{\"receivedAt\":\"\xff\",\"clientAddr\":\"a\"}",
				"{\"clientAddr\":\"a\",\"receivedAt\":\"t\"}",
				"{}",
				"{",
			};

			for (size_t i = 0; i < sizeof(not_skipped) / sizeof(not_skipped[0]); i++)
				CHECK(!journal_line_skipped(not_skipped[i], strlen(not_skipped[i])));
			want = "{\"receivedAt\":\"t\",\"clientAddr\":\"a\"}";
			CHECK(journal_line_skipped(want, strlen(want)));
		}

		/* an address too long to write: no tail, and no line */
		memset(addr, '\x01', sizeof(addr) - 1);
		addr[sizeof(addr) - 1] = '\0';
		CHECK(!journal_line_tail("2026-11-22T05:00:00.123456Z", addr, &tail));
		CHECK_INT_EQ(journal_line_format_tail(&ev, &tail, again, sizeof(again)), 0);
	}

	/* only a typed event with a valid type is written */
	ev.typed = false;
	CHECK_INT_EQ(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									 "127.0.0.1", buf, sizeof(buf)), 0);
	set_event(&ev, "user1", 5, EV_NAME_ADD_REVENUE, UNITS(100));
	ev.effect = (EvEffect) 3;
	CHECK_INT_EQ(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									 "127.0.0.1", buf, sizeof(buf)), 0);
	set_event(&ev, "user1", 5, EV_NAME_ADD_REVENUE, UNITS(100));
	memcpy(ev.name, "a\"b", 4);
	ev.name_len = 3;
	CHECK_INT_EQ(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									 "127.0.0.1", buf, sizeof(buf)), 0);
	set_event(&ev, "user1", 5, EV_NAME_ADD_REVENUE, UNITS(100));
	ev.metric_len = 0;
	CHECK_INT_EQ(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
									 "127.0.0.1", buf, sizeof(buf)), 0);

	/* round trips of edge values and ids */
	set_event(&ev, "u", 1, EV_NAME_ADD_REVENUE, 0);
	check_line_round_trip(&ev, __func__, __LINE__);
	set_event(&ev, "u", 1, EV_NAME_ADD_REVENUE, 1);
	check_line_round_trip(&ev, __func__, __LINE__);
	set_event(&ev, "u", 1, EV_NAME_SUBTRACT_REVENUE, 100000000);
	check_line_round_trip(&ev, __func__, __LINE__);
	set_event(&ev, "u", 1, EV_NAME_ADD_REVENUE, MAX_VALUE);
	check_line_round_trip(&ev, __func__, __LINE__);
	set_event(&ev, "u", 1, EV_NAME_ADD_REVENUE, UNITS(999999999999999999LL));
	check_line_round_trip(&ev, __func__, __LINE__);
	{
		char		id[EV_USER_ID_MAX];
		char		name[EV_NAME_MAX + 1];

		/* the worst case for escaping still fits a journal line */
		memset(id, 0x01, sizeof(id));
		set_event(&ev, id, sizeof(id), EV_NAME_SUBTRACT_REVENUE, MAX_VALUE);
		check_line_round_trip(&ev, __func__, __LINE__);
		memset(name, 'n', EV_NAME_MAX);
		name[EV_NAME_MAX] = '\0';
		set_typed_event(&ev, id, sizeof(id), name, name, EV_EFFECT_SUBTRACT,
						MAX_VALUE);
		memset(ev.event_id, 0x01, EV_EVENT_ID_MAX);
		ev.event_id[EV_EVENT_ID_MAX] = '\0';
		ev.event_id_len = EV_EVENT_ID_MAX;
		check_line_round_trip(&ev, __func__, __LINE__);
		CHECK(journal_line_format(&ev, "2026-11-22T05:00:00.123456Z",
								  "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
								  buf, sizeof(buf)) > 0);

		for (size_t i = 0; i < sizeof(id); i++)
			id[i] = (char) (1 + i % 127);	/* every ASCII byte but NUL */
		set_event(&ev, id, sizeof(id), EV_NAME_ADD_REVENUE, 1);
		check_line_round_trip(&ev, __func__, __LINE__);
		memset(id, '"', sizeof(id));
		set_event(&ev, id, sizeof(id), EV_NAME_ADD_REVENUE, 1);
		check_line_round_trip(&ev, __func__, __LINE__);
		for (size_t i = 0; i + 4 <= sizeof(id); i += 4)
			memcpy(id + i, "\xf0\x9f\x98\x80", 4);
		set_event(&ev, id, sizeof(id) / 4 * 4, EV_NAME_ADD_REVENUE, 1);
		check_line_round_trip(&ev, __func__, __LINE__);
	}

	/* each effect, with and without a value and an eventId */
	for (int e = EV_EFFECT_ADD; e <= EV_EFFECT_COUNT; e++)
	{
		for (int with_id = 0; with_id <= 1; with_id++)
		{
			set_typed_event(&ev, "user-7", 6, "Type.v2-x_", "m.etric-1_",
							(EvEffect) e, (ev_int128) 1234567891);
			if (with_id)
			{
				memcpy(ev.event_id, "550e8400-e29b-41d4-a716-446655440000", 37);
				ev.event_id_len = 36;
			}
			check_line_round_trip(&ev, __func__, __LINE__);
			if (e == EV_EFFECT_COUNT)
			{
				set_typed_event(&ev, "user-7", 6, "c", "C", EV_EFFECT_COUNT,
								NO_VALUE);
				ev.event_id_len = with_id ? 1 : 0;
				memcpy(ev.event_id, with_id ? "x" : "", with_id + 1);
				check_line_round_trip(&ev, __func__, __LINE__);
			}
		}
	}

	/* ev_format_timestamp */
	t.tv_sec = 0;
	t.tv_nsec = 0;
	len = ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "1970-01-01T00:00:00.000000Z");
	CHECK_INT_EQ(len, 27);
	t.tv_sec = 1795323600;		/* 2026-11-22 05:00:00 UTC */
	t.tv_nsec = 123456789;
	len = ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "2026-11-22T05:00:00.123456Z");
	CHECK_INT_EQ(len, strlen(ts));
	t.tv_sec = 951782399;		/* 2000-02-28 23:59:59 UTC */
	t.tv_nsec = 999999999;
	ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "2000-02-28T23:59:59.999999Z");
	t.tv_sec = 951782400 + 86399;	/* 2000-02-29 23:59:59 UTC */
	t.tv_nsec = 1000;
	ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "2000-02-29T23:59:59.000001Z");
	t.tv_sec = 253402300799;	/* 9999-12-31 23:59:59 UTC */
	t.tv_nsec = 999;
	len = ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "9999-12-31T23:59:59.000000Z");
	CHECK_INT_EQ(len, 27);
	/* within one second only the microseconds change (the cached part) */
	t.tv_sec = 1795323600;
	t.tv_nsec = 5000;
	ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "2026-11-22T05:00:00.000005Z");
	t.tv_nsec = 987654000;
	len = ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "2026-11-22T05:00:00.987654Z");
	CHECK_INT_EQ(len, 27);
	t.tv_sec = 1795323601;
	t.tv_nsec = 0;
	ev_format_timestamp(&t, ts);
	CHECK_STR_EQ(ts, "2026-11-22T05:00:01.000000Z");
}

/*
 * ev_utf8_valid
 */
#define UTF8_OK(s)	CHECK_MSG(ev_utf8_valid((s), sizeof(s) - 1), "valid UTF-8: %s", #s)
#define UTF8_BAD(s) CHECK_MSG(!ev_utf8_valid((s), sizeof(s) - 1), "invalid UTF-8: %s", #s)

static void
test_utf8(void)
{
	UTF8_OK("");
	UTF8_OK("plain ASCII ~\x7f");
	UTF8_OK("a\0b");			/* NUL is valid UTF-8; callers check it */
	UTF8_OK("\xc2\x80");		/* U+0080, smallest 2-byte */
	UTF8_OK("\xc3\xa9");		/* é */
	UTF8_OK("\xdf\xbf");		/* U+07FF */
	UTF8_OK("\xe0\xa0\x80");	/* U+0800, smallest 3-byte */
	UTF8_OK("\xe2\x82\xac");	/* € */
	UTF8_OK("\xed\x9f\xbf");	/* U+D7FF, just below the surrogates */
	UTF8_OK("\xee\x80\x80");	/* U+E000, just above them */
	UTF8_OK("\xef\xbb\xbf");	/* BOM as a character */
	UTF8_OK("\xef\xbf\xbf");	/* U+FFFF */
	UTF8_OK("\xf0\x90\x80\x80");	/* U+10000, smallest 4-byte */
	UTF8_OK("\xf0\x9f\x98\x80");	/* emoji */
	UTF8_OK("\xf4\x8f\xbf\xbf");	/* U+10FFFF */
	UTF8_OK("a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80!");

	/* overlong */
	UTF8_BAD("\xc0\x80");
	UTF8_BAD("\xc0\xaf");
	UTF8_BAD("\xc1\xbf");
	UTF8_BAD("\xe0\x80\x80");
	UTF8_BAD("\xe0\x9f\xbf");
	UTF8_BAD("\xf0\x80\x80\x80");
	UTF8_BAD("\xf0\x8f\xbf\xbf");
	/* surrogates */
	UTF8_BAD("\xed\xa0\x80");
	UTF8_BAD("\xed\xad\xbf");
	UTF8_BAD("\xed\xb0\x80");
	UTF8_BAD("\xed\xbf\xbf");
	UTF8_BAD("\xed\xa0\xbd\xed\xb8\x80");	/* CESU-8 pair */
	/* beyond U+10FFFF */
	UTF8_BAD("\xf4\x90\x80\x80");
	UTF8_BAD("\xf5\x80\x80\x80");
	UTF8_BAD("\xf7\xbf\xbf\xbf");
	UTF8_BAD("\xf8\x88\x80\x80\x80");
	UTF8_BAD("\xfc\x84\x80\x80\x80\x80");
	UTF8_BAD("\xfe");
	UTF8_BAD("\xff");
	/* stray continuation bytes */
	UTF8_BAD("\x80");
	UTF8_BAD("\xbf");
	UTF8_BAD("a\x80z");
	UTF8_BAD("\xc3\xa9\xa9");
	/* truncated */
	UTF8_BAD("\xc3");
	UTF8_BAD("\xe2\x82");
	UTF8_BAD("\xe2");
	UTF8_BAD("\xf0\x9f\x98");
	UTF8_BAD("\xf0\x9f");
	UTF8_BAD("\xf0");
	UTF8_BAD("abc\xc3");
	/* broken: a lead byte followed by a non-continuation */
	UTF8_BAD("\xc3" "a");
	UTF8_BAD("\xe2\x82" "a");
	UTF8_BAD("\xf0\x9f\x98" "a");
	UTF8_BAD("\xe2" "a\x82");
	UTF8_BAD("\xc3\xc3\xa9");

	/* only len bytes are looked at */
	CHECK(!ev_utf8_valid("\xc3\xa9", 1));
	CHECK(ev_utf8_valid("a\xc3\xa9", 1));
	CHECK(!ev_utf8_valid("\xf0\x9f\x98\x80", 3));
	CHECK(ev_utf8_valid("\xf0\x9f\x98\x80", 4));
}

/*
 * ev_decode_user_id
 */
static void
check_decode(const char *in, const char *want, size_t wantlen,
			 const char *func, int line)
{
	char		out[EV_USER_ID_MAX + 1];
	size_t		outlen = 9999;
	const char *msg = ev_decode_user_id(in, out, &outlen);

	if (!unit_check(msg == NULL, __FILE__, line, func,
					"ev_decode_user_id(\"%.40s\") accepted (got \"%s\")", in,
					msg ? msg : ""))
		return;
	unit_check_mem(out, outlen, want, wantlen, __FILE__, line, func,
				   "decoded user id");
	unit_check(out[outlen] == '\0', __FILE__, line, func,
			   "decoded user id is NUL-terminated");
}

static void
check_decode_error(const char *in, const char *want, const char *func,
				   int line)
{
	char		out[EV_USER_ID_MAX + 1];
	size_t		outlen = 9999;
	const char *msg = ev_decode_user_id(in, out, &outlen);

	unit_check(msg != NULL && strcmp(msg, want) == 0, __FILE__, line, func,
			   "ev_decode_user_id(\"%.40s\"): got \"%s\", want \"%s\"", in,
			   msg ? msg : "(accepted)", want);
	unit_check(outlen == 9999, __FILE__, line, func,
			   "ev_decode_user_id leaves outlen alone on error");
}

#define EXPECT_DECODE(in, want) \
	check_decode((in), (want), sizeof(want) - 1, __func__, __LINE__)
#define EXPECT_DECODE_ERROR(in, msg) \
	check_decode_error((in), (msg), __func__, __LINE__)

static void
test_decode_user_id(void)
{
	char	   *in;
	char	   *want;

	EXPECT_DECODE("user1", "user1");
	EXPECT_DECODE("a", "a");
	EXPECT_DECODE("a%2Fb", "a/b");
	EXPECT_DECODE("a%2fb", "a/b");
	EXPECT_DECODE("%2F", "/");
	EXPECT_DECODE("%41%62c", "Abc");
	EXPECT_DECODE("%25", "%");
	EXPECT_DECODE("%2541", "%41");	/* decoded once only */
	EXPECT_DECODE("a+b", "a+b");	/* '+' is not a space in a path */
	EXPECT_DECODE("%20", " ");
	EXPECT_DECODE("%C3%A9", "\xc3\xa9");
	EXPECT_DECODE("%c3%a9", "\xc3\xa9");
	EXPECT_DECODE("\xc3\xa9", "\xc3\xa9");
	EXPECT_DECODE("%F0%9F%98%80", "\xf0\x9f\x98\x80");
	EXPECT_DECODE("%01%7F", "\x01\x7f");
	EXPECT_DECODE("a?b", "a?b");

	EXPECT_DECODE_ERROR("", "userId must not be empty");
	EXPECT_DECODE_ERROR("%00", "userId must not contain NUL characters");
	EXPECT_DECODE_ERROR("a%00b", "userId must not contain NUL characters");
	EXPECT_DECODE_ERROR("a/b", "userId must not contain '/' (encode it as %2F)");
	EXPECT_DECODE_ERROR("/", "userId must not contain '/' (encode it as %2F)");
	EXPECT_DECODE_ERROR("a/", "userId must not contain '/' (encode it as %2F)");
	EXPECT_DECODE_ERROR("%G1", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("%1G", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("%", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("a%", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("a%4", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("%%41", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("% 41", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("%-1", "userId has an invalid percent-encoding");
	EXPECT_DECODE_ERROR("%C3", "userId must be valid UTF-8");
	EXPECT_DECODE_ERROR("%C0%AF", "userId must be valid UTF-8");
	EXPECT_DECODE_ERROR("%ED%A0%80", "userId must be valid UTF-8");
	EXPECT_DECODE_ERROR("%FF", "userId must be valid UTF-8");
	EXPECT_DECODE_ERROR("\xff", "userId must be valid UTF-8");
	EXPECT_DECODE_ERROR("a%E2%82", "userId must be valid UTF-8");

	/* 255 bytes are fine, 256 are not, however they are spelled */
	in = repeat_str("", "a", 255, "");
	check_decode(in, in, 255, __func__, __LINE__);
	free(in);
	in = repeat_str("", "a", 256, "");
	EXPECT_DECODE_ERROR(in, "userId must be at most 255 bytes");
	free(in);
	in = repeat_str("", "%41", 255, "");
	want = repeat_str("", "A", 255, "");
	check_decode(in, want, 255, __func__, __LINE__);
	free(in);
	free(want);
	in = repeat_str("", "%41", 256, "");
	EXPECT_DECODE_ERROR(in, "userId must be at most 255 bytes");
	free(in);
	in = repeat_str("", "%E2%82%AC", 85, "");	/* 255 bytes */
	want = repeat_str("", "\xe2\x82\xac", 85, "");
	check_decode(in, want, 255, __func__, __LINE__);
	free(in);
	free(want);
	in = repeat_str("", "%E2%82%AC", 86, "");	/* 258 bytes */
	EXPECT_DECODE_ERROR(in, "userId must be at most 255 bytes");
	free(in);
	in = repeat_str("", "a", 100000, "");
	EXPECT_DECODE_ERROR(in, "userId must be at most 255 bytes");
	free(in);
}

/*
 * The rewrite that json-c 0.17 and later need (core/compat.h), tested on
 * every json-c: its exact output, offsets mapped back, and that the
 * parser reads non-ASCII user ids and reports wide integers (and offsets
 * after them) the same way whichever json-c it has.
 */
static void
test_json_compat(void)
{
	const char *in = "{\"userId\":\"Zo\xc3\xab \xe2\x82\xac\xf0\x9f\x98\x80\\\"\","
		"\"value\":-99999999999999999999999,\"a\":[18446744073709551616,"
		"18446744073709551615,-9223372036854775809,-9223372036854775808,"
		"1e99,0123,1.5,1e99999999999999999999,-1E+99999999999999999999]}";
	const char *want_esc = "{\"userId\":\"Zo\\u00eb \\u20ac\\ud83d\\ude00\\\"\","
		"\"value\":-99999999999999999999999.0,\"a\":[18446744073709551616.0,"
		"18446744073709551615,-9223372036854775809.0,-9223372036854775808,"
		"1e99,0123,1.5,1e99999999999999999999,-1E+99999999999999999999]}";
	const char *want_raw = "{\"userId\":\"Zo\xc3\xab \xe2\x82\xac\xf0\x9f\x98\x80\\\"\","
		"\"value\":-99999999999999999999999.0,\"a\":[18446744073709551616.0,"
		"18446744073709551615,-9223372036854775809.0,-9223372036854775808,"
		"1e99,0123,1.5,1e99999999999999999999,-1E+99999999999999999999]}";
	size_t		n = 0;
	char	   *out;
	const char *esc_at;

	out = compat_json_rewrite(in, strlen(in), true, &n);
	CHECK(out != NULL);
	if (out != NULL)
	{
		CHECK_MEM_EQ(out, n, want_esc, strlen(want_esc));
		/* the offset of "value" in the output is that in the input, +15 */
		esc_at = strstr(out, "\"value\"");
		CHECK_INT_EQ(compat_json_source_offset(in, strlen(in), true,
											   (size_t) (esc_at - out)),
					 (long) (strstr(in, "\"value\"") - in));
		/* inside an escape: the start of the character it stands for */
		CHECK_INT_EQ(compat_json_source_offset(in, strlen(in), true, 16), 13);
		free(out);
	}
	out = compat_json_rewrite(in, strlen(in), false, &n);
	CHECK(out != NULL);
	if (out != NULL)
	{
		CHECK_MEM_EQ(out, n, want_raw, strlen(want_raw));
		free(out);
	}

	/* whatever the json-c: the same events and errors */
	EXPECT_EVENT("{\"userId\":\"Zo\xc3\xab\xf0\x9f\x98\x80\",\"name\":\"add_revenue\",\"value\":1,\"x\":[1]}",
				 "Zo\xc3\xab\xf0\x9f\x98\x80", "add_revenue", 1000000000);
	EXPECT_REJECT("{\"userId\":\"u\",\"name\":\"add_revenue\",\"value\":18446744073709551616,\"x\":[1]}",
				  "value must be less than 10^18");
	EXPECT_REJECT("{\"userId\":\"\xc3\xab\",\"x\":99999999999999999999999,\"value\":1,}",
				  "invalid JSON: unexpected character at offset 53");
}

int
main(void)
{
	parser = ev_parser_create();
	if (parser == NULL)
	{
		fprintf(stderr, "could not create the parser\n");
		return 2;
	}

	/*
	 * The parser tests run twice: with the fast paths for plain events and
	 * journal lines, and with the full json-c parser alone.  Both must give
	 * the same events and the same errors.
	 */
	for (int fast = 1; fast >= 0; fast--)
	{
		ev_parser_set_fast(parser, fast);
		test_parse_valid();
		test_parse_field_errors();
		test_parse_values();
		test_parse_syntax();
		test_parse_strings();
		test_parse_strings_batch();
		test_types();
		test_line_types();
		test_json_compat();
	}
	test_decimal();
	test_json_quote();
	test_journal_line();
	test_utf8();
	test_decode_user_id();

	ev_parser_free(parser);
	ev_parser_free(NULL);
	return unit_summary();
}
