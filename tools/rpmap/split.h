/* SPDX-License-Identifier: MIT */
/*
 * Parallel decompression support: cut a gzip or zstd stream into whole
 * members without decoding them, then decode each member on its own into a
 * buffer of known size. gzip members split when their header records their
 * size (BGZF's "BC" or rpmap's "RP" subfield); zstd frames always split
 * (ZSTD_findFrameCompressedSize). Anything else is "cannot split": decode
 * it serially from there (serial.h). Sizes read from the input are capped
 * and checked against each other before anything is allocated for them.
 *
 * Module graph: split -> codec_gzip, codec_zstd (their format knowledge).
 */
#ifndef RPMAP_SPLIT_H
#define RPMAP_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum rpmap_member_kind {
	RPMAP_MEMBER_GZIP,
	RPMAP_MEMBER_ZSTD,
	RPMAP_MEMBER_ZSTD_SKIP,	/* a skippable frame: decodes to nothing */
};

/* One whole member as rpmap_split_next found it at the start of a buffer. */
struct rpmap_member {
	enum rpmap_member_kind kind;
	uint64_t len;		/* bytes of the member (header to trailer) */
	uint64_t out_max;	/* what it decodes to: exact (gzip ISIZE, zstd content
				 * size) or a bound (zstd frame without content size) */
	bool exact;
};

/* Caps on what the input may make us buffer and allocate. */
struct rpmap_split_limits {
	uint64_t max_len;	/* longest member accepted, in input bytes */
	uint64_t max_out;	/* largest decoded member accepted */
};

/* rpmap's defaults: members up to 64 MiB, decoding to at most 128 MiB (the
 * largest result rpmap's pools take). */
extern const struct rpmap_split_limits rpmap_split_default;

/*
 * Find the member at the start of buf (len bytes buffered; eof: nothing
 * more will come). Stateless and cheap (reads headers; for zstd, block
 * headers): call it again at buf + m->len for the next member.
 *   1        *m is a whole member within buf.
 *   0        more bytes needed: *need is the least total length that might
 *            do (call again when len >= *need). Never returned at eof.
 *   -ENOTSUP the member cannot be split (a gzip member without a size
 *            subfield): decode from here serially.
 *   -EFBIG   the member is longer than lim->max_len or decodes to more than
 *            lim->max_out: decode from here serially (streaming, bounded
 *            memory), or refuse.
 *   -EBADMSG not a gzip or zstd member here (trailing garbage, if this is
 *            not the stream's start), a corrupt header, impossible sizes, or
 *            a member cut short at eof.
 * On any negative return *why names the cause (a static string). len = 0
 * at eof is the stream's clean end: the caller checks that, not this.
 */
int rpmap_split_next(const void *buf, size_t len, bool eof, const struct rpmap_split_limits *lim,
		     struct rpmap_member *m, uint64_t *need, const char **why);

struct rpmap_dec;

/* A member decoder (libdeflate and zstd contexts, made on first use). One
 * per worker. Returns 0 and *out, or -ENOMEM. */
int rpmap_dec_new(struct rpmap_dec **out);
void rpmap_dec_free(struct rpmap_dec *d);

/*
 * Decode member m, found by rpmap_split_next at src, into dst (cap >=
 * m->out_max). Checks CRC-32 and ISIZE (gzip) or the checksum and content
 * size (zstd) and that the member ends where its header said. Returns the
 * bytes written (== m->out_max when m->exact), -ENOSPC if cap < m->out_max,
 * -ENOMEM, or -EBADMSG with rpmap_dec_why(d) the cause.
 */
ssize_t rpmap_dec_member(struct rpmap_dec *d, const struct rpmap_member *m, const void *src,
			 void *dst, size_t cap);

/* Why the last rpmap_dec_member failed (a static string). */
const char *rpmap_dec_why(const struct rpmap_dec *d);

#endif
