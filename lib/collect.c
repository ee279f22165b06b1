/* SPDX-License-Identifier: MIT */
/*
 * The parent's collect path: reading results in place from the heads of the
 * result rings, handing them to their owner, and keeping statistics.
 *
 * Every record has a slot (seq % max_in_flight) naming its worker and its
 * owner: the caller (rp_next), a future, or a map job. Each worker runs its
 * records in order, so each result ring is FIFO in dispatch order. The pump
 * takes every ring head that belongs to a future or job, copies or writes it
 * where its owner wants it, and frees the ring space at once; a head that
 * belongs to the caller stays in place until rp_next hands it out. So in
 * submit order, the caller's next result is always at the head of one known
 * ring: results wait in place, and the slot array is the reorder buffer.
 */
#include "rp_internal.h"
#include "rp_clock.h"
#include "reactor.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIMIT_TARGET_NS	200000u

/* ---- statistics ---- */

static void hist_add(struct rp_hist *h, uint64_t v)
{
	unsigned oct, sub;

	if (v < RP_HIST_SUB) {
		oct = 0;
		sub = (unsigned)v;
	} else {
		oct = 63u - (unsigned)__builtin_clzll(v);	/* >= 4 */
		sub = (unsigned)(v >> (oct - 4)) & (RP_HIST_SUB - 1);
		oct -= 3;
	}
	h->b[oct * RP_HIST_SUB + sub]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_pct(const struct rp_hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->n), seen = 0;
	unsigned i;

	if (!h->n)
		return 0;
	for (i = 0; i < 64 * RP_HIST_SUB; i++) {
		seen += h->b[i];
		if (seen > want) {
			unsigned oct = i / RP_HIST_SUB, sub = i % RP_HIST_SUB;

			uint64_t v;

			if (oct == 0)
				return sub;
			/* midpoint of the bucket, never above the largest sample */
			v = ((uint64_t)(RP_HIST_SUB + sub) << (oct - 1)) + ((1ull << (oct - 1)) >> 1);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

static void update_limit(struct rp_worker *w, uint32_t ticks, uint64_t window)
{
	uint64_t lim, ns = ticks == UINT32_MAX ? UINT64_MAX / 16 : rp_ticks_to_ns(ticks);

	/* EWMA with weight 1/8. */
	w->ewma_ns = w->ewma_ns - (w->ewma_ns >> 3) + (ns >> 3);
	lim = 2 + LIMIT_TARGET_NS / (w->ewma_ns + 1);
	w->limit = (uint32_t)(lim > window ? window : lim);
}

/*
 * Account for one collected record (ticks: its run time as the worker saw
 * it). Everything here stays in ticks (no divisions on the hot path); the
 * conversions to ns happen when statistics are read, and every 32 records
 * for the adaptive limits.
 */
void rp__account(struct rp_pool *p, struct rp_slot *s, struct rp_worker *w, uint32_t ticks,
		 int status)
{
	uint64_t lat = s->t_submit ? rp_ticks() - s->t_submit : 0;

	if (s->t_submit)
		hist_add(&p->hist, lat);
	if (status)
		p->failed++;
	if (w) {
		uint64_t run = ticks == UINT32_MAX ? lat : ticks;

		w->st_tasks += s->count;
		w->st_failed += status != 0;
		w->st_busy_ticks += run;
		/* ticks until read; sampled like the latency, so scaled up */
		if (s->t_submit && lat > run)
			w->st_wait_ns += (lat - run) * RP_LAT_SAMPLE;
		if ((w->st_tasks & 31) < s->count || w->limit <= 8)
			update_limit(w, ticks, p->mask + 1);
		if ((w->st_tasks & 31) < s->count) {
			uint64_t per = rp_ticks_to_ns(run) / s->count;

			p->task_ewma_ns = p->task_ewma_ns ? p->task_ewma_ns - (p->task_ewma_ns >> 2) +
								   (per >> 2)
							  : per;
		}
	}
}

/* ---- progress ---- */

int rp_pool_set_progress(struct rp_pool *p, rp_progress_fn cb, void *arg, uint64_t total,
			 uint64_t interval_ns)
{
	RP_POOL_CHECK(p);
	p->prog_cb = cb;
	p->prog_arg = arg;
	p->prog_total = total;
	p->prog_base = p->completed;
	p->prog_base_failed = p->failed;
	p->prog_interval = rp_ns_to_ticks(interval_ns ? interval_ns : 100000000ull);
	p->prog_next = 0;
	return 0;
}

void rp__progress(struct rp_pool *p, bool final)
{
	uint64_t done, now;

	if (rp_likely(!p->prog_cb))
		return;
	done = p->completed - p->prog_base;
	now = rp_ticks();
	if (!final && now < p->prog_next && !(p->prog_total && done == p->prog_total))
		return;
	if (p->prog_total && done > p->prog_total)
		return;	/* already reported as finished */
	p->prog_next = now + p->prog_interval;
	p->in_cb++;
	p->prog_cb(p->prog_arg, done, p->prog_total, p->failed - p->prog_base_failed);
	p->in_cb--;
	if (p->prog_total && done == p->prog_total)
		p->prog_base_failed = p->failed, p->prog_total = 0, p->prog_cb = NULL;
}

/* ---- slots ---- */

/* Free a collected slot and advance the window. */
void rp__free_slot(struct rp_pool *p, struct rp_slot *s)
{
	s->state = RP_SLOT_FREE;
	s->owner = NULL;
	p->in_flight--;
	p->completed += s->count;
	while (p->next_seq != p->submit_seq &&
	       p->slots[p->next_seq & p->mask].state == RP_SLOT_FREE)
		p->next_seq++;
}

/* The pool decided slot s's status (worker death, terminate, cancel). */
void rp__fail_slot(struct rp_pool *p, struct rp_slot *s, int status, int sig, int code)
{
	if (s->state == RP_SLOT_PENDING && !p->inline_mode)
		p->w[s->worker].outstanding--;
	s->state = RP_SLOT_FAILED;
	s->mark = 0;
	s->status = status;
	s->term_signal = sig;
	s->term_exit = code;
	p->nfailed++;
	p->nfailed_owned += s->kind != RP_OWN_RAW;
}

static void result_from_failed(const struct rp_slot *s, struct rp_result *res)
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
}

/* Hand a finished slot to its owner; the slot is freed afterwards. */
void rp__deliver_owned(struct rp_pool *p, struct rp_slot *s, const struct rp_result *res)
{
	if (s->kind == RP_OWN_FUTURE)
		rp__future_deliver(p, s->owner, res);
	else
		rp__job_deliver(p, s->owner, s, res);
}

/*
 * Read the head of worker i's result ring into *v and validate it against
 * its slot. Returns the slot, or NULL if the ring is empty, or sets *bad if
 * the worker broke the protocol (it is then killed and its tasks failed).
 */
static struct rp_slot *head(struct rp_pool *p, unsigned i, struct rp_rec_view *v, bool *bad)
{
	struct rp_worker *w = &p->w[i];
	struct rp_slot *s;
	int r;

	if (w->hvalid) {
		*v = w->hview;
		return w->hslot;
	}
	if (rp_ring_cons_cached_empty(&w->results) && rp_ring_cons_publish(&w->results) &&
	    rp_evc_notify(&w->ctl->wake))
		p->futex_wakes++;
	r = rp_ring_peek(&w->results, v);
	if (r == -EAGAIN)
		return NULL;
	s = &p->slots[(r ? 0 : v->seq) & p->mask];
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

static void view_to_result(const struct rp_rec_view *v, unsigned i, struct rp_result *res)
{
	res->data = v->data;
	res->len = v->len;
	res->seq = v->seq;
	res->status = v->status;
	res->flags = v->tag & RP_RES_POOL;
	res->worker = i;
	res->term_signal = 0;
	res->term_exit = -1;
	res->mark = 0;
}

/* Deliver every owned record at the head of worker i's ring. */
static void pump_ring(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->w[i];

	while (w->outstanding && p->held_worker != (int)i) {
		struct rp_rec_view v;
		struct rp_result res;
		bool bad = false;
		struct rp_slot *s = head(p, i, &v, &bad);

		if (!s) {
			w->raw_head = false;
			return;
		}
		if (s->kind == RP_OWN_RAW) {
			w->raw_head = true;
			return;
		}
		view_to_result(&v, i, &res);
		rp__account(p, s, w, v.aux, v.status);
		rp__deliver_owned(p, s, &res);
		rp_ring_release(&w->results, &v);
		w->hvalid = false;
		w->outstanding--;
		rp__free_slot(p, s);
	}
}

/* Deliver owned slots that the pool failed. O(window); only when some exist. */
static void pump_failed(struct rp_pool *p)
{
	uint64_t q;

	for (q = p->next_seq; q != p->submit_seq && p->nfailed_owned; q++) {
		struct rp_slot *s = &p->slots[q & p->mask];
		struct rp_result res;

		if (s->state != RP_SLOT_FAILED || s->seq != q || s->kind == RP_OWN_RAW)
			continue;
		result_from_failed(s, &res);
		rp__account(p, s, NULL, 0, s->status);
		p->nfailed--;
		p->nfailed_owned--;
		rp__deliver_owned(p, s, &res);
		rp__free_slot(p, s);
	}
}

/*
 * Make progress for futures and jobs: deliver their results, then feed
 * queued work into the room that frees. Loops while either makes progress.
 */
void rp__pump_slow(struct rp_pool *p)
{
	unsigned i;
	bool more;

	do {
		uint64_t before = p->completed;

		if (!p->inline_mode)
			for (i = 0; i < p->nw; i++)
				pump_ring(p, i);
		if (p->nfailed_owned)
			pump_failed(p);
		more = rp__futures_feed(p);
		more |= rp__jobs_feed(p);
		more = more || p->completed != before;
		rp__progress(p, false);
	} while (more && (p->fq_head || p->jobs));
}

/* A result for a future or job is waiting at a ring head. (No side effects.) */
void rp__pump(struct rp_pool *p)
{
	rp__pump_inline(p);
}

bool rp__owned_ready(struct rp_pool *p)
{
	unsigned i;

	if (p->nfailed_owned)
		return true;
	if (p->in_flight == p->raw_out)
		return false;	/* nothing owned is in flight */
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];

		if (!w->outstanding || w->raw_head || p->held_worker == (int)i)
			continue;
		if (!rp_ring_cons_cached_empty(&w->results) || !rp_ring_cons_empty(&w->results))
			return true;
	}
	return false;
}

/* Advance raw_low past slots that are free or not the caller's. */
static void raw_advance(struct rp_pool *p)
{
	while (p->raw_low < p->submit_seq) {
		struct rp_slot *s = &p->slots[p->raw_low & p->mask];

		if (s->seq == p->raw_low && s->state != RP_SLOT_FREE && s->kind == RP_OWN_RAW)
			break;
		p->raw_low++;
	}
}

/* A result for rp_next is ready. (No side effects but raw_low.) */
bool rp__raw_ready(struct rp_pool *p, bool unordered)
{
	unsigned i;

	if (!p->raw_out)
		return false;
	if (!unordered) {
		struct rp_slot *s;
		struct rp_worker *w;

		raw_advance(p);
		if (p->raw_low == p->submit_seq)
			return false;
		s = &p->slots[p->raw_low & p->mask];
		if (s->state != RP_SLOT_PENDING)
			return true;	/* failed or inline: ready now */
		w = &p->w[s->worker];
		return !rp_ring_cons_cached_empty(&w->results) || !rp_ring_cons_empty(&w->results);
	}
	if (p->nfailed > p->nfailed_owned || p->inline_mode)
		return true;
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];

		if (w->outstanding &&
		    (!rp_ring_cons_cached_empty(&w->results) || !rp_ring_cons_empty(&w->results)))
			return true;
	}
	return false;
}

