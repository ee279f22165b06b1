/* SPDX-License-Identifier: MIT */
/*
 * ringpool's own figures, next to the physical limits measured in the same
 * run: tiny-task throughput (one submit per task, ordered and unordered,
 * 1 and 2 workers) against a serial loop; the round trip of one task to an
 * awake worker and to a sleeping one against the cache-line and futex
 * ping-pongs; and the Pool API on tiny tasks (rp_map, auto-chunked, rp_imap
 * one by one and auto-chunked). Prints a table on stderr and JSON lines on stdout.
 * Usage: rp_bench [--quick] [--only tiny|rtt|api]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "pingpong.h"
#include "ringpool.h"

static int quick;

/* The tiny task: 8 bytes in, 8 bytes out. */
static inline uint64_t work(uint64_t x)
{
	return x * 2 + 1;
}

static int tiny(struct rp_task *t, const void *in, size_t len)
{
	uint64_t *out = rp_task_result(t, 8);

	*out = work(*(const uint64_t *)in);
	return 0;
}

static struct rp_pool *make_pool(unsigned workers, unsigned flags, uint64_t spin_ns)
{
	struct rp_config c;
	struct rp_pool *p;
	int err;

	rp_config_init(&c);
	c.workers = workers;
	c.flags = flags;
	c.spin_ns = spin_ns;
	err = rp_pool_create(&p, &c);
	if (err) {
		fprintf(stderr, "rp_bench: rp_pool_create: %s\n", strerror(-err));
		exit(1);
	}
	return p;
}

static uint64_t syscalls(struct rp_pool *p)
{
	struct rp_stats st;

	rp_pool_stats(p, &st);
	return st.parent_futex_waits + st.parent_futex_wakes + st.worker_futex_waits +
	       st.worker_futex_wakes;
}

static void row(const char *what, double v, const char *unit)
{
	fprintf(stderr, "  %-44s %12.2f %s\n", what, v, unit);
}

/* One submit per task, collect as results come; returns tasks/s. */
static void bench_tiny(unsigned workers, unsigned flags)
{
	uint64_t n = quick ? 2000000 : 20000000, sub = 0, got = 0, bad = 0, sc0, t0;
	struct rp_pool *p = make_pool(workers, flags, 50000);
	struct rp_result res;
	double cpu0, secs;
	char name[64];

	/* Warm up: page in the rings, settle the adaptive limits. */
	for (uint64_t i = 0; i < 100000; i++) {
		while (rp_submit(p, tiny, &i, 8, 0, 0, NULL) == -EAGAIN) {
			rp_next(p, &res, 0);
			rp_release(p, &res);
		}
	}
	while (rp_next(p, &res, 0) == 0)
		rp_release(p, &res);
	sc0 = syscalls(p);
	cpu0 = bench_cpu_s();
	t0 = bench_ns();
	while (got < n) {
		while (sub < n && rp_submit(p, tiny, &sub, 8, 0, 0, NULL) == 0)
			sub++;
		while (rp_next(p, &res, got < sub ? 0 : RP_NONBLOCK) == 0) {
			bad += res.status != 0;
			got++;
			rp_release(p, &res);
			if (sub < n && (got & 63) == 0)
				break;
		}
	}
	secs = (double)(bench_ns() - t0) * 1e-9;
	uint64_t sc = syscalls(p) - sc0;
	rp_pool_destroy(p);
	double cpu = bench_cpu_s() - cpu0;
	snprintf(name, sizeof(name), "tiny %s, %u worker%s, tasks/s",
		 flags ? "unordered" : "ordered", workers, workers > 1 ? "s" : "");
	row(name, (double)n / secs / 1e6, "M");
	if (bad)
		fprintf(stderr, "rp_bench: %llu tasks failed\n", (unsigned long long)bad);
	bench_emit(stdout, &(struct bench_rec){
		.workload = flags ? "tiny_unordered" : "tiny_ordered", .impl = "ringpool",
		.workers = (int)workers, .payload_bytes = 8, .tasks = n,
		.tasks_per_s = (double)n / secs, .p50_ns = -1, .p99_ns = -1, .p999_ns = -1,
		.cpu_s = cpu, .syscalls_per_task = (double)sc / (double)n });
}

/* The burst form: rp_submit_burst / rp_next_burst / rp_release_burst,
 * B = 256 at a time each way, 1 worker, ordered. Each result is checked. */
