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
#include "rpmap.h"
#include "textops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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
	return (int64_t)rpmap_put_crc(r->out, (uint32_t)crc32(crc32(0, Z_NULL, 0),
							       (const Bytef *)r->p, (uInt)body));
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

/* ---- gzip: one member per record (zlib) ---- */

static int gzip_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	uint64_t v = 6;

	if (arg && !parse_num(arg, 0, 9, &v)) {
		snprintf(why, n, "gzip: level must be 0-9, not '%s'", arg);
		return -EINVAL;
	}
	c->level = (int)v;
	return 0;
}

static uint64_t gzip_bound(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec)
{
	/* deflateBound for the gzip wrapper is n + n/4096 + n/16384 + n/2^25
	 * + 25 at most; allow n/1024 + 64 per record. */
	(void)c;
	return bytes + (bytes >> 10) + 64 * (nrec ? nrec : bytes + 1);
}

/* Compress src into one gzip member at dst. Returns its length, or 0 if
 * it did not fit in cap (or zlib failed). */
static size_t gzip_member(char *dst, size_t cap, const char *src, size_t n, int level)
{
	static z_stream zs;	/* per worker, made on its first record */
	static bool zs_ready;

	if (!zs_ready) {
		if (deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return 0;
		zs_ready = true;
	} else if (deflateReset(&zs) != Z_OK) {
		return 0;
	}
	zs.next_in = (Bytef *)(uintptr_t)src;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)dst;
	zs.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		return 0;
	return (size_t)zs.total_out;
}

static int64_t gzip_rec(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	size_t z;

	r->need = gzip_bound(c, r->n, 1);
	z = gzip_member(r->out, r->room, r->p, r->n, c->level);
	return z ? (int64_t)z : -2;
}

/* Empty input: one empty member, so the output is a valid gzip file. */
static size_t gzip_finish(const struct rpmap_fnconf *c, bool empty, char *buf, size_t cap)
{
	return empty ? gzip_member(buf, cap, "", 0, c->level) : 0;
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
	{ .name = "gzip", .usage = "gzip[:LEVEL]", .block = 128u << 10, .parse = gzip_parse,
	  .bound = gzip_bound, .record = gzip_rec, .finish = gzip_finish },
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
