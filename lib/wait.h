/* SPDX-License-Identifier: MIT */
/*
 * The one place the parent waits: spin for the budget, then sleep on the
 * doorbell through the reactor (which also wakes on a worker's death and
 * at the nearest task deadline). Every sleep is bounded by liveness_ns;
 * deaths and deadlines found on the way are handed to fault.c, so no wait
 * can outlast a dead worker.
 */
#ifndef RP_WAIT_H
#define RP_WAIT_H

#include <stdbool.h>
#include <stdint.h>

struct rp_pool;

typedef bool (*rp__cond_fn)(struct rp_pool *p, void *arg);

/*
 * Publish pending work, then wait until cond(p, arg) holds or the clock
 * passes deadline_ns (0: none). Returns 0, or -ETIMEDOUT. With workers =
 * 0 it only evaluates cond (nothing runs behind the caller's back).
 */
int rp__wait(struct rp_pool *p, rp__cond_fn cond, void *arg, uint64_t deadline_ns);

#endif