static bool any_ready(struct rp_pool *p)
{
	return rp__raw_ready(p, true) || rp__owned_ready(p);
}

static bool ordered_ready(struct rp_pool *p)
{
	return rp__raw_ready(p, false) || rp__owned_ready(p);
}

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
		result_from_failed(s, res);
		p->nfailed--;
		rp__account(p, s, NULL, 0, s->status);
	}
	res->priv_[0] = 1;
	p->held_worker = -2;
	p->held_seq = s->seq;
	return 0;
}

/* Take the caller's record at the head of worker i's ring, if it is there. */
static int take(struct rp_pool *p, unsigned i, struct rp_result *res, uint64_t want)
{
	struct rp_worker *w = &p->w[i];
	struct rp_rec_view v;
	struct rp_slot *s;
	bool bad = false;

	if (p->in_flight != p->raw_out) {
		pump_ring(p, i);	/* owned records ahead of ours go first */
		if (!w->raw_head)
			return -EAGAIN;
	}
	s = head(p, i, &v, &bad);
	if (!s || s->kind != RP_OWN_RAW)
		return -EAGAIN;
	if (rp_unlikely(want != UINT64_MAX && v.seq != want)) {
		rp__worker_broke_protocol(p, i);
		return -EPROTO;
	}
	view_to_result(&v, i, res);
	rp__account(p, s, w, v.aux, v.status);
	res->priv_[0] = 1;
	p->held_worker = (int)i;
	p->held_size = v.size;
	p->held_seq = v.seq;
	return 0;
}

