/*-------------------------------------------------------------------------
 *
 * test_validate.c
 *	  Unit tests of validate.c, the one place where the rules of an
 *	  event's userId, name and eventId, and of an event type's metric and
 *	  effect, are written: each rule, each
 *	  boundary, the order in which the rules are applied, and the URL
 *	  decoder that hands its result to the same rules.
 *
 * The parsers that call these rules are tested in test_event.c (with and
 * without the fast paths); here the rules are tested on their own.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/validate.h"
#include "unit.h"

#define USER_EMPTY		"userId must not be empty"
#define USER_LONG		"userId must be at most 255 bytes"
#define USER_NUL		"userId must not contain NUL characters"
#define USER_UTF8		"userId must be valid UTF-8"
#define EVENT_EMPTY		"eventId must not be empty"
#define EVENT_LONG		"eventId must be at most 128 bytes"
#define EVENT_NUL		"eventId must not contain NUL characters"
#define EVENT_UTF8		"eventId must be valid UTF-8"
#define NAME_BAD		"name must be 1 to 63 characters: letters, digits, '_', '-' or '.', starting with a letter"
#define METRIC_BAD		"metric must be 1 to 63 characters: letters, digits, '_', '-' or '.', starting with a letter"
#define PATH_SLASH		"userId must not contain '/' (encode it as %2F)"
#define PATH_PERCENT	"userId has an invalid percent-encoding"

/* check_msg: got is NULL if want is, else the same message */
static void
check_msg(const char *got, const char *want, const char *what, int line)
{
	if (want == NULL)
		unit_check(got == NULL, __FILE__, line, "check", "%s: accepted (got \"%s\")",
				   what, got ? got : "");
	else
		unit_check(got != NULL && strcmp(got, want) == 0, __FILE__, line,
				   "check", "%s: \"%s\" (got \"%s\")", what, want,
				   got ? got : "(accepted)");
}

