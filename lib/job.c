/* SPDX-License-Identifier: MIT */
/*
 * Map jobs (rp_map, rp_map_ex, rp_map_async). A job is an owner and a
 * feeder: it feeds its input array into the pool as room appears (from the
 * pump, inside any ringpool call), optionally several tasks per record (a
 * chunk), and writes each result at its index as it arrives, so it needs no
 * reorder buffer of its own.
 */
#include "owner.h"
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

struct rp_job {
	struct rp_owner own;		/* first: the pool sees these two */
	struct rp_feeder feeder;
	struct rp_pool *pool;		/* NULL once finished or the pool is gone */
	rp_task_fn fn;
	const unsigned char *in;
	unsigned char *out;
	size_t in_size, out_size, n;
	size_t next_in;			/* next index to submit */
	size_t done;			/* tasks finished */
	struct rp_map_report rep;	/* failures so far */
	unsigned chunk;			/* RP_CHUNK_AUTO or fixed */
	rp_job_cb cb;
	void *cb_arg;
	bool finished, freed;
};

static struct rp_job *job_of_feeder(struct rp_feeder *f)
{
	return (struct rp_job *)((unsigned char *)f - offsetof(struct rp_job, feeder));
}

/* Task i finished with outcome oc (the pool's status alone: oc NULL). */
static void task_done(struct rp_job *j, size_t i, int status, const struct rp_outcome *oc)
{
	if (status) {
		j->rep.failed++;
		if (i < j->rep.first_failed || j->rep.first_failed == SIZE_MAX) {
			j->rep.first_failed = i;
			if (oc)
				j->rep.first = *oc;
			else
				j->rep.first = (struct rp_outcome){ .status = status,
								    .flags = RP_RES_POOL,
								    .term_exit = -1 };
		}
	}
	j->done++;
}

/* Every task has finished: unbind, call back, free if the caller let go. */
static void maybe_finish(struct rp_pool *p, struct rp_job *j)
{
	if (j->finished || j->done < j->n)
		return;
	j->finished = true;
	rp__feeder_remove(p, &j->feeder);
	rp__owner_unbind(p, &j->own);
	j->pool = NULL;
	if (j->cb) {
		p->in_cb++;
		j->cb(j, j->cb_arg);
		p->in_cb--;
	}
	if (j->freed)
		free(j);
}

static void put_result(struct rp_job *j, size_t i, const void *data, size_t len,
		       const struct rp_outcome *oc)
{
	struct rp_outcome o = *oc;
	int status = o.status;

	if (!status && len > j->out_size) {
		status = o.status = RP_EMSGSIZE;
		o.flags = RP_RES_POOL;
	}
	if (j->out_size) {
		unsigned char *dst = j->out + i * j->out_size;
		size_t c = status ? 0 : len;

		if (c)
			memcpy(dst, data, c);
		memset(dst + c, 0, j->out_size - c);
	}
	task_done(j, i, status, &o);
}

struct job_put {
	struct rp_job *j;
	uint64_t index;
	struct rp_outcome oc;	/* the record's (worker, signal, mark) */
};

static int job_put_one(void *arg, uint32_t k, const void *data, uint32_t len, int status,
		       unsigned flags)
{
	struct job_put *jp = arg;
	struct rp_outcome o = jp->oc;

	o.status = status;
	o.flags = flags;
	put_result(jp->j, jp->index + k, data, len, &o);
	return 0;
}

static void j_deliver(struct rp_pool *p, struct rp_owner *o, const struct rp_slot *s,
		      const struct rp_result *res)
{
	struct rp_job *j = (struct rp_job *)o;
	struct rp_outcome oc = { .status = res->status, .flags = res->flags, .worker = res->worker,
				 .term_signal = res->term_signal, .term_exit = res->term_exit,
				 .mark = res->mark };

	if (s->count == 1) {
		put_result(j, s->index, res->data, res->len, &oc);
	} else {
		struct job_put jp = { j, s->index, oc };

		rp__chunk_each(res, s->count, j->out_size, job_put_one, &jp);
	}
	maybe_finish(p, j);
}

