/* SPDX-License-Identifier: MIT */
/*
 * The caller's submissions: rp_reserve + rp_commit (zero-copy), rp_submit,
 * rp_abort, rp_flush. Dispatch does the work; this is where a submission
 * waits for room, and decides when waiting cannot help (results the caller
 * must collect first).
 */
#include "owner.h"
#include "collect.h"
#include "dispatch.h"
#include "wait.h"

#include <string.h>

/*
 * Will some worker finish a record without the caller collecting anything?
 * One with records unfinished and a result ring less than half full (a
 * record is at most half a ring, so it can publish the next one).
 */
static bool workers_progress(struct rp_pool *p)
{
	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		/* The published tail lags by up to a batch; a worker that
		 * waits for room publishes it first, so it is exact then. */
		uint64_t tail = rp_ring_tail_hint(&w->results);

		if (!w->dead && rp__unfinished(w) &&
		    tail - w->results.head_pub <= w->results.cap / 2)
			return true;
	}
	return false;
}

/*
 * Validate every result at a ring head that has not been yet: a worker
 * whose head breaks the protocol is killed there (its slots fail or go to a
 * replacement), which a waiting submitter must see at once rather than
 * take the bad record for a ready result and wait for its worker.
 */
static bool heads_broken(struct rp_pool *p)
{
	bool any = false;

	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		struct rp_rec_view v;
		bool bad = false;

		if (w->dead || w->hvalid || w->outstanding <= w->held ||
		    rp_ring_cons_empty(&w->results))
			continue;
		rp__head(p, i, &v, &bad);
		any |= bad;
	}
	return any;
}

/* Only the caller collecting results can make room: results are ready
 * and no worker will finish a record on its own. */
static bool stuck_on_raw(struct rp_pool *p)
{
	return rp__raw_ready(p, true) && !workers_progress(p);
}

/* Room for a new task somewhere, or only collecting can make it. */
static bool can_progress(struct rp_pool *p, void *arg)
{
	size_t len = *(const size_t *)arg;

	return p->procs.alive == 0 || rp__owned_ready(p) || rp__can_submit(p, len) ||
	       heads_broken(p) || stuck_on_raw(p);
}

/* rp__reserve, waiting for room unless RP_NONBLOCK or waiting cannot help. */
static int reserve_waiting(struct rp_pool *p, rp_task_fn fn, size_t len, unsigned flags,
			   void **buf)
{
	for (;;) {
		int err = rp__reserve(p, fn, len, 0, buf);

		if (rp_likely(err != -EAGAIN) || rp__window_full(&p->win))
			return err;
		rp__pump(p);
		if (rp__learn_heads(p) || heads_broken(p))
			continue;	/* limits grew, or a worker was replaced */
		/* In this order: a worker seen unfinished by workers_progress
		 * will wake us; one seen finished gives room to can_submit. */
		if (stuck_on_raw(p) && !rp__can_submit(p, len))
			return -EAGAIN;	/* only collecting can make room now */
		if (flags & RP_NONBLOCK) {
			rp__flush_all(p);
			return -EAGAIN;
		}
		rp__wait(p, can_progress, &len, 0);
	}
}

/* The checks every submission makes before reserving. */
static inline int submit_check(struct rp_pool *p)
{
	if (rp_unlikely(p->closed))
		return -ESHUTDOWN;
	if (rp_unlikely(p->in_cb))
		return -EDEADLK;
	if (rp_unlikely(p->disp.resv_worker >= 0))
		return -EBUSY;
	return 0;
}

int rp_reserve(struct rp_pool *p, rp_task_fn fn, size_t len, unsigned flags, void **buf)
{
	int err;

	RP_POOL_CHECK(p);
	if (!buf)
		return -EINVAL;
	err = submit_check(p);
	return err ? err : reserve_waiting(p, fn, len, flags, buf);
}

int rp_commit(struct rp_pool *p, size_t len, uint64_t user_data, uint64_t *seq)
{
	RP_POOL_CHECK(p);
	if (p->disp.resv_worker < 0)
		return -EINVAL;
	if (len > p->disp.resv_len)
		return -EMSGSIZE;
	rp__commit(p, len, NULL, user_data, 1, seq);
	return 0;
}

int rp_abort(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	if (p->disp.resv_worker < 0)
		return -EINVAL;
	rp__abort(p);
	return 0;
}

int rp_submit(struct rp_pool *p, rp_task_fn fn, const void *data, size_t len, unsigned flags,
	      uint64_t user_data, uint64_t *seq)
{
	void *buf;
	int err;

	RP_POOL_CHECK(p);
	if (len && !data)
		return -EINVAL;
	err = submit_check(p);
	if (rp_unlikely(err))
		return err;
	err = reserve_waiting(p, fn, len, flags, &buf);
	if (rp_unlikely(err))
		return err;
	if (len)
		memcpy(buf, data, len);
	rp__commit(p, len, NULL, user_data, 1, seq);
	return 0;
}

int rp_flush(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	rp__flush_all(p);
	return 0;
}

/* Window slots free now. */
static inline uint64_t window_room(const struct rp_pool *p)
{
	return p->win.mask + 1 - (p->win.submit_seq - p->win.next_seq);
}

