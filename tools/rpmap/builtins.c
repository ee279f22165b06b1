/* SPDX-License-Identifier: MIT */
/*
 * The built-ins: each FUNCTION rpmap knows is one row of rpmap_builtins at
 * the end of this file, and its functions are just above their row (the
 * byte-level helpers are in textops.c, the codecs in codec_*.c, plugins in
 * plugin.c). Per-worker state (a compressor) lives in a static of the row's
 * functions, made on a worker's first record: workers are processes.
 * README.md, "Adding a built-in", says what a new row needs.
 */
#include "builtin.h"
#include "codec_gzip.h"
#include "codec_zstd.h"
#include "split.h"
#include "rpmap.h"
#include "textops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

/* "N" within lo..hi. Returns false on anything else. */
static bool parse_num(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* ---- identity, upper: the record as it is, or upper-cased ---- */

static uint64_t bound_copy(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec)
{
	(void)c;
	(void)nrec;
	return bytes;
}

static int64_t copy_rec(struct rpmap_rec *r, bool up)
{
	r->need = r->has_sep ? r->n - 1 : r->n;	/* <= --max-record <= RPMAP_MAX_RESULT */
	if (r->room < r->n)
		return -2;
	if (up)
		rpmap_upper(r->out, r->p, r->n);
	else
		memcpy(r->out, r->p, r->n);
	return (int64_t)r->n;
}

static int64_t identity_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	(void)c;
	return copy_rec(r, false);
}

static int64_t upper_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	(void)c;
	return copy_rec(r, true);
}

/* Record by record or at once, the same bytes: the batch in one pass,
 * counting the separators as it goes. */
static uint32_t copy_batch(char *out, uint64_t room, const char *p, const char *end, char sep,
			   bool up)
{
	size_t n = (size_t)(end - p);
	uint32_t recs;

	if (n > room || !n)
		return 0;
	recs = (uint32_t)rpmap_copy_count(out, p, n, sep, up);
	if (end[-1] != sep)
		recs++;	/* the input's last record, without separator */
	return recs;
}

static uint32_t identity_batch(const struct rpmap_fnconf *c, char *out, uint64_t room,
			       const char *p, const char *end, char sep)
{
	(void)c;
	return copy_batch(out, room, p, end, sep, false);
}

static uint32_t upper_batch(const struct rpmap_fnconf *c, char *out, uint64_t room,
			    const char *p, const char *end, char sep)
{
	(void)c;
	return copy_batch(out, room, p, end, sep, true);
}

/* ---- crc32, count: one line per record ---- */

static uint64_t bound_line(uint64_t bytes, uint64_t nrec, uint64_t line)
{
	/* nrec unknown: at most one record per input byte, plus one. */
	return line * (nrec ? nrec : bytes + 1);
}

static uint64_t crc32_bound(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec)
{
	(void)c;
	return bound_line(bytes, nrec, 9);
}

static int64_t crc32_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	size_t body = r->has_sep ? r->n - 1 : r->n;

	(void)c;
	r->need = 9;
	if (r->room < 9)
		return -2;
	return (int64_t)rpmap_put_crc(r->out, libdeflate_crc32(0, r->p, body));
}

static int count_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	c->count = 10000000;
	if (arg && !parse_num(arg, 0, UINT64_MAX, &c->count)) {
		snprintf(why, n, "count: bad increment count '%s'", arg);
		return -EINVAL;
	}
	return 0;
}

static uint64_t count_bound(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec)
{
	(void)c;
	return bound_line(bytes, nrec, 21);
}

static int64_t count_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	r->need = 21;
	if (r->room < 21)
		return -2;
	return (int64_t)rpmap_put_u64(r->out, rpmap_burn(c->count));
}

/* ---- gzip: one member per record, on libdeflate ---- */

/*
 * Records default to 4064 KiB: on the real-text corpus (bench/corpus.sh,
 * 128 MiB) members of 128 KiB are 0.8-1.8% larger than pigz's output at
 * levels 4-9 and 1 MiB ones still 0.2% at level 6; 4064 KiB ones are no
 * larger at any level (level 6: -0.03%). 4 MiB less 32 KiB, so that a
 * block's worst case, header included, fits the largest record of 8 MiB
 * rings. BGZF: 62 blocks of 65280 bytes, so that only the input's last
 * block is short.
 */