/* literal strings, embedded NULs included */
#define USER(s, want) \
	check_msg(ev_check_user_id((s), sizeof(s) - 1), (want), "userId " #s, __LINE__)
#define EVENT(s, want) \
	check_msg(ev_check_event_id((s), sizeof(s) - 1), (want), "eventId " #s, __LINE__)

/* fill: a buffer of n copies of c (not NUL-terminated); the caller frees it */
static char *
fill(char c, size_t n)
{
	char	   *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/*
 * The rules of an identifier, for userId (max 255) and eventId (max 128)
 * alike: lengths around the limit, NUL anywhere, UTF-8, and which rule
 * speaks when several are broken (empty, too long, NUL, UTF-8).
 */
static void
test_id_rules(const char *(*check) (const char *, size_t), size_t max,
			  const char *empty, const char *too_long, const char *nul,
			  const char *not_utf8, const char *field)
{
	char	   *s = fill('a', max + 2);
	char		what[64];

#define ID(buf, len, want) \
	do { \
		snprintf(what, sizeof(what), "%s of %zu bytes", field, (size_t) (len)); \
		check_msg(check((buf), (len)), (want), what, __LINE__); \
	} while (0)

	/* length */
	ID(s, 0, empty);
	ID("", 0, empty);
	ID(s, 1, NULL);
	ID(s, max - 1, NULL);
	ID(s, max, NULL);
	ID(s, max + 1, too_long);
	ID(s, max + 2, too_long);

	/* NUL: first, inside, last; also at the limit */
	s[0] = '\0';
	ID(s, 1, nul);
	ID(s, max, nul);
	ID(s, max + 1, too_long);	/* too long speaks before NUL */
	s[0] = 'a';
	s[max - 1] = '\0';
	ID(s, max, nul);
	s[max - 1] = 'a';
	s[max / 2] = '\0';
	ID(s, max, nul);
	s[max / 2] = '\xff';		/* NUL speaks before UTF-8 */
	s[1] = '\0';
	ID(s, max, nul);
	s[1] = 'a';

	/* UTF-8 */
	ID(s, max, not_utf8);		/* the \xff */
	s[max / 2] = 'a';
	s[max - 1] = '\xc3';		/* a sequence cut by the end */
	ID(s, max, not_utf8);
	s[max - 1] = 'a';
	/* a 3-byte character ending exactly at the limit, and one past it */
	memcpy(s + max - 3, "\xe2\x82\xac", 3);
	ID(s, max, NULL);
	memcpy(s + max - 2, "\xe2\x82\xac", 3);
	ID(s, max + 1, too_long);
	ID(s, max, not_utf8);		/* the same cut at the limit */

	free(s);
#undef ID
}

static void
test_user_id(void)
{
	test_id_rules(ev_check_user_id, 255, USER_EMPTY, USER_LONG, USER_NUL,
				  USER_UTF8, "userId");

	USER("user1", NULL);
	USER("\x01\x7f", NULL);		/* control characters are allowed */
	USER(" ", NULL);
	USER("\xc3\xa9", NULL);
	USER("\xf0\x9f\x98\x80", NULL);
	USER("\xf4\x8f\xbf\xbf", NULL); /* U+10FFFF */
	USER("a\0", USER_NUL);
	USER("\0a", USER_NUL);
	USER("\xff", USER_UTF8);
	USER("\xc0\xaf", USER_UTF8);	/* overlong '/' */
	USER("\xe0\x80\xaf", USER_UTF8);	/* overlong, 3 bytes */
	USER("\xed\xa0\x80", USER_UTF8);	/* a surrogate */
	USER("\xf4\x90\x80\x80", USER_UTF8);	/* above U+10FFFF */
	USER("\x80", USER_UTF8);	/* a lone continuation byte */
	USER("a\xe2\x82", USER_UTF8);	/* cut short */
}

static void
test_event_id(void)
{
	test_id_rules(ev_check_event_id, 128, EVENT_EMPTY, EVENT_LONG, EVENT_NUL,
				  EVENT_UTF8, "eventId");

	EVENT("550e8400-e29b-41d4-a716-446655440000", NULL);
	EVENT("\xc3\xa9", NULL);
	EVENT("a\0b", EVENT_NUL);
	EVENT("\xed\xbf\xbf", EVENT_UTF8);
}

/*
 * Names of event types and of metrics: one rule, each with its field's
 * message.  check_names applies it through check (ev_check_name or
 * ev_check_metric) and expects bad for every refusal.
 */
static void
check_names(const char *(*check) (const char *, size_t), const char *bad,
			const char *what)
{
	char		s[EV_NAME_MAX + 2];
	char		c;

#define NAMEOK(lit) \
	check_msg(check((lit), sizeof(lit) - 1), NULL, what, __LINE__)
#define NAMEBAD(lit) \
	check_msg(check((lit), sizeof(lit) - 1), bad, what, __LINE__)

	/* the predefined types and their metric */
	NAMEOK(EV_NAME_ADD_REVENUE);
	NAMEOK(EV_NAME_SUBTRACT_REVENUE);
	NAMEOK(EV_METRIC_REVENUE);
	/* every allowed character, a letter first (either case) */
	NAMEOK("a");
	NAMEOK("Z");
	NAMEOK("refund");
	NAMEOK("Purchase.v2-EU_x");
	NAMEOK("a0123456789");
	NAMEOK("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
	NAMEOK("a_-.");
	/* empty, or not a letter first */
	NAMEBAD("");
	NAMEBAD("0abc");
	NAMEBAD("_abc");
	NAMEBAD("-abc");
	NAMEBAD(".abc");
	NAMEBAD("9");
	/* characters outside the set, anywhere */
	NAMEBAD("add revenue");
	NAMEBAD(" add");
	NAMEBAD("add ");
	NAMEBAD("a/b");
	NAMEBAD("a\"b");
	NAMEBAD("a\\b");
	NAMEBAD("a:b");
	NAMEBAD("a+b");
	NAMEBAD("a\tb");
	NAMEBAD("a\0");
	NAMEBAD("\0a");
	NAMEBAD("a\x7f");
	NAMEBAD("caf\xc3\xa9");	/* letters, but not ASCII */
	NAMEBAD("\xc3\xa9t\xc3\xa9");
	NAMEBAD("a\xff");

	/* every byte: letters first; letters, digits, '_', '-', '.' after */
	for (int b = 0; b < 256; b++)
	{
		bool		letter = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
		bool		other = (b >= '0' && b <= '9') || b == '_' || b == '-' ||
			b == '.';

		c = (char) b;
		s[0] = c;
		check_msg(check(s, 1), letter ? NULL : bad, what, __LINE__);
		s[0] = 'x';
		s[1] = c;
		check_msg(check(s, 2), letter || other ? NULL : bad, what, __LINE__);
	}

	/* 63 bytes are fine, 64 are not; only len bytes are read */
	memset(s, 'n', sizeof(s));
	check_msg(check(s, EV_NAME_MAX), NULL, what, __LINE__);
	check_msg(check(s, EV_NAME_MAX + 1), bad, what, __LINE__);
	check_msg(check(s, 1), NULL, what, __LINE__);
	check_msg(check("ab!", 2), NULL, what, __LINE__);
	check_msg(check("!", 0), bad, what, __LINE__);
#undef NAMEOK
#undef NAMEBAD
}

static void
test_name(void)
{
	check_names(ev_check_name, NAME_BAD, "name");
	check_names(ev_check_metric, METRIC_BAD, "metric");
	CHECK_INT_EQ(EV_NAME_MAX, 63);
}

static void
test_effect(void)
{
	EvEffect	e = EV_EFFECT_COUNT;

	CHECK(ev_parse_effect("add", 3, &e) && e == EV_EFFECT_ADD);
	CHECK(ev_parse_effect("subtract", 8, &e) && e == EV_EFFECT_SUBTRACT);
	CHECK(ev_parse_effect("count", 5, &e) && e == EV_EFFECT_COUNT);
	CHECK(ev_parse_effect("addx", 3, &e) && e == EV_EFFECT_ADD);	/* len */

	/* exactly these words: *effect is left alone otherwise */
	e = EV_EFFECT_SUBTRACT;
	CHECK(!ev_parse_effect("", 0, &e));
	CHECK(!ev_parse_effect("ad", 2, &e));
	CHECK(!ev_parse_effect("addd", 4, &e));
	CHECK(!ev_parse_effect("Add", 3, &e));
	CHECK(!ev_parse_effect("ADD", 3, &e));
	CHECK(!ev_parse_effect("add ", 4, &e));
	CHECK(!ev_parse_effect(" add", 4, &e));
	CHECK(!ev_parse_effect("add\0", 4, &e));
	CHECK(!ev_parse_effect("subtrac", 7, &e));
	CHECK(!ev_parse_effect("counts", 6, &e));
	CHECK(!ev_parse_effect("sub", 3, &e));
	CHECK(!ev_parse_effect("set", 3, &e));
	CHECK(e == EV_EFFECT_SUBTRACT);

	/* names, and back */
	CHECK_STR_EQ(ev_effect_name(EV_EFFECT_ADD), "add");
	CHECK_STR_EQ(ev_effect_name(EV_EFFECT_SUBTRACT), "subtract");
	CHECK_STR_EQ(ev_effect_name(EV_EFFECT_COUNT), "count");
	CHECK(ev_effect_name((EvEffect) 3) == NULL);
	CHECK(ev_effect_name((EvEffect) -1) == NULL);
	for (int i = EV_EFFECT_ADD; i <= EV_EFFECT_COUNT; i++)
	{
		const char *name = ev_effect_name((EvEffect) i);

		e = (EvEffect) -1;
		CHECK(ev_parse_effect(name, strlen(name), &e) && (int) e == i);
	}
	CHECK_STR_EQ(EV_EFFECT_ERROR,
				 "effect must be \"add\", \"subtract\" or \"count\"");
}

/* the names the rules accept are the protocol's names */
static void
test_limits(void)
{
	CHECK_STR_EQ(EV_NAME_ADD_REVENUE, "add_revenue");
	CHECK_STR_EQ(EV_NAME_SUBTRACT_REVENUE, "subtract_revenue");
	CHECK_STR_EQ(EV_METRIC_REVENUE, "revenue");
	CHECK_STR_EQ(EV_STR(EV_USER_ID_MAX), "255");
	CHECK_STR_EQ(EV_STR(EV_NAME_MAX), "63");
	CHECK_STR_EQ(EV_STR(EV_EVENT_ID_MAX), "128");
}

/* decode: in decodes to want, or is refused with the message want */
static void
decode(const char *in, const char *want, size_t wantlen, const char *msg,
	   int line)
{
	char		out[EV_USER_ID_MAX + 1];
	size_t		outlen = 0;
	const char *got = ev_decode_user_id(in, out, &outlen);
	char		what[64];

	snprintf(what, sizeof(what), "decode %.40s", in);
	check_msg(got, msg, what, line);
	if (msg == NULL && got == NULL)
		unit_check(outlen == wantlen && memcmp(out, want, wantlen) == 0 &&
				   out[outlen] == '\0', __FILE__, line, "decode",
				   "%s: %zu bytes decoded (got %zu)", what, wantlen, outlen);
}

/*
 * The URL decoder refuses what the path itself gets wrong ('/', a bad
 * percent-encoding), then hands the decoded id to ev_check_user_id: the
 * same rules, in the same order, as an event's userId.
 */
static void
test_decode_order(void)
{
	char	   *in;
	char	   *long_in;

	decode("a%00", NULL, 0, USER_NUL, __LINE__);
	decode("%FF", NULL, 0, USER_UTF8, __LINE__);
	decode("%00%FF", NULL, 0, USER_NUL, __LINE__);	/* NUL before UTF-8 */
	decode("%00/", NULL, 0, PATH_SLASH, __LINE__);	/* the path first */
	decode("%00%G0", NULL, 0, PATH_PERCENT, __LINE__);

	/* a NUL in an id that is too long: too long, as in an event */
	in = fill('a', 300);
	long_in = malloc(310);
	snprintf(long_in, 310, "%%00%s", in);
	decode(long_in, NULL, 0, USER_LONG, __LINE__);
	snprintf(long_in, 310, "%%FF%s", in);
	decode(long_in, NULL, 0, USER_LONG, __LINE__);

	/* 255 bytes, then what comes after them */
	in[255] = '\0';
	decode(in, in, 255, NULL, __LINE__);
	snprintf(long_in, 310, "%s/", in);
	decode(long_in, NULL, 0, PATH_SLASH, __LINE__);
	snprintf(long_in, 310, "%s%%", in);
	decode(long_in, NULL, 0, PATH_PERCENT, __LINE__);
	snprintf(long_in, 310, "%s%%41", in);
	decode(long_in, NULL, 0, USER_LONG, __LINE__);
	snprintf(long_in, 310, "%sa/", in);	/* stops at the 256th byte */
	decode(long_in, NULL, 0, USER_LONG, __LINE__);
	free(in);
	free(long_in);
}

int
main(void)
{
	test_user_id();
	test_event_id();
	test_name();
	test_effect();
	test_limits();
	test_decode_order();
	return unit_summary();
}
