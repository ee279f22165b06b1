/* SPDX-License-Identifier: MIT */
/*
 * The physical limits every ringpool figure is compared with, measured
 * between two processes in the same run: a cache-line ping-pong (both sides
 * spin) and a futex ping-pong (both sides sleep every time, optionally after
 * a pause, to match a pool whose worker fell asleep).
 */
#ifndef BENCH_PINGPONG_H
#define BENCH_PINGPONG_H

#include <stddef.h>
#include <stdint.h>

/*
 * Run `rounds` round trips and store each round trip's time in ns in rtt[].
 * Return 0, or -errno (fork, mmap) or -ETIMEDOUT if the peer stalled.
 */
int bench_cacheline_pingpong(uint64_t *rtt, size_t rounds);
/* gap_us: pause before each round, so the peer has been asleep that long.
 * pinned: the two processes on different CPUs (as a pool's parent and worker
 * are), so every wake crosses CPUs; unpinned, the scheduler may run both on
 * one CPU and a wake is a context switch. */
int bench_futex_pingpong(uint64_t *rtt, size_t rounds, unsigned gap_us, int pinned);

#endif
