/* SPDX-License-Identifier: MIT */
/*
 * Internal layout of a pool: the shared region's header and per-worker control
 * blocks (what workers see), and the parent-only bookkeeping (window slots,
 * per-worker dispatch state). Only lib/ includes this.
 *
 * Region layout, all offsets from the region base, every block 64-aligned:
 *   struct rp_shared             header, doorbell, function table
 *   struct rp_wctl[workers]      per-worker control (wake evc, state, counters)
 *   per worker: task ring, result ring (rp_ring_memsize(ring_bytes) each)
 * Workers find everything from the region base and their index; nothing in
 * the region is a pointer, so an exec'd worker can map it at another address.
 */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include "ringpool.h"
#include "rp_compiler.h"
#include "rp_evc.h"
#include "rp_region.h"
#include "rp_ring.h"

#include <stdbool.h>
#include <sys/types.h>

#define RP_SHARED_MAGIC		0x52504f4cu	/* "RPOL" */
#define RP_SHARED_VERSION	1u

/* Worker states (rp_wctl.state), written by the worker. */
enum {
	RP_WS_STARTING = 0,
	RP_WS_READY = 1,
	RP_WS_FAILED = 2,	/* start-up failed; init_err says why */
	RP_WS_EXITING = 3,
};

/* Task record tag: low 8 bits are the function index. */
#define RP_TAG_FN_MASK	0xffu

/* Results are published at least every this many records. */
#define RP_PUBLISH_BATCH 32u

struct rp_fn_entry {
	uint64_t addr;		/* fork mode: the function's address (same image) */
};

struct rp_shared {
	uint32_t magic;
	uint32_t version;
	uint64_t size;
	uint32_t nworkers;
	uint32_t nfns;		/* parent-written; entries below nfns are valid */
	uint64_t ring_bytes;
	uint64_t wctl_off;
	uint64_t rings_off;
	uint64_t spin_ns;
	int32_t parent_pid;
	/* 1: the parent arms the doorbell with rp_evc_prepare_heavy(), so
	 * registered workers may ring it with rp_evc_notify_light(). */
	uint32_t light_notify;
	/* The parent sleeps here; every worker notifies it after publishing. */
	_Alignas(RP_CACHELINE) struct rp_evc doorbell;
	_Alignas(RP_CACHELINE) struct rp_fn_entry fns[RP_MAX_FNS];
};

struct rp_wctl {
	/* Parent -> worker: the worker sleeps on wake; stop asks it to exit. */
	_Alignas(RP_CACHELINE) struct rp_evc wake;
	_Atomic uint32_t stop;
	/* Worker -> parent. */
	_Alignas(RP_CACHELINE) _Atomic uint32_t state;
	_Atomic int32_t init_err;
	_Atomic uint64_t futex_waits;
	_Atomic uint64_t futex_wakes;
	_Atomic uint64_t tasks_done;
};

_Static_assert(offsetof(struct rp_wctl, state) % RP_CACHELINE == 0, "worker line apart");
_Static_assert(offsetof(struct rp_shared, doorbell) % RP_CACHELINE == 0, "doorbell line");
_Static_assert(sizeof(struct rp_wctl) % RP_CACHELINE == 0, "wctl array stays aligned");

static inline struct rp_wctl *rp__wctl(struct rp_shared *sh, unsigned i)
{
	return (struct rp_wctl *)((unsigned char *)sh + sh->wctl_off) + i;
}

static inline void *rp__task_ring(void *base, uint64_t rings_off, uint64_t ring_bytes, unsigned i)
{
	return (unsigned char *)base + rings_off + (uint64_t)i * 2 * rp_ring_memsize(ring_bytes);
}

static inline void *rp__result_ring(void *base, uint64_t rings_off, uint64_t ring_bytes, unsigned i)
{
	return (unsigned char *)rp__task_ring(base, rings_off, ring_bytes, i) +
	       rp_ring_memsize(ring_bytes);
}

/* ---- parent side ---- */

enum {
	RP_SLOT_FREE = 0,
	RP_SLOT_PENDING,	/* dispatched; the result will come from its worker's ring */
	RP_SLOT_FAILED,		/* the pool decided the status (worker died) */
};

struct rp_slot {
	uint64_t seq;
	uint16_t worker;
	uint8_t state;
	int32_t status;
	int32_t term_signal;
	int32_t term_exit;
};

struct rp_worker {
	struct rp_ring_prod tasks;
	struct rp_ring_cons results;
	struct rp_wctl *ctl;
	pid_t pid;
	int pidfd;
	bool dead;
	bool reaped;
	int term_signal;
	int term_exit;
	uint32_t outstanding;	/* dispatched and not yet collected */
	uint32_t limit;		/* adaptive cap on outstanding */
	uint32_t unpub;		/* committed and unpublished task records */
	uint64_t ewma_ns;	/* smoothed task duration reported by the worker */
};

struct rp_pool {
	struct rp_config cfg;
	struct rp_region region;
	struct rp_shared *sh;
	struct rp_worker *w;
	unsigned nw;
	unsigned alive;
	pid_t owner;

	struct rp_slot *slots;
	uint64_t mask;		/* max_in_flight - 1 */
	uint64_t submit_seq;	/* next sequence number to hand out */
	uint64_t next_seq;	/* ordered: next to deliver; unordered: lowest not freed */
	uint64_t in_flight;	/* submitted, not released */
	uint64_t completed;
	uint64_t nfailed;	/* slots in RP_SLOT_FAILED */
	uint64_t max_payload;
	uint64_t spin_ticks;
	bool light_notify;	/* see rp_shared.light_notify */
	unsigned rr;		/* unordered: worker to look at first */

	int resv_worker;	/* worker of the open reservation, -1 if none */
	uint32_t resv_tag;
	uint64_t resv_len;

	int held_worker;	/* worker whose result the caller holds; -1 none, -2 synthetic */
	uint64_t held_size;
	uint64_t held_seq;

	rp_task_fn fn_cache;	/* last function looked up, and its index */
	uint32_t fn_cache_idx;

	bool closed;
	bool destroying;
	uint64_t futex_waits;
	uint64_t futex_wakes;
	uint64_t wakes_seen;	/* futex_wakes when the last wait ended */
	uint64_t liveness_checks;
};

/* pool.c */
int rp__check_workers(struct rp_pool *p);
void rp__worker_died(struct rp_pool *p, unsigned i);
void rp__worker_broke_protocol(struct rp_pool *p, unsigned i);

/* worker.c: runs in the child, never returns. */
_Noreturn void rp__worker_main(void *base, unsigned idx);

/* Per-task context behind struct rp_task.priv_. */
struct rp_task_priv {
	struct rp_ring_prod *results;
	void *resv;
	uint64_t resv_cap;
	uint64_t len;
	int err;
	bool reserved;
	/* For waiting on result space. */
	struct rp_shared *sh;
	struct rp_wctl *ctl;
	struct rp_ring_cons *tasks;
};

/* worker.c: wait until the result ring has room (used by rp_task_result). */
void *rp__worker_result_space(struct rp_task_priv *tp, uint64_t cap, int *err);

#endif
