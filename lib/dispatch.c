/* SPDX-License-Identifier: MIT */
/*
 * The parent's hot path: dispatching tasks into worker rings, collecting
 * results in order (or as they finish), and waiting.
 *
 * Dispatch policy: each task goes to the live worker with the fewest tasks
 * outstanding (dispatched, result not yet collected), ties going to the
 * worker used last so bursts stay on one ring. A worker's outstanding count
 * is capped by an adaptive limit: about 200 us of work at its measured mean
 * task duration (reported by the worker with each result), at least 2 and at
 * most max_in_flight. Tiny tasks thus queue deeply (ring speed), while long
 * or skewed tasks queue shallowly, so one slow task delays little behind it.
 *
 * Ordering: every task gets a sequence number; window slot seq % max_in_flight
 * records the worker it went to. Each worker runs its tasks in order, so in
 * ordered mode the next result is always at the head of one known result ring:
 * results wait in place, and the "reorder buffer" is the slot array.
 *
 * Publishing: committed tasks are published to a worker after
 * RP_PUBLISH_BATCH of them, or whenever the parent is about to wait (and by
 * rp_flush), so a stream of single submits costs one index store and one
 * wake check per batch.
 */
#include "rp_internal.h"
#include "rp_clock.h"

#include <string.h>

#define LIMIT_TARGET_NS	200000u
#define LIMIT_EVERY	32u

/* Publish committed tasks to w. Returns 1 if w was asleep and got woken. */
static int publish_tasks(struct rp_pool *p, struct rp_worker *w)
{
	w->unpub = 0;
	if (rp_ring_publish(&w->tasks) && rp_evc_notify(&w->ctl->wake)) {
		p->futex_wakes++;
		return 1;
	}
	return 0;
}

/* Return consumed result space to worker w, waking it if it waits for room. */
static int publish_head(struct rp_pool *p, struct rp_worker *w)
{
	if (rp_ring_cons_publish(&w->results) && rp_evc_notify(&w->ctl->wake)) {
		p->futex_wakes++;
		return 1;
	}
	return 0;
}

/* Publish everything to every worker. Returns how many were woken. */
static int flush_all(struct rp_pool *p)
{
	unsigned i;
	int woken = 0;

	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];

		if (w->dead)
			continue;
		woken += publish_tasks(p, w);
		woken += publish_head(p, w);
	}
	return woken;
}

int rp_flush(struct rp_pool *p)
{
	if (!p)
		return -EINVAL;
	flush_all(p);
	return 0;
}

/* Is a result ready to hand out without waiting? (No side effects.) */
static bool result_ready(struct rp_pool *p)
{
	unsigned i;

	if (p->in_flight == 0)
		return false;
	if (p->nfailed)
		return true;
	if (!(p->cfg.flags & RP_CFG_UNORDERED)) {
		struct rp_slot *s = &p->slots[p->next_seq & p->mask];

		if (p->next_seq == p->submit_seq)
			return false;
		return !rp_ring_cons_cached_empty(&p->w[s->worker].results) ||
		       !rp_ring_cons_empty(&p->w[s->worker].results);
	}
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];

		if (w->outstanding && !w->dead &&
		    (!rp_ring_cons_cached_empty(&w->results) || !rp_ring_cons_empty(&w->results)))
			return true;
	}
	return false;
}

/*
 * Wait until cond(p) holds. Spins for the spin budget, then sleeps on the
 * doorbell. Every sleep is bounded by liveness_ns, after which worker
 * liveness is checked (a dead worker makes its tasks' results ready).
 *
 * If we woke a sleeping worker since the last wait, the answer cannot come
 * sooner than that worker's wake-up, so we sleep at once instead of
 * spinning: on a VM, waking an idle vCPU costs tens of microseconds, while a
 * waker that sleeps lets the scheduler run the woken worker on this CPU.
 */
