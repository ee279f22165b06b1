/* SPDX-License-Identifier: MIT */
/*
 * Collecting results at the ring heads (see collect.h).
 */
#include "rp_internal.h"
#include "collect.h"
#include "dispatch.h"
#include "fault.h"
#include "progress.h"
#include "rp_clock.h"

/* A record whose run time the worker could not report: take it as long. */
#define LONG_TASK_PEEK_NS 1000000000ull

struct rp_slot *rp__head_slow(struct rp_pool *p, unsigned i, struct rp_rec_view *v, bool *bad)
{
	struct rp_worker *w = &p->procs.w[i];
	struct rp_slot *s;
	int r;
	/* Our consumed space goes back at least every eighth of the ring (a
	 * worker that sees its ring full reloads our index on every result,
	 * twice its cost per task, and then sleeps), and once we have caught
	 * up with the worker. */
	if (w->results.head - w->results.head_pub >= w->results.cap / 8)
		rp__publish_results(p, w);
	r = rp_ring_peek(&w->results, v);
	if (r == -EAGAIN) {
		rp__publish_results(p, w);
		return NULL;
	}
	s = rp__slot(&p->win, r ? 0 : v->seq);
	if (rp_unlikely(r < 0 || s->state != RP_SLOT_PENDING || s->seq != v->seq ||
			s->worker != i)) {
		rp__worker_broke_protocol(p, i);
		*bad = true;
		return NULL;
	}
	/* Keep the validated view: the head is looked at again before it is
	 * taken (ownership check, then rp_next). */
	w->hview = *v;
	w->hslot = s;
	w->hvalid = true;
	return s;
}


void rp__head_consume(struct rp_pool *p, unsigned i, struct rp_slot *s,
		      const struct rp_rec_view *v)
{
	struct rp_worker *w = &p->procs.w[i];

	rp_ring_release(&w->results, v);
	w->hvalid = false;
	w->outstanding--;
	rp__window_free_slot(&p->win, s);
}



void rp__failed_to_result(const struct rp_slot *s, struct rp_result *res)
{
	res->data = "";
	res->len = 0;
	res->seq = s->seq;
	res->status = s->status;
	res->flags = RP_RES_POOL;
	res->worker = s->worker;
	res->term_signal = s->term_signal;
	res->term_exit = s->term_exit;
	res->mark = s->mark;
	res->user_data = 0;
}

/* Worker w has a result in its ring (cached, or after a look). */
static inline bool has_result(const struct rp_worker *w)
{
	return !rp_ring_cons_empty(&w->results);
}

bool rp__head_is_raw(const struct rp_pool *p, unsigned i)
{
	return p->procs.w[i].raw_head;
}

bool rp__owned_ready(struct rp_pool *p)
{
	if (p->win.nfailed_owned)
		return true;
	if (p->win.in_flight == p->win.raw_out)
		return false;	/* nothing owned is in flight */
	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];

		if (w->outstanding && !rp__head_is_raw(p, i) && has_result(w))
			return true;
	}
	return false;
}

bool rp__raw_ready(struct rp_pool *p, bool unordered)
{
	struct rp_slot *s;

	if (!p->win.raw_out)
		return false;
	if (!unordered) {
		s = rp__window_raw_head(&p->win);
		if (!s)
			return false;
		if (s->state != RP_SLOT_PENDING)
			return true;	/* failed or inline: ready now */
		return has_result(&p->procs.w[s->worker]);
	}
	if (p->win.nfailed > p->win.nfailed_owned || p->inl.on)
		return true;
	for (unsigned i = 0; i < p->procs.nw; i++)
		if (p->procs.w[i].outstanding && has_result(&p->procs.w[i]))
			return true;
	return false;
}

bool rp__learn_heads(struct rp_pool *p)
{
	bool grew = false;

	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		struct rp_rec_view v;
		struct rp_slot *s;
		bool bad = false;
		uint32_t before = w->limit;

		if (w->ewma_ns || w->dead || w->outstanding <= w->held)
			continue;
		s = rp__head(p, i, &v, &bad);
		if (!s)
			continue;
		rp__dispatch_learn_slow(p, w, v.aux == UINT32_MAX ? rp_ns_to_ticks(LONG_TASK_PEEK_NS)
								 : v.aux,
					s->count);
		grew |= w->limit > before;
	}
	return grew;
}
