/* SPDX-License-Identifier: MIT */
/*
 * Owners and the pump (see owner.h). The pump takes every ring head that
 * belongs to an owner, hands it over and frees the ring space at once; a
 * head that belongs to the caller stays in place until rp_next takes it.
 */
#include "owner.h"
#include "collect.h"
#include "dispatch.h"
#include "progress.h"
#include "rp_clock.h"
#include "wait.h"

void rp__owner_bind(struct rp_pool *p, struct rp_owner *o)
{
	o->prev = NULL;
	o->next = p->own.all;
	if (o->next)
		o->next->prev = o;
	p->own.all = o;
	o->bound = true;
}

void rp__owner_unbind(struct rp_pool *p, struct rp_owner *o)
{
	if (!o->bound)
		return;
	if (o->prev)
		o->prev->next = o->next;
	else
		p->own.all = o->next;
	if (o->next)
		o->next->prev = o->prev;
	o->prev = o->next = NULL;
	o->bound = false;
}

void rp__feeder_add(struct rp_pool *p, struct rp_feeder *f)
{
	struct rp_feeder **pp = &p->own.feeders;

	if (f->linked)
		return;
	while (*pp)	/* at the tail: first come, first fed */
		pp = &(*pp)->next;
	f->next = NULL;
	*pp = f;
	f->linked = true;
}

void rp__feeder_remove(struct rp_pool *p, struct rp_feeder *f)
{
	struct rp_feeder **pp;

	if (!f->linked)
		return;
	for (pp = &p->own.feeders; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->next = NULL;
	f->linked = false;
}

/* Deliver every owned record at the head of worker i's ring. */
static void pump_ring(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];

	while (w->outstanding > w->held) {
		struct rp_rec_view v;
		struct rp_result res;
		bool bad = false;
		struct rp_slot *s = rp__head(p, i, &v, &bad);

		w->raw_head = s && !s->owner;
		if (!s || !s->owner)
			return;
		rp__view_to_result(&v, i, &res);
		rp__account(p, s, (int)i, v.aux, v.status);
		rp__owner_deliver(p, s, s->owner, &res);
		rp__head_consume(p, i, s, &v);
	}
}

/* Deliver owned slots that the pool failed. O(window); only when some exist. */
static void pump_failed(struct rp_pool *p)
{
	for (uint64_t q = p->win.next_seq; q != p->win.submit_seq && p->win.nfailed_owned; q++) {
		struct rp_slot *s = rp__slot(&p->win, q);
		struct rp_result res;

		if (s->state != RP_SLOT_FAILED || s->seq != q || !s->owner)
			continue;
		rp__failed_to_result(s, &res);
		rp__account(p, s, -1, 0, s->status);
		rp__window_unfail(&p->win, s);
		rp__owner_deliver(p, s, s->owner, &res);
		rp__window_free_slot(&p->win, s);
	}
}

/* Let every feeder submit into the room there is. */
static bool feed(struct rp_pool *p)
{
	struct rp_feeder *f, *nx;
	bool any = false;

	for (f = p->own.feeders; f; f = nx) {
		nx = f->next;	/* f may remove itself */
		any |= f->feed(p, f);
	}
	return any;
}

/*
 * Deliver owned results, then feed queued work into the room that frees.
 * Loops while either makes progress.
 */
void rp__pump_slow(struct rp_pool *p)
{
	bool more;

	do {
		uint64_t before = p->win.completed;

		if (!p->inl.on)
			for (unsigned i = 0; i < p->procs.nw; i++)
				pump_ring(p, i);
		if (p->win.nfailed_owned)
			pump_failed(p);
		more = feed(p);
		more = more || p->win.completed != before;
		rp__progress(p, false);
	} while (more && p->own.feeders);
}

bool rp__feed_ready(struct rp_pool *p)
{
	return p->own.feeders && rp__can_submit(p, 64);
}

/*
 * Only results the caller has not collected (or holds) stand in the way of
 * owned work: every live worker with records outstanding has one at its
 * ring head, and nothing else can move (no failed or ready owned result, no
 * queued work to feed).
 */
static bool blocked_by_raw(struct rp_pool *p)
{
	bool any = false;

	if (rp__owned_ready(p) || p->own.feeders)
		return false;
	for (unsigned i = 0; i < p->procs.nw; i++) {
		if (p->procs.w[i].outstanding <= p->procs.w[i].held || p->procs.w[i].dead)
			continue;
		if (!rp__head_is_raw(p, i))
			return false;
		any = true;
	}
	return any;
}

struct owned_wait {
	bool (*done)(void *);
	void *arg;
};

static bool owned_cond(struct rp_pool *p, void *arg)
{
	const struct owned_wait *ow = arg;

	return ow->done(ow->arg) || rp__owned_ready(p) || rp__feed_ready(p);
}

int rp__wait_owned(struct rp_pool *p, bool (*done)(void *), void *arg, uint64_t timeout_ns)
{
	uint64_t deadline = timeout_ns ? rp_clock_ns() + timeout_ns : 0;
	struct owned_wait ow = { done, arg };

	if (p->in_cb)
		return -EDEADLK;
	for (;;) {
		rp__pump(p);
		if (done(arg))
			return 0;
		if (p->inl.on)
			return -EDEADLK; /* nothing left that could finish it */
		if (blocked_by_raw(p))
			return -EDEADLK;
		if (rp__wait(p, owned_cond, &ow, deadline) == -ETIMEDOUT) {
			rp__pump(p);
			return done(arg) ? 0 : -ETIMEDOUT;
		}
	}
}

void rp__owners_cancel(struct rp_pool *p, int status)
{
	while (p->own.feeders) {
		struct rp_feeder *f = p->own.feeders;

		rp__feeder_remove(p, f);
		f->cancel(p, f, status);
	}
}

void rp__owners_detach(struct rp_pool *p)
{
	/* Slots stop pointing at owners first: a detached owner may be freed. */
	for (uint64_t q = p->win.next_seq; q != p->win.submit_seq; q++)
		rp__slot(&p->win, q)->owner = NULL;
	while (p->own.feeders)
		rp__feeder_remove(p, p->own.feeders);
	while (p->own.all) {
		struct rp_owner *o = p->own.all;

		rp__owner_unbind(p, o);
		o->ops->detach(o);
	}
}