static void j_detach(struct rp_owner *o)
{
	struct rp_job *j = (struct rp_job *)o;

	if (j->freed) {
		free(j);
		return;
	}
	j->pool = NULL;
	if (!j->finished) {
		/* The tasks not yet finished are cancelled (which of them were
		 * in flight is not known here: the first unsubmitted one is
		 * named if no failure was before). */
		while (j->done < j->n)
			task_done(j, j->next_in, RP_ECANCELED, NULL);
		j->finished = true;
	}
}

static const struct rp_owner_ops job_ops = { .deliver = j_deliver, .detach = j_detach };

/* Tasks per record for the next submission: the configured chunk, or
 * with RP_CHUNK_AUTO rp__auto_chunk's, as many as fit one record. */
static uint32_t chunk_size(struct rp_pool *p, struct rp_job *j)
{
	uint64_t k = j->chunk, left = j->n - j->next_in;

	if (k == RP_CHUNK_AUTO)
		k = rp__auto_chunk(p);
	if (k > left)
		k = left;
	if (k <= 1)
		return 1;
	return rp__chunk_fit(p->disp.max_payload, j->in_size, j->out_size,
			     k > RP_CHUNK_MAX ? RP_CHUNK_MAX : (uint32_t)k);
}

/* Submit one record (one task or a chunk). Returns 0, -EAGAIN, or an error. */
static int feed_one(struct rp_pool *p, struct rp_job *j)
{
	uint32_t k = chunk_size(p, j);
	size_t len = k == 1 ? j->in_size : rp__chunk_in_size(k, j->in_size);
	unsigned char *buf;
	int err;

	err = rp__reserve(p, j->fn, len, k == 1 ? 0 : RP_TAG_CHUNK, (void **)&buf);
	if (err)
		return err;
	if (k == 1) {
		memcpy(buf, j->in + j->next_in * j->in_size, j->in_size);
	} else {
		struct rp_chunk_enc e;

		rp__chunk_begin(&e, buf, k, (uint32_t)j->out_size);
		for (uint32_t i = 0; i < k; i++) {
			memcpy(rp__chunk_space(&e), j->in + (j->next_in + i) * j->in_size,
			       j->in_size);
			rp__chunk_commit(&e, j->in_size);
		}
		len = rp__chunk_end(&e);
	}
	j->next_in += k;
	rp__commit(p, len, &j->own, j->next_in - k, (uint16_t)k, NULL);
	return 0;
}

/* The feeder: submit while there is room. */
static bool j_feed(struct rp_pool *p, struct rp_feeder *f)
{
	struct rp_job *j = job_of_feeder(f);
	bool any = false;

	while (j->next_in < j->n) {
		int err = feed_one(p, j);

		if (err == -EAGAIN || err == -EBUSY)
			return any;
		if (err)	/* no worker left, or terminated: the rest fail */
			while (j->next_in < j->n)
				task_done(j, j->next_in++, err, NULL);
		any = true;
	}
	rp__feeder_remove(p, f);
	maybe_finish(p, j);
	return any;
}

/* Stop feeding: the tasks not yet submitted fail with status. */
static void j_cancel(struct rp_pool *p, struct rp_feeder *f, int status)
{
	struct rp_job *j = job_of_feeder(f);

	while (j->next_in < j->n)
		task_done(j, j->next_in++, status, NULL);
	maybe_finish(p, j);
}

static int map_check(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size,
		     const void *out, size_t out_size, size_t n, const struct rp_map_opts *opts)
{
	if (!fn || (n && (!in || (!out && out_size))))
		return -EINVAL;
	if (p->closed)
		return -ESHUTDOWN;
	if (p->in_cb)
		return -EDEADLK;
	if (p->win.raw_out || p->disp.resv_worker >= 0)
		return -EBUSY;
	if (in_size > p->disp.max_payload || out_size > p->disp.max_payload)
		return -EMSGSIZE;
	if (opts && opts->chunk > RP_CHUNK_MAX && opts->chunk != RP_CHUNK_AUTO)
		return -EINVAL;
	return 0;
}

