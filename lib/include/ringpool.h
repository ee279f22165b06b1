/* SPDX-License-Identifier: MIT */
/*
 * ringpool: a process pool whose per-task cost is that of a function call.
 *
 * The parent and its worker processes share one sealed memfd region. Each
 * worker has a lock-free single-producer/single-consumer task ring and result
 * ring in it; tasks and results are written in place (zero-copy), and futex
 * eventcounts wake a side only when it has announced that it sleeps.
 *
 * Conventions (as in liburing): a function's return value is about the call
 * alone: 0 (or a count) when it worked, a negative errno value when it did
 * not; functions never set errno. What a task did (its status, the signal
 * that killed its worker, ...) is its outcome, reported in struct rp_result
 * or struct rp_outcome, never as the return value of the call that waited
 * for it. Calls that wait for several tasks return how many failed.
 *
 * Contents:
 *   the one-call map ............. rp_run
 *   configuration and lifetime ... rp_config_init, rp_pool_create, rp_pool_close,
 *                                  rp_pool_join, rp_pool_terminate, rp_pool_destroy,
 *                                  rp_version
 *   task side (in workers) ....... rp_task_fn, struct rp_task, rp_task_result,
 *                                  rp_task_result_len, rp_task_run, rp_task_mark,
 *                                  rp_init_fn, rp_exit_fn
 *   submitting ................... rp_reserve + rp_commit (zero-copy),
 *                                  rp_submit (one copy), rp_submit_burst,
 *                                  rp_abort, rp_flush
 *   collecting ................... rp_next, rp_release, rp_next_burst,
 *                                  rp_release_burst
 *   whole arrays ................. rp_map, rp_map_ex, rp_map_async + rp_job_*
 *   single calls ................. rp_apply, rp_apply_async + rp_future_*
 *   streams ...................... rp_imap (a source callback, bounded in flight)
 *   several arguments ............ RP_ARGS / struct-per-record idiom (starmap)
 *   progress ..................... rp_pool_set_progress, rp_progress_bar
 *   event loops .................. rp_pool_fd, rp_pool_arm
 *   introspection ................ rp_pool_workers, rp_pool_stats, rp_worker_stats
 *
 * Threads: a pool is owned by the thread that created it; call every
 * rp_pool_ function, rp_submit, rp_next and the rest from that thread only (or
 * serialise the calls yourself). Callbacks (job completion, progress, imap
 * source and sink) run in the owner thread, inside whichever ringpool call
 * is waiting at the time; from a callback, only calls that neither wait nor
 * submit may be made (rp_pool_stats, rp_worker_stats, rp_pool_close,
 * rp_flush, rp_future_test/result/cancel/free, rp_job_poll/done/total/
 * report/free); anything else, rp_pool_destroy included, returns -EDEADLK.
 * A waiting call whose result is stuck behind one the caller holds (or has
 * not collected) also returns -EDEADLK instead of waiting forever.
 *
 * Processes: only the process that created a pool may use it. In a child
 * of fork() and inside a task, every call on the pool returns -EPERM (and
 * rp_release, rp_future_free, rp_job_free do nothing), so a forked child
 * can neither crash on the pool nor disturb the parent's. A pool created in
 * a process that already has threads starts its workers by exec (the spawn
 * start method), never by fork, unless RP_CFG_FORK says otherwise.
 *
 * Workers: stdin is /dev/null and stdout is the caller's stderr (or
 * /dev/null when stderr is closed), in both start methods, so a task cannot
 * read the caller's input or write into its output. Workers map only their
 * own pool's region, and only their part of it: the settings read-only,
 * their own rings writable; a stray write elsewhere crashes the worker,
 * never the caller.
 */
#ifndef RINGPOOL_H
#define RINGPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sys/types.h>

#include "ringpool_version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every public function; everything else in the library is hidden. */
#if defined(__GNUC__)
#define RP_API __attribute__((visibility("default")))
#else
#define RP_API
#endif

struct rp_pool;

/* RINGPOOL_VERSION_NUMBER of the library actually linked (the header's may
 * differ when a program runs against a newer shared library). */
RP_API unsigned rp_version(void);

/* ---------------------------------------------------------------------- */
/* Task side: what runs in a worker.                                       */
/* ---------------------------------------------------------------------- */

/*
 * Context of one running task. Fields are read-only for the task.
 */
struct rp_task {
	uint64_t seq;		/* the task's sequence number (submit order) */
	uint32_t worker;	/* index of the worker running it, 0..workers-1 */
	uint32_t reserved_;
	void *state;		/* per-worker state; NULL unless an initializer set it */
	void *priv_;		/* ringpool's; do not touch */
};

