/* SPDX-License-Identifier: MIT */
/*
 * Dispatch: choosing a worker for each task record, reserving its space in
 * that worker's task ring, committing it to a slot of the window, and
 * publishing. The policy is one function, pick_worker(): the live worker
 * with the fewest records outstanding under its adaptive limit (about
 * 200 us of its measured work, at least 2), ties to the one used last.
 * Never waits: callers that may wait (submit.c, owners) do it through
 * wait.c.
 *
 * Publishing: committed tasks reach a worker after RP_PUBLISH_BATCH of
 * them, or when the parent is about to wait (and by rp_flush and polls),
 * so a stream of single submits costs one index store per batch.
 */
#ifndef RP_DISPATCH_H
#define RP_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rp_internal.h"
#include "fault.h"
#include "inline.h"
#include "rp_clock.h"

#include <string.h>

struct rp_pool;
struct rp_owner;
struct rp_worker;

/* Drop the open reservation. */
void rp__abort(struct rp_pool *p);

/* Publish every committed task and consumed result space to every worker,
 * waking the sleepers. Returns how many were woken. */
int rp__flush_all(struct rp_pool *p);

/* Could a record of len bytes be reserved without waiting? */
bool rp__can_submit(struct rp_pool *p, size_t len);

/* RP_CHUNK_AUTO: tasks per record for about 20 us of measured work; 1
 * until the pool has measured 64 tasks. Not capped (see rp__chunk_fit). */
uint32_t rp__auto_chunk(const struct rp_pool *p);

void rp__dispatch_learn_slow(struct rp_pool *p, struct rp_worker *w, uint64_t run_ticks,
			     uint16_t count);

/*
 * A record of `count` tasks from worker w took run_ticks: every 32 tasks
 * (or always while w's limit is small), adapt w's limit and the per-task
 * estimate behind RP_CHUNK_AUTO. Call after w->st.tasks counts the record.
 */
static inline void rp__dispatch_learn(struct rp_pool *p, struct rp_worker *w,
				      uint64_t run_ticks, uint16_t count)
{
	if ((w->st.tasks & 31) < count || w->limit <= 8)
		rp__dispatch_learn_slow(p, w, run_ticks, count);
}

/* ---- the hot path, inline (the slow parts are in dispatch.c) ---- */

int rp__fn_index_slow(struct rp_pool *p, rp_task_fn fn, uint32_t *idx);
int rp__reserve_slow(struct rp_pool *p, uint32_t tag, size_t len, void **buf);

/* Give result space back to worker w, up to what the caller still holds,
 * waking it if it waits for room. Returns 1 if it was woken. */
static inline int rp__publish_results(struct rp_pool *p, struct rp_worker *w)
{
	uint64_t pos = w->holding ? w->hold_from : w->results.head;

	if (rp_ring_cons_publish_to(&w->results, pos) && rp_evc_notify(&w->ctl->wake)) {
		p->st.futex_wakes++;
		return 1;
	}
	return 0;
}

/* Publish committed tasks to w. Returns 1 if w was asleep and got woken. */
static inline int rp__publish_tasks(struct rp_pool *p, struct rp_worker *w)
{
	w->unpub = 0;
	if (rp_ring_publish(&w->tasks) && rp_evc_notify(&w->ctl->wake)) {
		p->st.futex_wakes++;
		return 1;
	}
	return 0;
}

/*
 * Records worker w has not finished: dispatched minus what it reports done.
 * A hint from the worker's control block (validated: never more than we
 * dispatched), read only when its outstanding count (which includes
 * results waiting to be collected) reached its limit.
 */
static inline uint32_t rp__unfinished(const struct rp_worker *w)
{
	/* relaxed: a hint; the results it counts are read from the ring. */
	uint64_t done = atomic_load_explicit(&w->ctl->tasks_done, memory_order_relaxed);

	return done >= w->dispatched ? 0 : (uint32_t)(w->dispatched - done);
}

/* Worker w's load for the policy, or UINT32_MAX if it takes nothing now:
 * records outstanding while under its limit; past it, records unfinished
 * (results it has finished but we have not collected do not hold it). */
