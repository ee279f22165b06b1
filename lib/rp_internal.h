/* SPDX-License-Identifier: MIT */
/*
 * The parent's pool: one struct made of the parts each module owns (see
 * lib/README.md for the modules and who may call whom). Only lib/ includes
 * this. Everything the parent decides from lives here, in its own memory;
 * the region (proto.h, layout.h) holds what workers need, and what workers
 * write there is read once and validated.
 */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ringpool.h"
#include "rp_compiler.h"
#include "rp_evc.h"
#include "rp_region.h"
#include "rp_ring.h"
#include "chunk.h"
#include "layout.h"
#include "proto.h"
#include "procs.h"
#include "stats.h"
#include "window.h"

/* An owner with work queued to submit (the futures' queue, a job). */
struct rp_feeder {
	/* Submit while there is room. Returns true if it made progress. */
	bool (*feed)(struct rp_pool *p, struct rp_feeder *f);
	/* Stop: what is not yet submitted completes with status. */
	void (*cancel)(struct rp_pool *p, struct rp_feeder *f, int status);
	struct rp_feeder *next;
	bool linked;
};

struct rp_future;
struct rp_job;

/* ---- fault.c: what a worker's death means for its tasks ---- */
struct rp_faults {
	uint64_t timeout_ticks;	/* cfg.task_timeout_ns in ticks, 0: none */
	uint64_t restarts, retried, timeouts;
	uint64_t window_start;	/* the restart-rate window */
	unsigned in_window;
	bool exhausted;		/* max_restarts reached: no more replacements */
};

/* ---- dispatch.c: choosing a worker, reserving, committing, publishing ---- */
struct rp_dispatch {
	int resv_worker;	/* worker of the open reservation, -1 if none */
	uint32_t resv_tag;
	uint64_t resv_len;
	unsigned cursor;	/* the worker used last (ties go to it) */
	uint64_t max_payload;	/* largest task input or result */
	uint64_t task_ewma_ns;	/* measured time per task, for RP_CHUNK_AUTO */
	rp_task_fn fn_cache;	/* last function looked up, and its index */
	uint32_t fn_cache_idx;
	/* Our copy of the task function table (the region's is for workers). */
	uint32_t nfns;
	rp_task_fn fns[RP_MAX_FNS];
};

/* ---- collect.c and stream.c: the caller's results ---- */
struct rp_collect {
	unsigned held;		/* results the caller holds (one rp_next* batch) */
	uint64_t batch;		/* id of the batch held, in each rp_result */
	unsigned cursor;	/* unordered: worker to look at first */
};

/* ---- owner.c: futures and jobs, seen through their ops (owner.h) ---- */
struct rp_owner_ops {
	/* The result of a record of this owner (slot s: s->index, s->count). */
	void (*deliver)(struct rp_pool *p, struct rp_owner *o, const struct rp_slot *s,
			const struct rp_result *res);
	/* The pool is going away: finish (RP_ECANCELED) and forget the pool. */
	void (*detach)(struct rp_owner *o);
};

/* Embedded first in struct rp_future and struct rp_job. */
struct rp_owner {
	const struct rp_owner_ops *ops;
	struct rp_owner *prev, *next;	/* the pool's list of bound owners */
	bool bound;
};

struct rp_owners {
	struct rp_owner *all;		/* every future and job bound to the pool */
	struct rp_feeder *feeders;	/* those with work queued to submit */
};

/* ---- future.c: futures waiting for room, fed in order ---- */
struct rp_futq {
	struct rp_feeder feeder;
	struct rp_future *head, *tail;
};

/* ---- wait.c: the one place the parent sleeps ---- */
struct rp_waiter {
	uint64_t spin_ns;	/* the spin budget (5 us at most when oversubscribed) */
	uint64_t spin_ticks;
	bool light_notify;	/* workers ring the doorbell with light notifies */
	uint64_t wakes_seen;	/* st.futex_wakes when the last wait ended */
	uint64_t last_liveness_ns;
};

/* ---- progress.c ---- */
struct rp_progress {
	rp_progress_fn cb;
	void *arg;
	uint64_t total, base, base_failed, interval, next;
};

/* ---- inline.c: workers = 0 ---- */
struct rp_inline {
	bool on;		/* workers = 0 */
	bool ready;		/* the initializer ran: run the exit hook */
	void *scratch;		/* the open reservation's input */
	size_t scratch_cap;
	void *state;		/* what the initializer set */
};

struct rp_pool {
	struct rp_config cfg;
	unsigned gen;		/* rp__fork_gen when created: who owns the pool */
	pid_t owner;
	struct rp_window win;
	struct rp_procs procs;
	struct rp_faults faults;
	struct rp_dispatch disp;
	struct rp_collect coll;
	struct rp_owners own;
	struct rp_futq futq;
	struct rp_waiter wait;
	struct rp_progress prog;
	struct rp_inline inl;
	struct rp_pstats st;
	unsigned in_cb;		/* > 0 while a user callback runs */
	bool closed;
	bool destroying;
	bool terminated;
};

/*
 * Fork generation: incremented in every child of fork() (pthread_atfork),
 * so a pool created by this process image knows when it is touched from a
 * forked child or from a worker (-EPERM). Plain: it changes only in a
 * child, before the child has a second thread.
 */
extern unsigned rp__fork_gen;

static inline bool rp__foreign(const struct rp_pool *p)
{
	return p->gen != rp__fork_gen;
}

/* Entry check of every public call on a pool. */
#define RP_POOL_CHECK(p)                                                       \
	do {                                                                   \
		if (rp_unlikely(!(p)))                                         \
			return -EINVAL;                                        \
		if (rp_unlikely(rp__foreign(p)))                               \
			return -EPERM;                                         \
	} while (0)

/* Hand slot s's result to its owner. */
static inline void rp__owner_deliver(struct rp_pool *p, const struct rp_slot *s,
				     struct rp_owner *o, const struct rp_result *res)
{
	o->ops->deliver(p, o, s, res);
}

/* The pool can still run work: not terminated or being destroyed. */
static inline bool rp__pool_running(const struct rp_pool *p)
{
	return !p->terminated && !p->destroying;
}

#endif
