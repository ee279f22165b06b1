/* SPDX-License-Identifier: MIT */
/*
 * Input: large reads into segments, and batches of whole records cut from
 * them (a mapped regular file is one segment: inmap.c). A batch points into its segment (no copy) and holds a reference
 * until its results are written, so a failed batch can be run again; a
 * record that straddles the end of a segment is carried (copied) to the
 * start of the next one. Memory is the segments pinned by batches in
 * flight, so it stays flat whatever the input's length.
 *
 * A regular file is instead mapped whole, before the workers are forked:
 * it is then one segment, tasks carry only offsets, and workers read the
 * records from their own copy of the mapping. Pages are dropped from the
 * mapping once their batches are done (file-backed, so memory stays flat
 * here too), and nothing is copied on the way in.
 */
#include "rpmaplib.h"
#include "split.h"
#include "textops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FREE_SEGS	4
#define MIN_READ	(256u << 10)	/* start a new segment below this much room */

void rpmap_input_regular(struct rpmap_input *in, uint64_t start, uint64_t size, bool may_map)
{
	in->start = start;
	in->regular = true;
	in->size = size;
	in->id.left = size > 0;
	posix_fadvise(in->fd, (off_t)start, 0, POSIX_FADV_SEQUENTIAL);
	if (may_map && size && size == (size_t)size)
		rpmap_map_input(in);	/* failing that, the file is read() */
}

int rpmap_input_open(struct rpmap_input *in, const char *path, size_t max_record, bool may_map)
{
	struct stat st;
	off_t at;

	memset(in, 0, sizeof(*in));
	in->read_size = 1u << 20;
	in->max_record = max_record;
	if (!path || !strcmp(path, "-")) {
		in->fd = 0;
		in->name = "standard input";
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		in->name = path;
		if (in->fd < 0)
			return -errno;
	}
	if (fstat(in->fd, &st) < 0)
		return 0;	/* read() will say what is wrong */
	in->id = (struct rpmap_file_id){ .known = true, .dev = (uint64_t)st.st_dev,
					 .ino = (uint64_t)st.st_ino, .left = true };
	if (!S_ISREG(st.st_mode))
		return 0;
	/* Like cat, start where the file's offset is (`{ head -n 1 >/dev/null;
	 * rpmap f; } < F`): the records are the bytes from there. */
	at = lseek(in->fd, 0, SEEK_CUR);
	at = at > 0 && at < st.st_size ? at : at > 0 ? st.st_size : 0;
	rpmap_input_regular(in, (uint64_t)at, (uint64_t)(st.st_size - at), may_map);
	return 0;
}

static void seg_put(struct rpmap_input *in, struct rpmap_seg *s)
{
	if (--s->refs)
		return;
	if (s->mapped) {
		munmap(s->map_base, s->map_len);
		free(s);
		return;
	}
	if (in->nfree < MAX_FREE_SEGS && s->cap == in->read_size + (size_t)MIN_READ) {
		s->next = in->free_segs;
		in->free_segs = s;
		in->nfree++;
		return;
	}
	free(s->buf);
	free(s);
}

/* A segment of at least `need` bytes; the common size comes from the free list. */
static struct rpmap_seg *seg_get(struct rpmap_input *in, size_t need)
{
	size_t std = in->read_size + MIN_READ;
	struct rpmap_seg *s;

	if (need <= std && in->free_segs) {
		s = in->free_segs;
		in->free_segs = s->next;
		in->nfree--;
	} else {
		/* A record that keeps growing doubles its segment: check the
		 * memory left first, or the OOM killer would, once it is touched. */
		if (need > std && need > rpmap_mem_available())
			return NULL;
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->cap = need <= std ? std : need;
		s->buf = malloc(s->cap);
		if (!s->buf) {
			free(s);
			return NULL;
		}
	}
	s->fill = 0;
	s->refs = 1;	/* the input's own reference while it is current */
	s->next = NULL;
	return s;
}

bool rpmap_input_done(const struct rpmap_input *in)
{
	return in->eof && (!in->cur || in->cut == in->cur->fill);
}

