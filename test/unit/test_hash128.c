/*-------------------------------------------------------------------------
 *
 * test_hash128.c
 *	  Unit tests of hash128.c, MurmurHash3 x64-128 fed in pieces: known
 *	  answers of the reference implementation, and the same result
 *	  however the input is cut.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash128.h"
#include "unit.h"

static void
hex(const uint8_t *h, char *out)
{
	for (int i = 0; i < EV_HASH128_LEN; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/*
 * SMHasher's verification value of the reference: keys {}, {0}, {0, 1},
 * ... {0, ..., 254} hashed with seeds 256, 255, ... 2, their 256 hashes
 * hashed with seed 0, and the first four bytes of that read little-endian.
 */
static void
test_verification_value(void)
{
	uint8_t		key[256];
	uint8_t		hashes[256 * EV_HASH128_LEN];
	uint8_t		final[EV_HASH128_LEN];
	uint32_t	v;

	for (int i = 0; i < 256; i++)
	{
		key[i] = (uint8_t) i;
		ev_hash128(key, (size_t) i, (uint32_t) (256 - i),
				   hashes + i * EV_HASH128_LEN);
	}
	ev_hash128(hashes, sizeof(hashes), 0, final);
	v = (uint32_t) final[0] | (uint32_t) final[1] << 8 |
		(uint32_t) final[2] << 16 | (uint32_t) final[3] << 24;
	CHECK_MSG(v == 0x6384BA69, "verification value %08X, want 6384BA69", v);
}

static void
test_known_answers(void)
{
	uint8_t		h[EV_HASH128_LEN];
	char		got[2 * EV_HASH128_LEN + 1];
	const char *fox = "The quick brown fox jumps over the lazy dog";

	ev_hash128("", 0, 0, h);
	hex(h, got);
	CHECK_STR_EQ(got, "00000000000000000000000000000000");
	ev_hash128(fox, strlen(fox), 0, h);
	hex(h, got);
	CHECK_STR_EQ(got, "6c1b07bc7bbc4be347939ac4a93c437a");
}

/* feed hashes data in pieces of the sizes cut gives, cycling */
static void
feed(const uint8_t *data, size_t len, const size_t *cut, size_t ncut,
	 uint8_t out[EV_HASH128_LEN])
{
	EvHash128	h;
	size_t		off = 0;

	ev_hash128_init(&h, 7);
	for (size_t i = 0; off < len; i++)
	{
		size_t		n = cut[i % ncut];

		if (n > len - off)
			n = len - off;
		ev_hash128_update(&h, data + off, n);
		off += n;
	}
	ev_hash128_update(&h, data, 0);
	ev_hash128_final(&h, out);
}

/* the result does not depend on how the input was cut into pieces */
static void
test_pieces(void)
{
	size_t		big = 1 << 20;
	uint8_t    *data = malloc(big);
	uint8_t		whole[EV_HASH128_LEN];
	uint8_t		cut_up[EV_HASH128_LEN];
	static const size_t cuts[][4] = {
		{1, 1, 1, 1}, {7, 7, 7, 7}, {15, 1, 16, 17}, {16, 16, 16, 16},
		{3, 64, 5, 4096}, {65536, 1, 31, 33}
	};

	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t) ((i * 2654435761u) >> 13);

	/* every split of every length up to 100 into two pieces */
	for (size_t len = 0; len <= 100; len++)
	{
		ev_hash128(data, len, 7, whole);
		for (size_t at = 0; at <= len; at++)
		{
			EvHash128	h;

			ev_hash128_init(&h, 7);
			ev_hash128_update(&h, data, at);
			ev_hash128_update(&h, data + at, len - at);
			ev_hash128_final(&h, cut_up);
			CHECK_MSG(memcmp(whole, cut_up, EV_HASH128_LEN) == 0,
					  "length %zu split at %zu", len, at);
		}
	}

	/* a megabyte in pieces of many sizes */
	ev_hash128(data, big, 7, whole);
	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++)
	{
		feed(data, big, cuts[c], 4, cut_up);
		CHECK_MSG(memcmp(whole, cut_up, EV_HASH128_LEN) == 0,
				  "pieces of %zu, %zu, %zu, %zu", cuts[c][0], cuts[c][1],
				  cuts[c][2], cuts[c][3]);
	}

	/* one byte changed, anywhere, changes the hash */
	for (size_t at = 0; at < big; at += 4093)
	{
		data[at] ^= 0x20;
		ev_hash128(data, big, 7, cut_up);
		data[at] ^= 0x20;
		CHECK_MSG(memcmp(whole, cut_up, EV_HASH128_LEN) != 0,
				  "a byte changed at %zu", at);
	}
	free(data);
}

int
main(void)
{
	test_verification_value();
	test_known_answers();
	test_pieces();
	return unit_summary();
}
