/* SPDX-License-Identifier: MIT */
/*
 * Pool lifetime: configuration, laying out the shared region, forking the
 * workers and waiting until each reports ready, liveness checks through
 * pidfds, and teardown. The hot path (submit, collect) is in dispatch.c.
 */
#include "rp_internal.h"
#include "rp_clock.h"
#include "reactor.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define MAX_RING_BYTES	(1ull << 30)
#define MAX_WINDOW	(1u << 20)
#define START_TIMEOUT_NS 10000000000ull	/* workers must report ready within 10 s */
#define STOP_GRACE_MS	1000

unsigned rp__fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	rp__fork_gen++;
}

static void atfork_setup(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

void rp_config_init(struct rp_config *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = n < 1 ? 1 : n > RP_MAX_WORKERS ? RP_MAX_WORKERS : (unsigned)n;
	cfg->ring_bytes = 1u << 20;
	cfg->max_in_flight = 1024;
	cfg->spin_ns = 50000;
	cfg->liveness_ns = 10000000;
	cfg->max_restarts = 16;
	cfg->restart_window_ns = 1000000000ull;
}

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int check_config(const struct rp_config *c)
{
	if (c->workers > RP_MAX_WORKERS)
		return -EINVAL;
	if (c->init_args_len > RP_MAX_INIT_ARGS || (c->init_args_len && !c->init_args))
		return -EINVAL;
	if (!pow2(c->ring_bytes) || c->ring_bytes < RP_MIN_RING_BYTES ||
	    c->ring_bytes > MAX_RING_BYTES)
		return -EINVAL;
	if (!pow2(c->max_in_flight) || c->max_in_flight > MAX_WINDOW)
		return -EINVAL;
	if (c->spin_ns > 1000000000ull || c->liveness_ns < 100000)
		return -EINVAL;
	if (c->flags & ~(RP_CFG_UNORDERED | RP_CFG_NO_RESPAWN | RP_CFG_KEEP_FDS | RP_CFG_SPAWN |
			 RP_CFG_NO_URING))
		return -EINVAL;
	if (c->retries > 1000 || (c->task_timeout_ns && c->task_timeout_ns < 1000000) ||
	    !c->restart_window_ns)
		return -EINVAL;
	return 0;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* In a new worker: close every fd above stderr except a and b. */
static void close_other_fds(int a, int b)
{
	int lo = a < b ? a : b, hi = a < b ? b : a, ok = 1;

	if (lo < 3)
		lo = hi;	/* b may be -1 */
	if (lo > 3)
		ok &= syscall(SYS_close_range, 3, lo - 1, 0) == 0;
	if (hi > lo + 1)
		ok &= syscall(SYS_close_range, lo + 1, hi - 1, 0) == 0;
	ok &= syscall(SYS_close_range, hi + 1, ~0u, 0) == 0;
	if (!ok) {
		/* Before Linux 5.9: close them one by one. */
		long max = sysconf(_SC_OPEN_MAX);

		for (long fd = 3; fd < max && fd < 65536; fd++)
			if (fd != a && fd != b)
				close((int)fd);
	}
}

/* Keep the completion epoll set in step with the workers' pidfds. */
static void epoll_track(struct rp_pool *p, unsigned i, bool add)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i + 1 };

	if (p->epfd < 0 || p->w[i].pidfd < 0)
		return;
	epoll_ctl(p->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, p->w[i].pidfd, &ev);
}

/* Reap worker i if it has exited; record how. Returns true once reaped. */
static bool reap(struct rp_worker *w, bool block)
{
	siginfo_t si;

	if (w->reaped)
		return true;
	memset(&si, 0, sizeof(si));
	if (waitid(w->pidfd >= 0 ? P_PIDFD : P_PID, w->pidfd >= 0 ? (id_t)w->pidfd : (id_t)w->pid,
		   &si, WEXITED | (block ? 0 : WNOHANG)) < 0) {
		/* ECHILD: SIGCHLD is ignored and the kernel reaped it. */
		if (errno == ECHILD) {
			w->reaped = true;
			w->term_exit = -1;
		}
		return w->reaped;
	}
	if (si.si_pid == 0)
		return false;	/* WNOHANG, still running */
	w->reaped = true;
	if (si.si_code == CLD_EXITED) {
		w->term_exit = si.si_status;
		w->term_signal = 0;
	} else {
		w->term_signal = si.si_status;
		w->term_exit = -1;
	}
	return true;
}

static void fail_running(struct rp_pool *p, unsigned i, uint64_t running, int status);
static int spawn_worker(struct rp_pool *p, unsigned i);

/* The dead worker w's mark for the record `running` (cur_seq), or 0. */
static uint64_t running_mark(const struct rp_worker *w, uint64_t running)
{
	/* relaxed: the worker is dead; nothing writes these any more. */
	if (!running || atomic_load_explicit(&w->ctl->cur_seq, memory_order_relaxed) != running)
		return 0;
	return atomic_load_explicit(&w->ctl->cur_mark, memory_order_relaxed);
}

