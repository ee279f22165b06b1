/* SPDX-License-Identifier: MIT */
/*
 * rpmap's codec modules in-process: bounds hold at the sizes around each
 * limit, the splitter finds every member whatever the pieces it is fed,
 * every prefix and every single flipped byte either fails cleanly or decodes
 * to the original, and sizes read from the input (ISIZE, content size,
 * BSIZE) never make anything allocate or write beyond the caps.
 */
#define ZSTD_STATIC_LINKING_ONLY	/* ZSTD_getFrameHeader */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "../codec_gzip.h"
#include "../codec_zstd.h"
#include "../serial.h"
#include "../split.h"

/* Text-like bytes (words from a small vocabulary) or noise. */
static unsigned char *sample(size_t n, bool noise, uint64_t seed)
{
	static const char *const words[] = { "ring", "pool ", "worker", " the ", "batch\n",
					     "gzip", " of ", "member", "  ", "frame\n" };
	unsigned char *p = malloc(n ? n : 1);
	uint64_t x = seed * 2654435761u + 1;

	cr_assert_not_null(p);
	for (size_t i = 0; i < n;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (noise) {
			p[i++] = (unsigned char)x;
			continue;
		}
		for (const char *w = words[x % 10]; *w && i < n; w++)
			p[i++] = (unsigned char)*w;
	}
	return p;
}

enum fmt { GZ, BGZF, ZST };

/* Compress with the module under test, one block as a built-in would.
 * BGZF gets its EOF block. Returns a malloc'd buffer. */
static unsigned char *pack(enum fmt f, int level, const void *in, size_t n, size_t *out_len)
{
	struct rpmap_gz *gz = NULL;
	struct rpmap_zst *zs = NULL;
	size_t bound;
	unsigned char *out;
	ssize_t r;

	if (f == ZST) {
		cr_assert_eq(rpmap_zst_new(&zs, level), 0);
		bound = rpmap_zst_bound(n);
	} else {
		cr_assert_eq(rpmap_gz_new(&gz, level, f == BGZF), 0);
		bound = rpmap_gz_bound(f == BGZF, n);
	}
	out = malloc(bound + RPMAP_BGZF_EOF_LEN);
	cr_assert_not_null(out);
	r = f == ZST ? rpmap_zst_compress(zs, out, bound, in, n)
		     : rpmap_gz_compress(gz, out, bound, in, n);
	cr_assert_geq(r, 0, "compress %zu bytes: %zd", n, r);
	cr_assert_leq((size_t)r, bound);
	if (f == BGZF) {
		memcpy(out + r, rpmap_bgzf_eof, RPMAP_BGZF_EOF_LEN);
		r += RPMAP_BGZF_EOF_LEN;
	}
	rpmap_gz_free(gz);
	rpmap_zst_free(zs);
	*out_len = (size_t)r;
	return out;
}

/* Split + decode the whole of buf (at eof). Returns 0 and the output in
 * *out, or the first negative status. */
static int unpack(const void *buf, size_t len, const struct rpmap_split_limits *lim,
		  unsigned char **out, size_t *out_len, int *members)
{
	const unsigned char *p = buf;
	struct rpmap_dec *d;
	unsigned char *o = NULL;
	size_t pos = 0, olen = 0;
	int r = 0, k = 0;

	cr_assert_eq(rpmap_dec_new(&d), 0);
	while (pos < len) {
		struct rpmap_member m;
		uint64_t need;
		const char *why = NULL;
		ssize_t n;

		r = rpmap_split_next(p + pos, len - pos, true, lim, &m, &need, &why);
		cr_assert_neq(r, 0, "0 (need more) at eof");
		if (r < 0) {
			cr_assert_not_null(why);
			break;
		}
		cr_assert_leq(m.len, len - pos);
		cr_assert_leq(m.out_max, lim->max_out);
		o = realloc(o, olen + m.out_max + 1);
		n = rpmap_dec_member(d, &m, p + pos, o + olen, (size_t)m.out_max);
		if (n < 0) {
			r = (int)n;
			break;
		}
		cr_assert_leq((uint64_t)n, m.out_max);
		olen += (size_t)n;
		pos += (size_t)m.len;
		k++;
		r = 0;
	}
	rpmap_dec_free(d);
	*out = o;
	*out_len = olen;
	if (members)
		*members = k;
	return r;
}