static void bench_burst(unsigned workers)
{
	enum { B = 256 };
	uint64_t n = quick ? 4000000 : 40000000, sent = 0, got = 0, bad = 0, in[B], t0;
	struct rp_pool *p = make_pool(workers, 0, 50000);
	struct rp_result res[B];
	double cpu0, secs;
	char name[64];

	cpu0 = bench_cpu_s();
	t0 = bench_ns();
	while (got < n) {
		while (sent < n) {
			unsigned k = n - sent < B ? (unsigned)(n - sent) : B;
			int r;

			for (unsigned i = 0; i < k; i++)
				in[i] = sent + i;
			r = rp_submit_burst(p, tiny, in, 8, k, RP_NONBLOCK, 0, NULL);
			if (r <= 0)
				break;
			sent += (uint64_t)r;
		}
		int r = rp_next_burst(p, res, B, 0);

		if (r <= 0) {
			fprintf(stderr, "rp_bench: rp_next_burst: %s\n", strerror(-r));
			exit(1);
		}
		for (int i = 0; i < r; i++)
			bad += res[i].status != 0 || res[i].seq != got + (uint64_t)i ||
			       *(const uint64_t *)res[i].data != work(got + (uint64_t)i);
		rp_release_burst(p, res, (unsigned)r);
		got += (uint64_t)r;
	}
	secs = (double)(bench_ns() - t0) * 1e-9;
	rp_pool_destroy(p);
	snprintf(name, sizeof(name), "tiny burst of %d, %u worker%s, tasks/s", B, workers,
		 workers > 1 ? "s" : "");
	row(name, (double)n / secs / 1e6, "M");
	if (bad)
		fprintf(stderr, "rp_bench: %llu burst results wrong\n", (unsigned long long)bad);
	bench_emit(stdout, &(struct bench_rec){
		.workload = "tiny_burst", .impl = "ringpool", .workers = (int)workers,
		.payload_bytes = 8, .tasks = n, .tasks_per_s = (double)n / secs, .p50_ns = -1,
		.p99_ns = -1, .p999_ns = -1, .cpu_s = bench_cpu_s() - cpu0,
		.syscalls_per_task = -1 });
}

static void bench_serial(void)
{
	uint64_t n = quick ? 20000000 : 200000000, acc = 0, t0 = bench_ns();
	volatile uint64_t sink;

	for (uint64_t i = 0; i < n; i++) {
		/* The function call the pool makes, through a pointer, kept. */
		uint64_t in = i, out;
		int (*volatile f)(uint64_t *, uint64_t) = NULL;

		(void)f;
		out = work(in);
		acc += out;
	}
	sink = acc;
	(void)sink;
	double secs = (double)(bench_ns() - t0) * 1e-9;
	row("tiny, serial loop (no isolation), tasks/s", (double)n / secs / 1e6, "M");
	bench_emit(stdout, &(struct bench_rec){
		.workload = "tiny_ordered", .impl = "serial", .workers = 0, .payload_bytes = 8,
		.tasks = n, .tasks_per_s = (double)n / secs, .p50_ns = -1, .p99_ns = -1,
		.p999_ns = -1, .cpu_s = -1, .syscalls_per_task = -1 });
}

static void report_rtt(const char *workload, const char *impl, const char *label,
		       uint64_t *v, size_t n, double sc_per)
{
	bench_sort(v, n);
	double p50 = bench_pct(v, n, 0.5), p99 = bench_pct(v, n, 0.99),
	       p999 = bench_pct(v, n, 0.999);

	fprintf(stderr, "  %-44s p50 %8.0f  p99 %8.0f  p99.9 %8.0f ns\n", label, p50, p99, p999);
	bench_emit(stdout, &(struct bench_rec){
		.workload = workload, .impl = impl, .workers = 1, .payload_bytes = 8, .tasks = n,
		.tasks_per_s = 1e9 / p50, .p50_ns = p50, .p99_ns = p99, .p999_ns = p999,
		.cpu_s = -1, .syscalls_per_task = sc_per });
}

/* Round trip of one task at a time. asleep: pause past the worker's spin budget. */
static void bench_rtt(int asleep, uint64_t *v, size_t n)
{
	uint64_t spin = 50000, sc0 = 0;
	struct rp_pool *p = make_pool(1, 0, spin);
	struct rp_result res;

	for (size_t i = 0; i < n + 1000; i++) {
		uint64_t t0, x = i;

		if (asleep)
			usleep((useconds_t)(spin / 1000 * 3)); /* 3x the spin budget */
		if (i == 1000)
			sc0 = syscalls(p);
		t0 = bench_ns();
		rp_submit(p, tiny, &x, 8, 0, 0, NULL);
		if (rp_next(p, &res, 0) != 0) {
			fprintf(stderr, "rp_bench: rp_next failed\n");
			exit(1);
		}
		rp_release(p, &res);
		if (i >= 1000)
			v[i - 1000] = bench_ns() - t0;
	}
	double sc = (double)(syscalls(p) - sc0) / (double)n;
	rp_pool_destroy(p);
	report_rtt(asleep ? "rtt_asleep" : "rtt_awake", "ringpool",
		   asleep ? "ringpool round trip, worker asleep" : "ringpool round trip, worker awake",
		   v, n, sc);
}

/* ---- the Pool API on tiny tasks: map, map auto-chunked, imap, futures ---- */

struct stream {
	uint64_t next, n, got, bad;
};

