/* SPDX-License-Identifier: MIT */
/*
 * The task context and the one record runner. A record (one task, or a
 * chunk of them) runs the same way in a worker and in the caller (workers =
 * 0); only where its result goes differs: the result ring (waiting for room
 * through the worker's hook), the heap (inline), or a fixed slot (a task
 * inside a chunk, or a host's sub-task). This is also where the task-side
 * public calls live: rp_task_result, rp_task_result_len, rp_task_run,
 * rp_task_mark.
 */
#ifndef RP_TASK_H
#define RP_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"
#include "rp_ring.h"

enum {
	RP_SPACE_RING = 0,	/* a worker's result ring */
	RP_SPACE_HEAP,		/* inline: malloc'd, owned by the caller after */
	RP_SPACE_FIXED,		/* a slot of fixed size (chunk task, sub-task) */
};

struct rp_task_priv;

/* A worker's way to wait for room in its result ring (worker.c). */
typedef void *(*rp__space_wait_fn)(struct rp_task_priv *tp, uint64_t cap, int *err);

/* Per-task context behind struct rp_task.priv_. */
struct rp_task_priv {
	uint8_t space;		/* RP_SPACE_* */
	bool reserved;
	int err;		/* a pool status from the result calls, or 0 */
	void *resv;		/* the reserved result space */
	uint64_t resv_cap;
	uint64_t len;		/* the result's length (<= resv_cap) */
	struct rp_ring_prod *results;	/* RING */
	rp__space_wait_fn wait;		/* RING: wait for room */
	unsigned char *fixed;		/* FIXED: the slot */
	uint64_t fixed_cap;
	struct rp_wctl *ctl;	/* the worker's control block (marks); NULL inline */
};

/* What running a record produced. */
struct rp_run {
	int status;
	unsigned flags;		/* RP_RES_POOL: the status is the pool's */
	void *data;		/* the result (RING: reserved in the ring) */
	uint64_t len;
	bool reserved;		/* a result was reserved (data valid) */
};

/* A chunk record: run each of its tasks into its fixed slot. Returns the
 * record's status (0, or a pool status). */
int rp__run_chunk(rp_task_fn fn, struct rp_task *t, const void *in, size_t len);

/*
 * Run fn on the record (in, len) as task t, whose priv_ is set up by the
 * caller: a chunk (chunk true) runs each of its tasks into its fixed slot.
 * A result call that failed (result too big, ring gone) turns the status
 * into that pool status, flagged, with an empty result. Inline: the worker
 * and the inline path share it on their hot paths.
 */
static inline void rp__run_record(rp_task_fn fn, struct rp_task *t, bool chunk, const void *in,
				  size_t len, struct rp_run *out)
{
	struct rp_task_priv *tp = (struct rp_task_priv *)t->priv_;
	int status;

	out->flags = 0;
	if (rp_unlikely(!fn)) {
		status = -ENOSYS;
		out->flags = RP_RES_POOL;
	} else if (rp_unlikely(chunk)) {
		status = rp__run_chunk(fn, t, in, len);
		if (status)
			out->flags = RP_RES_POOL;
	} else {
		status = fn(t, in, len);
	}
	if (rp_unlikely(tp->err)) {
		status = tp->err;
		out->flags = RP_RES_POOL;
	}
	out->status = status;
	out->reserved = tp->reserved;
	out->data = tp->resv;
	out->len = tp->reserved && !(status && out->flags) ? tp->len : 0;
}

#endif