/* The serial decoder on all of buf, in pieces of `piece` bytes. */
static int serial_all(const void *buf, size_t len, size_t piece, unsigned char **out,
		      size_t *out_len)
{
	struct rpmap_serial *s;
	unsigned char *o = NULL;
	size_t pos = 0, olen = 0, cap = 0;
	int r;

	cr_assert_eq(rpmap_serial_new(&s), 0);
	for (int spins = 0;; spins++) {
		size_t avail = len - pos < piece ? len - pos : piece, used, made;

		if (cap - olen < 4096) {
			cap = cap * 2 + 65536;
			o = realloc(o, cap);
		}
		r = rpmap_serial_decode(s, (const char *)buf + pos, avail, &used, o + olen,
					cap - olen, &made, pos + avail == len);
		pos += used;
		olen += made;
		if (r)
			break;
		cr_assert_lt(spins, 10000000, "no progress");
	}
	if (r < 0)
		cr_assert_str_neq(rpmap_serial_why(s), "no error");
	rpmap_serial_free(s);
	*out = o;
	*out_len = olen;
	return r < 0 ? r : 0;
}

static void round_trip(enum fmt f, int level, size_t n, bool noise)
{
	unsigned char *in = sample(n, noise, n), *z, *o;
	size_t zl, ol;
	int members;

	z = pack(f, level, in, n, &zl);
	cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, &members), 0, "%zu bytes", n);
	cr_assert_eq(ol, n);
	cr_assert(!n || !memcmp(o, in, n));
	if (f == BGZF)
		cr_assert_eq(members, (int)((n + RPMAP_BGZF_BLOCK - 1) / RPMAP_BGZF_BLOCK) + 1);
	else
		cr_assert_eq(members, 1);
	free(o);
	cr_assert_eq(serial_all(z, zl, 4096, &o, &ol), 0);
	cr_assert_eq(ol, n);
	cr_assert(!n || !memcmp(o, in, n));
	free(o);
	free(z);
	free(in);
}

static const size_t sizes[] = { 0, 1, 2, 100, 65279, 65280, 65281, 130559, 130560, 130561,
				1 << 20 };

Test(codecs, round_trip_every_size_and_format)
{
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int noise = 0; noise < 2; noise++) {
			round_trip(GZ, 6, sizes[i], noise);
			round_trip(BGZF, 6, sizes[i], noise);
			round_trip(ZST, 3, sizes[i], noise);
		}
}

Test(codecs, levels)
{
	for (int lv = 0; lv <= 12; lv++) {
		round_trip(GZ, lv, 200000, false);
		round_trip(BGZF, lv, 200000, true);
	}
	round_trip(ZST, -5, 200000, false);
	round_trip(ZST, 19, 200000, false);
	round_trip(ZST, 0, 200000, false);
	struct rpmap_gz *gz;
	struct rpmap_zst *zs;

	cr_assert_eq(rpmap_gz_new(&gz, 13, false), -EINVAL);
	cr_assert_eq(rpmap_gz_new(&gz, -1, true), -EINVAL);
	cr_assert_eq(rpmap_zst_new(&zs, ZSTD_maxCLevel() + 1), -EINVAL);
}

/* Incompressible full blocks still fit BGZF's 64 KiB, and the bound holds. */
Test(codecs, bgzf_block_limit)
{
	unsigned char *in = sample(3 * RPMAP_BGZF_BLOCK + 7, true, 9), *z;
	size_t zl, pos = 0;

	z = pack(BGZF, 0, in, 3 * RPMAP_BGZF_BLOCK + 7, &zl);
	while (pos < zl) {
		size_t bsize = (size_t)(z[pos + 16] | z[pos + 17] << 8) + 1;

		cr_assert_eq(memcmp(z + pos + 10, "\x06\0BC\x02\0", 6), 0);
		cr_assert_leq(bsize, RPMAP_BGZF_MAX);
		pos += bsize;
	}
	cr_assert_eq(pos, zl);
	cr_assert_eq(memcmp(z + zl - 28, rpmap_bgzf_eof, 28), 0);
	free(z);
	free(in);
}

