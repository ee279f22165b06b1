/* SPDX-License-Identifier: MIT */
/*
 * Introspection: rp_pool_stats, rp_worker_stats, rp_pool_workers. Reads
 * every module's counters; changes nothing. No syscalls.
 */
#include "rp_internal.h"
#include "reactor.h"
#include "rp_clock.h"

#include <string.h>

int rp_pool_stats(const struct rp_pool *p, struct rp_stats *st)
{
	RP_POOL_CHECK(p);
	if (!st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->workers = p->procs.nw;
	st->workers_alive = p->procs.alive;
	st->submitted = p->win.submit_seq;
	st->completed = p->win.completed;
	st->in_flight = p->win.in_flight;
	st->max_payload = p->disp.max_payload;
	st->parent_futex_waits = p->st.futex_waits;
	st->parent_futex_wakes = p->st.futex_wakes;
	st->liveness_checks = p->st.liveness_checks;
	st->failed = p->st.failed;
	st->latency_p50_ns = rp_ticks_to_ns(rp__hist_pct(&p->st.hist, 0.5));
	st->latency_p99_ns = rp_ticks_to_ns(rp__hist_pct(&p->st.hist, 0.99));
	st->latency_p999_ns = rp_ticks_to_ns(rp__hist_pct(&p->st.hist, 0.999));
	st->latency_max_ns = rp_ticks_to_ns(p->st.hist.max);
	st->wait_mode = p->procs.reactor ? rp__reactor_mode(p->procs.reactor) : RP_WAIT_FUTEX;
	st->restarts = p->faults.restarts;
	st->retried = p->faults.retried;
	st->timeouts = p->faults.timeouts;
	st->restarts_exhausted = p->faults.exhausted;
	st->spawned = p->procs.spawned;
	st->start_method = p->inl.on ? RP_START_INLINE
			   : p->procs.spawn ? RP_START_SPAWN
					    : RP_START_FORK;
	for (unsigned i = 0; i < p->procs.nw; i++) {
		/* relaxed: statistics, no ordering with anything else. */
		st->worker_futex_waits += atomic_load_explicit(&p->procs.w[i].ctl->futex_waits,
							       memory_order_relaxed);
		st->worker_futex_wakes += atomic_load_explicit(&p->procs.w[i].ctl->futex_wakes,
							       memory_order_relaxed);
	}
	return 0;
}

int rp_worker_stats(const struct rp_pool *p, unsigned i, struct rp_worker_stats *st)
{
	const struct rp_worker *w;
	uint64_t busy, now;

	RP_POOL_CHECK(p);
	if (!st || i >= p->procs.nw)
		return -EINVAL;
	w = &p->procs.w[i];
	busy = rp_ticks_to_ns(w->st.busy_ticks);
	now = rp_clock_ns();
	memset(st, 0, sizeof(*st));
	st->tasks = w->st.tasks;
	st->failed = w->st.failed;
	st->busy_ns = busy;
	st->idle_ns = now - w->start_ns > busy ? now - w->start_ns - busy : 0;
	st->wait_ns = rp_ticks_to_ns(w->st.wait_ticks);
	st->pid = w->dead ? 0 : w->pid;
	st->alive = !w->dead;
	return 0;
}

unsigned rp_pool_workers(const struct rp_pool *p)
{
	return p && !rp__foreign(p) ? p->procs.nw : 0;
}
