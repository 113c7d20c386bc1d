/*-------------------------------------------------------------------------
 *
 * unit.h
 *	  A tiny test harness for the unit tests of the backend-free modules.
 *
 * Each test binary is a single translation unit that includes this header,
 * runs its checks with the CHECK* macros and ends with
 *
 *		return unit_summary();
 *
 * A failing check is reported on stderr with its file, line, function and
 * a description; the counters of passed and failed checks are printed as
 * the last line on stdout ("N passed, N failed"), and the exit status is
 * non-zero if any check failed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EVPROC_UNIT_H
#define EVPROC_UNIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	unit_passed = 0;
static int	unit_failed = 0;

static inline bool unit_check(bool ok, const char *file, int line,
							  const char *func, const char *fmt,...)
			__attribute__((format(printf, 5, 6)));

/*
 * unit_check records the outcome of one check; on failure it prints the
 * location and a printf-style description to stderr.  Returns ok.
 */
static inline bool
unit_check(bool ok, const char *file, int line, const char *func,
		   const char *fmt,...)
{
	va_list		ap;

	if (ok)
	{
		unit_passed++;
		return true;
	}
	unit_failed++;
	fprintf(stderr, "%s:%d: %s: FAILED: ", file, line, func);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	return false;
}

/* unit_print_mem writes len bytes of s to stderr, escaping non-printables */
static inline void
unit_print_mem(const char *s, size_t len)
{
	size_t		shown = len > 200 ? 200 : len;

	fputc('"', stderr);
	for (size_t i = 0; i < shown; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
			fprintf(stderr, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, stderr);
		else
			fprintf(stderr, "\\x%02x", c);
	}
	fputc('"', stderr);
	if (shown < len)
		fprintf(stderr, "... (%zu bytes)", len);
}

/* unit_check_mem compares two byte strings, printing both on a mismatch */
static inline bool
unit_check_mem(const char *got, size_t gotlen, const char *want,
			   size_t wantlen, const char *file, int line, const char *func,
			   const char *desc)
{
	bool		ok;

	if (got == NULL || want == NULL)
		ok = (got == want);
	else
		ok = (gotlen == wantlen && memcmp(got, want, wantlen) == 0);
	if (!unit_check(ok, file, line, func, "%s", desc))
	{
		fprintf(stderr, "    got:  ");
		if (got == NULL)
			fprintf(stderr, "NULL");
		else
			unit_print_mem(got, gotlen);
		fprintf(stderr, "\n    want: ");
		if (want == NULL)
			fprintf(stderr, "NULL");
		else
			unit_print_mem(want, wantlen);
		fputc('\n', stderr);
	}
	return ok;
}

static inline bool
unit_check_str(const char *got, const char *want, const char *file,
			   int line, const char *func, const char *desc)
{
	return unit_check_mem(got, got ? strlen(got) : 0,
						  want, want ? strlen(want) : 0,
						  file, line, func, desc);
}

/* CHECK(cond): cond must hold. */
#define CHECK(cond) \
	unit_check((cond) ? true : false, __FILE__, __LINE__, __func__, "%s", #cond)

/* CHECK_MSG(cond, fmt, ...): cond must hold; the message describes it. */
#define CHECK_MSG(cond, ...) \
	unit_check((cond) ? true : false, __FILE__, __LINE__, __func__, __VA_ARGS__)

/* CHECK_INT_EQ(got, want): integers (up to 64 bits) must be equal. */
#define CHECK_INT_EQ(got, want) \
	do { \
		long long	unit_g_ = (long long) (got); \
		long long	unit_w_ = (long long) (want); \
		unit_check(unit_g_ == unit_w_, __FILE__, __LINE__, __func__, \
				   "%s == %s (got %lld, want %lld)", #got, #want, \
				   unit_g_, unit_w_); \
	} while (0)

/* CHECK_STR_EQ(got, want): NUL-terminated strings (or both NULL). */
#define CHECK_STR_EQ(got, want) \
	unit_check_str((got), (want), __FILE__, __LINE__, __func__, \
				   #got " equals " #want)

/* CHECK_MEM_EQ(got, gotlen, want, wantlen): byte strings. */
#define CHECK_MEM_EQ(got, gotlen, want, wantlen) \
	unit_check_mem((got), (gotlen), (want), (wantlen), \
				   __FILE__, __LINE__, __func__, \
				   #got " equals " #want)

/*
 * unit_summary prints the final line and returns the exit status for main:
 * 0 if every check passed, 1 otherwise.
 */
static inline int
unit_summary(void)
{
	fflush(stderr);
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	fflush(stdout);
	return unit_failed == 0 ? 0 : 1;
}

#endif							/* EVPROC_UNIT_H */
