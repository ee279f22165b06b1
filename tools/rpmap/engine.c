/* SPDX-License-Identifier: MIT */
/*
 * The engine: cut batches, submit them without blocking (RP_NONBLOCK; on
 * -EAGAIN collect first), collect results in input order and write them.
 *
 * Normal path: one ringpool task per batch, results written in place from
 * the result ring. Per-record failures a batch reports (a plugin returned
 * non-zero) need nothing more: the batch says which records failed.
 *
 * Recovery, when a batch did not finish (its worker died: RP_ECRASHED, and
 * without respawn every task queued on that worker fails the same way; or
 * a record's output did not fit): stop submitting, copy aside every result
 * still in flight, then settle the batches in order. The batch a dead
 * worker was running (its lowest-numbered failed task: workers run tasks in
 * order) runs again one record per task, one task at a time, so the record
 * that kills a worker is known exactly; the batches that only waited behind
 * it run again whole (and record by record if that fails too).
 * When no worker is left the pool is created anew (rpmap's own respawn), and
 * after a recovery that lost workers too. Slow, but only after a failure.
 *
 * A record too large for the pool's rings runs alone in a one-worker pool
 * sized for it, after everything before it has been written.
 */
#include "rpmap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)
#define TARGET_TASK_NS	2000000ull	/* adaptive chunking: ~2 ms of work per task */

volatile int rpmap_interrupted;

struct poolh {
	struct rp_pool *pool;
	unsigned workers;
	size_t ring_bytes;
	uint64_t max_res;	/* largest result (and task input) the rings take */
};

/* A result copied aside during recovery. */
struct held {
	struct rpmap_batch *b;
	uint64_t seq;
	uint32_t worker;
	bool culprit;		/* first task its dead worker did not finish */
	int status;
	unsigned flags;
	int term_signal, term_exit;
	void *data;
	size_t len;
};

struct eng {
	const struct rpmap_opts *o;
	struct rpmap_input *in;
	struct rpmap_output *out;
	struct poolh main;
	struct rpmap_batch **win;	/* batch of task seq, by seq & mask */
	uint64_t mask;
	uint64_t in_flight;
	struct rpmap_limits lim;
	struct rpmap_batch *pending;	/* cut, not yet submitted */
	unsigned next_flags;		/* rp_next flags */
	uint64_t emit_index;		/* ordered: index of the next record written */
	double ns_per_rec;		/* adaptive chunking, 0 until measured */

