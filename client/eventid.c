/*-------------------------------------------------------------------------
 *
 * eventid.c
 *	  eventIds of evproc-client: random UUIDs (version 4, RFC 9562) from
 *	  getrandom(2), or /dev/urandom where getrandom is not available.
 *
 * "send" gives every event without an eventId one of these before the
 * event is first sent, and sends the same id on every retry, so that the
 * server counts the event at most once.  122 random bits make a collision
 * between two different events practically impossible.
 *
 * Random bytes are fetched 4 kB at a time (256 UUIDs per system call).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "eventid.h"

#define RANDOM_POOL_SIZE	4096

static unsigned char random_pool[RANDOM_POOL_SIZE];
static size_t random_pool_pos = RANDOM_POOL_SIZE;

/* urandom_bytes fills buf from /dev/urandom */
static bool
urandom_bytes(unsigned char *buf, size_t len)
{
	int			fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	size_t		got = 0;

	if (fd < 0)
		return false;
	while (got < len)
	{
		ssize_t		n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			close(fd);
			return false;
		}
		got += (size_t) n;
	}
	close(fd);
	return true;
}

/*
 * random_bytes fills buf with len bytes from the operating system's random
 * source.  Returns false (errno set) if there is none.
 */
bool
random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t		got = 0;

	while (got < len)
	{
		ssize_t		n = getrandom(p + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOSYS)
			return urandom_bytes(p + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t) n;
	}
	return true;
}

/*
 * uuid_v4_format writes raw as the text of a version 4 UUID: the version
 * and variant bits are set, the other 122 bits are taken from raw.  Lower
 * case, 8-4-4-4-12 hex digits.
 */
void
uuid_v4_format(const unsigned char raw[16], char out[EVENTID_BUFSZ])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t		o = 0;

	memcpy(b, raw, sizeof(b));
	b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);	/* variant 10 */
	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

/* uuid_v4_new writes a new random UUID; false if no randomness is at hand */
bool
uuid_v4_new(char out[EVENTID_BUFSZ])
{
	if (random_pool_pos + 16 > RANDOM_POOL_SIZE)
	{
		if (!random_bytes(random_pool, RANDOM_POOL_SIZE))
			return false;
		random_pool_pos = 0;
	}
	uuid_v4_format(random_pool + random_pool_pos, out);
	/* do not keep used randomness around */
	memset(random_pool + random_pool_pos, 0, 16);
	random_pool_pos += 16;
	return true;
}

/* uuid_v4_valid: is s (len bytes) a lower-case version 4 UUID? */
bool
uuid_v4_valid(const char *s, size_t len)
{
	if (len != EVENTID_UUID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (c != '-')
				return false;
		}
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[14] == '4' &&
		(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}
