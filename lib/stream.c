/* SPDX-License-Identifier: MIT */
/*
 * The caller's result stream: rp_next, rp_next_burst, rp_release,
 * rp_release_burst. In submit order the next result is the head of one
 * known ring (or a slot the pool failed, or an inline result); as they
 * finish, any ring head that is the caller's. Results are handed out in
 * place: taking one moves our read position past it and marks its slot
 * HELD, but its ring space goes back to the worker only when the caller
 * releases the whole batch (the worker's hold_from). So owned results behind
 * a held one still flow, and a burst costs one release.
 */
#include "owner.h"
#include "collect.h"
#include "dispatch.h"
#include "fault.h"
#include "progress.h"
#include "wait.h"

#include <stdlib.h>

/* res->priv_: [0] the batch id + 1, [1] the worker + 1 (0: no ring space). */

static inline void hold(struct rp_pool *p, struct rp_slot *s, struct rp_result *res, int i)
{
	s->state = RP_SLOT_HELD;
	res->user_data = s->index;
	res->priv_[0] = p->coll.batch + 1;
	res->priv_[1] = (uint64_t)(i + 1);
	p->coll.held++;
}

/* Hand out slot s (failed or inline) through rp_next. */
static void give_slot(struct rp_pool *p, struct rp_slot *s, struct rp_result *res)
{
	if (s->state == RP_SLOT_INLINE) {
		res->data = s->ibuf ? s->ibuf : "";
		res->len = s->ilen;
		res->seq = s->seq;
		res->status = s->status;
		res->flags = s->rflags;
		res->worker = 0;
		res->term_signal = 0;
		res->term_exit = -1;
		res->mark = 0;
	} else {
		rp__failed_to_result(s, res);
		rp__window_unfail(&p->win, s);
		rp__account(p, s, -1, 0, s->status);
	}
	hold(p, s, res, -1);
}

/* Take the caller's record at the head of worker i's ring, if it is there
 * (and is seq `want`, unless want is UINT64_MAX). Returns 0, -EAGAIN, or
 * -EPROTO (the worker lied about the order: it has been handled). */
static inline int take(struct rp_pool *p, unsigned i, struct rp_result *res, uint64_t want)
{
	struct rp_worker *w = &p->procs.w[i];
	struct rp_rec_view v;
	struct rp_slot *s;
	bool bad = false;

	if (p->win.in_flight != p->win.raw_out) {
		rp__pump(p);	/* owned records ahead of ours go first */
		if (!w->raw_head)
			return -EAGAIN;
	}
	s = rp__head(p, i, &v, &bad);
	if (!s || s->owner)
		return -EAGAIN;
	if (rp_unlikely(want != UINT64_MAX && v.seq != want)) {
		rp__worker_broke_protocol(p, i);
		return -EPROTO;
	}
	rp__view_to_result(&v, i, res);
	rp__account(p, s, (int)i, v.aux, v.status);
	if (!w->holding) {
		w->holding = true;
		w->hold_from = w->results.head;
	}
	rp_ring_release(&w->results, &v);	/* read; its space is still ours */
	w->hvalid = false;
	w->raw_head = false;
	w->held++;
	hold(p, s, res, (int)i);
	return 0;
}

/*
 * The burst's fast path: in submit order, with nothing owned in flight,
 * take consecutive results straight off the ring heads (the same checks as
 * rp__head: the record's seq, its slot's state and worker). Stops at the
 * first thing the general path must handle (a failed or inline slot, an
 * empty ring, a record that does not match). Returns how many it took.
 */
static unsigned take_run(struct rp_pool *p, struct rp_result *res, unsigned n)
{
	struct rp_window *win = &p->win;
	unsigned got = 0;

	while (got < n && win->raw_low != win->submit_seq) {
		uint64_t q = win->raw_low;
		struct rp_slot *s = rp__slot(win, q);
		struct rp_worker *w;
		struct rp_rec_view v;

		if (s->seq != q || s->state != RP_SLOT_PENDING || s->owner)
			break;
		w = &p->procs.w[s->worker];
		if (w->hvalid || rp_ring_peek(&w->results, &v) || v.seq != q)
			break;
		rp__view_to_result(&v, s->worker, &res[got]);
		rp__account(p, s, s->worker, v.aux, v.status);
		if (!w->holding) {
			w->holding = true;
			w->hold_from = w->results.head;
		}
		rp_ring_release(&w->results, &v);
		w->held++;
		hold(p, s, &res[got], s->worker);
		win->raw_low = q + 1;
		got++;
		/* As rp__head does: space goes back at least every eighth. */
		if (rp_unlikely(w->results.head - w->results.head_pub >= w->results.cap / 8))
			rp__publish_results(p, w);
	}
	return got;
}

static int next_ordered(struct rp_pool *p, struct rp_result *res)
{
	for (;;) {
		struct rp_slot *s = rp__window_raw_head(&p->win);
		int r;

		if (!s)
			return -EAGAIN;
		if (s->state != RP_SLOT_PENDING) {
			give_slot(p, s, res);
			return 0;
		}
		r = take(p, s->worker, res, s->seq);
		if (r != -EPROTO)
			return r;
	}
}

