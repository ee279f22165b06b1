/* SPDX-License-Identifier: MIT */
/*
 * In-process references. "pthreadpool": the textbook thread pool, one mutex
 * guarding a FIFO of pending tasks and a queue of finished ones, a condvar
 * each way; the owner keeps a bounded window in flight and puts results back
 * in submit order. Tasks get their input by pointer (no copy). "serial": the
 * same task bodies in a plain loop, the 1.0 reference of every speedup, and
 * the seed program's count() over 10 frames.
 */
#include "peer_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OP_TINY = 1, OP_SUM, OP_BURN, OP_SPIN, OP_SEED };

struct task {
	uint64_t seq;
	uint64_t x;		/* tiny input, burn iterations, spin ns, frame */
	const void *p;		/* OP_SUM input */
	size_t len;
	uint64_t val;		/* result */
	int ready;
	uint64_t t0;
};

struct tpool {
	pthread_mutex_t mu;
	pthread_cond_t have_task;	/* workers wait here */
	pthread_cond_t have_done;	/* the owner waits here */
	struct task *slot;		/* `cap` task slots */
	unsigned *q, qh, qt;		/* pending slot indices */
	unsigned *d, dh, dt;		/* finished slot indices */
	unsigned cap, mask;
	unsigned idle;			/* workers waiting for a task */
	int owner_waiting, stop;
	uint64_t seed_iters;
	unsigned n;
	pthread_t *th;
};

static uint64_t exec_op(int op, struct task *t, uint64_t seed_iters)
{
	switch (op) {
	case OP_TINY:
		return peer_tiny(t->x);
	case OP_SUM:
		return peer_payload_sum(t->p, t->len);
	case OP_BURN:
		return peer_burn(t->x, t->seq);
	case OP_SPIN:
		peer_spin_for(t->x);
		return 0;
	case OP_SEED:
		return peer_seed_count(seed_iters, t->x, PEER_SEED_THRESH);
	}
	return 0;
}

static int cur_op;	/* one kind of task per run; set before submitting */

static void *worker(void *arg)
{
	struct tpool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->qh == p->qt && !p->stop) {
			p->idle++;
			pthread_cond_wait(&p->have_task, &p->mu);
			p->idle--;
		}
		if (p->qh == p->qt)
			break;	/* stopping and nothing left */
		unsigned si = p->q[p->qh++ & p->mask];
		int op = cur_op;

		pthread_mutex_unlock(&p->mu);
		p->slot[si].val = exec_op(op, &p->slot[si], p->seed_iters);
		pthread_mutex_lock(&p->mu);
		p->d[p->dt++ & p->mask] = si;
		if (p->owner_waiting)
			pthread_cond_signal(&p->have_done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static struct tpool *tp_create(unsigned n, unsigned cap)
{
	struct tpool *p = calloc(1, sizeof(*p));

	if (!p)
		peer_die("out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->have_task, NULL);
	pthread_cond_init(&p->have_done, NULL);
	p->cap = cap;
	p->mask = cap - 1;
	p->slot = calloc(cap, sizeof(*p->slot));
	p->q = calloc(cap, sizeof(*p->q));
	p->d = calloc(cap, sizeof(*p->d));
	p->n = n;
	p->th = calloc(n, sizeof(*p->th));
	if (!p->slot || !p->q || !p->d || !p->th)
		peer_die("out of memory");
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&p->th[i], NULL, worker, p))
			peer_die("pthread_create failed");
	return p;
}

static void tp_destroy(struct tpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->have_task);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	free(p->slot);
	free(p->q);
	free(p->d);
	free(p->th);
	free(p);
}

struct job {
	uint64_t n;
	int op;
	int ordered;
	size_t len;		/* OP_SUM */
	char **bufs;		/* OP_SUM: one buffer per slot */
	uint64_t x;		/* OP_BURN iterations */
	const uint64_t *xs;	/* per-task input (OP_SPIN durations), or NULL */
	uint64_t gap_ns;	/* sleep before each task */
	uint64_t *lat;		/* per-task ticks (round trips) */
	double elapsed_s;
};

