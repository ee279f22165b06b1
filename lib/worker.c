/* SPDX-License-Identifier: MIT */
/*
 * The worker process: consume task records in place, call the task function,
 * write its result in place, publish, repeat; sleep on the worker's wake
 * eventcount when the task ring stays empty past the spin budget.
 *
 * Everything comes from the region base and the worker's index, never from
 * the parent's heap, so the same loop serves exec'd workers later. The
 * parent is trusted (it created the region) but the header's numbers are
 * still read once and checked before use.
 */
#include "rp_internal.h"
#include "fnaddr.h"
#include "task.h"
#include "worker.h"
#include "rp_clock.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A worker whose parent has gone exits with this code. */
#define RP_EXIT_ORPHAN	3
#define RP_EXIT_PROTO	4

struct worker {
	struct rp_region reg;		/* our view of the region */
	struct rp_layout lay;
	struct rp_shared *sh;		/* read-only */
	struct rp_evc *bell;		/* the parent's doorbell */
	struct rp_wctl *ctl;
	unsigned idx;
	pid_t parent;
	uint64_t spin_ticks;
	struct rp_ring_cons tasks;
	struct rp_ring_prod results;
	rp_task_fn fns[RP_MAX_FNS];
	uint64_t waits, wakes, busy;
	bool light;		/* registered for the parent's membarrier */
	int efd;		/* completion eventfd, or -1 */
	unsigned polls;		/* tasks_ready calls, for its slipping */
	void *state;		/* set by the initializer */
};

static _Noreturn void worker_exit(struct worker *w, int code)
{
	fflush(stdout);
	/* release: pairs with the parent's acquire load of state; our counters
	 * (relaxed stores before) are visible once EXITING is seen. */
	atomic_store_explicit(&w->ctl->state, RP_WS_EXITING, memory_order_release);
	_exit(code);
}

static bool stop_requested(struct worker *w)
{
	/* acquire: pairs with the parent's release store of stop in destroy. */
	return atomic_load_explicit(&w->ctl->stop, memory_order_acquire) != 0;
}

static void count_syscalls(struct worker *w)
{
	/* relaxed: statistics only, read by the parent without ordering needs. */
	atomic_store_explicit(&w->ctl->futex_waits, w->waits, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->futex_wakes, w->wakes, memory_order_relaxed);
}

/* The parent was armed and we woke it: also ring the completion fd. */
static void woke_parent(struct worker *w)
{
	w->wakes++;
	count_syscalls(w);
	if (w->efd >= 0) {
		uint64_t one = 1;

		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* EAGAIN: the counter is saturated, it is readable anyway */
		}
	}
}

/* Publish results and consumed task space; wake the parent if it sleeps. */
static void worker_flush(struct worker *w)
{
	int any = rp_ring_publish(&w->results);

	any |= rp_ring_cons_publish(&w->tasks);
	if (any && rp_evc_notify(w->bell))
		woke_parent(w);
}

/*
 * Sleep until `ready` holds: spin for the budget, then arm the wake
 * eventcount, re-check, sleep. A 1 s timeout re-checks that the parent lives
 * (PR_SET_PDEATHSIG is the fast path; this is the backstop).
 */
static void worker_wait(struct worker *w, bool (*ready)(struct worker *, void *), void *arg)
{
	uint64_t end = rp_ticks() + w->spin_ticks;

	worker_flush(w);
	do {
		if (ready(w, arg) || stop_requested(w))
			return;
		rp_cpu_relax();
	} while (rp_ticks() < end);
	for (;;) {
		uint32_t armed = rp_evc_prepare(&w->ctl->wake);
		int r;

		w->polls |= 15;	/* the re-check looks at everything */
		if (ready(w, arg) || stop_requested(w)) {
			rp_evc_cancel(&w->ctl->wake, armed);
			return;
		}
		w->waits++;
		count_syscalls(w);
		/* 50 ms: the backstop for noticing the parent's death, for a
		 * parent whose pool-creating thread is not its main thread
		 * (PR_SET_PDEATHSIG is not used then: it fires on thread exit). */
		r = rp_evc_wait(&w->ctl->wake, armed, 50000000ull);
		if (r == -ETIMEDOUT && getppid() != w->parent)
			worker_exit(w, RP_EXIT_ORPHAN);
		w->polls |= 15;
		if (ready(w, arg) || stop_requested(w))
			return;
	}
}