/* Too small a buffer is -ENOSPC, not an overrun (checked by ASan). */
Test(codecs, enospc)
{
	unsigned char *in = sample(100000, true, 4);
	struct rpmap_gz *gz;
	struct rpmap_zst *zs;
	unsigned char *out = malloc(50000);

	cr_assert_eq(rpmap_gz_new(&gz, 6, false), 0);
	cr_assert_eq(rpmap_gz_compress(gz, out, 50000, in, 100000), -ENOSPC);
	cr_assert_eq(rpmap_gz_compress(gz, out, 10, in, 100000), -ENOSPC);
	cr_assert_eq(rpmap_gz_compress(gz, out, 50000, in, RPMAP_GZ_MAX_BLOCK + 1), -EFBIG);
	rpmap_gz_free(gz);
	cr_assert_eq(rpmap_zst_new(&zs, 3), 0);
	cr_assert_eq(rpmap_zst_compress(zs, out, 50000, in, 100000), -ENOSPC);
	rpmap_zst_free(zs);
	free(out);
	free(in);
}

/* A batch's bound holds when its records, cut anywhere, are compressed one
 * after the other into the room left, as the batch task does: the worst
 * case is incompressible data in many small records. */
Test(codecs, batch_bounds)
{
	size_t bytes = 300000;
	unsigned char *in = sample(bytes, true, 11);
	static const int gz_levels[] = { 0, 1, 6, 12 }, zs_levels[] = { -5, 1, 19 };

	for (int f = GZ; f <= ZST; f++)
		for (int li = 0; li < (f == ZST ? 3 : 4); li++) {
			struct rpmap_gz *gz = NULL;
			struct rpmap_zst *zs = NULL;
			uint64_t x = 77;

			if (f == ZST)
				cr_assert_eq(rpmap_zst_new(&zs, zs_levels[li]), 0);
			else
				cr_assert_eq(rpmap_gz_new(&gz, gz_levels[li], f == BGZF), 0);
			for (int trial = 0; trial < 8; trial++) {
				/* Records of 0..2^(trial*3) bytes: many tiny ones
				 * first, then large ones. */
				uint64_t nrec = 0, cap;
				size_t cuts[4096], pos = 0, out = 0;
				unsigned char *buf;

				while (pos < bytes && nrec < 4095) {
					x = x * 6364136223846793005ull + 1442695040888963407ull;
					size_t k = (size_t)(x >> 33) % ((size_t)1 << (trial * 3)) + 1;

					if (trial == 0)
						k = x >> 63;	/* empty records too */
					cuts[nrec++] = k < bytes - pos ? k : bytes - pos;
					pos += cuts[nrec - 1];
				}
				cap = f == ZST ? rpmap_zst_batch_bound(pos, nrec)
					       : rpmap_gz_batch_bound(f == BGZF, pos, nrec);
				buf = malloc(cap);
				pos = 0;
				for (uint64_t i = 0; i < nrec; i++) {
					ssize_t r = f == ZST ? rpmap_zst_compress(zs, buf + out, cap - out,
										  in + pos, cuts[i])
							     : rpmap_gz_compress(gz, buf + out, cap - out,
										 in + pos, cuts[i]);

					cr_assert_geq(r, 0, "fmt %d level %d trial %d record %llu: %zd",
						      f, li, trial, (unsigned long long)i, r);
					out += (size_t)r;
					pos += cuts[i];
				}
				free(buf);
			}
			rpmap_gz_free(gz);
			rpmap_zst_free(zs);
		}
	free(in);
}

/* Fed every prefix, the splitter waits (0, asking for more than it has)
 * until the whole member is there; at eof every prefix is an error. */