int rp_map_async(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
		 size_t out_size, size_t n, const struct rp_map_opts *opts, rp_job_cb cb,
		 void *cb_arg, struct rp_job **out_job)
{
	struct rp_job *j;
	int err;

	RP_POOL_CHECK(p);
	if (!out_job)
		return -EINVAL;
	*out_job = NULL;
	err = map_check(p, fn, in, in_size, out, out_size, n, opts);
	if (err)
		return err;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	*j = (struct rp_job){
		.own.ops = &job_ops, .feeder = { .feed = j_feed, .cancel = j_cancel },
		.pool = p, .fn = fn, .in = in, .out = out, .in_size = in_size,
		.out_size = out_size, .n = n, .rep.first_failed = SIZE_MAX,
		.chunk = opts && opts->chunk ? opts->chunk : 1, .cb = cb, .cb_arg = cb_arg,
	};
	rp__owner_bind(p, &j->own);
	rp__feeder_add(p, &j->feeder);
	*out_job = j;
	rp__pump(p);
	if (n == 0)
		maybe_finish(p, j);
	return 0;
}

static bool job_done(void *arg)
{
	return ((struct rp_job *)arg)->finished;
}

int rp_job_wait(struct rp_job *j, uint64_t timeout_ns)
{
	int err;

	if (!j)
		return -EINVAL;
	if (!j->finished) {
		if (!j->pool)
			return -ESHUTDOWN;
		if (rp__foreign(j->pool))
			return -EPERM;
		err = rp__wait_owned(j->pool, job_done, j, timeout_ns);
		if (err)
			return err;
	}
	return j->rep.failed > INT32_MAX ? INT32_MAX : (int)j->rep.failed;
}

int rp_job_report(const struct rp_job *j, struct rp_map_report *rep)
{
	if (!j || !rep)
		return -EINVAL;
	if (!j->finished)
		return -EAGAIN;
	*rep = j->rep;
	return 0;
}

int rp_job_poll(struct rp_job *j)
{
	struct rp_pool *p;

	if (!j)
		return -EINVAL;
	p = j->pool;
	if (!j->finished && p && rp__foreign(p))
		return -EPERM;
	/* A poll loop never waits: publish what is pending, or nothing moves. */
	if (!j->finished && p && !p->in_cb) {
		rp__pump(p);
		rp__flush_all(p);
	}
	return j->finished;
}

size_t rp_job_done(const struct rp_job *j)
{
	return j ? j->done : 0;
}

size_t rp_job_total(const struct rp_job *j)
{
	return j ? j->n : 0;
}

void rp_job_free(struct rp_job *j)
{
	struct rp_pool *p;

	if (!j)
		return;
	p = j->pool;
	if (!j->finished && p) {
		if (rp__foreign(p))
			return;	/* a forked child leaves the owner's jobs alone */
		/* Stop feeding; wait for what is in flight (bounded: workers
		 * are liveness-checked), then free. */
		rp__feeder_remove(p, &j->feeder);
		j_cancel(p, &j->feeder, RP_ECANCELED);
		if (!j->finished && (p->in_cb || rp__wait_owned(p, job_done, j, 0))) {
			j->freed = true;	/* freed when the last result lands */
			return;
		}
	}
	free(j);
}

int rp_map_ex(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
	      size_t out_size, size_t n, const struct rp_map_opts *opts, struct rp_map_report *rep)
{
	struct rp_job *j;
	int err = rp_map_async(p, fn, in, in_size, out, out_size, n, opts, NULL, NULL, &j);

	if (err)
		return err;
	err = rp_job_wait(j, 0);
	if (err >= 0 && rep)
		rp_job_report(j, rep);
	rp_job_free(j);
	return err;
}

int rp_map(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
	   size_t out_size, size_t n)
{
	return rp_map_ex(p, fn, in, in_size, out, out_size, n, NULL, NULL);
}
