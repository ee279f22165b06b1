/* SPDX-License-Identifier: MIT */
/*
 * rp_imap: a source callback streamed through fn into a sink callback. It
 * runs on the caller's own result stream (rp__commit with no owner, rp_next,
 * rp_release), so results reach the sink in place, zero-copy, in input
 * order when asked; input is pulled only as room appears. The source and
 * the sink are callbacks: nested calls that wait or submit get -EDEADLK.
 */
#include "owner.h"
#include "collect.h"
#include "dispatch.h"
#include "wait.h"

#include <stdlib.h>
#include <string.h>

struct imap_meta {
	uint64_t index;		/* stream index of the record's first task */
	uint32_t count;		/* tasks in the record */
	bool chunk;		/* a chunk record (its result is one too), even of 1 */
};

struct imap {
	struct rp_pool *p;
	rp_task_fn fn;
	rp_source_fn src;
	void *src_arg;
	rp_sink_fn sink;
	void *sink_arg;
	size_t max_input, max_result;
	unsigned chunk;
	bool unordered;
	uint64_t limit;		/* records in flight at most */
	uint64_t index;		/* stream index of the next input */
	struct imap_meta *meta;	/* per slot */
	bool eof, sink_failed;
	int err;
};

static ssize_t call_src(struct imap *m, void *buf, size_t cap)
{
	ssize_t n;

	m->p->in_cb++;
	n = m->src(m->src_arg, buf, cap);
	m->p->in_cb--;
	return n;
}

static int call_sink(struct imap *m, const struct rp_result *r)
{
	int err;

	m->p->in_cb++;
	err = m->sink(m->sink_arg, r);
	m->p->in_cb--;
	return err;
}

/* The source's return for a record: its length, or the end (eof/err set). */
static bool src_ok(struct imap *m, ssize_t n)
{
	if (n >= 0 && (size_t)n <= m->max_input)
		return true;
	if (n == RP_EOF)
		m->eof = true;
	else
		m->err = n < 0 ? (int)n : -EMSGSIZE;
	return false;
}

/* Feed one plain record. Returns 1 if fed, 0 if not (no room, or the
 * source ended), or stops the stream with m->err. */
static int feed_plain(struct imap *m)
{
	struct rp_pool *p = m->p;
	unsigned char *buf;
	uint64_t seq;
	ssize_t n;
	int r = rp__reserve(p, m->fn, m->max_input, 0, (void **)&buf);

	if (r) {
		if (r != -EAGAIN)
			m->err = r;
		return 0;
	}
	n = call_src(m, buf, m->max_input);
	if (!src_ok(m, n)) {
		rp__abort(p);
		return 0;
	}
	rp__commit(p, (size_t)n, NULL, 0, 1, &seq);
	m->meta[seq & p->win.mask] = (struct imap_meta){ m->index++, 1, false };
	return 1;
}

/* Feed one chunk of up to k records. Same returns as feed_plain. */
static int feed_chunk(struct imap *m, uint32_t k)
{
	struct rp_pool *p = m->p;
	struct rp_chunk_enc e;
	unsigned char *buf;
	uint64_t seq;
	int r = rp__reserve(p, m->fn, rp__chunk_in_size(k, m->max_input), RP_TAG_CHUNK,
			    (void **)&buf);

	if (r) {
		if (r != -EAGAIN)
			m->err = r;
		return 0;
	}
	rp__chunk_begin(&e, buf, k, (uint32_t)m->max_result);
	while (e.count < k) {
		ssize_t n = call_src(m, rp__chunk_space(&e), m->max_input);

		if (!src_ok(m, n))
			break;
		rp__chunk_commit(&e, (size_t)n);
	}
	if (!e.count) {
		rp__abort(p);
		return 0;
	}
	rp__commit(p, rp__chunk_end(&e), NULL, 0, (uint16_t)e.count, &seq);
	m->meta[seq & p->win.mask] = (struct imap_meta){ m->index, e.count, true };
	m->index += e.count;
	return 1;
}

/* Tasks for the next record (chunking as configured, as many as fit). */
static uint32_t next_k(const struct imap *m)
{
	uint32_t k = m->chunk == RP_CHUNK_AUTO ? rp__auto_chunk(m->p) : m->chunk;

	if (k <= 1)
		return 1;
	return rp__chunk_fit(m->p->disp.max_payload, m->max_input, m->max_result,
			     k > RP_CHUNK_MAX ? RP_CHUNK_MAX : k);
}

/* Feed while there is room, the source has more, and no error. Returns
 * true if anything was fed. */