/*
 * A task function: runs in a worker process on `len` bytes of input at `in`
 * (in place in shared memory, 8-byte aligned, read-only, valid until it
 * returns; len 0 is a valid record). To produce a result, call
 * rp_task_result() and write into the space it returns. Return 0 on
 * success; any other value becomes the task's status (prefer negative errno
 * values). The pool's own statuses (RP_E* below) are flagged RP_RES_POOL in
 * the outcome so they cannot be mistaken for the task's.
 *
 * The ABI a task may rely on (rpmap plugins follow it too):
 * Where it runs: in a worker process, one task at a time per worker (in the
 * caller with RP_CFG_INLINE). Forked workers see code and data as they were
 * at rp_pool_create (or at the replacement's fork): later changes in the
 * owner are not seen. Exec'd workers (RP_CFG_SPAWN, or any worker of a
 * pool created in a threaded process) start from the program's initial
 * state plus the initializer. Static variables are per worker.
 * Context: t->seq, t->worker, t->state are read-only; never touch t->priv_
 * or keep t. From a task call only rp_task_result, rp_task_result_len,
 * rp_task_run and rp_task_mark (calls on a pool return -EPERM).
 * Failure: a signal or exit in a task ends only its worker: the task
 * completes with RP_ECRASHED (term_signal / term_exit set), or is re-run up
 * to cfg.retries times; tasks queued behind it run on the replacement. A
 * task that runs past cfg.task_timeout_ns is killed with its worker
 * (RP_ETIMEDOUT).
 * A shared object implementing task functions need not link libringpool: it
 * may leave rp_task_result and friends undefined for the host program to
 * resolve (link the host against libringpool.so, or statically with
 * -rdynamic).
 */
typedef int (*rp_task_fn)(struct rp_task *t, const void *in, size_t len);

/*
 * Reserve `cap` bytes for this task's result, in place in the result ring.
 * Call at most once per task, from the task function only. Returns the space
 * (8-byte aligned), or NULL if cap exceeds the largest record the result ring
 * takes (rp_pool_stats: max_payload): the task then finishes with status
 * RP_EMSGSIZE whatever it returns. May wait for the parent to collect earlier
 * results. Without a call, the result is empty (len 0).
 */
RP_API void *rp_task_result(struct rp_task *t, size_t cap);

/*
 * Shrink the result to `len` bytes (len <= the cap reserved). Returns 0, or
 * -EMSGSIZE if len exceeds it (the task then finishes with RP_EMSGSIZE and an
 * empty result: nothing past the reservation was published), or -EINVAL if no
 * result was reserved.
 */
RP_API int rp_task_result_len(struct rp_task *t, size_t len);

/*
 * For hosts that run several records inside one task (rpmap; a plugin
 * runner; the library's own chunks): run one record as a sub-task of t,
 * with its own result space. The record's function sees a struct rp_task
 * like t's but with t->seq = sub->seq; its rp_task_result/rp_task_result_len
 * calls reach sub->out (sub->out_cap bytes). Call from a task function only.
 */
struct rp_subtask {
	rp_task_fn fn;		/* the record's function */
	uint64_t seq;		/* what it sees as t->seq (e.g. the record's index) */
	const void *in;		/* the record */
	size_t len;
	void *out;		/* its result space, out_cap bytes */
	size_t out_cap;
	/* Set by rp_task_run: */
	size_t out_len;		/* result bytes written (0 if it failed) */
	int status;		/* fn's return value, or RP_EMSGSIZE (it asked
				 * for more than out_cap) */
	unsigned flags;		/* RP_RES_POOL when status is the pool's */
};

/*
 * Run sub->fn on sub->in as a sub-task of t and fill sub's results. Returns
 * 0 (whatever the record's own status), or -EINVAL (t, sub or fn NULL, or
 * in/out NULL with a length): nothing ran.
 */
RP_API int rp_task_run(struct rp_task *t, struct rp_subtask *sub);

/*
 * Say which part of the task runs now (rpmap: the record's index in its
 * batch). If the worker dies or the task is killed at its deadline, its
 * outcome carries the last mark (mark + 1; 0 if never marked), so the host
 * knows which record did it. The deadline (cfg.task_timeout_ns) restarts at
 * each mark: it then bounds each marked part, not the whole task. Cheap
 * (two stores). Returns 0, or -EINVAL (t NULL, mark UINT64_MAX).
 */
RP_API int rp_task_mark(struct rp_task *t, uint64_t mark);

/*
 * Worker initializer: runs once in each worker before it takes tasks (and in
 * the caller with RP_CFG_INLINE). `args` are the config's init_args bytes,
 * copied into the shared region at pool creation, so they reach exec'd
 * workers too. Set *state to anything; every task of this worker sees it as
 * t->state. Return 0, or a negative errno: pool creation then fails with
 * that value and no worker is left running.
 */
typedef int (*rp_init_fn)(unsigned worker, const void *args, size_t len, void **state);

/* Worker exit hook: runs in each worker when the pool is destroyed or
 * closed and joined (not when a worker is killed). */
typedef void (*rp_exit_fn)(unsigned worker, void *state);

/* ---------------------------------------------------------------------- */
/* Outcomes.                                                               */
/* ---------------------------------------------------------------------- */