static int next_any(struct rp_pool *p, struct rp_result *res)
{
	struct rp_collect *c = &p->coll;
	unsigned nw = p->procs.nw;

	for (;;) {
		bool retry = false;

		if (p->win.nfailed > p->win.nfailed_owned) {
			struct rp_slot *s = rp__window_raw_failed(&p->win);

			if (s) {
				give_slot(p, s, res);
				return 0;
			}
		}
		for (unsigned k = 0; k < nw; k++) {
			unsigned i = c->cursor + k < nw ? c->cursor + k : c->cursor + k - nw;

			if (p->procs.w[i].outstanding <= p->procs.w[i].held)
				continue;
			if (take(p, i, res, UINT64_MAX) == 0) {
				c->cursor = i;
				return 0;
			}
			if (p->win.nfailed > p->win.nfailed_owned) {
				retry = true;	/* a failure appeared: hand it out */
				break;
			}
		}
		if (!retry)
			return -EAGAIN;
	}
}

static bool any_ready(struct rp_pool *p, void *arg)
{
	(void)arg;
	return rp__raw_ready(p, true) || rp__owned_ready(p);
}

static bool ordered_ready(struct rp_pool *p, void *arg)
{
	(void)arg;
	return rp__raw_ready(p, false) || rp__owned_ready(p);
}

static inline int next_one(struct rp_pool *p, struct rp_result *res, bool unordered)
{
	return unordered && !p->inl.on ? next_any(p, res) : next_ordered(p, res);
}

/* Up to n results, waiting (unless RP_NONBLOCK) only for the first. */
static int next_n(struct rp_pool *p, struct rp_result *res, unsigned n, unsigned flags)
{
	bool unordered;
	unsigned got = 0;

	if (p->in_cb)
		return -EDEADLK;
	if (p->coll.held)
		return -EBUSY;
	unordered = (flags & RP_UNORDERED) ||
		    ((p->cfg.flags & RP_CFG_UNORDERED) && !(flags & RP_ORDERED));
	p->coll.batch++;
	for (;;) {
		rp__pump(p);
		if (!unordered && p->win.in_flight == p->win.raw_out)
			got += take_run(p, res + got, n - got);
		while (got < n && p->win.raw_out > p->coll.held && next_one(p, &res[got], unordered) == 0)
			got++;
		if (got)
			return (int)got;
		if (p->win.raw_out == 0)
			return -ENODATA;
		if (flags & RP_NONBLOCK) {
			rp__flush_all(p);
			return -EAGAIN;
		}
		rp__wait(p, unordered ? any_ready : ordered_ready, NULL, 0);
	}
}

int rp_next(struct rp_pool *p, struct rp_result *res, unsigned flags)
{
	int r;

	RP_POOL_CHECK(p);
	if (!res)
		return -EINVAL;
	r = next_n(p, res, 1, flags);
	return r < 0 ? r : 0;
}

int rp_next_burst(struct rp_pool *p, struct rp_result *res, unsigned n, unsigned flags)
{
	RP_POOL_CHECK(p);
	if (!res || !n)
		return -EINVAL;
	return next_n(p, res, n, flags);
}

/* The whole batch is back: every worker gets its ring space at the next
 * publish, or now when a quarter of its ring waits for it (a worker that
 * filled its ring while we held a batch must not wait for our next wait). */
static void unhold_all(struct rp_pool *p)
{
	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];

		w->holding = false;
		if (w->results.head - w->results.head_pub >= w->results.cap / 4)
			rp__publish_results(p, w);
	}
}

static void release_one(struct rp_pool *p, struct rp_result *res)
{
	struct rp_slot *s;
	unsigned i;

	if (!res || res->priv_[0] != p->coll.batch + 1 || !p->coll.held)
		return;	/* not of the batch held: released already, or foreign */
	s = rp__slot(&p->win, res->seq);
	if (s->seq != res->seq || s->state != RP_SLOT_HELD)
		return;
	res->priv_[0] = 0;
	i = (unsigned)res->priv_[1];
	if (i && i <= p->procs.nw) {
		p->procs.w[i - 1].outstanding--;
		p->procs.w[i - 1].held--;
	}
	if (rp_unlikely(s->ibuf)) {	/* inline results */
		free(s->ibuf);
		s->ibuf = NULL;
	}
	p->win.raw_out--;
	rp__window_free_slot(&p->win, s);
	if (!--p->coll.held)
		unhold_all(p);
}

void rp_release(struct rp_pool *p, struct rp_result *res)
{
	if (!p || rp__foreign(p))
		return;
	release_one(p, res);
	rp__progress(p, false);
}

void rp_release_burst(struct rp_pool *p, struct rp_result *res, unsigned n)
{
	if (!p || !res || rp__foreign(p))
		return;
	for (unsigned k = 0; k < n; k++)
		release_one(p, &res[k]);
	rp__progress(p, false);
}
