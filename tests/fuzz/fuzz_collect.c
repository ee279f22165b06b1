/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the parent's whole collect path against one hostile
 * worker. A real pool (created inline, then given one worker whose rings are
 * heap memory and whose process is the fuzz script) submits raw tasks, map
 * jobs (chunked or not) and futures through the real dispatch code; the
 * script plays the worker: honest results (chunks through the real
 * the record runner), records with wrong seqs, lengths and tails, scribbles on
 * the data area, the task ring's head, every worker-written word of the
 * control block (state, init_err, counters, cur_seq/cur_start/cur_mark,
 * tasks_done) and the function table; and the parent's calls: rp_next
 * (ordered, unordered), holding and releasing results, pumping jobs and
 * futures, the deadline scan, the statistics, and the worker's death.
 *
 * Checked: every result handed out lies inside the result ring and names an
 * outstanding seq (the oldest, in order); untouched results are exact; the
 * books never underflow; and once the worker is dead, everything finishes
 * without waiting (a parent that could only spin would hang in real life).
 */
#include "rp_internal.h"
#include "fault.h"
#include "task.h"
#include "fuzz_input.h"

#include <stdio.h>

#define RB		4096u	/* ring bytes (the pool's minimum) */
#define WINDOW		64u
#define MAX_JOBS	4
#define MAX_FUTS	8
#define MAX_STEPS	2048

/* Task functions: never run by the parent; the script runs chunk_fn. */
static int fn_raw(struct rp_task *t, const void *in, size_t len)
{
	(void)t, (void)in, (void)len;
	return 0;
}

static int fn_job(struct rp_task *t, const void *in, size_t len)
{
	size_t n = len < 8 ? len : 8;
	void *out = rp_task_result(t, n);

	if (!out)
		return -ENOMEM;
	memcpy(out, in, n);
	return 0;
}

static int fn_fut(struct rp_task *t, const void *in, size_t len)
{
	(void)t, (void)in, (void)len;
	return 0;
}

static const size_t out_sizes[] = { 0, 1, 8, 13 };

struct job {
	struct rp_job *j;
	uint64_t *in;
	unsigned char *out;
	size_t n;
};

struct raw {
	uint64_t seq;
	uint32_t len;
	unsigned char in[64];
	bool live;
};

struct ctx {
	struct fin in;
	struct rp_pool *p;
	struct rp_worker *w;
	unsigned char *tmem, *rmem;	/* the worker's rings: exact size */
	struct rp_wctl *wctl;
	struct rp_ring_cons tc;		/* the worker's view of its task ring */
	struct rp_ring_prod rp;		/* and of its result ring */
	struct raw raw[WINDOW];		/* raw tasks by seq % WINDOW */
	struct job jobs[MAX_JOBS];
	unsigned njobs;
	struct rp_future *futs[MAX_FUTS];
	unsigned nfuts;
	struct rp_result held;
	bool holding;
	bool tampered;			/* results may differ from the honest ones */
	bool died;			/* the worker's death was simulated */
};

static struct ctx *make(const uint8_t *data, size_t size)
{
	struct ctx *x = calloc(1, sizeof(*x));
	struct rp_config c;

	FUZZ_CHECK(x);
	x->in = (struct fin){ data, size };
	rp_config_init(&c);
	c.workers = 0;
	c.flags |= RP_CFG_INLINE;
	c.ring_bytes = RB;
	c.max_in_flight = WINDOW;
#ifdef RP_CFG_NO_RESPAWN
	c.flags |= RP_CFG_NO_RESPAWN;	/* a replacement would fork */
#endif
	FUZZ_CHECK(rp_pool_create(&x->p, &c) == 0);
	x->tmem = aligned_alloc(RP_CACHELINE, rp_ring_memsize(RB));
	x->rmem = aligned_alloc(RP_CACHELINE, rp_ring_memsize(RB));
	x->wctl = aligned_alloc(RP_CACHELINE, sizeof(struct rp_wctl));
	FUZZ_CHECK(x->tmem && x->rmem && x->wctl);
	memset(x->wctl, 0, sizeof(*x->wctl));
	FUZZ_CHECK(rp_ring_init(x->tmem, RB) == 0 && rp_ring_init(x->rmem, RB) == 0);

	/* One worker, as rp_pool_create would have set it up; reaped already,
	 * so killing and reaping it are no-ops. */
	x->p->inl.on = false;
	x->p->procs.nw = 1;
	x->p->procs.alive = 1;
	x->w = &x->p->procs.w[0];
	FUZZ_CHECK(rp_ring_prod_attach(&x->w->tasks, x->tmem, RB) == 0);
	FUZZ_CHECK(rp_ring_cons_attach(&x->w->results, x->rmem, RB) == 0);
	x->w->ctl = x->wctl;
	x->w->pid = 0;
	x->w->pidfd = -1;
	x->w->reaped = true;
	x->w->term_exit = -1;
	x->w->limit = WINDOW;
	x->p->faults.timeout_ticks = 1000;	/* the deadline scan has work */
	FUZZ_CHECK(rp_ring_cons_attach(&x->tc, x->tmem, RB) == 0);
	FUZZ_CHECK(rp_ring_prod_attach(&x->rp, x->rmem, RB) == 0);
	return x;
}

