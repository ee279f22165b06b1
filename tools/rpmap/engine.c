/* SPDX-License-Identifier: MIT */
/*
 * The engine: cut batches, submit them without blocking (RP_NONBLOCK; on
 * -EAGAIN collect first), collect results in input order and write them.
 * One ringpool task per batch, results written in place from the result
 * ring; per-record failures a batch reports (a plugin returned non-zero)
 * need nothing more: the batch says which records failed. What a task did
 * not finish is recover.c's; if the main pool runs out of replacements
 * (cfg.max_restarts), rpmap lets it drain and creates it anew.
 */
#include "engine.h"
#include "rpmaplib.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TARGET_TASK_NS	2000000ull	/* adaptive chunking: ~2 ms of work per task */

volatile int rpmap_interrupted;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
	recs = (uint64_t)(e->target_ns / (e->ns_per_rec + 1));
	e->lim.recs = recs < 1 ? 1 : recs > 1u << 20 ? 1u << 20 : (uint32_t)recs;
}

/*
 * Output per input byte of a function without a bound (a plugin), learnt
 * from finished batches (the
 * input's bytes per record, b->len / nrec, stand for those of the records
 * done): reserved for each batch (task_cap) and used to cut batches whose
 * results fit the rings. Without it, a plugin writing more than 16 times
 * its input overflowed every batch, and the rest of each ran again one
 * task at a time in the rerun pool: right, but serial.
 */
