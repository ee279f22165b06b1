/* SPDX-License-Identifier: MIT */
/*
 * ringpool on the workloads its peers run (bench/rp_bench.c has tiny tasks
 * and round trips): the payload sweep with a checksum task, zero-copy
 * (rp_reserve, fill in place, rp_commit) against copy (rp_submit from a user
 * buffer); CPU scaling of ~1 ms tasks over 1..nproc workers against a serial
 * loop run here; the seed program's count() over 10 frames; skewed durations;
 * and the CPU an idle pool burns. Public API only. CPU is read from
 * /proc/<pid>/task/<tid>/schedstat of this process and its workers, which
 * are found through /proc/self/task/<tid>/children.
 */
#include "peer_common.h"
#include "ringpool.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t seed_iters;	/* set before a pool is created; workers inherit it */

/* ---- task functions (run in the workers) ------------------------------ */

static int put_u64(struct rp_task *t, uint64_t v)
{
	uint64_t *out = rp_task_result(t, 8);

	if (!out)
		return -EMSGSIZE;
	*out = v;
	return 0;
}

static int sum_task(struct rp_task *t, const void *in, size_t len)
{
	return put_u64(t, peer_payload_sum(in, len));
}

static int tiny_task(struct rp_task *t, const void *in, size_t len)
{
	uint64_t x;

	memcpy(&x, in, 8);
	return put_u64(t, peer_tiny(x));
}

static int burn_task(struct rp_task *t, const void *in, size_t len)
{
	uint64_t iters;

	memcpy(&iters, in, 8);
	return put_u64(t, peer_burn(iters, t->seq));
}

static int spin_task(struct rp_task *t, const void *in, size_t len)
{
	uint64_t ns;

	memcpy(&ns, in, 8);
	peer_spin_for(ns);
	return put_u64(t, ns);
}

static int seed_task(struct rp_task *t, const void *in, size_t len)
{
	uint64_t frame;

	memcpy(&frame, in, 8);
	return put_u64(t, peer_seed_count(seed_iters, frame, PEER_SEED_THRESH));
}

/* ---- helpers ------------------------------------------------------------ */

static struct rp_pool *pool_new(unsigned workers, size_t ring_bytes, unsigned flags)
{
	struct rp_config c;
	struct rp_pool *p;
	int err;

	rp_config_init(&c);
	c.workers = workers;
	c.flags = flags;
	if (ring_bytes)
		c.ring_bytes = ring_bytes;
	err = rp_pool_create(&p, &c);
	if (err)
		peer_die("rp_pool_create(%u workers, ring %zu): %s", workers, c.ring_bytes,
			 strerror(-err));
	return p;
}

static uint64_t futex_calls(struct rp_pool *p)
{
	struct rp_stats st;

	rp_pool_stats(p, &st);
	return st.parent_futex_waits + st.parent_futex_wakes + st.worker_futex_waits +
	       st.worker_futex_wakes;
}