static void wait_cond(struct rp_pool *p, bool (*cond)(struct rp_pool *))
{
	uint64_t end, last_check;

	flush_all(p);
	if (p->futex_wakes == p->wakes_seen) {
		end = rp_ticks() + p->spin_ticks;
		do {
			if (cond(p))
				return;
			rp_cpu_relax();
		} while (rp_ticks() < end);
	}
	last_check = rp_clock_ns();
	for (;;) {
		uint64_t timeout = p->cfg.liveness_ns, now;
		uint32_t armed;

		if (p->light_notify) {
			armed = rp_evc_prepare_heavy(&p->sh->doorbell);
			if (!armed) {
				/* membarrier failed: a light notify may be missed,
				 * so sleep briefly and look again. */
				armed = rp_evc_prepare(&p->sh->doorbell);
				timeout = 100000;
			}
		} else {
			armed = rp_evc_prepare(&p->sh->doorbell);
		}
		if (cond(p)) {
			rp_evc_cancel(&p->sh->doorbell, armed);
			return;
		}
		p->futex_waits++;
		rp_evc_wait(&p->sh->doorbell, armed, timeout);
		now = rp_clock_ns();
		if (now - last_check >= p->cfg.liveness_ns) {
			last_check = now;
			rp__check_workers(p);
		}
		if (cond(p))
			return;
	}
}

static void pool_wait(struct rp_pool *p, bool (*cond)(struct rp_pool *))
{
	wait_cond(p, cond);
	p->wakes_seen = p->futex_wakes;
}

static int pick_worker(struct rp_pool *p)
{
	int best = -1;
	uint32_t best_out = UINT32_MAX;
	unsigned i, start = p->rr;

	for (i = 0; i < p->nw; i++) {
		unsigned k = start + i < p->nw ? start + i : start + i - p->nw;
		struct rp_worker *w = &p->w[k];

		if (w->dead || w->outstanding >= w->limit)
			continue;
		if (w->outstanding < best_out) {
			best_out = w->outstanding;
			best = (int)k;
			if (!best_out)
				break;
		}
	}
	return best;
}

static int fn_index(struct rp_pool *p, rp_task_fn fn, uint32_t *idx)
{
	uint32_t i, n;

	if (rp_likely(fn == p->fn_cache && fn)) {
		*idx = p->fn_cache_idx;
		return 0;
	}
	if (!fn)
		return -EINVAL;
	n = p->sh->nfns;
	for (i = 0; i < n; i++)
		if (p->sh->fns[i].addr == (uint64_t)(uintptr_t)fn)
			break;
	if (i == n) {
		if (n == RP_MAX_FNS)
			return -EINVAL;
		/* Plain stores: workers read the entry only after a task that
		 * names it, which is published later with P1 (release). */
		p->sh->fns[n].addr = (uint64_t)(uintptr_t)fn;
		p->sh->nfns = n + 1;
	}
	p->fn_cache = fn;
	p->fn_cache_idx = i;
	*idx = i;
	return 0;
}

static bool window_full(const struct rp_pool *p)
{
	return p->submit_seq - p->next_seq > p->mask;
}

/* Room for a new task somewhere, or something to collect. */
static bool can_progress(struct rp_pool *p)
{
	unsigned i;

	if (result_ready(p) || p->alive == 0)
		return true;
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];
		struct rp_ring_prod *t = &w->tasks;

		if (w->dead || w->outstanding >= w->limit)
			continue;
		/* acquire: pairs with the worker's C2 release of its head. */
		if (t->tail - atomic_load_explicit(&t->ring->head, memory_order_acquire) +
			    RP_REC_SIZE(p->resv_len) * 2 <= t->cap)
			return true;
	}
	return false;
}

