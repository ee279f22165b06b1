/* SPDX-License-Identifier: MIT */
/*
 * Faults (see fault.h): a worker's death, in stages; deadlines; protocol
 * violations. Everything here is O(window + ring) per death, never on the
 * hot path.
 */
#include "rp_internal.h"
#include "fault.h"
#include "rp_clock.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void rp__fail_slot(struct rp_pool *p, struct rp_slot *s, int status, int sig, int code)
{
	if (s->state == RP_SLOT_PENDING && !p->inl.on)
		p->procs.w[s->worker].outstanding--;
	rp__window_fail(&p->win, s, status, sig, code);
}

/* What is known about a death, read once from the dead worker. */
struct death {
	uint64_t running;	/* cur_seq: the record it ran, + 1; 0 if idle */
	uint64_t mark;		/* that record's rp_task_mark + 1 */
	bool timed_out;		/* we killed it for that record's deadline */
	bool respawn;		/* a replacement may start */
};

/*
 * Did worker w leave on purpose (max tasks, max RSS)? A recycled worker does
 * not count against the restart limit, so its claim is checked against what
 * we know: recycling is configured, and by task count only once it had that
 * many records.
 */
static bool recycled(const struct rp_pool *p, const struct rp_worker *w)
{
	/* acquire: pairs with the worker's release of RP_WS_RECYCLED. */
	if (atomic_load_explicit(&w->ctl->state, memory_order_acquire) != RP_WS_RECYCLED)
		return false;
	return p->cfg.max_rss_bytes ||
	       (p->cfg.max_tasks_per_worker && w->dispatched >= p->cfg.max_tasks_per_worker);
}

/* Restarts allowed? (A sliding window of cfg.max_restarts per window.) A
 * closed pool still replaces workers: it finishes what it accepted. */
static bool restart_allowed(struct rp_pool *p)
{
	struct rp_faults *f = &p->faults;
	uint64_t now = rp_clock_ns();

	if (f->exhausted || !rp__pool_running(p))
		return false;
	if (now - f->window_start > p->cfg.restart_window_ns) {
		f->window_start = now;
		f->in_window = 0;
	}
	if (f->in_window >= p->cfg.max_restarts) {
		f->exhausted = true;
		return false;
	}
	f->in_window++;
	return true;
}

static void death_read(struct rp_pool *p, unsigned i, struct death *d)
{
	struct rp_worker *w = &p->procs.w[i];

	/* relaxed: the worker is dead; nothing writes these any more. */
	d->running = atomic_load_explicit(&w->ctl->cur_seq, memory_order_relaxed);
	d->mark = d->running ? atomic_load_explicit(&w->ctl->cur_mark, memory_order_relaxed) : 0;
	d->timed_out = w->kill_reason == RP_KILL_TIMEOUT && w->kill_seq == d->running;
	w->kill_reason = RP_KILL_NONE;
	if (p->cfg.flags & RP_CFG_NO_RESPAWN)
		d->respawn = false;
	else if (recycled(p, w) && rp__pool_running(p))
		d->respawn = true;
	else
		d->respawn = restart_allowed(p);
}

/* Mark worker i gone: no longer alive, no longer watched. */
static void mark_dead(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];

	if (w->dead)
		return;
	w->dead = true;
	w->hvalid = false;
	p->procs.alive--;
	rp__proc_forget(p, i);
}

/* Results worker i published that we have not read yet (complete, valid
 * records; those the caller holds are read already), counted on a copy of
 * our consumer handle. */
static uint64_t published(struct rp_pool *p, unsigned i)
{
	uint64_t n;

	rp_ring_cons_end(&p->procs.w[i].results, &n);
	return n;
}

/* Worker i's outstanding slots in seq order (not those the caller holds:
 * in place and validated, rp_release settles them): calls fn for each. */
static void each_outstanding(struct rp_pool *p, unsigned i,
			     void (*fn)(struct rp_pool *, unsigned, struct rp_slot *, void *),
			     void *arg)
{
	for (uint64_t q = p->win.next_seq; q != p->win.submit_seq; q++) {
		struct rp_slot *sl = rp__slot(&p->win, q);

		if (sl->state != RP_SLOT_PENDING || sl->worker != i || sl->seq != q)
			continue;
		fn(p, i, sl, arg);
	}
}

struct fail_ctx {
	uint64_t ready;		/* results still to skip (published) */
	int status;
	const struct death *d;
};

static void fail_one(struct rp_pool *p, unsigned i, struct rp_slot *sl, void *arg)
{
	struct fail_ctx *c = arg;
	struct rp_worker *w = &p->procs.w[i];

	if (c->ready) {
		c->ready--;
		return;
	}
	rp__fail_slot(p, sl, c->status, w->term_signal, w->term_exit);
	if (c->d && sl->seq + 1 == c->d->running) {
		sl->mark = c->d->mark;
		if (c->d->timed_out)
			sl->status = RP_ETIMEDOUT;
	}
}

