/* SPDX-License-Identifier: MIT */
/*
 * The parent's submit path: dispatching tasks into worker rings, and the one
 * place where the parent waits.
 *
 * Dispatch policy: each task goes to the live worker with the fewest records
 * outstanding (dispatched, result not yet collected), ties going to the
 * worker used last so bursts stay on one ring. A worker's outstanding count
 * is capped by an adaptive limit: about 200 us of work at its measured mean
 * record duration (reported by the worker with each result), at least 2 and
 * at most max_in_flight. Tiny tasks thus queue deeply (ring speed), while
 * long or skewed tasks queue shallowly, so one slow task delays little
 * behind it. The scan is O(workers) per task.
 *
 * Publishing: committed tasks are published to a worker after
 * RP_PUBLISH_BATCH of them, or whenever the parent is about to wait (and by
 * rp_flush), so a stream of single submits costs one index store and one
 * wake check per batch.
 */
#include "rp_internal.h"
#include "rp_clock.h"
#include "reactor.h"

#include <stdlib.h>
#include <string.h>

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
int rp__flush_all(struct rp_pool *p)
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
	RP_POOL_CHECK(p);
	rp__flush_all(p);
	return 0;
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
static int wait_cond(struct rp_pool *p, bool (*cond)(struct rp_pool *), uint64_t deadline)
{
	uint64_t end, last_check;

	rp__flush_all(p);
	if (p->futex_wakes == p->wakes_seen) {
		end = rp_ticks() + p->spin_ticks;
		do {
			if (cond(p))
				return 0;
			rp_cpu_relax();
		} while (rp_ticks() < end);
	}
	last_check = rp_clock_ns();
	for (;;) {
		uint64_t timeout = p->cfg.liveness_ns, now, dl;
		uint32_t armed;

		dl = rp__check_deadlines(p);
		if (dl < timeout)
			timeout = dl;
		if (deadline) {
			now = rp_clock_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			if (deadline - now < timeout)
				timeout = deadline - now;
		}
		if (p->light_notify) {
			armed = rp_evc_prepare_heavy(p->bell);
			if (!armed) {
				/* membarrier failed: a light notify may be missed,
				 * so sleep briefly and look again. */
				armed = rp_evc_prepare(p->bell);
				if (timeout > 100000)
					timeout = 100000;
			}
		} else {
			armed = rp_evc_prepare(p->bell);
		}
		if (cond(p)) {
			rp_evc_cancel(p->bell, armed);
			return 0;
		}
		p->futex_waits++;
		if (p->reactor) {
			unsigned nready = 0;

			/* One wait for the doorbell, every worker's pidfd and
			 * the timeout: a death is seen at once, not at the next
			 * liveness check. */
			rp__reactor_wait(p->reactor, &p->bell->word, armed, timeout, NULL, 0,
					 &nready);
			if (nready) {
				rp__check_workers(p);
				last_check = rp_clock_ns();
			}
		} else {
			rp_evc_wait(p->bell, armed, timeout);
		}
		now = rp_clock_ns();
		if (now - last_check >= p->cfg.liveness_ns) {
			last_check = now;
			rp__check_workers(p);
		}
		if (cond(p))
			return 0;
	}
}

int rp__wait(struct rp_pool *p, bool (*cond)(struct rp_pool *), uint64_t deadline)
{
	uint64_t now;
	int r;

	if (p->inline_mode)
		return cond(p) ? 0 : -ETIMEDOUT; /* nothing runs behind our back */
	/* Liveness is checked on this slow path whatever cond says, so no
	 * caller loop can starve it. */
	now = rp_clock_ns();
	if (now - p->last_liveness_ns >= p->cfg.liveness_ns) {
		p->last_liveness_ns = now;
		rp__check_workers(p);
	}
	r = wait_cond(p, cond, deadline);
	p->wakes_seen = p->futex_wakes;
	return r;
}

