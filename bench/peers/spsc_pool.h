/* SPDX-License-Identifier: MIT */
/*
 * An in-process lock-free thread pool built the way ringpool is built
 * (per-worker SPSC task and result rings, spin-then-futex eventcounts,
 * adaptive per-worker queue depth), with threads in one address space
 * instead of processes. The owner thread is the only one that may call
 * these functions; workers run `fn` on each task. See spsc_pool.c.
 */
#ifndef SPSC_POOL_H
#define SPSC_POOL_H

#include <stdint.h>

/* One task (owner -> worker) or its result (worker -> owner). */
struct spsc_item {
	uint64_t seq;
	uint64_t x;		/* task: input; result: fn's return value */
	union {
		const void *p;	/* task: input by pointer */
		uint64_t ticks;	/* result: the task's run time (peer_ticks) */
	};
	uint32_t len;		/* task: length at p */
	uint32_t op;		/* task: for fn to dispatch on */
};

/* Runs in a worker thread; its return value becomes the result's x. */
typedef uint64_t (*spsc_fn)(const struct spsc_item *task);

struct spsc_pool;

/* Start n worker threads (1..1024). Dies on failure (a benchmark). */
struct spsc_pool *spsc_pool_create(unsigned n, spsc_fn fn);

/* Stop and join the workers; tasks not collected are dropped. */
void spsc_pool_destroy(struct spsc_pool *p);

/* Nonzero if some worker can take a task now. */
int spsc_pool_room(const struct spsc_pool *p);

/*
 * Queue a task on the worker with the fewest outstanding (the caller checked
 * spsc_pool_room). Published in bursts; spsc_pool_flush publishes the rest.
 */
void spsc_pool_submit(struct spsc_pool *p, const struct spsc_item *task);

/* Publish every queued task and wake the workers that sleep. */
void spsc_pool_flush(struct spsc_pool *p);

/* Take one finished result from any worker: 0, or -EAGAIN if none is ready. */
int spsc_pool_collect(struct spsc_pool *p, struct spsc_item *out);

/* Flush, then wait (spin, then sleep) until some result is ready. */
void spsc_pool_wait(struct spsc_pool *p);

#endif
