/* SPDX-License-Identifier: MIT */
/*
 * gzip members on libdeflate's whole-buffer API: the header (with its size
 * subfield) and the trailer are written here around libdeflate's raw
 * deflate data, since libdeflate_gzip_compress writes no extra field. The
 * member's size is known only after compressing, so the data goes straight
 * to its place in dst and the header is filled in last.
 */
#include "codec_gzip.h"

#include <errno.h>
#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

const unsigned char rpmap_bgzf_eof[RPMAP_BGZF_EOF_LEN] = {
	0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 'B', 'C', 2, 0,
	0x1b, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

#define HDR_RP	20	/* 10 fixed, XLEN, "RP", SLEN = 4, the member's size */
#define HDR_BC	18	/* 10 fixed, XLEN, "BC", SLEN = 2, BSIZE - 1 */
#define FEXTRA	4

struct rpmap_gz {
	struct libdeflate_compressor *c;
	bool bgzf;
};

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static uint32_t get16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
	return get16(p) | get16(p + 2) << 16;
}

int rpmap_gz_new(struct rpmap_gz **out, int level, bool bgzf)
{
	struct rpmap_gz *z;

	*out = NULL;
	if (level < 0 || level > 12)
		return -EINVAL;
	z = calloc(1, sizeof(*z));
	if (!z)
		return -ENOMEM;
	z->bgzf = bgzf;
	z->c = libdeflate_alloc_compressor(level);
	if (!z->c) {
		free(z);
		return -ENOMEM;
	}
	/* A full BGZF block must fit in 64 KiB whatever the data; true of
	 * every libdeflate so far (65280 + about 80), checked once. */
	if (bgzf && rpmap_gz_bound(true, RPMAP_BGZF_BLOCK) > RPMAP_BGZF_MAX) {
		rpmap_gz_free(z);
		return -ENOTSUP;
	}
	*out = z;
	return 0;
}

void rpmap_gz_free(struct rpmap_gz *z)
{
	if (!z)
		return;
	libdeflate_free_compressor(z->c);
	free(z);
}

/* Raw deflate bound at any level (libdeflate: NULL = any compressor). */
static uint64_t deflate_bound(uint64_t n)
{
	return libdeflate_deflate_compress_bound(NULL, (size_t)n);
}

size_t rpmap_gz_bound(bool bgzf, size_t n)
{
	size_t full, rest;

	if (!bgzf)
		return deflate_bound(n) + RPMAP_GZ_RP_OVERHEAD;
	full = n / RPMAP_BGZF_BLOCK;
	rest = n % RPMAP_BGZF_BLOCK;
	return full * (deflate_bound(RPMAP_BGZF_BLOCK) + RPMAP_GZ_BC_OVERHEAD) +
	       (rest ? deflate_bound(rest) + RPMAP_GZ_BC_OVERHEAD : 0);
}

uint64_t rpmap_gz_batch_bound(bool bgzf, uint64_t bytes, uint64_t nrec)
{
	/* Members: one per record, BGZF one per 65280 bytes of each (a record
	 * adds at most one partial block). Each costs bound(0) + overhead
	 * beyond the batch's single bound. */
	uint64_t members = bgzf ? bytes / RPMAP_BGZF_BLOCK + nrec + 1 : nrec + 1;
	uint64_t over = bgzf ? RPMAP_GZ_BC_OVERHEAD : RPMAP_GZ_RP_OVERHEAD;

	return deflate_bound(bytes) + members * (deflate_bound(0) + over);
}

/* One member of n <= RPMAP_GZ_MAX_BLOCK bytes at d. Returns its length or
 * -ENOSPC. */
static ssize_t member(struct rpmap_gz *z, unsigned char *d, size_t cap, const void *s, size_t n)
{
	size_t hdr = z->bgzf ? HDR_BC : HDR_RP, avail, dn, total;

	if (cap <= hdr + 8)
		return -ENOSPC;
	avail = cap - hdr - 8;
	if (z->bgzf && avail > RPMAP_BGZF_MAX - RPMAP_GZ_BC_OVERHEAD)
		avail = RPMAP_BGZF_MAX - RPMAP_GZ_BC_OVERHEAD;
	dn = libdeflate_deflate_compress(z->c, s, n, d + hdr, avail);
	if (!dn)
		return -ENOSPC;
	total = hdr + dn + 8;
	/* MTIME 0, XFL 0, OS 255 (unknown), as bgzip writes them. */
	memcpy(d, rpmap_bgzf_eof, 10);
	if (z->bgzf) {
		memcpy(d + 10, rpmap_bgzf_eof + 10, 6);	/* XLEN 6, "BC", SLEN 2 */
		put16(d + 16, (uint32_t)(total - 1));
	} else {
		memcpy(d + 10, "\x08\x00RP\x04\x00", 6);	/* XLEN 8, "RP", SLEN 4 */
		put32(d + 16, (uint32_t)total);
	}
	put32(d + hdr + dn, libdeflate_crc32(0, s, n));
	put32(d + hdr + dn + 4, (uint32_t)n);
	return (ssize_t)total;
}

