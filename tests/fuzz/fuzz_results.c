/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the parent's reader of a result ring, with everything a
 * worker can write under the fuzzer's control. The input is the ring's
 * shared part as a hostile worker left it (capacity choice, head and tail
 * indices, the data area), then a script of worker actions applied between
 * the consumer's steps: committing well-formed records and chunk results,
 * raw headers and pads committed with the ring's commit words, tails moving
 * forwards, backwards or anywhere (a hint the reader must not trust), bytes,
 * record lengths and commit words rewritten under the consumer. The consumer side is the real code:
 * rp_ring_cons_attach, rp_ring_peek/rp_ring_release, and for every record
 * the parent's chunk-result parse in the job owner's deliver (lib/job.c, on real map
 * jobs of an inline pool) and rp__chunk_each, which rp_imap's sink uses too,
 * in place and on an exact-size copy.
 *
 * The ring is heap memory of exactly rp_ring_memsize(cap) bytes, so ASan
 * catches a read past the data area; the checks below catch a record that
 * leaves the ring or the record limit, a head that jumps more than a ring,
 * and a consumer that does not stop. -EPROTO ends an input (the parent
 * would kill the worker).
 */
#include "owner.h"
#include "fuzz_input.h"

#include <stdio.h>

#define MAX_STEPS	4096

static struct rp_pool *pool;

/* Map jobs with these result sizes, finished at creation (n = 0), kept only
 * for their out buffers: RP_CHUNK_MAX slots each, exact size. */
static const size_t out_sizes[] = { 0, 1, 8, 13, 64 };
#define NJOBS (sizeof(out_sizes) / sizeof(out_sizes[0]))
static struct rp_job *jobs[NJOBS];

static int never_runs(struct rp_task *t, const void *in, size_t len)
{
	(void)t, (void)in, (void)len;
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rp_config c;
	static const uint64_t dummy;

	(void)argc, (void)argv;
	rp_config_init(&c);
	c.workers = 0;
	c.flags |= RP_CFG_INLINE;
	c.ring_bytes = 1u << 16;
	if (rp_pool_create(&pool, &c)) {
		fprintf(stderr, "fuzz_results: cannot create the inline pool\n");
		abort();
	}
	for (size_t i = 0; i < NJOBS; i++) {
		/* Never NULL, though the API allows it for out_size 0: put_result()
		 * does NULL + 0 arithmetic then (UBSan; see the report). */
		unsigned char *out = malloc(out_sizes[i] ? RP_CHUNK_MAX * out_sizes[i] : 1);

		FUZZ_CHECK(out);
		FUZZ_CHECK(rp_map_async(pool, never_runs, &dummy, sizeof(dummy), out, out_sizes[i],
					0, NULL, NULL, NULL, &jobs[i]) == 0);
		FUZZ_CHECK(rp_job_poll(jobs[i]) == 1);
	}
	return 0;
}

/* What a sink sees must lie inside the record it came from. */
struct span {
	const unsigned char *lo, *hi;
};

static int sink_touch(void *arg, const struct rp_result *r)
{
	const struct span *s = arg;
	const unsigned char *d = r->data;
	volatile unsigned char x = 0;

	if (r->len) {
		FUZZ_CHECK(d >= s->lo && d + r->len <= s->hi);
		for (size_t i = 0; i < r->len; i++)
			x ^= d[i];
	}
	(void)x;
	return 0;
}

/* rp__chunk_each's callback, as rp_imap's sink sees each task. */
static int touch_one(void *arg, uint32_t k, const void *data, uint32_t len, int status,
		     unsigned flags)
{
	struct rp_result r = { .data = data, .len = len, .seq = k, .status = status,
			       .flags = flags };

	return sink_touch(arg, &r);
}

struct ctx {
	struct fin in;
	unsigned char *mem;	/* the ring: exactly rp_ring_memsize(cap) bytes */
	struct rp_ring *ring;
	uint64_t cap;
	struct rp_ring_cons c;
	uint8_t job_sel, count_sel;
	bool dead;		/* the consumer saw -EPROTO */
};

