/* SPDX-License-Identifier: MIT */
/*
 * The engine: cut batches, submit them without blocking (RP_NONBLOCK; on
 * -EAGAIN collect first), collect results in input order and write them.
 *
 * Normal path: one ringpool task per batch, results written in place from
 * the result ring. Per-record failures a batch reports (a plugin returned
 * non-zero) need nothing more: the batch says which records failed.
 *
 * Recovery, when a batch did not finish. The library replaces a worker
 * that dies or is killed for a deadline; the task it was running fails
 * (RP_ECRASHED, RP_ETIMEDOUT) and the tasks queued behind it run on the
 * replacement, so only the failed batch needs work. Its worker noted on the
 * board which record it was on, so that record is known without running
 * anything again: a crash is that record's first crash (reported at once,
 * or run alone in a pool whose cfg.retries gives it --retries - 1 more
 * runs); a kill for the deadline sends the records from it onwards to run
 * again with it first, and a record is reported as timed out only when it
 * ran past the limit on its own: killed as the first record of a task with
 * nothing before it, or measured by its worker. The other records of the
 * batch run again as batches. All of that runs in a one-worker "rerun"
 * pool, one task at a time, while the main pool's tasks wait in their rings:
 * slow, but only after a failure. A record whose output did not fit runs
 * alone with all the space a pool has.
 *
 * A record too large for the pool's rings runs alone in a one-worker pool
 * sized for it, after everything before it has been written. If the main
 * pool runs out of replacements (cfg.max_restarts), rpmap lets it drain and
 * creates it anew.
 */
#include "rpmap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)
#define TARGET_TASK_NS	2000000ull	/* adaptive chunking: ~2 ms of work per task */

volatile int rpmap_interrupted;

struct poolh {
	struct rp_pool *pool;
	unsigned workers;
	size_t ring_bytes;
	uint64_t max_res;	/* largest result (and task input) the rings take */
	unsigned retries;	/* its cfg.retries */
	uint32_t board;		/* its first board slot + 1; 0: no board */
	uint32_t board_mask;	/* slots - 1 (a power of two) */
};

/* How a task for a range of records failed, and on which record. */
enum fkind {
	F_CRASH,	/* the worker died (RP_ECRASHED) */
	F_KILLED,	/* the library killed it for the task's deadline */
	F_OVERRAN,	/* the worker measured a record past --timeout */
	F_OTHER,	/* anything else: protocol, memory, ... */
};

struct failure {
	enum fkind kind;
	int status;
	unsigned flags;
	int sig, code;		/* F_CRASH: term_signal, term_exit */
	int64_t rec;		/* the record (index in the batch) it was on, or -1 */
};

struct eng {
	const struct rpmap_opts *o;
	struct rpmap_input *in;
	struct rpmap_output *out;
	struct poolh main;
	struct poolh rerun;		/* one worker, retries 0: recovery */
	struct poolh retry;		/* one worker, retries N - 1: crashed records */
	struct rpmap_init *init;	/* --spawn: the workers' initializer args */
	struct rpmap_batch **win;	/* batch of task seq, by seq & mask */
	uint64_t mask;
	uint64_t in_flight;
	struct rpmap_limits lim;
	struct rpmap_batch *pending;	/* cut, not yet submitted */
	unsigned next_flags;		/* rp_next flags */
	uint64_t emit_index;		/* ordered: index of the next record written */
	double ns_per_rec;		/* adaptive chunking, 0 until measured */
	double out_ratio;		/* plugins: output per input byte (learn_output) */
	uint64_t target_ns;		/* adaptive chunking: work per task */

