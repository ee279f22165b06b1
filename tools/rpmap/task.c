/* SPDX-License-Identifier: MIT */
/*
 * What runs in a worker: one ringpool task per batch of records. The batch
 * task reserves one result (its cap was computed by the parent), splits the
 * records again, applies the function record by record and writes the
 * outputs back to back, with a table of per-record failures at the end.
 * Before each record it names it with rp_task_mark, so a crash or a kill at
 * the deadline (which restarts at each mark: --timeout is per record) says
 * which record did it.
 *
 * Plugins are ordinary ringpool task functions, run once per record as a
 * sub-task (rp_task_run) whose result space is the record's place in the
 * batch's result.
 */
#include "rpmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct rpmap_fn rpmap_fn;

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)

/* ---- built-ins ---- */

/*
 * Copy n bytes, ASCII a-z to A-Z if `up` (like tr a-z A-Z: other bytes
 * kept), and count the bytes equal to sep: one pass for the whole batch.
 */
static uint64_t copy_count(char *dst, const char *src, size_t n, char sep, bool up)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t count = 0;
	size_t i = 0;

#ifdef __SSE2__
	const __m128i vsep = _mm_set1_epi8(sep), bias = _mm_set1_epi8((char)(0x80 - 'a'));
	const __m128i lim = _mm_set1_epi8((char)(-128 + 26)), flip = _mm_set1_epi8(up ? 0x20 : 0);

	while (i + 16 <= n) {
		/* Per-byte separator counts in acc (each lane at most 255 before
		 * it is summed with psadbw). */
		__m128i acc = _mm_setzero_si128();
		size_t stop = n - i >= 255 * 16 ? i + 255 * 16 : i + ((n - i) & ~(size_t)15);

		for (; i < stop; i += 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(src + i));
			/* v + 0x80 - 'a' is below -128 + 26 (signed) iff 'a' <= v <= 'z'. */
			__m128i lower = _mm_cmplt_epi8(_mm_add_epi8(v, bias), lim);

			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, vsep));
			_mm_storeu_si128((__m128i *)(dst + i),
					 _mm_xor_si128(v, _mm_and_si128(lower, flip)));
		}
		acc = _mm_sad_epu8(acc, _mm_setzero_si128());
		count += (uint64_t)_mm_cvtsi128_si32(acc) +
			 (uint64_t)_mm_cvtsi128_si32(_mm_srli_si128(acc, 8));
	}
#endif
	for (; i + 8 <= n; i += 8) {
		uint64_t x, h, ge_a, gt_z, t, z;

		memcpy(&x, src + i, 8);
		t = x ^ (ones * (unsigned char)sep);		/* zero bytes: separators */
		z = ~(((t & ~high) + ~high) | t | ~high);	/* top bit set exactly there */
		count += ((z >> 7) * ones) >> 56;		/* sum of the 0/1 bytes */
		if (up) {
			h = x & ~high;				/* each byte <= 0x7f: no carries */
			ge_a = h + ones * (0x80 - 'a');		/* top bit set: byte >= 'a' */
			gt_z = h + ones * (0x7f - 'z');		/* top bit set: byte > 'z' */
			x ^= ((ge_a & ~gt_z & ~x & high) >> 2);	/* 0x20 where 'a' <= byte <= 'z' */
		}
		memcpy(dst + i, &x, 8);
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		count += c == (unsigned char)sep;
		dst[i] = (char)(up && (unsigned)(c - 'a') < 26u ? c - 32 : c);
	}
	return count;
}

/* ASCII a-z to A-Z, 8 bytes at a time (like tr a-z A-Z: other bytes kept). */
static void upper(char *dst, const char *src, size_t n)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t x, h, ge_a, gt_z;

		memcpy(&x, src + i, 8);
		h = x & ~high;				/* each byte <= 0x7f: no carries below */
		ge_a = h + ones * (0x80 - 'a');		/* top bit set: byte >= 'a' */
		gt_z = h + ones * (0x7f - 'z');		/* top bit set: byte > 'z' */
		x ^= ((ge_a & ~gt_z & ~x & high) >> 2);	/* 0x20 where 'a' <= byte <= 'z' */
		memcpy(dst + i, &x, 8);
	}
	for (; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (char)((unsigned)(c - 'a') < 26u ? c - 32 : c);
	}
}

