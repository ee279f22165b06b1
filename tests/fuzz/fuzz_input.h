/* SPDX-License-Identifier: MIT */
/*
 * A cursor over the fuzz input for the fuzz targets: reads little-endian
 * integers and byte runs, and reads zeros once the input is used up, so
 * every input, however short, is a complete script.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fin {
	const uint8_t *p;
	size_t n;
};

static inline int fin_left(const struct fin *f)
{
	return f->n != 0;
}

static inline void fin_bytes(struct fin *f, void *dst, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	memcpy(dst, f->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

static inline uint8_t fin_u8(struct fin *f)
{
	uint8_t v;

	fin_bytes(f, &v, 1);
	return v;
}

static inline uint16_t fin_u16(struct fin *f)
{
	uint16_t v;

	fin_bytes(f, &v, 2);
	return v;
}

static inline uint32_t fin_u32(struct fin *f)
{
	uint32_t v;

	fin_bytes(f, &v, 4);
	return v;
}

static inline uint64_t fin_u64(struct fin *f)
{
	uint64_t v;

	fin_bytes(f, &v, 8);
	return v;
}

/* An invariant of the code under test failed: crash so libFuzzer keeps the input. */
#define FUZZ_CHECK(c)                                                                      \
	do {                                                                               \
		if (!(c)) {                                                                \
			fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #c, __FILE__, \
				__LINE__);                                        \
			abort();                                                           \
		}                                                                          \
	} while (0)

#endif