/* Open a reservation in worker i's task ring. */
static inline bool try_reserve(struct rp_pool *p, int i, uint32_t tag, size_t len, void **buf,
			       int *err)
{
	void *ptr = rp_ring_reserve(&p->w[i].tasks, len, err);

	if (rp_unlikely(!ptr))
		return false;
	p->resv_worker = i;
	p->resv_tag = tag;
	p->resv_len = len;
	p->rr = (unsigned)i;
	*buf = ptr;
	return true;
}

/* The slow path of reserve: full rings, dead workers, waiting. */
static int __attribute__((noinline)) reserve_slow(struct rp_pool *p, uint32_t tag, size_t len,
						   unsigned flags, void **buf)
{
	int err = 0;

	for (;;) {
		int i;

		if (p->alive == 0)
			return -ECHILD;
		if (window_full(p))
			return -EAGAIN;
		i = pick_worker(p);
		if (i >= 0) {
			if (try_reserve(p, i, tag, len, buf, &err))
				return 0;
			if (err == -EPROTO) {
				rp__worker_broke_protocol(p, (unsigned)i);
				continue;
			}
			/* This worker's ring is full: let it see what it has. */
			publish_tasks(p, &p->w[i]);
			/* Try the others before waiting. */
			for (unsigned k = 0; k < p->nw; k++) {
				struct rp_worker *o = &p->w[k];

				if ((int)k == i || o->dead || o->outstanding >= o->limit)
					continue;
				if (try_reserve(p, (int)k, tag, len, buf, &err))
					return 0;
			}
		}
		if (result_ready(p))
			return -EAGAIN;	/* only collecting can make room now */
		if (flags & RP_NONBLOCK) {
			flush_all(p);
			return -EAGAIN;
		}
		p->resv_len = len;
		pool_wait(p, can_progress);
	}
}

static inline __attribute__((always_inline)) int reserve_(struct rp_pool *p, rp_task_fn fn,
							   size_t len, unsigned flags, void **buf)
{
	uint32_t tag;
	int err, i;

	if (rp_unlikely(p->closed))
		return -ESHUTDOWN;
	if (rp_unlikely(p->resv_worker >= 0))
		return -EBUSY;
	err = fn_index(p, fn ? fn : p->cfg.fn, &tag);
	if (rp_unlikely(err))
		return err;
	if (rp_unlikely(len > p->max_payload))
		return -EMSGSIZE;
	/* Fast path: room in the window and in the chosen worker's ring. */
	if (rp_likely(!window_full(p))) {
		i = pick_worker(p);
		if (rp_likely(i >= 0) && try_reserve(p, i, tag, len, buf, &err))
			return 0;
	}
	return reserve_slow(p, tag, len, flags, buf);
}

int rp_reserve(struct rp_pool *p, rp_task_fn fn, size_t len, unsigned flags, void **buf)
{
	if (!p || !buf)
		return -EINVAL;
	return reserve_(p, fn, len, flags, buf);
}

static inline __attribute__((always_inline)) void commit_(struct rp_pool *p, size_t len,
							   uint64_t *seq)
{
	struct rp_worker *w = &p->w[p->resv_worker];
	uint64_t q = p->submit_seq++;
	struct rp_slot *s = &p->slots[q & p->mask];

	s->seq = q;
	s->worker = (uint16_t)p->resv_worker;
	p->in_flight++;
	if (rp_unlikely(w->dead)) {
		/* The worker died between reserve and commit. */
		rp_ring_abort(&w->tasks);
		s->state = RP_SLOT_FAILED;
		s->status = RP_ECRASHED;
		s->term_signal = w->term_signal;
		s->term_exit = w->term_exit;
		p->nfailed++;
	} else {
		s->state = RP_SLOT_PENDING;
		rp_ring_commit(&w->tasks, len, p->resv_tag, q, 0, 0);
		w->outstanding++;
		if (++w->unpub >= RP_PUBLISH_BATCH)
			publish_tasks(p, w);
	}
	p->resv_worker = -1;
	if (seq)
		*seq = q;
}

