/* SPDX-License-Identifier: MIT */
/*
 * ringpool: a process pool whose per-task cost is that of a function call.
 *
 * The parent and its worker processes share one sealed memfd region. Each
 * worker has a lock-free single-producer/single-consumer task ring and result
 * ring in it; tasks and results are written in place (zero-copy), and futex
 * eventcounts wake a side only when it has announced that it sleeps.
 *
 * Conventions (as in liburing): functions return 0 or a count on success and
 * a negative errno value on failure; they never set errno. A pool is used by
 * one thread at a time (the "owner"); task functions run in the workers.
 *
 * Contents:
 *   configuration and lifetime ... rp_config_init, rp_pool_create,
 *                                  rp_pool_close, rp_pool_destroy
 *   task side (in workers) ....... rp_task_fn, struct rp_task,
 *                                  rp_task_result, rp_task_result_len
 *   submitting ................... rp_reserve + rp_commit (zero-copy),
 *                                  rp_submit (one copy), rp_flush
 *   collecting ................... rp_next, rp_release
 *   whole arrays ................. rp_map
 *   introspection ................ rp_pool_workers, rp_pool_stats
 */
#ifndef RINGPOOL_H
#define RINGPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RINGPOOL_VERSION_MAJOR 0
#define RINGPOOL_VERSION_MINOR 1

struct rp_pool;

/* ---------------------------------------------------------------------- */
/* Task side: what runs in a worker.                                       */
/* ---------------------------------------------------------------------- */

/*
 * Context of one running task. Fields are read-only for the task.
 */
struct rp_task {
	uint64_t seq;		/* the task's sequence number (submit order, from 0) */
	uint32_t worker;	/* index of the worker running it, 0..workers-1 */
	uint32_t reserved_;
	void *state;		/* per-worker state; NULL unless an initializer set it */
	void *priv_;		/* ringpool's; do not touch */
};

/*
 * A task function. Runs in a worker process. `in` points at the task's input
 * in place in shared memory (`len` bytes, 8-byte aligned, read-only; a length
 * of 0 is a valid empty record). To produce a result, call rp_task_result()
 * and write into the space it returns. Return 0 on success; any other value
 * becomes the result's status. Prefer negative errno values; the pool's own
 * statuses (RP_E* below) are flagged RP_RES_POOL on the result so they cannot
 * be mistaken for yours.
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
void *rp_task_result(struct rp_task *t, size_t cap);

/*
 * Shrink the result to `len` bytes (len <= the cap reserved). Returns 0, or
 * -EMSGSIZE if len exceeds it (the task then finishes with RP_EMSGSIZE and an
 * empty result: nothing past the reservation was published), or -EINVAL if no
 * result was reserved.
 */
int rp_task_result_len(struct rp_task *t, size_t len);

/* ---------------------------------------------------------------------- */
/* Configuration and lifetime (owner thread).                              */
/* ---------------------------------------------------------------------- */

#define RP_CFG_UNORDERED	(1u << 0)	/* rp_next returns results as they finish */

struct rp_config {
	unsigned workers;	/* worker processes; default: online CPUs (1..RP_MAX_WORKERS) */
	unsigned flags;		/* RP_CFG_* */
	size_t ring_bytes;	/* data bytes per ring, power of two; default 1 MiB */
	unsigned max_in_flight;	/* window: tasks submitted and not yet released;
				 * power of two; default 1024 */
	uint64_t spin_ns;	/* how long a side spins before sleeping; default 50 us */
	uint64_t liveness_ns;	/* a blocked wait checks worker liveness at least
				 * this often; default 10 ms */
	rp_task_fn fn;		/* default task function for rp_submit/rp_reserve
				 * called with fn == NULL; may be NULL */
};

#define RP_MAX_WORKERS		256
#define RP_MAX_FNS		256	/* distinct task functions per pool */
#define RP_MIN_RING_BYTES	4096u

/* Fill *cfg with the defaults. */
void rp_config_init(struct rp_config *cfg);

/*
 * Create a pool: one shared region, `workers` forked worker processes, each
 * waiting for tasks. Returns 0 and sets *out; or -EINVAL (cfg NULL, workers
 * not in 1..RP_MAX_WORKERS, ring_bytes not a power of two >= RP_MIN_RING_BYTES
 * or above 1 GiB, max_in_flight not a power of two in 1..2^20, spin_ns above
 * 1 s, liveness_ns below 100 us), -ENOMEM, -EAGAIN (fork failed), or another
 * -errno. On error no worker is left running and nothing is left open.
 * Call from a single-threaded process (workers are fork()ed).
 */
int rp_pool_create(struct rp_pool **out, const struct rp_config *cfg);

/*
 * Refuse further submissions (they return -ESHUTDOWN); results of tasks
 * already submitted can still be collected. Returns 0, or -EINVAL if pool is
 * NULL. Idempotent.
 */
int rp_pool_close(struct rp_pool *pool);

/*
 * Stop the workers and free everything: worker processes are asked to exit
 * after their current task, and killed if they have not within 1 s; all are
 * reaped. Results not yet collected are discarded. Returns 0, or -EINVAL if
 * pool is NULL. The pool must not be used afterwards.
 */
int rp_pool_destroy(struct rp_pool *pool);

/* ---------------------------------------------------------------------- */
/* Submitting (owner thread).                                              */
/* ---------------------------------------------------------------------- */