static uint64_t check(const struct job *j, uint64_t seq, uint64_t val)
{
	if ((j->op == OP_TINY && val != peer_tiny(seq)) ||
	    (j->op == OP_SUM && val != peer_payload_expect(j->len, seq)))
		peer_die("wrong result for seq %llu", (unsigned long long)seq);
	return val;
}

static void tp_run(struct tpool *p, struct job *j)
{
	unsigned *freel = malloc(p->cap * sizeof(*freel)), nfree = 0;
	unsigned *got = malloc(p->cap * sizeof(*got));
	uint64_t sub = 0, del = 0, t0;

	if (!freel || !got)
		peer_die("out of memory");
	for (unsigned i = p->cap; i-- > 0;)
		freel[nfree++] = i;
	cur_op = j->op;
	t0 = peer_now_ns();
	while (del < j->n) {
		unsigned ng = 0, pushed = 0;

		/* prepare new tasks outside the lock (payload fill is the big part) */
		unsigned newslots[64], nn = 0;

		while (nn < 64 && sub + nn < j->n &&
		       (j->ordered ? sub + nn - del < p->cap : nfree > 0)) {
			uint64_t seq = sub + nn;
			unsigned si = j->ordered ? (unsigned)(seq & p->mask) : freel[--nfree];
			struct task *t = &p->slot[si];

			if (j->gap_ns) {
				struct timespec g = { 0, (long)j->gap_ns };

				nanosleep(&g, NULL);
			}
			t->seq = seq;
			t->ready = 0;
			switch (j->op) {
			case OP_SUM:
				peer_payload_fill(j->bufs[si], j->len, seq);
				t->p = j->bufs[si];
				t->len = j->len;
				break;
			case OP_BURN:
				t->x = j->x;
				break;
			case OP_SPIN:
			case OP_SEED:
				t->x = j->xs ? j->xs[seq] : seq;
				break;
			default:
				t->x = seq;
			}
			if (j->lat)
				t->t0 = peer_ticks();
			newslots[nn++] = si;
		}
		pthread_mutex_lock(&p->mu);
		for (unsigned i = 0; i < nn; i++)
			p->q[p->qt++ & p->mask] = newslots[i];
		pushed = nn;
		sub += nn;
		if (pushed && p->idle)
			pushed >= p->idle ? pthread_cond_broadcast(&p->have_task)
					  : pthread_cond_signal(&p->have_task);
		/* wait for results unless there is more to submit right now */
		int room = sub < j->n && (j->ordered ? sub - del < p->cap : nfree > 0);

		while (p->dh == p->dt && !room) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 10;
			p->owner_waiting = 1;
			if (pthread_cond_timedwait(&p->have_done, &p->mu, &ts) == ETIMEDOUT)
				peer_die("no result for 10 s");
			p->owner_waiting = 0;
		}
		while (p->dh != p->dt)
			got[ng++] = p->d[p->dh++ & p->mask];
		pthread_mutex_unlock(&p->mu);

		for (unsigned i = 0; i < ng; i++) {
			struct task *t = &p->slot[got[i]];

			check(j, t->seq, t->val);
			if (j->ordered) {
				t->ready = 1;
			} else {
				if (j->lat)
					j->lat[t->seq] = peer_ticks() - t->t0;
				freel[nfree++] = got[i];
				del++;
			}
		}
		while (j->ordered && del < sub && p->slot[del & p->mask].ready) {
			struct task *t = &p->slot[del & p->mask];

			if (j->lat)
				j->lat[del] = peer_ticks() - t->t0;
			t->ready = 0;
			del++;
		}
	}
	j->elapsed_s = (double)(peer_now_ns() - t0) * 1e-9;
	free(freel);
	free(got);
}

/* ---- measurements ------------------------------------------------------ */

static void emit(const char *wl, const char *impl, unsigned workers, struct job *j, double cpu,
		 const char *extra)
{
	struct peer_row r = peer_row_init(wl, impl);

	r.workers = workers;
	r.payload_bytes = j->op == OP_SUM ? j->len : 8;
	r.tasks = j->n;
	r.tasks_per_s = (double)j->n / j->elapsed_s;
	if (j->lat) {
		double busy = 0;

		for (uint64_t i = 0; i < j->n; i++)
			busy += (double)j->lat[i];
		if (j->gap_ns)
			r.tasks_per_s = (double)j->n / (busy / peer_ticks_per_ns() * 1e-9);
		peer_percentiles(j->lat, j->n, &r.p50_ns, &r.p99_ns, &r.p999_ns);
	}
	r.cpu_s = cpu;
	r.extra = extra;
	peer_emit(&r);
}

