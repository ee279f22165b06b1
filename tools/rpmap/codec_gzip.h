/* SPDX-License-Identifier: MIT */
/*
 * gzip members on libdeflate: one input block becomes one gzip member whose
 * header records the member's own compressed size in an extra subfield, so a
 * reader can cut a stream into members without inflating (split.h). Two
 * layouts: rpmap's ("RP", a 32-bit size, any block up to 4 GiB - 1) and BGZF
 * (SAM spec 4.1: "BC", BSIZE - 1 in 16 bits, blocks of at most 65280 bytes,
 * and a 28-byte empty block as the stream's end), which htslib reads.
 */
#ifndef RPMAP_CODEC_GZIP_H
#define RPMAP_CODEC_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct libdeflate_decompressor;

/* BGZF: the most input bytes per block (htslib's BGZF_BLOCK_SIZE, 0xff00),
 * and the largest block (BSIZE - 1 <= 65535). */
#define RPMAP_BGZF_BLOCK	65280u
#define RPMAP_BGZF_MAX		65536u

/* The empty block that ends every BGZF file (SAM spec 4.1.2). */
#define RPMAP_BGZF_EOF_LEN	28u
extern const unsigned char rpmap_bgzf_eof[RPMAP_BGZF_EOF_LEN];

/* Bytes of header + trailer around a member's deflate data. */
#define RPMAP_GZ_RP_OVERHEAD	28u	/* 20-byte header ("RP"), CRC-32, ISIZE */
#define RPMAP_GZ_BC_OVERHEAD	26u	/* 18-byte header ("BC"), CRC-32, ISIZE */

/* Largest input block a member takes (ISIZE and the RP size are 32-bit:
 * 1 GiB keeps the member size far below 4 GiB whatever the data). */
#define RPMAP_GZ_MAX_BLOCK	((size_t)1 << 30)

struct rpmap_gz;

/*
 * A compressor: libdeflate level 0..12 (0 stores, 1 fastest, 6 default,
 * 12 smallest; pigz's -1..-9 are the same numbers on zlib's scale), `bgzf`
 * for BGZF blocks. One per worker (not thread-safe); allocates about 1 MB
 * (level 10-12: more). Returns 0 and *out, -EINVAL for a bad level, -ENOMEM.
 */
int rpmap_gz_new(struct rpmap_gz **out, int level, bool bgzf);
void rpmap_gz_free(struct rpmap_gz *z);

/*
 * Worst-case output of rpmap_gz_compress for n input bytes (any n up to
 * RPMAP_GZ_MAX_BLOCK), at any level: no compressor needed, so the parent
 * can size results. BGZF: summed over the ceil(n / 65280) blocks. A call
 * given this much room never returns -ENOSPC.
 */
size_t rpmap_gz_bound(bool bgzf, size_t n);

/*
 * Worst case for a batch: `bytes` input bytes in at most `nrec` records,
 * each compressed by its own rpmap_gz_compress call into the room the ones
 * before it left (pass nrec = bytes + 1 when the records are not counted).
 * At least the sum of rpmap_gz_bound over any such split, because
 * libdeflate's bound is n + 5 * max(ceil(n / B), 1) + c, so that
 * bound(a) + bound(b) <= bound(a + b) + bound(0); the tests check it.
 */
uint64_t rpmap_gz_batch_bound(bool bgzf, uint64_t bytes, uint64_t nrec);

/*
 * Compress src[0..n) to dst. rpmap layout: exactly one member (n = 0 gives
 * an empty member, a valid gzip file). BGZF: one block per 65280 input
 * bytes, none for n = 0 (the caller writes rpmap_bgzf_eof once, at the end
 * of the stream). Returns the bytes written, -ENOSPC if cap was too small
 * (dst holds garbage then), -EFBIG if n > RPMAP_GZ_MAX_BLOCK.
 */
ssize_t rpmap_gz_compress(struct rpmap_gz *z, void *dst, size_t cap, const void *src, size_t n);

/*
 * Read the size subfield of the gzip member at p (len bytes available).
 * Returns 1 and *member_len (header to ISIZE, inclusive) when the header
 * carries BC or RP; 0 if the header is not complete yet (*member_len: the
 * bytes needed to read it); -ENOTSUP for a valid gzip header without a size
 * subfield (decode it serially); -EBADMSG if p is not a gzip header or the
 * size is impossible. Reads the header only; checks nothing past it.
 */
int rpmap_gz_member_len(const void *p, size_t len, uint64_t *member_len);

/*
 * Inflate one whole member (exactly `len` bytes, as rpmap_gz_member_len
 * found it) into dst; `isize` is the trailer's ISIZE, the exact output
 * length. CRC-32 and ISIZE are checked, and the member must end exactly at
 * len. Returns isize, -ENOSPC if cap < isize, -EBADMSG if the data is
 * corrupt (*why says how).
 */
ssize_t rpmap_gz_decode(struct libdeflate_decompressor *d, const void *src, size_t len,
			void *dst, size_t cap, uint32_t isize, const char **why);

#endif
