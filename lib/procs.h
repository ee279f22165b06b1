/* SPDX-License-Identifier: MIT */
/*
 * Worker processes: the region they share with us, starting them (fork, or
 * exec through spawn.c), killing and reaping them, and the one liveness
 * registry: each worker's pidfd is watched once, by the reactor (io_uring,
 * or its futex + poll fallback); without pidfds, waitid polls stand in.
 * What a death means for the tasks is fault.c's business.
 */
#ifndef RP_PROCS_H
#define RP_PROCS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "layout.h"
#include "proto.h"
#include "rp_region.h"
#include "rp_ring.h"
#include "stats.h"

struct rp_pool;
struct rp_reactor;
struct rp_wctl;
struct rp_shared;
struct rp_evc;
struct rp_slot;

/* The parent's view of one worker. */
struct rp_worker {
	struct rp_ring_prod tasks;
	struct rp_ring_cons results;
	struct rp_wctl *ctl;	/* in the region: worker-written, validated */
	pid_t pid;
	int pidfd;		/* -1 without pidfds */
	bool dead;		/* handled as gone (its tasks settled) */
	bool reaped;
	int term_signal;
	int term_exit;
	uint32_t outstanding;	/* dispatched and not yet collected */
	uint32_t limit;		/* adaptive cap on outstanding (dispatch.c) */
	uint32_t unpub;		/* committed and unpublished task records */
	uint64_t ewma_ns;	/* smoothed record duration (dispatch.c) */
	uint64_t start_ns;	/* when it was started */
	uint64_t kill_seq;	/* cur_seq when we killed it */
	int kill_reason;	/* RP_KILL_* */
	uint64_t dispatched;	/* records committed to it, ever */
	bool raw_head;		/* its ring head is a result waiting for rp_next */
	bool holding;		/* the caller holds results read from its ring: */
	uint64_t hold_from;	/* the ring space from here is not given back */
	uint32_t held;		/* how many (counted in outstanding) */
	bool hvalid;		/* hview/hslot hold the validated ring head */
	struct rp_rec_view hview;
	struct rp_slot *hslot;
	struct rp_wstats st;
};

/* Why the parent killed a worker. */
enum {
	RP_KILL_NONE = 0,
	RP_KILL_TIMEOUT,
};

struct rp_procs {
	struct rp_worker *w;
	unsigned nw;
	unsigned alive;
	struct rp_region region;
	struct rp_layout lay;	/* where everything is in the region (ours) */
	struct rp_shared *sh;	/* the header we write (workers: read-only) */
	struct rp_evc *bell;	/* the doorbell we sleep on */
	struct rp_reactor *reactor;	/* the liveness registry and our wait */
	int efd;		/* completion eventfd (workers write it when armed) */
	int epfd;		/* rp_pool_fd: efd + the reactor's fd */
	bool spawn;		/* RP_CFG_SPAWN */
	bool started;		/* rp_pool_create has returned */
	bool keep_fds;		/* RP_CFG_KEEP_FDS */
	bool no_pidfd;		/* RINGPOOL_NO_PIDFD=1 (tests): waitid instead */
	unsigned unresolvable;	/* functions an exec'd worker could not find */
	uint64_t spawned;	/* workers started by exec */
	uint64_t token;		/* the region's token (RINGPOOL_WORKER) */
	/* Our copy of the module table (the region's is for workers). */
	uint32_t nmodules;
	char (*modules)[RP_MOD_PATH];
};

/* The process: start worker i (control block and rings laid out). Returns
 * 0, or -errno from fork, exec or pidfd_open. */
int rp__proc_start(struct rp_pool *p, unsigned i);

/* Reap worker w if it has exited (block: wait for it); records how.
 * Returns true once reaped. */
bool rp__proc_reap(struct rp_worker *w, bool block);

/* SIGKILL worker w (safe until it is reaped: its pid cannot be reused). */
void rp__proc_kill(struct rp_worker *w);

/* Stop every worker: ask, wait up to 1 s, then kill; reap all, close
 * their pidfds. */
void rp__procs_stop(struct rp_pool *p);

/* Stop watching worker i and close its pidfd (it is dead and reaped). */
void rp__proc_forget(struct rp_pool *p, unsigned i);

/*
 * Liveness, without waiting: the workers found dead since the last call,
 * reaped, into ids[] (at most cap). Returns how many.
 */
unsigned rp__procs_poll_dead(struct rp_pool *p, unsigned *ids, unsigned cap);

/* The completion fd for event loops: efd + the reactor's fd. Returns 0 or
 * -errno. */
int rp__procs_fd_setup(struct rp_pool *p);

#endif