/* Statuses the pool sets (flagged RP_RES_POOL). */
#define RP_ECRASHED	(-EOWNERDEAD)	/* the worker died with the task outstanding */
#define RP_EPROTO	(-EPROTO)	/* the worker broke the ring protocol */
#define RP_EMSGSIZE	(-EMSGSIZE)	/* the task's result did not fit */
#define RP_ECANCELED	(-ECANCELED)	/* cancelled, or the pool was terminated */
#define RP_ETIMEDOUT	(-ETIME)	/* ran past cfg.task_timeout_ns; worker killed
					 * (not -ETIMEDOUT: that is a wait's own) */

#define RP_RES_POOL	(1u << 0)	/* status was set by ringpool, not the task */

/* What one task did. */
struct rp_outcome {
	int status;		/* 0, the task's return value, or an RP_E* status */
	unsigned flags;		/* RP_RES_* */
	uint32_t worker;	/* worker that ran (or held) the task */
	int term_signal;	/* RP_ECRASHED: signal that killed the worker, or 0 */
	int term_exit;		/* RP_ECRASHED: the worker's exit code, or -1 */
	uint64_t mark;		/* RP_ECRASHED, RP_ETIMEDOUT: the task's last
				 * rp_task_mark + 1, or 0 */
};

/* ---------------------------------------------------------------------- */
/* The one-call map.                                                       */
/* ---------------------------------------------------------------------- */

/*
 * Run fn over n records of in_size bytes at `in` on a pool of default
 * workers (one per allowed CPU) made for this call, writing each result (up
 * to out_size bytes, zero-filled) to out + i * out_size in order; tasks are
 * chunked automatically. Returns how many tasks failed (0: all returned 0),
 * or a negative errno from creating the pool or rp_map. For more (the
 * first failure's outcome, a long-lived pool), use rp_pool_create + rp_map.
 */
RP_API int rp_run(rp_task_fn fn, const void *in, size_t in_size, void *out, size_t out_size,
		  size_t n);

/* ---------------------------------------------------------------------- */
/* Configuration and lifetime (owner thread).                              */
/* ---------------------------------------------------------------------- */

#define RP_CFG_UNORDERED	(1u << 0)	/* rp_next returns results as they finish */
#define RP_CFG_NO_RESPAWN	(1u << 1)	/* a dead worker is not replaced: its
						 * queued tasks fail with RP_ECRASHED */
#define RP_CFG_KEEP_FDS		(1u << 2)	/* workers keep the parent's open fds
						 * (by default they close all but
						 * stdin, stdout, stderr); fork only */
#define RP_CFG_SPAWN		(1u << 3)	/* start method "spawn": each worker is
						 * a fresh exec of /proc/self/exe (see
						 * README, "Start methods") */
#define RP_CFG_NO_URING		(1u << 4)	/* never wait through io_uring (also:
						 * environment RINGPOOL_NO_URING=1) */
#define RP_CFG_INLINE		(1u << 5)	/* no workers: every task runs in the
						 * caller at submission, with the same
						 * results, statuses and order (the
						 * serial fallback; no isolation) */
#define RP_CFG_FORK		(1u << 6)	/* fork the first workers even when the
						 * process already has threads (by
						 * default it then execs): the caller
						 * vouches that no other thread holds a
						 * lock a child needs (stdio, malloc, a
						 * logger). Replacements started once
						 * the process has threads are exec'd
						 * whatever the flags */

#define RP_SPIN_NEVER		1u	/* spin_ns: sleep at once, never spin */

/*
 * A pool's settings. Zero in any field means its default, so a
 * zero-initialised struct (or NULL) is the documented default pool, and a
 * field added in a later version takes a reserved slot (which must be zero
 * today: -EINVAL otherwise): programs built against this header keep
 * working unchanged.
 */
struct rp_config {
	unsigned workers;	/* worker processes; 0: one per CPU the process may
				 * run on (sched_getaffinity), at most RP_MAX_WORKERS */
	unsigned flags;		/* RP_CFG_* */
	size_t ring_bytes;	/* data bytes per ring, power of two; 0: 1 MiB */
	unsigned max_in_flight;	/* window, power of two; 0: 1024. A new task gets
				 * a sequence number at most max_in_flight - 1
				 * above the oldest one not yet collected. So it
				 * bounds tasks in flight, and with RP_CFG_UNORDERED
				 * one slow task holds the window until it is
				 * collected */
	unsigned max_queue;	/* most records queued on one worker; 0: adaptive:
				 * one until its first result is measured, then
				 * about 200 us of its measured work (at least 2),
				 * and 1 while its records take over 1 ms.
				 * Submission can say -EAGAIN before the window is
				 * full when every worker is at its limit */
	uint64_t spin_ns;	/* how long a side spins before sleeping; 0: 50 us;
				 * RP_SPIN_NEVER: sleep at once. Workers spin at most
				 * 5 us when they and the parent outnumber the CPUs */
	uint64_t liveness_ns;	/* a blocked wait checks worker liveness at least
				 * this often; 0: 10 ms; at least 100 us */
	rp_task_fn fn;		/* default task function for rp_submit/rp_reserve
				 * called with fn == NULL; may be NULL */
	rp_init_fn init;	/* worker initializer, or NULL */
	rp_exit_fn exit;	/* worker exit hook, or NULL */
	const void *init_args;	/* bytes copied into the region for init */
	size_t init_args_len;	/* at most RP_MAX_INIT_ARGS */
	/* Faults (see "Faults" in README): */
	unsigned retries;	/* re-run a task whose worker died while running
				 * it, up to this many times (0..1000); 0: never */
	uint64_t task_timeout_ns; /* kill a worker whose task runs longer; the
				 * task fails with RP_ETIMEDOUT; 0: none; at least
				 * 1 ms. Enforced while the owner thread is inside a
				 * ringpool call */
	uint64_t max_tasks_per_worker; /* recycle a worker after this many
				 * records; 0: never */
	uint64_t max_rss_bytes;	/* recycle a worker once its peak resident
				 * memory exceeds this (checked between tasks);
				 * 0: never */
	unsigned max_restarts;	/* replacements allowed per restart_window_ns;
				 * past it no more are started (stats:
				 * restarts_exhausted); 0: 16 */
	uint64_t restart_window_ns; /* 0: 1 s */
	uint64_t reserved_[8];	/* must be zero */
};

#define RP_MAX_INIT_ARGS	(1u << 20)

