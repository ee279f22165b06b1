/* SPDX-License-Identifier: MIT */
/*
 * libuv's thread pool, used as libuv's documentation describes: one event
 * loop; each task is a uv_work_t handed to uv_queue_work(); its work_cb runs
 * on the pool, and after_work_cb runs back on the loop thread (libuv wakes
 * the loop through its internal uv_async), where the result is checked,
 * delivered in submit order (or as it comes) and the next task queued, so a
 * window of tasks stays in flight; uv_run(UV_RUN_DEFAULT) returns when all
 * are done. Round trips chain one task at a time, with a uv_timer for the
 * pause of the asleep case. UV_THREADPOOL_SIZE is set to the worker count
 * before the pool first starts; the pool is fixed for the process's life, so
 * each point of the CPU-scaling sweep runs in a forked child that has not
 * started it. Input by pointer, as with any thread pool. This is how C
 * programs on libuv (Node.js among them) move CPU work off their loop.
 */
#include "peer_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

enum { OP_TINY, OP_SUM, OP_BURN, OP_SPIN, OP_SEED };

struct job;

struct task {
	uv_work_t req;		/* req.data: the job */
	uint64_t seq;
	uint64_t x;		/* input; then the result */
	const void *p;		/* OP_SUM input */
	int done;
};

struct job {
	uv_loop_t loop;
	uv_timer_t gap_timer;
	uint64_t n, sub, del;
	int op, ordered;
	unsigned win;		/* tasks in flight (a power of two) */
	struct task *slot;	/* win slots; ordered: task seq is slot[seq % win] */
	unsigned *freel, nfree;	/* unordered: free slots */
	size_t len;		/* OP_SUM */
	char **bufs;		/* OP_SUM: one buffer per slot */
	uint64_t x;		/* OP_BURN iterations */
	const uint64_t *xs;	/* per-task input (OP_SPIN durations), or NULL */
	uint64_t gap_ns;	/* pause before each task (round trips) */
	uint64_t *lat;		/* per-task ticks, or NULL */
	double elapsed_s;
};

static uint64_t seed_iters;

/* ---- the pool side --------------------------------------------------------- */

static void work_cb(uv_work_t *req)
{
	struct task *t = (struct task *)req;
	const struct job *j = req->data;

	switch (j->op) {
	case OP_TINY:
		t->x = peer_tiny(t->x);
		break;
	case OP_SUM:
		t->x = peer_payload_sum(t->p, j->len);
		break;
	case OP_BURN:
		t->x = peer_burn(t->x, t->seq);
		break;
	case OP_SPIN:
		peer_spin_for(t->x);
		break;
	case OP_SEED:
		t->x = peer_seed_count(seed_iters, t->x, PEER_SEED_THRESH);
		break;
	}
}

/* ---- the loop side --------------------------------------------------------- */

static void after_work_cb(uv_work_t *req, int status);

/* Queue task `seq` in slot si. */
static void submit(struct job *j, unsigned si)
{
	struct task *t = &j->slot[si];
	uint64_t seq = j->sub++;
	int err;

	t->seq = seq;
	t->done = 0;
	t->req.data = j;
	t->x = j->op == OP_BURN ? j->x : j->xs ? j->xs[seq] : seq;
	if (j->op == OP_SUM) {
		peer_payload_fill(j->bufs[si], j->len, seq);
		t->p = j->bufs[si];
	}
	if (j->lat)
		j->lat[seq] = peer_ticks();	/* the start; the round trip on delivery */
	err = uv_queue_work(&j->loop, &t->req, work_cb, after_work_cb);
	if (err)
		peer_die("uv_queue_work: %s", uv_strerror(err));
}

/* Queue tasks while the window has room. */
static void fill(struct job *j)
{
	while (j->sub < j->n && j->sub - j->del < j->win) {
		if (j->ordered)
			submit(j, (unsigned)(j->sub & (j->win - 1)));
		else
			submit(j, j->freel[--j->nfree]);
	}
}

static void check(const struct job *j, const struct task *t)
{
	if ((j->op == OP_TINY && t->x != peer_tiny(t->seq)) ||
	    (j->op == OP_SUM && t->x != peer_payload_expect(j->len, t->seq)) ||
	    (j->op == OP_SEED && t->x != seed_iters * t->seq * PEER_SEED_THRESH))
		peer_die("wrong result for seq %llu", (unsigned long long)t->seq);
}

static void deliver(struct job *j, struct task *t)
{
	check(j, t);
	if (j->lat)
		j->lat[t->seq] = peer_ticks() - j->lat[t->seq];
	j->del++;
}