/*
 * While spinning, look at the parent's published tail, a line it writes
 * once per batch, and at the commit word under our head, the line it is
 * writing now, only every 16th time: polling that line would pull it back
 * and forth while the parent fills it (FastForward's "temporal slipping";
 * without it, tiny tasks ran 20-30% slower than with the shared tail).
 * worker_wait makes its re-check after arming a full one (polls |= 15):
 * the parent publishes and notifies after committing, before it waits, so
 * the tail alone already closes the sleep race, as before commit words.
 */
static bool tasks_ready(struct worker *w, void *arg)
{
	(void)arg;
	if ((int64_t)(rp_ring_tail_hint(&w->tasks) - w->tasks.head) > 0)
		return true;
	return (++w->polls & 15) == 0 && !rp_ring_cons_empty(&w->tasks);
}

struct space_req {
	uint64_t cap;
	void *ptr;
	int err;
};

static bool space_ready(struct worker *w, void *arg)
{
	struct space_req *s = arg;

	s->ptr = rp_ring_reserve(&w->results, s->cap, &s->err);
	return s->ptr || s->err != -EAGAIN;
}

static struct worker *current;	/* this process's worker */

/* The task context's hook: wait until the result ring has room for cap. */
static void *wait_result_space(struct rp_task_priv *tp, uint64_t cap, int *err)
{
	struct worker *w = current;
	struct space_req s = { .cap = cap };

	(void)tp;
	while (!space_ready(w, &s)) {
		worker_wait(w, space_ready, &s);
		if (stop_requested(w) && !s.ptr)
			worker_exit(w, 0);
	}
	*err = s.err;
	return s.ptr;
}

static rp_task_fn lookup_fn(struct worker *w, uint32_t tag)
{
	uint32_t i = tag & RP_TAG_FN_MASK;

	if (rp_unlikely(!w->fns[i])) {
		/* Written by the parent before it committed this task (P3/C3
		 * order the entry before the record we just read). Copied out
		 * once, then located (an exec'd worker: module + offset). */
		struct rp_fn_entry e = w->sh->fns[i];

		w->fns[i] = (rp_task_fn)(uintptr_t)rp__fn_locate(w->sh, &e);
	}
	return w->fns[i];
}

static void run_task(struct worker *w, const struct rp_rec_view *v)
{
	struct rp_task_priv tp = { .space = RP_SPACE_RING, .results = &w->results,
				   .wait = wait_result_space, .ctl = w->ctl };
	struct rp_task t = { .seq = v->seq, .worker = w->idx, .state = w->state, .priv_ = &tp };
	uint64_t t0 = rp_ticks(), dt;
	struct rp_run r;

	/* relaxed, then release: pairs with the parent's acquire of cur_seq in
	 * rp__check_deadlines(); cur_start and cur_mark are valid once
	 * cur_seq is seen. */
	atomic_store_explicit(&w->ctl->cur_start, t0, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->cur_mark, 0, memory_order_relaxed);
	atomic_store_explicit(&w->ctl->cur_seq, v->seq + 1, memory_order_release);
	rp__run_record(lookup_fn(w, v->tag), &t, v->tag & RP_TAG_CHUNK, v->data, v->len, &r);
	dt = rp_ticks() - t0;
	if (!r.reserved) {
		int err;

		/* An empty result: 24 bytes of header. */
		if (!wait_result_space(&tp, 0, &err))
			worker_exit(w, RP_EXIT_PROTO);
	}
	w->busy += dt;
	/* aux: the task's run time in ticks, saturated; the parent converts. */
	rp_ring_commit(&w->results, r.len, r.flags, v->seq, r.status,
		       dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt);
}

