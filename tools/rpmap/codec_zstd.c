/* SPDX-License-Identifier: MIT */
/*
 * zstd frames on libzstd's one-shot API (ZSTD_compress2 with the content
 * size and checksum flags set once per context), and the frame inspection
 * split.c needs: where a frame ends (ZSTD_findFrameCompressedSize, which
 * walks the block headers without decoding), what it decodes to, and
 * whether the bytes so far are a frame at all.
 */
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_getFrameHeader, ZSTD_decompressBound */
#include "codec_zstd.h"

#include <errno.h>
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>

/* The most a zstd frame can expand: an RLE block is 4 bytes (3 of header)
 * for at most 128 KiB of output. A content size beyond 32768 times the
 * frame's length is a lie, refused before anyone allocates for it. */
#define MAX_RATIO 32768u

struct rpmap_zst {
	ZSTD_CCtx *c;
};

int rpmap_zst_new(struct rpmap_zst **out, int level)
{
	struct rpmap_zst *z;

	*out = NULL;
	if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->c = ZSTD_createCCtx();
	if (!z->c) {
		free(z);
		return -ENOMEM;
	}
	/* A window of at least 4 MiB, rpmap's frame size (levels below 6
	 * default to 0.5-2 MiB): a frame then finds matches anywhere in
	 * itself, which zstd -T gets from the jobs before it. On the real-text
	 * corpus, 4064 KiB frames at level 3: 3.1% larger than zstd -T2 -3
	 * before, 0.5% smaller after; level 1: 19% smaller. A decoder needs
	 * 4 MiB of window (zstd's default limit is 128 MiB). */
	if (ZSTD_getCParams(level, 0, 0).windowLog < 22 &&
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_windowLog, 22))) {
		rpmap_zst_free(z);
		return -EINVAL;
	}
	if (ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_checksumFlag, 1))) {
		rpmap_zst_free(z);
		return -EINVAL;
	}
	*out = z;
	return 0;
}

void rpmap_zst_free(struct rpmap_zst *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->c);
	free(z);
}

size_t rpmap_zst_bound(size_t n)
{
	size_t b = ZSTD_compressBound(n);

	return ZSTD_isError(b) ? 0 : b;
}

uint64_t rpmap_zst_batch_bound(uint64_t bytes, uint64_t nrec)
{
	return ZSTD_COMPRESSBOUND(bytes) + (nrec + 1) * ZSTD_COMPRESSBOUND(0);
}

ssize_t rpmap_zst_compress(struct rpmap_zst *z, void *dst, size_t cap, const void *src, size_t n)
{
	/* One-shot: the content size goes into the frame header. The context
	 * keeps its parameters across frames (ZSTD_compress2 resets the
	 * session only). */
	size_t r = ZSTD_compress2(z->c, dst, cap, src, n);

	if (!ZSTD_isError(r))
		return (ssize_t)r;
	return ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? -ENOSPC : -EIO;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Could the len < 4 bytes at p start a frame (zstd or skippable)? */
static bool may_be_magic(const unsigned char *p, size_t len)
{
	static const unsigned char zstd[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	static const unsigned char skip[4] = { 0x50, 0x2a, 0x4d, 0x18 };	/* low nibble free */
	bool z = true, s = true;

	for (size_t i = 0; i < len && i < 4; i++) {
		z = z && p[i] == zstd[i];
		s = s && (i ? p[i] == skip[i] : (p[i] & 0xf0) == skip[i]);
	}
	return z || s;
}

/* Not enough bytes: wait for `want`, or fail if nothing more will come. */
static int short_of(bool eof, uint64_t want, uint64_t *need, const char **why)
{
	if (eof) {
		*why = "truncated zstd frame";
		return -EBADMSG;
	}
	*need = want;
	return 0;
}

static int skippable(const unsigned char *h, size_t len, bool eof, uint64_t max_len,
		     struct rpmap_zst_frame *f, uint64_t *need, const char **why)
{
	uint64_t size;

	if (len < ZSTD_SKIPPABLEHEADERSIZE)
		return short_of(eof, ZSTD_SKIPPABLEHEADERSIZE, need, why);
	size = ZSTD_SKIPPABLEHEADERSIZE + (uint64_t)get32(h + 4);
	if (size > max_len)
		return -EFBIG;
	if (len < size)
		return short_of(eof, size, need, why);
	*f = (struct rpmap_zst_frame){ .len = size, .out_max = 0, .exact = true, .skippable = true };
	return 1;
}

int rpmap_zst_frame(const void *p, size_t len, bool eof, uint64_t max_len,
		    struct rpmap_zst_frame *f, uint64_t *need, const char **why)
{
	const unsigned char *h = p;
	ZSTD_frameHeader fh;
	size_t avail = len < max_len ? len : (size_t)max_len, r;
	unsigned long long out;

	if (!may_be_magic(h, len)) {
		*why = "not a zstd frame";
		return -EBADMSG;
	}
	if (len < 4)
		return short_of(eof, 4, need, why);
	if ((get32(h) & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START)
		return skippable(h, len, eof, max_len, f, need, why);
	r = ZSTD_getFrameHeader(&fh, p, len);
	if (ZSTD_isError(r)) {
		*why = "corrupt zstd frame header";
		return -EBADMSG;
	}
	if (r)
		return short_of(eof, r, need, why);
	r = ZSTD_findFrameCompressedSize(p, avail);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) != ZSTD_error_srcSize_wrong) {
			*why = "corrupt zstd frame (block headers)";
			return -EBADMSG;
		}
		if (avail < len || len >= max_len)
			return -EFBIG;
		return short_of(eof, (uint64_t)len + 1, need, why);
	}
	out = fh.frameContentSize;
	f->exact = out != ZSTD_CONTENTSIZE_UNKNOWN;
	if (!f->exact) {
		out = ZSTD_decompressBound(p, r);
		if (out == ZSTD_CONTENTSIZE_ERROR) {
			*why = "corrupt zstd frame (no bound on its size)";
			return -EBADMSG;
		}
	}
	if (out / MAX_RATIO > r) {
		*why = "zstd frame content size impossible for its length";
		return -EBADMSG;
	}
	f->len = r;
	f->out_max = out;
	f->skippable = false;
	return 1;
}

ssize_t rpmap_zst_decode(struct ZSTD_DCtx_s *d, const void *src, const struct rpmap_zst_frame *f,
			 void *dst, size_t cap, const char **why)
{
	static char one;	/* a place to point at for empty frames */
	size_t r;

	if (cap < f->out_max)
		return -ENOSPC;
	if (f->skippable)
		return 0;
	r = ZSTD_decompressDCtx(d, f->out_max ? dst : &one, (size_t)f->out_max, src, (size_t)f->len);
	if (ZSTD_isError(r)) {
		*why = ZSTD_getErrorName(r);
		return -EBADMSG;
	}
	if (f->exact && r != f->out_max) {
		*why = "zstd frame decodes to less than its content size";
		return -EBADMSG;
	}
	return (ssize_t)r;
}