static inline uint32_t rp__load(const struct rp_worker *w)
{
	uint32_t load = w->outstanding;

	if (rp_unlikely(w->dead))
		return UINT32_MAX;
	if (rp_unlikely(load >= w->limit)) {
		load = rp__unfinished(w);
		if (load >= w->limit)
			return UINT32_MAX;
	}
	return load;
}

/* The policy: the live worker with the least load under its limit, ties
 * to the cursor (the worker used last) so bursts stay on one ring.
 * O(workers). Returns -1 if none has room. */
static inline int rp__pick_worker(const struct rp_pool *p)
{
	const struct rp_procs *pr = &p->procs;
	uint32_t best_load = UINT32_MAX;
	unsigned start = p->disp.cursor;
	int best = -1;

	if (pr->nw == 1)
		return rp__load(&pr->w[0]) == UINT32_MAX ? -1 : 0;
	for (unsigned i = 0; i < pr->nw; i++) {
		unsigned k = start + i < pr->nw ? start + i : start + i - pr->nw;
		uint32_t load = rp__load(&pr->w[k]);

		if (load >= best_load)
			continue;
		best_load = load;
		best = (int)k;
		if (!best_load)
			break;
	}
	return best;
}

/* The function's index in the region's table; the last one is cached. */
static inline int rp__fn_index(struct rp_pool *p, rp_task_fn fn, uint32_t *idx)
{
	if (rp_likely(fn == p->disp.fn_cache && fn)) {
		*idx = p->disp.fn_cache_idx;
		return 0;
	}
	return rp__fn_index_slow(p, fn, idx);
}

/* Open a reservation in worker i's task ring. */
static inline bool rp__try_reserve(struct rp_pool *p, int i, uint32_t tag, size_t len, void **buf,
			       int *err)
{
	void *ptr = rp_ring_reserve(&p->procs.w[i].tasks, len, err);

	if (rp_unlikely(!ptr))
		return false;
	p->disp.resv_worker = i;
	p->disp.resv_tag = tag;
	p->disp.resv_len = len;
	p->disp.cursor = (unsigned)i;
	*buf = ptr;
	return true;
}

/*
 * Open a reservation of len bytes for fn (NULL: cfg.fn) with extra tag bits,
 * without waiting. Returns 0 and *buf; -EAGAIN (no room now: window or
 * rings full); -ECHILD (no live worker); -EMSGSIZE; -EINVAL (no function,
 * or too many); -ENOENT (an exec'd worker cannot find fn); -EBUSY (a
 * reservation is open); -ESHUTDOWN (terminated); -ENOMEM (inline).
 * A worker found breaking the protocol is handled on the way.
 */
static inline int rp__reserve(struct rp_pool *p, rp_task_fn fn, size_t len, uint32_t tag_bits,
			      void **buf)
{
	uint32_t tag;
	int err, i;

	if (rp_unlikely(p->terminated))
		return -ESHUTDOWN;
	if (rp_unlikely(p->disp.resv_worker >= 0))
		return -EBUSY;
	err = rp__fn_index(p, fn ? fn : p->cfg.fn, &tag);
	if (rp_unlikely(err))
		return err;
	tag |= tag_bits;
	if (rp_unlikely(len > p->disp.max_payload))
		return -EMSGSIZE;
	if (rp_unlikely(p->inl.on)) {
		err = rp__inline_reserve(p, len, buf);
		if (!err) {
			p->disp.resv_worker = 0;
			p->disp.resv_tag = tag;
			p->disp.resv_len = len;
		}
		return err;
	}
	/* Fast path: room in the window and in the chosen worker's ring. */
	if (rp_likely(!rp__window_full(&p->win))) {
		i = rp__pick_worker(p);
		if (rp_likely(i >= 0) && rp__try_reserve(p, i, tag, len, buf, &err))
			return 0;
	}
	return rp__reserve_slow(p, tag, len, buf);
}

/*
 * Commit the open reservation with len bytes as a record of `count` tasks
 * owned by owner (NULL: the caller's stream) from the owner's task `index`.
 * Sets *seq if not NULL.
 */
