/* SPDX-License-Identifier: MIT */
/*
 * Dispatch (see dispatch.h): the policy, the function table, reserving,
 * committing and publishing. The fast path (room in the window and in the
 * chosen worker's ring) is a handful of loads and stores.
 */
#include "rp_internal.h"
#include "dispatch.h"
#include "fault.h"
#include "inline.h"
#include "rp_clock.h"
#include "fnaddr.h"

#include <stdlib.h>
#include <string.h>

#define LIMIT_TARGET_NS	200000u	/* queue about this much work per worker */
#define LONG_TASK_NS	1000000u	/* and none behind records this long */
#define AUTO_CHUNK_NS	20000u	/* RP_CHUNK_AUTO: this much work per chunk */


int rp__flush_all(struct rp_pool *p)
{
	int woken = 0;

	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];

		if (w->dead)
			continue;
		woken += rp__publish_tasks(p, w);
		woken += rp__publish_results(p, w);
	}
	return woken;
}


int rp__fn_index_slow(struct rp_pool *p, rp_task_fn fn, uint32_t *idx)
{
	struct rp_dispatch *d = &p->disp;
	uint32_t i, n = d->nfns;

	if (!fn)
		return -EINVAL;
	/* Our own copy: O(functions), once per change of function. */
	for (i = 0; i < n; i++)
		if (d->fns[i] == fn)
			break;
	if (i == n) {
		struct rp_fn_entry e;

		if (n == RP_MAX_FNS)
			return -EINVAL;
		/* An exec'd worker finds it by (module, offset); without that,
		 * only forked workers can run it. */
		if (rp__fn_resolve(p, (void *)fn, &e) < 0) {
			if (p->procs.spawn)
				return -ENOENT;
			p->procs.unresolvable++;
		}
		/* Plain stores: workers read the entry only after a task that
		 * names it, which is committed later with P3 (release). */
		d->fns[n] = fn;
		d->nfns = n + 1;
		p->procs.sh->fns[n] = e;
		p->procs.sh->nfns = n + 1;
	}
	d->fn_cache = fn;
	d->fn_cache_idx = i;
	*idx = i;
	return 0;
}


bool rp__can_submit(struct rp_pool *p, size_t len)
{
	if (rp__window_full(&p->win) || p->terminated)
		return false;
	if (p->inl.on)
		return true;
	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		struct rp_ring_prod *t = &w->tasks;

		if (rp__load(w) == UINT32_MAX)
			continue;
		/* acquire: pairs with the worker's C2 release of its head. */
		if (t->tail - atomic_load_explicit(&t->ring->head, memory_order_acquire) +
			    RP_REC_SIZE(len) * 2 <= t->cap)
			return true;
	}
	return false;
}


/* Rings full or a worker misbehaving: look at every worker once more. */
int rp__reserve_slow(struct rp_pool *p, uint32_t tag, size_t len, void **buf)
{
	int err = 0, i;

	for (;;) {
		if (p->procs.alive == 0)
			return -ECHILD;
		if (rp__window_full(&p->win))
			return -EAGAIN;
		i = rp__pick_worker(p);
		if (i < 0)
			return -EAGAIN;
		if (rp__try_reserve(p, i, tag, len, buf, &err))
			return 0;
		if (err == -EPROTO) {
			rp__worker_broke_protocol(p, (unsigned)i);
			continue;
		}
		/* This worker's ring is full: let it see what it has, and try
		 * the others. */
		rp__publish_tasks(p, &p->procs.w[i]);
		for (unsigned k = 0; k < p->procs.nw; k++) {
			struct rp_worker *o = &p->procs.w[k];

			if ((int)k == i || rp__load(o) == UINT32_MAX)
				continue;
			if (rp__try_reserve(p, (int)k, tag, len, buf, &err))
				return 0;
		}
		return -EAGAIN;
	}
}



void rp__abort(struct rp_pool *p)
{
	if (!p->inl.on)
		rp_ring_abort(&p->procs.w[p->disp.resv_worker].tasks);
	p->disp.resv_worker = -1;
}

void rp__dispatch_learn_slow(struct rp_pool *p, struct rp_worker *w, uint64_t run_ticks,
			     uint16_t count)
{
	uint64_t ns = rp_ticks_to_ns(run_ticks), lim, per, window = p->win.mask + 1;

	/* EWMA with weight 1/8 of the record duration (the first sample as
	 * it is): the limit. Records longer than LONG_TASK_NS get nothing
	 * queued behind them: refilling the worker when it finishes costs
	 * little next to the record, and a short task never waits behind a
	 * long one while another worker could run it. */
	w->ewma_ns = w->ewma_ns ? w->ewma_ns - (w->ewma_ns >> 3) + (ns >> 3) : ns;
	lim = w->ewma_ns > LONG_TASK_NS ? 1 : 2 + LIMIT_TARGET_NS / (w->ewma_ns + 1);
	if (p->cfg.max_queue && lim > p->cfg.max_queue)
		lim = p->cfg.max_queue;	/* the caller's cap */
	w->limit = (uint32_t)(lim > window ? window : lim);
	/* Per task, weight 1/4, every 32 tasks: RP_CHUNK_AUTO's estimate. */
	if ((w->st.tasks & 31) < count) {
		per = ns / (count ? count : 1);
		p->disp.task_ewma_ns = p->disp.task_ewma_ns
					       ? p->disp.task_ewma_ns - (p->disp.task_ewma_ns >> 2) +
							 (per >> 2)
					       : per;
	}
}

uint32_t rp__auto_chunk(const struct rp_pool *p)
{
	uint64_t ewma = p->disp.task_ewma_ns, k;

	if (!ewma || p->win.completed < 64)
		return 1;
	k = AUTO_CHUNK_NS / ewma + 1;
	return k > UINT32_MAX ? UINT32_MAX : (uint32_t)k;
}
