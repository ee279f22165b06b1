/* SPDX-License-Identifier: MIT */
/*
 * apply / apply_async: one task, one future. A future's input goes straight
 * into a task ring when there is room; otherwise it is copied into a FIFO
 * that the pump drains as room appears, so any number of futures can be
 * outstanding. Results are copied out of the ring into the future (a future
 * may be read long after, in any order), and the ring space is freed at once.
 */
#include "rp_internal.h"

#include <stdlib.h>
#include <string.h>

enum { F_QUEUED, F_DISPATCHED, F_DONE };

struct rp_future {
	struct rp_pool *pool;		/* NULL once the pool is gone */
	struct rp_future *next;		/* queue link while F_QUEUED */
	rp_task_fn fn;
	void *in;			/* F_QUEUED: a copy of the input */
	size_t in_len;
	void *out;			/* F_DONE: the result (malloc'd), or NULL */
	size_t out_len;
	int status;
	uint8_t state;
	bool freed;			/* the caller let go while dispatched */
};

static void complete(struct rp_future *f, int status)
{
	f->status = status;
	f->state = F_DONE;
}

/* Submit f now if there is room. Returns 0, -EAGAIN (no room), or an error. */
static int dispatch(struct rp_pool *p, struct rp_future *f, const void *in, size_t len)
{
	void *buf;
	int err = rp__reserve(p, f->fn, len, RP_NONBLOCK, &buf, 0);

	if (err)
		return err;
	if (len)
		memcpy(buf, in, len);
	p->own_kind = RP_OWN_FUTURE;
	p->own_ptr = f;
	p->own_index = 0;
	p->own_count = 1;
	f->state = F_DISPATCHED;
	rp__commit(p, len, NULL);
	p->own_kind = RP_OWN_RAW;
	p->own_ptr = NULL;
	return 0;
}

int rp_apply_async(struct rp_pool *p, rp_task_fn fn, const void *in, size_t len,
		   struct rp_future **out)
{
	struct rp_future *f;
	int err;

