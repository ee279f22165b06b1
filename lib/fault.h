/* SPDX-License-Identifier: MIT */
/*
 * Faults: what a worker's death, deadline or protocol violation means for
 * the tasks it held. One path from a death to recovery, in stages: keep
 * what it published, settle the task it was running (retry, RP_ECRASHED or
 * RP_ETIMEDOUT, with its mark), salvage the tasks it had not started,
 * start a replacement and hand them to it in order. Deaths are found by
 * procs.c's liveness registry; deadlines are checked here.
 */
#ifndef RP_FAULT_H
#define RP_FAULT_H

#include <stdbool.h>
#include <stdint.h>

struct rp_pool;
struct rp_slot;

/* The pool decided slot s's status (its worker died, terminate...). */
void rp__fail_slot(struct rp_pool *p, struct rp_slot *s, int status, int sig, int code);

/* Worker i has exited: settle its tasks and replace it if allowed. */
void rp__worker_died(struct rp_pool *p, unsigned i);

/* Worker i broke the ring protocol: kill it; nothing in its rings counts. */
void rp__worker_broke_protocol(struct rp_pool *p, unsigned i);

/* Worker i is gone for good (terminate): what it published stays, every
 * other task it held fails with status. */
void rp__worker_lost(struct rp_pool *p, unsigned i, int status);

/* Find dead workers and handle their deaths. Returns how many. */
int rp__check_workers(struct rp_pool *p);

/* Kill workers whose running task passed its deadline. Returns ns until
 * the nearest deadline (UINT64_MAX: none). */
uint64_t rp__check_deadlines(struct rp_pool *p);

#endif