/* Child pids of this process (the pool's workers): from every thread's children file. */
static size_t child_pids(pid_t *out, size_t cap)
{
	char path[320];
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir("/proc/self/task");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		FILE *f;
		int pid;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (n < cap && fscanf(f, "%d", &pid) == 1)
			out[n++] = pid;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* CPU ns of this process and its live children, and how many children. */
static uint64_t tree_cpu_ns(size_t *nchildren)
{
	pid_t kids[RP_MAX_WORKERS + 16];
	size_t n = child_pids(kids, RP_MAX_WORKERS + 16);
	uint64_t sum = peer_pid_cpu_ns(getpid());

	for (size_t i = 0; i < n; i++)
		sum += peer_pid_cpu_ns(kids[i]);
	if (nchildren)
		*nchildren = n;
	return sum;
}

static void next_or_die(struct rp_pool *p, struct rp_result *res)
{
	int err = rp_next(p, res, 0);

	if (err)
		peer_die("rp_next: %s", strerror(-err));
	if (res->status)
		peer_die("task %llu failed: status %d%s", (unsigned long long)res->seq, res->status,
			 res->flags & RP_RES_POOL ? " (pool)" : "");
}

/* ---- payload ------------------------------------------------------------ */

/*
 * Stream n checksum tasks of sz bytes; results come back in order, so the
 * k-th result belongs to the k-th task (tag k). Returns elapsed seconds.
 */
static double stream_payload(struct rp_pool *p, size_t sz, uint64_t n, int zerocopy, char *ubuf)
{
	uint64_t sub = 0, got = 0, filled = UINT64_MAX, t0 = peer_now_ns();
	struct rp_result res;

	while (got < n) {
		if (sub < n) {
			int err;

			if (zerocopy) {
				void *buf;

				err = rp_reserve(p, sum_task, sz, 0, &buf);
				if (!err) {
					peer_payload_fill(buf, sz, sub);
					err = rp_commit(p, sz, 0, NULL);
				}
			} else {
				if (filled != sub) {	/* fill once even if submit must wait */
					peer_payload_fill(ubuf, sz, sub);
					filled = sub;
				}
				err = rp_submit(p, sum_task, ubuf, sz, 0, 0, NULL);
			}
			if (!err) {
				sub++;
				continue;
			}
			if (err != -EAGAIN)
				peer_die("submit %zu bytes: %s", sz, strerror(-err));
		}
		next_or_die(p, &res);
		if (res.len != 8 || *(const uint64_t *)res.data != peer_payload_expect(sz, got))
			peer_die("payload %zu: wrong checksum for task %llu", sz, (unsigned long long)got);
		rp_release(p, &res);
		got++;
	}
	return (double)(peer_now_ns() - t0) * 1e-9;
}

static size_t pow2_at_least(size_t x)
{
	size_t r = 1;

	while (r < x)
		r <<= 1;
	return r;
}

static void payload(const struct peer_opts *o)
{
	for (const size_t *sz = peer_payload_sizes; *sz; sz++) {
		size_t ring = pow2_at_least(2 * (*sz + 64));
		char *ubuf = aligned_alloc(64, *sz);

		if (!ubuf)
			peer_die("out of memory");
		memset(ubuf, 0, *sz);
		if (ring < (1u << 20))
			ring = 1u << 20;	/* never below the default */
		for (int zc = 1; zc >= 0; zc--) {
			struct rp_pool *p = pool_new(o->workers, ring, 0);
			uint64_t n = peer_payload_tasks(*sz, o->quick), warm, sc0, cpu0;
			struct rp_stats st;
			double el;
			char extra[192];

			rp_pool_stats(p, &st);
			if (st.max_payload < *sz)
				peer_die("ring of %zu bytes takes at most %llu-byte tasks", ring,
					 (unsigned long long)st.max_payload);
			/* warm up: pass once through every worker's ring (page faults) */
			warm = (ring / (*sz + 64) + 1) * o->workers;
			stream_payload(p, *sz, warm, zc, ubuf);
			sc0 = futex_calls(p);
			cpu0 = tree_cpu_ns(NULL);
			el = stream_payload(p, *sz, n, zc, ubuf);
			struct peer_row r = peer_row_init("payload", "ringpool");

			r.cpu_s = (double)(tree_cpu_ns(NULL) - cpu0) * 1e-9;
			r.syscalls_per_task = (double)(futex_calls(p) - sc0) / (double)n;
			rp_pool_destroy(p);
			snprintf(extra, sizeof(extra),
				 "{\"gbps\": %.4f, \"path\": \"%s\", \"ring_bytes\": %zu}",
				 (double)n * (double)*sz / el * 1e-9, zc ? "zerocopy" : "copy", ring);
			r.workers = o->workers;
			r.payload_bytes = *sz;
			r.tasks = n;
			r.tasks_per_s = (double)n / el;
			r.extra = extra;
			peer_emit(&r);
		}
		free(ubuf);
	}
}

/* ---- rp_map-based workloads --------------------------------------------- */

/* rp_map n 8-byte inputs; returns elapsed seconds; CPU and futex calls out. */
static double timed_map(struct rp_pool *p, rp_task_fn fn, const uint64_t *in, uint64_t *out,
			size_t n, double *cpu_s, double *sc_per)
{
	uint64_t sc0 = futex_calls(p), c0 = tree_cpu_ns(NULL), t0 = peer_now_ns();
	int err = rp_map(p, fn, in, 8, out, 8, n);
	double el = (double)(peer_now_ns() - t0) * 1e-9;

	if (err)
		peer_die("rp_map: %s", strerror(-err));
	*cpu_s = (double)(tree_cpu_ns(NULL) - c0) * 1e-9;
	*sc_per = (double)(futex_calls(p) - sc0) / (double)n;
	return el;
}

/* Stream n 8-byte inputs with rp_submit + rp_next; returns elapsed seconds. */
static double timed_stream(struct rp_pool *p, rp_task_fn fn, const uint64_t *in, size_t n,
			   double *cpu_s, double *sc_per)
{
	uint64_t sc0 = futex_calls(p), c0 = tree_cpu_ns(NULL), t0 = peer_now_ns();
	uint64_t sub = 0, got = 0;
	struct rp_result res;
	double el;

	while (got < n) {
		if (sub < n) {
			int err = rp_submit(p, fn, &in[sub], 8, 0, 0, NULL);

			if (!err) {
				sub++;
				continue;
			}
			if (err != -EAGAIN)
				peer_die("rp_submit: %s", strerror(-err));
		}
		next_or_die(p, &res);
		rp_release(p, &res);
		got++;
	}
	el = (double)(peer_now_ns() - t0) * 1e-9;
	*cpu_s = (double)(tree_cpu_ns(NULL) - c0) * 1e-9;
	*sc_per = (double)(futex_calls(p) - sc0) / (double)n;
	return el;
}

#define MAX_REPS 5

/*
 * Run the same n tasks `reps` times on one pool, through rp_map or through
 * rp_submit + rp_next; returns the median elapsed time, and the fastest and
 * slowest. CPU and futex calls are those of the median pass.
 */
static double timed_reps(struct rp_pool *p, int use_map, rp_task_fn fn, const uint64_t *in,
			 uint64_t *out, size_t n, int reps, double *lo, double *hi,
			 double *cpu_s, double *sc_per)
{
	double el[MAX_REPS], cpu[MAX_REPS], sc[MAX_REPS];
	int idx[MAX_REPS];

	for (int k = 0; k < reps; k++) {
		el[k] = use_map ? timed_map(p, fn, in, out, n, &cpu[k], &sc[k])
				: timed_stream(p, fn, in, n, &cpu[k], &sc[k]);
		idx[k] = k;
	}
	for (int i = 1; i < reps; i++)	/* insertion sort of <= 5 indices */
		for (int j = i; j > 0 && el[idx[j]] < el[idx[j - 1]]; j--) {
			int t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	*lo = el[idx[0]];
	*hi = el[idx[reps - 1]];
	*cpu_s = cpu[idx[reps / 2]];
	*sc_per = sc[idx[reps / 2]];
	return el[idx[reps / 2]];
}

static void cpu_scaling(const struct peer_opts *o)
{
	uint64_t iters = peer_burn_calibrate(1000000), n = o->quick ? 400 : 4000;
	uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
	int reps = o->quick ? 3 : 5;
	double serial_s;

	if (!in || !out)
		peer_die("out of memory");
	for (uint64_t i = 0; i < n; i++)
		in[i] = iters;
	serial_s = peer_burn_serial_s(iters, (uint64_t)n);
	for (unsigned w = 1; w <= o->workers; w++) {
		for (int use_map = 1; use_map >= 0; use_map--) {
			struct rp_pool *p = pool_new(w, 0, 0);
			struct peer_row r = peer_row_init("cpu_scaling",
							  use_map ? "ringpool" : "ringpool_stream");
			char extra[256];
			double el, lo, hi;

			el = timed_reps(p, use_map, burn_task, in, out, n, reps, &lo, &hi, &r.cpu_s,
					&r.syscalls_per_task);
			rp_pool_destroy(p);
			snprintf(extra, sizeof(extra),
				 "{\"speedup\": %.4f, \"speedup_min\": %.4f, \"speedup_max\": %.4f, "
				 "\"reps\": %d, \"serial_s\": %.4f, \"task_us\": %.1f, \"api\": \"%s\"}",
				 serial_s / el, serial_s / hi, serial_s / lo, reps, serial_s,
				 serial_s / (double)n * 1e6, use_map ? "rp_map" : "rp_submit+rp_next");
			r.workers = w;
			r.payload_bytes = 8;
			r.tasks = n;
			r.tasks_per_s = (double)n / el;
			r.extra = extra;
			peer_emit(&r);
		}
	}
	free(in);
	free(out);
}

static void seed_count(const struct peer_opts *o)
{
	uint64_t in[PEER_SEED_FRAMES], out[PEER_SEED_FRAMES];
	struct rp_pool *p;
	struct peer_row r = peer_row_init("seed_count", "ringpool");
	char extra[128];
	double el;

	seed_iters = peer_seed_iters(o->quick);
	for (uint64_t f = 0; f < PEER_SEED_FRAMES; f++)
		in[f] = f;
	p = pool_new(o->workers, 0, 0);
	el = timed_map(p, seed_task, in, out, PEER_SEED_FRAMES, &r.cpu_s, &r.syscalls_per_task);
	rp_pool_destroy(p);
	for (uint64_t f = 0; f < PEER_SEED_FRAMES; f++)
		if (out[f] != seed_iters * f * PEER_SEED_THRESH)
			peer_die("seed count: wrong result for frame %llu", (unsigned long long)f);
	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)seed_iters, el);
	r.workers = o->workers;
	r.tasks = PEER_SEED_FRAMES;
	r.tasks_per_s = PEER_SEED_FRAMES / el;
	r.extra = extra;
	peer_emit(&r);
}