static ssize_t src_tiny(void *arg, void *buf, size_t cap)
{
	struct stream *s = arg;

	if (s->next == s->n)
		return RP_EOF;
	memcpy(buf, &s->next, 8);
	s->next++;
	return 8;
}

static int sink_tiny(void *arg, const struct rp_result *r)
{
	struct stream *s = arg;

	s->bad += r->status != 0 || *(const uint64_t *)r->data != work(r->seq);
	s->got++;
	return 0;
}

static void api_row(const char *impl, const char *label, uint64_t n, double secs, unsigned w)
{
	char what[96];

	snprintf(what, sizeof(what), "%s, %u worker%s, tasks/s", label, w, w > 1 ? "s" : "");
	row(what, (double)n / secs / 1e6, "M");
	bench_emit(stdout, &(struct bench_rec){
		.workload = "tiny_api", .impl = impl, .workers = (int)w, .payload_bytes = 8,
		.tasks = n, .tasks_per_s = (double)n / secs, .p50_ns = -1, .p99_ns = -1,
		.p999_ns = -1, .cpu_s = -1, .syscalls_per_task = -1 });
}

static void bench_api(unsigned workers)
{
	uint64_t n = quick ? 2000000 : 10000000, t0;
	uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
	struct rp_pool *p = make_pool(workers, 0, 50000);
	struct rp_map_opts autoc = { .chunk = RP_CHUNK_AUTO };
	struct rp_imap_opts io = { .max_input = 8 }, ioc = { .max_input = 8, .chunk = RP_CHUNK_AUTO,
							   .max_result = 8 };
	struct stream s;

	for (uint64_t i = 0; i < n; i++)
		in[i] = i;
	t0 = bench_ns();
	rp_map(p, tiny, in, 8, out, 8, n);
	api_row("ringpool_map", "rp_map", n, (double)(bench_ns() - t0) * 1e-9, workers);
	t0 = bench_ns();
	rp_map_ex(p, tiny, in, 8, out, 8, n, &autoc, NULL);
	api_row("ringpool_map_autochunk", "rp_map, RP_CHUNK_AUTO", n,
		(double)(bench_ns() - t0) * 1e-9, workers);
	s = (struct stream){ .n = n };
	t0 = bench_ns();
	rp_imap(p, tiny, src_tiny, &s, sink_tiny, &s, &io);
	api_row("ringpool_imap", "rp_imap, one task per record", n,
		(double)(bench_ns() - t0) * 1e-9, workers);
	s = (struct stream){ .n = n };
	t0 = bench_ns();
	rp_imap(p, tiny, src_tiny, &s, sink_tiny, &s, &ioc);
	api_row("ringpool_imap_autochunk", "rp_imap, RP_CHUNK_AUTO", n,
		(double)(bench_ns() - t0) * 1e-9, workers);
	if (s.bad)
		fprintf(stderr, "rp_bench: %llu wrong imap results\n", (unsigned long long)s.bad);
	rp_pool_destroy(p);
	free(in);
	free(out);
}

int main(int argc, char **argv)
{
	const char *only = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = 1;
		else if (!strcmp(argv[i], "--only") && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: rp_bench [--quick] [--only tiny|rtt|api]\n");
			return 2;
		}
	}
	size_t n_awake = quick ? 20000 : 200000, n_asleep = quick ? 2000 : 10000;
	uint64_t *v = malloc(sizeof(*v) * n_awake);

	if (!v)
		return 1;
	fprintf(stderr, "ringpool core benchmarks (%s), %ld CPUs\n", quick ? "quick" : "full",
		sysconf(_SC_NPROCESSORS_ONLN));
	if (!only || !strcmp(only, "rtt")) {
		if (bench_cacheline_pingpong(v, n_awake) == 0)
			report_rtt("cacheline_pingpong", "limit", "cache-line ping-pong (spinning)", v,
				   n_awake, 0);
		bench_rtt(0, v, n_awake);
		if (bench_futex_pingpong(v, n_asleep, 0, 0) == 0)
			report_rtt("futex_pingpong", "limit", "futex ping-pong (both sleep)", v,
				   n_asleep, 2);
		if (bench_futex_pingpong(v, n_asleep, 150, 0) == 0)
			report_rtt("futex_pingpong_gap", "limit",
				   "futex ping-pong after a 150 us pause", v, n_asleep, 2);
		if (bench_futex_pingpong(v, n_asleep, 150, 1) == 0)
			report_rtt("futex_pingpong_gap_xcpu", "limit",
				   "same, the two on different CPUs", v, n_asleep, 2);
		bench_rtt(1, v, n_asleep);
	}
	if (!only || !strcmp(only, "tiny")) {
		bench_serial();
		bench_tiny(1, 0);
		bench_tiny(1, RP_CFG_UNORDERED);
		bench_tiny(2, 0);
		bench_burst(1);
		bench_tiny(2, RP_CFG_UNORDERED);
	}
	if (!only || !strcmp(only, "api")) {
		bench_api(1);
		bench_api(2);
	}
	free(v);
	return 0;
}
