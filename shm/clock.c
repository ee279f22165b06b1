/* SPDX-License-Identifier: MIT */
/*
 * Calibration of rp_ticks() against CLOCK_MONOTONIC, done once per process.
 * A forked child inherits the cached ratio; an exec'd worker recalibrates.
 */
#include "rp_clock.h"

#include <stdatomic.h>

/* relaxed: a benign race. Two threads may both calibrate and store values that
 * differ in the last digits; either is good, and the value is a plain number
 * that carries no other data with it. */
static _Atomic uint64_t ticks_per_us_q16;

uint64_t rp__ticks_per_us_q16(void)
{
	/* relaxed: see the comment on ticks_per_us_q16 (a plain number). */
	uint64_t q = atomic_load_explicit(&ticks_per_us_q16, memory_order_relaxed);

	if (q)
		return q;
#if defined(__x86_64__) || defined(__aarch64__)
	uint64_t n0 = rp_clock_ns(), t0 = rp_ticks(), n1, t1;

	do {
		n1 = rp_clock_ns();
	} while (n1 - n0 < 2000000);
	t1 = rp_ticks();
	q = ((t1 - t0) << 16) / ((n1 - n0) / 1000);
#else
	q = 1000ull << 16; /* rp_ticks() is already in ns */
#endif
	if (!q)
		q = 1;
	/* relaxed: as above; a racing calibration stores an equally good value. */
	atomic_store_explicit(&ticks_per_us_q16, q, memory_order_relaxed);
	return q;
}
