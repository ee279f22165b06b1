/* SPDX-License-Identifier: MIT */
/*
 * A member at a time: between members the first byte says which decoder
 * takes the next one (0x1f gzip, 0x28 or 0x5? zstd), which then runs until
 * its member ends (zlib's Z_STREAM_END, ZSTD_decompressStream's 0: both
 * mean "ended, checked and fully flushed"). Input that runs out inside a
 * member at eof is a truncated member.
 */
#include "serial.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

enum state { BETWEEN, GZIP, ZSTD };

struct rpmap_serial {
	enum state state;
	z_stream zs;
	bool zs_ready;
	ZSTD_DStream *zd;
	uint64_t members;
	uint64_t taken;		/* input bytes taken */
	uint64_t member_off;	/* input offset of the current member */
	char why[160];
};

int rpmap_serial_new(struct rpmap_serial **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void rpmap_serial_free(struct rpmap_serial *s)
{
	if (!s)
		return;
	if (s->zs_ready)
		inflateEnd(&s->zs);
	ZSTD_freeDStream(s->zd);
	free(s);
}

bool rpmap_serial_between(const struct rpmap_serial *s)
{
	return s->state == BETWEEN;
}

void rpmap_serial_rebase(struct rpmap_serial *s, uint64_t members, uint64_t offset)
{
	s->members = members;
	s->taken = offset;
}

uint64_t rpmap_serial_members(const struct rpmap_serial *s)
{
	return s->members;
}

uint64_t rpmap_serial_offset(const struct rpmap_serial *s)
{
	return s->taken;
}

const char *rpmap_serial_why(const struct rpmap_serial *s)
{
	return s->why[0] ? s->why : "no error";
}

static int fail(struct rpmap_serial *s, const char *what)
{
	snprintf(s->why, sizeof(s->why), "member %llu (input byte %llu): %s",
		 (unsigned long long)s->members, (unsigned long long)s->member_off, what);
	return -EBADMSG;
}

/* Between members: pick the decoder for the next one. Returns 1 if one
 * started, 0 if the input is done (or more is needed), or -errno. */
static int start_member(struct rpmap_serial *s, const unsigned char *in, size_t left, bool eof)
{
	if (!left)
		return 0;
	s->member_off = s->taken;
	if (in[0] == 0x1f) {
		if (!s->zs_ready) {
			if (inflateInit2(&s->zs, 15 + 16) != Z_OK)	/* gzip only */
				return -ENOMEM;
			s->zs_ready = true;
		} else if (inflateReset(&s->zs) != Z_OK) {
			return -ENOMEM;
		}
		s->state = GZIP;
		return 1;
	}
	if (in[0] == 0x28 || (in[0] & 0xf0) == 0x50) {
		if (!s->zd && !(s->zd = ZSTD_createDStream()))
			return -ENOMEM;
		ZSTD_DCtx_reset(s->zd, ZSTD_reset_session_only);
		s->state = ZSTD;
		return 1;
	}
	return fail(s, s->members ? "trailing garbage after the last member"
				  : "not gzip or zstd data");
}

/* Run the gzip member on. Returns 1 if it ended, 0 if it needs more input
 * or output room, or -errno. */
static int run_gzip(struct rpmap_serial *s, const unsigned char *in, size_t *ip, size_t in_len,
		    unsigned char *out, size_t *op, size_t out_cap, bool eof)
{
	size_t in_chunk = in_len - *ip > UINT32_MAX ? UINT32_MAX : in_len - *ip;
	size_t out_chunk = out_cap - *op > UINT32_MAX ? UINT32_MAX : out_cap - *op;
	int r;

	s->zs.next_in = (Bytef *)(uintptr_t)(in + *ip);
	s->zs.avail_in = (uInt)in_chunk;
	s->zs.next_out = out + *op;
	s->zs.avail_out = (uInt)out_chunk;
	r = inflate(&s->zs, Z_NO_FLUSH);
	*ip += in_chunk - s->zs.avail_in;
	*op += out_chunk - s->zs.avail_out;
	s->taken += in_chunk - s->zs.avail_in;
	switch (r) {
	case Z_STREAM_END:
		return 1;
	case Z_OK:
	case Z_BUF_ERROR:	/* no progress possible: needs input or room */
		if (s->zs.avail_out && *ip == in_len && eof)
			return fail(s, "truncated gzip member");
		return 0;
	case Z_MEM_ERROR:
		return -ENOMEM;
	default: {
		char what[120];

		snprintf(what, sizeof(what), "corrupt gzip member (zlib: %s)",
			 s->zs.msg ? s->zs.msg : "data error");
		return fail(s, what);
	}
	}
}

/* The same for a zstd frame (a skippable frame ends with no output). */
static int run_zstd(struct rpmap_serial *s, const unsigned char *in, size_t *ip, size_t in_len,
		    unsigned char *out, size_t *op, size_t out_cap, bool eof)
{
	ZSTD_inBuffer zi = { in + *ip, in_len - *ip, 0 };
	ZSTD_outBuffer zo = { out + *op, out_cap - *op, 0 };
	size_t r = ZSTD_decompressStream(s->zd, &zo, &zi);

	*ip += zi.pos;
	*op += zo.pos;
	s->taken += zi.pos;
	if (ZSTD_isError(r)) {
		char what[120];

		snprintf(what, sizeof(what), "corrupt zstd frame (%s)", ZSTD_getErrorName(r));
		return fail(s, what);
	}
	if (r == 0)
		return 1;
	/* Not full: everything it could decode is out, it wants input. */
	if (zo.pos < zo.size && *ip == in_len && eof)
		return fail(s, "truncated zstd frame");
	return 0;
}

int rpmap_serial_decode(struct rpmap_serial *s, const void *in, size_t in_len, size_t *in_used,
			void *out, size_t out_cap, size_t *out_used, bool eof)
{
	const unsigned char *i = in;
	size_t ip = 0, op = 0;
	int r = 0;

	for (;;) {
		if (s->state == BETWEEN) {
			r = start_member(s, i + ip, in_len - ip, eof);
			if (r == 0 && ip == in_len && eof)
				r = 1;	/* the clean end */
			if (r <= 0 || s->state == BETWEEN)
				break;
		}
		if (s->state == GZIP)
			r = run_gzip(s, i, &ip, in_len, out, &op, out_cap, eof);
		else
			r = run_zstd(s, i, &ip, in_len, out, &op, out_cap, eof);
		if (r <= 0)
			break;
		s->state = BETWEEN;
		s->members++;
		r = 0;
		if (ip < in_len || !eof)
			break;	/* after each member: the caller may split again */
	}
	*in_used = ip;
	*out_used = op;
	return r;
}