/* Fail every task worker i holds but its published results (all of them,
 * when its ring cannot be trusted). */
static void fail_held(struct rp_pool *p, unsigned i, int status, bool trust_ring,
		      const struct death *d)
{
	struct fail_ctx c = { .ready = trust_ring ? published(p, i) : 0, .status = status, .d = d };

	each_outstanding(p, i, fail_one, &c);
}

void rp__worker_lost(struct rp_pool *p, unsigned i, int status)
{
	struct rp_worker *w = &p->procs.w[i];

	if (w->dead)
		return;
	rp__proc_reap(w, true);
	mark_dead(p, i);
	fail_held(p, i, status, true, NULL);
}

void rp__worker_broke_protocol(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];

	rp__proc_kill(w);
	rp__proc_reap(w, true);
	mark_dead(p, i);
	/* Nothing in its result ring can be trusted any more: the records
	 * counted as results when it died (if it had) fail too. */
	fail_held(p, i, RP_EPROTO, false, NULL);
}

/* ---- salvage: the tasks a dead worker had not finished ---- */

/* A saved task record, to re-dispatch to the replacement worker. */
struct saved_rec {
	uint64_t seq;
	uint32_t tag;
	uint32_t len;
	unsigned char data[];
};

struct salvage {
	const struct death *d;
	uint64_t ready;		/* published results to skip */
	struct rp_ring_cons t;	/* the old task ring, read from its head */
	bool readable;
	struct saved_rec **saved;
	uint64_t n, cap;
};

/* Find record seq in the old task ring (records are in seq order; older
 * ones are skipped). Lengths are validated like any peer-written data. */
static bool find_task(struct salvage *sv, uint64_t seq, struct rp_rec_view *v)
{
	while (sv->readable && rp_ring_peek(&sv->t, v) == 0) {
		rp_ring_release(&sv->t, v);
		if (v->seq == seq)
			return true;
	}
	return false;
}

static int save(struct salvage *sv, const struct rp_rec_view *v)
{
	struct saved_rec *r;

	if (sv->n == sv->cap) {
		uint64_t cap = sv->cap ? sv->cap * 2 : 64;
		struct saved_rec **n = realloc(sv->saved, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sv->saved = n;
		sv->cap = cap;
	}
	r = malloc(sizeof(*r) + v->len);
	if (!r)
		return -ENOMEM;
	r->seq = v->seq;
	r->tag = v->tag;
	r->len = v->len;
	memcpy(r->data, v->data, v->len);
	sv->saved[sv->n++] = r;
	return 0;
}

/* One outstanding slot of the dead worker: published, the one it ran
 * (retried or failed), or one it had not started (saved). */
static void salvage_one(struct rp_pool *p, unsigned i, struct rp_slot *sl, void *arg)
{
	struct salvage *sv = arg;
	struct rp_worker *w = &p->procs.w[i];
	struct rp_rec_view v;
	int err;

	if (sv->ready) {
		sv->ready--;
		return;
	}
	if (sl->seq + 1 == sv->d->running) {
		if (sv->d->timed_out || sl->retries >= p->cfg.retries) {
			rp__fail_slot(p, sl, sv->d->timed_out ? RP_ETIMEDOUT : RP_ECRASHED,
				      w->term_signal, w->term_exit);
			sl->mark = sv->d->mark;
			return;
		}
		sl->retries++;
		p->faults.retried++;
	}
	if (!find_task(sv, sl->seq, &v)) {
		/* Unreadable ring, or the record is not where it must be. */
		rp__fail_slot(p, sl, RP_EPROTO, w->term_signal, w->term_exit);
		return;
	}
	err = save(sv, &v);
	if (err) {
		rp__fail_slot(p, sl, err, w->term_signal, w->term_exit);
		return;
	}
	sl->state = RP_SLOT_FREE;	/* re-dispatched below */
	w->outstanding--;
}

static void salvage(struct rp_pool *p, unsigned i, struct salvage *sv)
{
	struct rp_worker *w = &p->procs.w[i];
	void *tr = rp__task_ring(p->procs.sh, &p->procs.lay, i);

	/* Our unpublished records must be visible to the reader first. If
	 * the worker left the ring unreadable (head, magic), its tasks fail
	 * with RP_EPROTO instead of waiting for a replacement that never
	 * sees them. */
	rp_ring_publish(&w->tasks);
	sv->readable = rp_ring_cons_attach(&sv->t, tr, p->cfg.ring_bytes) == 0;
	sv->ready = published(p, i);
	each_outstanding(p, i, salvage_one, sv);
}

/* A fresh task ring and control block at index i, then the replacement. */
static int respawn(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];
	void *tr = rp__task_ring(p->procs.sh, &p->procs.lay, i);

	uint64_t n;

	rp__proc_forget(p, i);
	/* The result ring stays, with the results still to be read: its
	 * replacement producer starts past the last one committed (the dead
	 * worker published its tail lazily). */
	rp_ring_set_tail(rp__result_ring(p->procs.sh, &p->procs.lay, i),
			 rp_ring_cons_end(&w->results, &n));
	rp_ring_init(tr, p->cfg.ring_bytes);
	rp_ring_prod_attach(&w->tasks, tr, p->cfg.ring_bytes);
	w->unpub = 0;
	w->dispatched = 0;
	w->hvalid = false;
	rp_evc_init(&w->ctl->wake);
	/* relaxed: no worker runs at index i until it is started below. */
	atomic_store_explicit(&w->ctl->stop, 0, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->state, RP_WS_STARTING, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->cur_seq, 0, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->cur_mark, 0, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->tasks_done, 0, memory_order_relaxed);
	return rp__proc_start(p, i);
}

