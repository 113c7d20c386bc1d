/*-------------------------------------------------------------------------
 *
 * hash128.c
 *	  MurmurHash3 x64-128, fed in pieces: the file's fingerprint as ingest
 *	  reads it (see hash128.h for why this hash).
 *
 * A block is 16 bytes.  ev_hash128_update mixes every whole block as it
 * comes and keeps the bytes of an unfinished one for the next call, so
 * the result does not depend on how the input was cut.  Blocks are read
 * little-endian, whatever the machine, so that a fingerprint recorded on
 * one machine is the same on another.
 *
 * Backend-free: no PostgreSQL symbol; unit tested without a server.
 *
 *-------------------------------------------------------------------------
 */
#include "core/hash128.h"

#include <string.h>

#ifdef POSTGRES_H
#error "hash128.c is backend-free: it must not include PostgreSQL backend headers"
#endif

#define C1	UINT64_C(0x87c37b91114253d5)
#define C2	UINT64_C(0x4cf5ad432745937f)

static inline uint64_t
rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* load64 reads 8 bytes as a little-endian integer */
static inline uint64_t
load64(const uint8_t *p)
{
	uint64_t	v;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&v, p, 8);
#else
	v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
#endif
	return v;
}

static inline void
store64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint64_t
fmix64(uint64_t k)
{
	k ^= k >> 33;
	k *= UINT64_C(0xff51afd7ed558ccd);
	k ^= k >> 33;
	k *= UINT64_C(0xc4ceb9fe1a85ec53);
	k ^= k >> 33;
	return k;
}

static inline uint64_t
mix_k1(uint64_t k1)
{
	k1 *= C1;
	k1 = rotl64(k1, 31);
	return k1 * C2;
}

static inline uint64_t
mix_k2(uint64_t k2)
{
	k2 *= C2;
	k2 = rotl64(k2, 33);
	return k2 * C1;
}

/* blocks mixes n whole blocks at p into the state */
static void
blocks(EvHash128 *h, const uint8_t *p, size_t n)
{
	uint64_t	h1 = h->h1;
	uint64_t	h2 = h->h2;

	for (size_t i = 0; i < n; i++, p += 16)
	{
		h1 ^= mix_k1(load64(p));
		h1 = rotl64(h1, 27);
		h1 += h2;
		h1 = h1 * 5 + 0x52dce729;

		h2 ^= mix_k2(load64(p + 8));
		h2 = rotl64(h2, 31);
		h2 += h1;
		h2 = h2 * 5 + 0x38495ab5;
	}
	h->h1 = h1;
	h->h2 = h2;
}

void
ev_hash128_init(EvHash128 *h, uint32_t seed)
{
	h->h1 = seed;
	h->h2 = seed;
	h->total = 0;
	h->npending = 0;
}

void
ev_hash128_update(EvHash128 *h, const void *data, size_t len)
{
	const uint8_t *p = data;

	h->total += len;
	if (h->npending > 0)
	{
		size_t		take = 16 - h->npending;

		if (len < take)
		{
			memcpy(h->pending + h->npending, p, len);
			h->npending += len;
			return;
		}
		memcpy(h->pending + h->npending, p, take);
		blocks(h, h->pending, 1);
		h->npending = 0;
		p += take;
		len -= take;
	}
	blocks(h, p, len / 16);
	p += len - len % 16;
	h->npending = len % 16;
	memcpy(h->pending, p, h->npending);
}

/*
 * ev_hash128_final mixes in the last, partial block and the length, and
 * writes h1 then h2, each little-endian, as the reference does on x86.
 */
void
ev_hash128_final(EvHash128 *h, uint8_t out[EV_HASH128_LEN])
{
	const uint8_t *tail = h->pending;
	size_t		n = h->npending;
	uint64_t	h1 = h->h1;
	uint64_t	h2 = h->h2;
	uint64_t	k1 = 0;
	uint64_t	k2 = 0;

	for (size_t i = n; i > 8; i--)
		k2 = (k2 << 8) | tail[i - 1];
	if (n > 8)
		h2 ^= mix_k2(k2);
	for (size_t i = n < 8 ? n : 8; i > 0; i--)
		k1 = (k1 << 8) | tail[i - 1];
	if (n > 0)
		h1 ^= mix_k1(k1);

	h1 ^= h->total;
	h2 ^= h->total;
	h1 += h2;
	h2 += h1;
	h1 = fmix64(h1);
	h2 = fmix64(h2);
	h1 += h2;
	h2 += h1;
	store64(out, h1);
	store64(out + 8, h2);
}

/* ev_hash128 hashes data[0..len) at once */
void
ev_hash128(const void *data, size_t len, uint32_t seed,
		   uint8_t out[EV_HASH128_LEN])
{
	EvHash128	h;

	ev_hash128_init(&h, seed);
	ev_hash128_update(&h, data, len);
	ev_hash128_final(&h, out);
}