static void pool_measure(const char *wl, unsigned workers, unsigned cap, struct job *j,
			 const char *extra)
{
	double c0 = peer_cpu_s();
	struct tpool *p = tp_create(workers, cap);

	p->seed_iters = 0;
	tp_run(p, j);
	tp_destroy(p);
	emit(wl, "pthreadpool", workers, j, peer_cpu_s() - c0, extra);
}

static uint64_t tiny_call(uint64_t x)
{
	return peer_tiny(x);
}

/* Called through a pointer so the loop really makes one call per task. */
static uint64_t (*volatile tiny_fp)(uint64_t) = tiny_call;

static void tiny(const struct peer_opts *o)
{
	uint64_t n = o->quick ? 200000 : 2000000;

	for (int ordered = 1; ordered >= 0; ordered--) {
		struct job j = { .n = n, .op = OP_TINY, .ordered = ordered };

		if (peer_want(o, ordered ? "tiny_ordered" : "tiny_unordered"))
			pool_measure(ordered ? "tiny_ordered" : "tiny_unordered", o->workers, 1024, &j,
				     "{\"window\": 1024}");
	}
	if (peer_want(o, "tiny_ordered")) {
		uint64_t sn = o->quick ? 20000000 : 200000000, sum = 0, t0;
		double c0 = peer_cpu_s(), el;
		uint64_t (*fp)(uint64_t) = tiny_fp;
		struct peer_row r = peer_row_init("tiny_ordered", "serial");

		t0 = peer_now_ns();
		for (uint64_t i = 0; i < sn; i++)
			sum += fp(i);
		el = (double)(peer_now_ns() - t0) * 1e-9;
		if (sum != sn * sn)	/* sum of 2i+1 for i < n */
			peer_die("serial tiny: wrong sum");
		r.payload_bytes = 8;
		r.tasks = sn;
		r.tasks_per_s = (double)sn / el;
		r.cpu_s = peer_cpu_s() - c0;
		r.syscalls_per_task = 0;
		r.extra = "{\"note\": \"one indirect call per task\"}";
		peer_emit(&r);
	}
}

static void rtt(const struct peer_opts *o, int asleep)
{
	struct job j = { .op = OP_TINY, .ordered = 1, .gap_ns = asleep ? 1000000 : 0 };

	j.n = asleep ? (o->quick ? 500 : 5000) : (o->quick ? 20000 : 200000);
	j.lat = malloc(j.n * sizeof(*j.lat));
	if (!j.lat)
		peer_die("out of memory");
	pool_measure(asleep ? "rtt_asleep" : "rtt_awake", o->workers, 1, &j,
		     asleep ? "{\"gap_ns\": 1000000}" : "{\"gap_ns\": 0}");
	free(j.lat);
}

static void payload(const struct peer_opts *o)
{
	for (const size_t *sz = peer_payload_sizes; *sz; sz++) {
		unsigned cap = peer_payload_window(*sz, o->workers);
		char **bufs = calloc(cap, sizeof(*bufs)), extra[128];
		struct job j = {
			.n = peer_payload_tasks(*sz, o->quick), .op = OP_SUM, .ordered = 1,
			.len = *sz, .bufs = bufs,
		};
		double c0;
		struct tpool *p;

		for (unsigned i = 0; i < cap; i++) {
			if (!(bufs[i] = aligned_alloc(64, *sz)))
				peer_die("out of memory");
			memset(bufs[i], 0, *sz);	/* fault in before timing */
		}
		c0 = peer_cpu_s();
		p = tp_create(o->workers, cap);
		tp_run(p, &j);
		tp_destroy(p);
		snprintf(extra, sizeof(extra), "{\"gbps\": %.4f, \"path\": \"pointer\", \"window\": %u}",
			 (double)j.n * (double)*sz / j.elapsed_s * 1e-9, cap);
		emit("payload", "pthreadpool", o->workers, &j, peer_cpu_s() - c0, extra);
		for (unsigned i = 0; i < cap; i++)
			free(bufs[i]);
		free(bufs);
	}
}