ssize_t rpmap_gz_compress(struct rpmap_gz *z, void *dst, size_t cap, const void *src, size_t n)
{
	const unsigned char *s = src;
	unsigned char *d = dst;
	size_t done = 0, pos = 0;

	if (n > RPMAP_GZ_MAX_BLOCK)
		return -EFBIG;
	if (!z->bgzf)
		return member(z, d, cap, s, n);
	while (done < n) {
		size_t k = n - done < RPMAP_BGZF_BLOCK ? n - done : RPMAP_BGZF_BLOCK;
		ssize_t m = member(z, d + pos, cap - pos, s + done, k);

		if (m < 0)
			return m;
		pos += (size_t)m;
		done += k;
	}
	return (ssize_t)pos;
}

/* Walk the extra field's subfields (x[0..xlen)) for BC or RP. Returns the
 * member size, or 0 if neither is there (or the field is malformed: zlib
 * does not check it, so such a member is still decoded, serially). */
static uint64_t size_subfield(const unsigned char *x, size_t xlen)
{
	size_t i = 0;

	while (i + 4 <= xlen) {
		size_t slen = get16(x + i + 2);

		if (i + 4 + slen > xlen)
			return 0;
		if (x[i] == 'B' && x[i + 1] == 'C' && slen == 2)
			return (uint64_t)get16(x + i + 4) + 1;
		if (x[i] == 'R' && x[i + 1] == 'P' && slen == 4)
			return get32(x + i + 4);
		i += 4 + slen;
	}
	return 0;
}

int rpmap_gz_member_len(const void *p, size_t len, uint64_t *member_len)
{
	static const unsigned char magic[3] = { 0x1f, 0x8b, 8 };
	const unsigned char *h = p;
	size_t xlen;
	uint64_t size;

	/* Reject garbage on the first bytes that show it, before waiting. */
	for (size_t i = 0; i < 3 && i < len; i++)
		if (h[i] != magic[i])
			return -EBADMSG;
	if (len > 3 && (h[3] & 0xe0))
		return -EBADMSG;	/* reserved flag bits: zlib rejects them too */
	if (len < 12) {
		if (len > 3 && !(h[3] & FEXTRA))
			return -ENOTSUP;
		*member_len = 12;
		return 0;
	}
	if (!(h[3] & FEXTRA))
		return -ENOTSUP;
	xlen = get16(h + 10);
	if (len < 12 + xlen) {
		*member_len = 12 + xlen;
		return 0;
	}
	size = size_subfield(h + 12, xlen);
	if (!size)
		return -ENOTSUP;
	/* Header, the shortest deflate stream (2 bytes), CRC-32 and ISIZE. */
	if (size < 12 + xlen + 2 + 8)
		return -EBADMSG;
	*member_len = size;
	return 1;
}

ssize_t rpmap_gz_decode(struct libdeflate_decompressor *d, const void *src, size_t len,
			void *dst, size_t cap, uint32_t isize, const char **why)
{
	static char one;	/* a place to point at for empty members */
	size_t used = 0;
	enum libdeflate_result r;

	if (cap < isize)
		return -ENOSPC;
	r = libdeflate_gzip_decompress_ex(d, src, len, isize ? dst : &one, isize, &used, NULL);
	switch (r) {
	case LIBDEFLATE_SUCCESS:
		if (used == len)
			return (ssize_t)isize;
		*why = "gzip member ends before the size its header records";
		break;
	case LIBDEFLATE_SHORT_OUTPUT:
		*why = "gzip member inflates to less than its ISIZE";
		break;
	case LIBDEFLATE_INSUFFICIENT_SPACE:
		*why = "gzip member inflates to more than its ISIZE";
		break;
	default:
		*why = "corrupt gzip member (bad header, deflate data, CRC-32 or ISIZE)";
		break;
	}
	return -EBADMSG;
}