/* Before it is reaped, a child's pid cannot be reused, so kill() is safe too. */
static void kill_worker(struct rp_worker *w)
{
	if (w->reaped)
		return;
	if (w->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
	else if (w->pid > 0)
		kill(w->pid, SIGKILL);
}

/*
 * Worker i is gone (or must be treated as gone). Results it published stay
 * collectible; every other task outstanding on it fails with `status`.
 * O(window); runs once per dead worker.
 */
static void fail_worker(struct rp_pool *p, unsigned i, int status, bool trust_ring)
{
	struct rp_worker *w = &p->w[i];
	bool held = p->held_worker == (int)i;
	uint64_t ready = 0, s, running = 0, mark = 0;

	/* A dead worker's records were counted as results when it died; if one
	 * of them then breaks the protocol (trust_ring false), the slots kept
	 * for them must fail now, or they wait forever. */
	if (w->dead && trust_ring)
		return;
	if (w->reaped) {
		/* relaxed: the worker is gone; nothing writes these now. */
		running = atomic_load_explicit(&w->ctl->cur_seq, memory_order_relaxed);
		mark = running_mark(w, running);
	}
	if (!w->dead) {
		w->dead = true;
		p->alive--;
		/* A dead pidfd stays readable: stop watching it, or every wait
		 * (and the completion fd) would return at once from now on. */
		epoll_track(p, i, false);
		if (p->reactor)
			rp__reactor_unwatch(p->reactor, i);
	}
	w->hvalid = false;
	if (trust_ring) {
		/* Count complete results on a copy of our consumer handle, after
		 * the one the caller holds; the first invalid record ends it. */
		struct rp_ring_cons c = w->results;
		struct rp_rec_view v;

		if (held)
			c.head += p->held_size;
		while (rp_ring_peek(&c, &v) == 0) {
			rp_ring_release(&c, &v);
			ready++;
		}
	}
	for (s = p->next_seq; s != p->submit_seq; s++) {
		struct rp_slot *sl = &p->slots[s & p->mask];

		if (sl->state != RP_SLOT_PENDING || sl->worker != i || sl->seq != s)
			continue;
		/* The caller holds it (validated, in place): rp_release settles it. */
		if (held && s == p->held_seq)
			continue;
		if (ready) {
			ready--;
			continue;
		}
		rp__fail_slot(p, sl, status, w->term_signal, w->term_exit);
		if (s + 1 == running)
			sl->mark = mark;
	}
}

/* A saved task record, to re-dispatch to the replacement worker. */
struct saved_rec {
	uint64_t seq;
	uint32_t tag;
	uint32_t len;
	unsigned char data[];
};

/* Restarts allowed? (A sliding window of cfg.max_restarts per window.) */
static bool restart_allowed(struct rp_pool *p)
{
	uint64_t now = rp_clock_ns();

	/* A closed pool still finishes what it accepted: it replaces workers
	 * until it is terminated or destroyed. */
	if (p->restarts_exhausted || p->destroying || p->terminated)
		return false;
	if (now - p->restart_window_start > p->cfg.restart_window_ns) {
		p->restart_window_start = now;
		p->restarts_in_window = 0;
	}
	if (p->restarts_in_window >= p->cfg.max_restarts) {
		p->restarts_exhausted = true;
		return false;
	}
	p->restarts_in_window++;
	return true;
}

/*
 * Did worker w leave on purpose (max tasks, max RSS)? A recycled worker does
 * not count against the restart limit, so its claim is checked against what
 * we know: recycling is configured, and by task count only once it had that
 * many records.
 */
static bool recycled(const struct rp_pool *p, const struct rp_worker *w)
{
	/* acquire: pairs with the worker's release of RP_WS_RECYCLED. */
	if (atomic_load_explicit(&w->ctl->state, memory_order_acquire) != RP_WS_RECYCLED)
		return false;
	return p->cfg.max_rss_bytes ||
	       (p->cfg.max_tasks_per_worker && w->dispatched >= p->cfg.max_tasks_per_worker);
}

/*
 * Worker i has exited (crash, kill, timeout, recycling). Results it
 * published are kept; the task it was running fails (RP_ECRASHED, or
 * RP_ETIMEDOUT if we killed it for its deadline) unless it has retries left;
 * tasks it had not started are re-dispatched, in order, to a replacement
 * worker at the same index, without counting as retries. If no replacement
 * can be had (restart limit, fork failure, pool closing), they fail instead.
 * O(window + ring) per death.
 */
void rp__worker_died(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->w[i];
	struct rp_ring_cons c = w->results;
	struct rp_rec_view v = { 0 };
	struct saved_rec **saved = NULL;
	uint64_t ready = 0, running, q, nsaved = 0, cap = 0;
	bool respawn, timed_out;
	int err;

	if (w->dead)
		return;
	reap(w, true);
	/* relaxed: the worker is dead; nothing else writes these now. */
	running = atomic_load_explicit(&w->ctl->cur_seq, memory_order_relaxed);
	timed_out = w->kill_reason == RP_KILL_TIMEOUT && w->kill_seq == running;
	w->kill_reason = 0;
	if (recycled(p, w) && !p->terminated && !p->destroying)
		respawn = !(p->cfg.flags & RP_CFG_NO_RESPAWN);
	else
		respawn = !(p->cfg.flags & RP_CFG_NO_RESPAWN) && restart_allowed(p);
	if (!respawn) {
		if (timed_out)
			fail_running(p, i, running, RP_ETIMEDOUT);
		fail_worker(p, i, RP_ECRASHED, true);
		return;
	}
	p->restarts++;

	/* Results it published before dying stay where they are. */
	while (rp_ring_peek(&c, &v) == 0) {
		rp_ring_release(&c, &v);
		ready++;
	}
	/* The rest of its outstanding records, in seq order: the running one
	 * fails or is retried; the others are saved for the replacement. */
	{
		struct rp_ring_cons t;
		void *tr = rp__task_ring(p->sh, &p->lay, i);

		/* A consumer handle on the old task ring, from the head the dead
		 * worker last published (it may lag: older records are skipped
		 * by seq). Lengths are validated like any peer-written data.
		 * Our own unpublished records must be visible to it first.
		 * If the worker left the ring unreadable (head, magic), its
		 * tasks fail with RP_EPROTO below instead of staying pending
		 * forever while the replacement never sees them. */
		rp_ring_publish(&w->tasks);
		bool readable = rp_ring_cons_attach(&t, tr, p->cfg.ring_bytes) == 0;

		if (readable)
			t.tail_cache = t.head;
		{
			for (q = p->next_seq; q != p->submit_seq; q++) {
				struct rp_slot *sl = &p->slots[q & p->mask];
				struct saved_rec *r;

				if (sl->state != RP_SLOT_PENDING || sl->worker != i || sl->seq != q)
					continue;
				if (ready) {
					ready--;
					continue;
				}
				if (q + 1 == running) {
					if (timed_out) {
						rp__fail_slot(p, sl, RP_ETIMEDOUT, w->term_signal,
							      w->term_exit);
						sl->mark = running_mark(w, running);
						continue;
					}
					if (sl->retries >= p->cfg.retries) {
						rp__fail_slot(p, sl, RP_ECRASHED, w->term_signal,
							      w->term_exit);
						sl->mark = running_mark(w, running);
						continue;
					}
					sl->retries++;
					p->retried++;
				}
				/* Find its record in the old task ring. */
				for (;;) {
					if (!readable || rp_ring_peek(&t, &v) < 0) {
						v.seq = UINT64_MAX;
						break;
					}
					rp_ring_release(&t, &v);
					if (v.seq == q)
						break;
				}
				if (v.seq != q || nsaved == cap) {
					if (v.seq == q) {
						struct saved_rec **n =
							realloc(saved, (cap ? cap * 2 : 64) * sizeof(*n));

						if (n) {
							saved = n;
							cap = cap ? cap * 2 : 64;
						}
					}
					if (v.seq != q || nsaved == cap) {
						rp__fail_slot(p, sl, v.seq == q ? -ENOMEM : RP_EPROTO,
							      w->term_signal, w->term_exit);
						continue;
					}
				}
				r = malloc(sizeof(*r) + v.len);
				if (!r) {
					rp__fail_slot(p, sl, -ENOMEM, w->term_signal, w->term_exit);
					continue;
				}
				r->seq = q;
				r->tag = v.tag;
				r->len = v.len;
				memcpy(r->data, v.data, v.len);
				saved[nsaved++] = r;
				sl->state = RP_SLOT_FREE;	/* re-dispatched below */
				w->outstanding--;
			}
		}
	}
	/* A fresh task ring and control block, then the replacement. */
	{
		void *tr = rp__task_ring(p->sh, &p->lay, i);

		epoll_track(p, i, false);
		if (p->reactor)
			rp__reactor_unwatch(p->reactor, i);	/* before the close */
		if (w->pidfd >= 0)
			close(w->pidfd);
		w->pidfd = -1;
		rp_ring_init(tr, p->cfg.ring_bytes);
		rp_ring_prod_attach(&w->tasks, tr, p->cfg.ring_bytes);
		w->unpub = 0;
		rp_evc_init(&w->ctl->wake);
		/* relaxed: no worker runs at index i until the fork below. */
		atomic_store_explicit(&w->ctl->stop, 0, memory_order_relaxed);
		atomic_store_explicit(&w->ctl->state, RP_WS_STARTING, memory_order_relaxed);
		atomic_store_explicit(&w->ctl->cur_seq, 0, memory_order_relaxed);
		atomic_store_explicit(&w->ctl->tasks_done, 0, memory_order_relaxed);
		w->dispatched = 0;
		err = spawn_worker(p, i);
	}
	if (err) {
		/* No replacement: what we saved fails, and the worker stays dead. */
		for (q = 0; q < nsaved; q++) {
			struct rp_slot *sl = &p->slots[saved[q]->seq & p->mask];

			sl->state = RP_SLOT_PENDING;
			w->outstanding++;
			free(saved[q]);
		}
		free(saved);
		fail_worker(p, i, RP_ECRASHED, true);
		return;
	}
	for (q = 0; q < nsaved; q++) {
		struct saved_rec *r = saved[q];
		struct rp_slot *sl = &p->slots[r->seq & p->mask];
		void *buf = rp_ring_reserve(&w->tasks, r->len, &err);

		/* The ring is empty and these fitted in it before: they fit. */
		if (buf) {
			memcpy(buf, r->data, r->len);
			rp_ring_commit(&w->tasks, r->len, r->tag, r->seq, 0, 0);
			sl->state = RP_SLOT_PENDING;
			w->outstanding++;
			w->dispatched++;
		} else {
			sl->state = RP_SLOT_PENDING;
			w->outstanding++;
			rp__fail_slot(p, sl, RP_ECRASHED, w->term_signal, w->term_exit);
		}
		free(r);
	}
	free(saved);
	if (rp_ring_publish(&w->tasks))
		rp_evc_notify(&w->ctl->wake);
	w->hvalid = false;
	w->start_ns = rp_clock_ns();
}

/* Fail the record worker i was running (cur_seq is seq + 1), if outstanding. */
static void fail_running(struct rp_pool *p, unsigned i, uint64_t running, int status)
{
	struct rp_slot *sl;

	if (!running)
		return;
	sl = &p->slots[(running - 1) & p->mask];
	if (sl->seq == running - 1 && sl->state == RP_SLOT_PENDING && sl->worker == i) {
		/* Only if its result is not already in the ring: it is the first
		 * outstanding record of i not published; fail_worker counts. */
		struct rp_ring_cons c = p->w[i].results;
		struct rp_rec_view v;

		while (rp_ring_peek(&c, &v) == 0) {
			if (v.seq == running - 1)
				return;
			rp_ring_release(&c, &v);
		}
		rp__fail_slot(p, sl, status, p->w[i].term_signal, p->w[i].term_exit);
		sl->mark = running_mark(&p->w[i], running);
	}
}

void rp__worker_broke_protocol(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->w[i];

	kill_worker(w);
	reap(w, true);
	/* Nothing in its result ring can be trusted any more. */
	fail_worker(p, i, RP_EPROTO, false);
}

/*
 * Poll every live worker's pidfd without blocking; a readable pidfd means the
 * process exited. Where pidfds are unavailable (kernels before 5.3, some
 * sandboxes, valgrind), waitid(WNOHANG) on the pid does the same job.
 * Returns the number of workers found dead.
 */
int rp__check_workers(struct rp_pool *p)
{
	struct pollfd pf[RP_MAX_WORKERS];
	unsigned idx[RP_MAX_WORKERS], n = 0, i;
	int dead = 0;

	p->liveness_checks++;
	for (i = 0; i < p->nw; i++) {
		if (p->w[i].dead)
			continue;
		if (p->w[i].pidfd < 0) {
			/* No pidfd: waitid tells, and the death is handled
			 * exactly as with one (replacement, retries, timeouts). */
			if (reap(&p->w[i], false)) {
				rp__worker_died(p, i);
				dead++;
			}
			continue;
		}
		pf[n].fd = p->w[i].pidfd;
		pf[n].events = POLLIN;
		pf[n].revents = 0;
		idx[n++] = i;
	}
	if (!n || poll(pf, n, 0) <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
			rp__worker_died(p, idx[i]);
			dead++;
		}
	}
	return dead;
}