static void destroy(struct ctx *x)
{
	unsigned i;

	for (i = 0; i < x->nfuts; i++)
		rp_future_free(x->futs[i]);
	FUZZ_CHECK(rp_pool_destroy(x->p) == 0);
	for (i = 0; i < x->njobs; i++) {
		rp_job_free(x->jobs[i].j);
		free(x->jobs[i].in);
		free(x->jobs[i].out);
	}
	free(x->tmem);
	free(x->rmem);
	free(x->wctl);
	free(x);
}

static bool worker_gone(struct ctx *x)
{
	return x->died || x->w->dead;
}

/* ---- the parent's calls ---- */

static void books(struct ctx *x)
{
	FUZZ_CHECK(x->w->outstanding <= WINDOW);
	FUZZ_CHECK(x->p->win.in_flight <= WINDOW);
	FUZZ_CHECK(x->p->win.nfailed_owned <= x->p->win.nfailed);
	FUZZ_CHECK(x->p->win.nfailed <= WINDOW);
}

static void submit_raw(struct ctx *x)
{
	unsigned char buf[64];
	uint32_t len = fin_u8(&x->in) % 65;
	uint64_t seq;
	void *dst;

	fin_bytes(&x->in, buf, len);
	if (rp_reserve(x->p, fn_raw, len, RP_NONBLOCK, &dst))
		return;
	memcpy(dst, buf, len);
	FUZZ_CHECK(rp_commit(x->p, len, 0, &seq) == 0);
	x->raw[seq % WINDOW] = (struct raw){ .seq = seq, .len = len, .live = true };
	memcpy(x->raw[seq % WINDOW].in, buf, len);
}

static void start_job(struct ctx *x)
{
	struct job *jb = &x->jobs[x->njobs];
	struct rp_map_opts o = { .chunk = 1 + fin_u8(&x->in) % 4 };
	size_t os = out_sizes[fin_u8(&x->in) % 4];

	if (x->njobs == MAX_JOBS || x->holding || x->p->win.raw_out)
		return;	/* rp_map_async refuses while raw results are out */
	jb->n = 1 + fin_u8(&x->in) % 16;
	jb->in = malloc(jb->n * sizeof(uint64_t));
	jb->out = malloc(jb->n * os + 1);
	FUZZ_CHECK(jb->in && jb->out);
	for (size_t i = 0; i < jb->n; i++)
		jb->in[i] = i * 0x0101010101010101ull;
	if (rp_map_async(x->p, fn_job, jb->in, sizeof(uint64_t), jb->out, os, jb->n, &o, NULL,
			 NULL, &jb->j)) {
		free(jb->in);
		free(jb->out);
		return;
	}
	x->njobs++;
}

static void start_future(struct ctx *x)
{
	uint64_t v = fin_u64(&x->in);

	if (x->nfuts == MAX_FUTS)
		return;
	if (rp_apply_async(x->p, fn_fut, &v, sizeof(v), &x->futs[x->nfuts]) == 0)
		x->nfuts++;
}

/* A result handed out by rp_next: in the ring (or the pool's ""), for an
 * outstanding raw seq, exact if nobody tampered. */
static void check_result(struct ctx *x, const struct rp_result *r, bool ordered)
{
	const unsigned char *d = r->data, *lo = ((struct rp_ring *)x->rmem)->data;
	struct raw *t = &x->raw[r->seq % WINDOW];
	volatile unsigned char s = 0;

	FUZZ_CHECK(t->live && t->seq == r->seq);
	if (ordered)
		for (uint64_t q = x->p->win.next_seq; q < r->seq; q++)
			FUZZ_CHECK(!(x->raw[q % WINDOW].live && x->raw[q % WINDOW].seq == q));
	if (r->len) {
		FUZZ_CHECK(d >= lo && d + r->len <= lo + RB);
		for (size_t i = 0; i < r->len; i++)
			s ^= d[i];
	}
	if (r->flags & RP_RES_POOL)
		FUZZ_CHECK(r->len == 0 || x->tampered);
	if (!x->tampered && r->status == 0 && !(r->flags & RP_RES_POOL)) {
		FUZZ_CHECK(r->len == t->len);
		FUZZ_CHECK(!memcmp(d, t->in, t->len));
	}
	t->live = false;
	(void)s;
}