Test(codecs, incremental_split)
{
	unsigned char *in = sample(70000, false, 5);

	for (enum fmt f = GZ; f <= ZST; f++) {
		size_t zl, first = 0;
		unsigned char *z = pack(f, 6, in, 70000, &zl);

		for (size_t len = 0; len <= zl; len++) {
			struct rpmap_member m;
			uint64_t need = 0;
			const char *why;
			int r = rpmap_split_next(z, len, false, &rpmap_split_default, &m, &need, &why);

			if (r == 1) {
				first = len;
				break;
			}
			cr_assert_eq(r, 0, "fmt %d, %zu bytes: %d (%s)", f, len, r, why);
			cr_assert_gt(need, len);
			if (len)
				cr_assert_eq(rpmap_split_next(z, len, true, &rpmap_split_default, &m,
							      &need, &why), -EBADMSG);
		}
		cr_assert_gt(first, 0, "fmt %d: never split", f);
		free(z);
	}
	free(in);
}

/* Every single flipped byte, and every truncation: a clean error, or the
 * original bytes. Never anything else. */
Test(codecs, every_flip_and_cut, .timeout = 240)
{
	unsigned char *in = sample(3000, false, 6);

	for (enum fmt f = GZ; f <= ZST; f++) {
		size_t zl, ol;
		unsigned char *z = pack(f, 6, in, 3000, &zl), *o;
		int caught = 0;

		for (size_t i = 0; i < zl; i++)
			for (int bit = 0; bit < 8; bit += 3) {
				z[i] ^= (unsigned char)(1 << bit);
				for (int way = 0; way < 2; way++) {
					int r = way ? serial_all(z, zl, 512, &o, &ol)
						    : unpack(z, zl, &rpmap_split_default, &o, &ol, NULL);

					if (r == 0) {
						cr_assert_eq(ol, 3000, "fmt %d byte %zu bit %d way %d", f,
							     i, bit, way);
						cr_assert_eq(memcmp(o, in, 3000), 0);
					} else {
						cr_assert(r == -EBADMSG || r == -ENOTSUP || r == -EFBIG,
							  "fmt %d byte %zu: %d", f, i, r);
						caught++;
					}
					free(o);
				}
				z[i] ^= (unsigned char)(1 << bit);
			}
		cr_assert_gt(caught, (int)zl, "fmt %d: most flips must be caught", f);
		for (size_t len = 0; len < zl; len++) {
			int r = unpack(z, len, &rpmap_split_default, &o, &ol, NULL);

			/* A cut at a member boundary (BGZF before its EOF block)
			 * is a valid shorter stream. */
			if (r == 0)
				cr_assert(!len || (f == BGZF && len == zl - 28 && ol == 3000),
					  "fmt %d cut to %zu", f, len);
			free(o);
			r = serial_all(z, len, 100, &o, &ol);
			if (r == 0)
				cr_assert(!len || (f == BGZF && len == zl - 28 && ol == 3000),
					  "fmt %d cut to %zu (serial)", f, len);
			free(o);
		}
		free(z);
	}
	free(in);
}