static void stop_all(struct rp_pool *p)
{
	unsigned i, left;
	uint64_t t0 = rp_clock_ns();

	if (!p->w)
		return;
	for (i = 0; i < p->nw; i++) {
		if (p->w[i].pid <= 0)
			continue;
		/* release: pairs with the worker's acquire in stop_requested(). */
		atomic_store_explicit(&p->w[i].ctl->stop, 1, memory_order_release);
		rp_evc_notify(&p->w[i].ctl->wake);
	}
	do {
		left = 0;
		for (i = 0; i < p->nw; i++)
			if (p->w[i].pid > 0 && !reap(&p->w[i], false))
				left++;
		if (left)
			usleep(200);
	} while (left && rp_clock_ns() - t0 < STOP_GRACE_MS * 1000000ull);
	for (i = 0; i < p->nw; i++) {
		if (p->w[i].pid <= 0)
			continue;
		if (!p->w[i].reaped) {
			kill_worker(&p->w[i]);
			reap(&p->w[i], true);
		}
		if (p->w[i].pidfd >= 0)
			close(p->w[i].pidfd);
		p->w[i].pidfd = -1;
	}
}

/* Finish every future and job the pool still knows, and free inline results. */
static void detach_owners(struct rp_pool *p)
{
	uint64_t q;
	struct rp_job *j = NULL, *nx = NULL;

	rp__futures_cancel_all(p, RP_ECANCELED);
	if (p->slots) {
		for (q = p->next_seq; q != p->submit_seq; q++) {
			struct rp_slot *s = &p->slots[q & p->mask];

			if (s->state == RP_SLOT_FREE || s->seq != q)
				continue;
			if (s->kind == RP_OWN_FUTURE)
				rp__futures_detach(p, s->owner);
			else if (s->kind == RP_OWN_JOB && s->owner) {
				struct rp_job *owner = s->owner;
				uint64_t r;

				/* A job may own many slots: detach it once. */
				for (r = q + 1; r != p->submit_seq; r++)
					if (p->slots[r & p->mask].owner == owner)
						p->slots[r & p->mask].owner = NULL;
				rp__job_detach(p, owner);
			}
			free(s->ibuf);
			s->ibuf = NULL;
			s->state = RP_SLOT_FREE;
		}
	}
	(void)j;
	(void)nx;
	rp__jobs_detach_all(p);
}