static void next(struct ctx *x, uint8_t how)
{
	struct rp_result r;
	bool ordered = !(how & 1);
	int e;

	if (x->holding)
		return;
	e = rp_next(x->p, &r, RP_NONBLOCK | (ordered ? RP_ORDERED : RP_UNORDERED));
	FUZZ_CHECK(e == 0 || e == -EAGAIN || e == -ENODATA);
	if (e)
		return;
	check_result(x, &r, ordered);
	if (how & 2) {
		x->held = r;
		x->holding = true;
	} else {
		rp_release(x->p, &r);
	}
}

static void release_held(struct ctx *x)
{
	if (x->holding)
		rp_release(x->p, &x->held);
	x->holding = false;
}

static void pump(struct ctx *x)
{
	for (unsigned i = 0; i < x->njobs; i++)
		rp_job_poll(x->jobs[i].j);
	for (unsigned i = 0; i < x->nfuts; i++)
		rp_future_test(x->futs[i]);
}

static void die(struct ctx *x)
{
	if (x->died)
		return;
	x->died = true;
	rp__worker_died(x->p, 0);
}

/* ---- the worker's actions ---- */

/* The worker's result-space hook: a fuzzed worker never waits for room. */
static void *no_wait(struct rp_task_priv *tp, uint64_t cap, int *err)
{
	(void)tp;
	(void)cap;
	*err = -EAGAIN;
	return NULL;
}

/* Run the next task honestly, like run_task(), with an optional flip of
 * one byte of the result record after it is committed, before publishing. */
static void work(struct ctx *x)
{
	struct rp_rec_view v;
	struct rp_task_priv tp = { .space = RP_SPACE_RING, .results = &x->rp, .wait = no_wait };
	struct rp_task t = { .worker = 0, .priv_ = &tp };
	uint8_t f = fin_u8(&x->in), at = fin_u8(&x->in);
	uint8_t flip = f >= 0xf0 ? (uint8_t)(f << 4 | 1) : 0;	/* rarely */
	uint64_t len;
	unsigned char *out;
	int32_t status = 0;
	uint32_t rtag = 0;
	int err;

	if (worker_gone(x) || rp_ring_peek(&x->tc, &v))
		return;
	t.seq = v.seq;
	if (v.tag & RP_TAG_CHUNK) {
		struct rp_run r;

		rp__run_record(fn_job, &t, true, v.data, v.len, &r);
		if (!r.reserved)
			return;
		out = r.data;
		len = r.len;
		status = r.status;
		rtag = r.flags;
	} else {
		len = v.len < 64 ? v.len : 64;
		out = rp_ring_reserve(&x->rp, len, &err);
		if (!out)
			return;
		memcpy(out, v.data, len);
	}
	rp_ring_commit(&x->rp, len, rtag, v.seq, status, 7);
	if (flip) {
		/* One byte anywhere in the record's header or payload. */
		(out - RP_REC_HDR)[at % (RP_REC_HDR + len)] ^= flip;
		x->tampered = true;
	}
	rp_ring_release(&x->tc, &v);
	rp_ring_cons_publish(&x->tc);
	rp_ring_publish(&x->rp);
}

/* A record that is no result of any task, or a wrong one. */
static void forge(struct ctx *x)
{
	uint32_t len = fin_u8(&x->in);
	int8_t d = (int8_t)fin_u8(&x->in);
	uint32_t tag = fin_u8(&x->in) & 1;
	unsigned char *out;
	int err;

	if (worker_gone(x))
		return;
	out = rp_ring_reserve(&x->rp, len, &err);
	if (!out)
		return;
	memset(out, 0x3c, len);
	x->tampered = true;
	/* A seq near the ones in flight: old, current, future, or any. */
	rp_ring_commit(&x->rp, len, tag, d == -128 ? fin_u64(&x->in) : x->p->win.next_seq + d,
		       (int8_t)fin_u8(&x->in), fin_u32(&x->in));
	rp_ring_publish(&x->rp);
}

/* The worker-written words of the control block the parent reads: the
 * running record and its start and mark (deadlines, a death's record), the
 * initializer's error and the statistics counters. */
static void scribble_ctl(struct rp_wctl *c, unsigned which, uint64_t v)
{
	/* relaxed: one thread plays both sides. */
	switch (which % 5) {
	case 0:
		atomic_store_explicit(&c->cur_seq, v, memory_order_relaxed);
		break;
	case 1:
		atomic_store_explicit(&c->cur_start, v, memory_order_relaxed);
		break;
	case 2:
		atomic_store_explicit(&c->cur_mark, v, memory_order_relaxed);
		break;
	case 3:
		atomic_store_explicit(&c->init_err, (int32_t)v, memory_order_relaxed);
		break;
	case 4:
		atomic_store_explicit(&c->futex_waits, v, memory_order_relaxed);
		atomic_store_explicit(&c->futex_wakes, ~v, memory_order_relaxed);
		atomic_store_explicit(&c->busy_ticks, v >> 1, memory_order_relaxed);
		break;
	}
}

