/* SPDX-License-Identifier: MIT */
/*
 * Progress reporting (see progress.h).
 */
#include "rp_internal.h"
#include "progress.h"
#include "rp_clock.h"

int rp_pool_set_progress(struct rp_pool *p, rp_progress_fn cb, void *arg, uint64_t total,
			 uint64_t interval_ns)
{
	struct rp_progress *g;

	RP_POOL_CHECK(p);
	g = &p->prog;
	g->cb = cb;
	g->arg = arg;
	g->total = total;
	g->base = p->win.completed;
	g->base_failed = p->st.failed;
	g->interval = rp_ns_to_ticks(interval_ns ? interval_ns : 100000000ull);
	g->next = 0;
	return 0;
}

void rp__progress_slow(struct rp_pool *p, bool final)
{
	struct rp_progress *g = &p->prog;
	uint64_t done = p->win.completed - g->base, now = rp_ticks();

	if (!final && now < g->next && !(g->total && done == g->total))
		return;
	if (g->total && done > g->total)
		return;	/* already reported as finished */
	g->next = now + g->interval;
	p->in_cb++;
	g->cb(g->arg, done, g->total, p->st.failed - g->base_failed);
	p->in_cb--;
	if (g->total && done == g->total) {
		g->base_failed = p->st.failed;
		g->total = 0;
		g->cb = NULL;
	}
}
