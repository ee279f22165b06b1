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

/* Room for a new task somewhere, or something to collect. */
static bool can_progress(struct rp_pool *p, void *arg)
{
	size_t len = *(const size_t *)arg;

	return p->procs.alive == 0 || rp__raw_ready(p, true) || rp__owned_ready(p) ||
	       rp__can_submit(p, len);
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
		if (rp__raw_ready(p, true) || rp__owned_ready(p))
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
