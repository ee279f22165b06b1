/* SPDX-License-Identifier: MIT */
/*
 * "spscpool": the in-process limit, ringpool's design with threads in one
 * address space (spsc_pool.c: per-worker SPSC task and result rings, the same
 * spin/sleep, publish and dispatch policies as lib/), on the workloads the
 * other peers run: tiny tasks ordered and unordered, round trips to an awake
 * and a sleeping worker, the payload sweep (input by pointer, as any thread
 * pool passes it), CPU scaling, skewed durations and the seed's frames.
 * Results are collected from every ring as they finish; ordered runs put them
 * back in submit order through a reorder window, as an in-process pool would.
 * Fair as a limit: no lock, no copy, no syscall while both sides are busy;
 * where ringpool is slower, the difference is the price of isolation.
 */
#include "peer_common.h"
#include "spsc_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- tasks ----------------------------------------------------------------- */

enum { OP_TINY, OP_SUM, OP_BURN, OP_SPIN, OP_SEED };

static uint64_t seed_iters;	/* set before the pool runs OP_SEED */

static uint64_t op_tiny(const struct spsc_item *t) { return peer_tiny(t->x); }
static uint64_t op_sum(const struct spsc_item *t) { return peer_payload_sum(t->p, t->len); }
static uint64_t op_burn(const struct spsc_item *t) { return peer_burn(t->x, t->seq); }
static uint64_t op_spin(const struct spsc_item *t) { peer_spin_for(t->x); return t->x; }
static uint64_t op_seed(const struct spsc_item *t)
{
	return peer_seed_count(seed_iters, t->x, PEER_SEED_THRESH);
}

static uint64_t (*const ops[])(const struct spsc_item *) = {
	[OP_TINY] = op_tiny, [OP_SUM] = op_sum, [OP_BURN] = op_burn,
	[OP_SPIN] = op_spin, [OP_SEED] = op_seed,
};

static uint64_t run_op(const struct spsc_item *t)
{
	return ops[t->op](t);
}

/* ---- running a job ------------------------------------------------------- */

struct job {
	uint64_t n;
	uint32_t op;
	int ordered;
	uint64_t win;		/* most tasks in flight (a power of two) */
	uint32_t len;		/* OP_SUM: payload bytes */
	char **bufs;		/* OP_SUM: win buffers, task seq uses bufs[seq % win] */
	uint64_t x;		/* OP_BURN iterations */
	const uint64_t *xs;	/* per-task input (OP_SPIN durations), or NULL */
	uint64_t gap_ns;	/* sleep before each task */
	uint64_t *lat;		/* per-task ticks (round trips), or NULL */
	double elapsed_s;
};

static void check(const struct job *j, const struct spsc_item *r)
{
	if ((j->op == OP_TINY && r->x != peer_tiny(r->seq)) ||
	    (j->op == OP_SUM && r->x != peer_payload_expect(j->len, r->seq)) ||
	    (j->op == OP_SEED && r->x != seed_iters * r->seq * PEER_SEED_THRESH))
		peer_die("wrong result for seq %llu", (unsigned long long)r->seq);
}

static struct spsc_item make_task(const struct job *j, uint64_t seq)
{
	struct spsc_item it = { .seq = seq, .op = j->op, .x = seq };

	if (j->gap_ns) {
		struct timespec g = { 0, (long)j->gap_ns };

		nanosleep(&g, NULL);
	}
	if (j->op == OP_SUM) {
		it.p = j->bufs[seq & (j->win - 1)];
		it.len = j->len;
		peer_payload_fill(j->bufs[seq & (j->win - 1)], j->len, seq);
	} else if (j->op == OP_BURN) {
		it.x = j->x;
	} else if (j->xs) {
		it.x = j->xs[seq];
	}
	if (j->lat)
		j->lat[seq] = peer_ticks();	/* the start; the round trip on delivery */
	return it;
}

/* Deliver one result: check it, finish its round trip. */
static void deliver(struct job *j, const struct spsc_item *r)
{
	check(j, r);
	if (j->lat)
		j->lat[r->seq] = peer_ticks() - j->lat[r->seq];
}

/*
 * Run the job: keep up to j->win tasks in flight, collect every result that
 * is ready, deliver in submit order (j->ordered: through a reorder window of
 * j->win slots, seq % win) or as collected.
 */