static void free_pool(struct rp_pool *p)
{
	/* Before the pidfds it watches are closed. */
	rp__reactor_destroy(p->reactor);
	p->reactor = NULL;
	stop_all(p);
	if (p->inline_mode && p->inline_ready)
		rp__inline_exit(p);
	detach_owners(p);
	free(p->scratch);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->efd >= 0)
		close(p->efd);
	rp_region_destroy(&p->region);
	free(p->modules);
	free(p->slots);
	free(p->w);
	free(p);
}

/* A pidfd for pid, above the standard fds. Returns it, or -errno. */
static int open_pidfd(pid_t pid)
{
	int fd = pidfd_open_(pid);

	return fd < 0 ? -errno : rp_fd_high(fd);
}

/*
 * Start worker i (its control block and rings are laid out): fork, or exec
 * (spawn.c). A forked child takes /dev/null as stdin and stderr as stdout,
 * closes every fd but the standard ones, the region's and the completion
 * fd (unless RP_CFG_KEEP_FDS), maps its view of the region from the fd and
 * never returns. Returns 0, or -errno from fork or pidfd_open.
 */
static int spawn_worker(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->w[i];
	pid_t pid;
	int fd;

	/* Spawn when asked, and for any worker started once the parent has
	 * become multi-threaded: a fork there could inherit a lock some other
	 * thread held (stdio, an allocator, a logger) and deadlock. */
	if (p->spawn || (p->started && !p->unresolvable && rp__multithreaded())) {
		pid = rp__spawn_exec(p, i);
		if (pid < 0)
			return (int)pid;
		p->spawned++;
	} else {
		/* Nothing buffered in stdio may be written twice by a child. */
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			return -errno;
		if (pid == 0) {
			rp__worker_stdio();
			if (!(p->cfg.flags & RP_CFG_KEEP_FDS))
				close_other_fds(p->region.fd, p->efd);
			rp__worker_main(p->region.fd, i);
		}
	}
	w->pid = pid;
	w->reaped = false;
	w->term_signal = 0;
	w->term_exit = -1;
	/* Without pidfds (ENOSYS, EPERM), liveness falls back to waitid. */
	fd = open_pidfd(pid);
	if (fd < 0 && fd != -ENOSYS && fd != -EPERM) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		w->pid = 0;
		return fd;
	}
	w->pidfd = fd < 0 ? -1 : fd;
	epoll_track(p, i, true);
	if (p->reactor && w->pidfd >= 0)
		rp__reactor_watch(p->reactor, w->pidfd, i);
	return 0;
}