	uint64_t records, failed, batches, reruns, restarts, bytes_done;
	/* library counters of pools already destroyed */
	uint64_t lib_restarts, lib_retried, lib_timeouts, lib_spawned;
	bool stop;			/* no more output: failure, EPIPE or fatal error */
	bool epipe, fatal, saw_int;
	bool drain;			/* main pool out of replacements: drain, recreate */
	bool shrunk;			/* the input file shrank: see shrank() */
	uint64_t shrunk_at;		/* ... to this input offset, in whole records */
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

#define RING_ROOMY_MAX	(8u << 20)	/* rings up to this size get 4x headroom */

/*
 * Ring bytes for tasks and results of up to `need` bytes. Roomy: room for
 * four (at least 2 MiB) while that stays within RING_ROOMY_MAX, else, and
 * not roomy, the least power of two whose largest record (half of it)
 * holds one: 2 to 4 times need. Up to the library's 1 GiB.
 */
static size_t ring_for(uint64_t need, bool roomy)
{
	uint64_t ring = roomy ? 2u << 20 : RP_MIN_RING_BYTES;

	while (roomy && ring < 4 * (need + 64) && ring < RING_ROOMY_MAX)
		ring *= 2;
	while (ring / 2 < need + 64 && ring < (1u << 30))
		ring *= 2;
	return (size_t)ring;
}

/* Shared memory a pool's region takes: a task ring and a result ring per
 * worker, with their headers, and the region's own header. */
static uint64_t pool_bytes(const struct poolh *ph)
{
	return (uint64_t)ph->workers * 2 * (ph->ring_bytes + 4096) + (64u << 10);
}

static void no_memory(const struct poolh *ph, uint64_t avail, const char *what)
{
	char b1[32];

	fprintf(stderr,
		"rpmap: not enough memory for %s: %llu MiB of shared memory needed (%u worker%s, "
		"2 rings of %s each), %llu MiB available\n",
		what, (unsigned long long)(pool_bytes(ph) >> 20), ph->workers,
		ph->workers == 1 ? "" : "s", rpmap_size_str(b1, sizeof(b1), ph->ring_bytes),
		(unsigned long long)(avail >> 20));
}

/* Start the pool ph describes. Returns 0, or -ENOMEM when its region would
 * not fit in the memory left (checked first: a region too large would have
 * its pages taken later, and rpmap be killed for them), or rp_pool_create's
 * error. */
static int pool_start(struct eng *e, struct poolh *ph)
{
	struct rp_config cfg;
	struct rp_stats st;
	int r;

	if (pool_bytes(ph) > rpmap_mem_available())
		return -ENOMEM;

	rp_config_init(&cfg);
	cfg.workers = ph->workers;
	cfg.ring_bytes = ph->ring_bytes;
	cfg.max_in_flight = 16;
	while (cfg.max_in_flight < 8 * ph->workers)
		cfg.max_in_flight *= 2;
	cfg.fn = rpmap_batch_task;
	cfg.retries = ph->retries;
	cfg.task_timeout_ns = rpmap_fn.timeout_ns;
	cfg.max_tasks_per_worker = e->o->max_tasks;
	cfg.max_rss_bytes = e->o->max_rss;
	if (e->o->spawn) {
		cfg.flags |= RP_CFG_SPAWN;
		cfg.init = rpmap_worker_init;
		cfg.init_args = e->init;
		cfg.init_args_len = sizeof(*e->init);
	}
	/* No worker of this pool is alive: its slots are ours to clear. */
	if (ph->board && rpmap_fn.board)
		memset(&rpmap_fn.board[ph->board - 1], 0,
		       ((size_t)ph->board_mask + 1) * sizeof(struct rpmap_slot));
	r = rp_pool_create(&ph->pool, &cfg);
	if (r)
		return r;
	rp_pool_stats(ph->pool, &st);
	ph->max_res = st.max_payload;
	return 0;
}

static void pool_stop(struct eng *e, struct poolh *ph)
{
	struct rp_stats st;

	if (!ph->pool)
		return;
	if (rp_pool_stats(ph->pool, &st) == 0) {
		e->lib_restarts += st.restarts;
		e->lib_retried += st.retried;
		e->lib_timeouts += st.timeouts;
		e->lib_spawned += st.spawned;
	}
	rp_pool_destroy(ph->pool);
	ph->pool = NULL;
}

static int pool_restart(struct eng *e, struct poolh *ph)
{
	int r;

	pool_stop(e, ph);
	e->restarts++;
	r = pool_start(e, ph);
	if (r) {
		if (r == -ENOMEM)
			no_memory(ph, rpmap_mem_available(), "the workers");
		else
			fprintf(stderr, "rpmap: cannot restart the worker pool: %s\n", strerror(-r));
		e->fatal = e->stop = true;
	}
	return r;
}

/* Start a side pool on first use. Returns 0 or -errno (reported, fatal). */
static int pool_ensure(struct eng *e, struct poolh *ph)
{
	int r;

	if (ph->pool)
		return 0;
	r = pool_start(e, ph);
	if (r) {
		if (r == -ENOMEM)
			no_memory(ph, rpmap_mem_available(), "a worker for recovery");
		else
			fprintf(stderr, "rpmap: cannot start a worker for recovery: %s\n",
				strerror(-r));
		e->fatal = e->stop = true;
	}
	return r;
}

/*
 * The board: main pool's slots first (one per task it can have in flight),
 * then the rerun pool's one. A memfd, so exec'd workers can map it too.
 * Without it (memfd failed) recovery runs failed batches again record by
 * record instead. Returns the memfd, or -1.
 */
static int board_create(struct eng *e)
{
	uint32_t slots = (uint32_t)e->mask + 2;
	size_t bytes = (size_t)slots * sizeof(struct rpmap_slot);
	void *m;
	int fd = memfd_create("rpmap-board", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)bytes) < 0 ||
	    (m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		close(fd);
		return -1;
	}
	rpmap_fn.board = m;
	rpmap_fn.board_slots = slots;
	e->main.board = 1;
	e->main.board_mask = (uint32_t)e->mask;
	e->rerun.board = slots;
	e->rerun.board_mask = 0;
	return fd;
}

