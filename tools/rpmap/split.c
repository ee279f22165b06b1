/* SPDX-License-Identifier: MIT */
/*
 * The splitter dispatches on the first byte (0x1f gzip, else zstd) to the
 * codecs' header readers, then applies the caps: a member's length before
 * the caller buffers it, its decoded size before the caller allocates for
 * it, and the largest ratio the format allows between the two. The decoder
 * holds one libdeflate decompressor and one ZSTD_DCtx, made on first use.
 */
#include "split.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <zstd.h>

#include "codec_gzip.h"
#include "codec_zstd.h"

/* Deflate expands at most 1032:1 (a 258-byte match in 2 bits). */
#define DEFLATE_MAX_RATIO 1032u

const struct rpmap_split_limits rpmap_split_default = {
	.max_len = 64u << 20,
	.max_out = 128u << 20,
};

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int truncated(const char **why)
{
	*why = "truncated member at the end of the input";
	return -EBADMSG;
}

static int gzip_next(const unsigned char *p, size_t len, bool eof,
		     const struct rpmap_split_limits *lim, struct rpmap_member *m, uint64_t *need,
		     const char **why)
{
	uint64_t ml = 0;
	uint32_t isize;
	int r = rpmap_gz_member_len(p, len, &ml);

	m->kind = RPMAP_MEMBER_GZIP;
	if (r == -ENOTSUP) {
		*why = "gzip member without a size subfield (BC or RP)";
		return r;
	}
	if (r < 0) {
		*why = len > 1 && p[1] != 0x8b ? "not a gzip or zstd member"
					     : "corrupt gzip header or impossible member size";
		return r;
	}
	if (r == 1 && ml > lim->max_len) {
		*why = "gzip member longer than the limit";
		return -EFBIG;
	}
	if (r == 0 || len < ml) {
		if (eof)
			return truncated(why);
		*need = ml;
		return 0;
	}
	isize = get32(p + ml - 4);
	if (isize / DEFLATE_MAX_RATIO > ml) {
		*why = "gzip ISIZE impossible for the member's length";
		return -EBADMSG;
	}
	if (isize > lim->max_out) {
		*why = "gzip member decodes to more than the limit";
		return -EFBIG;
	}
	*m = (struct rpmap_member){ .kind = RPMAP_MEMBER_GZIP, .len = ml, .out_max = isize,
				    .exact = true };
	return 1;
}

int rpmap_split_next(const void *buf, size_t len, bool eof, const struct rpmap_split_limits *lim,
		     struct rpmap_member *m, uint64_t *need, const char **why)
{
	const unsigned char *p = buf;
	struct rpmap_zst_frame f;
	int r;

	if (!len) {
		if (eof) {
			*why = "no member: the input ended";
			return -EBADMSG;
		}
		*need = 1;
		return 0;
	}
	/* Caps are applied as soon as a header shows a length, before the
	 * caller buffers the member. */
	if (p[0] == 0x1f)
		return gzip_next(p, len, eof, lim, m, need, why);
	m->kind = RPMAP_MEMBER_ZSTD;
	if (p[0] != 0x28 && (p[0] & 0xf0) != 0x50) {
		*why = "not a gzip or zstd member";
		return -EBADMSG;
	}
	r = rpmap_zst_frame(p, len, eof, lim->max_len, &f, need, why);
	if (r == -EFBIG)
		*why = "zstd frame longer than the limit";
	if (r != 1)
		return r;
	if (f.out_max > lim->max_out) {
		*why = "zstd frame decodes to more than the limit";
		return -EFBIG;
	}
	*m = (struct rpmap_member){
		.kind = f.skippable ? RPMAP_MEMBER_ZSTD_SKIP : RPMAP_MEMBER_ZSTD,
		.len = f.len, .out_max = f.out_max, .exact = f.exact,
	};
	return 1;
}

struct rpmap_dec {
	struct libdeflate_decompressor *gz;
	ZSTD_DCtx *zs;
	const char *why;
};

int rpmap_dec_new(struct rpmap_dec **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void rpmap_dec_free(struct rpmap_dec *d)
{
	if (!d)
		return;
	libdeflate_free_decompressor(d->gz);
	ZSTD_freeDCtx(d->zs);
	free(d);
}

const char *rpmap_dec_why(const struct rpmap_dec *d)
{
	return d->why ? d->why : "no error";
}

ssize_t rpmap_dec_member(struct rpmap_dec *d, const struct rpmap_member *m, const void *src,
			 void *dst, size_t cap)
{
	struct rpmap_zst_frame f = { .len = m->len, .out_max = m->out_max, .exact = m->exact,
				     .skippable = m->kind == RPMAP_MEMBER_ZSTD_SKIP };

	d->why = NULL;
	if (m->kind == RPMAP_MEMBER_GZIP) {
		if (m->out_max > UINT32_MAX || m->len > SIZE_MAX)
			return -EINVAL;
		if (!d->gz && !(d->gz = libdeflate_alloc_decompressor()))
			return -ENOMEM;
		return rpmap_gz_decode(d->gz, src, (size_t)m->len, dst, cap, (uint32_t)m->out_max,
				       &d->why);
	}
	if (!d->zs && !(d->zs = ZSTD_createDCtx()))
		return -ENOMEM;
	return rpmap_zst_decode(d->zs, src, &f, dst, cap, &d->why);
}