static void skewed(const struct peer_opts *o)
{
	size_t n = peer_skew_tasks(o->quick);
	uint64_t *d = malloc(n * 8), *out = malloc(n * 8), total;
	int reps = o->quick ? 3 : 5;
	double ideal;

	if (!d || !out)
		peer_die("out of memory");
	total = peer_skew_durations(d, n, PEER_SKEW_BASE_NS);
	ideal = (double)total * 1e-9 / o->workers;
	/* rp_map (the Pool.map form), then streaming with results as they finish */
	for (int use_map = 1; use_map >= 0; use_map--) {
		struct rp_pool *p = pool_new(o->workers, 0, use_map ? 0 : RP_CFG_UNORDERED);
		struct peer_row r = peer_row_init("skewed", use_map ? "ringpool" : "ringpool_unordered");
		char extra[256];
		double el, lo, hi;

		el = timed_reps(p, use_map, spin_task, d, out, n, reps, &lo, &hi, &r.cpu_s,
				&r.syscalls_per_task);
		rp_pool_destroy(p);
		snprintf(extra, sizeof(extra),
			 "{\"makespan_over_ideal\": %.4f, \"best\": %.4f, \"worst\": %.4f, \"reps\": %d, "
			 "\"makespan_s\": %.4f, \"ideal_s\": %.4f, \"api\": \"%s\"}",
			 el / ideal, lo / ideal, hi / ideal, reps, el, ideal,
			 use_map ? "rp_map" : "rp_submit+rp_next");
		r.workers = o->workers;
		r.payload_bytes = 8;
		r.tasks = n;
		r.tasks_per_s = (double)n / el;
		r.extra = extra;
		peer_emit(&r);
	}
	free(d);
	free(out);
}