static void learn_output(struct eng *e, const struct rpmap_batch *b, const struct rpmap_res_hdr *h)
{
	double in_rec, out_rec, ratio;

	if (rpmap_fn.bi->bound || !h->nrec || !b->len)
		return;
	in_rec = (double)b->len / h->nrec;
	out_rec = (double)(h->out_len + (h->ndone < h->nrec ? h->need : 0)) / (h->ndone + 1);
	ratio = 2 * out_rec / (in_rec + 1);	/* twice what was seen: headroom */
	e->out_ratio = 0.75 * e->out_ratio + 0.25 * ratio;
	if (ratio > e->out_ratio)
		e->out_ratio = ratio;	/* up at once, down slowly */
	if (e->out_ratio < rpmap_fn.bi->out_ratio)
		e->out_ratio = rpmap_fn.bi->out_ratio;
	e->lim.bytes = e->o->batch_bytes;
	if ((double)e->lim.bytes * e->out_ratio > (double)e->main.max_res)
		e->lim.bytes = (size_t)((double)e->main.max_res / e->out_ratio) + 1;
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
	struct rp_stats st;
	int r = rp_next(e->main.pool, &res, e->next_flags | RP_NONBLOCK);

	if (r == -EAGAIN && !(flags & RP_NONBLOCK)) {
		flush_before_wait(e);
		r = rp_next(e->main.pool, &res, e->next_flags);
	}
	if (r)
		return r;
	b = e->win[res.seq & e->mask];
	e->win[res.seq & e->mask] = NULL;	/* collected: ours to free below */
	e->in_flight--;
	if (e->stop) {
		/* Failure or EPIPE: the rest is not written. */
		rp_release(e->main.pool, &res);
		rpmap_batch_free(e->in, b);
		return 0;
	}
	if (rpmap_result_ok(&res, 0)) {
		const struct rpmap_res_hdr *h = res.data;
		uint32_t done = h->ndone, nrec = h->nrec;

		uint64_t need = h->need;

		rpmap_place(e, b, nrec);
		learn(e, h);
		learn_output(e, b, h);
		if (rpmap_beyond_input(e, b, done)) {
			rp_release(e->main.pool, &res);
			rpmap_input_shrank(e, b, 0);
		} else {
			rpmap_emit(e, b, 0, res.data);
			rp_release(e->main.pool, &res);
			/* The next output did not fit: the rest again, that
			 * record alone first if the rerun pool cannot hold it. */
			if (done < nrec && need && !rpmap_fits_pool(&e->rerun, need)) {
				rpmap_too_large(e, &e->main, b, done, e->o->retries, need);
				done++;
			}
			if (done < nrec)
				rpmap_rerun(e, b, done, nrec);
		}
	} else {
		rpmap_batch_failed(e, b, &res);
		/* Out of replacements: it shrinks with each death from now on. */
		if (rp_pool_stats(e->main.pool, &st) == 0 && st.restarts_exhausted)
			e->drain = true;
	}
	e->bytes_done += b->len;
	e->batches++;
	rpmap_batch_free(e->in, b);
	rpmap_progress_update(e->pg, e->bytes_done, e->records + e->failed, e->failed, false);
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

/* --stats=json: the same numbers as one JSON object on one line. */
static void print_stats_json(struct eng *e)
{
	struct rp_stats st = { 0 };
	double s = (double)(now_ns() - e->t0) / 1e9;
	bool have = e->main.pool && !rp_pool_stats(e->main.pool, &st);

	fprintf(stderr,
		"{\"records\":%llu,\"failed\":%llu,\"tasks\":%llu,\"bytes_in\":%llu,"
		"\"bytes_out\":%llu,\"seconds\":%.6f,\"workers\":%u,\"ring_bytes\":%zu,"
		"\"latency_p50_ns\":%llu,\"latency_p99_ns\":%llu,\"latency_max_ns\":%llu,"
		"\"workers_replaced\":%llu,\"tasks_retried\":%llu,\"deadline_kills\":%llu,"
		"\"reruns\":%llu,\"pool_restarts\":%llu}\n",
		(unsigned long long)e->records + e->failed, (unsigned long long)e->failed,
		(unsigned long long)e->batches, (unsigned long long)e->bytes_done,
		(unsigned long long)e->out->bytes, s, have ? st.workers : 0, e->main.ring_bytes,
		(unsigned long long)st.latency_p50_ns, (unsigned long long)st.latency_p99_ns,
		(unsigned long long)st.latency_max_ns,
		(unsigned long long)(e->lib_restarts + st.restarts),
		(unsigned long long)(e->lib_retried + st.retried),
		(unsigned long long)(e->lib_timeouts + st.timeouts), (unsigned long long)e->reruns,
		(unsigned long long)e->restarts);
}

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
	/* Side pools are stopped by now: their counters are in e->lib_*. */
	fprintf(stderr,
		"rpmap: pool: workers %u (alive %u), ring %zu KiB, submitted %llu, completed %llu, "
		"failed %llu\n"
		"rpmap: pool: latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n"
		"rpmap: pool: futex waits/wakes parent %llu/%llu, workers %llu/%llu, "
		"liveness checks %llu\n"
		"rpmap: workers: replaced %llu, tasks retried %llu, killed for the deadline %llu, "
		"exec'd %llu\n"
		"rpmap: recovery: %llu tasks run again, %llu pool restarts\n",
		st.workers, st.workers_alive, e->main.ring_bytes >> 10,
		(unsigned long long)st.submitted, (unsigned long long)st.completed,
		(unsigned long long)st.failed, st.latency_p50_ns / 1e3, st.latency_p99_ns / 1e3,
		st.latency_p999_ns / 1e3, st.latency_max_ns / 1e3,
		(unsigned long long)st.parent_futex_waits, (unsigned long long)st.parent_futex_wakes,
		(unsigned long long)st.worker_futex_waits, (unsigned long long)st.worker_futex_wakes,
		(unsigned long long)st.liveness_checks,
		(unsigned long long)(e->lib_restarts + st.restarts),
		(unsigned long long)(e->lib_retried + st.retried),
		(unsigned long long)(e->lib_timeouts + st.timeouts),
		(unsigned long long)(e->lib_spawned + st.spawned), (unsigned long long)e->reruns,
		(unsigned long long)e->restarts);
}

/* Set e up and start the main pool. Returns 0, or 2 (reported). */
static int start(struct eng *e)
{
	const struct rpmap_opts *o = e->o;
	const struct rpmap_builtin *bi = rpmap_fn.bi;
	int r;

	e->t0 = now_ns();
	e->emit_index = e->in->next_index;	/* a range's first record (rpmaplib.h) */
	e->next_flags = o->unordered ? RP_UNORDERED : 0;
	if (rpmap_fit_main(e, o))
		return 2;
	/* The side pools: one worker, rings as large as the main pool's. */
	e->rerun = (struct poolh){ .workers = 1, .ring_bytes = e->main.ring_bytes };
	e->retry = (struct poolh){ .workers = 1, .ring_bytes = e->main.ring_bytes,
				   .retries = o->retries ? o->retries - 1 : 0 };
	/* The window: as rpmap_pool_start sizes the main pool's max_in_flight. */
	e->mask = 15;
	while (e->mask + 1 < 8 * o->workers)
		e->mask = e->mask * 2 + 1;
	e->win = calloc(e->mask + 1, sizeof(*e->win));
	if (o->spawn)
		e->init = rpmap_make_init(o, e->in);
	if (!e->win || (o->spawn && !e->init)) {
		fprintf(stderr, "rpmap: out of memory\n");
		return 2;
	}
	r = rpmap_pool_start(e, &e->main);
	if (r == -ENOMEM)
		rpmap_no_memory(&e->main, rpmap_mem_available(), "the workers");
	else if (r)
		fprintf(stderr, "rpmap: cannot start %u workers: %s\n", e->main.workers,
			strerror(-r));
	if (r)
		return 2;
	/* --timeout is per record (the batch task marks each one, and each
	 * mark restarts the library's deadline): batches need not shrink. */
	e->target_ns = TARGET_TASK_NS;
	e->lim.bytes = o->batch_bytes;
	e->out_ratio = bi->out_ratio;
	e->lim.max_in = e->main.max_res - sizeof(struct rpmap_task_hdr);
	e->lim.max_res = bi->bound || rpmap_fn.mode == RPMAP_MEMBERS ? e->main.max_res : 0;
	/* Whole batches need no counting in the parent (only in order). */
	e->lim.count = o->unordered || o->chunk || !bi->batch;
	e->lim.recs = o->chunk ? o->chunk : (bi->flags & RPMAP_BI_COSTLY) ? 16 : 0;
	if (o->progress > 0)
		e->pg = rpmap_progress_new(e->in->regular ? e->in->size : 0);
	return 0;
}

