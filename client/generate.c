/*-------------------------------------------------------------------------
 *
 * generate.c
 *	  Test events of "evproc-client generate": one JSON event per line,
 *	  userIds user1..userU, integer values 0..99, no eventIds ("send" adds
 *	  them).  The names are drawn from a list of event types (--types),
 *	  by default about three add_revenue for each subtract_revenue.  The
 *	  sequence depends only on the seed and the list (splitmix64), so a
 *	  run can be reproduced.
 *
 * Event type names follow the server's rule: 1 to EV_NAME_MAX bytes of
 * ASCII letters, digits, '_', '-' and '.', the first a letter.
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "prng.h"

/*
 * The default list: the draw "% 4" of the first version of generate, 0
 * for a subtract, so that the default output has not changed.
 */
static const char *default_names[] = {
	EV_NAME_SUBTRACT_REVENUE,
	EV_NAME_ADD_REVENUE,
	EV_NAME_ADD_REVENUE,
	EV_NAME_ADD_REVENUE
};

static const GenTypes default_types = {
	.n = 4,
	.names = default_names,
	.storage = NULL
};

/*
 * gen_type_name_valid says whether name (len bytes) is a valid event type
 * name; if not, *why says what is wrong with it.
 */
bool
gen_type_name_valid(const char *name, size_t len, const char **why)
{
	if (len == 0)
	{
		*why = "it is empty";
		return false;
	}
	if (len > EV_NAME_MAX)
	{
		*why = "it is longer than " EV_STR(EV_NAME_MAX) " bytes";
		return false;
	}
	for (size_t i = 0; i < len; i++)
	{
		char		c = name[i];
		bool		letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

		if (i == 0 && !letter)
		{
			*why = "it must start with an ASCII letter";
			return false;
		}
		if (!letter && !(c >= '0' && c <= '9') && c != '_' && c != '-' &&
			c != '.')
		{
			*why = "only ASCII letters, digits, '_', '-' and '.' are allowed";
			return false;
		}
	}
	return true;
}

/* quote_name writes name into out for a message, control bytes as '?' */
static void
quote_name(const char *name, size_t len, char *out, size_t outlen)
{
	size_t		o = 0;

	if (outlen == 0)
		return;
	for (size_t i = 0; i < len && o + 4 < outlen; i++)
	{
		unsigned char c = (unsigned char) name[i];

		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
	}
	if (o + 4 >= outlen && o < len)
	{
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/*
 * gen_types_parse reads a comma-separated list of event type names into
 * *types (free it with gen_types_free).  On a bad name it returns false
 * with a message in err, and *types is left empty.
 */
bool
gen_types_parse(const char *list, GenTypes *types, char *err, size_t errlen)
{
	size_t		len = strlen(list);
	int			count = 1;
	char	   *p;

	types->n = 0;
	types->names = NULL;
	types->storage = NULL;
	for (size_t i = 0; i < len; i++)
		count += list[i] == ',';
	types->storage = malloc(len + 1);
	types->names = malloc(sizeof(const char *) * (size_t) count);
	if (types->storage == NULL || types->names == NULL)
	{
		snprintf(err, errlen, "out of memory");
		gen_types_free(types);
		return false;
	}
	memcpy(types->storage, list, len + 1);
	p = types->storage;
	for (int i = 0; i < count; i++)
	{
		char	   *comma = strchr(p, ',');
		size_t		nlen = comma != NULL ? (size_t) (comma - p) : strlen(p);
		const char *why;

		if (!gen_type_name_valid(p, nlen, &why))
		{
			char		shown[EV_NAME_MAX + 8];

			if (nlen == 0)
				snprintf(err, errlen,
						 "--types: empty event type name (the names are separated by single commas)");
			else
			{
				quote_name(p, nlen, shown, sizeof(shown));
				snprintf(err, errlen, "--types: bad event type name \"%s\": %s",
						 shown, why);
			}
			gen_types_free(types);
			return false;
		}
		if (comma != NULL)
			*comma = '\0';
		types->names[types->n++] = p;
		p += nlen + 1;
	}
	return true;
}

void
gen_types_free(GenTypes *types)
{
	free(types->names);
	free(types->storage);
	types->n = 0;
	types->names = NULL;
	types->storage = NULL;
}

/*
 * gen_event writes the next event of the sequence in *state, with its
 * newline, into buf; returns its length (0 if buf is too small).  types
 * NULL (or empty) is the default list.
 */
size_t
gen_event(uint64_t *state, int64_t users, const GenTypes *types, char *buf,
		  size_t buflen)
{
	const GenTypes *t = types != NULL && types->n > 0 ? types : &default_types;
	uint64_t	user = 1 + splitmix64(state) % (uint64_t) (users > 0 ? users : 1);
	uint64_t	kind = splitmix64(state) % (uint64_t) t->n;
	uint64_t	value = splitmix64(state) % 100;
	int			n;

	n = snprintf(buf, buflen,
				 "{\"userId\": \"user%" PRIu64 "\", \"name\": \"%s\", \"value\": %" PRIu64 "}\n",
				 user, t->names[kind], value);
	if (n < 0 || (size_t) n >= buflen)
		return 0;
	return (size_t) n;
}

/*
 * gen_write writes n events with names from types (NULL: the default) to
 * out; returns 0, or -1 on a write error
 */
int
gen_write(FILE *out, int64_t n, int64_t users, uint64_t seed,
		  const GenTypes *types)
{
	uint64_t	state = seed;
	char		line[GEN_LINE_BUFSZ];

	for (int64_t i = 0; i < n; i++)
	{
		size_t		len = gen_event(&state, users, types, line, sizeof(line));

		if (len == 0 || fwrite(line, 1, len, out) != len)
			return -1;
	}
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
