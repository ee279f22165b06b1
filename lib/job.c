/* SPDX-License-Identifier: MIT */
/*
 * Map jobs (rp_map, rp_map_async) and streams (rp_imap).
 *
 * A job feeds its input array into the pool as room appears (from the pump,
 * inside any ringpool call), optionally several tasks per record (a chunk),
 * and writes each result at its index as it arrives, so it needs no reorder
 * buffer of its own. rp_imap runs on the caller's own result stream instead
 * (rp_submit/rp_next), so results reach its sink in place, zero-copy, in
 * input order when asked.
 */
#include "rp_internal.h"
#include "rp_clock.h"

#include <stdlib.h>
#include <string.h>

#define AUTO_CHUNK_NS	20000u	/* aim for this much work per chunk */

struct rp_job {
	struct rp_pool *pool;		/* NULL once the pool is gone */
	struct rp_job *next;		/* active list (has input left to feed) */
	rp_task_fn fn;
	const unsigned char *in;
	unsigned char *out;
	size_t in_size, out_size, n;
	size_t next_in;			/* next index to submit */
	size_t done;			/* tasks finished */
	size_t first_bad;		/* lowest failed index */
	int first_err;
	int stop_err;			/* submission failed: the rest fail with this */
	unsigned chunk;			/* RP_CHUNK_AUTO or fixed */
	rp_job_cb cb;
	void *cb_arg;
	bool active, finished, freed;
};