/*
 * Worker i died before it was ready: why. Killed while allocating its rings
 * is the OOM killer's work (workers make themselves its first choice).
 */
static int startup_error(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->w[i];
	/* acquire: pairs with the worker's release of state; init_err below
	 * is visible once FAILED is. */
	uint32_t st = atomic_load_explicit(&w->ctl->state, memory_order_acquire);
	/* relaxed: ordered by the acquire above. */
	int e = atomic_load_explicit(&w->ctl->init_err, memory_order_relaxed);

	if (st == RP_WS_POPULATING && w->term_signal == SIGKILL)
		return -ENOMEM;
	if (st == RP_WS_FAILED && e < 0 && e > -4096)
		return e;	/* the initializer's error (a plausible -errno) */
	return -ECHILD;
}

/* Wait until every worker has reported READY, or one failed or died. */
static int wait_ready(struct rp_pool *p)
{
	uint64_t t0 = rp_clock_ns();

	for (;;) {
		uint32_t armed = rp_evc_prepare(p->bell);
		unsigned ready = 0, i;

		for (i = 0; i < p->nw; i++) {
			/* acquire: pairs with the worker's release of state. */
			uint32_t st = atomic_load_explicit(&p->w[i].ctl->state,
							   memory_order_acquire);

			if (st == RP_WS_READY) {
				ready++;
				continue;
			}
			if (reap(&p->w[i], false) || st == RP_WS_FAILED || st == RP_WS_EXITING) {
				kill_worker(&p->w[i]);
				reap(&p->w[i], true);
				return startup_error(p, i);
			}
		}
		if (ready == p->nw) {
			rp_evc_cancel(p->bell, armed);
			return 0;
		}
		if (rp_clock_ns() - t0 > START_TIMEOUT_NS)
			return -ETIMEDOUT;
		rp_evc_wait(p->bell, armed, 1000000);
	}
}

