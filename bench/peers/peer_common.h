/* SPDX-License-Identifier: MIT */
/*
 * What every peer benchmark shares: option parsing (--quick, --workers,
 * --only), a watchdog so nothing hangs, clocks, CPU accounting, percentiles,
 * one JSON line per measurement (the schema in bench/driver/run_all.py), and
 * the task bodies (tiny, checksum, ~1 ms burn, the seed's count(), skewed
 * durations) so every implementation runs exactly the same work.
 */
#ifndef PEER_COMMON_H
#define PEER_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct peer_opts {
	int quick;		/* --quick: short runs */
	unsigned workers;	/* --workers N; default: online CPUs */
	const char *only;	/* --only a,b: run only these workloads */
};

/* Parse argv; prints usage and exits on --help or a bad option. */
void peer_parse(int argc, char **argv, struct peer_opts *o);

/* Nonzero if the workload was not excluded by --only. */
int peer_want(const struct peer_opts *o, const char *workload);

/* Kill this process (and, via PDEATHSIG, its children) after `sec` seconds. */
void peer_watchdog(unsigned sec);

/* In a freshly forked child: die with the parent, never outlive it. */
void peer_child_init(pid_t parent);

/*
 * Pin the calling thread to the nth CPU (from 0) of those this process may
 * use. Best effort: returns 0, -EINVAL (fewer CPUs) or another -errno.
 */
int peer_pin(int nth);

/* Give the calling thread back the CPUs it started with. */
void peer_unpin(void);

unsigned peer_nproc(void);

/* CLOCK_MONOTONIC, ns. */
uint64_t peer_now_ns(void);

/*
 * Cheap cycle counter and its conversion, for timing single round trips
 * where clock_gettime() would be a visible part of the result.
 */
static inline uint64_t peer_ticks(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#else
	return peer_now_ns();
#endif
}
double peer_ticks_per_ns(void);	/* calibrated once, ~20 ms */

/* User+sys CPU seconds of this process plus its reaped children. */
double peer_cpu_s(void);

/* CPU ns of every thread of `pid` from /proc (schedstat; stat as fallback). */
uint64_t peer_pid_cpu_ns(pid_t pid);

/*
 * Sort `n` tick samples and write p50/p99/p999 in ns (NAN if n == 0).
 * O(n log n); the array is reordered.
 */
void peer_percentiles(uint64_t *ticks, size_t n, double *p50, double *p99, double *p999);

/* One measurement. NAN doubles (and tasks_per_s NAN) print as null. */
struct peer_row {
	const char *workload;
	const char *impl;
	unsigned workers;
	uint64_t payload_bytes;
	uint64_t tasks;
	double tasks_per_s;
	double p50_ns, p99_ns, p999_ns;
	double cpu_s;
	double syscalls_per_task;
	const char *extra;	/* a JSON object's text, or NULL */
};

/* A row with every optional field null. */
struct peer_row peer_row_init(const char *workload, const char *impl);

/* Print the row as one JSON line on stdout and flush. */
void peer_emit(const struct peer_row *r);

/* ---- task bodies, identical for every implementation ---------------- */

/* The tiny task: as close to nothing as a real function gets. */
static inline uint64_t peer_tiny(uint64_t x)
{
	return x * 2 + 1;
}

/* Fill `len` bytes (multiple of 8) so that peer_payload_sum is predictable. */
void peer_payload_fill(void *buf, size_t len, uint64_t tag);
uint64_t peer_payload_sum(const void *buf, size_t len);
static inline uint64_t peer_payload_expect(size_t len, uint64_t tag)
{
	uint64_t n = len / 8;

	return n * tag + n * (n - 1) / 2;
}

/* Payload sizes of the sweep, 64 B .. 16 MiB; terminated by 0. */
extern const size_t peer_payload_sizes[];

/*
 * Tasks in flight for the payload sweep of the peers that need one buffer
 * per task in flight: a power of two, at least 2 per worker, about 256 KiB
 * in flight for small payloads, at most 1024.
 */
unsigned peer_payload_window(size_t bytes, unsigned workers);

/* How many tasks of `bytes` to run (bounded by bytes moved and a count). */
uint64_t peer_payload_tasks(size_t bytes, int quick);

/* CPU work: `iters` rounds of a xorshift; returns the state (use it). */
uint64_t peer_burn(uint64_t iters, uint64_t seed);

/* Iterations of peer_burn that take about `ns` on this CPU (cached). */
uint64_t peer_burn_calibrate(uint64_t ns);

/*
 * The serial reference of cpu_scaling: n calls of peer_burn(iters, i) in a
 * loop, timed 3 times; returns the median in seconds.
 */
double peer_burn_serial_s(uint64_t iters, uint64_t n);

/*
 * The seed program's count(frame, thresh): `for i in range(iters): i = i + 1`
 * then return i * frame * thresh. The loop is kept (not folded) by an empty
 * asm, so the work is really done, one increment per iteration.
 */
uint64_t peer_seed_count(uint64_t iters, uint64_t frame, uint64_t thresh);
uint64_t peer_seed_iters(int quick);		/* 10M, or 1M with --quick */
#define PEER_SEED_FRAMES 10
#define PEER_SEED_THRESH 3

/*
 * Skewed task durations: lognormal (sigma 1) around base_ns, clamped to
 * [base/10, base*10] (a 100x spread), from a fixed seed. Returns the total.
 */
uint64_t peer_skew_durations(uint64_t *out, size_t n, uint64_t base_ns);
#define PEER_SKEW_BASE_NS 100000ull
size_t peer_skew_tasks(int quick);

/* Busy-wait for `ns` of wall time (the skewed task body). */
void peer_spin_for(uint64_t ns);

/* Die with a message on stderr. */
__attribute__((noreturn, format(printf, 1, 2))) void peer_die(const char *fmt, ...);

#endif