static inline void rp__commit(struct rp_pool *p, size_t len, struct rp_owner *owner,
			       uint64_t index, uint16_t count, uint64_t *seq)
{
	struct rp_slot *s = rp__window_open(&p->win, owner, index, count);
	struct rp_worker *w;

	s->worker = (uint16_t)p->disp.resv_worker;
	/* Latency is sampled: one task in RP_LAT_SAMPLE is timed. */
	s->t_submit = (s->seq & (RP_LAT_SAMPLE - 1)) ? 0 : rp_ticks();
	p->disp.resv_worker = -1;
	if (seq)
		*seq = s->seq;
	if (rp_unlikely(p->inl.on)) {
		rp__inline_run(p, s, p->disp.fn_cache, p->disp.resv_tag, len);
		return;
	}
	w = &p->procs.w[s->worker];
	if (rp_unlikely(w->dead)) {
		/* The worker died between reserve and commit. */
		rp_ring_abort(&w->tasks);
		s->state = RP_SLOT_FREE;	/* never counted as outstanding */
		rp__fail_slot(p, s, RP_ECRASHED, w->term_signal, w->term_exit);
		return;
	}
	s->state = RP_SLOT_PENDING;
	rp_ring_commit(&w->tasks, len, p->disp.resv_tag, s->seq, 0, 0);
	w->outstanding++;
	w->dispatched++;
	/* Publish every RP_PUBLISH_BATCH records, or as soon as a large
	 * payload waits: the worker should not wait while we fill the next
	 * (1 MiB tasks: 0.69x a thread pool publishing in batches, 1.04x at
	 * once). */
	if (++w->unpub >= RP_PUBLISH_BATCH ||
	    rp_ring_unpublished(&w->tasks) >= RP_PUBLISH_BYTES)
		rp__publish_tasks(p, w);
}

/* Records of len bytes worker w can take now: its ring's free space (as
 * last seen; reloaded if it looks too small) and, unless ignore_limit, its
 * queue limit. */
static inline unsigned rp__room(struct rp_worker *w, size_t len, bool ignore_limit)
{
	struct rp_ring_prod *t = &w->tasks;
	uint64_t rec = RP_REC_SIZE(len), free_b, by_ring, by_limit;

	if (w->dead)
		return 0;
	/* acquire: pairs with the worker's C2 release of its head. */
	free_b = t->cap - (t->tail - atomic_load_explicit(&t->ring->head, memory_order_acquire));
	/* A wrap can cost a pad of up to one record: keep one in reserve. */
	by_ring = free_b > rec ? free_b / rec - 1 : 0;
	by_limit = rp__load(w);
	by_limit = by_limit < w->limit ? w->limit - by_limit : 0;
	if (ignore_limit || by_limit > by_ring)
		by_limit = by_ring;
	return by_limit > UINT32_MAX ? UINT32_MAX : (unsigned)by_limit;
}

/*
 * Commit up to k records of len bytes (task j's input at in + j * len) to
 * worker i for the caller's stream, user_data ud + j: the burst's inner
 * loop, one slot and one ring record each, no publish. Returns how many.
 */
static inline unsigned rp__commit_run(struct rp_pool *p, unsigned i, uint32_t tag,
				      const unsigned char *in, size_t len, unsigned k, uint64_t ud)
{
	struct rp_worker *w = &p->procs.w[i];
	unsigned j;

	for (j = 0; j < k; j++) {
		int err;
		void *buf = rp_ring_reserve(&w->tasks, len, &err);
		struct rp_slot *s;

		if (rp_unlikely(!buf))
			break;
		if (len == 8)	/* tiny tasks: a constant-size copy is one move */
			memcpy(buf, in + (size_t)j * 8, 8);
		else if (len)
			memcpy(buf, in + (size_t)j * len, len);
		s = rp__window_open(&p->win, NULL, ud + j, 1);
		s->worker = (uint16_t)i;
		s->t_submit = (s->seq & (RP_LAT_SAMPLE - 1)) ? 0 : rp_ticks();
		s->state = RP_SLOT_PENDING;
		rp_ring_commit(&w->tasks, len, tag, s->seq, 0, 0);
	}
	w->outstanding += j;
	w->dispatched += j;
	w->unpub += j;
	p->disp.cursor = i;
	return j;
}

#endif