static int try_next(struct rp_pool *p, struct rp_result *res, bool unordered)
{
	unsigned k;

	if (!unordered || p->inline_mode) {
		for (;;) {
			struct rp_slot *s;

			raw_advance(p);
			if (p->raw_low == p->submit_seq)
				return -EAGAIN;
			s = &p->slots[p->raw_low & p->mask];
			if (s->state != RP_SLOT_PENDING)
				return give_slot(p, s, res);
			if (take(p, s->worker, res, p->raw_low) != -EPROTO)
				return p->held_worker == -1 ? -EAGAIN : 0;
		}
	}
	if (p->nfailed > p->nfailed_owned) {
		uint64_t q;

		for (q = p->next_seq; q != p->submit_seq; q++) {
			struct rp_slot *s = &p->slots[q & p->mask];

			if (s->state == RP_SLOT_FAILED && s->seq == q && s->kind == RP_OWN_RAW)
				return give_slot(p, s, res);
		}
	}
	for (k = 0; k < p->nw; k++) {
		unsigned i = p->rr + k < p->nw ? p->rr + k : p->rr + k - p->nw;

		if (!p->w[i].outstanding)
			continue;
		if (take(p, i, res, UINT64_MAX) == 0) {
			p->rr = i;
			return 0;
		}
		if (p->nfailed > p->nfailed_owned)
			return try_next(p, res, true);
	}
	return -EAGAIN;
}

