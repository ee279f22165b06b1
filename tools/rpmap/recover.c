/* SPDX-License-Identifier: MIT */
/*
 * Recovery, when a batch did not finish. The library replaces a worker
 * that dies or is killed for a deadline; the task it was running fails
 * (RP_ECRASHED, RP_ETIMEDOUT) and the tasks queued behind it run on the
 * replacement, so only the failed batch needs work. The batch task marks
 * each record before running it (rp_task_mark), and the outcome carries the
 * last mark, so the record that did it is known without running anything
 * again: a crash is that record's first crash (reported at once, or run
 * alone in a pool whose cfg.retries gives it --retries - 1 more runs); a
 * kill for the deadline, which restarts at each mark, means that record
 * alone ran past --timeout (reported). The other records of the batch run
 * again as batches. All of that runs in a one-worker "rerun" pool, one
 * task at a time, while the main pool's tasks wait in their rings: slow,
 * but only after a failure. A record whose output did not fit runs alone
 * in a pool whose rings hold what it asked for; a record too large for the
 * main pool's rings, in a one-worker pool sized for it. An input file that
 * shrinks while read ends at its last whole record.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What a batch's result holds beside one record's output: its header, the
 * separator, padding and a failure table entry. */
#define ALONE_OVERHEAD	(sizeof(struct rpmap_res_hdr) + 16 + sizeof(struct rpmap_fail))

/* Whether a record whose result needs `need` bytes (0: not known) can fit
 * a task of ph at all, started or not (a side pool starts on first use:
 * until then, what its rings will take, less the ring's record header). */
bool rpmap_fits_pool(const struct poolh *ph, uint64_t need)
{
	uint64_t max = ph->max_res ? ph->max_res : ph->ring_bytes / 2 - 64;

	return need && need + ALONE_OVERHEAD <= max;
}

/*
 * Run records from .. from + cnt of b as one task on a side pool (started
 * on first use), with nothing else in flight there, and wait for its
 * result (in place in *res: release it). Recreates the pool if no worker
 * is left. Returns 0 or a fatal -errno.
 */
static int run_one(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		   uint32_t cnt, struct rp_result *res)
{
	int r = rpmap_pool_ensure(e, ph);

	if (r)
		return r;
	for (int tries = 0;; tries++) {
		r = rpmap_submit(e, ph, b, from, cnt, 0, NULL);
		if (r == -ECHILD && tries < 3) {
			if (rpmap_pool_restart(e, ph))
				return -ECHILD;
			continue;
		}
		break;
	}
	if (!r)
		r = rp_next(ph->pool, res, 0);
	if (r == -ENODATA) {
		/* The parent's read of the records faulted: the file shrank. */
		rpmap_input_shrank(e, b, from);
	} else if (r) {
		fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
		e->fatal = e->stop = true;
	}
	e->reruns++;
	return r;
}

/*
 * Whether the first `to` records of b (0: all of them) reach past what the
 * input file holds now: it was truncated while rpmap read it, so their
 * bytes read as zeros or killed their worker, and nothing of them may be
 * written. One fstat per call (per task collected); a scan of b only once
 * the file is shorter than b.
 */
bool rpmap_beyond_input(struct eng *e, const struct rpmap_batch *b, uint32_t to)
{
	uint64_t avail;
	const char *p;
	size_t len;

	if (!b->seg->mapped)
		return false;
	avail = rpmap_input_avail(e->in);
	if (b->off + b->len <= avail)
		return false;
	if (!to || !rpmap_batch_record(b, to - 1, &p, &len))
		return true;
	return b->off + (uint64_t)(p + len - b->data) > avail;
}

/*
 * The input file shrank (a worker died of SIGBUS or read zeros past its new
 * end, or the parent's read faulted): from now on the input ends at the
 * last whole record the file holds. rpmap goes on, writing every record
 * before that end, and exits with status 2 (shrank_report). `at` is an
 * input offset from which records are known not to be written.
 */
void rpmap_shrank(struct eng *e, uint64_t at)
{
	uint64_t end = rpmap_input_clip(e->in);

	if (end < at)
		at = end;
	if (!e->shrunk || at < e->shrunk_at)
		e->shrunk_at = at;
	e->shrunk = true;
}

void rpmap_shrank_report(struct eng *e)
{
	const struct rpmap_input *in = e->in;

	if (rpmap_input_avail(in) == in->size) {
		/* A read of the mapping failed with the file whole: SIGBUS for an
		 * I/O error (or a file truncated and grown back). */
		fprintf(stderr, "rpmap: %s: %s while reading the input; records from input "
				"byte %llu on were not written\n",
			in->name, strerror(EIO), (unsigned long long)(in->start + e->shrunk_at));
		e->fatal = true;
		return;
	}
	fprintf(stderr,
		"rpmap: %s: input shrank from %llu to %llu bytes while being read; records from "
		"input byte %llu on were not written\n",
		in->name, (unsigned long long)(in->start + in->size),
		(unsigned long long)(in->start + rpmap_input_avail(in)),
		(unsigned long long)(in->start + e->shrunk_at));
	e->fatal = true;
}

