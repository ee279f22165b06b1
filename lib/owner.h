/* SPDX-License-Identifier: MIT */
/*
 * Owners: futures and map jobs collect their own results. The pump, run
 * inside every ringpool call, hands each owned result to its owner the
 * moment it reaches its ring's head (or the pool failed it), frees the
 * ring space, and lets owners with queued work (feeders) submit into the
 * room that frees. Owners are objects with an ops table, so this module
 * knows nothing of futures or jobs; they register here.
 */
#ifndef RP_OWNER_H
#define RP_OWNER_H

#include <stdbool.h>
#include <stdint.h>

#include "rp_internal.h"

/* Bind o to p (it may hold slots and must be detached when p goes). */
void rp__owner_bind(struct rp_pool *p, struct rp_owner *o);
void rp__owner_unbind(struct rp_pool *p, struct rp_owner *o);

/* Feeders: added when they have queued work, removed when done. */
void rp__feeder_add(struct rp_pool *p, struct rp_feeder *f);
void rp__feeder_remove(struct rp_pool *p, struct rp_feeder *f);

void rp__pump_slow(struct rp_pool *p);

/* Queued owned work could be fed now: a wake condition for every wait
 * that relies on the pump (it feeds only when the wait returns). */
bool rp__feed_ready(struct rp_pool *p);

/* Make progress for owners; free when nothing owned is in flight or
 * queued (the caller's stream needs no pump), and a no-op in callbacks. */
static inline void rp__pump(struct rp_pool *p)
{
	if (p->in_cb || (p->win.in_flight == p->win.raw_out && !p->own.feeders))
		return;
	rp__pump_slow(p);
}

/*
 * Pump and wait until done(arg), at most timeout_ns (0: no limit). Returns
 * 0, -ETIMEDOUT, or -EDEADLK (from a callback, or only results the caller
 * has not collected or holds stand in the way).
 */
int rp__wait_owned(struct rp_pool *p, bool (*done)(void *), void *arg, uint64_t timeout_ns);

/* terminate: every feeder stops; destroy: every owner is detached. */
void rp__owners_cancel(struct rp_pool *p, int status);
void rp__owners_detach(struct rp_pool *p);

#endif