static void pool_run(struct spsc_pool *p, struct job *j)
{
	uint64_t sub = 0, del = 0, mask = j->win - 1, t0;
	struct spsc_item *reorder = NULL;
	uint8_t *ready = NULL;

	if (j->ordered && (!(reorder = malloc(j->win * sizeof(*reorder))) ||
			   !(ready = calloc(j->win, 1))))
		peer_die("out of memory");
	t0 = peer_now_ns();
	while (del < j->n) {
		uint64_t sub0 = sub;
		struct spsc_item r;

		while (sub < j->n && sub - del < j->win && spsc_pool_room(p)) {
			struct spsc_item it = make_task(j, sub++);

			spsc_pool_submit(p, &it);
		}
		if (sub != sub0)
			spsc_pool_flush(p);	/* the burst's tail: no task waits unpublished */
		if (spsc_pool_collect(p, &r) == -EAGAIN) {
			spsc_pool_wait(p);
			spsc_pool_collect(p, &r);
		}
		do {
			if (!j->ordered) {
				deliver(j, &r);
				del++;
			} else if (r.seq - del < j->win && !ready[r.seq & mask]) {
				reorder[r.seq & mask] = r;
				ready[r.seq & mask] = 1;
			} else {
				peer_die("result seq %llu outside the window at %llu",
					 (unsigned long long)r.seq, (unsigned long long)del);
			}
		} while (spsc_pool_collect(p, &r) == 0);
		while (j->ordered && ready[del & mask]) {
			ready[del & mask] = 0;
			deliver(j, &reorder[del++ & mask]);
		}
	}
	j->elapsed_s = (double)(peer_now_ns() - t0) * 1e-9;
	free(reorder);
	free(ready);
}

/* ---- measurements ---------------------------------------------------------- */

static void emit(const char *wl, unsigned workers, struct job *j, double cpu, const char *extra)
{
	struct peer_row r = peer_row_init(wl, "spscpool");

	r.workers = workers;
	r.payload_bytes = j->op == OP_SUM ? j->len : 8;
	r.tasks = j->n;
	r.tasks_per_s = (double)j->n / j->elapsed_s;
	if (j->lat) {
		double busy = 0;

		for (uint64_t i = 0; i < j->n; i++)
			busy += (double)j->lat[i];
		if (j->gap_ns)	/* time the pool was busy, not asleep between tasks */
			r.tasks_per_s = (double)j->n / (busy / peer_ticks_per_ns() * 1e-9);
		peer_percentiles(j->lat, j->n, &r.p50_ns, &r.p99_ns, &r.p999_ns);
	}
	r.cpu_s = cpu;
	r.extra = extra;
	peer_emit(&r);
}

#define MAX_REPS 5

/*
 * Run j `reps` times on p; j->elapsed_s becomes the median, *lo and *hi the
 * fastest and slowest. Returns the CPU seconds of one pass (the mean).
 */
static double run_reps(struct spsc_pool *p, struct job *j, int reps, double *lo, double *hi)
{
	double el[MAX_REPS], c0 = peer_cpu_s();

	for (int k = 0; k < reps; k++) {
		pool_run(p, j);
		el[k] = j->elapsed_s;
		for (int i = k; i > 0 && el[i] < el[i - 1]; i--) {	/* insertion sort */
			double t = el[i];

			el[i] = el[i - 1];
			el[i - 1] = t;
		}
	}
	*lo = el[0];
	*hi = el[reps - 1];
	j->elapsed_s = el[reps / 2];
	return (peer_cpu_s() - c0) / reps;
}

static void tiny(const struct peer_opts *o, int ordered)
{
	struct job warm = { .n = 100000, .op = OP_TINY, .ordered = ordered, .win = 1024 };
	struct job j = warm;
	struct spsc_pool *p = spsc_pool_create(o->workers, run_op);
	double c0;

	pool_run(p, &warm);	/* fault in the rings, settle the caps */
	j.n = o->quick ? 2000000 : 20000000;
	c0 = peer_cpu_s();
	pool_run(p, &j);
	emit(ordered ? "tiny_ordered" : "tiny_unordered", o->workers, &j, peer_cpu_s() - c0,
	     "{\"window\": 1024}");
	spsc_pool_destroy(p);
}

static void rtt(const struct peer_opts *o, int asleep)
{
	struct job j = { .op = OP_TINY, .ordered = 1, .win = 1, .gap_ns = asleep ? 1000000 : 0 };
	struct job warm = j;
	struct spsc_pool *p = spsc_pool_create(1, run_op);
	double c0;

	warm.n = 1000;
	warm.gap_ns = 0;
	pool_run(p, &warm);
	j.n = asleep ? (o->quick ? 500 : 5000) : (o->quick ? 20000 : 200000);
	if (!(j.lat = malloc(j.n * sizeof(*j.lat))))
		peer_die("out of memory");
	c0 = peer_cpu_s();
	pool_run(p, &j);
	emit(asleep ? "rtt_asleep" : "rtt_awake", 1, &j, peer_cpu_s() - c0,
	     asleep ? "{\"gap_ns\": 1000000}" : "{\"gap_ns\": 0}");
	spsc_pool_destroy(p);
	free(j.lat);
}

