/* SPDX-License-Identifier: MIT */
/*
 * Internal layout of a pool: the shared region's header and per-worker control
 * blocks (what workers see; where each lives is in layout.h), and the
 * parent-only bookkeeping (window slots, per-worker dispatch state). Only lib/
 * includes this. Nothing in the region is a pointer, so a worker can map it
 * at another address; everything the parent decides from is in its own
 * memory (struct rp_pool), never read back from the region.
 */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include "ringpool.h"
#include "rp_compiler.h"
#include "rp_evc.h"
#include "rp_region.h"
#include "rp_ring.h"
#include "layout.h"
#include "proto.h"
#include "chunk.h"

struct rp_reactor;

#include <stdbool.h>
#include <sys/types.h>

/* One record in this many has its submit-to-collect latency measured. */
#define RP_LAT_SAMPLE 4u

/* Results are published at least every this many records. */
#define RP_PUBLISH_BATCH 32u

/* ---- parent side ---- */

enum {
	RP_SLOT_FREE = 0,
	RP_SLOT_PENDING,	/* dispatched; the result will come from its worker's ring */
	RP_SLOT_FAILED,		/* the pool decided the status (worker died, terminate) */
	RP_SLOT_INLINE,		/* workers = 0: ran at commit, result in ibuf */
};

/* Who consumes a slot's result. */
enum {
	RP_OWN_RAW = 0,		/* the caller, through rp_next */
	RP_OWN_FUTURE,		/* a struct rp_future */
	RP_OWN_JOB,		/* a map job (rp_map, rp_map_async, rp_imap) */
};

struct rp_slot {
	uint64_t seq;
	uint64_t t_submit;	/* rp_ticks() at commit, for latency stats */
	void *owner;		/* future or job; NULL for RP_OWN_RAW */
	void *ibuf;		/* RP_SLOT_INLINE: the result (malloc'd) */
	uint64_t index;		/* job: index of the first task of the record */
	uint32_t ilen;
	uint16_t worker;
	uint16_t count;		/* tasks in the record (a chunk), >= 1 */
	uint8_t state;
	uint8_t kind;		/* RP_OWN_* */
	uint8_t rflags;		/* RP_SLOT_INLINE: the result's RP_RES_* flags */
	uint16_t retries;	/* times re-run after its worker died */
	int32_t status;
	int32_t term_signal;
	int32_t term_exit;
	uint64_t mark;		/* RP_SLOT_FAILED: the task's rp_task_mark + 1 */
};

struct rp_worker {
	struct rp_ring_prod tasks;
	struct rp_ring_cons results;
	struct rp_wctl *ctl;
	pid_t pid;
	int pidfd;
	bool dead;
	bool reaped;
	int term_signal;
	int term_exit;
	uint32_t outstanding;	/* dispatched and not yet collected */
	uint32_t limit;		/* adaptive cap on outstanding */
	uint32_t unpub;		/* committed and unpublished task records */
	uint64_t ewma_ns;	/* smoothed record duration reported by the worker */
	uint64_t start_ns;	/* when it was started */
	uint64_t kill_seq;	/* cur_seq when we killed it */
	int kill_reason;	/* RP_KILL_* */
	uint64_t dispatched;	/* records committed to it, ever */
	bool raw_head;		/* its ring head is a result waiting for rp_next */
	bool hvalid;		/* hview/hslot hold the validated ring head */
	struct rp_rec_view hview;
	struct rp_slot *hslot;
	/* statistics */
	uint64_t st_tasks, st_failed, st_busy_ticks, st_wait_ns;
};

/* A per-pool log-linear latency histogram: 64 octaves x 16 sub-buckets. */
#define RP_HIST_SUB 16
struct rp_hist {
	uint64_t n;
	uint64_t max;
	uint32_t b[64 * RP_HIST_SUB];
};

struct rp_job;
struct rp_future;

struct rp_pool {
	struct rp_config cfg;
	struct rp_region region;
	struct rp_shared *sh;
	struct rp_worker *w;
	unsigned nw;
	unsigned alive;
	pid_t owner;