/* Worker i's ring head is a result of the caller's (held, or waiting for
 * rp_next): nothing owned behind it can be delivered until the caller
 * takes or releases it. */
static bool head_is_raw(const struct rp_pool *p, unsigned i)
{
	return p->w[i].raw_head || p->held_worker == (int)i;
}

/*
 * Only results the caller has not collected (or holds) stand in the way of
 * owned work: every live worker with records outstanding has one at its
 * ring head, and nothing else can move (no failed or ready owned result, no
 * queued future or job to feed).
 */
static bool blocked_by_raw(struct rp_pool *p)
{
	bool any = false;

	if (rp__owned_ready(p) || p->fq_head || p->jobs)
		return false;
	for (unsigned i = 0; i < p->nw; i++) {
		if (!p->w[i].outstanding || p->w[i].dead)
			continue;
		if (!head_is_raw(p, i))
			return false;
		any = true;
	}
	return any;
}

int rp_next(struct rp_pool *p, struct rp_result *res, unsigned flags)
{
	bool unordered;

	RP_POOL_CHECK(p);
	if (!res)
		return -EINVAL;
	if (p->in_cb)
		return -EDEADLK;
	if (p->held_worker != -1)
		return -EBUSY;
	unordered = (flags & RP_UNORDERED) ||
		    ((p->cfg.flags & RP_CFG_UNORDERED) && !(flags & RP_ORDERED));
	for (;;) {
		rp__pump_inline(p);
		if (p->raw_out == 0)
			return -ENODATA;
		if (try_next(p, res, unordered) == 0)
			return 0;
		if (flags & RP_NONBLOCK) {
			rp__flush_all(p);
			return -EAGAIN;
		}
		rp__wait(p, unordered ? any_ready : ordered_ready, 0);
	}
}

void rp_release(struct rp_pool *p, struct rp_result *res)
{
	struct rp_slot *s;

	if (!p || !res || rp__foreign(p) || !res->priv_[0] || p->held_worker == -1 ||
	    res->seq != p->held_seq)
		return;
	res->priv_[0] = 0;
	s = &p->slots[p->held_seq & p->mask];
	if (p->held_worker >= 0) {
		struct rp_worker *w = &p->w[p->held_worker];

		w->results.head += p->held_size;
		w->hvalid = false;
		w->outstanding--;
		w->raw_head = false;
	} else if (s->state == RP_SLOT_INLINE) {
		free(s->ibuf);
		s->ibuf = NULL;
	}
	p->held_worker = -1;
	p->raw_out--;
	rp__free_slot(p, s);
	rp__progress(p, false);
}

static bool owned_cond(struct rp_pool *p)
{
	return p->wait_done(p->wait_arg) || rp__owned_ready(p) ||
	       (p->fq_head && rp__can_submit(p, 64)) || (p->jobs && rp__can_submit(p, 64));
}