ssize_t rpmap_input_fill(struct rpmap_input *in, bool may_block)
{
	struct rpmap_seg *s = in->cur;
	ssize_t r;

	if (in->eof)
		return 0;
	if (!s || s->cap - s->fill < MIN_READ) {
		/* New segment: carry the incomplete tail over. */
		size_t carry = s ? s->fill - in->cut : 0;
		/* Standard size while the carry is small; a record that keeps
		 * growing doubles its segment (amortised O(1) copying). */
		size_t std = in->read_size + MIN_READ;
		struct rpmap_seg *n = seg_get(in, carry > std / 2 ? carry * 2 : std);

		if (!n)
			return -ENOMEM;
		if (carry)
			memcpy(n->buf, s->buf + in->cut, carry);
		n->fill = carry;
		if (s) {
			in->scanned = in->scanned - in->cut;
			seg_put(in, s);
		} else {
			in->scanned = 0;
		}
		in->cur = s = n;
		in->cut = 0;
	}
	if (!may_block && !in->regular) {
		struct pollfd pf = { .fd = in->fd, .events = POLLIN };

		if (poll(&pf, 1, 0) == 0)
			return -EAGAIN;
	}
	r = read(in->fd, s->buf + s->fill, s->cap - s->fill);
	if (r < 0)
		return -errno;
	if (r == 0) {
		in->eof = true;
		return 0;
	}
	s->fill += (size_t)r;
	return r;
}

/* Whether `bytes` of input in `nrec` records fit one task of the pool:
 * the input within max_in, the built-in's result bound within max_res. */
static bool task_fits(const struct rpmap_limits *lim, uint64_t bytes, uint64_t nrec)
{
	return bytes <= lim->max_in &&
	       (!lim->max_res || rpmap_result_bound(bytes, nrec) <= lim->max_res);
}

/*
 * The most records of `bs` bytes, at most k, that fit one task (at least
 * 1: a record that does not fit alone is the large-record path's). The
 * result bound grows with the records as well as with the bytes (crc32
 * writes 9 bytes per record, gzip a member header), so a batch of tiny
 * records is cut by its results, not by its input. Binary search: O(log k).
 */