/*
 * Cut the next batch into e->pending, reading more input as needed.
 * Returns 1 (a batch is pending), 0 (nothing to submit now: collect, or
 * the input is done and *reading is false, or rpmap stopped), or 2 (look
 * again).
 */
static int next_batch(struct eng *e, bool *reading)
{
	struct rpmap_input *in = e->in;
	ssize_t n;
	int r = rpmap_input_cut(in, &e->lim, &e->pending);

	if (r == 1)
		return 1;
	if (r == -E2BIG) {
		fprintf(stderr, "rpmap: %s: record at input byte %llu is longer than --max-record "
				"(%zu bytes)\n",
			in->name, (unsigned long long)(in->start + in->cut_off), in->max_record);
		e->fatal = e->stop = true;
		return 0;
	}
	if (r == -ENOTSUP) {
		/* Members that cannot be split: finish what is in flight; the
		 * caller decodes the rest serially (rpmap_decode_rest). */
		in->serial = true;
		*reading = false;
		return 0;
	}
	if (r == -EBADMSG) {
		fprintf(stderr, "rpmap: %s: input byte %llu: %s\n", in->name,
			(unsigned long long)in->cut_off, in->why);
		e->fatal = e->stop = true;
		return 0;
	}
	if (r == -ENODATA) {
		/* The file shrank under the parent's read: the input ends at
		 * its last whole record now. */
		rpmap_shrank(e, UINT64_MAX);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "rpmap: %s\n", strerror(-r));
		e->fatal = e->stop = true;
		return 0;
	}
	if (rpmap_input_done(in)) {
		r = rpmap_input_next(in);	/* FILE...: the next one */
		if (r > 0)
			return 2;
		if (r < 0)
			e->fatal = e->stop = true;
		*reading = false;
		return 0;
	}
	if (e->in_flight == 0 && !in->regular)
		flush_before_wait(e);
	n = rpmap_input_fill(in, e->in_flight == 0);
	if (n == -EAGAIN || (n == -EINTR && rpmap_interrupted))
		return 0;	/* nothing to read now: collect */
	if (n == -ENOMEM && in->cur)
		fprintf(stderr, "rpmap: %s: not enough memory to read a record longer than %zu "
				"bytes\n",
			in->name, in->cur->fill - in->cut);
	else if (n < 0 && n != -EINTR)
		fprintf(stderr, "rpmap: %s: %s\n", in->name, strerror((int)-n));
	if (n < 0 && n != -EINTR)
		e->fatal = e->stop = true;
	return 2;
}

/* Cut and submit batches until the main pool is full, the input has
 * nothing more now, or rpmap stops. */
static void feed(struct eng *e, bool *reading)
{
	while (*reading && !e->stop) {
		uint64_t seq;
		int r;

		if (!e->pending) {
			r = next_batch(e, reading);
			if (r == 0)
				break;
			if (r == 2)
				continue;
		}
		if (e->pending->large) {
			collect_all(e);	/* everything before it is written first */
			rpmap_run_large(e, e->pending);
			rpmap_batch_free(e->in, e->pending);
			e->pending = NULL;
			continue;
		}
		if (e->o->unordered && e->pending->unterminated && e->in_flight) {
			/* Unordered, the last record must still come last, or it
			 * would run into the record written after it. */
			collect_all(e);
			continue;
		}
		if (e->drain) {
			/* Out of replacements: recreate it once it is empty. */
			if (e->in_flight)
				break;
			e->drain = false;
			if (rpmap_pool_restart(e, &e->main))
				break;
		}
		r = rpmap_submit(e, &e->main, e->pending, 0, 0, RP_NONBLOCK, &seq);
		if (r == -EAGAIN)
			break;
		if (r == -ECHILD && e->in_flight == 0) {
			if (rpmap_pool_restart(e, &e->main))
				break;
			continue;
		}
		if (r == -ECHILD)
			break;	/* collect the crashed results first */
		if (r) {
			fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
			e->fatal = e->stop = true;
			break;
		}
		e->win[seq & e->mask] = e->pending;
		e->pending = NULL;
		e->in_flight++;
	}
}