#define RP_MAX_WORKERS		256
#define RP_MAX_FNS		256	/* distinct task functions per pool */
#define RP_MIN_RING_BYTES	4096u
#define RP_MAX_RING_BYTES	(1ull << 30)

/* Fill *cfg with the defaults spelled out (the same as all zeros). NULL is
 * a no-op. */
RP_API void rp_config_init(struct rp_config *cfg);

/*
 * Create a pool: one shared region, cfg->workers worker processes (forked;
 * exec'd with RP_CFG_SPAWN or when the process already has threads), each
 * allocating its rings, running cfg->init (if any) and then waiting for
 * tasks. cfg NULL means the defaults. Returns 0 and sets *out; or the
 * initializer's error; or -EINVAL (out NULL, workers above RP_MAX_WORKERS,
 * init_args_len above RP_MAX_INIT_ARGS or init_args NULL with a length,
 * ring_bytes not a power of two in RP_MIN_RING_BYTES..RP_MAX_RING_BYTES,
 * max_in_flight not a power of two up to 2^20, max_queue above it, spin_ns
 * above 1 s, liveness_ns below 100 us, retries above 1000, task_timeout_ns
 * below 1 ms, an unknown flag, RP_CFG_INLINE with workers not 0,
 * RP_CFG_FORK with RP_CFG_SPAWN, a reserved field not zero), -ENOMEM (also
 * when the rings do not fit the memory the process may use: workers make
 * themselves the OOM killer's first choice, so a memory cgroup that is too
 * small costs a worker, not the caller), -EAGAIN (fork failed), -ECHILD (a
 * worker died starting), -ENOENT (spawn: a function cannot be found again
 * in an exec'd worker), or another -errno. On error no worker is left
 * running and nothing is left open. None of the pool's fds takes 0, 1 or 2.
 */
RP_API int rp_pool_create(struct rp_pool **out, const struct rp_config *cfg);

/*
 * Refuse further submissions (they return -ESHUTDOWN); tasks already
 * accepted still run (crashed or recycled workers are still replaced) and
 * their results can be collected. Returns 0, -EINVAL, -EPERM. Idempotent.
 */
RP_API int rp_pool_close(struct rp_pool *pool);

/*
 * Wait until every submitted task has finished (up to timeout_ns; 0 = no
 * limit): futures and async jobs are completed, and results of rp_submit
 * tasks are computed and kept for rp_next, so close + join + destroy never
 * loses a computed result unless you choose not to collect it. Implies
 * rp_pool_close. Returns 0, -ETIMEDOUT, -EINVAL, -EPERM, -EDEADLK (from a
 * callback; with RP_CFG_INLINE also when only results the caller has not
 * collected hold up queued work).
 */
RP_API int rp_pool_join(struct rp_pool *pool, uint64_t timeout_ns);

/*
 * Stop now: kill the workers (SIGKILL) and reap them; every task not yet
 * finished completes with status RP_ECANCELED (futures, jobs and rp_next
 * alike); results already computed are still delivered. The pool is closed.
 * Returns 0, -EINVAL, -EPERM, -EDEADLK.
 */
RP_API int rp_pool_terminate(struct rp_pool *pool);

/*
 * Stop the workers and free everything: worker processes are asked to exit
 * after their current task (running cfg->exit), and killed if they have not
 * within 1 s; all are reaped. Results not yet collected are discarded; jobs
 * and futures still referenced may still be read and freed (they complete
 * with RP_ECANCELED if they had not finished). Returns 0, -EINVAL, -EPERM,
 * -EDEADLK from a callback (nothing is freed). The pool must not be used
 * afterwards.
 */
RP_API int rp_pool_destroy(struct rp_pool *pool);

/* ---------------------------------------------------------------------- */
/* Submitting (owner thread).                                              */
/* ---------------------------------------------------------------------- */

#define RP_NONBLOCK	(1u << 0)	/* never wait: -EAGAIN instead */
#define RP_UNORDERED	(1u << 1)	/* rp_next, rp_imap: as they finish, this call */
#define RP_ORDERED	(1u << 2)	/* rp_next, rp_imap: submit order, this call */

/*
 * Zero-copy submit, step 1: reserve `len` bytes of task input in some
 * worker's task ring and set *buf to it (8-byte aligned). Write the input
 * there, then call rp_commit. `fn` NULL means cfg.fn.
 * Without RP_NONBLOCK it waits while waiting can help (every worker's ring
 * or queue is full and no result is ready yet). Returns 0, or:
 *   -EAGAIN     the caller must collect first: the window is full of tasks
 *               whose results it has not taken, or results are ready while
 *               every ring is full (or RP_NONBLOCK and no room now). Loop:
 *               while (rp_submit(...) == -EAGAIN) { rp_next; use; rp_release; }
 *   -EMSGSIZE   len exceeds the largest task record (rp_pool_stats: max_payload);
 *   -EINVAL     pool or buf NULL, no function (fn and cfg.fn NULL),
 *               more than RP_MAX_FNS distinct functions;
 *   -ENOENT     spawn: fn cannot be found again in an exec'd worker;
 *   -EBUSY      a reservation is already open;
 *   -ESHUTDOWN  the pool is closed;
 *   -ECHILD     no live worker is left;
 *   -EDEADLK    called from a callback;
 *   -EPERM      not the pool's process (a forked child, or a task).
 * On error nothing is reserved.
 */