static void run_exit_hook(struct worker *w)
{
	if (w->sh->exit_fn) {
		struct rp_fn_entry e = w->sh->fns[RP_FN_EXIT];
		rp_exit_fn fn = (rp_exit_fn)(uintptr_t)rp__fn_locate(w->sh, &e);

		if (fn)
			fn(w->idx, w->state);
	}
}

/* Leave after publishing everything; the parent replaces us. */
static _Noreturn void recycle(struct worker *w)
{
	worker_flush(w);
	count_syscalls(w);
	run_exit_hook(w);
	fflush(stdout);
	/* release: pairs with the parent's acquire of state in
	 * rp__worker_died(): a recycled worker is not a crash. */
	atomic_store_explicit(&w->ctl->state, RP_WS_RECYCLED, memory_order_release);
	_exit(0);
}

void rp__worker_stdio(void)
{
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	/* stdin: nothing to read. stdout: the caller's stderr, or nothing. */
	if (nul >= 0 && nul != 0)
		dup2(nul, 0);
	if (fcntl(2, F_GETFD) >= 0)
		dup2(2, 1);
	else if (nul >= 0 && nul != 1)
		dup2(nul, 1);
	if (nul > 2)
		close(nul);
}

/* Report a start-up failure (the parent waits for READY) and leave. */
static _Noreturn void startup_failed(struct worker *w, int err)
{
	/* relaxed: published by the release store of state below. */
	atomic_store_explicit(&w->ctl->init_err, err, memory_order_relaxed);
	/* release: pairs with the parent's acquire of state; init_err above
	 * is visible once FAILED is. */
	atomic_store_explicit(&w->ctl->state, RP_WS_FAILED, memory_order_release);
	if (rp_evc_notify(w->bell))
		woke_parent(w);
	_exit(RP_EXIT_PROTO);
}

/*
 * Map our view of the region, check the parent, attach to our rings, and
 * allocate their pages now. Workers volunteer as the OOM killer's first
 * choice, so a pool that does not fit its memory cgroup costs a worker
 * (pool creation then fails with -ENOMEM), never the caller.
 */
static void worker_setup(struct worker *w, int fd, unsigned idx)
{
	const struct rp_layout *l = &w->lay;
	int adj;

	if (rp__view_map(&w->reg, fd, idx, &w->lay))
		_exit(RP_EXIT_PROTO);
	w->sh = w->reg.base;
	w->idx = idx;
	w->parent = w->sh->parent_pid;
	/* The parent decides about Ctrl-C; a worker dies with its parent. */
	signal(SIGINT, SIG_IGN);
	/* PR_SET_PDEATHSIG fires when the forking *thread* exits: only safe
	 * when the pool was created from the parent's main thread. Checked
	 * against getppid() afterwards, in case the parent died first. */
	if (w->sh->pdeathsig)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != w->parent)
		_exit(RP_EXIT_ORPHAN);
	w->ctl = rp__wctl(w->sh, l, idx);
	w->bell = rp__bell(w->sh, l);
	w->spin_ticks = rp_ns_to_ticks(w->sh->spin_ns);
	w->efd = w->sh->efd;
	w->light = w->sh->light_notify && rp_membarrier_register() == 0;
	/* release: pairs with the parent's acquire of state in wait_ready():
	 * a SIGKILL from here to READY is taken for the OOM killer's. */
	atomic_store_explicit(&w->ctl->state, RP_WS_POPULATING, memory_order_release);
	adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (adj >= 0) {
		if (write(adj, "1000", 4) < 0) {
			/* not fatal: only the choice of victim changes */
		}
		close(adj);
	}
	if (rp_region_populate(&w->reg, rp__block_off(l, idx), l->block_len))
		startup_failed(w, -ENOMEM);
	if (rp_ring_cons_attach(&w->tasks, rp__task_ring(w->sh, l, idx), l->ring_bytes) ||
	    rp_ring_prod_attach(&w->results, rp__result_ring(w->sh, l, idx), l->ring_bytes))
		startup_failed(w, -EPROTO);
	/* stdout lines reach stderr as they are written (tasks may print). */
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Run the pool's initializer, if any. */
static void worker_init(struct worker *w)
{
	const struct rp_shared *sh = w->sh;
	struct rp_fn_entry e;
	rp_init_fn init;
	int r;

	if (!sh->init_fn)
		return;
	e = sh->fns[RP_FN_INIT];
	init = (rp_init_fn)(uintptr_t)rp__fn_locate(sh, &e);
	r = init ? init(w->idx, w->lay.init_args_len
					? (const unsigned char *)sh + w->lay.init_args_off
					: NULL,
			w->lay.init_args_len, &w->state)
		 : -ENOENT;
	if (r)
		startup_failed(w, r < 0 ? r : -r);
}