/* Allocate the parent's side of a pool. Returns NULL if out of memory. */
static struct rp_pool *pool_alloc(const struct rp_config *cfg)
{
	struct rp_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->nw = cfg->workers;
	p->owner = getpid();
	p->gen = rp__fork_gen;
	p->spawn = !!(cfg->flags & RP_CFG_SPAWN);
	p->resv_worker = -1;
	p->held_worker = -1;
	p->own_kind = RP_OWN_RAW;
	p->own_count = 1;
	p->inline_mode = cfg->workers == 0;
	p->t_start_ns = rp_clock_ns();
	p->mask = cfg->max_in_flight - 1;
	p->region.fd = -1;
	p->efd = -1;
	p->epfd = -1;
	p->nmodules = 1;
	p->w = calloc(p->nw ? p->nw : 1, sizeof(*p->w));
	p->slots = calloc(cfg->max_in_flight, sizeof(*p->slots));
	p->modules = calloc(RP_MAX_MODULES, sizeof(*p->modules));
	if (!p->w || !p->slots || !p->modules) {
		free(p->w);
		free(p->slots);
		free(p->modules);
		free(p);
		return NULL;
	}
	for (unsigned i = 0; i < p->nw; i++)
		p->w[i].pidfd = -1;
	return p;
}

/* The completion fd: an eventfd workers write when the parent armed the
 * doorbell, in an epoll set with every worker's pidfd. */
static int completion_fd_setup(struct rp_pool *p)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };

	if (p->inline_mode)
		return 0;
	p->efd = rp_fd_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (p->efd < 0)
		return p->efd == -1 ? -errno : p->efd;
	p->epfd = rp_fd_high(epoll_create1(EPOLL_CLOEXEC));
	if (p->epfd < 0)
		return p->epfd == -1 ? -errno : p->epfd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->efd, &ev) < 0)
		return -errno;
	return 0;
}

/* Workers that, with the parent, outnumber the CPUs spin at most 5 us:
 * a spinning worker takes the CPU the parent needs to feed the others
 * (2 workers on 2 CPUs: 4.0 M tiny tasks/s at 50 us, 9.0 M at 5 us). */
static uint64_t worker_spin_ns(const struct rp_pool *p)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu > 0 && (long)p->nw + 1 > ncpu && p->cfg.spin_ns > 5000)
		return 5000;
	return p->cfg.spin_ns;
}

/* Write the header workers read (they map it read-only). */
static int header_setup(struct rp_pool *p)
{
	const struct rp_config *cfg = &p->cfg;
	struct rp_shared *sh = p->sh;

	sh->magic = RP_SHARED_MAGIC;
	sh->version = RP_SHARED_VERSION;
	if (getrandom(&p->token, sizeof(p->token), GRND_NONBLOCK) != sizeof(p->token))
		p->token = rp_clock_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)p;
	sh->token = p->token;
	rp__layout_store(&p->lay, sh);
	sh->spin_ns = worker_spin_ns(p);
	sh->parent_pid = p->owner;
	sh->light_notify = p->light_notify;
	sh->efd = p->efd;
	if (cfg->init_args_len)
		memcpy((unsigned char *)sh + p->lay.init_args_off, cfg->init_args,
		       cfg->init_args_len);
	sh->max_tasks = cfg->max_tasks_per_worker;
	sh->max_rss = cfg->max_rss_bytes;
	sh->pdeathsig = syscall(SYS_gettid) == getpid();
	sh->init_fn = (uint64_t)(uintptr_t)cfg->init;
	sh->exit_fn = (uint64_t)(uintptr_t)cfg->exit;
	sh->spawn = p->spawn;
	sh->nmodules = 1;
	if (cfg->init && rp__fn_resolve(p, (void *)cfg->init, &sh->fns[RP_FN_INIT]) < 0) {
		if (p->spawn)
			return -ENOENT;
		p->unresolvable++;
	}
	if (cfg->exit && rp__fn_resolve(p, (void *)cfg->exit, &sh->fns[RP_FN_EXIT]) < 0) {
		if (p->spawn)
			return -ENOENT;
		p->unresolvable++;
	}
	return 0;
}