static void gap_done(uv_timer_t *timer)
{
	fill(timer->data);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct task *t = (struct task *)req;
	struct job *j = req->data;

	if (status)
		peer_die("work request failed: %s", uv_strerror(status));
	if (!j->ordered) {
		deliver(j, t);
		j->freel[j->nfree++] = (unsigned)(t - j->slot);
	} else {
		t->done = 1;
		while (j->del < j->sub && j->slot[j->del & (j->win - 1)].done)
			deliver(j, &j->slot[j->del & (j->win - 1)]);
	}
	if (j->gap_ns && j->sub < j->n)	/* round trips: pause, then the next */
		uv_timer_start(&j->gap_timer, gap_done, (j->gap_ns + 999999) / 1000000, 0);
	else
		fill(j);
}

/* Run the whole job on a fresh loop; sets j->elapsed_s. */
static void run(struct job *j)
{
	uint64_t t0;
	int err;

	j->slot = calloc(j->win, sizeof(*j->slot));
	j->freel = malloc(j->win * sizeof(*j->freel));
	if (!j->slot || !j->freel)
		peer_die("out of memory");
	for (unsigned i = 0; i < j->win; i++)
		j->freel[i] = j->win - 1 - i;
	j->nfree = j->win;
	j->sub = j->del = 0;
	if ((err = uv_loop_init(&j->loop)) || (err = uv_timer_init(&j->loop, &j->gap_timer)))
		peer_die("uv_loop_init: %s", uv_strerror(err));
	j->gap_timer.data = j;
	t0 = peer_now_ns();
	fill(j);
	while (j->del < j->n)
		uv_run(&j->loop, UV_RUN_DEFAULT);
	j->elapsed_s = (double)(peer_now_ns() - t0) * 1e-9;
	uv_close((uv_handle_t *)&j->gap_timer, NULL);
	uv_run(&j->loop, UV_RUN_DEFAULT);
	if ((err = uv_loop_close(&j->loop)))
		peer_die("uv_loop_close: %s", uv_strerror(err));
	free(j->slot);
	free(j->freel);
}

/* ---- measurements ---------------------------------------------------------- */

static void emit(const char *wl, unsigned workers, struct job *j, double cpu, const char *extra)
{
	struct peer_row r = peer_row_init(wl, "libuv");

	r.workers = workers;
	r.payload_bytes = j->op == OP_SUM ? j->len : 8;
	r.tasks = j->n;
	r.tasks_per_s = (double)j->n / j->elapsed_s;
	if (j->lat) {
		double busy = 0;

		for (uint64_t i = 0; i < j->n; i++)
			busy += (double)j->lat[i];
		if (j->gap_ns)	/* time the pool was busy, not paused between tasks */
			r.tasks_per_s = (double)j->n / (busy / peer_ticks_per_ns() * 1e-9);
		peer_percentiles(j->lat, j->n, &r.p50_ns, &r.p99_ns, &r.p999_ns);
	}
	r.cpu_s = cpu;
	r.extra = extra;
	peer_emit(&r);
}

/*
 * Warm the pool up with the first warm_n tasks of j (threads started,
 * caches), then run j; returns the CPU seconds of the measured run.
 */
static double warm_run(struct job *j, uint64_t warm_n)
{
	struct job w = *j;
	double c0;

	w.n = warm_n < j->n ? warm_n : j->n;
	w.lat = NULL;
	w.gap_ns = 0;
	run(&w);
	c0 = peer_cpu_s();
	run(j);
	return peer_cpu_s() - c0;
}

static void tiny(const struct peer_opts *o, int ordered)
{
	struct job j = { .n = o->quick ? 200000 : 2000000, .op = OP_TINY, .ordered = ordered,
			 .win = 1024 };

	double cpu = warm_run(&j, 20000);

	emit(ordered ? "tiny_ordered" : "tiny_unordered", o->workers, &j, cpu, "{\"window\": 1024}");
}

/* Round trips on the pool of o->workers threads (libuv has one pool per process). */
static void rtt(const struct peer_opts *o, int asleep)
{
	struct job j = { .op = OP_TINY, .ordered = 1, .win = 1, .gap_ns = asleep ? 1000000 : 0 };
	char extra[96];
	double cpu;

	j.n = asleep ? (o->quick ? 500 : 5000) : (o->quick ? 5000 : 200000);
	if (!(j.lat = malloc(j.n * sizeof(*j.lat))))
		peer_die("out of memory");
	snprintf(extra, sizeof(extra), "{\"gap_ns\": %llu, \"pool_threads\": %u}",
		 (unsigned long long)j.gap_ns, o->workers);
	cpu = warm_run(&j, 1000);
	emit(asleep ? "rtt_asleep" : "rtt_awake", 1, &j, cpu, extra);
	free(j.lat);
}