RP_API int rp_reserve(struct rp_pool *pool, rp_task_fn fn, size_t len, unsigned flags,
		      void **buf);

/*
 * Zero-copy submit, step 2: commit the open reservation with `len` bytes of
 * input (len <= the reserved length). user_data is echoed in the task's
 * rp_result (as io_uring's user_data is in its CQE). Sets *seq (if not
 * NULL) to the task's sequence number. The task may not be visible to its
 * worker until a later call publishes it (any waiting call, rp_flush, a
 * poll, or enough further submissions). Returns 0, -EINVAL (no open
 * reservation), -EPERM, or -EMSGSIZE (len too large: the reservation stays
 * open).
 */
RP_API int rp_commit(struct rp_pool *pool, size_t len, uint64_t user_data, uint64_t *seq);

/* Drop the open reservation. Returns 0, -EINVAL (none open), -EPERM. */
RP_API int rp_abort(struct rp_pool *pool);

/*
 * Copying submit: rp_reserve + memcpy + rp_commit. Same returns as
 * rp_reserve; `data` may be NULL when len is 0.
 */
RP_API int rp_submit(struct rp_pool *pool, rp_task_fn fn, const void *data, size_t len,
		     unsigned flags, uint64_t user_data, uint64_t *seq);

/* Publish committed tasks to the workers now. Returns 0, -EINVAL, -EPERM. */
RP_API int rp_flush(struct rp_pool *pool);

#define RP_BULK		(1u << 3)	/* rp_submit_burst: all n tasks, or none */

/*
 * Submit n tasks of fn in one call: task k's input is the len bytes at
 * in + k * len (copied), its user_data is user_data + k, and their sequence
 * numbers are consecutive from *seq (if not NULL). As many as fit now are
 * submitted ("burst"), filling each worker's ring in runs, with one publish
 * at the end; with RP_BULK all n or none. Without RP_NONBLOCK it waits, as
 * rp_submit does, until the first task (RP_BULK: all of them) can go.
 * Returns how many were submitted (1..n; 0 only for n == 0), or rp_submit's
 * errors (-EAGAIN: none could go; with RP_BULK also when n exceed what the
 * window or the rings can ever hold at once: -EMSGSIZE).
 */
RP_API int rp_submit_burst(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t len,
			   unsigned n, unsigned flags, uint64_t user_data, uint64_t *seq);

/* ---------------------------------------------------------------------- */
/* Collecting (owner thread).                                              */
/* ---------------------------------------------------------------------- */

struct rp_result {
	const void *data;	/* in place in the result ring; valid until rp_release */
	size_t len;
	uint64_t seq;		/* the task's sequence number */
	uint64_t user_data;	/* as given to rp_commit / rp_submit */
	int status;		/* the outcome: 0, the task's return value, or an
				 * RP_E* status ... */
	unsigned flags;		/* ... RP_RES_* */
	uint32_t worker;	/* worker that ran (or held) the task */
	int term_signal;	/* RP_ECRASHED: signal that killed the worker, or 0 */
	int term_exit;		/* RP_ECRASHED: the worker's exit code, or -1 */
	uint64_t mark;		/* RP_ECRASHED, RP_ETIMEDOUT: the task's last
				 * rp_task_mark + 1, or 0 */
	uint64_t priv_[2];	/* ringpool's */
};

/*
 * Next result of a task submitted with rp_submit/rp_commit (futures and jobs
 * collect their own): in submit order, or as they finish with
 * RP_CFG_UNORDERED or RP_UNORDERED (RP_ORDERED overrides the config).
 * Publishes pending submissions first when it has to wait. Waits (unless
 * RP_NONBLOCK) until a result is ready; every wait checks worker liveness, so
 * a dead worker turns into RP_ECRASHED results, never a hang. Returns 0 and
 * fills *res (the task's outcome is in it); -EAGAIN (RP_NONBLOCK, nothing
 * ready); -ENODATA (nothing is outstanding: every submitted task's result has
 * been collected); -EBUSY (results taken before have not all been released);
 * -EINVAL; -EPERM; -EDEADLK (from a callback).
 * Call rp_release(pool, res) when done with res->data.
 */
RP_API int rp_next(struct rp_pool *pool, struct rp_result *res, unsigned flags);

/* Give the result's space back to its worker. Releasing twice is a no-op. */
RP_API void rp_release(struct rp_pool *pool, struct rp_result *res);

/*
 * Up to n results at once, as rp_next would give them one by one (in order,
 * or as finished), each in place: waits (unless RP_NONBLOCK) for the first,
 * then takes whatever else is ready without waiting. Returns how many
 * (1..n), or rp_next's errors. They stay valid until released: release them
 * all (rp_release_burst, or rp_release each) before the next rp_next*
 * (-EBUSY until then). Results the caller holds do not block the pool:
 * futures and jobs behind them are still delivered.
 */
RP_API int rp_next_burst(struct rp_pool *pool, struct rp_result *res, unsigned n,
			 unsigned flags);

/* Release res[0..n-1] from rp_next_burst (each once; any order). */
RP_API void rp_release_burst(struct rp_pool *pool, struct rp_result *res, unsigned n);

/* ---------------------------------------------------------------------- */
/* Whole arrays: map.                                                      */
/* ---------------------------------------------------------------------- */