/* Lay out each worker's control block and rings, and attach our handles. */
static int blocks_setup(struct rp_pool *p)
{
	uint64_t rb = p->cfg.ring_bytes;
	int err;

	for (unsigned i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];
		void *tr = rp__task_ring(p->sh, &p->lay, i);
		void *rr = rp__result_ring(p->sh, &p->lay, i);

		w->ctl = rp__wctl(p->sh, &p->lay, i);
		rp_evc_init(&w->ctl->wake);
		if ((err = rp_ring_init(tr, rb)) || (err = rp_ring_init(rr, rb)) ||
		    (err = rp_ring_prod_attach(&w->tasks, tr, rb)) ||
		    (err = rp_ring_cons_attach(&w->results, rr, rb)))
			return err;
		w->limit = p->cfg.max_in_flight;
		w->term_exit = -1;
		w->start_ns = p->t_start_ns;
	}
	return 0;
}

/* The shared region: layout, header, doorbell, worker blocks. */
static int region_setup(struct rp_pool *p)
{
	int err = rp__layout_compute(&p->lay, p->nw, p->cfg.ring_bytes, p->cfg.init_args_len);

	if (err)
		return err;
	err = rp_region_create(&p->region, "ringpool", p->lay.size);
	if (err)
		return err;
	p->sh = p->region.base;
	p->bell = rp__bell(p->sh, &p->lay);
	rp_evc_init(p->bell);
	p->light_notify = rp_membarrier_available();
	p->max_payload = rp_ring_max_payload(p->cfg.ring_bytes);
	p->timeout_ticks = p->cfg.task_timeout_ns ? rp_ns_to_ticks(p->cfg.task_timeout_ns) : 0;
	p->spin_ticks = rp_ns_to_ticks(p->cfg.spin_ns); /* calibrates before fork */
	err = completion_fd_setup(p);
	if (!err)
		err = header_setup(p);
	if (!err)
		err = blocks_setup(p);
	return err;
}

/* Fork (or exec) every worker and wait until all are ready; then map the
 * pages they allocated into our own page tables. */
static int workers_start(struct rp_pool *p)
{
	int err;

	for (unsigned i = 0; i < p->nw; i++) {
		err = spawn_worker(p, i);
		if (err)
			return err;
	}
	p->alive = p->nw;
	err = wait_ready(p);
	if (err)
		return err;
	/* The workers populated their blocks: this only fills our page
	 * tables (no new memory), so the hot path takes no page faults. */
	if (p->nw)
		rp_region_populate(&p->region, p->lay.blocks_off, p->lay.size - p->lay.blocks_off);
	return 0;
}

/* The parent's wait: io_uring when it can (futex wait on the doorbell and a
 * poll on every pidfd at once), futex + pidfd polls otherwise. */
static int reactor_setup(struct rp_pool *p)
{
	int err;

	if (p->inline_mode)
		return 0;
	err = rp__reactor_create(&p->reactor, p->nw, !!(p->cfg.flags & RP_CFG_NO_URING));
	if (err)
		return err;
	rp__reactor_set_poll_interval(p->reactor, p->cfg.liveness_ns);
	for (unsigned i = 0; i < p->nw; i++)
		if (p->w[i].pidfd >= 0)
			rp__reactor_watch(p->reactor, p->w[i].pidfd, i);
	return 0;
}

/* Fill fds 0-2 that are closed with /dev/null while the pool opens its own,
 * so none of them takes a standard number (the io_uring fd is liburing's).
 * Returns a mask of the ones filled; unfill_std closes them again. */
static unsigned fill_std(void)
{
	unsigned filled = 0;

	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int n = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (n == fd)
			filled |= 1u << fd;
		else if (n >= 0)
			close(n);
	}
	return filled;
}

static void unfill_std(unsigned filled)
{
	for (int fd = 0; fd < 3; fd++)
		if (filled & (1u << fd))
			close(fd);
}

int rp_pool_create(struct rp_pool **out, const struct rp_config *cfg)
{
	struct rp_pool *p;
	unsigned filled;
	int err;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	err = check_config(cfg);
	if (err)
		return err;
	pthread_once(&atfork_once, atfork_setup);
	p = pool_alloc(cfg);
	if (!p)
		return -ENOMEM;
	filled = fill_std();
	err = region_setup(p);
	if (!err)
		err = workers_start(p);
	if (!err && p->inline_mode) {
		err = rp__inline_init(p);
		p->inline_ready = !err;
	}
	if (!err)
		err = reactor_setup(p);
	unfill_std(filled);
	if (err) {
		free_pool(p);
		return err;
	}
	p->started = true;
	*out = p;
	return 0;
}