static void cpu_scaling(const struct peer_opts *o)
{
	uint64_t iters = peer_burn_calibrate(1000000), n = o->quick ? 400 : 4000;
	double serial_s, c0 = peer_cpu_s();
	char extra[160];

	serial_s = peer_burn_serial_s(iters, (uint64_t)n);
	{
		struct peer_row r = peer_row_init("cpu_scaling", "serial");

		snprintf(extra, sizeof(extra),
			 "{\"speedup\": 1.0, \"serial_s\": %.4f, \"task_us\": %.1f, \"reps\": 3}",
			 serial_s, serial_s / (double)n * 1e6);
		r.payload_bytes = 8;
		r.tasks = n;
		r.tasks_per_s = (double)n / serial_s;
		r.cpu_s = (peer_cpu_s() - c0) / 3;	/* one of the three timed passes */
		r.syscalls_per_task = 0;
		r.extra = extra;
		peer_emit(&r);
	}
	for (unsigned w = 1; w <= o->workers; w++) {
		struct job j = { .n = n, .op = OP_BURN, .ordered = 1, .x = iters };

		c0 = peer_cpu_s();
		struct tpool *p = tp_create(w, 1024);

		tp_run(p, &j);
		tp_destroy(p);
		snprintf(extra, sizeof(extra), "{\"speedup\": %.4f, \"serial_s\": %.4f, \"task_us\": %.1f}",
			 serial_s / j.elapsed_s, serial_s, serial_s / (double)n * 1e6);
		emit("cpu_scaling", "pthreadpool", w, &j, peer_cpu_s() - c0, extra);
	}
}

static void skewed(const struct peer_opts *o)
{
	size_t n = peer_skew_tasks(o->quick);
	uint64_t *d = malloc(n * sizeof(*d)), total = peer_skew_durations(d, n, PEER_SKEW_BASE_NS);
	struct job j = { .n = n, .op = OP_SPIN, .ordered = 1, .xs = d };
	double c0 = peer_cpu_s(), ideal = (double)total * 1e-9 / o->workers;
	char extra[160];
	struct tpool *p = tp_create(o->workers, 1024);

	tp_run(p, &j);
	tp_destroy(p);
	snprintf(extra, sizeof(extra),
		 "{\"makespan_over_ideal\": %.4f, \"makespan_s\": %.4f, \"ideal_s\": %.4f}",
		 j.elapsed_s / ideal, j.elapsed_s, ideal);
	emit("skewed", "pthreadpool", o->workers, &j, peer_cpu_s() - c0, extra);
	free(d);
}

static void seed_count(const struct peer_opts *o)
{
	uint64_t iters = peer_seed_iters(o->quick), t0;
	double c0 = peer_cpu_s(), el;
	char extra[128];

	t0 = peer_now_ns();
	for (uint64_t f = 0; f < PEER_SEED_FRAMES; f++)
		if (peer_seed_count(iters, f, PEER_SEED_THRESH) != iters * f * PEER_SEED_THRESH)
			peer_die("seed count: wrong result");
	el = (double)(peer_now_ns() - t0) * 1e-9;
	struct peer_row r = peer_row_init("seed_count", "serial");

	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)iters, el);
	r.tasks = PEER_SEED_FRAMES;
	r.tasks_per_s = PEER_SEED_FRAMES / el;
	r.cpu_s = peer_cpu_s() - c0;
	r.syscalls_per_task = 0;
	r.extra = extra;
	peer_emit(&r);

	/* the same frames on the thread pool */
	struct job j = { .n = PEER_SEED_FRAMES, .op = OP_SEED, .ordered = 1 };
	struct tpool *p;

	c0 = peer_cpu_s();
	p = tp_create(o->workers, 16);
	p->seed_iters = iters;
	tp_run(p, &j);
	tp_destroy(p);
	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)iters, j.elapsed_s);
	emit("seed_count", "pthreadpool", o->workers, &j, peer_cpu_s() - c0, extra);
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	peer_ticks_per_ns();
	if (peer_want(&o, "tiny_ordered") || peer_want(&o, "tiny_unordered"))
		tiny(&o);
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