static void board_free(int fd)
{
	if (rpmap_fn.board)
		munmap(rpmap_fn.board, (size_t)rpmap_fn.board_slots * sizeof(struct rpmap_slot));
	rpmap_fn.board = NULL;
	rpmap_fn.board_slots = 0;
	if (fd >= 0)
		close(fd);
}

/*
 * The record (index in the batch, from `from`) a failed task of cnt
 * records was on, from its board slot; -1 if not known: no board, the task
 * never started (it waited behind a worker that could not be replaced), or
 * it died before its first record. A task of one record is on that record.
 */
static int64_t board_record(const struct poolh *ph, const struct rp_result *res, uint32_t from,
			    uint32_t cnt)
{
	const struct rpmap_slot *sl;
	uint64_t seq1, rec1;

	if (!ph->board || !rpmap_fn.board)
		return cnt == 1 ? (int64_t)from : -1;
	sl = &rpmap_fn.board[ph->board - 1 + (res->seq & ph->board_mask)];
	/* relaxed, both: the worker that wrote them is dead and reaped, or its
	 * stores came before its result, which rp_next acquired. Read once,
	 * then checked: the slot is written by another process. */
	seq1 = atomic_load_explicit(&sl->seq1, memory_order_relaxed);
	rec1 = atomic_load_explicit(&sl->rec1, memory_order_relaxed);
	if (seq1 != res->seq + 1)
		return -1;	/* not started: another task's slot */
	if (rec1 == 0 || rec1 > cnt)
		return -1;	/* before its first record */
	return (int64_t)from + (int64_t)rec1 - 1;
}