int rp_commit(struct rp_pool *p, size_t len, uint64_t *seq)
{
	if (!p || p->resv_worker < 0)
		return -EINVAL;
	if (len > p->resv_len)
		return -EMSGSIZE;
	commit_(p, len, seq);
	return 0;
}

int rp_abort(struct rp_pool *p)
{
	if (!p || p->resv_worker < 0)
		return -EINVAL;
	rp_ring_abort(&p->w[p->resv_worker].tasks);
	p->resv_worker = -1;
	return 0;
}

int rp_submit(struct rp_pool *p, rp_task_fn fn, const void *data, size_t len, unsigned flags,
	      uint64_t *seq)
{
	void *buf;
	int err;

	if (!p || (len && !data))
		return -EINVAL;
	err = reserve_(p, fn, len, flags, &buf);
	if (err)
		return err;
	if (len)
		memcpy(buf, data, len);
	commit_(p, len, seq);
	return 0;
}

static void update_limit(struct rp_worker *w, uint32_t ticks, uint64_t window)
{
	uint64_t lim, ns = ticks == UINT32_MAX ? UINT64_MAX / 16 : rp_ticks_to_ns(ticks);

	/* EWMA with weight 1/8. */
	w->ewma_ns = w->ewma_ns - (w->ewma_ns >> 3) + (ns >> 3);
	lim = 2 + LIMIT_TARGET_NS / (w->ewma_ns + 1);
	w->limit = (uint32_t)(lim > window ? window : lim);
}

static int fill_failed(struct rp_pool *p, struct rp_slot *s, struct rp_result *res)
{
	res->data = "";
	res->len = 0;
	res->seq = s->seq;
	res->status = s->status;
	res->flags = RP_RES_POOL;
	res->worker = s->worker;
	res->term_signal = s->term_signal;
	res->term_exit = s->term_exit;
	res->priv_[0] = 1;
	p->held_worker = -2;
	p->held_seq = s->seq;
	return 0;
}

/* Take the record at the head of worker i's result ring, if any. */
static int take(struct rp_pool *p, unsigned i, struct rp_result *res, bool ordered)
{
	struct rp_worker *w = &p->w[i];
	struct rp_rec_view v;
	struct rp_slot *s;
	int r;

	if (rp_ring_cons_cached_empty(&w->results))
		publish_head(p, w);
	r = rp_ring_peek(&w->results, &v);
	if (r == -EAGAIN)
		return -EAGAIN;
	s = &p->slots[(r ? 0 : v.seq) & p->mask];
	if (rp_unlikely(r < 0 || (ordered && v.seq != p->next_seq) ||
			s->state != RP_SLOT_PENDING || s->seq != v.seq || s->worker != i)) {
		rp__worker_broke_protocol(p, i);
		return -EPROTO;
	}
	res->data = v.data;
	res->len = v.len;
	res->seq = v.seq;
	res->status = v.status;
	res->flags = v.tag & RP_RES_POOL;
	res->worker = i;
	res->term_signal = 0;
	res->term_exit = -1;
	res->priv_[0] = 1;
	p->held_worker = (int)i;
	p->held_size = v.size;
	p->held_seq = v.seq;
	if ((p->completed & (LIMIT_EVERY - 1)) == 0 || w->limit <= 8)
		update_limit(w, v.aux, p->mask + 1);
	return 0;
}

