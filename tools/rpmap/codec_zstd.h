/* SPDX-License-Identifier: MIT */
/*
 * zstd frames on libzstd: one input block becomes one frame that records its
 * content size and ends with a checksum, so a stream of such frames is one
 * valid zstd file and each frame can be decoded alone into a buffer of the
 * right size. Also finds where a frame ends (for split.h) and decodes one.
 */
#ifndef RPMAP_CODEC_ZSTD_H
#define RPMAP_CODEC_ZSTD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ZSTD_DCtx_s;

struct rpmap_zst;

/*
 * A compressor at `level` (ZSTD_minCLevel() .. ZSTD_maxCLevel(), i.e.
 * -131072 .. 22 with libzstd 1.5; 0 means libzstd's default, 3), single
 * threaded. One per worker (not thread-safe). Returns 0 and *out, -EINVAL
 * for a level out of range, -ENOMEM.
 */
int rpmap_zst_new(struct rpmap_zst **out, int level);
void rpmap_zst_free(struct rpmap_zst *z);

/* Worst-case output of rpmap_zst_compress for n input bytes
 * (ZSTD_compressBound); 0 if n is too large for zstd. */
size_t rpmap_zst_bound(size_t n);

/*
 * Worst case for a batch of `bytes` input bytes in at most `nrec` records,
 * one frame each, written one after the other (nrec = bytes + 1 when not
 * counted). ZSTD_compressBound(n) is n + n/256 + (128 KiB - n)/2048 below
 * 128 KiB, so the bounds of a split sum to at most the whole's bound plus
 * 64 bytes per record.
 */
uint64_t rpmap_zst_batch_bound(uint64_t bytes, uint64_t nrec);

/*
 * Compress src[0..n) into one frame at dst, with content size and XXH64
 * checksum (n = 0 gives an empty frame, a valid zstd file). Returns the
 * bytes written, -ENOSPC if cap was too small, -EIO if libzstd failed
 * otherwise.
 */
ssize_t rpmap_zst_compress(struct rpmap_zst *z, void *dst, size_t cap, const void *src, size_t n);

/* What rpmap_zst_frame found at the start of a buffer. */
struct rpmap_zst_frame {
	uint64_t len;		/* bytes of the whole frame */
	uint64_t out_max;	/* its content size (exact) or a bound on it */
	bool exact;		/* out_max is the frame's recorded content size */
	bool skippable;		/* a skippable frame: no output */
};

/*
 * Look at the frame at p (len bytes available; `eof`: no more will come).
 * Returns 1 and *f for a whole frame within the first `max_len` bytes; 0 if
 * more bytes are needed (*need: the least total that might do); -EFBIG if
 * the frame does not end within max_len bytes; -EBADMSG if p is not a zstd
 * frame, is corrupt, or is cut short at eof (*why says which).
 */
int rpmap_zst_frame(const void *p, size_t len, bool eof, uint64_t max_len,
		    struct rpmap_zst_frame *f, uint64_t *need, const char **why);

/*
 * Decode the one frame f (as rpmap_zst_frame found it at src) into dst.
 * The checksum is verified when present; with f->exact the output must be
 * exactly f->out_max bytes. Returns the bytes written, -ENOSPC if cap <
 * f->out_max, -EBADMSG if the frame is corrupt (*why says how).
 */
ssize_t rpmap_zst_decode(struct ZSTD_DCtx_s *d, const void *src, const struct rpmap_zst_frame *f,
			 void *dst, size_t cap, const char **why);

#endif