/* The parent's parse of one record as a map job's chunk (or single) result. */
static void parse(struct ctx *x, const struct rp_rec_view *v)
{
	unsigned ji = x->job_sel % NJOBS;
	struct rp_result res = {
		.data = v->data, .len = v->len, .seq = v->seq, .status = v->status,
		.flags = v->tag & RP_RES_POOL, .worker = 0, .term_exit = -1,
	};
	struct rp_slot s = { .seq = v->seq, .owner = (struct rp_owner *)jobs[ji] };
	struct span sp = { .lo = v->data, .hi = (const unsigned char *)v->data + v->len };
	uint32_t count = 1 + x->count_sel % 64;
	unsigned char *copy;

	/* Mostly the count the record claims, so the full parse is reached. */
	if (x->count_sel < 128 && v->len >= sizeof(struct rp_chunk_in)) {
		memcpy(&count, v->data, sizeof(count));
		if (!count || count > RP_CHUNK_MAX)
			count = 1 + count % RP_CHUNK_MAX;
	}
	s.count = (uint16_t)count;
	rp__owner_deliver(pool, &s, s.owner, &res);
	rp__chunk_each(&res, count, out_sizes[ji], touch_one, &sp);
	/* The same on an exact-size copy: nothing may be read past len. */
	copy = malloc(v->len ? v->len : 1);
	FUZZ_CHECK(copy);
	memcpy(copy, v->data, v->len);
	res.data = copy;
	sp.lo = copy;
	sp.hi = copy + v->len;
	rp__owner_deliver(pool, &s, s.owner, &res);
	rp__chunk_each(&res, count, out_sizes[ji], touch_one, &sp);
	free(copy);
}

/* One consumer step, as the parent's head()/take() do it. */
static int consume(struct ctx *x)
{
	struct rp_rec_view v;
	uint64_t h0 = x->c.head, off;
	int r;

	if (x->dead)
		return -EPROTO;
	r = rp_ring_peek(&x->c, &v);
	FUZZ_CHECK(r == 0 || r == -EAGAIN || r == -EPROTO);
	if (r == -EPROTO) {
		x->dead = true;
		return r;
	}
	/* At most one pad skipped: head moves less than a ring. */
	FUZZ_CHECK(x->c.head - h0 < x->cap);
	if (r == -EAGAIN) {
		FUZZ_CHECK(rp_ring_cons_empty(&x->c));
		return r;
	}
	off = x->c.head & (x->cap - 1);
	FUZZ_CHECK(v.size == RP_REC_SIZE(v.len));
	FUZZ_CHECK(v.len <= rp_ring_max_payload(x->cap));
	FUZZ_CHECK((const unsigned char *)v.data == x->ring->data + off + RP_REC_HDR);
	FUZZ_CHECK(off + v.size <= x->cap);
	parse(x, &v);
	rp_ring_release(&x->c, &v);
	return 0;
}

/* relaxed everywhere below: one thread plays both sides. */
static uint64_t tail_of(struct ctx *x)
{
	return atomic_load_explicit(&x->ring->tail, memory_order_relaxed);
}

static void set_tail(struct ctx *x, uint64_t t)
{
	atomic_store_explicit(&x->ring->tail, t, memory_order_relaxed);
}

/* A well-formed record through a real producer handle (if it attaches:
 * an honest producer's tail is always 8-aligned, so not after a raw one). */
static void produce(struct ctx *x, bool chunk)
{
	struct rp_ring_prod pr;
	uint64_t len = fin_u16(&x->in) % (rp_ring_max_payload(x->cap) + 1);
	uint32_t tag = fin_u8(&x->in) & 1 ? RP_RES_POOL : 0;
	uint64_t seq = fin_u8(&x->in);
	int32_t status = (int8_t)fin_u8(&x->in);
	unsigned char *buf;
	int err;

	if (tail_of(x) & 7)
		return;
	if (chunk) {
		uint32_t k = 1 + fin_u8(&x->in) % 8, oc = (uint32_t)out_sizes[fin_u8(&x->in) % NJOBS];

		len = sizeof(struct rp_chunk_in) + (uint64_t)k * (sizeof(struct rp_chunk_ent) + oc);
		if (len > rp_ring_max_payload(x->cap))
			return;
		if (rp_ring_prod_attach(&pr, x->ring, x->cap))
			return;
		buf = rp_ring_reserve(&pr, len, &err);
		if (!buf)
			return;
		memcpy(buf, &(struct rp_chunk_in){ .count = k, .out_cap = oc }, 8);
		for (uint32_t i = 0; i < k; i++) {
			struct rp_chunk_ent e = { .off = (uint32_t)(int8_t)fin_u8(&x->in),
						  .len = fin_u8(&x->in) };

			memcpy(buf + 8 + 8 * i, &e, sizeof(e));
		}
		memset(buf + 8 + 8 * k, 0x5a, (size_t)k * oc);
		status = 0;
	} else {
		if (rp_ring_prod_attach(&pr, x->ring, x->cap))
			return;
		buf = rp_ring_reserve(&pr, len, &err);
		if (!buf)
			return;
		fin_bytes(&x->in, buf, len < 16 ? len : 16);
	}
	rp_ring_commit(&pr, len, tag, seq, status, 0);
	rp_ring_publish(&pr);
}