	uint64_t records, failed, batches, reruns, restarts, bytes_done;
	bool stop;			/* no more output: failure, EPIPE or fatal error */
	bool epipe, fatal, saw_int;
	struct rpmap_progress *pg;
	uint64_t t0;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- pools ---- */

static int pool_start(struct poolh *ph)
{
	struct rp_config cfg;
	struct rp_stats st;
	int r;

	rp_config_init(&cfg);
	cfg.workers = ph->workers;
	cfg.ring_bytes = ph->ring_bytes;
	cfg.max_in_flight = 16;
	while (cfg.max_in_flight < 8 * ph->workers)
		cfg.max_in_flight *= 2;
	cfg.fn = rpmap_batch_task;
	r = rp_pool_create(&ph->pool, &cfg);
	if (r)
		return r;
	rp_pool_stats(ph->pool, &st);
	ph->max_res = st.max_payload;
	return 0;
}

static void pool_stop(struct poolh *ph)
{
	if (ph->pool)
		rp_pool_destroy(ph->pool);
	ph->pool = NULL;
}

static int pool_restart(struct eng *e, struct poolh *ph)
{
	int r;

	pool_stop(ph);
	e->restarts++;
	r = pool_start(ph);
	if (r) {
		fprintf(stderr, "rpmap: cannot restart the worker pool: %s\n", strerror(-r));
		e->fatal = e->stop = true;
	}
	return r;
}

/* ---- reporting ---- */

static void output(struct eng *e, const void *p, size_t n)
{
	int r;

	if (e->stop || !n)
		return;
	r = rpmap_output_write(e->out, p, n);
	if (r == -EPIPE) {
		e->epipe = e->stop = true;
	} else if (r) {
		fprintf(stderr, "rpmap: %s: %s\n", e->out->name, strerror(-r));
		e->fatal = e->stop = true;
	}
}

/* Report record `rec` of batch b as failed; without --keep-going, stop. */
static void record_failed(struct eng *e, const struct rpmap_batch *b, uint32_t rec, int status,
			  unsigned flags, int sig, int code)
{
	const char *p;
	size_t len;
	uint64_t off = b->off;
	char why[160];

	if (rpmap_batch_record(b, rec, &p, &len))
		off += (uint64_t)(p - b->data);
	if ((flags & RP_RES_POOL) && status == RP_ECRASHED) {
		if (sig)
			snprintf(why, sizeof(why), "worker killed by signal %d (%s)", sig,
				 strsignal(sig));
		else
			snprintf(why, sizeof(why), "worker exited with status %d", code);
	} else if (status == RP_EMSGSIZE) {
		snprintf(why, sizeof(why), "result too large");
	} else if (status < 0) {
		snprintf(why, sizeof(why), "%s (%d)", strerror(-status), status);
	} else {
		snprintf(why, sizeof(why), "status %d", status);
	}
	fprintf(stderr, "rpmap: record %llu (input byte %llu): %s%s\n",
		(unsigned long long)(b->first + rec), (unsigned long long)off, why,
		e->o->keep_going ? ", skipped" : "");
	e->failed++;
	if (!e->o->keep_going)
		e->stop = true;
}

/* Give an uncounted batch (ordered mode) its record indices. */
static void place(struct eng *e, struct rpmap_batch *b, uint32_t nrec)
{
	if (!b->counted) {
		b->first = e->emit_index;
		b->nrec = nrec;
		b->counted = true;
	}
	if (b->first + b->nrec > e->emit_index)
		e->emit_index = b->first + b->nrec;
}

static bool valid_result(const void *data, size_t len)
{
	const struct rpmap_res_hdr *h = data;

	return len >= sizeof(*h) && h->magic == RPMAP_RES_MAGIC && h->ndone <= h->nrec &&
	       h->nfail <= h->ndone && sizeof(*h) + h->out_len <= len &&
	       ALIGN8(sizeof(*h) + h->out_len) + (uint64_t)h->nfail * sizeof(struct rpmap_fail) <= len;
}

/*
 * Write the output of records from .. from + h->ndone of batch b (a valid
 * result) and report its failed records. Without --keep-going, output stops
 * at the first failed record.
 */
static void emit(struct eng *e, struct rpmap_batch *b, uint32_t from, const void *data)
{
	const struct rpmap_res_hdr *h = data;
	const char *o = (const char *)(h + 1);
	const struct rpmap_fail *f = (const void *)((const char *)data +
						     ALIGN8(sizeof(*h) + h->out_len));
	uint32_t k;

	if (h->nfail && !e->o->keep_going) {
		/* Everything before the first failed record, then stop. */
		output(e, o, f[0].out_off < h->out_len ? f[0].out_off : h->out_len);
		e->records += f[0].rec;
		record_failed(e, b, from + f[0].rec, f[0].status, 0, 0, -1);
		return;
	}
	output(e, o, h->out_len);
	for (k = 0; k < h->nfail; k++)
		record_failed(e, b, from + f[k].rec, f[k].status, 0, 0, -1);
	e->records += h->ndone - h->nfail;
}

/* Learn the cost of a record from a finished batch (adaptive chunking). */
static void learn(struct eng *e, const struct rpmap_res_hdr *h)
{
	double per;
	uint64_t recs;

	if (e->o->chunk || !e->lim.count || !h->ndone)
		return;
	per = (double)h->run_ns / h->ndone;
	e->ns_per_rec = e->ns_per_rec ? 0.75 * e->ns_per_rec + 0.25 * per : per;
	recs = (uint64_t)(TARGET_TASK_NS / (e->ns_per_rec + 1));
	e->lim.recs = recs < 1 ? 1 : recs > 1u << 20 ? 1u << 20 : (uint32_t)recs;
}

/* ---- submitting ---- */

/*
 * Result space a task reserves: the built-in's bound; for a plugin, 16
 * times the input plus 64 KiB (a record that needs more runs again alone,
 * with all the pool has). Never more than the pool's largest result.
 */
static uint64_t task_cap(const struct poolh *ph, size_t len, uint32_t nrec, bool alone)
{
	uint64_t cap = rpmap_fn.kind == RPMAP_PLUGIN ? (alone ? ph->max_res : 16 * (uint64_t)len + 65536)
						     : rpmap_result_bound(len, nrec);

	return cap > ph->max_res ? ph->max_res : cap;
}

/*
 * Submit records from .. from + cnt of batch b (cnt 0: the whole batch) as
 * one task. Returns 0 and sets *seq, or rp_reserve's error.
 */
static int submit(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		  uint32_t cnt, unsigned flags, uint64_t *seq)
{
	const char *p = b->data, *q;
	size_t len = b->len, l2;
	struct rpmap_task_hdr *th;
	bool mapped;
	void *buf;
	int r;

	if (cnt) {
		if (!rpmap_batch_record(b, from, &p, &l2))
			return -EINVAL;
		if (!rpmap_batch_record(b, from + cnt - 1, &q, &l2))
			return -EINVAL;
		len = (size_t)(q + l2 - p);
	}
	mapped = b->seg->mapped;
	r = rp_reserve(ph->pool, NULL, sizeof(*th) + (mapped ? 0 : len), flags, &buf);
	if (r)
		return r;
	th = buf;
	th->first = b->first + from;
	th->nrec = cnt ? cnt : b->counted ? b->nrec : 0;
	th->cap = (uint32_t)task_cap(ph, len, th->nrec, cnt == 1);
	th->map_off = mapped ? (uint64_t)(p - rpmap_fn.map) : 0;
	th->map_len = mapped ? len : 0;
	if (!mapped)
		memcpy(th + 1, p, len);
	return rp_commit(ph->pool, sizeof(*th) + (mapped ? 0 : len), seq);
}

/*
 * Run records from .. from + cnt of b as one task on ph, with nothing else
 * in flight there, and wait for its result (in place in *res: release it).
 * Recreates the pool if no worker is left. Returns 0 or a fatal -errno.
 */
static int run_one(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		   uint32_t cnt, struct rp_result *res)
{
	int r;

	for (int tries = 0;; tries++) {
		r = submit(e, ph, b, from, cnt, 0, NULL);
		if (r == -ECHILD && tries < 3) {
			if (pool_restart(e, ph))
				return -ECHILD;
			continue;
		}
		break;
	}
	if (!r)
		r = rp_next(ph->pool, res, 0);
	if (r) {
		fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
		e->fatal = e->stop = true;
	}
	e->reruns++;
	return r;
}

static void run_alone(struct eng *e, struct rpmap_batch *b, uint32_t rec, size_t ring_bytes);

#define MAX_ALONE_RING	(256u << 20)	/* results of up to 128 MiB */

/*
 * Settle records from .. to of b by running them again: as one task first
 * (unless `singly`), then one record per task once a task of several has
 * failed again. A record whose result does not fit runs alone in a pool
 * with 16 times larger rings, up to MAX_ALONE_RING.
 */
static void run_range(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		      uint32_t to, bool singly)
{
	if (singly && to - from > 1) {
		for (uint32_t i = from; i < to && !e->stop; i++)
			run_range(e, ph, b, i, i + 1, false);
		return;
	}
	while (from < to && !e->stop) {
		uint32_t cnt = to - from;
		struct rp_result res;

		if (run_one(e, ph, b, from, cnt, &res))
			return;
		if (res.status == 0 && valid_result(res.data, res.len) &&
		    ((const struct rpmap_res_hdr *)res.data)->nrec == cnt) {
			uint32_t done = ((const struct rpmap_res_hdr *)res.data)->ndone;

			emit(e, b, from, res.data);
			rp_release(ph->pool, &res);
			if (done == cnt)
				return;
			if (done == 0 && cnt == 1) {
				/* Alone, and still too large for these rings. */
				if (ph->ring_bytes < MAX_ALONE_RING)
					run_alone(e, b, from, ph->ring_bytes * 16);
				else
					record_failed(e, b, from, RP_EMSGSIZE, RP_RES_POOL, 0, -1);
				from++;
			} else if (done == 0) {
				run_range(e, ph, b, from, from + 1, false);
				from++;
			} else {
				from += done;
			}
			continue;
		}
		if (cnt == 1) {
			record_failed(e, b, from, res.status ? res.status : -EPROTO, res.flags,
				      res.term_signal, res.term_exit);
			rp_release(ph->pool, &res);
			from++;
			continue;
		}
		rp_release(ph->pool, &res);
		run_range(e, ph, b, from, to, true);
		return;
	}
}

/*
 * A batch whose result we hold (in place or copied): write it or run it
 * again (record by record at once if it is the one its worker died on).
 */
static void settle(struct eng *e, struct rpmap_batch *b, int status, const void *data, size_t len,
		   bool culprit)
{
	uint32_t nrec;

	if (status == 0 && valid_result(data, len)) {
		const struct rpmap_res_hdr *h = data;

		place(e, b, h->nrec);
		learn(e, h);
		emit(e, b, 0, data);
		if (h->ndone < h->nrec && !e->stop)
			run_range(e, &e->main, b, h->ndone, h->nrec, false);
	} else {
		nrec = b->counted ? b->nrec : rpmap_batch_count(b);
		place(e, b, nrec);
		if (nrec)
			run_range(e, &e->main, b, 0, nrec, culprit);
	}
	e->bytes_done += b->len;
	e->batches++;
}

static bool needs_recovery(const struct rp_result *r)
{
	const struct rpmap_res_hdr *h = r->data;

	return r->status != 0 || !valid_result(r->data, r->len) || h->ndone < h->nrec;
}

/*
 * The result of batch b needs work beyond writing it. Copy aside every
 * result in flight, then settle all of them in the order collected.
 */
static void recover(struct eng *e, struct rpmap_batch *b, struct rp_result *first)
{
	struct held *h = calloc(e->in_flight + 1, sizeof(*h));
	size_t n = 0, i;
	struct rp_stats st;

	if (!h) {
		fprintf(stderr, "rpmap: out of memory\n");
		e->fatal = e->stop = true;
		return;
	}
	for (struct rp_result *r = first, tmp;; r = &tmp) {
		struct held *x = &h[n++];

		x->b = r == first ? b : e->win[r->seq & e->mask];
		x->seq = r->seq;
		x->worker = r->worker;
		x->status = r->status;
		x->flags = r->flags;
		x->term_signal = r->term_signal;
		x->term_exit = r->term_exit;
		x->len = r->len;
		x->data = r->len ? malloc(r->len) : NULL;
		if (r->len && x->data)
			memcpy(x->data, r->data, r->len);
		else if (r->len)
			x->status = -ENOMEM;	/* settled by running again */
		rp_release(e->main.pool, r);
		e->in_flight--;
		if (!e->in_flight || rp_next(e->main.pool, &tmp, e->next_flags))
			break;
	}
	/* Workers run their tasks in order: of the tasks a dead worker failed,
	 * the lowest-numbered is the one it was running. */
	for (i = 0; i < n; i++) {
		size_t k, low = i;

		if (h[i].status != RP_ECRASHED || !(h[i].flags & RP_RES_POOL))
			continue;
		for (k = 0; k < n; k++)
			if (h[k].status == RP_ECRASHED && (h[k].flags & RP_RES_POOL) &&
			    h[k].worker == h[i].worker && h[k].seq < h[low].seq)
				low = k;
		h[low].culprit = true;
	}
	for (i = 0; i < n; i++) {
		if (!e->stop)
			settle(e, h[i].b, h[i].status, h[i].data, h[i].len, h[i].culprit);
		free(h[i].data);
		rpmap_batch_free(e->in, h[i].b);
	}
	free(h);
	if (!e->stop && rp_pool_stats(e->main.pool, &st) == 0 && st.workers_alive < st.workers)
		pool_restart(e, &e->main);
}

/* Hand buffered output to the kernel before rpmap waits for anything, so
 * a slow stream shows its results as they come. */
static void flush_before_wait(struct eng *e)
{
	int r;

	if (e->stop || !e->out->len)
		return;
	r = rpmap_output_flush(e->out);
	if (r == -EPIPE) {
		e->epipe = e->stop = true;
	} else if (r) {
		fprintf(stderr, "rpmap: %s: %s\n", e->out->name, strerror(-r));
		e->fatal = e->stop = true;
	}
}

/* Collect one result (waiting unless RP_NONBLOCK). Returns rp_next's value. */
static int collect(struct eng *e, unsigned flags)
{
	struct rp_result res;
	struct rpmap_batch *b;
	int r = rp_next(e->main.pool, &res, e->next_flags | RP_NONBLOCK);

	if (r == -EAGAIN && !(flags & RP_NONBLOCK)) {
		flush_before_wait(e);
		r = rp_next(e->main.pool, &res, e->next_flags);
	}
	if (r)
		return r;
	b = e->win[res.seq & e->mask];
	if (e->stop) {
		/* Failure or EPIPE: the rest is not written. */
		rp_release(e->main.pool, &res);
		e->in_flight--;
		rpmap_batch_free(e->in, b);
		return 0;
	}
	if (needs_recovery(&res)) {
		recover(e, b, &res);
		return 0;
	}
	settle(e, b, 0, res.data, res.len, false);
	rp_release(e->main.pool, &res);
	e->in_flight--;
	rpmap_batch_free(e->in, b);
	rpmap_progress_update(e->pg, e->bytes_done, e->failed, false);
	return 0;
}

/* Collect and write everything in flight (stops early once rpmap stops). */
static void collect_all(struct eng *e)
{
	while (e->in_flight && !e->stop) {
		int r = collect(e, 0);

		if (r) {
			fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
			e->fatal = e->stop = true;
		}
	}
}

/* A record too large for the pool's rings: a one-worker pool sized for it. */
static void run_large(struct eng *e, struct rpmap_batch *b)
{
	uint64_t need = b->len + sizeof(struct rpmap_task_hdr);
	uint64_t res = rpmap_result_bound(b->len, 1);
	struct poolh side = { .workers = 1, .ring_bytes = 1u << 20 };
	int r;

	if (res > need)
		need = res;
	while (side.ring_bytes / 2 < need + 64 && side.ring_bytes < (1ull << 30))
		side.ring_bytes *= 2;
	collect_all(e);
	if (e->stop)
		return;
	place(e, b, 1);
	r = pool_start(&side);
	if (r) {
		fprintf(stderr, "rpmap: record %llu (input byte %llu, %zu bytes): cannot make a pool "
				"for it: %s\n",
			(unsigned long long)b->first, (unsigned long long)b->off, b->len, strerror(-r));
		e->fatal = e->stop = true;
		return;
	}
	run_range(e, &side, b, 0, 1, false);
	pool_stop(&side);
	e->bytes_done += b->len;
	e->batches++;
}

/* Record `rec` of b, whose result did not fit: alone in a pool with larger rings. */
static void run_alone(struct eng *e, struct rpmap_batch *b, uint32_t rec, size_t ring_bytes)
{
	struct poolh side = { .workers = 1, .ring_bytes = ring_bytes };
	int r = pool_start(&side);

	if (r) {
		record_failed(e, b, rec, RP_EMSGSIZE, RP_RES_POOL, 0, -1);
		return;
	}
	run_range(e, &side, b, rec, rec + 1, false);
	pool_stop(&side);
}

/* ---- the main loop ---- */

static void print_stats(struct eng *e)
{
	struct rp_stats st;
	double s = (double)(now_ns() - e->t0) / 1e9;

	fprintf(stderr,
		"rpmap: %llu records (%llu failed) in %llu tasks, %.1f MB in, %.1f MB out, "
		"%.3f s, %.1f MB/s\n",
		(unsigned long long)e->records + e->failed, (unsigned long long)e->failed,
		(unsigned long long)e->batches, (double)e->bytes_done / 1e6,
		(double)e->out->bytes / 1e6, s, s > 0 ? (double)e->bytes_done / 1e6 / s : 0.0);
	if (!e->main.pool || rp_pool_stats(e->main.pool, &st))
		return;
	fprintf(stderr,
		"rpmap: pool: workers %u (alive %u), ring %zu KiB, submitted %llu, completed %llu, "
		"failed %llu\n"
		"rpmap: pool: latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n"
		"rpmap: pool: futex waits/wakes parent %llu/%llu, workers %llu/%llu, "
		"liveness checks %llu\n"
		"rpmap: recovery: %llu tasks run again, %llu pool restarts\n",
		st.workers, st.workers_alive, e->main.ring_bytes >> 10,
		(unsigned long long)st.submitted, (unsigned long long)st.completed,
		(unsigned long long)st.failed, st.latency_p50_ns / 1e3, st.latency_p99_ns / 1e3,
		st.latency_p999_ns / 1e3, st.latency_max_ns / 1e3,
		(unsigned long long)st.parent_futex_waits, (unsigned long long)st.parent_futex_wakes,
		(unsigned long long)st.worker_futex_waits, (unsigned long long)st.worker_futex_wakes,
		(unsigned long long)st.liveness_checks, (unsigned long long)e->reruns,
		(unsigned long long)e->restarts);
}

/* Ring size: room for at least four of the largest tasks or results. */
static size_t pick_ring(const struct rpmap_opts *o)
{
	uint64_t task = o->batch_bytes, need, ring = 2u << 20;

	if (rpmap_fn.mode == RPMAP_BLOCK && rpmap_fn.block > task)
		task = rpmap_fn.block;
	need = task + sizeof(struct rpmap_task_hdr);
	if (rpmap_fn.kind != RPMAP_PLUGIN) {
		uint64_t res = rpmap_result_bound(task, rpmap_fn.mode == RPMAP_BLOCK ? 1 : 0);

		if (rpmap_fn.mode != RPMAP_BLOCK && (rpmap_fn.kind == RPMAP_CRC32 ||
						     rpmap_fn.kind == RPMAP_COUNT ||
						     rpmap_fn.kind == RPMAP_GZIP))
			res = rpmap_result_bound(task, 1);	/* counted: cut by the bound */
		if (res > need)
			need = res;
	}
	while (ring < 4 * (need + 64) && ring < (1u << 30))
		ring *= 2;
	return ring;
}

int rpmap_run(const struct rpmap_opts *o, struct rpmap_input *in, struct rpmap_output *out)
{
	struct eng e = { .o = o, .in = in, .out = out };
	bool reading = true;
	int r, status;

	e.t0 = now_ns();
	e.next_flags = o->unordered ? RP_UNORDERED : 0;
	e.main.workers = o->workers;
	e.main.ring_bytes = o->ring_bytes ? o->ring_bytes : pick_ring(o);
	r = pool_start(&e.main);
	if (r) {
		fprintf(stderr, "rpmap: cannot start %u workers: %s\n", o->workers, strerror(-r));
		return 2;
	}
	e.mask = 15;
	while (e.mask + 1 < 8 * o->workers)
		e.mask = e.mask * 2 + 1;
	e.win = calloc(e.mask + 1, sizeof(*e.win));
	if (!e.win) {
		pool_stop(&e.main);
		return 2;
	}
	e.lim.bytes = o->batch_bytes;
	e.lim.max_in = e.main.max_res - sizeof(struct rpmap_task_hdr);
	e.lim.max_res = rpmap_fn.kind == RPMAP_PLUGIN ? 0 : e.main.max_res;
	e.lim.count = o->unordered || o->chunk || !(rpmap_fn.kind == RPMAP_IDENTITY ||
						     rpmap_fn.kind == RPMAP_UPPER);
	e.lim.recs = o->chunk ? o->chunk
		     : (rpmap_fn.kind == RPMAP_PLUGIN || rpmap_fn.kind == RPMAP_COUNT) ? 16 : 0;
	if (o->progress > 0)
		e.pg = rpmap_progress_new(in->regular ? in->size : 0);

	while (!e.stop) {
		if (rpmap_interrupted && !e.saw_int) {
			e.saw_int = true;
			reading = false;	/* finish what is in flight, then stop */
		}
		while (reading && !e.stop) {
			uint64_t seq;

			if (!e.pending) {
				r = rpmap_input_cut(in, &e.lim, &e.pending);
				if (r == -E2BIG) {
					fprintf(stderr,
						"rpmap: %s: record at input byte %llu is longer than "
						"--max-record (%zu bytes)\n",
						in->name, (unsigned long long)in->cut_off,
						in->max_record);
					e.fatal = e.stop = true;
					break;
				}
				if (r < 0) {
					fprintf(stderr, "rpmap: %s\n", strerror(-r));
					e.fatal = e.stop = true;
					break;
				}
				if (r == 0) {
					ssize_t n;

					if (rpmap_input_done(in)) {
						reading = false;
						break;
					}
					if (e.in_flight == 0 && !in->regular)
						flush_before_wait(&e);
					n = rpmap_input_fill(in, e.in_flight == 0);
					if (n == -EAGAIN)
						break;	/* nothing to read now: collect */
					if (n == -EINTR) {
						if (rpmap_interrupted)
							break;
						continue;
					}
					if (n < 0) {
						fprintf(stderr, "rpmap: %s: %s\n", in->name,
							strerror((int)-n));
						e.fatal = e.stop = true;
					}
					continue;
				}
			}
			if (e.pending->large) {
				run_large(&e, e.pending);
				rpmap_batch_free(in, e.pending);
				e.pending = NULL;
				continue;
			}
			if (o->unordered && e.pending->unterminated && e.in_flight) {
				/* Unordered, the last record must still come last, or
				 * it would run into the record written after it. */
				collect_all(&e);
				continue;
			}
			r = submit(&e, &e.main, e.pending, 0, 0, RP_NONBLOCK, &seq);
			if (r == -EAGAIN)
				break;
			if (r == -ECHILD && e.in_flight == 0) {
				if (pool_restart(&e, &e.main))
					break;
				continue;
			}
			if (r == -ECHILD)
				break;	/* collect the crashed results first */
			if (r) {
				fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
				e.fatal = e.stop = true;
				break;
			}
			e.win[seq & e.mask] = e.pending;
			e.pending = NULL;
			e.in_flight++;
		}
		if (!e.in_flight) {
			if (!reading)
				break;
			continue;
		}
		r = collect(&e, 0);
		while (r == 0 && e.in_flight && !e.stop)
			r = collect(&e, RP_NONBLOCK);
		if (r && r != -EAGAIN) {
			fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
			e.fatal = e.stop = true;
		}
	}
	/* Stopped early (failure, EPIPE): results still in flight are dropped
	 * with the pool; their batches go with the process. */
	if (e.pending)
		rpmap_batch_free(in, e.pending);
	if (!e.stop && rpmap_fn.kind == RPMAP_GZIP && in->cut_off == 0 && !e.saw_int) {
		/* Empty input: one empty member, so the output is a valid gzip file. */
		char z[64];

		output(&e, z, rpmap_gzip_empty(z, sizeof(z), rpmap_fn.level));
	}
	if (!e.epipe && !e.fatal) {
		r = rpmap_output_flush(out);
		if (r == -EPIPE)
			e.epipe = true;
		else if (r) {
			fprintf(stderr, "rpmap: %s: %s\n", out->name, strerror(-r));
			e.fatal = true;
		}
	}
	if (e.pg) {
		rpmap_progress_update(e.pg, e.bytes_done, e.failed, true);
		rpmap_progress_free(e.pg);
	}
	if (o->stats && !e.epipe)
		print_stats(&e);
	pool_stop(&e.main);
	free(e.win);
	if (e.epipe)
		return -EPIPE;
	status = e.fatal ? 2 : e.failed ? 1 : e.saw_int ? 128 + SIGINT : 0;
	return status;
}