/*
 * Chunking for rp_map_ex, rp_map_async and rp_imap: `chunk` tasks travel in
 * one ring record and their results in one result record, which divides
 * the per-task overhead by `chunk`. RP_CHUNK_AUTO picks the size from the
 * measured task duration (about 20 us of work per chunk, up to
 * RP_CHUNK_MAX). Results of a chunked task must be at most out_size bytes
 * (maps) or max_result bytes (rp_imap). Progress and outcomes stay per task.
 */
#define RP_CHUNK_AUTO	(~0u)
#define RP_CHUNK_MAX	1024u

struct rp_map_opts {
	unsigned chunk;		/* tasks per record: 0 or 1 (default) for none,
				 * 2..RP_CHUNK_MAX, or RP_CHUNK_AUTO */
	unsigned flags;		/* RP_UNORDERED: run in any order (results still
				 * land at their index) */
};

/* What a map's tasks did, beyond their results. */
struct rp_map_report {
	size_t failed;		/* tasks whose status was not 0 */
	size_t first_failed;	/* index of the first in input order (SIZE_MAX: none) */
	struct rp_outcome first; /* its outcome */
};

/*
 * The C form of Pool.map: run fn over n records of in_size bytes at `in`
 * and write each task's result (up to out_size bytes; shorter results are
 * zero-filled; a failed task's slot is zeroed) to out + i * out_size, in
 * order. Blocks until every task has finished. Returns how many tasks
 * failed (0 if every task returned 0; a result longer than out_size is that
 * task's failure, RP_EMSGSIZE), or a call error: -EINVAL (NULL pool or fn,
 * n > 0 with NULL in, or NULL out with out_size > 0, a chunk above
 * RP_CHUNK_MAX that is not RP_CHUNK_AUTO), -EMSGSIZE (in_size or
 * out_size above max_payload), -EBUSY (rp_submit results not yet
 * collected, or a reservation open), -ESHUTDOWN, -EDEADLK, -EPERM. If no
 * worker is left, tasks not yet submitted fail with -ECHILD (an outcome).
 * n == 0 returns 0.
 */
RP_API int rp_map(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t in_size,
		  void *out, size_t out_size, size_t n);

/* rp_map with options (NULL: defaults) and the first failure's outcome in
 * *rep (NULL: not wanted). Same returns. */
RP_API int rp_map_ex(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t in_size,
		     void *out, size_t out_size, size_t n, const struct rp_map_opts *opts,
		     struct rp_map_report *rep);

/* ---- map_async: a job handle ---- */

struct rp_job;

/* Completion callback: runs once, in the owner thread, inside a ringpool
 * call, when the last task has finished (read the job with rp_job_report). */
typedef void (*rp_job_cb)(struct rp_job *job, void *arg);

/*
 * Start rp_map in the background: returns at once with *job; tasks are fed
 * and results written to `out` as the pool makes progress (inside any later
 * ringpool call on this pool: rp_job_wait, rp_next, rp_future_wait, ...).
 * `in` and `out` must stay valid until the job is done. `cb` (may be NULL)
 * runs when the last task has finished. Returns 0, or rp_map's call errors.
 */
RP_API int rp_map_async(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t in_size,
			void *out, size_t out_size, size_t n, const struct rp_map_opts *opts,
			rp_job_cb cb, void *cb_arg, struct rp_job **job);

/*
 * Wait until the job is done, at most timeout_ns (0 = no limit; use
 * rp_job_poll to not wait). Returns how many of its tasks failed, -ETIMEDOUT,
 * -EDEADLK, -ESHUTDOWN (the pool was destroyed first), -EPERM, -EINVAL.
 */
RP_API int rp_job_wait(struct rp_job *job, uint64_t timeout_ns);

/* Make progress without waiting (deliver what has arrived, publish what
 * is pending), so a loop of polls alone finishes the job. Returns 1 if the
 * job is done, else 0; -EPERM, -EINVAL. */
RP_API int rp_job_poll(struct rp_job *job);

/* A finished job's report. Returns 0, -EAGAIN (not finished), -EINVAL. */
RP_API int rp_job_report(const struct rp_job *job, struct rp_map_report *rep);

/* Tasks finished so far (any status), and in total. */
RP_API size_t rp_job_done(const struct rp_job *job);
RP_API size_t rp_job_total(const struct rp_job *job);

/* Free a job (one still running is cancelled first: its remaining tasks
 * are not submitted, those in flight are awaited). */
RP_API void rp_job_free(struct rp_job *job);

/* ---------------------------------------------------------------------- */
/* Single calls: apply.                                                    */
/* ---------------------------------------------------------------------- */

struct rp_future;

/*
 * Submit one task (fn NULL: cfg.fn) and return a future for it. The input
 * is copied (into the ring, or, when the window or rings are full, into a
 * queue that the pool drains as room appears: any number of futures may be
 * outstanding).
 * Returns 0 and sets *f, or -EINVAL, -ENOMEM, -ESHUTDOWN, -ECHILD,
 * -EMSGSIZE, -EDEADLK, -EPERM.
 */
RP_API int rp_apply_async(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t len,
			  struct rp_future **f);

/*
 * Wait for the future (at most timeout_ns; 0 = no limit). Returns 0 when it
 * is done (read it with rp_future_result), -ETIMEDOUT, -EDEADLK,
 * -ESHUTDOWN (its pool was destroyed before it ran), -EPERM, -EINVAL.
 * Waiting on a finished future returns 0 at once, any number of times.
 */
RP_API int rp_future_wait(struct rp_future *f, uint64_t timeout_ns);

