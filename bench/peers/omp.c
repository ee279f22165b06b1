/* SPDX-License-Identifier: MIT */
/*
 * OpenMP reference: `#pragma omp parallel for schedule(dynamic)` over the
 * task index, results written to out[i] (so in order). The in-process,
 * shared-memory best case for tiny tasks, CPU scaling, skewed durations and
 * the seed program's frames. Tiny tasks run in blocks of 1 Mi so the output
 * array stays small; each block costs one fork/join of the (persistent) team.
 */
#include "peer_common.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define BLOCK (1u << 20)

static void tiny(const struct peer_opts *o)
{
	uint64_t n = o->quick ? 8 * (uint64_t)BLOCK : 64 * (uint64_t)BLOCK, sum = 0, t0;
	uint64_t *out = malloc(BLOCK * sizeof(*out));
	double c0, el;
	char extra[64];

	if (!out)
		peer_die("out of memory");
	omp_set_num_threads((int)o->workers);
	#pragma omp parallel for schedule(dynamic)	/* warm up the team */
	for (long i = 0; i < (long)BLOCK; i++)
		out[i] = peer_tiny((uint64_t)i);
	c0 = peer_cpu_s();
	t0 = peer_now_ns();
	for (uint64_t b = 0; b < n; b += BLOCK) {
		#pragma omp parallel for schedule(dynamic)
		for (long i = 0; i < (long)BLOCK; i++)
			out[i] = peer_tiny(b + (uint64_t)i);
		for (unsigned i = 0; i < BLOCK; i++)	/* consume in order */
			sum += out[i];
	}
	el = (double)(peer_now_ns() - t0) * 1e-9;
	if (sum != n * n)
		peer_die("omp tiny: wrong sum");
	free(out);
	snprintf(extra, sizeof(extra), "{\"block\": %u, \"schedule\": \"dynamic,1\"}", BLOCK);
	struct peer_row r = peer_row_init("tiny_ordered", "openmp");

	r.workers = o->workers;
	r.payload_bytes = 8;
	r.tasks = n;
	r.tasks_per_s = (double)n / el;
	r.cpu_s = peer_cpu_s() - c0;
	r.extra = extra;
	peer_emit(&r);
}

static void cpu_scaling(const struct peer_opts *o)
{
	uint64_t iters = peer_burn_calibrate(1000000), t0;
	long n = o->quick ? 400 : 4000;
	uint64_t *out = malloc((size_t)n * sizeof(*out));
	double serial_s;
	char extra[160];

	if (!out)
		peer_die("out of memory");
	serial_s = peer_burn_serial_s(iters, (uint64_t)n);
	for (unsigned w = 1; w <= o->workers; w++) {
		double c0 = peer_cpu_s(), el;

		omp_set_num_threads((int)w);
		t0 = peer_now_ns();
		#pragma omp parallel for schedule(dynamic)
		for (long i = 0; i < n; i++)
			out[i] = peer_burn(iters, (uint64_t)i);
		el = (double)(peer_now_ns() - t0) * 1e-9;
		snprintf(extra, sizeof(extra), "{\"speedup\": %.4f, \"serial_s\": %.4f, \"task_us\": %.1f}",
			 serial_s / el, serial_s, serial_s / (double)n * 1e6);
		struct peer_row r = peer_row_init("cpu_scaling", "openmp");

		r.workers = w;
		r.payload_bytes = 8;
		r.tasks = (uint64_t)n;
		r.tasks_per_s = (double)n / el;
		r.cpu_s = peer_cpu_s() - c0;
		r.extra = extra;
		peer_emit(&r);
	}
	free(out);
}

static void skewed(const struct peer_opts *o)
{
	size_t n = peer_skew_tasks(o->quick);
	uint64_t *d = malloc(n * sizeof(*d)), total, t0;
	double c0, el, ideal;
	char extra[160];

	if (!d)
		peer_die("out of memory");
	total = peer_skew_durations(d, n, PEER_SKEW_BASE_NS);
	ideal = (double)total * 1e-9 / o->workers;
	omp_set_num_threads((int)o->workers);
	c0 = peer_cpu_s();
	t0 = peer_now_ns();
	#pragma omp parallel for schedule(dynamic)
	for (long i = 0; i < (long)n; i++)
		peer_spin_for(d[i]);
	el = (double)(peer_now_ns() - t0) * 1e-9;
	snprintf(extra, sizeof(extra),
		 "{\"makespan_over_ideal\": %.4f, \"makespan_s\": %.4f, \"ideal_s\": %.4f}",
		 el / ideal, el, ideal);
	struct peer_row r = peer_row_init("skewed", "openmp");

	r.workers = o->workers;
	r.payload_bytes = 8;
	r.tasks = n;
	r.tasks_per_s = (double)n / el;
	r.cpu_s = peer_cpu_s() - c0;
	r.extra = extra;
	peer_emit(&r);
	free(d);
}

static void seed_count(const struct peer_opts *o)
{
	uint64_t iters = peer_seed_iters(o->quick), res[PEER_SEED_FRAMES], t0;
	double c0 = peer_cpu_s(), el;
	char extra[128];

	omp_set_num_threads((int)o->workers);
	t0 = peer_now_ns();
	#pragma omp parallel for schedule(dynamic)
	for (long f = 0; f < PEER_SEED_FRAMES; f++)
		res[f] = peer_seed_count(iters, (uint64_t)f, PEER_SEED_THRESH);
	el = (double)(peer_now_ns() - t0) * 1e-9;
	for (uint64_t f = 0; f < PEER_SEED_FRAMES; f++)
		if (res[f] != iters * f * PEER_SEED_THRESH)
			peer_die("omp seed count: wrong result");
	snprintf(extra, sizeof(extra), "{\"iters_per_frame\": %llu, \"elapsed_s\": %.4f}",
		 (unsigned long long)iters, el);
	struct peer_row r = peer_row_init("seed_count", "openmp");

	r.workers = o->workers;
	r.tasks = PEER_SEED_FRAMES;
	r.tasks_per_s = PEER_SEED_FRAMES / el;
	r.cpu_s = peer_cpu_s() - c0;
	r.extra = extra;
	peer_emit(&r);
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	if (peer_want(&o, "tiny_ordered"))
		tiny(&o);
	if (peer_want(&o, "cpu_scaling"))
		cpu_scaling(&o);
	if (peer_want(&o, "skewed"))
		skewed(&o);
	if (peer_want(&o, "seed_count"))
		seed_count(&o);
	return 0;
}
