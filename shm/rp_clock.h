/* SPDX-License-Identifier: MIT */
/*
 * Cheap time stamps. rp_ticks() reads the CPU's invariant counter (TSC on
 * x86-64, CNTVCT on arm64) where there is one, and CLOCK_MONOTONIC otherwise;
 * rp_ticks_to_ns() converts using a ratio calibrated once per process against
 * CLOCK_MONOTONIC. Used for spin budgets and per-task durations, where a
 * clock_gettime() per task would cost more than the task.
 */
#ifndef RP_CLOCK_H
#define RP_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t rp_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rp_ticks(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
	uint64_t v;
	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	return rp_clock_ns();
#endif
}

/*
 * Ticks per microsecond times 2^16 (fixed point). The first call calibrates
 * for about 2 ms; later calls return the cached value. Thread-safe.
 */
uint64_t rp__ticks_per_us_q16(void);

static inline uint64_t rp_ns_to_ticks(uint64_t ns)
{
	return (ns * rp__ticks_per_us_q16()) / (1000ull << 16);
}

static inline uint64_t rp_ticks_to_ns(uint64_t ticks)
{
	uint64_t q = rp__ticks_per_us_q16();

	/* Split to avoid overflow of ticks * 1000 << 16 for long spans. */
	return (ticks / q) * (1000ull << 16) + ((ticks % q) * (1000ull << 16)) / q;
}

#endif