/* Make progress without waiting (deliver what has arrived, publish what
 * is pending), so a loop of tests alone finishes the task. Returns 1 if
 * done, else 0; -EPERM, -EINVAL. */
RP_API int rp_future_test(struct rp_future *f);

/*
 * A finished future's result and outcome: sets *data and *len (owned by the
 * future, valid until rp_future_free) and *oc (each may be NULL). Returns 0,
 * -EAGAIN (not finished), -EINVAL.
 */
RP_API int rp_future_result(const struct rp_future *f, const void **data, size_t *len,
			    struct rp_outcome *oc);

/*
 * Cancel a task not yet handed to a worker: returns 0, and the future
 * completes with RP_ECANCELED. -EBUSY if it is already dispatched or running
 * (it then completes normally), -EALREADY if it is done, -EPERM, -EINVAL.
 */
RP_API int rp_future_cancel(struct rp_future *f);

/* Release the future (cancelling it first if possible; if it is already
 * dispatched, its result is dropped when it arrives). */
RP_API void rp_future_free(struct rp_future *f);

/*
 * Blocking single call: run fn on `in` in a worker and copy its result (at
 * most out_cap bytes) to `out`, its length to *out_len and its outcome to
 * *oc (each may be NULL). Returns 1 if the task failed (its status is not
 * 0; a result longer than out_cap is RP_EMSGSIZE), 0 if it did not, or
 * rp_apply_async's and rp_future_wait's call errors.
 */
RP_API int rp_apply(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t len,
		    void *out, size_t out_cap, size_t *out_len, struct rp_outcome *oc);

/* ---------------------------------------------------------------------- */
/* Streams: imap.                                                          */
/* ---------------------------------------------------------------------- */

/*
 * Source: write the next input into buf (cap bytes available) and return
 * its length (0 is a valid empty record), or RP_EOF when there is no more
 * input, or another negative errno to stop with that error.
 */
#define RP_EOF	(-ENODATA)
typedef ssize_t (*rp_source_fn)(void *arg, void *buf, size_t cap);

/*
 * Sink: receives each result, in place (valid only during the call), with
 * its outcome; res->seq is the input's index in the stream. Return 0 to go
 * on, or a negative errno to stop (rp_imap then waits for the tasks in
 * flight, discards their results, and returns that value).
 */
typedef int (*rp_sink_fn)(void *arg, const struct rp_result *res);

struct rp_imap_opts {
	size_t max_input;	/* largest record the source may write; 0: 4096 */
	unsigned chunk;		/* as rp_map_opts.chunk */
	size_t max_result;	/* with chunking: largest result; 0: 4096 */
	unsigned flags;		/* RP_UNORDERED: sink gets results as they finish */
	uint64_t max_in_flight;	/* bound on records in flight; 0 and at most:
				 * the pool's max_in_flight */
};

/*
 * Stream the source through fn into the sink, in input order (or as
 * finished). Input is pulled only as room appears, so memory stays flat on
 * an endless source. Failed tasks reach the sink with their outcome: none is
 * dropped. Returns 0 at RP_EOF once every result reached the sink, the
 * source's or sink's error (-EMSGSIZE when the source returned more than
 * max_input), or a call error (-EINVAL, -EBUSY: rp_submit tasks of the
 * caller outstanding, -ESHUTDOWN, -EDEADLK, -EPERM, -ECHILD, -ENOMEM).
 */
RP_API int rp_imap(struct rp_pool *pool, rp_task_fn fn, rp_source_fn src, void *src_arg,
		   rp_sink_fn sink, void *sink_arg, const struct rp_imap_opts *opts);

/* ---- starmap: several arguments ---- */

/*
 * A task takes one record, and a record can be any struct: starmap is
 * "declare a struct of the arguments and map over an array of it". RP_ARGS
 * names the fields of that struct in the task, checking the length:
 *
 *     struct add_args { double a, b; };
 *     static int add(struct rp_task *t, const void *in, size_t len) {
 *             RP_ARGS(struct add_args, x, in, len);  // or return -EINVAL
 *             double *out = rp_task_result(t, sizeof *out);
 *             *out = x->a + x->b;
 *             return 0;
 *     }
 *     struct add_args args[N] = ...;
 *     rp_map(pool, add, args, sizeof args[0], out, sizeof out[0], N);
 */
#define RP_ARGS(type, name, in, len)                                           \
	const type *name = (const type *)(in);                                 \
	if ((len) != sizeof(type))                                             \
		return -EINVAL

/* ---------------------------------------------------------------------- */
/* Progress.                                                               */
/* ---------------------------------------------------------------------- */

/* Called with (tasks finished, total or 0 if unknown, of which failed). */
typedef void (*rp_progress_fn)(void *arg, uint64_t done, uint64_t total, uint64_t failed);

/*
 * Report progress: cb runs in the owner thread at most every interval_ns
 * (0: 100 ms) while results are collected, and once more when done == total.
 * `total` counts tasks from now on (0 if unknown); set it again to reset.
 * cb NULL turns progress off (the default; then it costs nothing).
 * Returns 0, -EINVAL, -EPERM.
 */
RP_API int rp_pool_set_progress(struct rp_pool *pool, rp_progress_fn cb, void *arg,
				uint64_t total, uint64_t interval_ns);

