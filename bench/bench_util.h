/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the benchmark programs: a monotonic clock, percentiles,
 * CPU time of this process and its reaped children, and the JSON-lines record
 * every benchmark prints (one object per measurement; see bench/README.md).
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static inline uint64_t bench_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort samples before taking percentiles. */
static inline void bench_sort(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_u64);
}

/* Percentile q in [0, 1] of samples already sorted by bench_sort(). */
static inline double bench_pct(const uint64_t *v, size_t n, double q)
{
	if (!n)
		return 0;
	size_t i = (size_t)(q * (double)(n - 1) + 0.5);
	return (double)v[i];
}

static inline double bench_cpu_s(void)
{
	struct rusage a, b;

	getrusage(RUSAGE_SELF, &a);
	getrusage(RUSAGE_CHILDREN, &b);
	return (double)(a.ru_utime.tv_sec + a.ru_stime.tv_sec + b.ru_utime.tv_sec +
			b.ru_stime.tv_sec) +
	       (double)(a.ru_utime.tv_usec + a.ru_stime.tv_usec + b.ru_utime.tv_usec +
			b.ru_stime.tv_usec) * 1e-6;
}

struct bench_rec {
	const char *workload;
	const char *impl;
	int workers;
	long payload_bytes;
	uint64_t tasks;
	double tasks_per_s;
	double p50_ns, p99_ns, p999_ns;	/* < 0: not applicable */
	double cpu_s;			/* < 0: not measured */
	double syscalls_per_task;	/* < 0: not measured */
	const char *extra;		/* raw JSON object text, or NULL */
};

static inline void bench_num(FILE *f, const char *k, double v)
{
	if (v < 0)
		fprintf(f, ", \"%s\": null", k);
	else
		fprintf(f, ", \"%s\": %.6g", k, v);
}

static inline void bench_emit(FILE *f, const struct bench_rec *r)
{
	fprintf(f, "{\"workload\": \"%s\", \"impl\": \"%s\", \"workers\": %d, "
		   "\"payload_bytes\": %ld, \"tasks\": %llu",
		r->workload, r->impl, r->workers, r->payload_bytes,
		(unsigned long long)r->tasks);
	bench_num(f, "tasks_per_s", r->tasks_per_s);
	bench_num(f, "p50_ns", r->p50_ns);
	bench_num(f, "p99_ns", r->p99_ns);
	bench_num(f, "p999_ns", r->p999_ns);
	bench_num(f, "cpu_s", r->cpu_s);
	bench_num(f, "syscalls_per_task", r->syscalls_per_task);
	fprintf(f, ", \"extra\": %s}\n", r->extra ? r->extra : "{}");
	fflush(f);
}

#endif