/* Hand the saved records to the replacement, in order. (They fitted in
 * the ring before and it is empty now: they fit.) */
static void redispatch(struct rp_pool *p, unsigned i, struct salvage *sv, bool started)
{
	struct rp_worker *w = &p->procs.w[i];

	for (uint64_t k = 0; k < sv->n; k++) {
		struct saved_rec *r = sv->saved[k];
		struct rp_slot *sl = rp__slot(&p->win, r->seq);
		int err;
		void *buf = started ? rp_ring_reserve(&w->tasks, r->len, &err) : NULL;

		sl->state = RP_SLOT_PENDING;
		w->outstanding++;
		if (buf) {
			memcpy(buf, r->data, r->len);
			rp_ring_commit(&w->tasks, r->len, r->tag, r->seq, 0, 0);
			w->dispatched++;
		} else {
			rp__fail_slot(p, sl, RP_ECRASHED, w->term_signal, w->term_exit);
		}
		free(r);
	}
	free(sv->saved);
	if (started && rp_ring_publish(&w->tasks))
		rp_evc_notify(&w->ctl->wake);
}

void rp__worker_died(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];
	struct salvage sv = { 0 };
	struct death d;
	bool started;

	if (w->dead)
		return;
	rp__proc_reap(w, true);
	death_read(p, i, &d);
	if (!d.respawn) {
		mark_dead(p, i);
		fail_held(p, i, RP_ECRASHED, true, &d);
		return;
	}
	p->faults.restarts++;
	sv.d = &d;
	salvage(p, i, &sv);
	started = respawn(p, i) == 0;
	redispatch(p, i, &sv, started);
	if (!started) {
		/* No replacement: what we saved failed above; the rest too. */
		mark_dead(p, i);
		fail_held(p, i, RP_ECRASHED, true, &d);
		return;
	}
	w->start_ns = rp_clock_ns();
}

int rp__check_workers(struct rp_pool *p)
{
	unsigned ids[RP_MAX_WORKERS], n;

	p->st.liveness_checks++;
	n = rp__procs_poll_dead(p, ids, RP_MAX_WORKERS);
	for (unsigned k = 0; k < n; k++)
		rp__worker_died(p, ids[k]);
	/* A task-ring head the worker scribbled is otherwise found only when
	 * that ring fills, which the queue limit may never let happen. */
	for (unsigned i = 0; i < p->procs.nw; i++)
		if (!p->procs.w[i].dead && rp_ring_prod_check(&p->procs.w[i].tasks))
			rp__worker_broke_protocol(p, i);
	return (int)n;
}

uint64_t rp__check_deadlines(struct rp_pool *p)
{
	uint64_t best = UINT64_MAX, now;

	if (!p->faults.timeout_ticks)
		return UINT64_MAX;
	now = rp_ticks();
	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		uint64_t seq, start, dl;

		if (w->dead || w->kill_reason)
			continue;
		/* acquire: pairs with the worker's release of cur_seq, which
		 * follows its store of cur_start. */
		seq = atomic_load_explicit(&w->ctl->cur_seq, memory_order_acquire);
		if (!seq)
			continue;
		/* relaxed: ordered by the acquire above; rp_task_mark moves it
		 * forward while seq stays (any value read is a valid start). */
		start = atomic_load_explicit(&w->ctl->cur_start, memory_order_relaxed);
		/* acquire fence: the re-read below comes after the start read. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&w->ctl->cur_seq, memory_order_relaxed) != seq)
			continue;	/* moved on meanwhile: look again next time */
		dl = start + p->faults.timeout_ticks;
		if (now >= dl) {
			w->kill_reason = RP_KILL_TIMEOUT;
			w->kill_seq = seq;
			p->faults.timeouts++;
			rp__proc_kill(w);
		} else if (dl - now < best) {
			best = dl - now;
		}
	}
	return best == UINT64_MAX ? best : rp_ticks_to_ns(best) + 1;
}