int rp_pool_close(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	p->closed = true;
	return 0;
}

/*
 * Are all of worker i's outstanding records computed? Counted from its
 * result ring (on a copy of our consumer handle), never from a counter the
 * worker writes. A ring that breaks the protocol is handled like anywhere
 * else (the worker is killed and its tasks fail): computed, too. O(records).
 */
static bool worker_computed(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->w[i];
	struct rp_ring_cons c = w->results;
	struct rp_rec_view v;
	uint32_t n = 0;
	int r = 0;

	if (w->dead || !w->outstanding)
		return true;
	while (n < w->outstanding && (r = rp_ring_peek(&c, &v)) == 0) {
		rp_ring_release(&c, &v);
		n++;
	}
	if (r == -EPROTO) {
		rp__worker_broke_protocol(p, i);
		return true;
	}
	return n >= w->outstanding;
}

static bool all_computed(void *arg)
{
	struct rp_pool *p = arg;
	unsigned i;

	if (p->fq_head || p->jobs)
		return false;
	for (i = 0; i < p->nw; i++)
		if (!worker_computed(p, i))
			return false;
	/* Owned results still in rings are delivered by the pump. */
	for (i = 0; i < p->nw && p->in_flight != p->raw_out; i++)
		if (p->w[i].outstanding && !p->w[i].raw_head && !p->w[i].dead &&
		    !rp_ring_cons_empty(&p->w[i].results))
			return false;
	return !p->nfailed_owned;
}

static bool join_cond(struct rp_pool *p)
{
	return all_computed(p) || rp__owned_ready(p);
}

int rp_pool_join(struct rp_pool *p, uint64_t timeout_ns)
{
	uint64_t deadline;

	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;
	p->closed = true;
	deadline = timeout_ns ? rp_clock_ns() + timeout_ns : 0;
	for (;;) {
		rp__pump(p);
		if (all_computed(p))
			return 0;
		if (p->inline_mode)
			return -EDEADLK; /* only uncollected results hold queued work */
		if (rp__wait(p, join_cond, deadline) == -ETIMEDOUT) {
			rp__pump(p);
			return all_computed(p) ? 0 : -ETIMEDOUT;
		}
	}
}

int rp_pool_terminate(struct rp_pool *p)
{
	unsigned i;

	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;
	p->closed = true;
	p->terminated = true;
	for (i = 0; i < p->nw; i++)
		kill_worker(&p->w[i]);
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];

		if (w->pid <= 0 || w->dead)
			continue;
		reap(w, true);
		/* Results it published are delivered; the rest are cancelled. */
		fail_worker(p, i, RP_ECANCELED, true);
	}
	rp__futures_cancel_all(p, RP_ECANCELED);
	rp__jobs_cancel(p, RP_ECANCELED);
	rp__pump(p);
	return 0;
}

int rp_pool_destroy(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;	/* the callback's caller still uses the pool */
	p->closed = true;
	p->destroying = true;
	free_pool(p);
	return 0;
}

unsigned rp_pool_workers(const struct rp_pool *p)
{
	return p && !rp__foreign(p) ? p->nw : 0;
}

uint64_t rp__check_deadlines(struct rp_pool *p)
{
	uint64_t best = UINT64_MAX, now;
	unsigned i;

	if (!p->timeout_ticks)
		return UINT64_MAX;
	now = rp_ticks();
	for (i = 0; i < p->nw; i++) {
		struct rp_worker *w = &p->w[i];
		uint64_t seq, start, dl;

		if (w->dead || w->kill_reason)
			continue;
		/* acquire: pairs with the worker's release of cur_seq, which
		 * follows its store of cur_start. */
		seq = atomic_load_explicit(&w->ctl->cur_seq, memory_order_acquire);
		if (!seq)
			continue;
		start = atomic_load_explicit(&w->ctl->cur_start, memory_order_relaxed);
		/* acquire fence: the re-read below comes after the start read. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&w->ctl->cur_seq, memory_order_relaxed) != seq)
			continue;	/* moved on meanwhile: look again next time */
		dl = start + p->timeout_ticks;
		if (now >= dl) {
			w->kill_reason = RP_KILL_TIMEOUT;
			w->kill_seq = seq;
			p->timeouts++;
			kill_worker(w);
		} else if (dl - now < best) {
			best = dl - now;
		}
	}
	return best == UINT64_MAX ? best : rp_ticks_to_ns(best) + 1;
}

int rp_pool_fd(const struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	return p->epfd >= 0 ? p->epfd : -EOPNOTSUPP;
}