static inline int pick_worker(struct rp_pool *p)
{
	int best = -1;
	uint32_t best_out = UINT32_MAX;
	unsigned i, start = p->rr;

	if (p->nw == 1)
		return p->w[0].dead || p->w[0].outstanding >= p->w[0].limit ? -1 : 0;

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

static int __attribute__((noinline)) fn_index_slow(struct rp_pool *p, rp_task_fn fn,
						    uint32_t *idx)
{
	uint32_t i, n;

	if (!fn)
		return -EINVAL;
	/* Our own copy: a worker can rewrite the shared table and its count.
	 * O(functions), once per change of function. */
	n = p->nfns;
	for (i = 0; i < n; i++)
		if (p->fns[i] == fn)
			break;
	if (i == n) {
		struct rp_fn_entry e;

		if (n == RP_MAX_FNS)
			return -EINVAL;
		/* An exec'd worker finds it by (module, offset); without that,
		 * only forked workers can run it. */
		if (rp__fn_resolve(p, (void *)fn, &e) < 0) {
			if (p->spawn)
				return -ENOENT;
			p->unresolvable++;
		}
		/* Plain stores: workers read the entry only after a task that
		 * names it, which is published later with P1 (release). */
		p->fns[n] = fn;
		p->nfns = n + 1;
		p->sh->fns[n] = e;
		p->sh->nfns = n + 1;
	}
	p->fn_cache = fn;
	p->fn_cache_idx = i;
	*idx = i;
	return 0;
}

/* The function's index in the region's table; the last one is cached. */
static inline int fn_index(struct rp_pool *p, rp_task_fn fn, uint32_t *idx)
{
	if (rp_likely(fn == p->fn_cache && fn)) {
		*idx = p->fn_cache_idx;
		return 0;
	}
	return fn_index_slow(p, fn, idx);
}

static inline bool window_full(const struct rp_pool *p)
{
	return p->submit_seq - p->next_seq > p->mask;
}

/* Could a record of `len` bytes be reserved without waiting? */
bool rp__can_submit(struct rp_pool *p, size_t len)
{
	unsigned i;

	if (window_full(p) || p->terminated)
		return false;
	if (p->inline_mode)
		return true;
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];
		struct rp_ring_prod *t = &w->tasks;

		if (w->dead || w->outstanding >= w->limit)
			continue;
		/* acquire: pairs with the worker's C2 release of its head. */
		if (t->tail - atomic_load_explicit(&t->ring->head, memory_order_acquire) +
			    RP_REC_SIZE(len) * 2 <= t->cap)
			return true;
	}
	return false;
}

/* Room for a new task somewhere, or something to collect. */
static bool can_progress(struct rp_pool *p)
{
	return p->alive == 0 || rp__raw_ready(p, true) || rp__owned_ready(p) ||
	       rp__can_submit(p, p->resv_len);
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
		if (rp__raw_ready(p, true) || rp__owned_ready(p))
			return -EAGAIN;	/* only collecting can make room now */
		if (flags & RP_NONBLOCK) {
			rp__flush_all(p);
			return -EAGAIN;
		}
		p->resv_len = len;
		rp__wait(p, can_progress, 0);
	}
}

static int reserve_inline(struct rp_pool *p, uint32_t tag, size_t len, void **buf)
{
	if (window_full(p))
		return -EAGAIN;
	if (len > p->scratch_cap || !p->scratch) {
		size_t cap = len < 4096 ? 4096 : len;
		void *n = realloc(p->scratch, cap);

		if (!n)
			return -ENOMEM;
		p->scratch = n;
		p->scratch_cap = cap;
	}
	p->resv_worker = 0;
	p->resv_tag = tag;
	p->resv_len = len;
	*buf = p->scratch;
	return 0;
}