	struct rp_slot *slots;
	uint64_t mask;		/* max_in_flight - 1 */
	uint64_t submit_seq;	/* next sequence number to hand out */
	uint64_t next_seq;	/* lowest sequence number whose slot is not free */
	uint64_t raw_low;	/* lowest that may be an outstanding RP_OWN_RAW slot */
	uint64_t raw_out;	/* RP_OWN_RAW slots outstanding */
	bool inline_mode;	/* workers = 0 */
	uint64_t in_flight;	/* submitted, not released */
	uint64_t completed;
	uint64_t nfailed;	/* slots in RP_SLOT_FAILED */
	uint64_t nfailed_owned;	/* of which owned by a future or job */
	uint64_t max_payload;
	uint64_t spin_ticks;
	bool light_notify;	/* see rp_shared.light_notify */
	unsigned rr;		/* unordered: worker to look at first */

	int resv_worker;	/* worker of the open reservation, -1 if none */
	uint32_t resv_tag;
	uint64_t resv_len;

	int held_worker;	/* worker whose result the caller holds; -1 none, -2 synthetic */
	uint64_t held_size;
	uint64_t held_seq;

	rp_task_fn fn_cache;	/* last function looked up, and its index */
	uint32_t fn_cache_idx;
	/* Our copy of the task function table: the shared one is worker-writable. */
	uint32_t nfns;
	rp_task_fn fns[RP_MAX_FNS];

	/* Owner of the next commit (set by futures and jobs around commit_). */
	uint8_t own_kind;
	void *own_ptr;
	uint64_t own_index;
	uint16_t own_count;

	/* Futures waiting for room (FIFO), and active jobs. */
	struct rp_future *fq_head, *fq_tail;
	struct rp_job *jobs;
	unsigned in_cb;		/* > 0 while a user callback runs */
	bool (*wait_done)(void *);	/* rp__wait_owned's condition */
	void *wait_arg;

	/* Inline mode: scratch input buffer, and the worker-side state. */
	void *scratch;
	size_t scratch_cap;
	void *inline_state;

	/* Progress. */
	rp_progress_fn prog_cb;
	void *prog_arg;
	uint64_t prog_total, prog_base, prog_base_failed, prog_interval, prog_next;

	/* Statistics. */
	uint64_t failed;
	uint64_t task_ewma_ns;	/* per task, for RP_CHUNK_AUTO */
	uint64_t t_start_ns;
	struct rp_hist hist;

	struct rp_layout lay;	/* where everything is in the region (ours) */
	struct rp_evc *bell;	/* the doorbell we sleep on, in the region */
	unsigned gen;		/* rp__fork_gen when created: who owns the pool */
	uint64_t token;		/* the region's token (RINGPOOL_WORKER) */
	bool spawn;		/* RP_CFG_SPAWN */
	/* Our copy of the module table (the region's is for workers). */
	uint32_t nmodules;
	char (*modules)[RP_MOD_PATH];
	unsigned unresolvable;	/* functions an exec'd worker could not find */
	uint64_t spawned;	/* workers started by exec */
	bool started;		/* rp_pool_create has returned */
	int efd;		/* completion eventfd (workers write it when armed) */
	int epfd;		/* epoll set: efd + worker pidfds (rp_pool_fd) */
	struct rp_reactor *reactor;	/* the parent's one wait: doorbell + pidfds */
	uint64_t timeout_ticks;	/* cfg.task_timeout_ns in ticks, 0: none */
	uint64_t restarts, retried, timeouts;
	uint64_t restart_window_start;
	unsigned restarts_in_window;
	bool restarts_exhausted;
	bool inline_ready;	/* inline initializer ran: run the exit hook */
	bool closed;
	bool destroying;
	bool terminated;
	uint64_t futex_waits;
	uint64_t futex_wakes;
	uint64_t wakes_seen;	/* futex_wakes when the last wait ended */
	uint64_t last_liveness_ns;
	uint64_t liveness_checks;
};

/*
 * Fork generation: incremented in every child of fork() (pthread_atfork),
 * so a pool created by this process image knows when it is touched from a
 * forked child or from a worker (-EPERM). Plain: it changes only in a
 * child, before the child has a second thread.
 */
extern unsigned rp__fork_gen;

static inline bool rp__foreign(const struct rp_pool *p)
{
	return p->gen != rp__fork_gen;
}

/* Entry check of every public call on a pool. */
#define RP_POOL_CHECK(p)                                                       \
	do {                                                                   \
		if (rp_unlikely(!(p)))                                         \
			return -EINVAL;                                        \
		if (rp_unlikely(rp__foreign(p)))                               \
			return -EPERM;                                         \
	} while (0)

/* pool.c */
int rp__check_workers(struct rp_pool *p);
/* Kill workers whose running task passed its deadline. Returns ns until
 * the nearest deadline (UINT64_MAX: none). */