#define RP_NONBLOCK	(1u << 0)	/* never wait: -EAGAIN instead */

/*
 * Zero-copy submit, step 1: reserve `len` bytes of task input in some
 * worker's task ring and set *buf to it (8-byte aligned). Write the input
 * there, then call rp_commit. `fn` NULL means cfg.fn.
 * Waits (unless RP_NONBLOCK) while every worker's ring is full and no result
 * is ready to collect. Returns 0, or:
 *   -EAGAIN     the window is full, or rings are full and results are waiting:
 *               collect with rp_next first (or RP_NONBLOCK and no room now);
 *   -EMSGSIZE   len exceeds the largest task record (rp_pool_stats: max_payload);
 *   -EINVAL     pool or buf NULL, no function (fn and cfg.fn NULL),
 *               more than RP_MAX_FNS distinct functions;
 *   -EBUSY      a reservation is already open;
 *   -ESHUTDOWN  the pool is closed;
 *   -ECHILD     no live worker is left.
 * On error nothing is reserved.
 */
int rp_reserve(struct rp_pool *pool, rp_task_fn fn, size_t len, unsigned flags, void **buf);

/*
 * Zero-copy submit, step 2: commit the open reservation with `len` bytes of
 * input (len <= the reserved length). Sets *seq (if not NULL) to the task's
 * sequence number. The task may not be visible to its worker until a later
 * call publishes it (rp_next, rp_flush, or enough further submissions).
 * Returns 0, -EINVAL (no open reservation), or -EMSGSIZE (len too large:
 * the reservation stays open).
 */
int rp_commit(struct rp_pool *pool, size_t len, uint64_t *seq);

/* Drop the open reservation. Returns 0 or -EINVAL (none open). */
int rp_abort(struct rp_pool *pool);

/*
 * Copying submit: rp_reserve + memcpy + rp_commit. Same returns as
 * rp_reserve; `data` may be NULL when len is 0.
 */
int rp_submit(struct rp_pool *pool, rp_task_fn fn, const void *data, size_t len,
	      unsigned flags, uint64_t *seq);

/* Publish committed tasks to the workers now. Returns 0 or -EINVAL. */
int rp_flush(struct rp_pool *pool);

/* ---------------------------------------------------------------------- */
/* Collecting (owner thread).                                              */
/* ---------------------------------------------------------------------- */

/* Pool-originated result statuses (also flagged RP_RES_POOL). */
#define RP_ECRASHED	(-EOWNERDEAD)	/* the worker died with the task outstanding */
#define RP_EPROTO	(-EPROTO)	/* the worker broke the ring protocol */
#define RP_EMSGSIZE	(-EMSGSIZE)	/* the task's result did not fit */

#define RP_RES_POOL	(1u << 0)	/* status was set by ringpool, not the task */

struct rp_result {
	const void *data;	/* in place in the result ring; valid until rp_release */
	size_t len;
	uint64_t seq;		/* the task's sequence number */
	int status;		/* 0, the task's return value, or an RP_E* status */
	unsigned flags;		/* RP_RES_* */
	uint32_t worker;	/* worker that ran (or held) the task */
	int term_signal;	/* RP_ECRASHED: signal that killed the worker, or 0 */
	int term_exit;		/* RP_ECRASHED: the worker's exit code, or -1 */
	uint64_t priv_[2];	/* ringpool's */
};

/*
 * Next result: in submit order, or as they finish with RP_CFG_UNORDERED.
 * Publishes pending submissions first when it has to wait. Waits (unless
 * RP_NONBLOCK) until a result is ready; every wait checks worker liveness, so
 * a dead worker turns into RP_ECRASHED results, never a hang. Returns 0 and
 * fills *res; -EAGAIN (RP_NONBLOCK, nothing ready); -ENODATA (nothing is
 * outstanding: every submitted task's result has been collected); -EBUSY (the
 * previous result has not been released); -EINVAL (NULL argument).
 * Call rp_release(pool, res) when done with res->data.
 */
int rp_next(struct rp_pool *pool, struct rp_result *res, unsigned flags);

/* Give the result's space back to its worker. Releasing twice is a no-op. */
void rp_release(struct rp_pool *pool, struct rp_result *res);

/*
 * The C form of Pool.map: run fn over n records of in_size bytes at `in`
 * and write each task's result (up to out_size bytes; shorter results are
 * zero-filled) to out + i * out_size, in order. Blocks until all are done.
 * Returns 0 if every task returned 0; otherwise the status of the first
 * failed task in input order (a task whose result was longer than out_size
 * fails with RP_EMSGSIZE); every task has finished either way. Also -EINVAL
 * (NULL pool or fn, n > 0 with NULL in/out), -EBUSY (results outstanding from
 * earlier submissions), -ESHUTDOWN, -ECHILD. n == 0 returns 0.
 */
int rp_map(struct rp_pool *pool, rp_task_fn fn, const void *in, size_t in_size,
	   void *out, size_t out_size, size_t n);

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
	uint64_t liveness_checks;	/* pidfd polls made by the parent */
};

unsigned rp_pool_workers(const struct rp_pool *pool);

/* Fill *st. Cheap (no syscalls). Returns 0 or -EINVAL. */
int rp_pool_stats(const struct rp_pool *pool, struct rp_stats *st);

#ifdef __cplusplus
}
#endif
#endif
