/* SPDX-License-Identifier: MIT */
/*
 * apply / apply_async: one task, one future. A future's input goes straight
 * into a task ring when there is room; otherwise it is copied into a FIFO
 * that the pump drains as room appears (the queue is one feeder), so any
 * number of futures can be outstanding. Results are copied out of the ring
 * into the future (a future may be read long after, in any order), and the
 * ring space is freed at once. A future is bound to its pool until it is
 * done; a done future never touches the pool again.
 */
#include "owner.h"
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

enum { F_QUEUED, F_DISPATCHED, F_DONE };

struct rp_future {
	struct rp_owner own;		/* first: the pool sees this */
	struct rp_pool *pool;		/* NULL once done or the pool is gone */
	struct rp_future *next;		/* queue link while F_QUEUED */
	rp_task_fn fn;
	void *in;			/* F_QUEUED: a copy of the input */
	size_t in_len;
	void *out;			/* F_DONE: the result (malloc'd), or NULL */
	size_t out_len;
	struct rp_outcome oc;		/* F_DONE: what the task did */
	uint8_t state;
	bool freed;			/* the caller let go while dispatched */
};

/* Done with a status the pool decided (cancelled, no worker, no memory). */
static void complete(struct rp_future *f, int status)
{
	f->oc = (struct rp_outcome){ .status = status, .flags = status ? RP_RES_POOL : 0,
				     .term_exit = -1 };
	f->state = F_DONE;
	if (f->pool)
		rp__owner_unbind(f->pool, &f->own);
	f->pool = NULL;
}