/*
 * The input shrank under records of b from `from` on (beyond_input): write
 * those of them that lie wholly within what is left, run again (the task
 * that read them may have read zeros past the end); drop the rest.
 */
void rpmap_input_shrank(struct eng *e, struct rpmap_batch *b, uint32_t from)
{
	uint64_t avail = rpmap_input_avail(e->in);
	/* The records wholly within the file: each ends at or before avail. */
	uint32_t k = avail > b->off ? rpmap_batch_count(b, (size_t)(avail - b->off)) : 0;
	const char *p;
	size_t len;

	if (k > from && rpmap_batch_record(b, k - 1, &p, &len))
		rpmap_shrank(e, b->off + (uint64_t)(p + len - b->data));
	else
		rpmap_shrank(e, b->off);
	rpmap_place(e, b, k);	/* an uncounted batch: indices for the records kept */
	if (k > from)
		rpmap_rerun(e, b, from, k);
}

static void run_single(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t rec,
		       unsigned retries);

/* Record `rec` of b, whose result did not fit: alone in a pool with larger
 * rings and cfg.retries what the record has left. */
static void run_alone(struct eng *e, struct rpmap_batch *b, uint32_t rec, size_t ring_bytes,
		      unsigned retries)
{
	struct poolh side = { .workers = 1, .ring_bytes = ring_bytes, .retries = retries };
	int r = rpmap_pool_start(e, &side);
	char what[64];

	if (r) {
		snprintf(what, sizeof(what), "the result of record %llu",
			 (unsigned long long)(b->first + rec));
		if (r == -ENOMEM)
			rpmap_no_memory(&side, rpmap_mem_available(), what);
		rpmap_record_failed(e, b, rec, r, 0, 0, -1);
		return;
	}
	run_single(e, &side, b, rec, retries);
	rpmap_pool_stop(e, &side);
}

/*
 * Record `rec` of b did not fit in ph's results (need: the bytes its result
 * asked for, 0 if not known). Past RPMAP_MAX_RESULT it fails; else it runs
 * alone in a pool whose rings hold it (the most a record may have when
 * need is not known), or fails if that is no larger than ph.
 */
void rpmap_too_large(struct eng *e, const struct poolh *ph, struct rpmap_batch *b, uint32_t rec,
		      unsigned retries, uint64_t need)
{
	size_t ring;

	if (need > RPMAP_MAX_RESULT) {
		rpmap_record_failed(e, b, rec, RP_EMSGSIZE, RP_RES_POOL, 0, -1);
		return;
	}
	ring = rpmap_ring_for((need ? need : RPMAP_MAX_RESULT) + ALONE_OVERHEAD, false);
	if (ring <= ph->ring_bytes)
		rpmap_record_failed(e, b, rec, RP_EMSGSIZE, RP_RES_POOL, 0, -1);
	else
		run_alone(e, b, rec, ring, retries);
}

/*
 * Run record `rec` of b alone on ph (cfg.retries there: what the record has
 * left) and settle it: write its output or report it.
 */
static void run_single(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t rec,
		       unsigned retries)
{
	struct rp_result res;
	struct failure f;

	if (e->stop || run_one(e, ph, b, rec, 1, &res))
		return;
	if (rpmap_beyond_input(e, b, rec + 1)) {
		rp_release(ph->pool, &res);
		rpmap_input_shrank(e, b, rec);
		return;
	}
	if (rpmap_result_ok(&res, 1)) {
		const struct rpmap_res_hdr *h = res.data;
		uint32_t done = h->ndone;
		uint64_t need = h->need;

		rpmap_emit(e, b, rec, res.data);
		rp_release(ph->pool, &res);
		if (!done)
			rpmap_too_large(e, ph, b, rec, retries, need);
		return;
	}
	rpmap_failure_of(&res, rec, 1, &f);
	rp_release(ph->pool, &res);
	rpmap_single_failed(e, b, rec, &f);
}

/*
 * Record `rec` of b killed its worker once. With --retries N it runs alone
 * in a pool with cfg.retries N - 1 (the rerun pool when that is 0), so it
 * runs N + 1 times in all before it is reported.
 */
static void crashed(struct eng *e, struct rpmap_batch *b, uint32_t rec, const struct failure *f)
{
	unsigned n = e->o->retries;

	if (e->stop)
		return;
	if (!n)
		rpmap_record_failed(e, b, rec, RP_ECRASHED, RP_RES_POOL, f->sig, f->code);
	else
		run_single(e, n == 1 ? &e->rerun : &e->retry, b, rec, n - 1);
}

/*
 * Settle records from .. to of b by running them again in the rerun pool,
 * as one task; if it fails, by the record its last mark names (see the top
 * of the file), and record by record when it names none.
 */