_Noreturn void rp__worker_main(int fd, unsigned idx)
{
	static struct worker wk;
	struct worker *w = &wk;
	uint64_t done = 0, max_tasks, max_rss;
	unsigned since_pub = 0;

	current = w;
	worker_setup(w, fd, idx);
	max_tasks = w->sh->max_tasks;
	max_rss = w->sh->max_rss;
	worker_init(w);
	/* release: pairs with the parent's acquire load in wait_ready(). */
	atomic_store_explicit(&w->ctl->state, RP_WS_READY, memory_order_release);
	/* Whoever consumes the doorbell's armed state must also ring the
	 * completion fd, or an event loop sleeping on it misses the wake. */
	if (rp_evc_notify(w->bell))
		woke_parent(w);

	for (;;) {
		struct rp_rec_view v;
		int r;

		if (rp_unlikely(stop_requested(w)))
			break;
		r = rp_ring_peek(&w->tasks, &v);
		if (r == -EAGAIN) {
			/* End of a burst: worker_wait publishes first. */
			worker_wait(w, tasks_ready, NULL);
			since_pub = 0;
			continue;
		}
		if (rp_unlikely(r < 0))
			worker_exit(w, RP_EXIT_PROTO);
		run_task(w, &v);
		rp_ring_release(&w->tasks, &v);
		done++;
		/* relaxed: statistics only. */
		atomic_store_explicit(&w->ctl->tasks_done, done, memory_order_relaxed);
		atomic_store_explicit(&w->ctl->busy_ticks, w->busy, memory_order_relaxed);
		/* The result is visible since its commit word (run_task); the
		 * tail, a hint, and our consumed task space go out once per
		 * batch, and when we wait. The parent is told at once, though:
		 * a later task may run long. The light notify is a load of the
		 * doorbell (the parent pays for the fence with a membarrier
		 * when it goes to sleep). */
		if (++since_pub >= RP_PUBLISH_BATCH) {
			rp_ring_publish(&w->results);
			rp_ring_cons_publish(&w->tasks);
			since_pub = 0;
		}
		if (w->light ? rp_evc_notify_light(w->bell) : rp_evc_notify(w->bell))
			woke_parent(w);
		/* release: idle; pairs with the acquire in rp__check_deadlines(). */
		atomic_store_explicit(&w->ctl->cur_seq, 0, memory_order_release);
		if (rp_unlikely(max_tasks && done >= max_tasks))
			recycle(w);
		if (rp_unlikely(max_rss && (done & 63) == 0)) {
			struct rusage ru;

			if (getrusage(RUSAGE_SELF, &ru) == 0 && (uint64_t)ru.ru_maxrss * 1024 > max_rss)
				recycle(w);
		}
	}
	worker_flush(w);
	count_syscalls(w);
	run_exit_hook(w);
	worker_exit(w, 0);
}
