/* SPDX-License-Identifier: MIT */
/*
 * Byte-level helpers of the text built-ins (builtins.c): upper-casing and
 * separator counting in one pass, 16 or 8 bytes at a time; CRC and number
 * lines; the CPU burner of `count`.
 */
#include "textops.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/*
 * Copy n bytes, ASCII a-z to A-Z if `up` (like tr a-z A-Z: other bytes
 * kept), and count the bytes equal to sep: one pass for the whole batch.
 */
uint64_t rpmap_copy_count(char *dst, const char *src, size_t n, char sep, bool up)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t count = 0;
	size_t i = 0;

#ifdef __SSE2__
	const __m128i vsep = _mm_set1_epi8(sep), bias = _mm_set1_epi8((char)(0x80 - 'a'));
	const __m128i lim = _mm_set1_epi8((char)(-128 + 26)), flip = _mm_set1_epi8(up ? 0x20 : 0);

	while (i + 16 <= n) {
		/* Per-byte separator counts in acc (each lane at most 255 before
		 * it is summed with psadbw). */
		__m128i acc = _mm_setzero_si128();
		size_t stop = n - i >= 255 * 16 ? i + 255 * 16 : i + ((n - i) & ~(size_t)15);

		for (; i < stop; i += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(src + i));
			/* v + 0x80 - 'a' is below -128 + 26 (signed) iff 'a' <= v <= 'z'. */
			__m128i lower = _mm_cmplt_epi8(_mm_add_epi8(v, bias), lim);

			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, vsep));
			_mm_storeu_si128((__m128i *)(dst + i),
					 _mm_xor_si128(v, _mm_and_si128(lower, flip)));
		}
		acc = _mm_sad_epu8(acc, _mm_setzero_si128());
		count += (uint64_t)_mm_cvtsi128_si32(acc) +
			 (uint64_t)_mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
	}
#endif
	for (; i + 8 <= n; i += 8) {
		uint64_t x, h, ge_a, gt_z, t, z;

		memcpy(&x, src + i, 8);
		t = x ^ (ones * (unsigned char)sep);		/* zero bytes: separators */
		z = ~(((t & ~high) + ~high) | t | ~high);	/* top bit set exactly there */
		count += ((z >> 7) * ones) >> 56;		/* sum of the 0/1 bytes */
		if (up) {
			h = x & ~high;				/* each byte <= 0x7f: no carries */
			ge_a = h + ones * (0x80 - 'a');		/* top bit set: byte >= 'a' */
			gt_z = h + ones * (0x7f - 'z');		/* top bit set: byte > 'z' */
			x ^= ((ge_a & ~gt_z & ~x & high) >> 2);	/* 0x20 where 'a' <= byte <= 'z' */
		}
		memcpy(dst + i, &x, 8);
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		count += c == (unsigned char)sep;
		dst[i] = (char)(up && (unsigned)(c - 'a') < 26u ? c - 32 : c);
	}
	return count;
}

/* ASCII a-z to A-Z, 8 bytes at a time (like tr a-z A-Z: other bytes kept). */
void rpmap_upper(char *dst, const char *src, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, h, ge_a, gt_z;

		memcpy(&x, src + i, 8);
		h = x & ~high;				/* each byte <= 0x7f: no carries below */
		ge_a = h + ones * (0x80 - 'a');		/* top bit set: byte >= 'a' */
		gt_z = h + ones * (0x7f - 'z');		/* top bit set: byte > 'z' */
		x ^= ((ge_a & ~gt_z & ~x & high) >> 2);	/* 0x20 where 'a' <= byte <= 'z' */
		memcpy(dst + i, &x, 8);
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (char)((unsigned)(c - 'a') < 26u ? c - 32 : c);
	}
}

static const char hexd[] = "0123456789abcdef";

size_t rpmap_put_crc(char *dst, uint32_t c)
{
	for (int k = 7; k >= 0; k--, c >>= 4)
		dst[k] = hexd[c & 15];
	dst[8] = '\n';
	return 9;
}

size_t rpmap_put_u64(char *dst, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	dst[n] = '\n';
	return n + 1;
}

/* The seed's CPU burner: n dependent increments the compiler cannot fold. */
uint64_t rpmap_burn(uint64_t n)
{
	uint64_t x = 0;

	for (uint64_t i = 0; i < n; i++) {
		x++;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

size_t rpmap_chunk_len(const char *p, size_t left, size_t block, char sep, bool eof)
{
	const char *s;

	if (left <= block)
		return eof ? left : 0;
	s = memrchr(p, sep, block);
	if (s)
		return (size_t)(s - p) + 1;
	s = memchr(p + block, sep, left - block);
	return s ? (size_t)(s - p) + 1 : eof ? left : 0;
}
