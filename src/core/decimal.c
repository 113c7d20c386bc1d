/*-------------------------------------------------------------------------
 *
 * decimal.c
 *	  Exact decimals of event values: a JSON number literal to a 128-bit
 *	  integer scaled by EV_SCALE, and back to text.
 *
 * Owns the rules of a value (the JSON number grammar, non-negative, the
 * digit limits of evlimits.h), which the full parser, both fast paths and
 * the ingester share through ev_decimal_parse.  Backend-free (libc only);
 * see decimal.h.
 *
 *-------------------------------------------------------------------------
 */
#include "core/decimal.h"

#include <stdbool.h>

#ifdef POSTGRES_H
#error "decimal.c is backend-free: it must not include PostgreSQL backend headers"
#endif

/* the messages of the rules, with the limits of evlimits.h */
#define MSG_NOT_NUMBER	"value must be a finite JSON number"
#define MSG_TOO_MANY	"value has too many digits"
#define MSG_NEGATIVE	"value must be a non-negative number"
#define MSG_TOO_LARGE	"value must be less than 10^" EV_STR(EV_INT_DIGITS)
#define MSG_TOO_PRECISE "value must have at most " EV_STR(EV_FRAC_DIGITS) \
	" digits after the decimal point"

/* 10^EV_INT_DIGITS, the first value too large */
#define INT_LIMIT		((int64_t) 1000000000000000000LL)
_Static_assert(EV_INT_DIGITS == 18, "INT_LIMIT is 10^EV_INT_DIGITS");

/*
 * ev_decimal_parse converts a JSON number literal to a value scaled by
 * EV_SCALE.  It accepts exactly the JSON grammar (so no NaN, Infinity,
 * leading '+', leading zeros or bare '.'), and rejects values that are
 * negative or outside the documented limits instead of rounding them.
 * Returns NULL on success, else a client-facing message.
 */
const char *
ev_decimal_parse(const char *s, size_t len, ev_int128 *out)
{
	const char *p = s;
	const char *end = s + len;
	char		digits[EV_LITERAL_DIGITS];
	int			ndigits = 0;
	int			nliteral = 0;
	long		exponent = 0;	/* value = digits * 10^exponent */
	bool		negative = false;
	ev_int128	result;

	if (p < end && *p == '-')
	{
		negative = true;
		p++;
	}
	if (p == end || *p < '0' || *p > '9')
		return MSG_NOT_NUMBER;

	/* integer part; significant digits only */
	if (*p == '0')
	{
		p++;
		nliteral++;
	}
	else
	{
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (++nliteral > EV_LITERAL_DIGITS)
				return MSG_TOO_MANY;
			digits[ndigits++] = *p++;
		}
	}

	/* fraction */
	if (p < end && *p == '.')
	{
		p++;
		if (p == end || *p < '0' || *p > '9')
			return MSG_NOT_NUMBER;
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (++nliteral > EV_LITERAL_DIGITS)
				return MSG_TOO_MANY;
			if (ndigits > 0 || *p != '0')
				digits[ndigits++] = *p;
			exponent--;
			p++;
		}
	}

	/* exponent, clamped: far beyond any limit it no longer matters */
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		bool		eneg = false;
		long		e = 0;

		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = (*p++ == '-');
		if (p == end || *p < '0' || *p > '9')
			return MSG_NOT_NUMBER;
		while (p < end && *p >= '0' && *p <= '9')
		{
			if (e < 100000)
				e = e * 10 + (*p - '0');
			p++;
		}
		exponent += eneg ? -e : e;
	}
	if (p != end)
		return MSG_NOT_NUMBER;

	/* drop trailing zeros of the significand */
	while (ndigits > 0 && digits[ndigits - 1] == '0')
	{
		ndigits--;
		exponent++;
	}

	if (ndigits == 0)
	{
		*out = 0;				/* zero, including -0 and 0e999 */
		return NULL;
	}
	if (negative)
		return MSG_NEGATIVE;
	if (ndigits + exponent > EV_INT_DIGITS)
		return MSG_TOO_LARGE;
	if (-exponent > EV_FRAC_DIGITS)
		return MSG_TOO_PRECISE;

	/*
	 * At most 27 digits now: fits comfortably in 127 bits; in 64 bits when
	 * it has at most 19 (nearly always), which spares 128-bit products.
	 */
	if (ndigits + exponent + EV_FRAC_DIGITS <= 19)
	{
		uint64_t	small = 0;

		for (int i = 0; i < ndigits; i++)
			small = small * 10 + (uint64_t) (digits[i] - '0');
		for (long i = 0; i < exponent + EV_FRAC_DIGITS; i++)
			small *= 10;
		*out = (ev_int128) small;
		return NULL;
	}
	result = 0;
	for (int i = 0; i < ndigits; i++)
		result = result * 10 + (digits[i] - '0');
	for (long i = 0; i < exponent + EV_FRAC_DIGITS; i++)
		result *= 10;
	*out = result;
	return NULL;
}

