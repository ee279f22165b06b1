/* SPDX-License-Identifier: MIT */
/*
 * The engine's own state and the calls between its files. engine.c runs
 * the main loop (cut, submit, collect in order); recover.c settles what a
 * task did not finish (crashes, deadlines, results that did not fit, large
 * records, an input that shrank); results.c writes a task's results and
 * reports failed records, and submits tasks; pools.c makes the pools
 * (rings sized to the tasks and to the memory left). The calls run one
 * way: engine -> recover -> results -> pools.
 */
#ifndef RPMAP_ENGINE_H
#define RPMAP_ENGINE_H

#include "rpmap.h"

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)

/* One pool rpmap made: the main pool, or a one-worker side pool. */
struct poolh {
	struct rp_pool *pool;
	unsigned workers;
	size_t ring_bytes;
	uint64_t max_res;	/* largest result (and task input) the rings take */
	unsigned retries;	/* its cfg.retries */
};

/* How a task for a range of records failed, and on which record. */
enum fkind {
	F_CRASH,	/* the worker died (RP_ECRASHED) */
	F_KILLED,	/* the library killed it: a record ran past --timeout */
	F_OTHER,	/* anything else: protocol, memory, ... */
};

struct failure {
	enum fkind kind;
	int status;
	unsigned flags;
	int sig, code;		/* F_CRASH: term_signal, term_exit */
	int64_t rec;		/* the record (index in the batch) it was on, from
				 * the task's last rp_task_mark; -1 if not known */
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
	bool shrunk;			/* the input file shrank: see rpmap_shrank() */
	uint64_t shrunk_at;		/* ... to this input offset, in whole records */
	struct rpmap_progress *pg;
	uint64_t t0;
};

/* ---- pools.c ---- */

/* Ring bytes for tasks and results of up to `need` bytes (see pools.c). */
size_t rpmap_ring_for(uint64_t need, bool roomy);

/* Report that the pool ph describes does not fit in `avail` bytes. */
void rpmap_no_memory(const struct poolh *ph, uint64_t avail, const char *what);

/* Start the pool ph describes. Returns 0, -ENOMEM if its region would not
 * fit in the memory left (checked first), or rp_pool_create's error. */
int rpmap_pool_start(struct eng *e, struct poolh *ph);

/* Destroy ph's pool (if any), keeping its library counters in e. */
void rpmap_pool_stop(struct eng *e, struct poolh *ph);

/* Stop and start ph again; on failure, report and stop rpmap. Returns 0
 * or -errno. */
int rpmap_pool_restart(struct eng *e, struct poolh *ph);

/* Start side pool ph on first use; on failure, report and stop rpmap.
 * Returns 0 or -errno. */
int rpmap_pool_ensure(struct eng *e, struct poolh *ph);

/* Classify failed result res of a task for records from .. from + cnt
 * (before rp_release). */
void rpmap_failure_of(const struct rp_result *res, uint32_t from, uint32_t cnt,
		      struct failure *f);

/* Choose the main pool's rings and workers for the memory left. Returns 0
 * or -ENOMEM (reported). */
int rpmap_fit_main(struct eng *e, const struct rpmap_opts *o);

/* --spawn: the initializer arguments of exec'd workers, or NULL. */
struct rpmap_init *rpmap_make_init(const struct rpmap_opts *o, const struct rpmap_input *in);

/* ---- results.c ---- */

/* Write n bytes of output (nothing once rpmap has stopped). */
void rpmap_out(struct eng *e, const void *p, size_t n);

/* Report record `rec` of b as failed; without --keep-going, stop. */
void rpmap_record_failed(struct eng *e, const struct rpmap_batch *b, uint32_t rec, int status,
			 unsigned flags, int sig, int code);
void rpmap_timed_out(struct eng *e, const struct rpmap_batch *b, uint32_t rec);
void rpmap_entry_failed(struct eng *e, const struct rpmap_batch *b, uint32_t from,
			const struct rpmap_fail *f);
void rpmap_single_failed(struct eng *e, const struct rpmap_batch *b, uint32_t rec,
			 const struct failure *f);

/* Give an uncounted batch (ordered mode) its record indices. */
void rpmap_place(struct eng *e, struct rpmap_batch *b, uint32_t nrec);

/* A finished, well-formed result for a task of cnt records (0: any). */
bool rpmap_result_ok(const struct rp_result *r, uint32_t cnt);

/* Write the output of a valid result for records from .. of b and report
 * its failed records. */
void rpmap_emit(struct eng *e, struct rpmap_batch *b, uint32_t from, const void *data);

/* Submit records from .. from + cnt of b (cnt 0: all) as one task of ph.
 * Returns 0 and sets *seq, rp_reserve's error, or -ENODATA if the input
 * shrank under the records. */
int rpmap_submit(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		 uint32_t cnt, unsigned flags, uint64_t *seq);

/* ---- recover.c ---- */

/* Whether a result of `need` bytes (0: not known) can fit a task of ph. */
bool rpmap_fits_pool(const struct poolh *ph, uint64_t need);

/* Record `rec` of b did not fit in ph's results: alone in a pool that
 * holds it, or failed past RPMAP_MAX_RESULT. */
void rpmap_too_large(struct eng *e, const struct poolh *ph, struct rpmap_batch *b, uint32_t rec,
		     unsigned retries, uint64_t need);

/* Settle records from .. to of b by running them again (rerun pool). */
void rpmap_rerun(struct eng *e, struct rpmap_batch *b, uint32_t from, uint32_t to);

/* The main pool's task for batch b failed (res held: this releases it). */
void rpmap_batch_failed(struct eng *e, struct rpmap_batch *b, struct rp_result *res);

/* Batch b is one record too large for the main pool's rings: run it in a
 * one-worker pool sized for it. Call with nothing in flight. */
void rpmap_run_large(struct eng *e, struct rpmap_batch *b);

/* The input shrank: whether the first `to` records of b (0: all) reach
 * past the file's end now; handle records of b from `from` on; note the
 * input's new end (records from `at` on are not written); report. */
bool rpmap_beyond_input(struct eng *e, const struct rpmap_batch *b, uint32_t to);
void rpmap_input_shrank(struct eng *e, struct rpmap_batch *b, uint32_t from);
void rpmap_shrank(struct eng *e, uint64_t at);
void rpmap_shrank_report(struct eng *e);

#endif