/* Take one result (unordered pool) and note when it came back. */
static void take_at(struct rp_pool *p, uint64_t t0, double *at, unsigned n)
{
	struct rp_result r;
	int err = rp_next(p, &r, 0);

	if (err || r.status || r.seq >= n)
		peer_die("as_completed: rp_next: %s", strerror(err ? -err : EPROTO));
	at[r.seq] = (double)(peer_now_ns() - t0) * 1e-9;
	rp_release(p, &r);
}

/*
 * Head-of-line: on a fresh pool, one long task and then short ones, results
 * as they finish (Python's as_completed). Counts the short tasks that came
 * back after the long one: each queued behind it while another worker could
 * have run it. 0 is the goal.
 */
static void as_completed(const struct peer_opts *o)
{
	enum { NSHORT = 8 };
	uint64_t long_ns = o->quick ? 100000000ull : 300000000ull, short_ns = 2000000ull;
	double at[NSHORT + 1];
	struct rp_pool *p = pool_new(o->workers, 0, RP_CFG_UNORDERED);
	struct peer_row r = peer_row_init("as_completed", "ringpool");
	uint64_t t0 = peer_now_ns();
	unsigned taken = 0, late = 0;
	double last = 0;
	char extra[256];

	for (unsigned i = 0; i <= NSHORT; i++) {
		uint64_t ns = i == 0 ? long_ns : short_ns;
		int err;

		while ((err = rp_submit(p, spin_task, &ns, 8, 0, i, NULL)) == -EAGAIN) {
			take_at(p, t0, at, NSHORT + 1);
			taken++;
		}
		if (err)
			peer_die("as_completed: rp_submit: %s", strerror(-err));
	}
	for (; taken <= NSHORT; taken++)
		take_at(p, t0, at, NSHORT + 1);
	rp_pool_destroy(p);
	for (unsigned i = 1; i <= NSHORT; i++) {
		late += at[i] > at[0];
		last = at[i] > last ? at[i] : last;
	}
	snprintf(extra, sizeof(extra),
		 "{\"short_after_long\": %u, \"shorts\": %u, \"long_s\": %.4f, "
		 "\"last_short_s\": %.4f, \"short_ms\": %.1f}",
		 late, NSHORT, at[0], last, short_ns * 1e-6);
	r.workers = o->workers;
	r.payload_bytes = 8;
	r.tasks = NSHORT + 1;
	r.tasks_per_s = (NSHORT + 1) / (last > at[0] ? last : at[0]);
	r.extra = extra;
	peer_emit(&r);
}