/* The run's totals, for a caller that reports them itself (rpmaplib.h). */
static void totals(struct eng *e, struct rpmap_totals *t)
{
	struct rp_stats st;

	if (!t)
		return;
	*t = (struct rpmap_totals){ .records = e->records, .failed = e->failed,
				    .tasks = e->batches, .bytes_in = e->bytes_done,
				    .bytes_out = e->out->bytes, .ns = now_ns() - e->t0,
				    .replaced = e->lib_restarts, .reruns = e->reruns,
				    .workers = e->main.workers };
	if (e->main.pool && rp_pool_stats(e->main.pool, &st) == 0)
		t->replaced += st.restarts;
}

/* Write what is left, report, stop the pools, free. Returns rpmap_run's
 * status. */
static int finish(struct eng *e, struct rpmap_totals *t)
{
	struct rpmap_input *in = e->in;
	int r;

	/* Stopped early (failure, EPIPE): results still in flight are dropped
	 * with the pool; their batches go with the process. */
	if (e->pending)
		rpmap_batch_free(in, e->pending);
	if (e->stop && rpmap_fn.bi->stop)
		rpmap_fn.bi->stop(&rpmap_fn.conf);	/* before the pools wait for their tasks */
	if (e->shrunk && !e->epipe)
		rpmap_shrank_report(e);
	if (!e->stop && rpmap_fn.bi->finish && !e->o->part && !e->saw_int && !e->shrunk &&
	    e->main.pool) {
		/* What the function writes at the end of a complete run. */
		char z[64];

		rpmap_out(e, z, rpmap_fn.bi->finish(&rpmap_fn.conf, in->cut_off == 0, z, sizeof(z)));
	}
	if (!e->epipe && !e->fatal) {
		r = rpmap_output_flush(e->out);
		if (r == -EPIPE) {
			e->epipe = true;
		} else if (r) {
			fprintf(stderr, "rpmap: %s: %s\n", e->out->name, strerror(-r));
			e->fatal = true;
		}
	}
	if (e->pg) {
		rpmap_progress_update(e->pg, e->bytes_done, e->records + e->failed, e->failed,
				      true);
		rpmap_progress_free(e->pg);
	}
	rpmap_pool_stop(e, &e->rerun);
	rpmap_pool_stop(e, &e->retry);
	if (e->o->stats && !e->epipe && e->main.pool)
		(e->o->stats == 2 ? print_stats_json : print_stats)(e);
	totals(e, t);
	rpmap_pool_stop(e, &e->main);
	if (e->stop && rpmap_fn.bi->stop)
		rpmap_fn.bi->stop(&rpmap_fn.conf);	/* and what started meanwhile */
	/* Stopped early: batches whose results were never collected. */
	for (uint64_t i = 0; e->win && i <= e->mask; i++)
		if (e->win[i])
			rpmap_batch_free(in, e->win[i]);
	free(e->win);
	free(e->init);
	if (e->epipe)
		return -EPIPE;
	return e->fatal ? 2 : e->failed ? 1 : e->saw_int ? 128 + SIGINT : 0;
}

int rpmap_run(const struct rpmap_opts *o, struct rpmap_input *in, struct rpmap_output *out)
{
	return rpmap_run_totals(o, in, out, NULL);
}

int rpmap_run_totals(const struct rpmap_opts *o, struct rpmap_input *in,
		     struct rpmap_output *out, struct rpmap_totals *t)
{
	struct eng e = { .o = o, .in = in, .out = out };
	bool reading = true;
	int r;

	if (start(&e)) {
		e.fatal = e.stop = true;
		finish(&e, t);
		return 2;
	}
	while (!e.stop) {
		if (rpmap_interrupted && !e.saw_int) {
			e.saw_int = true;
			reading = false;	/* finish what is in flight, then stop */
		}
		feed(&e, &reading);
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
	return finish(&e, t);
}