uint64_t rp__check_deadlines(struct rp_pool *p);
void rp__worker_died(struct rp_pool *p, unsigned i);
void rp__fail_slot(struct rp_pool *p, struct rp_slot *s, int status, int sig, int code);

/* dispatch.c: submission and waiting. */
int rp__reserve(struct rp_pool *p, rp_task_fn fn, size_t len, unsigned flags, void **buf,
		uint32_t extra_tag);
void rp__commit(struct rp_pool *p, size_t len, uint64_t *seq);
int rp__flush_all(struct rp_pool *p);
/* Wait (bounded, liveness-checked) until cond(p) or `deadline_ns` (0: none).
 * Returns 0, or -ETIMEDOUT. */
int rp__wait(struct rp_pool *p, bool (*cond)(struct rp_pool *), uint64_t deadline_ns);
bool rp__can_submit(struct rp_pool *p, size_t len);

/* collect.c: results. */
void rp__pump(struct rp_pool *p);	/* deliver owned results, feed queued work */
void rp__pump_slow(struct rp_pool *p);
bool rp__owned_ready(struct rp_pool *p);
bool rp__raw_ready(struct rp_pool *p, bool unordered);
void rp__account(struct rp_pool *p, struct rp_slot *s, struct rp_worker *w, uint32_t ticks,
		 int status);
void rp__free_slot(struct rp_pool *p, struct rp_slot *s);
void rp__progress(struct rp_pool *p, bool final);
/* Pump and wait until done(arg), at most timeout_ns (0: no limit). Returns 0,
 * -ETIMEDOUT, or -EDEADLK (from a callback, or only results the caller has
 * not collected stand in the way). */
int rp__wait_owned(struct rp_pool *p, bool (*done)(void *), void *arg, uint64_t timeout_ns);

/* future.c, job.c: owners. */
void rp__future_deliver(struct rp_pool *p, struct rp_future *f, const struct rp_result *res);
bool rp__futures_feed(struct rp_pool *p);
void rp__futures_cancel_all(struct rp_pool *p, int status);
void rp__job_deliver(struct rp_pool *p, struct rp_job *j, struct rp_slot *s,
		     const struct rp_result *res);
void rp__futures_detach(struct rp_pool *p, struct rp_future *f);
void rp__job_detach(struct rp_pool *p, struct rp_job *j);
void rp__deliver_owned(struct rp_pool *p, struct rp_slot *s, const struct rp_result *res);

bool rp__jobs_feed(struct rp_pool *p);
void rp__jobs_cancel(struct rp_pool *p, int status);
void rp__jobs_detach_all(struct rp_pool *p);

/* inline.c: workers = 0. */
int rp__inline_run(struct rp_pool *p, struct rp_slot *s, rp_task_fn fn, uint32_t tag,
		   const void *in, size_t len);
int rp__inline_init(struct rp_pool *p);
void rp__inline_exit(struct rp_pool *p);
void rp__worker_broke_protocol(struct rp_pool *p, unsigned i);

/* spawn.c: exec'd workers. */
/* Fill e for fn: address, and (module, offset) when dladdr can place it;
 * a new module goes into the pool's own table and then the region's.
 * Returns 0, or -ENOENT if fn cannot be found again in an exec'd worker. */
int rp__fn_resolve(struct rp_pool *p, void *fn, struct rp_fn_entry *e);
/* In a worker: the address of entry e (spawn: dlopen and offset). NULL if
 * it cannot be found. */
void *rp__fn_locate(const struct rp_shared *sh, const struct rp_fn_entry *e);
/* Start worker i by fork + exec of /proc/self/exe. Returns its pid or -errno. */
pid_t rp__spawn_exec(struct rp_pool *p, unsigned i);
/* True if the calling process has more than one thread. */
bool rp__multithreaded(void);

/* worker.c: runs in the child (forked, or exec'd from spawn.c's entry),
 * from the region's fd; never returns. */
_Noreturn void rp__worker_main(int region_fd, unsigned idx);

/* worker.c: in a new worker before it runs anything: stdin from /dev/null,
 * stdout to stderr (or /dev/null), so tasks cannot read the caller's input
 * or write into its output. Async-signal-safe. */
void rp__worker_stdio(void);

/* The pump's cheap test, inline for the caller's hot path (rp_next). */
static inline void rp__pump_inline(struct rp_pool *p)
{
	if (p->in_cb || (p->in_flight == p->raw_out && !p->fq_head && !p->jobs))
		return;	/* nothing owned: the caller's stream needs no pump */
	rp__pump_slow(p);
}

#endif