/* Fill workers' rings in runs with tasks [done, n). Returns the new done. */
static unsigned burst_runs(struct rp_pool *p, uint32_t tag, const unsigned char *in, size_t len,
			   unsigned done, unsigned n, uint64_t ud, bool ignore_limit)
{
	bool progress = true;

	while (done < n && progress) {
		progress = false;
		for (unsigned k = 0; k < p->procs.nw && done < n; k++) {
			unsigned i = (p->disp.cursor + k) % p->procs.nw;
			uint64_t want = n - done, room = rp__room(&p->procs.w[i], len, ignore_limit);
			unsigned got;

			if (want > window_room(p))
				want = window_room(p);
			if (room < want)
				want = room;
			if (!want)
				continue;
			got = rp__commit_run(p, i, tag, in + (size_t)done * len, len, (unsigned)want,
					     ud + done);
			done += got;
			progress |= got > 0;
		}
	}
	return done;
}

/* RP_BULK: can all n go now? 1 yes, 0 not now, -EMSGSIZE never at once. */
static int bulk_fits(struct rp_pool *p, size_t len, unsigned n)
{
	uint64_t room = 0, ever = 0, rec = RP_REC_SIZE(len);

	if (n > p->win.mask + 1)
		return -EMSGSIZE;
	for (unsigned i = 0; i < p->procs.nw; i++) {
		if (p->procs.w[i].dead)
			continue;
		room += rp__room(&p->procs.w[i], len, true);
		ever += p->procs.w[i].tasks.cap / rec - 1;
	}
	if (ever < n)
		return -EMSGSIZE;
	return room >= n && window_room(p) >= n;
}

static bool bulk_can_progress(struct rp_pool *p, void *arg)
{
	const unsigned *need = arg;

	return p->procs.alive == 0 || rp__owned_ready(p) || bulk_fits(p, need[0], need[1]) != 0 ||
	       stuck_on_raw(p);
}

/* RP_BULK: wait (unless RP_NONBLOCK) until all n fit. 0, or -errno. */
static int bulk_wait(struct rp_pool *p, size_t len, unsigned n, unsigned flags)
{
	unsigned need[2] = { (unsigned)len, n };
	int r;

	for (;;) {
		if (p->procs.alive == 0)
			return -ECHILD;
		r = bulk_fits(p, len, n);
		if (r)
			return r < 0 ? r : 0;
		rp__pump(p);
		if (flags & RP_NONBLOCK ||
		    (stuck_on_raw(p) && bulk_fits(p, len, n) == 0)) {
			rp__flush_all(p);
			return -EAGAIN;	/* only collecting can make room now */
		}
		rp__wait(p, bulk_can_progress, need, 0);
	}
}

/* The inline pool: one at a time (each runs at commit anyway). */
static int burst_inline(struct rp_pool *p, rp_task_fn fn, const unsigned char *in, size_t len,
			unsigned n, unsigned flags, uint64_t ud, uint64_t *seq)
{
	unsigned done = 0;

	if ((flags & RP_BULK) && n > window_room(p))
		return n > p->win.mask + 1 ? -EMSGSIZE : -EAGAIN;
	while (done < n) {
		int err = rp_submit(p, fn, in + (size_t)done * len, len, flags, ud + done,
				    done ? NULL : seq);

		if (err)
			return done ? (int)done : err;
		done++;
	}
	return (int)done;
}

/* RP_BULK: wait until all n fit, then put them in rings regardless of the
 * workers' adaptive limits (the window and the rings bound them). */
static int burst_bulk(struct rp_pool *p, uint32_t tag, const unsigned char *in, size_t len,
		      unsigned n, unsigned flags, uint64_t ud, uint64_t *first)
{
	int err = bulk_wait(p, len, n, flags);
	unsigned done;

	if (err)
		return err;
	*first = p->win.submit_seq;
	done = burst_runs(p, tag, in, len, 0, n, ud, true);
	return (int)done;	/* n: it fitted, and nothing ran in between */
}

int rp_submit_burst(struct rp_pool *p, rp_task_fn fn, const void *in, size_t len, unsigned n,
		    unsigned flags, uint64_t user_data, uint64_t *seq)
{
	uint64_t first = 0;
	uint32_t tag;
	int err, done;
	void *buf;

	RP_POOL_CHECK(p);
	if ((len && !in) || n > INT32_MAX)
		return -EINVAL;
	if ((err = submit_check(p)))
		return err;
	if (!n)
		return 0;
	if (p->inl.on)
		return burst_inline(p, fn, in, len, n, flags, user_data, seq);
	if (flags & RP_BULK) {
		if ((err = rp__fn_index(p, fn ? fn : p->cfg.fn, &tag)))
			return err;
		if (len > p->disp.max_payload)
			return -EMSGSIZE;
		done = burst_bulk(p, tag, in, len, n, flags, user_data, &first);
	} else {
		/* The first task as rp_submit does it (waiting, checks, errors). */
		err = reserve_waiting(p, fn, len, flags, &buf);
		if (err)
			return err;
		if (len)
			memcpy(buf, in, len);
		tag = p->disp.resv_tag;
		rp__commit(p, len, NULL, user_data, 1, &first);
		done = (int)burst_runs(p, tag, in, len, 1, n, user_data, false);
	}
	if (done < 0)
		return done;
	rp__flush_all(p);
	if (seq)
		*seq = first;
	return done;
}