static void f_deliver(struct rp_pool *p, struct rp_owner *o, const struct rp_slot *s,
		      const struct rp_result *res)
{
	struct rp_future *f = (struct rp_future *)o;

	(void)p;
	(void)s;
	if (f->freed) {
		rp__owner_unbind(f->pool, &f->own);
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
	complete(f, 0);
	f->oc = (struct rp_outcome){
		.status = res->status, .flags = res->flags, .worker = res->worker,
		.term_signal = res->term_signal, .term_exit = res->term_exit, .mark = res->mark,
	};
}

static void f_detach(struct rp_owner *o)
{
	struct rp_future *f = (struct rp_future *)o;

	f->pool = NULL;
	f->next = NULL;
	free(f->in);
	f->in = NULL;
	if (f->freed) {
		free(f);
		return;
	}
	if (f->state != F_DONE)
		complete(f, RP_ECANCELED);
}

static const struct rp_owner_ops future_ops = { .deliver = f_deliver, .detach = f_detach };

/* Submit f now if there is room. Returns 0, -EAGAIN (no room), or an error. */
static int dispatch(struct rp_pool *p, struct rp_future *f, const void *in, size_t len)
{
	void *buf;
	int err = rp__reserve(p, f->fn, len, 0, &buf);

	if (err)
		return err;
	if (len)
		memcpy(buf, in, len);
	f->state = F_DISPATCHED;
	rp__commit(p, len, &f->own, 0, 1, NULL);
	return 0;
}

/* The feeder: submit queued futures while there is room. */
static bool q_feed(struct rp_pool *p, struct rp_feeder *fd)
{
	struct rp_futq *q = (struct rp_futq *)fd;
	bool any = false;

	while (q->head) {
		struct rp_future *f = q->head;
		int err = dispatch(p, f, f->in, f->in_len);

		if (err == -EAGAIN || err == -EBUSY)
			break;
		q->head = f->next;
		if (!q->head)
			q->tail = NULL;
		f->next = NULL;
		free(f->in);
		f->in = NULL;
		if (err)	/* e.g. -ECHILD: no worker left, or -ESHUTDOWN */
			complete(f, err);
		any = true;
	}
	if (!q->head)
		rp__feeder_remove(p, fd);
	return any;
}

/* terminate: every queued future completes with status. */
static void q_cancel(struct rp_pool *p, struct rp_feeder *fd, int status)
{
	struct rp_futq *q = (struct rp_futq *)fd;

	(void)p;
	while (q->head) {
		struct rp_future *f = q->head;

		q->head = f->next;
		free(f->in);
		f->in = NULL;
		f->next = NULL;
		complete(f, status);
	}
	q->tail = NULL;
}

/* Set up the pool's queue (pool creation). */
void rp__futq_init(struct rp_pool *p)
{
	p->futq.feeder.feed = q_feed;
	p->futq.feeder.cancel = q_cancel;
}

/* Queue f (its input copied) behind the futures already waiting. */
static int enqueue(struct rp_pool *p, struct rp_future *f, const void *in, size_t len)
{
	struct rp_futq *q = &p->futq;

	f->in = malloc(len ? len : 1);
	if (!f->in)
		return -ENOMEM;
	if (len)
		memcpy(f->in, in, len);
	f->in_len = len;
	f->state = F_QUEUED;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	rp__feeder_add(p, &q->feeder);
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
	if (len > p->disp.max_payload)
		return -EMSGSIZE;
	if (!p->inl.on && p->procs.alive == 0)
		return -ECHILD;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->own.ops = &future_ops;
	f->pool = p;
	f->fn = fn ? fn : p->cfg.fn;
	rp__owner_bind(p, &f->own);
	err = p->futq.head ? -EAGAIN : dispatch(p, f, in, len);
	if (err == -EAGAIN)
		err = enqueue(p, f, in, len);
	if (err) {
		rp__owner_unbind(p, &f->own);
		free(f);
		return err;
	}
	*out = f;
	return 0;
}

/* The future's pool, when the caller may use it: NULL once the future is
 * done or the pool gone; -EPERM (through *err) from a forked child or a
 * task. */
static struct rp_pool *owner_pool(const struct rp_future *f, int *err)
{
	*err = 0;
	if (f->pool && rp__foreign(f->pool))
		*err = -EPERM;
	return *err ? NULL : f->pool;
}

static bool future_done(void *arg)
{
	return ((struct rp_future *)arg)->state == F_DONE;
}

int rp_future_wait(struct rp_future *f, uint64_t timeout_ns)
{
	struct rp_pool *p;
	int err;

	if (!f)
		return -EINVAL;
	p = owner_pool(f, &err);
	if (err)
		return err;
	if (f->state == F_DONE)
		return 0;
	if (!p)
		return -ESHUTDOWN;
	return rp__wait_owned(p, future_done, f, timeout_ns);
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

int rp_future_result(const struct rp_future *f, const void **data, size_t *len,
		     struct rp_outcome *oc)
{
	if (!f)
		return -EINVAL;
	if (f->state != F_DONE)
		return -EAGAIN;
	if (data)
		*data = f->out ? f->out : "";
	if (len)
		*len = f->out_len;
	if (oc)
		*oc = f->oc;
	return 0;
}

/* Take f out of its pool's queue. */
static void unqueue(struct rp_pool *p, struct rp_future *f)
{
	struct rp_futq *q = &p->futq;
	struct rp_future **pp, *t;

	for (pp = &q->head; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	for (t = q->head; t && t->next; t = t->next)
		;
	q->tail = t;
	if (!q->head)
		rp__feeder_remove(p, &q->feeder);
	f->next = NULL;
}

int rp_future_cancel(struct rp_future *f)
{
	struct rp_pool *p;
	int err;

	if (!f)
		return -EINVAL;
	p = owner_pool(f, &err);
	if (err)
		return err;
	if (f->state == F_DONE)
		return -EALREADY;
	if (f->state != F_QUEUED || !p)
		return -EBUSY;	/* handed to a worker: it completes normally */
	unqueue(p, f);
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

int rp_apply(struct rp_pool *p, rp_task_fn fn, const void *in, size_t len, void *out,
	     size_t out_cap, size_t *out_len, struct rp_outcome *oc)
{
	struct rp_future *f;
	struct rp_outcome o;
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
	rp_future_result(f, &data, &n, &o);
	if (n > out_cap && !o.status) {
		o.status = RP_EMSGSIZE;	/* the task's result did not fit */
		o.flags = RP_RES_POOL;
	}
	if (out_len)
		*out_len = n;
	if (n && out && !o.status)
		memcpy(out, data, n);
	if (oc)
		*oc = o;
	rp_future_free(f);
	return o.status != 0;
}