static void idle_cpu(const struct peer_opts *o)
{
	const unsigned ntasks = 1000;
	const double window_s = 2.0;
	uint64_t *in = malloc(ntasks * 8), *out = malloc(ntasks * 8), c0, c1, sc0, sc1;
	struct timespec ts = { 2, 0 };
	struct rp_pool *p;
	size_t kids = 0;
	double cpu, sc;
	char extra[192];

	if (!in || !out)
		peer_die("out of memory");
	for (unsigned i = 0; i < ntasks; i++)
		in[i] = i;
	p = pool_new(o->workers, 0, 0);
	timed_map(p, tiny_task, in, out, ntasks, &cpu, &sc);	/* a few tasks first */
	for (unsigned i = 0; i < ntasks; i++)
		if (out[i] != peer_tiny(i))
			peer_die("idle: wrong result");
	sc0 = futex_calls(p);
	c0 = tree_cpu_ns(&kids);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	c1 = tree_cpu_ns(NULL);
	sc1 = futex_calls(p);
	rp_pool_destroy(p);
	cpu = (double)(c1 - c0) * 1e-9;
	snprintf(extra, sizeof(extra),
		 "{\"cpu_pct\": %.4f, \"window_s\": %.1f, \"processes\": %zu, \"futex_calls\": %llu}",
		 cpu / window_s * 100.0, window_s, kids + 1, (unsigned long long)(sc1 - sc0));
	struct peer_row r = peer_row_init("idle_cpu", "ringpool");

	r.workers = o->workers;
	r.tasks = 0;
	r.cpu_s = cpu;
	r.extra = extra;
	peer_emit(&r);
	free(in);
	free(out);
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 50 : 500);
	if (peer_want(&o, "payload"))
		payload(&o);
	if (peer_want(&o, "cpu_scaling"))
		cpu_scaling(&o);
	if (peer_want(&o, "seed_count"))
		seed_count(&o);
	if (peer_want(&o, "skewed"))
		skewed(&o);
	if (peer_want(&o, "as_completed"))
		as_completed(&o);
	if (peer_want(&o, "idle_cpu"))
		idle_cpu(&o);
	return 0;
}