/* The parent's other readers of the control block: the deadline scan (a
 * fuzzed worker has no process, so a kill is a no-op) and the statistics. */
static void inspect(struct ctx *x)
{
	struct rp_stats st;
	struct rp_worker_stats ws;

	(void)rp__check_deadlines(x->p);
	FUZZ_CHECK(rp_pool_stats(x->p, &st) == 0);
	FUZZ_CHECK(rp_worker_stats(x->p, 0, &ws) == 0);
}

static void scribble(struct ctx *x, uint8_t what)
{
	struct rp_ring *rr = (struct rp_ring *)x->rmem, *tr = (struct rp_ring *)x->tmem;
	uint64_t v = fin_u64(&x->in);

	if (worker_gone(x))
		return;
	x->tampered = true;
	/* relaxed: one thread plays both sides. */
	switch (what % 8) {
	case 0:		/* result tail: forwards or backwards by a little */
		atomic_store_explicit(&rr->tail, x->rp.tail + (int16_t)v, memory_order_relaxed);
		break;
	case 1:		/* result tail: anything */
		atomic_store_explicit(&rr->tail, v, memory_order_relaxed);
		break;
	case 2:		/* 8 bytes in the result data area */
		memcpy(rr->data + ((v >> 32) & (RB - 1) & ~7ull), &v, 8);
		break;
	case 3:		/* the task ring's head (the worker's own index there) */
		atomic_store_explicit(&tr->head, x->tc.head + (int16_t)v, memory_order_relaxed);
		break;
	case 4:		/* the control block */
		atomic_store_explicit(&x->wctl->tasks_done, v, memory_order_relaxed);
		atomic_store_explicit(&x->wctl->state, (uint32_t)v, memory_order_relaxed);
		memcpy((unsigned char *)x->wctl + sizeof(struct rp_evc), &v, sizeof(v));
		break;
	case 5:		/* the wake word the parent notifies */
		atomic_store_explicit(&x->wctl->wake.word, (uint32_t)v & ~RP_EVC_ARMED,
				      memory_order_relaxed);
		break;
	case 6:		/* the doorbell */
		atomic_store_explicit(&x->p->procs.bell->word, (uint32_t)v, memory_order_relaxed);
		break;
	case 7:		/* every other field the worker writes in its control block */
		scribble_ctl(x->wctl, what >> 3, v);
		break;
	}
}

/* ---- the end: with the worker dead, nothing may be left waiting ---- */

static void finish(struct ctx *x)
{
	unsigned rounds = 0, stalls = 0;
	struct rp_result r;
	int e;

	release_held(x);
	die(x);
	for (;;) {
		pump(x);
		e = rp_next(x->p, &r, RP_NONBLOCK);
		FUZZ_CHECK(e == 0 || e == -ENODATA || e == -EAGAIN);
		if (e == -ENODATA)
			break;
		/* One -EAGAIN may follow a protocol break found on the way (the
		 * slots it failed are ready next time); more means a blocking
		 * rp_next would wait, or spin, forever. */
		if (e == -EAGAIN) {
			FUZZ_CHECK(++stalls <= 2);
			continue;
		}
		stalls = 0;
		check_result(x, &r, true);
		rp_release(x->p, &r);
		FUZZ_CHECK(++rounds <= 2 * WINDOW);
	}
	pump(x);
	for (unsigned i = 0; i < x->njobs; i++)
		FUZZ_CHECK(rp_job_poll(x->jobs[i].j) == 1);
	for (unsigned i = 0; i < x->nfuts; i++)
		FUZZ_CHECK(rp_future_test(x->futs[i]) == 1);
	FUZZ_CHECK(x->p->win.in_flight == 0);
	FUZZ_CHECK(x->p->win.nfailed == 0 && x->p->win.nfailed_owned == 0);
	FUZZ_CHECK(x->w->outstanding == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx *x = make(data, size);

	for (int steps = 0; fin_left(&x->in) && steps < MAX_STEPS; steps++) {
		uint8_t op = fin_u8(&x->in);

		switch (op & 15) {
		case 0: case 1: submit_raw(x); break;
		case 2: start_job(x); break;
		case 3: start_future(x); break;
		case 4: case 5: case 6: work(x); break;
		case 7: forge(x); break;
		case 8: scribble(x, op >> 4); break;
		case 9: case 10: next(x, op >> 4); break;
		case 11: release_held(x); break;
		case 12: pump(x); break;
		case 13: rp_flush(x->p); break;
		case 14: if ((op >> 4) == 15) die(x); else if ((op >> 4) < 4) inspect(x); break;
		default: break;
		}
		books(x);
	}
	finish(x);
	destroy(x);
	return 0;
}