/* One worker action from the script. */
static void act(struct ctx *x, unsigned op)
{
	uint64_t t = tail_of(x), mask = x->cap - 1;

	switch (op) {
	case 0:
		produce(x, false);
		break;
	case 1:
		produce(x, true);
		break;
	case 2:		/* publish more (or fewer, modulo 2^64) bytes */
		set_tail(x, t + fin_u16(&x->in) % (2 * x->cap + 1));
		break;
	case 3:		/* tail backwards */
		set_tail(x, t - 1 - fin_u16(&x->in) % (2 * x->cap));
		break;
	case 4:		/* tail anywhere */
		set_tail(x, fin_u64(&x->in));
		break;
	case 5: {	/* 8 bytes anywhere in the data area */
		uint64_t v = fin_u64(&x->in);

		memcpy(x->ring->data + (fin_u16(&x->in) & mask & ~7ull), &v, 8);
		break;
	}
	case 6: {	/* a raw header at the tail, committed, the tail past it */
		uint64_t at = t & ~7ull, off = at & mask;
		struct rp_rec h = { .len = fin_u32(&x->in), .tag = fin_u8(&x->in) & 1,
				    .seq = fin_u8(&x->in) };

		atomic_init(&h.commit, RP_REC_COMMIT(at, x->c.key));
		memcpy(x->ring->data + off, &h, x->cap - off < sizeof(h) ? 8 : sizeof(h));
		set_tail(x, t + fin_u16(&x->in) % (x->cap + 1));
		break;
	}
	case 7: {	/* a pad marker committed at the tail (or at offset 0) */
		uint64_t at = t & ~7ull;
		uint64_t w = RP_PAD_COMMIT(at, x->c.key);

		memcpy(x->ring->data + (at & mask), &w, 8);
		set_tail(x, at + (x->cap - (at & mask)));
		break;
	}
	case 8: {	/* rewrite the length of the record under the consumer */
		uint32_t len = fin_u32(&x->in);

		memcpy(x->ring->data + (x->c.head & mask & ~7ull), &len, 4);
		break;
	}
	case 9: {	/* turn the record under the consumer into a pad */
		uint64_t w = RP_PAD_COMMIT(x->c.head, x->c.key);

		memcpy(x->ring->data + (x->c.head & mask & ~7ull), &w, 8);
		break;
	}
	case 11: {	/* commit whatever lies under the consumer as a record */
		uint64_t w = RP_REC_COMMIT(x->c.head, x->c.key);

		memcpy(x->ring->data + (x->c.head & mask & ~7ull), &w, 8);
		break;
	}
	case 10:	/* the consumer's own index: the parent must never read it */
		atomic_store_explicit(&x->ring->head, fin_u64(&x->in), memory_order_relaxed);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx x = { .in = { data, size } };
	uint8_t b = fin_u8(&x.in);
	uint64_t head0, tail0, quiet = 0;
	int steps;

	x.cap = (uint64_t)RP_RING_MIN_CAP << (b % 7);	/* 64 .. 4096 */
	x.job_sel = fin_u8(&x.in);
	x.count_sel = fin_u8(&x.in);
	x.mem = aligned_alloc(RP_CACHELINE, rp_ring_memsize(x.cap));
	FUZZ_CHECK(x.mem);
	FUZZ_CHECK(rp_ring_init(x.mem, x.cap) == 0);
	x.ring = (struct rp_ring *)x.mem;
	/*
	 * Indices as a worker left them. The head is 8-aligned: the parent
	 * attaches its consumer before any worker exists, and only advances it
	 * by aligned amounts (an unaligned head at attach is a separate finding,
	 * see the report). The tail is anything.
	 */
	head0 = fin_u64(&x.in) & ~7ull;
	tail0 = b & 0x80 ? fin_u64(&x.in) : head0 + fin_u16(&x.in) % (x.cap + 1);
	atomic_store_explicit(&x.ring->head, head0, memory_order_relaxed);
	set_tail(&x, tail0);
	fin_bytes(&x.in, x.ring->data, fin_u16(&x.in) % (x.cap + 1));
	if (rp_ring_cons_attach(&x.c, x.mem, x.cap)) {
		/* Refused: impossible, or (with the proposed patch) unaligned. */
		FUZZ_CHECK(tail0 - head0 > x.cap || (tail0 & 7));
		free(x.mem);
		return 0;
	}
	FUZZ_CHECK(tail0 - head0 <= x.cap);

	/* The script: an action, then up to 7 consumer steps. */
	for (steps = 0; fin_left(&x.in) && !x.dead && steps < MAX_STEPS; steps++) {
		uint8_t s = fin_u8(&x.in);

		act(&x, s & 15);
		for (unsigned k = 0; k < (unsigned)(s >> 5); k++)
			if (consume(&x))
				break;
	}
	/* Drain: without new actions the consumer stops within one lap: a
	 * commit word matches one position, records are RP_REC_HDR bytes at
	 * least, and at most one pad is skipped per lap. */
	while (!x.dead && consume(&x) == 0)
		FUZZ_CHECK(++quiet <= x.cap / RP_REC_HDR + 1);
	free(x.mem);
	return 0;
}
