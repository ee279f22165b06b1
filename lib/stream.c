/* SPDX-License-Identifier: MIT */
/*
 * The caller's result stream: rp_next and rp_release. In submit order the
 * next result is the head of one known ring (or a slot the pool failed, or
 * an inline result); as they finish, any ring head that is the caller's.
 * Results are handed out in place and released back to their worker.
 */
#include "owner.h"
#include "collect.h"
#include "dispatch.h"
#include "fault.h"
#include "progress.h"
#include "wait.h"

#include <stdlib.h>

/* Hand out slot s (failed or inline) through rp_next. */
static int give_slot(struct rp_pool *p, struct rp_slot *s, struct rp_result *res)
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
	res->user_data = s->index;
	res->priv_[0] = 1;
	p->coll.held_worker = -2;
	p->coll.held_seq = s->seq;
	return 0;
}

/* Take the caller's record at the head of worker i's ring, if it is there
 * (and is seq `want`, unless want is UINT64_MAX). Returns 0, -EAGAIN, or
 * -EPROTO (the worker lied about the order: it has been handled). */
static int take(struct rp_pool *p, unsigned i, struct rp_result *res, uint64_t want)
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
	res->user_data = s->index;
	res->priv_[0] = 1;
	p->coll.held_worker = (int)i;
	p->coll.held_size = v.size;
	p->coll.held_seq = v.seq;
	return 0;
}

static int next_ordered(struct rp_pool *p, struct rp_result *res)
{
	for (;;) {
		struct rp_slot *s = rp__window_raw_head(&p->win);

		if (!s)
			return -EAGAIN;
		if (s->state != RP_SLOT_PENDING)
			return give_slot(p, s, res);
		if (take(p, s->worker, res, s->seq) != -EPROTO)
			return p->coll.held_worker == -1 ? -EAGAIN : 0;
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

			if (s)
				return give_slot(p, s, res);
		}
		for (unsigned k = 0; k < nw; k++) {
			unsigned i = c->cursor + k < nw ? c->cursor + k : c->cursor + k - nw;

			if (!p->procs.w[i].outstanding)
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

int rp_next(struct rp_pool *p, struct rp_result *res, unsigned flags)
{
	bool unordered;

	RP_POOL_CHECK(p);
	if (!res)
		return -EINVAL;
	if (p->in_cb)
		return -EDEADLK;
	if (p->coll.held_worker != -1)
		return -EBUSY;
	unordered = (flags & RP_UNORDERED) ||
		    ((p->cfg.flags & RP_CFG_UNORDERED) && !(flags & RP_ORDERED));
	for (;;) {
		rp__pump(p);
		if (p->win.raw_out == 0)
			return -ENODATA;
		if ((unordered && !p->inl.on ? next_any(p, res) : next_ordered(p, res)) == 0)
			return 0;
		if (flags & RP_NONBLOCK) {
			rp__flush_all(p);
			return -EAGAIN;
		}
		rp__wait(p, unordered ? any_ready : ordered_ready, NULL, 0);
	}
}

void rp_release(struct rp_pool *p, struct rp_result *res)
{
	struct rp_collect *c;
	struct rp_slot *s;

	if (!p || !res || rp__foreign(p) || !res->priv_[0] || p->coll.held_worker == -1 ||
	    res->seq != p->coll.held_seq)
		return;
	c = &p->coll;
	res->priv_[0] = 0;
	s = rp__slot(&p->win, c->held_seq);
	if (c->held_worker >= 0) {
		struct rp_worker *w = &p->procs.w[c->held_worker];

		w->results.head += c->held_size;
		w->hvalid = false;
		w->outstanding--;
		w->raw_head = false;
	} else if (s->state == RP_SLOT_INLINE) {
		free(s->ibuf);
		s->ibuf = NULL;
	}
	c->held_worker = -1;
	p->win.raw_out--;
	rp__window_free_slot(&p->win, s);
	rp__progress(p, false);
}