void rpmap_rerun(struct eng *e, struct rpmap_batch *b, uint32_t from, uint32_t to)
{
	struct poolh *ph = &e->rerun;

	while (from < to && !e->stop) {
		uint32_t cnt = to - from;
		struct rp_result res;
		struct failure f;

		if (run_one(e, ph, b, from, cnt, &res))
			return;
		if (rpmap_beyond_input(e, b, to)) {
			rp_release(ph->pool, &res);
			rpmap_input_shrank(e, b, from);
			return;
		}
		if (rpmap_result_ok(&res, cnt)) {
			const struct rpmap_res_hdr *h = res.data;
			uint32_t done = h->ndone;
			uint64_t need = h->need;

			rpmap_emit(e, b, from, res.data);
			rp_release(ph->pool, &res);
			if (done == cnt)
				return;
			if (done == 0 && (cnt == 1 || (need && !rpmap_fits_pool(ph, need))))
				rpmap_too_large(e, ph, b, from, e->o->retries, need);
			else if (done == 0)
				rpmap_rerun(e, b, from, from + 1);
			from += done ? done : 1;
			continue;
		}
		rpmap_failure_of(&res, from, cnt, &f);
		rp_release(ph->pool, &res);
		if (f.rec < 0 && cnt > 1) {
			/* Nothing known: one record per task. */
			for (uint32_t i = from; i < to && !e->stop; i++)
				rpmap_rerun(e, b, i, i + 1);
			return;
		}
		if (f.rec < 0)
			f.rec = from;
		if (f.rec > from)
			rpmap_rerun(e, b, from, (uint32_t)f.rec);
		if (f.kind == F_CRASH)
			crashed(e, b, (uint32_t)f.rec, &f);
		else
			rpmap_single_failed(e, b, (uint32_t)f.rec, &f);
		from = (uint32_t)f.rec + 1;
	}
}

/*
 * The main pool's task for all of batch b failed (res, still held: this
 * releases it). Only the record the worker was on is special; the records
 * before it and after it run again.
 */
void rpmap_batch_failed(struct eng *e, struct rpmap_batch *b, struct rp_result *res)
{
	uint32_t nrec;
	struct failure f;

	if (rpmap_beyond_input(e, b, 0)) {
		/* Most likely the worker's SIGBUS: the file is shorter now. */
		rp_release(e->main.pool, res);
		rpmap_input_shrank(e, b, 0);
		return;
	}
	nrec = b->counted ? b->nrec : rpmap_batch_count(b, b->len);

	rpmap_failure_of(res, 0, nrec, &f);
	rp_release(e->main.pool, res);
	rpmap_place(e, b, nrec);
	if (!nrec)
		return;
	if (f.rec < 0) {
		rpmap_rerun(e, b, 0, nrec);
		return;
	}
	rpmap_rerun(e, b, 0, (uint32_t)f.rec);
	if (f.kind == F_CRASH)
		crashed(e, b, (uint32_t)f.rec, &f);
	else
		rpmap_single_failed(e, b, (uint32_t)f.rec, &f);
	rpmap_rerun(e, b, (uint32_t)f.rec + 1, nrec);
}

/*
 * A record too large for the pool's rings: a one-worker pool sized for it.
 * The input cuts such a batch with that record alone; should a batch of
 * several ever come here, each of its records runs alone in turn (slow,
 * never a record lost).
 */
void rpmap_run_large(struct eng *e, struct rpmap_batch *b)
{
	uint64_t need = b->len + sizeof(struct rpmap_task_hdr);
	uint64_t res = rpmap_result_bound(b->len, 1);
	struct poolh side = { .workers = 1, .retries = e->o->retries };

	if (b->out_bound)	/* members: what they decode to */
		res = sizeof(struct rpmap_res_hdr) + 8 + 2 * sizeof(struct rpmap_fail) + b->out_bound;
	uint32_t nrec;
	char what[96];
	int r;

	side.ring_bytes = rpmap_ring_for(res > need ? res : need, false);
	if (e->stop)
		return;
	nrec = b->counted ? b->nrec : rpmap_batch_count(b, b->len);
	rpmap_place(e, b, nrec);
	r = rpmap_pool_start(e, &side);
	if (r) {
		snprintf(what, sizeof(what), "record %llu (input byte %llu, %zu bytes)",
			 (unsigned long long)b->first, (unsigned long long)(e->in->start + b->off),
			 b->len);
		if (r == -ENOMEM)
			rpmap_no_memory(&side, rpmap_mem_available(), what);
		else
			fprintf(stderr, "rpmap: %s: cannot make a pool for it: %s\n", what,
				strerror(-r));
		e->fatal = e->stop = true;
		return;
	}
	for (uint32_t i = 0; i < nrec && !e->stop; i++)
		run_single(e, &side, b, i, e->o->retries);
	rpmap_pool_stop(e, &side);
	e->bytes_done += b->len;
	e->batches++;
}