static inline __attribute__((always_inline)) int reserve_(struct rp_pool *p, rp_task_fn fn,
							   size_t len, unsigned flags, void **buf,
							   uint32_t extra_tag, bool internal)
{
	uint32_t tag;
	int err, i;

	/* Work accepted before close (queued futures, job input) still runs. */
	if (rp_unlikely(p->closed) && (!internal || p->terminated))
		return -ESHUTDOWN;
	if (rp_unlikely(p->in_cb))
		return -EDEADLK;
	if (rp_unlikely(p->resv_worker >= 0))
		return -EBUSY;
	err = fn_index(p, fn ? fn : p->cfg.fn, &tag);
	if (rp_unlikely(err))
		return err;
	tag |= extra_tag;
	if (rp_unlikely(len > p->max_payload))
		return -EMSGSIZE;
	if (rp_unlikely(p->inline_mode))
		return reserve_inline(p, tag, len, buf);
	/* Fast path: room in the window and in the chosen worker's ring. */
	if (rp_likely(!window_full(p))) {
		i = pick_worker(p);
		if (rp_likely(i >= 0) && try_reserve(p, i, tag, len, buf, &err))
			return 0;
	}
	return reserve_slow(p, tag, len, flags, buf);
}

int rp__reserve(struct rp_pool *p, rp_task_fn fn, size_t len, unsigned flags, void **buf,
		uint32_t extra_tag)
{
	return reserve_(p, fn, len, flags, buf, extra_tag, true);
}

int rp_reserve(struct rp_pool *p, rp_task_fn fn, size_t len, unsigned flags, void **buf)
{
	RP_POOL_CHECK(p);
	if (!buf)
		return -EINVAL;
	return reserve_(p, fn, len, flags, buf, 0, false);
}

static inline __attribute__((always_inline)) void commit_(struct rp_pool *p, size_t len,
							   uint64_t *seq)
{
	uint64_t q = p->submit_seq++;
	struct rp_slot *s = &p->slots[q & p->mask];

	s->seq = q;
	s->retries = 0;
	s->worker = (uint16_t)p->resv_worker;
	s->kind = p->own_kind;
	s->owner = p->own_ptr;
	s->index = p->own_index;
	s->count = p->own_count;
	/* Latency is sampled: one task in RP_LAT_SAMPLE is timed. */
	s->t_submit = (q & (RP_LAT_SAMPLE - 1)) ? 0 : rp_ticks();
	p->in_flight++;
	p->raw_out += s->kind == RP_OWN_RAW;
	if (rp_unlikely(p->inline_mode)) {
		rp__inline_run(p, s, p->fn_cache, p->resv_tag, p->scratch, len);
	} else {
		struct rp_worker *w = &p->w[p->resv_worker];

		if (rp_unlikely(w->dead)) {
			/* The worker died between reserve and commit. */
			rp_ring_abort(&w->tasks);
			s->state = RP_SLOT_FREE;	/* never counted as outstanding */
			rp__fail_slot(p, s, RP_ECRASHED, w->term_signal, w->term_exit);
		} else {
			s->state = RP_SLOT_PENDING;
			rp_ring_commit(&w->tasks, len, p->resv_tag, q, 0, 0);
			w->outstanding++;
			w->dispatched++;
			if (++w->unpub >= RP_PUBLISH_BATCH)
				publish_tasks(p, w);
		}
	}
	p->resv_worker = -1;
	if (seq)
		*seq = q;
}

void rp__commit(struct rp_pool *p, size_t len, uint64_t *seq)
{
	commit_(p, len, seq);
}

int rp_commit(struct rp_pool *p, size_t len, uint64_t *seq)
{
	RP_POOL_CHECK(p);
	if (p->resv_worker < 0)
		return -EINVAL;
	if (len > p->resv_len)
		return -EMSGSIZE;
	commit_(p, len, seq);
	return 0;
}

int rp_abort(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	if (p->resv_worker < 0)
		return -EINVAL;
	if (!p->inline_mode)
		rp_ring_abort(&p->w[p->resv_worker].tasks);
	p->resv_worker = -1;
	return 0;
}

int rp_submit(struct rp_pool *p, rp_task_fn fn, const void *data, size_t len, unsigned flags,
	      uint64_t *seq)
{
	void *buf;
	int err;

	RP_POOL_CHECK(p);
	if (len && !data)
		return -EINVAL;
	err = reserve_(p, fn, len, flags, &buf, 0, false);
	if (err)
		return err;
	if (len)
		memcpy(buf, data, len);
	commit_(p, len, seq);
	return 0;
}