static size_t blocks_that_fit(const struct rpmap_limits *lim, size_t bs, size_t k)
{
	size_t lo = 1, hi = k;

	if (task_fits(lim, (uint64_t)k * bs, k))
		return k;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (task_fits(lim, (uint64_t)mid * bs, mid))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Where the next batch of fixed-size records from base ends (*pp) and
 * how many it has. Returns 1, or 0 if no whole record is buffered yet. */
static int end_blocks(const struct rpmap_input *in, const struct rpmap_limits *lim,
		      const char *base, const char *end, const char **pp, uint32_t *nrec)
{
	size_t bs = rpmap_fn.block, avail = (size_t)(end - base), k;

	if (avail < bs && !in->eof)
		return 0;
	k = lim->bytes / bs ? lim->bytes / bs : 1;
	if (lim->recs && k > lim->recs)
		k = lim->recs;
	k = blocks_that_fit(lim, bs, k);
	if (k * bs > avail)
		k = in->eof ? (avail + bs - 1) / bs : avail / bs;
	*pp = base + (k * bs < avail ? k * bs : avail);
	*nrec = (uint32_t)k;
	return 1;
}

/* Cheap functions (identity, upper in order): no per-record work here,
 * just the last separator before the target; the worker counts. Returns 1
 * and sets *pp, 0 if no whole record is buffered, or -E2BIG. */
static int end_uncounted(struct rpmap_input *in, const struct rpmap_limits *lim,
			 const char *base, const char *end, const char **pp)
{
	size_t want = (size_t)(end - base) < lim->bytes ? (size_t)(end - base) : lim->bytes;
	size_t from;
	const char *sep, *e;

	if (want > lim->max_in)
		want = lim->max_in;
	sep = memrchr(base, rpmap_fn.sep, want);
	if (sep) {
		*pp = sep + 1;
		return 1;
	}
	/* One record longer than the target (or incomplete). */
	from = in->scanned > in->cut ? in->scanned - in->cut : 0;
	e = memchr(base + from, rpmap_fn.sep, (size_t)(end - base) - from);
	if (e || in->eof) {
		*pp = e ? e + 1 : end;
		return 1;
	}
	in->scanned = in->cur->fill;
	return in->cur->fill - in->cut > in->max_record ? -E2BIG : 0;
}

/* Counted: walk record by record, within the record limit, the target and
 * what a task takes (input and result bound); the first record is taken
 * whatever its size. Returns 1 (*pp, *nrec), 0, or -E2BIG. */
static int end_counted(struct rpmap_input *in, const struct rpmap_limits *lim, const char *base,
		       const char *end, const char **pp, uint32_t *nrec)
{
	uint64_t recs = lim->recs ? lim->recs : UINT32_MAX;
	const char *p = base;
	uint32_t n = 0;

	while (p < end && n < recs) {
		size_t from = n == 0 && in->scanned > in->cut ? in->scanned - in->cut : 0;
		const char *e = memchr(p + from, rpmap_fn.sep, (size_t)(end - p) - from);
		const char *q = e ? e + 1 : in->eof ? end : NULL;

		if (!q) {
			if (n == 0) {
				in->scanned = in->cur->fill;
				if (in->cur->fill - in->cut > in->max_record)
					return -E2BIG;
			}
			break;
		}
		if (n && ((size_t)(q - base) > lim->bytes ||
			  !task_fits(lim, (uint64_t)(q - base), n + 1)))
			break;
		p = q;
		n++;
	}
	*pp = p;
	*nrec = n;
	return n ? 1 : 0;
}

/* CHUNKS: one chunk is one batch. Returns 1, 0 (more input needed), or
 * -E2BIG when a record alone is longer than max_record. */
static int end_chunk(const struct rpmap_input *in, const char *base, const char *end,
		     const char **pp, uint32_t *nrec)
{
	size_t n = rpmap_chunk_len(base, (size_t)(end - base), rpmap_fn.block, rpmap_fn.sep,
				   in->eof);

	if (!n)
		return (size_t)(end - base) > in->max_record ? -E2BIG : 0;
	if (n > in->max_record && n > rpmap_fn.block)
		return -E2BIG;
	*pp = base + n;
	*nrec = 1;
	return 1;
}

/* Result bytes a batch of nrec members decoding to `out` takes. */
static uint64_t member_res(uint64_t out, uint64_t nrec)
{
	return sizeof(struct rpmap_res_hdr) + 8 + (nrec + 1) * sizeof(struct rpmap_fail) + out;
}

/*
 * MEMBERS: whole members of the row's kind, within the target, the record
 * limit and what a task takes (input, and the sum of what they decode to);
 * the first is taken whatever its size. Returns 1 (*pp, *nrec, *out), 0 if
 * no whole member is buffered, or what rpmap_split_next said at the first
 * member (-ENOTSUP, -EFBIG as -ENOTSUP, -EBADMSG with in->why).
 */
static int end_members(struct rpmap_input *in, const struct rpmap_limits *lim, const char *base,
		       const char *end, const char **pp, uint32_t *nrec, uint64_t *out)
{
	uint64_t recs = lim->recs ? lim->recs : UINT32_MAX, sum = 0, need;
	const char *p = base, *why = NULL;
	uint32_t n = 0;
	int r = 0;

	while (p < end && n < recs) {
		struct rpmap_member m;

		r = rpmap_split_next(p, (size_t)(end - p), in->eof, &rpmap_split_default, &m, &need,
				     &why);
		if (r == 1 && (int)m.kind + 1 != rpmap_fn.conf.members &&
		    !(m.kind == RPMAP_MEMBER_ZSTD_SKIP && rpmap_fn.conf.members == 1 + RPMAP_MEMBER_ZSTD)) {
			r = -EBADMSG;
			why = m.kind == RPMAP_MEMBER_GZIP ? "a gzip member, not a zstd frame"
							  : "a zstd frame, not a gzip member";
		}
		if (r != 1)
			break;
		if (n && ((size_t)(p + m.len - base) > lim->bytes ||
			  (size_t)(p + m.len - base) > lim->max_in ||
			  member_res(sum + m.out_max, n + 1) > lim->max_res))
			break;
		p += m.len;
		sum += m.out_max;
		n++;
	}
	if (n) {
		*pp = p;
		*nrec = n;
		*out = sum;
		return 1;
	}
	in->why = why;
	return r == -EFBIG ? -ENOTSUP : r;
}

/* Make [cut, p) of the current segment a batch of nrec records (0: not
 * counted). Returns 1 (*out set) or -ENOMEM. */
static int take_batch(struct rpmap_input *in, const struct rpmap_limits *lim, const char *p,
		      uint32_t nrec, struct rpmap_batch **out)
{
	struct rpmap_seg *s = in->cur;
	const char *base = s->buf + in->cut;
	/* The last read of the data: nothing below changes the input's state
	 * before it (a fault of the mapping leaves the input as it was). */
	bool unterminated = rpmap_fn.mode < RPMAP_BLOCK && p > base && p[-1] != rpmap_fn.sep;
	struct rpmap_batch *b = in->free_batches;

	if (b)
		in->free_batches = b->next;
	else if (!(b = malloc(sizeof(*b))))
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->seg = s;
	s->refs++;
	b->data = base;
	b->len = (size_t)(p - base);
	b->off = in->cut_off;
	b->nrec = nrec;
	b->counted = nrec != 0;
	b->unterminated = unterminated;
	/* Only ever one record: every path above stops before a second
	 * record that would not fit (the one-record path is for it alone). */
	b->large = !task_fits(lim, b->len, nrec ? nrec : 1);
	b->first = in->next_index;
	if (b->counted)
		in->next_index += nrec;
	in->cut += b->len;
	in->cut_off += b->len;
	if (in->scanned < in->cut)
		in->scanned = in->cut;
	*out = b;
	return 1;
}

/* rpmap_input_cut without the guard. */
static int cut(struct rpmap_input *in, const struct rpmap_limits *lim, struct rpmap_batch **bp)
{
	struct rpmap_seg *s = in->cur;
	const char *base, *end, *p = NULL;
	uint32_t nrec = 0;
	uint64_t out = 0;
	int r;

	*bp = NULL;
	if (!s || in->cut == s->fill)
		return 0;
	base = s->buf + in->cut;
	end = s->buf + s->fill;
	if (rpmap_fn.mode == RPMAP_BLOCK)
		r = end_blocks(in, lim, base, end, &p, &nrec);
	else if (rpmap_fn.mode == RPMAP_MEMBERS)
		r = end_members(in, lim, base, end, &p, &nrec, &out);
	else if (rpmap_fn.mode == RPMAP_CHUNKS)
		r = end_chunk(in, base, end, &p, &nrec);
	else if (!lim->count)
		r = end_uncounted(in, lim, base, end, &p);
	else
		r = end_counted(in, lim, base, end, &p, &nrec);
	if (r <= 0)
		return r;
	if ((size_t)(p - base) > in->max_record && rpmap_fn.mode < RPMAP_BLOCK)
		return -E2BIG;
	r = take_batch(in, lim, p, nrec, bp);
	if (r == 1 && rpmap_fn.mode == RPMAP_MEMBERS) {
		(*bp)->out_bound = out;
		(*bp)->large = (*bp)->large || member_res(out, nrec) > lim->max_res;
	}
	return r;
}

static bool batch_record(const struct rpmap_batch *b, uint32_t i, const char **pp, size_t *len)
{
	const char *p = b->data, *end = b->data + b->len;

	if (rpmap_fn.mode == RPMAP_CHUNKS) {
		*pp = p;
		*len = b->len;
		return i == 0 && b->len;
	}
	if (rpmap_fn.mode == RPMAP_MEMBERS) {
		for (size_t n; (n = rpmap_member_len(p, (size_t)(end - p), NULL)); p += n)
			if (!i--) {
				*pp = p;
				*len = n;
				return true;
			}
		return false;
	}
	if (rpmap_fn.mode == RPMAP_BLOCK) {
		size_t off = (size_t)i * rpmap_fn.block;

		if (off >= b->len)
			return false;
		*pp = p + off;
		*len = b->len - off < rpmap_fn.block ? b->len - off : rpmap_fn.block;
		return true;
	}
	for (;;) {
		const char *e;

		if (p == end)
			return false;
		e = memchr(p, rpmap_fn.sep, (size_t)(end - p));
		e = e ? e + 1 : end;
		if (!i--) {
			*pp = p;
			*len = (size_t)(e - p);
			return true;
		}
		p = e;
	}
}

static uint32_t batch_count(const struct rpmap_batch *b, size_t bytes)
{
	const char *p = b->data, *end = b->data + (bytes < b->len ? bytes : b->len);
	uint32_t n = 0;

	if (rpmap_fn.mode == RPMAP_BLOCK)
		return (uint32_t)(bytes >= b->len ? (b->len + rpmap_fn.block - 1) / rpmap_fn.block
						  : bytes / rpmap_fn.block);
	if (rpmap_fn.mode == RPMAP_CHUNKS)
		return bytes >= b->len;
	if (rpmap_fn.mode == RPMAP_MEMBERS) {
		for (size_t k; (k = rpmap_member_len(p, (size_t)(b->data + b->len - p), NULL)) &&
			       (size_t)(p + k - b->data) <= bytes; p += k)
			n++;
		return n;
	}
	while (p < end) {
		const char *e = memchr(p, rpmap_fn.sep, (size_t)(end - p));

		if (!e && bytes < b->len)
			break;	/* runs past `bytes` */
		n++;
		p = e ? e + 1 : end;
	}
	return n;
}

/* The parent's reads of the mapping run under rpmap_map_guarded (inmap.c):
 * a file truncated under them fails the read instead of killing rpmap. */
struct call {
	struct rpmap_input *in;
	const struct rpmap_limits *lim;
	struct rpmap_batch **out;
	const struct rpmap_batch *b;
	uint32_t i;
	size_t bytes, *len;
	const char **p;
};

static int cut_call(void *a)
{
	struct call *c = a;

	return cut(c->in, c->lim, c->out);
}

static int record_call(void *a)
{
	struct call *c = a;

	return batch_record(c->b, c->i, c->p, c->len);
}

static int count_call(void *a)
{
	struct call *c = a;

	return (int)batch_count(c->b, c->bytes);	/* records of a batch: < 2^31 */
}

int rpmap_input_cut(struct rpmap_input *in, const struct rpmap_limits *lim,
		    struct rpmap_batch **out)
{
	struct call c = { .in = in, .lim = lim, .out = out };

	*out = NULL;
	return in->mapped ? rpmap_map_guarded(cut_call, &c) : cut(in, lim, out);
}

bool rpmap_batch_record(const struct rpmap_batch *b, uint32_t i, const char **pp, size_t *len)
{
	struct call c = { .b = b, .i = i, .p = pp, .len = len };

	return b->seg->mapped ? rpmap_map_guarded(record_call, &c) > 0 : batch_record(b, i, pp, len);
}

uint32_t rpmap_batch_count(const struct rpmap_batch *b, size_t bytes)
{
	struct call c = { .b = b, .bytes = bytes };
	int n;

	if (!b->seg->mapped)
		return batch_count(b, bytes);
	n = rpmap_map_guarded(count_call, &c);
	return n > 0 ? (uint32_t)n : 0;
}

void rpmap_batch_free(struct rpmap_input *in, struct rpmap_batch *b)
{
	if (!b)
		return;
	if (b->seg->mapped)
		rpmap_map_drop(b->data, b->len);
	seg_put(in, b->seg);
	b->next = in->free_batches;
	in->free_batches = b;
}

void rpmap_input_close(struct rpmap_input *in)
{
	struct rpmap_seg *s;
	struct rpmap_batch *b;

	if (in->cur)
		seg_put(in, in->cur);
	in->cur = NULL;
	while ((s = in->free_segs)) {
		in->free_segs = s->next;
		free(s->buf);
		free(s);
	}
	while ((b = in->free_batches)) {
		in->free_batches = b->next;
		free(b);
	}
	/* A mapped stdin is left where rpmap stopped reading, as read() would. */
	if (in->mapped && in->fd == 0)
		lseek(in->fd, (off_t)(in->start + in->cut_off), SEEK_SET);
	if (in->fd > 0)
		close(in->fd);
}