static const char hexd[] = "0123456789abcdef";

static size_t put_crc(char *dst, uint32_t c)
{
	for (int k = 7; k >= 0; k--, c >>= 4)
		dst[k] = hexd[c & 15];
	dst[8] = '\n';
	return 9;
}

static size_t put_u64(char *dst, uint64_t v)
{
	char tmp[24];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	dst[n] = '\n';
	return n + 1;
}

/* The seed's CPU burner: n dependent increments the compiler cannot fold. */
static uint64_t burn(uint64_t n)
{
	uint64_t x = 0;

	for (uint64_t i = 0; i < n; i++) {
		x++;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static z_stream zs;
static bool zs_ready;

/* Compress src into one gzip member at dst. Returns its length, or 0 if
 * it did not fit in cap (or zlib failed). */
static size_t gzip_member(char *dst, size_t cap, const char *src, size_t n, int level)
{
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

size_t rpmap_gzip_empty(void *buf, size_t cap, int level)
{
	size_t n = gzip_member(buf, cap, "", 0, level);

	if (zs_ready) {
		deflateEnd(&zs);
		zs_ready = false;
	}
	return n;
}

/* Per-record output bound of each built-in, beyond the record's bytes; the
 * header, padding and room for one failure entry (--timeout) per batch. */
uint64_t rpmap_result_bound(uint64_t bytes, uint64_t nrec)
{
	uint64_t hdr = sizeof(struct rpmap_res_hdr) + 8 + sizeof(struct rpmap_fail);

	switch (rpmap_fn.kind) {
	case RPMAP_IDENTITY:
	case RPMAP_UPPER:
		return hdr + bytes;
	case RPMAP_CRC32:
		/* nrec unknown: at most one record per input byte, plus one. */
		return hdr + 9 * (nrec ? nrec : bytes + 1);
	case RPMAP_COUNT:
		return hdr + 21 * (nrec ? nrec : bytes + 1);
	case RPMAP_GZIP:
		/* deflateBound for the gzip wrapper is n + n/4096 + n/16384 +
		 * n/2^25 + 25 at most; allow n/1024 + 64 per record. */
		return hdr + bytes + (bytes >> 10) + 64 * (nrec ? nrec : bytes + 1);
	case RPMAP_PLUGIN:
		break;
	}
	return 0;
}

/* ---- the batch task ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Next record in [p, end): its length with the separator, and whether it
 * has one. Returns 0 when nothing is left. */
static size_t next_record(const char *p, const char *end, bool *has_sep)
{
	size_t left = (size_t)(end - p);

	if (!left)
		return 0;
	if (rpmap_fn.mode == RPMAP_BLOCK) {
		*has_sep = false;
		return left < rpmap_fn.block ? left : rpmap_fn.block;
	}
	const char *s = memchr(p, rpmap_fn.sep, left);

	*has_sep = s != NULL;
	return s ? (size_t)(s - p) + 1 : left;
}

static char *scratch;		/* plugin input, when a record is misaligned */
static size_t scratch_cap;

/* Failures are kept here until the batch ends, then copied after the output. */
static struct rpmap_fail *fails;
static size_t fails_cap;

static bool add_fail(uint32_t nfail, uint32_t rec, int status, enum rpmap_why why, uint64_t off)
{
	if (nfail == fails_cap) {
		size_t n = fails_cap ? fails_cap * 2 : 64;
		struct rpmap_fail *f = realloc(fails, n * sizeof(*f));

		if (!f)
			return false;
		fails = f;
		fails_cap = n;
	}
	fails[nfail] = (struct rpmap_fail){ .rec = rec, .count = 1, .status = status,
					    .why = why, .out_off = off };
	return true;
}

/*
 * The result a plugin's record asked for when it did not fit its room: the
 * library does not say, so the record runs again into a private space of
 * RPMAP_MAX_RESULT bytes (reserved address space, MAP_NORESERVE: only the
 * pages it writes are taken, and given back at once). Returns the bytes,
 * RPMAP_MAX_RESULT + 1 if it asked for more than that, or 0 if not known
 * (no such space could be mapped, or it failed the second time).
 */
static uint64_t plugin_need(struct rp_task *t, struct rp_subtask sub)
{
	static void *big;

	if (!big) {
		big = mmap(NULL, RPMAP_MAX_RESULT, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (big == MAP_FAILED) {
			big = NULL;
			return 0;
		}
	}
	sub.out = big;
	sub.out_cap = RPMAP_MAX_RESULT;
	rp_task_run(t, &sub);
	if (sub.out_len)
		madvise(big, sub.out_len, MADV_DONTNEED);
	if (sub.status == RP_EMSGSIZE && (sub.flags & RP_RES_POOL))
		return (uint64_t)RPMAP_MAX_RESULT + 1;
	return sub.status ? 0 : sub.out_len;
}

/*
 * Run the plugin on one record as a sub-task whose result space is `at`
 * (8-aligned first; the output is moved back after). Returns the bytes it
 * produced, or -1 if the record failed (*status set), or -2 if its output
 * did not fit in `room` (*need: what it asked for, 0 if not known).
 */
static ssize_t run_plugin(struct rp_task *t, uint64_t seq, char *at, size_t room,
			  const char *rec, size_t n, int *status, uint64_t *need)
{
	static const uint64_t empty;	/* an aligned place for empty records */
	char *aligned = (char *)(uintptr_t)ALIGN8((uintptr_t)at);
	size_t skew = (size_t)(aligned - at);
	struct rp_subtask sub = { .fn = rpmap_fn.plugin, .seq = seq, .out = aligned,
				  .out_cap = room > skew ? room - skew : 0 };

	if (!n) {
		rec = (const char *)&empty;
	} else if ((uintptr_t)rec & 7) {
		if (n > scratch_cap) {
			char *s = realloc(scratch, n);

			if (!s) {
				*status = -ENOMEM;
				return -1;
			}
			scratch = s;
			scratch_cap = n;
		}
		memcpy(scratch, rec, n);
		rec = scratch;
	}
	sub.in = rec;
	sub.len = n;
	rp_task_run(t, &sub);
	if (sub.status == RP_EMSGSIZE && (sub.flags & RP_RES_POOL)) {
		*need = plugin_need(t, sub);
		return -2;
	}
	if (sub.status) {
		*status = sub.status;
		return -1;
	}
	if (skew && sub.out_len)
		memmove(at, aligned, sub.out_len);
	return (ssize_t)sub.out_len;
}

/* What a plugin's record must leave in the batch's result after its own
 * output: its separator and the failure table entry it might add. */
static uint64_t keep_for(uint64_t pos, uint32_t nfail, bool has_sep)
{
	return ALIGN8(pos) - pos + 8 + (uint64_t)(nfail + 1) * sizeof(*fails) + (has_sep ? 1 : 0);
}

/*
 * Apply the function to one record (n bytes at p, with its separator if
 * has_sep), its output at o, in at most `room` bytes (a plugin's: room -
 * keep, its separator after it); a result (separator not counted) never
 * gets more than RPMAP_MAX_RESULT. Returns the bytes written; -1 if the
 * record failed (*status); -2 if its output did not fit (*need: the
 * result's bytes it asked for, separator not counted, 0 if not known).
 */
static int64_t apply_record(struct rp_task *t, uint64_t seq, char *o, uint64_t room, uint64_t keep,
			    const char *p, size_t n, bool has_sep, int *status, uint64_t *need)
{
	size_t body = has_sep ? n - 1 : n;	/* without the separator */
	uint64_t lim = room < RPMAP_MAX_RESULT ? room : RPMAP_MAX_RESULT;
	ssize_t r;

	switch (rpmap_fn.kind) {
	case RPMAP_IDENTITY:
	case RPMAP_UPPER:
		/* body <= --max-record <= RPMAP_MAX_RESULT */
		*need = body;
		if (room < n)
			return -2;
		if (rpmap_fn.kind == RPMAP_UPPER)
			upper(o, p, n);
		else
			memcpy(o, p, n);
		return (int64_t)n;
	case RPMAP_CRC32:
		*need = 9;
		if (lim < 9)
			return -2;
		return (int64_t)put_crc(o, (uint32_t)crc32(crc32(0, Z_NULL, 0), (const Bytef *)p,
							  (uInt)body));
	case RPMAP_COUNT:
		*need = 21;
		if (lim < 21)
			return -2;
		return (int64_t)put_u64(o, burn(rpmap_fn.count));
	case RPMAP_GZIP:
		/* The bound of rpmap_result_bound, without the batch's header. */
		*need = n + (n >> 10) + 64;
		r = (ssize_t)gzip_member(o, lim, p, n, rpmap_fn.level);
		return r ? r : -2;
	case RPMAP_PLUGIN:
		*need = 0;
		if (room <= keep)
			return -2;
		lim = room - keep < RPMAP_MAX_RESULT ? room - keep : RPMAP_MAX_RESULT;
		r = run_plugin(t, seq, o, lim, p, body, status, need);
		if (r < 0)
			return r;
		if (has_sep)
			o[r++] = rpmap_fn.sep;
		return r;
	}
	return -2;
}

/* The batch's records in [*pp, *end), from the task's input or the
 * mapping. Returns 0 or -EINVAL (a malformed task). */
static int batch_input(const struct rpmap_task_hdr *th, const void *in, size_t len,
		       const char **pp, const char **end)
{
	*pp = (const char *)(th + 1);
	*end = (const char *)in + len;
	if (!th->map_len)
		return 0;
	if (!rpmap_fn.map || th->map_off > rpmap_fn.map_size ||
	    th->map_len > rpmap_fn.map_size - th->map_off || len != sizeof(*th))
		return -EINVAL;
	*pp = rpmap_fn.map + th->map_off;
	*end = *pp + th->map_len;
	return 0;
}

/* identity and upper on lines or NUL records give the same bytes record by
 * record or at once: do the batch at once when it fits (*pos: the bytes
 * written). Returns the records done (all of them), 0 when not taken. */
static uint32_t whole_batch(char *out, uint64_t room, const char **pp, const char *end,
			    uint64_t *pos)
{
	size_t n = (size_t)(end - *pp);
	uint32_t recs;

	if ((rpmap_fn.kind != RPMAP_IDENTITY && rpmap_fn.kind != RPMAP_UPPER) ||
	    rpmap_fn.mode == RPMAP_BLOCK || n > room || !n)
		return 0;
	recs = (uint32_t)copy_count(out, *pp, n, rpmap_fn.sep, rpmap_fn.kind == RPMAP_UPPER);
	if (end[-1] != rpmap_fn.sep)
		recs++;	/* the input's last record, without separator */
	*pp = end;
	*pos += n;
	return recs;
}

/* Fill the result's header and failure table and set its length. Returns
 * 0, or -EPROTO if the parent counted other records. */
static int finish_result(struct rp_task *t, const struct rpmap_task_hdr *th,
			 struct rpmap_res_hdr *rh, uint64_t pos, uint32_t nrec, uint32_t nfail,
			 uint64_t t0)
{
	uint64_t fend = ALIGN8(pos);

	if (th->nrec && th->nrec != nrec)
		return -EPROTO;	/* the parent and the worker disagree on records */
	rh->nrec = nrec;
	rh->nfail = nfail;
	rh->magic = RPMAP_RES_MAGIC;
	rh->out_len = pos - sizeof(*rh);
	if (nfail) {
		if (fend + (uint64_t)nfail * sizeof(*fails) > th->cap)
			return RP_EMSGSIZE;	/* cannot happen: room was kept */
		memcpy((char *)rh + fend, fails, (size_t)nfail * sizeof(*fails));
	}
	rh->run_ns = now_ns() - t0;
	rp_task_result_len(t, fend + (uint64_t)nfail * sizeof(*fails));
	if (th->map_len)
		rpmap_map_drop(rpmap_fn.map + th->map_off, th->map_len);
	return 0;
}

/* Whether the failure table still has room for one more entry after `pos`
 * bytes of output (the parent's bound keeps room for one per batch). */
static bool fail_fits(const struct rpmap_task_hdr *th, uint64_t pos, uint32_t nfail)
{
	return ALIGN8(pos) + (uint64_t)(nfail + 1) * sizeof(*fails) <= th->cap;
}

/*
 * Run record i (n bytes at p) and account for it: its output added at
 * *pos, or a failure entry. With --timeout its run time is measured too:
 * the library kills a record past the limit only while the parent is
 * inside a ringpool call, so one that ran longer and finished meanwhile
 * fails here (its output dropped). Returns 0, or -2 when the batch must
 * stop before record i (*need: what its result asked for, 0 if not known).
 */
static int one_record(struct rp_task *t, const struct rpmap_task_hdr *th, char *out,
		      uint64_t *pos, uint32_t i, uint32_t *nfail, const char *p, size_t n,
		      bool has_sep, uint64_t *need)
{
	uint64_t limit = rpmap_fn.timeout_ns, t0 = limit ? now_ns() : 0;
	int status = 0;
	int64_t r;

	rp_task_mark(t, i);	/* a crash or a kill now names record i */
	r = apply_record(t, th->first + i, out + *pos, th->cap - *pos,
			 keep_for(*pos, *nfail, has_sep), p, n, has_sep, &status, need);
	if (r >= 0 && limit && now_ns() - t0 > limit) {
		status = RP_ETIMEDOUT;
		r = -3;
	}
	if (r == -2)
		return -2;
	if (r >= 0) {
		*pos += (uint64_t)r;
		return 0;
	}
	*need = 0;
	if (!fail_fits(th, *pos, *nfail) ||
	    !add_fail(*nfail, i, status, r == -3 ? RPMAP_WHY_TIMEOUT : RPMAP_WHY_STATUS,
		      *pos - sizeof(struct rpmap_res_hdr)))
		return -2;	/* no room for the failure: the rest runs again */
	++*nfail;
	return 0;
}

int rpmap_batch_task(struct rp_task *t, const void *in, size_t len)
{
	const struct rpmap_task_hdr *th = in;
	const char *p, *end;
	struct rpmap_res_hdr *rh;
	char *out;
	uint64_t t0 = now_ns(), pos, need = 0;
	uint32_t i, nfail = 0;
	bool has_sep, stopped = false;

	if (len < sizeof(*th) || batch_input(th, in, len, &p, &end))
		return -EINVAL;
	out = rp_task_result(t, th->cap);
	if (!out)
		return RP_EMSGSIZE;
	rh = (struct rpmap_res_hdr *)out;
	rh->need = 0;
	pos = sizeof(*rh);
	i = whole_batch(out + pos, th->cap - pos, &p, end, &pos);
	for (size_t n; (n = next_record(p, end, &has_sep)); p += n, i++) {
		if (stopped)
			continue;	/* only counting from here on */
		if (one_record(t, th, out, &pos, i, &nfail, p, n, has_sep, &need) == 0)
			continue;
		stopped = true;
		rh->ndone = i;
		rh->need = need;
	}
	if (!stopped)
		rh->ndone = i;
	return finish_result(t, th, rh, pos, i, nfail, t0);
}