static int try_next(struct rp_pool *p, struct rp_result *res)
{
	unsigned k;

	if (!(p->cfg.flags & RP_CFG_UNORDERED)) {
		struct rp_slot *s;

		for (;;) {
			s = &p->slots[p->next_seq & p->mask];
			if (s->state == RP_SLOT_FAILED)
				return fill_failed(p, s, res);
			if (take(p, s->worker, res, true) != -EPROTO)
				return p->held_worker == -1 ? -EAGAIN : 0;
		}
	}
	if (p->nfailed) {
		uint64_t q;

		for (q = p->next_seq; q != p->submit_seq; q++) {
			struct rp_slot *s = &p->slots[q & p->mask];

			if (s->state == RP_SLOT_FAILED && s->seq == q)
				return fill_failed(p, s, res);
		}
	}
	for (k = 0; k < p->nw; k++) {
		unsigned i = p->rr + k < p->nw ? p->rr + k : p->rr + k - p->nw;
		struct rp_worker *w = &p->w[i];
		int r;

		if (!w->outstanding || w->dead)
			continue;
		r = take(p, i, res, false);
		if (r == 0) {
			p->rr = i;
			return 0;
		}
		if (r == -EPROTO && p->nfailed)
			return try_next(p, res);
	}
	return -EAGAIN;
}

int rp_next(struct rp_pool *p, struct rp_result *res, unsigned flags)
{
	if (!p || !res)
		return -EINVAL;
	if (p->held_worker != -1)
		return -EBUSY;
	for (;;) {
		if (p->in_flight == 0)
			return -ENODATA;
		if (try_next(p, res) == 0)
			return 0;
		if (flags & RP_NONBLOCK) {
			flush_all(p);
			return -EAGAIN;
		}
		pool_wait(p, result_ready);
	}
}

void rp_release(struct rp_pool *p, struct rp_result *res)
{
	struct rp_slot *s;

	if (!p || !res || !res->priv_[0] || p->held_worker == -1 || res->seq != p->held_seq)
		return;
	res->priv_[0] = 0;
	s = &p->slots[p->held_seq & p->mask];
	if (p->held_worker >= 0) {
		struct rp_worker *w = &p->w[p->held_worker];

		w->results.head += p->held_size;
		w->outstanding--;
	} else {
		p->nfailed--;
	}
	s->state = RP_SLOT_FREE;
	p->held_worker = -1;
	p->in_flight--;
	p->completed++;
	if (!(p->cfg.flags & RP_CFG_UNORDERED)) {
		p->next_seq++;
		return;
	}
	while (p->next_seq != p->submit_seq && p->slots[p->next_seq & p->mask].state == RP_SLOT_FREE)
		p->next_seq++;
}

int rp_map(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
	   size_t out_size, size_t n)
{
	const unsigned char *src = in;
	unsigned char *dst = out;
	size_t sub = 0, got = 0, first_bad = SIZE_MAX;
	uint64_t base;
	int first_err = 0, err = 0;

	if (!p || !fn || (n && (!in || (!out && out_size))))
		return -EINVAL;
	if (p->closed)
		return -ESHUTDOWN;
	if (p->in_flight || p->resv_worker >= 0)
		return -EBUSY;
	base = p->submit_seq;
	while (got < n) {
		struct rp_result res;
		int r;

		while (sub < n && !err) {
			void *buf;

			r = rp_reserve(p, fn, in_size, RP_NONBLOCK, &buf);
			if (r == -EAGAIN)
				break;
			if (r < 0) {
				err = r;	/* e.g. -ECHILD: collect what is out, then fail */
				break;
			}
			memcpy(buf, src + sub * in_size, in_size);
			rp_commit(p, in_size, NULL);
			sub++;
		}
		if (p->in_flight == 0)
			break;
		r = rp_next(p, &res, 0);
		while (r == 0) {
			size_t i = (size_t)(res.seq - base);
			int st = res.status;

			if (!st && res.len > out_size)
				st = RP_EMSGSIZE;
			if (out_size) {
				size_t c = res.len < out_size ? res.len : out_size;

				memcpy(dst + i * out_size, res.data, st ? 0 : c);
				memset(dst + i * out_size + (st ? 0 : c), 0, out_size - (st ? 0 : c));
			}
			if (st && i < first_bad) {
				first_bad = i;
				first_err = st;
			}
			rp_release(p, &res);
			got++;
			r = rp_next(p, &res, RP_NONBLOCK);
		}
	}
	if (err)
		return err;
	return first_err;
}