#define GZ_BLOCK	(4064u << 10)
#define BGZF_RECORD	(62u * RPMAP_BGZF_BLOCK)

static int gzip_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	uint64_t v = 6;

	if (arg && !parse_num(arg, 0, 12, &v)) {
		snprintf(why, n, "gzip: level must be 0-12, not '%s'", arg);
		return -EINVAL;
	}
	c->level = (int)v;
	c->block = c->bgzf ? BGZF_RECORD : GZ_BLOCK;
	return 0;
}

static uint64_t gzip_bound(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec)
{
	return rpmap_gz_batch_bound(c->bgzf, bytes, nrec ? nrec : bytes + 1);
}

static int64_t gzip_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	static struct rpmap_gz *gz;	/* this worker's, made on its first record */
	ssize_t z;
	int e;

	if (!gz && (e = rpmap_gz_new(&gz, c->level, c->bgzf))) {
		r->status = e;
		return -1;
	}
	r->need = rpmap_gz_bound(c->bgzf, r->n);
	z = rpmap_gz_compress(gz, r->out, r->room, r->p, r->n);
	if (z == -ENOSPC)
		return -2;
	if (z < 0) {
		r->status = (int)z;
		return -1;
	}
	return z;
}

/* The end: BGZF's end-of-file block; for empty input one empty member, so
 * the output is a valid gzip file. */
static size_t gzip_finish(const struct rpmap_fnconf *c, bool empty, char *buf, size_t cap)
{
	struct rpmap_gz *gz;
	ssize_t z;

	if (c->bgzf) {
		memcpy(buf, rpmap_bgzf_eof, RPMAP_BGZF_EOF_LEN);
		return RPMAP_BGZF_EOF_LEN;
	}
	if (!empty || rpmap_gz_new(&gz, c->level, false))
		return 0;
	z = rpmap_gz_compress(gz, buf, cap, "", 0);
	rpmap_gz_free(gz);
	return z > 0 ? (size_t)z : 0;
}

/* ---- zstd: one frame per record, content size and checksum ---- */

/* Records default to 4064 KiB as for gzip. With the 4 MiB window the codec
 * sets (codec_zstd.c), on the real-text corpus they are 19% smaller than
 * zstd -T2 at level 1 and 0.5% at 3, but 8.8% larger at 9: there
 * independent frames lose the history zstd -T carries across its jobs. */
static int zstd_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	uint64_t v = 3;

	if (arg && !parse_num(arg, 1, 22, &v)) {
		snprintf(why, n, "zstd: level must be 1-22, not '%s'", arg);
		return -EINVAL;
	}
	c->level = (int)v;
	c->block = GZ_BLOCK;
	return 0;
}

static uint64_t zstd_bound(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec)
{
	(void)c;
	return rpmap_zst_batch_bound(bytes, nrec ? nrec : bytes + 1);
}

static int64_t zstd_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	static struct rpmap_zst *zs;	/* this worker's, made on its first record */
	ssize_t z;
	int e;

	if (!zs && (e = rpmap_zst_new(&zs, c->level))) {
		r->status = e;
		return -1;
	}
	r->need = rpmap_zst_bound(r->n);
	z = rpmap_zst_compress(zs, r->out, r->room, r->p, r->n);
	if (z == -ENOSPC)
		return -2;
	if (z < 0) {
		r->status = (int)z;
		return -1;
	}
	return z;
}

/* Empty input: one empty frame, so the output is a valid zstd file. */
static size_t zstd_finish(const struct rpmap_fnconf *c, bool empty, char *buf, size_t cap)
{
	struct rpmap_zst *zs;
	ssize_t z;

	if (!empty || rpmap_zst_new(&zs, c->level))
		return 0;
	z = rpmap_zst_compress(zs, buf, cap, "", 0);
	rpmap_zst_free(zs);
	return z > 0 ? (size_t)z : 0;
}

/* ---- gunzip, unzstd: one whole member per record, decoded ---- */

/* Members of rpmap's gzip and zstd decode to at most 4064 KiB: the main
 * pool's rings hold that; larger ones run alone in a pool that holds them. */
static int unpack_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n, int kind,
			const char *name)
{
	if (arg) {
		snprintf(why, n, "%s takes no argument ('%s:%s')", name, name, arg);
		return -EINVAL;
	}
	c->members = 1 + kind;
	c->res_hint = GZ_BLOCK + 4096;	/* 8 MiB rings hold it */
	return 0;
}