int rp__wait_owned(struct rp_pool *p, bool (*done)(void *), void *arg, uint64_t timeout_ns)
{
	uint64_t deadline = timeout_ns ? rp_clock_ns() + timeout_ns : 0;

	if (p->in_cb)
		return -EDEADLK;
	for (;;) {
		rp__pump(p);
		if (done(arg))
			return 0;
		if (p->inline_mode)
			return -EDEADLK; /* nothing left that could finish it */
		if (blocked_by_raw(p))
			return -EDEADLK;
		p->wait_done = done;
		p->wait_arg = arg;
		if (rp__wait(p, owned_cond, deadline) == -ETIMEDOUT) {
			rp__pump(p);
			return done(arg) ? 0 : -ETIMEDOUT;
		}
	}
}

/* ---- stats ---- */

int rp_pool_stats(const struct rp_pool *p, struct rp_stats *st)
{
	unsigned i;

	RP_POOL_CHECK(p);
	if (!st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->workers = p->nw;
	st->workers_alive = p->alive;
	st->submitted = p->submit_seq;
	st->completed = p->completed;
	st->in_flight = p->in_flight;
	st->max_payload = p->max_payload;
	st->parent_futex_waits = p->futex_waits;
	st->parent_futex_wakes = p->futex_wakes;
	st->liveness_checks = p->liveness_checks;
	st->failed = p->failed;
	st->latency_p50_ns = rp_ticks_to_ns(hist_pct(&p->hist, 0.5));
	st->latency_p99_ns = rp_ticks_to_ns(hist_pct(&p->hist, 0.99));
	st->latency_p999_ns = rp_ticks_to_ns(hist_pct(&p->hist, 0.999));
	st->latency_max_ns = rp_ticks_to_ns(p->hist.max);
	st->wait_mode = p->reactor ? rp__reactor_mode(p->reactor) : RP_WAIT_FUTEX;
	st->restarts = p->restarts;
	st->retried = p->retried;
	st->timeouts = p->timeouts;
	st->restarts_exhausted = p->restarts_exhausted;
	st->spawned = p->spawned;
	for (i = 0; i < p->nw; i++) {
		/* relaxed: statistics, no ordering with anything else. */
		st->worker_futex_waits += atomic_load_explicit(&p->w[i].ctl->futex_waits,
							       memory_order_relaxed);
		st->worker_futex_wakes += atomic_load_explicit(&p->w[i].ctl->futex_wakes,
							       memory_order_relaxed);
	}
	return 0;
}

int rp_worker_stats(const struct rp_pool *p, unsigned i, struct rp_worker_stats *st)
{
	const struct rp_worker *w;
	uint64_t busy, now;

	RP_POOL_CHECK(p);
	if (!st || i >= p->nw)
		return -EINVAL;
	w = &p->w[i];
	busy = rp_ticks_to_ns(w->st_busy_ticks);
	now = rp_clock_ns();
	memset(st, 0, sizeof(*st));
	st->tasks = w->st_tasks;
	st->failed = w->st_failed;
	st->busy_ns = busy;
	st->idle_ns = now - w->start_ns > busy ? now - w->start_ns - busy : 0;
	st->wait_ns = rp_ticks_to_ns(w->st_wait_ns);
	st->pid = w->dead ? 0 : w->pid;
	st->alive = !w->dead;
	return 0;
}

/*
 * For event loops: drain the completion fd, handle worker deaths, deliver
 * owned results, publish pending tasks; then either report that results
 * are ready (1: call rp_next until -EAGAIN, then arm again) or arm the
 * doorbell so that the next result makes rp_pool_fd() readable (0).
 */
int rp_pool_arm(struct rp_pool *p)
{
	uint64_t v;
	uint32_t armed;

	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;
	if (p->efd < 0)
		return -EOPNOTSUPP;
	while (read(p->efd, &v, sizeof(v)) == sizeof(v)) {
	}
	rp__check_workers(p);
	rp__check_deadlines(p);
	rp__flush_all(p);
	rp__pump(p);
	if (rp__raw_ready(p, true) || p->in_flight == 0)
		return 1;
	armed = p->light_notify ? rp_evc_prepare_heavy(p->bell)
				: rp_evc_prepare(p->bell);
	if (!armed)	/* membarrier failed: do not rely on the fd */
		return 1;
	if (rp__raw_ready(p, true) || rp__owned_ready(p)) {
		rp_evc_cancel(p->bell, armed);
		return 1;
	}
	return 0;
}