	RP_POOL_CHECK(p);
	if (!out || (len && !in) || !(fn || p->cfg.fn))
		return -EINVAL;
	*out = NULL;
	if (p->closed)
		return -ESHUTDOWN;
	if (p->in_cb)
		return -EDEADLK;
	if (len > p->max_payload)
		return -EMSGSIZE;
	if (!p->inline_mode && p->alive == 0)
		return -ECHILD;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->pool = p;
	f->fn = fn ? fn : p->cfg.fn;
	err = p->fq_head ? -EAGAIN : dispatch(p, f, in, len);
	if (err == -EAGAIN) {
		f->in = malloc(len ? len : 1);
		if (!f->in) {
			free(f);
			return -ENOMEM;
		}
		if (len)
			memcpy(f->in, in, len);
		f->in_len = len;
		f->state = F_QUEUED;
		if (p->fq_tail)
			p->fq_tail->next = f;
		else
			p->fq_head = f;
		p->fq_tail = f;
	} else if (err) {
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

/* Called by the pump: submit queued futures while there is room. */
bool rp__futures_feed(struct rp_pool *p)
{
	bool any = false;

	while (p->fq_head) {
		struct rp_future *f = p->fq_head;
		int err = dispatch(p, f, f->in, f->in_len);

		if (err == -EAGAIN || err == -EBUSY)
			break;
		p->fq_head = f->next;
		if (!p->fq_head)
			p->fq_tail = NULL;
		f->next = NULL;
		free(f->in);
		f->in = NULL;
		if (err)	/* e.g. -ECHILD: no worker left, or -ESHUTDOWN */
			complete(f, err);
		any = true;
	}
	return any;
}

/* Fail every queued future (terminate, destroy). */
void rp__futures_cancel_all(struct rp_pool *p, int status)
{
	while (p->fq_head) {
		struct rp_future *f = p->fq_head;

		p->fq_head = f->next;
		free(f->in);
		f->in = NULL;
		f->next = NULL;
		complete(f, status);
	}
	p->fq_tail = NULL;
}

void rp__future_deliver(struct rp_pool *p, struct rp_future *f, const struct rp_result *res)
{
	(void)p;
	if (f->freed) {
		free(f);
		return;
	}
	if (res->len) {
		f->out = malloc(res->len);
		if (!f->out) {
			complete(f, -ENOMEM);
			return;
		}
		memcpy(f->out, res->data, res->len);
		f->out_len = res->len;
	}
	complete(f, res->status);
}

static bool future_done(void *arg)
{
	return ((struct rp_future *)arg)->state == F_DONE;
}

/* The future's pool, when the caller may use it: NULL once the pool is gone
 * or the future is done, and -EPERM (through *err) from a forked child or a
 * task. */
static struct rp_pool *owner_pool(const struct rp_future *f, int *err)
{
	*err = 0;
	/* A finished future never touches its pool (which may be gone). */
	if (f->state != F_DONE && f->pool && rp__foreign(f->pool))
		*err = -EPERM;
	return *err ? NULL : f->pool;
}

int rp_future_wait(struct rp_future *f, uint64_t timeout_ns)
{
	int err;

	if (!f)
		return -EINVAL;
	if (!owner_pool(f, &err) && err)
		return err;
	if (f->state == F_DONE)
		return 0;
	if (!f->pool)
		return -ESHUTDOWN;
	return rp__wait_owned(f->pool, future_done, f, timeout_ns);
}

int rp_future_test(struct rp_future *f)
{
	struct rp_pool *p;
	int err;

	if (!f)
		return -EINVAL;
	p = owner_pool(f, &err);
	if (err)
		return err;
	/* A poll loop never waits, so this call must publish what is
	 * pending, as a waiting call would, or nothing ever moves. */
	if (f->state != F_DONE && p && !p->in_cb) {
		rp__pump(p);
		rp__flush_all(p);
	}
	return f->state == F_DONE;
}

int rp_future_result(const struct rp_future *f, const void **data, size_t *len)
{
	if (!f)
		return -EINVAL;
	if (f->state != F_DONE)
		return -EAGAIN;
	if (data)
		*data = f->out ? f->out : "";
	if (len)
		*len = f->out_len;
	return f->status;
}

int rp_future_cancel(struct rp_future *f)
{
	struct rp_pool *p;
	struct rp_future **pp;
	int err;

	if (!f)
		return -EINVAL;
	if (!owner_pool(f, &err) && err)
		return err;
	if (f->state != F_QUEUED)
		return -ECANCELED;
	p = f->pool;
	for (pp = &p->fq_head; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	if (p->fq_tail == f) {
		struct rp_future *t = p->fq_head;

		while (t && t->next)
			t = t->next;
		p->fq_tail = t;
	}
	f->next = NULL;
	free(f->in);
	f->in = NULL;
	complete(f, RP_ECANCELED);
	return 0;
}

void rp_future_free(struct rp_future *f)
{
	int err;

	if (!f || (!owner_pool(f, &err) && err))
		return;	/* a forked child leaves the owner's futures alone */
	if (f->state == F_QUEUED)
		rp_future_cancel(f);
	if (f->state == F_DISPATCHED && f->pool) {
		f->freed = true;	/* freed on delivery */
		return;
	}
	free(f->out);
	free(f);
}

/* The pool is going away: finish every future it still knows. */
void rp__futures_detach(struct rp_pool *p, struct rp_future *f)
{
	(void)p;
	if (f->freed) {
		free(f);
		return;
	}
	f->pool = NULL;
	if (f->state != F_DONE)
		complete(f, RP_ECANCELED);
}

int rp_apply(struct rp_pool *p, rp_task_fn fn, const void *in, size_t len, void *out,
	     size_t out_cap, size_t *out_len)
{
	struct rp_future *f;
	const void *data;
	size_t n;
	int err = rp_apply_async(p, fn, in, len, &f);

	if (err)
		return err;
	err = rp_future_wait(f, 0);
	if (err) {
		rp_future_free(f);
		return err;
	}
	err = rp_future_result(f, &data, &n);
	if (out_len)
		*out_len = n;
	if (n > out_cap) {
		if (!err)
			err = RP_EMSGSIZE;
		n = out_cap;
	}
	if (n && out)
		memcpy(out, data, n);
	rp_future_free(f);
	return err;
}