static int gunzip_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	return unpack_parse(arg, c, why, n, RPMAP_MEMBER_GZIP, "gunzip");
}

static int unzstd_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	return unpack_parse(arg, c, why, n, RPMAP_MEMBER_ZSTD, "unzstd");
}

static int64_t unpack_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	static struct rpmap_dec *d;	/* this worker's, made on its first record */
	struct rpmap_member m;
	uint64_t need;
	const char *why;
	ssize_t z;
	int e;

	(void)c;
	if (!d && (e = rpmap_dec_new(&d))) {
		r->status = e;
		return -1;
	}
	if (rpmap_split_next(r->p, r->n, true, &rpmap_split_default, &m, &need, &why) != 1 ||
	    m.len != r->n) {
		r->status = -EBADMSG;	/* the parent cut it whole: not expected */
		return -1;
	}
	r->need = m.out_max;
	if (r->room < m.out_max)
		return -2;
	z = rpmap_dec_member(d, &m, r->p, r->out, r->room);
	if (z == -ENOSPC)
		return -2;
	if (z < 0) {
		r->status = (int)z;
		return -1;
	}
	return z;
}

/* A member failed in a worker: decode it again here to say why. */
static const char *unpack_explain(const struct rpmap_fnconf *c, const char *p, size_t n,
				  int status)
{
	static struct rpmap_dec *d;
	struct rpmap_member m;
	uint64_t need;
	const char *why = NULL;
	char *buf;

	(void)c;
	if (status != -EBADMSG || (!d && rpmap_dec_new(&d)))
		return NULL;
	if (rpmap_split_next(p, n, true, &rpmap_split_default, &m, &need, &why) != 1)
		return why;
	buf = malloc(m.out_max ? m.out_max : 1);
	if (buf && rpmap_dec_member(d, &m, p, buf, m.out_max) == -EBADMSG)
		why = rpmap_dec_why(d);
	free(buf);
	return why;
}

/* ---- the table ---- */

const struct rpmap_builtin rpmap_builtins[] = {
	{ .name = "identity", .usage = "identity", .bound = bound_copy, .record = identity_rec,
	  .batch = identity_batch },
	{ .name = "upper", .usage = "upper", .bound = bound_copy, .record = upper_rec,
	  .batch = upper_batch },
	{ .name = "crc32", .usage = "crc32", .bound = crc32_bound, .record = crc32_rec },
	{ .name = "count", .usage = "count[:N]", .flags = RPMAP_BI_COSTLY, .parse = count_parse,
	  .bound = count_bound, .record = count_rec },
	{ .name = "gzip", .usage = "gzip[:LEVEL]", .flags = RPMAP_BI_BINARY | RPMAP_BI_BGZF,
	  .parse = gzip_parse, .bound = gzip_bound, .record = gzip_rec, .finish = gzip_finish },
	{ .name = "zstd", .usage = "zstd[:LEVEL]", .flags = RPMAP_BI_BINARY, .parse = zstd_parse,
	  .bound = zstd_bound, .record = zstd_rec, .finish = zstd_finish },
	{ .name = "gunzip", .usage = "gunzip", .flags = RPMAP_BI_STRICT, .out_ratio = 4,
	  .parse = gunzip_parse, .record = unpack_rec, .explain = unpack_explain },
	{ .name = "unzstd", .usage = "unzstd", .flags = RPMAP_BI_STRICT, .out_ratio = 4,
	  .parse = unzstd_parse, .record = unpack_rec, .explain = unpack_explain },
	{ .name = "pipe", .usage = "--pipe CMD", .flags = RPMAP_BI_HIDDEN | RPMAP_BI_COSTLY,
	  .out_ratio = 1, .parse = rpmap_pipe_parse, .record = rpmap_pipe_record,
	  .explain = rpmap_pipe_explain, .stop = rpmap_pipe_stop },
	{ .name = "plugin", .usage = "PLUGIN.so:SYMBOL", .flags = RPMAP_BI_HIDDEN | RPMAP_BI_COSTLY,
	  .out_ratio = 16, .parse = rpmap_plugin_parse, .record = rpmap_plugin_record },
	{ .name = NULL },
};

const struct rpmap_builtin *rpmap_builtin_find(const char *name)
{
	for (const struct rpmap_builtin *b = rpmap_builtins; b->name; b++)
		if (!strcmp(b->name, name))
			return b;
	return NULL;
}