/*
 * The built-in progress bar on stderr, tqdm style:
 *   desc:  45%|#########           | 450/1000 [00:02<00:03, 210.50 it/s, 2 failed]
 * redrawn in place on a terminal, one line at the end otherwise. Use it as
 * rp_pool_set_progress(pool, rp_progress_bar, bar, total, 0) with a bar from
 * rp_progress_bar_new; finish with rp_progress_bar_free (prints the last line
 * if not yet printed).
 */
struct rp_progress_bar;

/* desc is copied (NULL or "" for none); fd -1 is stderr. Elapsed time counts
 * from this call. Returns NULL only if out of memory. Never sets errno. */
RP_API struct rp_progress_bar *rp_progress_bar_new(const char *desc, int fd);

/* An rp_progress_fn. NULL bar is a no-op; never fails, never sets errno. A
 * different total, or done going backwards, starts a new run. */
RP_API void rp_progress_bar(void *bar, uint64_t done, uint64_t total, uint64_t failed);

/* Print the final line if not yet printed, and free. NULL is a no-op. */
RP_API void rp_progress_bar_free(struct rp_progress_bar *bar);

/* ---------------------------------------------------------------------- */
/* Event loops.                                                            */
/* ---------------------------------------------------------------------- */

/*
 * The pool's completion fd: an epoll fd that becomes readable when a result
 * is ready after rp_pool_arm() returned 0, or when a worker exits (a fault
 * needing attention). Add it to your epoll set (or poll it with io_uring)
 * and, when it is readable, call rp_pool_arm(). Owned by the pool; do not
 * close it. Returns the fd, -EINVAL, -EPERM, or -EOPNOTSUPP (RP_CFG_INLINE).
 * Workers write it only while the parent is armed: no syscall per task
 * while results keep coming.
 */
RP_API int rp_pool_fd(const struct rp_pool *pool);

/*
 * Handle what the fd reported (worker deaths, owned results, pending
 * publishes), then: returns 1 if results are ready (collect them with
 * rp_next(..., RP_NONBLOCK) until -EAGAIN or -ENODATA, then call
 * rp_pool_arm again), or 0 when armed: safe to sleep on rp_pool_fd(). Also
 * 1 when nothing is in flight. -EINVAL, -EPERM, -EDEADLK, -EOPNOTSUPP. Task
 * deadlines are only checked here and in waiting calls: with
 * task_timeout_ns, call rp_pool_arm at least that often.
 */
RP_API int rp_pool_arm(struct rp_pool *pool);

/* ---------------------------------------------------------------------- */
/* Introspection.                                                          */
/* ---------------------------------------------------------------------- */

struct rp_stats {
	unsigned workers;		/* configured */
	unsigned workers_alive;
	uint64_t submitted;
	uint64_t completed;		/* results collected */
	uint64_t in_flight;
	uint64_t max_payload;		/* largest task input or result, bytes */
	uint64_t parent_futex_waits;	/* parent's FUTEX_WAIT syscalls */
	uint64_t parent_futex_wakes;	/* parent's FUTEX_WAKE syscalls */
	uint64_t worker_futex_waits;	/* sum over workers */
	uint64_t worker_futex_wakes;
	uint64_t liveness_checks;	/* liveness polls made by the parent */
	uint64_t failed;		/* results with a non-zero status */
	/* submit -> result collected, per record (a chunk is one record),
	 * sampled one record in 4, log-linear histogram within 3%: */
	uint64_t latency_p50_ns;
	uint64_t latency_p99_ns;
	uint64_t latency_p999_ns;
	uint64_t latency_max_ns;
	int wait_mode;			/* RP_WAIT_* in use by the parent */
	uint64_t restarts;		/* workers replaced */
	uint64_t retried;		/* tasks re-run after a crash */
	uint64_t timeouts;		/* workers killed for a task deadline */
	int restarts_exhausted;		/* max_restarts reached: no more replacements */
	uint64_t spawned;		/* workers started by exec (spawn, a threaded
					 * parent) */
	int start_method;		/* RP_START_* of the pool's workers */
	uint64_t reserved_[6];
};

#define RP_WAIT_FUTEX		1	/* futex with bounded timeouts + pidfd polls */
#define RP_WAIT_URING		2	/* one io_uring: FUTEX_WAIT on the doorbell,
					 * a poll on every worker's pidfd, timeouts */

#define RP_START_FORK		1
#define RP_START_SPAWN		2	/* RP_CFG_SPAWN, or the parent had threads */
#define RP_START_INLINE		3	/* RP_CFG_INLINE */

struct rp_worker_stats {
	uint64_t tasks;		/* results collected from this worker */
	uint64_t failed;	/* of which with a non-zero status */
	uint64_t busy_ns;	/* time spent running tasks */
	uint64_t idle_ns;	/* wall time since start minus busy_ns */
	uint64_t wait_ns;	/* time records waited in rings (submit -> collected
				 * minus run time), summed; estimated from the
				 * latency sample */
	int pid;		/* 0 once dead */
	int alive;
};

/* Configured workers (0 with RP_CFG_INLINE, or for NULL or a foreign pool). */
RP_API unsigned rp_pool_workers(const struct rp_pool *pool);

/* Fill *st. Cheap (no syscalls). Returns 0, -EINVAL, -EPERM. */
RP_API int rp_pool_stats(const struct rp_pool *pool, struct rp_stats *st);

/* Fill *st for worker i. Returns 0, -EINVAL (NULL, i out of range), -EPERM. */
RP_API int rp_worker_stats(const struct rp_pool *pool, unsigned i, struct rp_worker_stats *st);

#ifdef __cplusplus
}
#endif
#endif