/*
 * ev_decimal_from_int64 applies the rules of ev_decimal_parse to an integer
 * that is already converted (json-c's, which saturate at the 64-bit limits,
 * so a saturated value is simply one beyond EV_INT_DIGITS).
 */
const char *
ev_decimal_from_int64(int64_t v, ev_int128 *out)
{
	if (v < 0)
		return MSG_NEGATIVE;
	if (v >= INT_LIMIT)
		return MSG_TOO_LARGE;
	*out = (ev_int128) v * EV_SCALE;
	return NULL;
}

/*
 * ev_decimal_format writes value / EV_SCALE as a plain decimal literal
 * (no exponent, no trailing fractional zeros) and returns its length.
 * buf must hold EV_DECIMAL_BUFSZ bytes.
 */
size_t
ev_decimal_format(ev_int128 value, char *buf)
{
	char		tmp[EV_DECIMAL_BUFSZ];
	int			n = 0;
	size_t		len = 0;
	unsigned __int128 mag;
	int			frac_end;

	if (value < 0)
	{
		buf[len++] = '-';
		mag = (unsigned __int128) (-(value + 1)) + 1;
	}
	else
		mag = (unsigned __int128) value;

	/* a whole number in 64 bits, the usual value: no fraction to write */
	if (mag <= UINT64_MAX && (uint64_t) mag % EV_SCALE == 0)
	{
		uint64_t	whole = (uint64_t) mag / EV_SCALE;

		do
		{
			tmp[n++] = (char) ('0' + (int) (whole % 10));
			whole /= 10;
		} while (whole > 0);
		while (n > 0)
			buf[len++] = tmp[--n];
		buf[len] = '\0';
		return len;
	}

	/*
	 * Digits in reverse, at least EV_FRAC_DIGITS + 1 of them; in 64 bits as
	 * soon as the rest fits (nearly always at once), which spares the
	 * 128-bit division per digit.
	 */
	while (mag > UINT64_MAX)
	{
		tmp[n++] = (char) ('0' + (int) (mag % 10));
		mag /= 10;
	}
	{
		uint64_t	small = (uint64_t) mag;

		do
		{
			tmp[n++] = (char) ('0' + (int) (small % 10));
			small /= 10;
		} while (small > 0 || n <= EV_FRAC_DIGITS);
	}

	for (int i = n - 1; i >= EV_FRAC_DIGITS; i--)
		buf[len++] = tmp[i];

	/* fraction without its trailing zeros */
	frac_end = 0;
	while (frac_end < EV_FRAC_DIGITS && tmp[frac_end] == '0')
		frac_end++;
	if (frac_end < EV_FRAC_DIGITS)
	{
		buf[len++] = '.';
		for (int i = EV_FRAC_DIGITS - 1; i >= frac_end; i--)
			buf[len++] = tmp[i];
	}
	buf[len] = '\0';
	return len;
}