static bool feed(struct imap *m)
{
	bool fed = false;

	while (!m->eof && !m->err && m->p->win.raw_out < m->limit) {
		uint32_t k = next_k(m);

		if (!(k == 1 ? feed_plain(m) : feed_chunk(m, k)))
			break;
		fed = true;
	}
	return fed;
}

struct imap_sink {
	struct imap *m;
	struct rp_result r;
	uint64_t index;
};

static int sink_one(void *arg, uint32_t k, const void *data, uint32_t len, int status,
		    unsigned flags)
{
	struct imap_sink *is = arg;

	is->r.seq = is->index + k;
	is->r.data = data;
	is->r.len = len;
	is->r.status = status;
	is->r.flags = flags;
	return call_sink(is->m, &is->r);
}

/* Hand one collected record to the sink (each task of a chunk). */
static void deliver(struct imap *m, const struct rp_result *res)
{
	struct imap_meta mt = m->meta[res->seq & m->p->win.mask];
	int serr;

	if (m->sink_failed)
		return;
	if (!mt.chunk) {
		struct rp_result r1 = *res;

		r1.seq = mt.index;
		serr = call_sink(m, &r1);
	} else {
		struct imap_sink is = { .m = m, .r = *res, .index = mt.index };

		serr = rp__chunk_each(res, mt.count, m->max_result, sink_one, &is);
	}
	if (serr) {
		m->sink_failed = true;
		m->err = serr;
	}
}

static bool has_room(struct rp_pool *p, void *arg)
{
	const struct imap *m = arg;

	return rp__can_submit(p, m->max_input) || rp__owned_ready(p) || p->procs.alive == 0;
}

/* Nothing of ours in flight, yet nothing could be fed: others' tasks
 * (futures, jobs) fill the window or the rings. Wait for room. */
static int room(struct imap *m)
{
	struct rp_pool *p = m->p;

	rp__pump(p);
	if (!has_room(p, m))
		rp__wait(p, has_room, m, 0);
	return 0;
}

/* Collect what is ready (waiting only when nothing more can be fed).
 * Returns 0 to go on, 1 when every result is in, or an error. */
static int collect(struct imap *m, bool fed)
{
	struct rp_pool *p = m->p;
	unsigned order = m->unordered ? RP_UNORDERED : RP_ORDERED;
	bool can_feed = fed && !m->eof && !m->err && p->win.raw_out < m->limit;
	struct rp_result res;
	int r;

	if (p->win.raw_out == 0)
		return m->eof || m->err ? 1 : room(m);
	r = rp_next(p, &res, order | (can_feed ? RP_NONBLOCK : 0));
	while (r == 0) {
		deliver(m, &res);
		rp_release(p, &res);
		r = rp_next(p, &res, order | RP_NONBLOCK);
	}
	return r == -EAGAIN || r == -ENODATA ? 0 : r;
}

static int imap_check(struct rp_pool *p, rp_task_fn fn, rp_source_fn src, rp_sink_fn sink,
		      const struct rp_imap_opts *o)
{
	if (!fn || !src || !sink)
		return -EINVAL;
	if (p->in_cb)
		return -EDEADLK;
	if (p->closed)
		return -ESHUTDOWN;
	if (p->win.raw_out || p->disp.resv_worker >= 0)
		return -EBUSY;
	if (o && ((o->chunk > RP_CHUNK_MAX && o->chunk != RP_CHUNK_AUTO) ||
		  o->max_input > p->disp.max_payload || o->max_result > p->disp.max_payload))
		return -EINVAL;
	return 0;
}

int rp_imap(struct rp_pool *p, rp_task_fn fn, rp_source_fn src, void *src_arg, rp_sink_fn sink,
	    void *sink_arg, const struct rp_imap_opts *opts)
{
	struct imap m = { .p = p, .fn = fn, .src = src, .src_arg = src_arg, .sink = sink,
			  .sink_arg = sink_arg };
	int err;

	RP_POOL_CHECK(p);
	err = imap_check(p, fn, src, sink, opts);
	if (err)
		return err;
	m.max_input = opts && opts->max_input ? opts->max_input : 4096;
	m.max_result = opts && opts->max_result ? opts->max_result : 4096;
	m.chunk = opts && opts->chunk ? opts->chunk : 1;
	m.unordered = opts && (opts->flags & RP_UNORDERED);
	m.limit = p->win.mask + 1;
	if (opts && opts->max_in_flight && opts->max_in_flight < m.limit)
		m.limit = opts->max_in_flight;
	m.meta = malloc((p->win.mask + 1) * sizeof(*m.meta));
	if (!m.meta)
		return -ENOMEM;
	for (;;) {
		int r = collect(&m, feed(&m));

		if (r) {
			if (r < 0 && !m.err)
				m.err = r;
			break;
		}
	}
	free(m.meta);
	return m.err;
}