/* Classify a failed result (before rp_release). */
static void failure_of(const struct poolh *ph, const struct rp_result *res, uint32_t from,
		       uint32_t cnt, struct failure *f)
{
	bool pool = res->flags & RP_RES_POOL;

	f->status = res->status;
	f->flags = res->flags;
	f->sig = res->term_signal;
	f->code = res->term_exit;
	f->kind = pool && res->status == RP_ECRASHED    ? F_CRASH
		  : pool && res->status == RP_ETIMEDOUT ? F_KILLED
		  : !pool && res->status == RPMAP_EOVERRAN ? F_OVERRAN
							   : F_OTHER;
	f->rec = f->kind == F_OTHER ? -1 : board_record(ph, res, from, cnt);
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

	if (e->stop)
		return;
	if (rpmap_batch_record(b, rec, &p, &len))
		off += (uint64_t)(p - b->data);
	if ((flags & RP_RES_POOL) && status == RP_ECRASHED) {
		if (sig)
			snprintf(why, sizeof(why), "worker killed by signal %d (%s)", sig,
				 strsignal(sig));
		else
			snprintf(why, sizeof(why), "worker exited with status %d", code);
	} else if ((flags & RP_RES_POOL) && status == RP_ETIMEDOUT) {
		snprintf(why, sizeof(why), "timed out after %llu ms",
			 (unsigned long long)e->o->timeout_ms);
	} else if (status == RP_EMSGSIZE) {
		snprintf(why, sizeof(why), "result too large (more than %u MiB)",
			 RPMAP_MAX_RESULT >> 20);
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

static void timed_out(struct eng *e, const struct rpmap_batch *b, uint32_t rec)
{
	record_failed(e, b, rec, RP_ETIMEDOUT, RP_RES_POOL, 0, -1);
}

/* Report a single record's failure as its task's status says. */
static void single_failed(struct eng *e, const struct rpmap_batch *b, uint32_t rec,
			  const struct failure *f)
{
	if (f->kind == F_KILLED || f->kind == F_OVERRAN)
		timed_out(e, b, rec);
	else
		record_failed(e, b, rec, f->status ? f->status : -EPROTO, f->flags, f->sig,
			      f->code);
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

/* A finished result for a task of cnt records (cnt 0: not known). */
static bool result_ok(const struct rp_result *r, uint32_t cnt)
{
	return r->status == 0 && valid_result(r->data, r->len) &&
	       (!cnt || ((const struct rpmap_res_hdr *)r->data)->nrec == cnt);
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

	if (e->stop)
		return;
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
	recs = (uint64_t)(e->target_ns / (e->ns_per_rec + 1));
	e->lim.recs = recs < 1 ? 1 : recs > 1u << 20 ? 1u << 20 : (uint32_t)recs;
}

/*
 * A plugin's output per input byte, learnt from finished batches (the
 * input's bytes per record, b->len / nrec, stand for those of the records
 * done): reserved for each batch (task_cap) and used to cut batches whose
 * results fit the rings. Without it, a plugin writing more than 16 times
 * its input overflowed every batch, and the rest of each ran again one
 * task at a time in the rerun pool: right, but serial.
 */
static void learn_output(struct eng *e, const struct rpmap_batch *b, const struct rpmap_res_hdr *h)
{
	double in_rec, out_rec, ratio;

	if (rpmap_fn.kind != RPMAP_PLUGIN || !h->nrec || !b->len)
		return;
	in_rec = (double)b->len / h->nrec;
	out_rec = (double)(h->out_len + (h->ndone < h->nrec ? h->need : 0)) / (h->ndone + 1);
	ratio = 2 * out_rec / (in_rec + 1);	/* twice what was seen: headroom */
	e->out_ratio = 0.75 * e->out_ratio + 0.25 * ratio;
	if (ratio > e->out_ratio)
		e->out_ratio = ratio;	/* up at once, down slowly */
	if (e->out_ratio < 16)
		e->out_ratio = 16;
	e->lim.bytes = e->o->batch_bytes;
	if ((double)e->lim.bytes * e->out_ratio > (double)e->main.max_res)
		e->lim.bytes = (size_t)((double)e->main.max_res / e->out_ratio) + 1;
}

/* ---- submitting ---- */

/*
 * Result space a task reserves: the built-in's bound; for a plugin, its
 * learnt output per input byte (16 at first) times the input plus 64 KiB
 * (a record that needs more runs again alone, in a pool that holds it).
 * Never more than the pool's largest result.
 */
static uint64_t task_cap(const struct eng *e, const struct poolh *ph, size_t len, uint32_t nrec,
			 bool alone)
{
	uint64_t cap = rpmap_fn.kind != RPMAP_PLUGIN ? rpmap_result_bound(len, nrec)
		       : alone ? ph->max_res
			       : (uint64_t)(e->out_ratio * (double)len) + 65536;

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
		if (!rpmap_batch_record(b, from, &p, &l2) ||
		    !rpmap_batch_record(b, from + cnt - 1, &q, &l2))
			return rpmap_input_faulted() ? -ENODATA : -EINVAL;
		len = (size_t)(q + l2 - p);
	}
	mapped = b->seg->mapped;
	r = rp_reserve(ph->pool, NULL, sizeof(*th) + (mapped ? 0 : len), flags, &buf);
	if (r)
		return r;
	th = buf;
	th->first = b->first + from;
	th->nrec = cnt ? cnt : b->counted ? b->nrec : 0;
	th->cap = (uint32_t)task_cap(e, ph, len, th->nrec, cnt == 1);
	th->map_off = mapped ? (uint64_t)(p - rpmap_fn.map) : 0;
	th->map_len = mapped ? len : 0;
	th->board = ph->board;
	th->board_mask = ph->board_mask;
	if (!mapped)
		memcpy(th + 1, p, len);
	return rp_commit(ph->pool, sizeof(*th) + (mapped ? 0 : len), seq);
}

static void input_shrank(struct eng *e, struct rpmap_batch *b, uint32_t from);

/*
 * Run records from .. from + cnt of b as one task on a side pool (started
 * on first use), with nothing else in flight there, and wait for its
 * result (in place in *res: release it). Recreates the pool if no worker
 * is left. Returns 0 or a fatal -errno.
 */
static int run_one(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		   uint32_t cnt, struct rp_result *res)
{
	int r = pool_ensure(e, ph);

	if (r)
		return r;
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
	if (r == -ENODATA) {
		/* The parent's read of the records faulted: the file shrank. */
		input_shrank(e, b, from);
	} else if (r) {
		fprintf(stderr, "rpmap: worker pool: %s\n", strerror(-r));
		e->fatal = e->stop = true;
	}
	e->reruns++;
	return r;
}

/* ---- recovery ---- */

static void run_alone(struct eng *e, struct rpmap_batch *b, uint32_t rec, size_t ring_bytes,
		      unsigned retries);

/* What a batch's result holds beside one record's output: its header, the
 * separator, padding and a failure table entry. */
#define ALONE_OVERHEAD	(sizeof(struct rpmap_res_hdr) + 16 + sizeof(struct rpmap_fail))

/* Whether a record whose result needs `need` bytes (0: not known) can fit
 * a task of ph at all, started or not (a side pool starts on first use:
 * until then, what its rings will take, less the ring's record header). */
static bool fits_pool(const struct poolh *ph, uint64_t need)
{
	uint64_t max = ph->max_res ? ph->max_res : ph->ring_bytes / 2 - 64;

	return need && need + ALONE_OVERHEAD <= max;
}

/*
 * Record `rec` of b did not fit in ph's results (need: the bytes its result
 * asked for, 0 if not known). Past RPMAP_MAX_RESULT it fails; else it runs
 * alone in a pool whose rings hold it (the most a record may have when
 * need is not known), or fails if that is no larger than ph.
 */
static void too_large(struct eng *e, const struct poolh *ph, struct rpmap_batch *b, uint32_t rec,
		      unsigned retries, uint64_t need)
{
	size_t ring;

	if (need > RPMAP_MAX_RESULT) {
		record_failed(e, b, rec, RP_EMSGSIZE, RP_RES_POOL, 0, -1);
		return;
	}
	ring = ring_for((need ? need : RPMAP_MAX_RESULT) + ALONE_OVERHEAD, false);
	if (ring <= ph->ring_bytes)
		record_failed(e, b, rec, RP_EMSGSIZE, RP_RES_POOL, 0, -1);
	else
		run_alone(e, b, rec, ring, retries);
}

/* ---- the input shrank ---- */

static void rerun(struct eng *e, struct rpmap_batch *b, uint32_t from, uint32_t to);

/*
 * Whether the first `to` records of b (0: all of them) reach past what the
 * input file holds now: it was truncated while rpmap read it, so their bytes read as zeros
 * or killed their worker, and nothing of them may be written. One fstat
 * per call (per task collected); a scan of b only once the file is
 * shorter than b.
 */
static bool beyond_input(struct eng *e, const struct rpmap_batch *b, uint32_t to)
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
static void shrank(struct eng *e, uint64_t at)
{
	uint64_t end = rpmap_input_clip(e->in);

	if (end < at)
		at = end;
	if (!e->shrunk || at < e->shrunk_at)
		e->shrunk_at = at;
	e->shrunk = true;
}

static void shrank_report(struct eng *e)
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
static void input_shrank(struct eng *e, struct rpmap_batch *b, uint32_t from)
{
	uint64_t avail = rpmap_input_avail(e->in);
	/* The records wholly within the file: each ends at or before avail. */
	uint32_t k = avail > b->off ? rpmap_batch_count(b, (size_t)(avail - b->off)) : 0;
	const char *p;
	size_t len;

	if (k > from && rpmap_batch_record(b, k - 1, &p, &len))
		shrank(e, b->off + (uint64_t)(p + len - b->data));
	else
		shrank(e, b->off);
	place(e, b, k);	/* an uncounted batch: indices for the records kept */
	if (k > from)
		rerun(e, b, from, k);
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
	if (beyond_input(e, b, rec + 1)) {
		rp_release(ph->pool, &res);
		input_shrank(e, b, rec);
		return;
	}
	if (result_ok(&res, 1)) {
		const struct rpmap_res_hdr *h = res.data;
		uint32_t done = h->ndone;
		uint64_t need = h->need;

		emit(e, b, rec, res.data);
		rp_release(ph->pool, &res);
		if (!done)
			too_large(e, ph, b, rec, retries, need);
		return;
	}
	failure_of(ph, &res, rec, 1, &f);
	rp_release(ph->pool, &res);
	single_failed(e, b, rec, &f);
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
		record_failed(e, b, rec, RP_ECRASHED, RP_RES_POOL, f->sig, f->code);
	else
		run_single(e, n == 1 ? &e->rerun : &e->retry, b, rec, n - 1);
}

/*
 * Settle records from .. to of b by running them again in the rerun pool,
 * as one task; if it fails, by what its board slot says (see the top of
 * the file), and record by record when it says nothing.
 */
static void rerun(struct eng *e, struct rpmap_batch *b, uint32_t from, uint32_t to)
{
	struct poolh *ph = &e->rerun;

	while (from < to && !e->stop) {
		uint32_t cnt = to - from;
		struct rp_result res;
		struct failure f;

		if (run_one(e, ph, b, from, cnt, &res))
			return;
		if (beyond_input(e, b, to)) {
			rp_release(ph->pool, &res);
			input_shrank(e, b, from);
			return;
		}
		if (result_ok(&res, cnt)) {
			const struct rpmap_res_hdr *h = res.data;
			uint32_t done = h->ndone;
			uint64_t need = h->need;

			emit(e, b, from, res.data);
			rp_release(ph->pool, &res);
			if (done == cnt)
				return;
			if (done == 0 && (cnt == 1 || (need && !fits_pool(ph, need))))
				too_large(e, ph, b, from, e->o->retries, need);
			else if (done == 0)
				rerun(e, b, from, from + 1);
			from += done ? done : 1;
			continue;
		}
		failure_of(ph, &res, from, cnt, &f);
		rp_release(ph->pool, &res);
		if (f.rec < 0 && cnt > 1) {
			/* Nothing known: one record per task. */
			for (uint32_t i = from; i < to && !e->stop; i++)
				rerun(e, b, i, i + 1);
			return;
		}
		if (f.rec < 0)
			f.rec = from;
		if (f.kind == F_KILLED && f.rec > from) {
			/* Killed for the whole task's time: the records before
			 * it finished, and it runs again first. */
			rerun(e, b, from, (uint32_t)f.rec);
			from = (uint32_t)f.rec;
			continue;
		}
		if (f.rec > from)
			rerun(e, b, from, (uint32_t)f.rec);
		if (f.kind == F_CRASH)
			crashed(e, b, (uint32_t)f.rec, &f);
		else
			single_failed(e, b, (uint32_t)f.rec, &f);
		from = (uint32_t)f.rec + 1;
	}
}

/*
 * The main pool's task for all of batch b failed (res, still held: this
 * releases it). Only the record the worker was on is special; the records
 * before it run again, and those after it (with it first, after a kill for
 * the deadline: the time may have been its batch's) too.
 */
static void batch_failed(struct eng *e, struct rpmap_batch *b, struct rp_result *res)
{
	uint32_t nrec;
	struct failure f;

	if (beyond_input(e, b, 0)) {
		/* Most likely the worker's SIGBUS: the file is shorter now. */
		rp_release(e->main.pool, res);
		input_shrank(e, b, 0);
		return;
	}
	nrec = b->counted ? b->nrec : rpmap_batch_count(b, b->len);

	failure_of(&e->main, res, 0, nrec, &f);
	rp_release(e->main.pool, res);
	place(e, b, nrec);
	if (!nrec)
		return;
	if (f.rec < 0) {
		rerun(e, b, 0, nrec);
		return;
	}
	rerun(e, b, 0, (uint32_t)f.rec);
	if (f.kind == F_KILLED) {
		rerun(e, b, (uint32_t)f.rec, nrec);
		return;
	}
	if (f.kind == F_CRASH)
		crashed(e, b, (uint32_t)f.rec, &f);
	else
		timed_out(e, b, (uint32_t)f.rec);	/* F_OVERRAN: measured */
	rerun(e, b, (uint32_t)f.rec + 1, nrec);
}

/* ---- collecting ---- */

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
	if (result_ok(&res, 0)) {
		const struct rpmap_res_hdr *h = res.data;
		uint32_t done = h->ndone, nrec = h->nrec;

		uint64_t need = h->need;

		place(e, b, nrec);
		learn(e, h);
		learn_output(e, b, h);
		if (beyond_input(e, b, done)) {
			rp_release(e->main.pool, &res);
			input_shrank(e, b, 0);
		} else {
			emit(e, b, 0, res.data);
			rp_release(e->main.pool, &res);
			/* The next output did not fit: the rest again, that
			 * record alone first if the rerun pool cannot hold it. */
			if (done < nrec && need && !fits_pool(&e->rerun, need)) {
				too_large(e, &e->main, b, done, e->o->retries, need);
				done++;
			}
			if (done < nrec)
				rerun(e, b, done, nrec);
		}
	} else {
		batch_failed(e, b, &res);
		/* Out of replacements: it shrinks with each death from now on. */
		if (rp_pool_stats(e->main.pool, &st) == 0 && st.restarts_exhausted)
			e->drain = true;
	}
	e->bytes_done += b->len;
	e->batches++;
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

/*
 * A record too large for the pool's rings: a one-worker pool sized for it.
 * The input cuts such a batch with that record alone; should a batch of
 * several ever come here, each of its records runs alone in turn (slow,
 * never a record lost).
 */
static void run_large(struct eng *e, struct rpmap_batch *b)
{
	uint64_t need = b->len + sizeof(struct rpmap_task_hdr);
	uint64_t res = rpmap_result_bound(b->len, 1);
	struct poolh side = { .workers = 1, .retries = e->o->retries };
	uint32_t nrec;
	char what[96];
	int r;

	side.ring_bytes = ring_for(res > need ? res : need, false);
	collect_all(e);
	if (e->stop)
		return;
	nrec = b->counted ? b->nrec : rpmap_batch_count(b, b->len);
	place(e, b, nrec);
	r = pool_start(e, &side);
	if (r) {
		snprintf(what, sizeof(what), "record %llu (input byte %llu, %zu bytes)",
			 (unsigned long long)b->first, (unsigned long long)b->off, b->len);
		if (r == -ENOMEM)
			no_memory(&side, rpmap_mem_available(), what);
		else
			fprintf(stderr, "rpmap: %s: cannot make a pool for it: %s\n", what,
				strerror(-r));
		e->fatal = e->stop = true;
		return;
	}
	for (uint32_t i = 0; i < nrec && !e->stop; i++)
		run_single(e, &side, b, i, e->o->retries);
	pool_stop(e, &side);
	e->bytes_done += b->len;
	e->batches++;
}

/* Record `rec` of b, whose result did not fit: alone in a pool with larger
 * rings and cfg.retries what the record has left. */
static void run_alone(struct eng *e, struct rpmap_batch *b, uint32_t rec, size_t ring_bytes,
		      unsigned retries)
{
	struct poolh side = { .workers = 1, .ring_bytes = ring_bytes, .retries = retries };
	int r = pool_start(e, &side);
	char what[64];

	if (r) {
		snprintf(what, sizeof(what), "the result of record %llu",
			 (unsigned long long)(b->first + rec));
		if (r == -ENOMEM)
			no_memory(&side, rpmap_mem_available(), what);
		record_failed(e, b, rec, r, 0, 0, -1);
		return;
	}
	run_single(e, &side, b, rec, retries);
	pool_stop(e, &side);
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

/* The largest task input or result a batch of the main pool may need. */
static uint64_t task_need(const struct rpmap_opts *o)
{
	uint64_t task = o->batch_bytes, need;

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
	return need;
}

/*
 * Memory: choose the main pool's rings and workers to fit what the system
 * and the memory cgroup leave (rpmap_mem_available). Rings are roomy (room
 * for four of the largest tasks or results, at least 2 MiB) while that is
 * at most 8 MiB, else just large enough for one (ring_for: 2 to 4 times
 * it, as a ring is a power of two of which a record takes at most half).
 * If that does not fit: the least rings that hold one task, then, unless
 * -j was given, fewer workers. Returns 0, or -ENOMEM (reported).
 */
static int fit_main(struct eng *e, const struct rpmap_opts *o)
{
	uint64_t need = task_need(o), avail = rpmap_mem_available();
	struct poolh *ph = &e->main;
	uint64_t per;

	ph->workers = o->workers;
	ph->ring_bytes = ring_for(need, true);
	if (pool_bytes(ph) <= avail)
		return 0;
	ph->ring_bytes = ring_for(need, false);
	per = pool_bytes(&(struct poolh){ .workers = 1, .ring_bytes = ph->ring_bytes });
	if (pool_bytes(ph) > avail && !o->workers_set && avail >= per)
		ph->workers = (unsigned)(avail / per);
	if (pool_bytes(ph) <= avail)
		return 0;
	no_memory(ph, avail, "the workers");
	fprintf(stderr, "rpmap: use fewer workers (-j) or smaller records or tasks "
			"(--block, --batch)\n");
	return -ENOMEM;
}

/* --spawn: what exec'd workers need to rebuild a forked worker's state. */
static struct rpmap_init *make_init(const struct rpmap_opts *o, const struct rpmap_input *in,
				    int board_fd)
{
	struct rpmap_init *a = calloc(1, sizeof(*a));
	struct stat st;

	if (!a)
		return NULL;
	a->fn = rpmap_fn;
	a->ppid = (int32_t)getpid();
	a->board_fd = board_fd;
	a->map_fd = -1;
	if (rpmap_fn.map && fstat(in->fd, &st) == 0) {
		a->map_fd = in->fd;
		a->map_dev = (uint64_t)st.st_dev;
		a->map_ino = (uint64_t)st.st_ino;
	}
	if (rpmap_fn.kind == RPMAP_PLUGIN) {
		snprintf(a->plugin, sizeof(a->plugin), "%s", o->plugin_path ? o->plugin_path : "");
		snprintf(a->sym, sizeof(a->sym), "%s", o->plugin_sym ? o->plugin_sym : "");
	}
	return a;
}

int rpmap_run(const struct rpmap_opts *o, struct rpmap_input *in, struct rpmap_output *out)
{
	struct eng e = { .o = o, .in = in, .out = out };
	bool reading = true;
	int r, status, board_fd;

	e.t0 = now_ns();
	e.next_flags = o->unordered ? RP_UNORDERED : 0;
	if (fit_main(&e, o))
		return 2;
	/* The side pools: one worker, rings as large as the main pool's. */
	e.rerun = (struct poolh){ .workers = 1, .ring_bytes = e.main.ring_bytes };
	e.retry = (struct poolh){ .workers = 1, .ring_bytes = e.main.ring_bytes,
				  .retries = o->retries ? o->retries - 1 : 0 };
	/* The window: as pool_start sizes the main pool's max_in_flight. */
	e.mask = 15;
	while (e.mask + 1 < 8 * o->workers)
		e.mask = e.mask * 2 + 1;
	e.win = calloc(e.mask + 1, sizeof(*e.win));
	board_fd = board_create(&e);
	if (o->spawn)
		e.init = make_init(o, in, board_fd);
	if (!e.win || (o->spawn && !e.init)) {
		fprintf(stderr, "rpmap: out of memory\n");
		free(e.win);
		free(e.init);
		board_free(board_fd);
		return 2;
	}
	r = pool_start(&e, &e.main);
	if (r == -ENOMEM)
		no_memory(&e.main, rpmap_mem_available(), "the workers");
	else if (r)
		fprintf(stderr, "rpmap: cannot start %u workers: %s\n", e.main.workers, strerror(-r));
	if (r) {
		free(e.win);
		free(e.init);
		board_free(board_fd);
		return 2;
	}
	/* With --timeout, a task's work stays well inside the limit (the
	 * library's deadline is per task), and records whose cost is not
	 * known yet go one per task. */
	e.target_ns = TARGET_TASK_NS;
	if (rpmap_fn.timeout_ns && rpmap_fn.timeout_ns / 4 < e.target_ns)
		e.target_ns = rpmap_fn.timeout_ns / 4;
	e.lim.bytes = o->batch_bytes;
	e.out_ratio = 16;
	e.lim.max_in = e.main.max_res - sizeof(struct rpmap_task_hdr);
	e.lim.max_res = rpmap_fn.kind == RPMAP_PLUGIN ? 0 : e.main.max_res;
	e.lim.count = o->unordered || o->chunk || !(rpmap_fn.kind == RPMAP_IDENTITY ||
						     rpmap_fn.kind == RPMAP_UPPER);
	e.lim.recs = o->chunk ? o->chunk
		     : (rpmap_fn.kind == RPMAP_PLUGIN || rpmap_fn.kind == RPMAP_COUNT)
			     ? (rpmap_fn.timeout_ns ? 1 : 16)
			     : 0;
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
				if (r == -ENODATA) {
					/* The file shrank under the parent's read: the
					 * input ends at its last whole record now. */
					shrank(&e, UINT64_MAX);
					continue;
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
					if (n == -ENOMEM && in->cur)
						fprintf(stderr, "rpmap: %s: not enough memory to read "
							"a record longer than %zu bytes\n", in->name,
							in->cur->fill - in->cut);
					else if (n < 0)
						fprintf(stderr, "rpmap: %s: %s\n", in->name,
							strerror((int)-n));
					if (n < 0)
						e.fatal = e.stop = true;
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
			if (e.drain) {
				/* Out of replacements: recreate it once it is empty. */
				if (e.in_flight)
					break;
				e.drain = false;
				if (pool_restart(&e, &e.main))
					break;
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
	if (e.shrunk && !e.epipe)
		shrank_report(&e);
	if (!e.stop && rpmap_fn.kind == RPMAP_GZIP && in->cut_off == 0 && !e.saw_int && !e.shrunk) {
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
	pool_stop(&e, &e.rerun);
	pool_stop(&e, &e.retry);
	if (o->stats && !e.epipe)
		print_stats(&e);
	pool_stop(&e, &e.main);
	/* Stopped early: batches whose results were never collected. */
	for (uint64_t i = 0; e.win && i <= e.mask; i++)
		if (e.win[i])
			rpmap_batch_free(in, e.win[i]);
	free(e.win);
	free(e.init);
	board_free(board_fd);
	if (e.epipe)
		return -EPIPE;
	status = e.fatal ? 2 : e.failed ? 1 : e.saw_int ? 128 + SIGINT : 0;
	return status;
}