static void payload(const struct peer_opts *o)
{
	for (const size_t *sz = peer_payload_sizes; *sz; sz++) {
		unsigned win = peer_payload_window(*sz, o->workers);
		char **bufs = calloc(win, sizeof(*bufs)), extra[128];
		struct job j = {
			.n = peer_payload_tasks(*sz, o->quick), .op = OP_SUM, .ordered = 1,
			.win = win, .len = *sz, .bufs = bufs,
		};
		double c0;

		if (!bufs)
			peer_die("out of memory");
		for (unsigned i = 0; i < win; i++) {
			if (!(bufs[i] = aligned_alloc(64, *sz)))
				peer_die("out of memory");
			memset(bufs[i], 0, *sz);	/* fault in before timing */
		}
		c0 = peer_cpu_s();
		run(&j);
		snprintf(extra, sizeof(extra), "{\"gbps\": %.4f, \"path\": \"pointer\", \"window\": %u}",
			 (double)j.n * (double)*sz / j.elapsed_s * 1e-9, win);
		emit("payload", o->workers, &j, peer_cpu_s() - c0, extra);
		for (unsigned i = 0; i < win; i++)
			free(bufs[i]);
		free(bufs);
	}
}

/*
 * One point of the sweep, in a child that has not started libuv's pool:
 * UV_THREADPOOL_SIZE is read once, when the pool starts.
 */
static void scaling_point(unsigned w, uint64_t iters, uint64_t n, double serial_s, int reps)
{
	char env[16], extra[256];
	double el[5], c0;
	struct job j = { .n = n, .op = OP_BURN, .ordered = 1, .win = 1024, .x = iters };

	snprintf(env, sizeof(env), "%u", w);
	setenv("UV_THREADPOOL_SIZE", env, 1);
	c0 = peer_cpu_s();
	for (int k = 0; k < reps; k++) {
		run(&j);
		el[k] = j.elapsed_s;
		for (int i = k; i > 0 && el[i] < el[i - 1]; i--) {	/* insertion sort */
			double t = el[i];

			el[i] = el[i - 1];
			el[i - 1] = t;
		}
	}
	j.elapsed_s = el[reps / 2];
	snprintf(extra, sizeof(extra),
		 "{\"speedup\": %.4f, \"speedup_min\": %.4f, \"speedup_max\": %.4f, \"reps\": %d, "
		 "\"serial_s\": %.4f, \"task_us\": %.1f}",
		 serial_s / j.elapsed_s, serial_s / el[reps - 1], serial_s / el[0], reps, serial_s,
		 serial_s / (double)n * 1e6);
	emit("cpu_scaling", w, &j, (peer_cpu_s() - c0) / reps, extra);
}

static void cpu_scaling(const struct peer_opts *o)
{
	/* --quick: 200 tasks, half the other peers' 400, for the CI smoke run's time */
	uint64_t iters = peer_burn_calibrate(1000000), n = o->quick ? 200 : 4000;
	double serial_s = peer_burn_serial_s(iters, n);
	pid_t parent = getpid();

	for (unsigned w = 1; w <= o->workers; w++) {
		pid_t pid = fork();
		int st;

		if (pid < 0)
			peer_die("fork failed");
		if (pid == 0) {
			peer_child_init(parent);
			peer_watchdog(o->quick ? 30 : 200);
			scaling_point(w, iters, n, serial_s, o->quick ? 1 : 5);
			_exit(0);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			peer_die("cpu_scaling with %u threads failed", w);
	}
}

static void skewed(const struct peer_opts *o)
{
	size_t n = peer_skew_tasks(o->quick);
	uint64_t *d = malloc(n * sizeof(*d)), total;
	struct job j = { .n = n, .op = OP_SPIN, .ordered = 1, .win = 1024 };
	double ideal, cpu;
	char extra[160];

	if (!d)
		peer_die("out of memory");
	total = peer_skew_durations(d, n, PEER_SKEW_BASE_NS);
	j.xs = d;
	ideal = (double)total * 1e-9 / o->workers;
	cpu = warm_run(&j, 100);
	snprintf(extra, sizeof(extra),
		 "{\"makespan_over_ideal\": %.4f, \"makespan_s\": %.4f, \"ideal_s\": %.4f}",
		 j.elapsed_s / ideal, j.elapsed_s, ideal);
	emit("skewed", o->workers, &j, cpu, extra);
	free(d);
}

static void seed_count(const struct peer_opts *o)
{
	struct job j = { .n = PEER_SEED_FRAMES, .op = OP_SEED, .ordered = 1, .win = 16 };
	double c0 = peer_cpu_s();
	char extra[128];

	seed_iters = peer_seed_iters(o->quick);
	run(&j);
	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)seed_iters, j.elapsed_s);
	emit("seed_count", o->workers, &j, peer_cpu_s() - c0, extra);
}

int main(int argc, char **argv)
{
	struct peer_opts o;
	char env[16];

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	peer_ticks_per_ns();
	if (o.workers > 1024)
		peer_die("libuv's pool has at most 1024 threads");
	/* before anything starts the pool: each point in a child of its own */
	if (peer_want(&o, "cpu_scaling"))
		cpu_scaling(&o);
	snprintf(env, sizeof(env), "%u", o.workers);
	setenv("UV_THREADPOOL_SIZE", env, 1);
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
	if (peer_want(&o, "skewed"))
		skewed(&o);
	if (peer_want(&o, "seed_count"))
		seed_count(&o);
	return 0;
}
