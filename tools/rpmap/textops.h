/* SPDX-License-Identifier: MIT */
/*
 * Byte-level helpers of the text built-ins: ASCII upper-casing (like
 * tr a-z A-Z: other bytes kept), separator counting, fixed-format lines.
 */
#ifndef RPMAP_TEXTOPS_H
#define RPMAP_TEXTOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy n bytes from src to dst, a-z to A-Z if `up`, and return how many of
 * them equal sep: one pass. */
uint64_t rpmap_copy_count(char *dst, const char *src, size_t n, char sep, bool up);

/* Copy n bytes, a-z to A-Z. */
void rpmap_upper(char *dst, const char *src, size_t n);

/* "%08x\n" of c at dst (9 bytes); returns 9. */
size_t rpmap_put_crc(char *dst, uint32_t c);

/* "%llu\n" of v at dst (at most 21 bytes); returns its length. */
size_t rpmap_put_u64(char *dst, uint64_t v);

/* n dependent increments the compiler cannot fold; returns n. */
uint64_t rpmap_burn(uint64_t n);

/*
 * The chunk at p (`left` bytes buffered): whole records ending with sep,
 * as many as fit in `block` bytes, or one record if it alone is longer.
 * Returns its length, or 0 if the buffered bytes do not decide it yet
 * (more may come: !eof). A chunk is a batch of its own (--pipe), so only
 * the parent cuts chunks.
 */
size_t rpmap_chunk_len(const char *p, size_t left, size_t block, char sep, bool eof);

#endif