static void job_unlink(struct rp_pool *p, struct rp_job *j)
{
	struct rp_job **pp;

	for (pp = &p->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	j->next = NULL;
	j->active = false;
}

static void task_done(struct rp_job *j, size_t i, int status)
{
	if (status && i < j->first_bad) {
		j->first_bad = i;
		j->first_err = status;
	}
	j->done++;
}

static void maybe_finish(struct rp_pool *p, struct rp_job *j)
{
	if (j->finished || j->done < j->n)
		return;
	j->finished = true;
	if (j->active)
		job_unlink(p, j);
	if (j->cb) {
		p->in_cb++;
		j->cb(j, j->first_err, j->cb_arg);
		p->in_cb--;
	}
	if (j->freed)
		free(j);
}

static void put_result(struct rp_job *j, size_t i, const void *data, size_t len, int status)
{
	unsigned char *dst;
	size_t c;

	if (!status && len > j->out_size)
		status = RP_EMSGSIZE;
	if (j->out_size) {
		dst = j->out + i * j->out_size;
		c = status ? 0 : len;
		if (c)
			memcpy(dst, data, c);
		memset(dst + c, 0, j->out_size - c);
	}
	task_done(j, i, status);
}

struct job_put {
	struct rp_job *j;
	uint64_t index;
};

static int job_put_one(void *arg, uint32_t k, const void *data, uint32_t len, int status,
		       unsigned flags)
{
	struct job_put *jp = arg;

	(void)flags;
	put_result(jp->j, jp->index + k, data, len, status);
	return 0;
}

void rp__job_deliver(struct rp_pool *p, struct rp_job *j, struct rp_slot *s,
		     const struct rp_result *res)
{
	if (s->count == 1) {
		put_result(j, s->index, res->data, res->len, res->status);
	} else {
		struct job_put jp = { j, s->index };

		rp__chunk_each(res, s->count, j->out_size, job_put_one, &jp);
	}
	maybe_finish(p, j);
}

/* Tasks per record for the next submission: the configured chunk, or
 * with RP_CHUNK_AUTO about AUTO_CHUNK_NS of measured work (single tasks
 * until the pool has measured some), as many as fit one record. */
static uint32_t chunk_size(struct rp_pool *p, struct rp_job *j)
{
	uint64_t k = j->chunk, left = j->n - j->next_in;

	if (k == RP_CHUNK_AUTO)
		k = !p->task_ewma_ns || p->completed < 64 ? 1 : AUTO_CHUNK_NS / p->task_ewma_ns + 1;
	if (k > left)
		k = left;
	if (k <= 1)
		return 1;
	return rp__chunk_fit(p->max_payload, j->in_size, j->out_size,
			     k > RP_CHUNK_MAX ? RP_CHUNK_MAX : (uint32_t)k);
}

/* Submit one record (one task or a chunk). Returns 0, -EAGAIN, or an error. */
static int feed_one(struct rp_pool *p, struct rp_job *j)
{
	uint32_t k = chunk_size(p, j);
	size_t len = k == 1 ? j->in_size : rp__chunk_in_size(k, j->in_size);
	unsigned char *buf;
	int err;

	err = rp__reserve(p, j->fn, len, RP_NONBLOCK, (void **)&buf, k == 1 ? 0 : RP_TAG_CHUNK);
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
	p->own_kind = RP_OWN_JOB;
	p->own_ptr = j;
	p->own_index = j->next_in;
	p->own_count = (uint16_t)k;
	j->next_in += k;
	rp__commit(p, len, NULL);
	p->own_kind = RP_OWN_RAW;
	p->own_ptr = NULL;
	p->own_count = 1;
	return 0;
}

/* Called by the pump: feed every active job while there is room. */
bool rp__jobs_feed(struct rp_pool *p)
{
	struct rp_job *j, *nx;
	bool any = false;

	for (j = p->jobs; j; j = nx) {
		nx = j->next;
		while (j->next_in < j->n) {
			int err = feed_one(p, j);

			if (err == -EAGAIN)
				return any;
			if (err) {
				/* No worker left, or closed: the rest fail. */
				while (j->next_in < j->n)
					task_done(j, j->next_in++, err);
			}
			any = true;
		}
		job_unlink(p, j);
		maybe_finish(p, j);
	}
	return any;
}

/* Stop feeding every job: the tasks not yet submitted fail with status. */
void rp__jobs_cancel(struct rp_pool *p, int status)
{
	while (p->jobs) {
		struct rp_job *j = p->jobs;

		job_unlink(p, j);
		while (j->next_in < j->n)
			task_done(j, j->next_in++, status);
		maybe_finish(p, j);
	}
}

int rp_map_async(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
		 size_t out_size, size_t n, const struct rp_map_opts *opts, rp_job_cb cb,
		 void *cb_arg, struct rp_job **out_job)
{
	struct rp_job *j;

	RP_POOL_CHECK(p);
	if (!fn || !out_job || (n && (!in || (!out && out_size))))
		return -EINVAL;
	*out_job = NULL;
	if (p->closed)
		return -ESHUTDOWN;
	if (p->in_cb)
		return -EDEADLK;
	if (p->raw_out || p->resv_worker >= 0)
		return -EBUSY;
	if (in_size > p->max_payload || out_size > p->max_payload)
		return -EMSGSIZE;
	if (opts && opts->chunk > RP_CHUNK_MAX)
		return -EINVAL;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->pool = p;
	j->fn = fn;
	j->in = in;
	j->out = out;
	j->in_size = in_size;
	j->out_size = out_size;
	j->n = n;
	j->first_bad = SIZE_MAX;
	j->chunk = opts ? opts->chunk : 1;
	j->cb = cb;
	j->cb_arg = cb_arg;
	j->active = true;
	j->next = p->jobs;
	p->jobs = j;
	*out_job = j;
	rp__pump(p);
	if (!j->finished && n == 0)
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
	if (!j->finished && j->pool && rp__foreign(j->pool))
		return -EPERM;
	if (!j->finished) {
		if (!j->pool)
			return -ESHUTDOWN;
		err = rp__wait_owned(j->pool, job_done, j, timeout_ns);
		if (err)
			return err;
	}
	return j->first_err;
}

int rp_job_poll(struct rp_job *j)
{
	if (!j)
		return -EINVAL;
	if (!j->finished && j->pool && rp__foreign(j->pool))
		return -EPERM;
	/* A poll loop never waits: publish what is pending, or nothing moves. */
	if (!j->finished && j->pool && !j->pool->in_cb) {
		rp__pump(j->pool);
		rp__flush_all(j->pool);
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
	/* A finished job never touches its pool (which may be gone). */
	if (!j || (!j->finished && j->pool && rp__foreign(j->pool)))
		return;
	if (!j->finished && j->pool) {
		struct rp_pool *p = j->pool;

		/* Stop feeding; wait for what is in flight (bounded: workers
		 * are liveness-checked), then free. */
		if (j->active)
			job_unlink(p, j);
		while (j->next_in < j->n)
			task_done(j, j->next_in++, RP_ECANCELED);
		if (p->in_cb || rp__wait_owned(p, job_done, j, 0)) {
			j->freed = true;	/* freed when the last result lands */
			return;
		}
	}
	free(j);
}

/* The pool is going away. */
void rp__job_detach(struct rp_pool *p, struct rp_job *j)
{
	(void)p;
	if (j->freed) {
		free(j);
		return;
	}
	j->pool = NULL;
	j->active = false;
	j->next = NULL;
	if (!j->finished) {
		if (!j->first_err)
			j->first_err = RP_ECANCELED;
		j->finished = true;
	}
}

int rp_map_ex(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
	      size_t out_size, size_t n, const struct rp_map_opts *opts)
{
	struct rp_job *j;
	int err = rp_map_async(p, fn, in, in_size, out, out_size, n, opts, NULL, NULL, &j);

	if (err)
		return err;
	err = rp_job_wait(j, 0);
	rp_job_free(j);
	return err;
}

int rp_map(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size, void *out,
	   size_t out_size, size_t n)
{
	return rp_map_ex(p, fn, in, in_size, out, out_size, n, NULL);
}

/* The pool is going away: detach every job still feeding. */
void rp__jobs_detach_all(struct rp_pool *p)
{
	while (p->jobs) {
		struct rp_job *j = p->jobs;

		p->jobs = j->next;
		rp__job_detach(p, j);
	}
}

/* ---- rp_imap ---- */

/* The caller's source and sink run as callbacks: nested calls that wait or
 * submit get -EDEADLK (see the header's threads and callbacks rules). */
static ssize_t call_src(struct rp_pool *p, rp_source_fn src, void *arg, void *buf, size_t cap)
{
	ssize_t n;

	p->in_cb++;
	n = src(arg, buf, cap);
	p->in_cb--;
	return n;
}

static int call_sink(struct rp_pool *p, rp_sink_fn sink, void *arg, const struct rp_result *r)
{
	int err;

	p->in_cb++;
	err = sink(arg, r);
	p->in_cb--;
	return err;
}

struct imap_meta {
	uint64_t index;		/* stream index of the record's first task */
	uint32_t count;		/* tasks in the record */
	bool chunk;		/* a chunk record (its result is one too), even of 1 */
};

/*
 * Pull up to k inputs from the source into one chunk record at buf. Returns
 * the number pulled (0 at once if the source ended), the record length in
 * *len; *src_err gets RP_EOF or the source's error.
 */
static uint32_t fill_chunk(struct rp_pool *p, unsigned char *buf, size_t *len, uint32_t k,
			   size_t max_input, uint32_t out_cap, rp_source_fn src, void *arg,
			   ssize_t *src_err)
{
	struct rp_chunk_enc e;

	rp__chunk_begin(&e, buf, k, out_cap);
	while (e.count < k) {
		ssize_t n = call_src(p, src, arg, rp__chunk_space(&e), max_input);

		if (n < 0 || (size_t)n > max_input) {
			*src_err = n < 0 ? n : -EMSGSIZE;
			break;
		}
		rp__chunk_commit(&e, (size_t)n);
	}
	*len = rp__chunk_end(&e);
	return e.count;
}

struct imap_sink {
	struct rp_pool *p;
	struct rp_result r;
	uint64_t index;
	rp_sink_fn sink;
	void *arg;
};

static int imap_sink_one(void *arg, uint32_t k, const void *data, uint32_t len, int status,
			 unsigned flags)
{
	struct imap_sink *is = arg;

	is->r.seq = is->index + k;
	is->r.data = data;
	is->r.len = len;
	is->r.status = status;
	is->r.flags = flags;
	return call_sink(is->p, is->sink, is->arg, &is->r);
}

static int sink_chunk(struct rp_pool *p, const struct rp_result *res, const struct imap_meta *m,
		      size_t out_cap, rp_sink_fn sink, void *arg)
{
	struct imap_sink is = { .p = p, .r = *res, .index = m->index, .sink = sink, .arg = arg };

	return rp__chunk_each(res, m->count, out_cap, imap_sink_one, &is);
}

int rp_imap(struct rp_pool *p, rp_task_fn fn, rp_source_fn src, void *src_arg, rp_sink_fn sink,
	    void *sink_arg, const struct rp_imap_opts *opts)
{
	size_t max_input = opts && opts->max_input ? opts->max_input : 4096;
	size_t max_result = opts && opts->max_result ? opts->max_result : 4096;
	unsigned chunk = opts ? opts->chunk : 1;
	bool unordered = opts && (opts->flags & RP_UNORDERED);
	uint64_t limit, index = 0;
	struct imap_meta *meta;
	bool eof = false, sink_failed = false;
	int err = 0;

	RP_POOL_CHECK(p);
	if (!fn || !src || !sink)
		return -EINVAL;
	if (p->in_cb)
		return -EDEADLK;
	if (p->closed)
		return -ESHUTDOWN;
	if (p->raw_out || p->resv_worker >= 0)
		return -EBUSY;
	if (chunk > RP_CHUNK_MAX || max_input > p->max_payload)
		return -EINVAL;
	limit = p->mask + 1;
	if (opts && opts->max_in_flight && opts->max_in_flight < limit)
		limit = opts->max_in_flight;
	meta = malloc((p->mask + 1) * sizeof(*meta));
	if (!meta)
		return -ENOMEM;

	for (;;) {
		struct rp_result res;
		bool fed = false;
		int r;

		/* Feed while there is room, the source has more, and no error. */
		while (!eof && !err && p->raw_out < limit) {
			unsigned char *buf;
			uint64_t seq;
			size_t len;
			uint32_t k = chunk == 1 ? 1 : chunk, got;

			if (chunk == RP_CHUNK_AUTO)
				k = !p->task_ewma_ns || p->completed < 64
					    ? 1
					    : (uint32_t)(AUTO_CHUNK_NS / p->task_ewma_ns + 1);
			if (k > 1)
				k = rp__chunk_fit(p->max_payload, max_input, max_result,
						  k > RP_CHUNK_MAX ? RP_CHUNK_MAX : k);
			if (k == 1) {
				ssize_t n;

				r = rp__reserve(p, fn, max_input, RP_NONBLOCK, (void **)&buf, 0);
				if (r == -EAGAIN)
					break;
				if (r) {
					err = r;
					break;
				}
				n = call_src(p, src, src_arg, buf, max_input);
				if (n < 0 || (size_t)n > max_input) {
					rp_abort(p);
					if (n == RP_EOF)
						eof = true;
					else
						err = n < 0 ? (int)n : -EMSGSIZE;
					break;
				}
				rp__commit(p, (size_t)n, &seq);
				meta[seq & p->mask] = (struct imap_meta){ index++, 1, false };
			} else {
				ssize_t serr = 0;
				size_t cap = rp__chunk_in_size(k, max_input);

				r = rp__reserve(p, fn, cap, RP_NONBLOCK, (void **)&buf, RP_TAG_CHUNK);
				if (r == -EAGAIN)
					break;
				if (r) {
					err = r;
					break;
				}
				got = fill_chunk(p, buf, &len, k, max_input, (uint32_t)max_result, src,
						 src_arg, &serr);
				if (serr == RP_EOF)
					eof = true;
				else if (serr)
					err = (int)serr;
				if (!got) {
					rp_abort(p);
					break;
				}
				p->own_count = (uint16_t)got;
				rp__commit(p, len, &seq);
				p->own_count = 1;
				meta[seq & p->mask] = (struct imap_meta){ index, got, true };
				index += got;
			}
			fed = true;
		}
		if (p->raw_out == 0)
			break;
		/* Collect: without waiting while we could still feed. */
		r = rp_next(p, &res,
			    (unordered ? RP_UNORDERED : RP_ORDERED) |
				    (fed && !eof && !err && p->raw_out < limit ? RP_NONBLOCK : 0));
		while (r == 0) {
			struct imap_meta m = meta[res.seq & p->mask];
			int serr = 0;

			if (!sink_failed) {
				if (!m.chunk) {
					struct rp_result r1 = res;

					r1.seq = m.index;
					serr = call_sink(p, sink, sink_arg, &r1);
				} else {
					serr = sink_chunk(p, &res, &m, max_result, sink, sink_arg);
				}
				if (serr) {
					sink_failed = true;
					err = serr;
				}
			}
			rp_release(p, &res);
			r = rp_next(p, &res, (unordered ? RP_UNORDERED : RP_ORDERED) | RP_NONBLOCK);
		}
		if (r != -EAGAIN && r != -ENODATA) {
			err = err ? err : r;
			break;
		}
	}
	free(meta);
	return err;
}