/* Put a 32-bit little-endian value. */
static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* A member that lies about its ISIZE: never more output than it claims. */
Test(codecs, gzip_lying_sizes)
{
	size_t n = 4 << 20, zl, ol;
	unsigned char *zeros = calloc(1, n), *z, *o;
	struct rpmap_split_limits small = { .max_len = 1 << 20, .max_out = 1 << 20 };

	z = pack(GZ, 6, zeros, n, &zl);	/* 4 MiB of zeros: about 4 KiB */
	cr_assert_lt(zl, 8192);
	/* Within the caps it decodes... */
	cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), 0);
	cr_assert_eq(ol, n);
	free(o);
	/* ...over them it is refused before any allocation (decode serially). */
	cr_assert_eq(unpack(z, zl, &small, &o, &ol, NULL), -EFBIG);
	free(o);
	/* ISIZE says 10: decoding must stop at 10 bytes, with an error. */
	put32(z + zl - 4, 10);
	cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
	free(o);
	/* ISIZE beyond 1032 x the member: impossible, refused unread. */
	put32(z + zl - 4, 0xffffffffu);
	cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
	free(o);
	/* The RP size says longer than the data: truncated at eof. */
	put32(z + 16, (uint32_t)zl + 100);
	cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
	free(o);
	/* ... or longer, covering bytes after the deflate data and trailer:
	 * the member must end exactly where its header says. */
	{
		unsigned char *y = malloc(zl + 5);

		/* A valid member, then 'j' and a copy of its ISIZE: the
		 * recorded size takes them in, and the ISIZE read at the
		 * recorded end is right. Only the end check can catch it. */
		put32(z + zl - 4, (uint32_t)n);
		memcpy(y, z, zl);
		y[zl] = 'j';
		put32(y + zl + 1, (uint32_t)n);
		put32(y + 16, (uint32_t)zl + 5);
		cr_assert_eq(unpack(y, zl + 5, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
		free(o);
		put32(y + 16, (uint32_t)zl);	/* the true size: the 5 bytes are garbage */
		cr_assert_eq(unpack(y, zl + 5, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
		free(o);
		free(y);
	}
	/* ... or shorter than its header: impossible. */
	put32(z + 16, 20);
	cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
	free(o);
	/* ... or longer than the cap: refused before waiting for it. */
	put32(z + 16, 1u << 31);
	{
		struct rpmap_member m;
		uint64_t need;
		const char *why;

		cr_assert_eq(rpmap_split_next(z, 100, false, &rpmap_split_default, &m, &need, &why),
			     -EFBIG);
	}
	free(z);
	free(zeros);
}

/* A zstd frame whose content size is a lie, or too large for the caps. */
Test(codecs, zstd_lying_sizes)
{
	size_t n = 4 << 20, zl, ol;
	unsigned char *zeros = calloc(1, n), *z, *o;
	struct rpmap_split_limits small = { .max_len = 1 << 20, .max_out = 1 << 20 };
	ZSTD_frameHeader fh;

	z = pack(ZST, 3, zeros, n, &zl);
	cr_assert_eq(unpack(z, zl, &small, &o, &ol, NULL), -EFBIG);
	free(o);
	cr_assert_eq(ZSTD_getFrameHeader(&fh, z, zl), 0);
	cr_assert_eq(fh.frameContentSize, n);
	/* Frame header: magic, descriptor (FCS field 4 bytes when the size
	 * fits 32 bits and is >= 256, single segment or not), window...:
	 * find the 4-byte FCS by value and change it. */
	for (size_t i = 4; i + 4 <= fh.headerSize; i++)
		if (z[i] == 0 && z[i + 1] == 0 && z[i + 2] == 0x40 && z[i + 3] == 0) {
			put32(z + i, 1000);
			cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
			free(o);
			put32(z + i, 0xfffffff0u);	/* > 32768 x the frame */
			cr_assert_eq(unpack(z, zl, &rpmap_split_default, &o, &ol, NULL), -EBADMSG);
			free(o);
			free(z);
			free(zeros);
			return;
		}
	cr_assert_fail("no 4-byte content size field found");
}

/* Plain gzip (zlib, no subfield) is "cannot split"; the serial decoder
 * reads multi-member plain gzip, and refuses trailing garbage clearly. */
Test(codecs, plain_gzip_serial)
{
	unsigned char *in = sample(200000, false, 7), z[2][300000];
	size_t zl[2], ol;
	unsigned char *cat, *o;
	struct rpmap_member m;
	uint64_t need;
	const char *why;
	struct rpmap_serial *s;
	size_t used, made;
	char msg[128];

	for (int k = 0; k < 2; k++) {
		z_stream zs = { 0 };

		cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
		zs.next_in = in + k * 100000;
		zs.avail_in = 100000;
		zs.next_out = z[k];
		zs.avail_out = sizeof(z[k]);
		cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
		zl[k] = zs.total_out;
		deflateEnd(&zs);
	}
	cr_assert_eq(rpmap_split_next(z[0], zl[0], true, &rpmap_split_default, &m, &need, &why),
		     -ENOTSUP);
	cr_assert_eq(rpmap_split_next(z[0], 4, false, &rpmap_split_default, &m, &need, &why),
		     -ENOTSUP, "no FEXTRA flag: known from the first 4 bytes");
	cat = malloc(zl[0] + zl[1] + 8);
	memcpy(cat, z[0], zl[0]);
	memcpy(cat + zl[0], z[1], zl[1]);
	cr_assert_eq(serial_all(cat, zl[0] + zl[1], 333, &o, &ol), 0);
	cr_assert_eq(ol, 200000);
	cr_assert_eq(memcmp(o, in, 200000), 0);
	free(o);
	memcpy(cat + zl[0] + zl[1], "garbage!", 8);
	cr_assert_eq(serial_all(cat, zl[0] + zl[1] + 8, 333, &o, &ol), -EBADMSG);
	free(o);
	cr_assert_eq(rpmap_serial_new(&s), 0);
	cr_assert_eq(rpmap_serial_decode(s, cat, zl[0] + zl[1] + 8, &used, in, 200000, &made,
					 true), 0, "returns after the first member");
	cr_assert(rpmap_serial_between(s));
	cr_assert_eq(used, zl[0]);
	for (size_t taken; rpmap_serial_decode(s, cat + used, zl[0] + zl[1] + 8 - used, &taken, in,
					       200000, &made, true) == 0;)
		used += taken;
	snprintf(msg, sizeof(msg), "member 2 (input byte %zu): trailing garbage after the last member",
		 zl[0] + zl[1]);
	cr_assert_str_eq(rpmap_serial_why(s), msg);
	rpmap_serial_free(s);
	cr_assert_eq(serial_all("", 0, 1, &o, &ol), 0, "empty input is a clean end");
	free(o);
	free(cat);
	free(in);
}

/* zstd frames with no content size (streamed) split, decode into their
 * bound, and a skippable frame is a member with no output. */
Test(codecs, zstd_unknown_size_and_skippable)
{
	unsigned char *in = sample(300000, false, 8), *buf = malloc(400000), *o;
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_outBuffer out = { buf, 400000, 0 };
	ZSTD_inBuffer zi = { in, 300000, 0 };
	size_t ol;
	int members;

	cr_assert_eq(ZSTD_compressStream2(c, &out, &zi, ZSTD_e_continue), 0);
	cr_assert_eq(ZSTD_compressStream2(c, &out, &zi, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	cr_assert_eq(ZSTD_getFrameContentSize(buf, out.pos), ZSTD_CONTENTSIZE_UNKNOWN);
	memcpy(buf + out.pos, "\x50\x2a\x4d\x18\x02\x00\x00\x00hi", 10);
	cr_assert_eq(unpack(buf, out.pos + 10, &rpmap_split_default, &o, &ol, &members), 0);
	cr_assert_eq(members, 2);
	cr_assert_eq(ol, 300000);
	cr_assert_eq(memcmp(o, in, 300000), 0);
	free(o);
	free(buf);
	free(in);
}

Test(codecs, garbage_and_empty)
{
	struct rpmap_member m;
	uint64_t need;
	const char *why = NULL;

	cr_assert_eq(rpmap_split_next("hello", 5, false, &rpmap_split_default, &m, &need, &why),
		     -EBADMSG);
	cr_assert_str_eq(why, "not a gzip or zstd member");
	cr_assert_eq(rpmap_split_next("\x1f\x8c", 2, false, &rpmap_split_default, &m, &need, &why),
		     -EBADMSG);
	cr_assert_eq(rpmap_split_next("\x1f", 1, false, &rpmap_split_default, &m, &need, &why), 0);
	cr_assert_eq(rpmap_split_next("", 0, false, &rpmap_split_default, &m, &need, &why), 0);
	cr_assert_eq(rpmap_split_next("\x28\xb5", 2, true, &rpmap_split_default, &m, &need, &why),
		     -EBADMSG);
	cr_assert_str_eq(why, "truncated zstd frame");
	/* Reserved FLG bits: not gzip. */
	cr_assert_eq(rpmap_split_next("\x1f\x8b\x08\x24", 4, false, &rpmap_split_default, &m,
				      &need, &why), -EBADMSG);
}