static void payload(const struct peer_opts *o)
{
	for (const size_t *sz = peer_payload_sizes; *sz; sz++) {
		unsigned win = peer_payload_window(*sz, o->workers);
		char **bufs = calloc(win, sizeof(*bufs)), extra[128];
		struct job j = {
			.n = peer_payload_tasks(*sz, o->quick), .op = OP_SUM, .ordered = 1,
			.win = win, .len = (uint32_t)*sz, .bufs = bufs,
		};

		if (!bufs)
			peer_die("out of memory");
		for (unsigned i = 0; i < win; i++) {
			if (!(bufs[i] = aligned_alloc(64, *sz)))
				peer_die("out of memory");
			memset(bufs[i], 0, *sz);	/* fault in before timing */
		}
		struct spsc_pool *p = spsc_pool_create(o->workers, run_op);
		double c0 = peer_cpu_s();

		pool_run(p, &j);
		spsc_pool_destroy(p);
		snprintf(extra, sizeof(extra), "{\"gbps\": %.4f, \"path\": \"pointer\", \"window\": %u}",
			 (double)j.n * (double)*sz / j.elapsed_s * 1e-9, win);
		emit("payload", o->workers, &j, peer_cpu_s() - c0, extra);
		for (unsigned i = 0; i < win; i++)
			free(bufs[i]);
		free(bufs);
	}
}

static void cpu_scaling(const struct peer_opts *o)
{
	/* --quick: 200 tasks, half the other peers' 400, for the CI smoke run's time */
	uint64_t iters = peer_burn_calibrate(1000000), n = o->quick ? 200 : 4000;
	int reps = o->quick ? 1 : 5;	/* --quick: one pass (the CI smoke run) */
	double serial_s = peer_burn_serial_s(iters, n);

	for (unsigned w = 1; w <= o->workers; w++) {
		struct job j = { .n = n, .op = OP_BURN, .ordered = 1, .win = 1024, .x = iters };
		struct spsc_pool *p = spsc_pool_create(w, run_op);
		double lo, hi, cpu = run_reps(p, &j, reps, &lo, &hi);
		char extra[256];

		spsc_pool_destroy(p);
		snprintf(extra, sizeof(extra),
			 "{\"speedup\": %.4f, \"speedup_min\": %.4f, \"speedup_max\": %.4f, "
			 "\"reps\": %d, \"serial_s\": %.4f, \"task_us\": %.1f}",
			 serial_s / j.elapsed_s, serial_s / hi, serial_s / lo, reps, serial_s,
			 serial_s / (double)n * 1e6);
		emit("cpu_scaling", w, &j, cpu, extra);
	}
}

static void skewed(const struct peer_opts *o)
{
	size_t n = peer_skew_tasks(o->quick);
	uint64_t *d = malloc(n * sizeof(*d)), total;
	int reps = o->quick ? 1 : 5;	/* --quick: one pass (the CI smoke run) */

	if (!d)
		peer_die("out of memory");
	total = peer_skew_durations(d, n, PEER_SKEW_BASE_NS);
	for (int ordered = 1; ordered >= 0; ordered--) {
		struct job j = { .n = n, .op = OP_SPIN, .ordered = ordered, .win = 1024, .xs = d };
		struct spsc_pool *p = spsc_pool_create(o->workers, run_op);
		double ideal = (double)total * 1e-9 / o->workers, lo, hi;
		double cpu = run_reps(p, &j, reps, &lo, &hi);
		char extra[256];

		spsc_pool_destroy(p);
		snprintf(extra, sizeof(extra),
			 "{\"makespan_over_ideal\": %.4f, \"best\": %.4f, \"worst\": %.4f, "
			 "\"reps\": %d, \"makespan_s\": %.4f, \"ideal_s\": %.4f, \"api\": \"%s\"}",
			 j.elapsed_s / ideal, lo / ideal, hi / ideal, reps, j.elapsed_s, ideal,
			 ordered ? "ordered" : "unordered");
		emit("skewed", o->workers, &j, cpu, extra);
	}
	free(d);
}

static void seed_count(const struct peer_opts *o)
{
	struct job j = { .n = PEER_SEED_FRAMES, .op = OP_SEED, .ordered = 1, .win = 16 };
	struct spsc_pool *p = spsc_pool_create(o->workers, run_op);
	double c0 = peer_cpu_s();
	char extra[128];

	seed_iters = peer_seed_iters(o->quick);	/* before any task is published */
	pool_run(p, &j);
	spsc_pool_destroy(p);
	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)seed_iters, j.elapsed_s);
	emit("seed_count", o->workers, &j, peer_cpu_s() - c0, extra);
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	peer_ticks_per_ns();
	if (peer_want(&o, "tiny_ordered"))
		tiny(&o, 1);
	if (peer_want(&o, "tiny_unordered"))
		tiny(&o, 0);
	if (peer_want(&o, "rtt_awake"))
		rtt(&o, 0);
	if (peer_want(&o, "rtt_asleep"))
		rtt(&o, 1);
	if (peer_want(&o, "payload"))
		payload(&o);
	if (peer_want(&o, "cpu_scaling"))
		cpu_scaling(&o);
	if (peer_want(&o, "skewed"))
		skewed(&o);
	if (peer_want(&o, "seed_count"))
		seed_count(&o);
	return 0;
}

