/* SPDX-License-Identifier: MIT */
/*
 * Worker processes and their liveness (see procs.h). Each worker's pidfd is
 * registered in one place, rp__proc_watch, with the reactor (which watches
 * it in io_uring or in its poll fallback) and with the completion epoll set
 * behind rp_pool_fd; liveness checks ask the reactor. Without pidfds
 * (ENOSYS, EPERM, or RINGPOOL_NO_PIDFD=1 for the tests) waitid(WNOHANG)
 * stands in, and a death found that way is handled exactly the same.
 */
#include "rp_internal.h"
#include "reactor.h"
#include "rp_clock.h"
#include "spawn.h"
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define STOP_GRACE_MS	1000

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

/* A pidfd for pid, above the standard fds. Returns it, or -errno. */
static int open_pidfd(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);

	return fd < 0 ? -errno : rp_fd_high(fd);
}

/* Register worker i's pidfd: the one place liveness is watched. */
static void proc_watch(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i + 1 };

	if (w->pidfd < 0)
		return;
	if (p->procs.reactor)
		rp__reactor_watch(p->procs.reactor, w->pidfd, i);
	if (p->procs.epfd >= 0)
		epoll_ctl(p->procs.epfd, EPOLL_CTL_ADD, w->pidfd, &ev);
}

void rp__proc_forget(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];

	if (w->pidfd < 0)
		return;
	/* A dead pidfd stays readable: stop watching it before it closes, or
	 * every wait (and the completion fd) would return at once. */
	if (p->procs.reactor)
		rp__reactor_unwatch(p->procs.reactor, i);
	if (p->procs.epfd >= 0)
		epoll_ctl(p->procs.epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
	close(w->pidfd);
	w->pidfd = -1;
}

/* Fork worker i; the child never returns. */
static pid_t fork_worker(struct rp_pool *p, unsigned i)
{
	pid_t pid;

	/* Nothing buffered in stdio may be written twice by a child. */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		rp__worker_stdio();
		if (!p->procs.keep_fds)
			close_other_fds(p->procs.region.fd, p->procs.efd);
		rp__worker_main(p->procs.region.fd, i);
	}
	return pid;
}

int rp__proc_start(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];
	pid_t pid;
	int fd;

	/* Spawn when asked, and for any worker started once the parent has
	 * become multi-threaded: a fork there could inherit a lock some other
	 * thread held (stdio, an allocator, a logger) and deadlock. */
	if (p->procs.spawn ||
	    (p->procs.started && !p->procs.unresolvable && rp__multithreaded())) {
		pid = rp__spawn_exec(p, i);
		if (pid > 0)
			p->procs.spawned++;
	} else {
		pid = fork_worker(p, i);
	}
	if (pid < 0)
		return (int)pid;
	w->pid = pid;
	w->reaped = false;
	w->term_signal = 0;
	w->term_exit = -1;
	/* Without pidfds (ENOSYS, EPERM), liveness falls back to waitid. */
	fd = p->procs.no_pidfd ? -ENOSYS : open_pidfd(pid);
	if (fd < 0 && fd != -ENOSYS && fd != -EPERM) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		w->pid = 0;
		return fd;
	}
	w->pidfd = fd < 0 ? -1 : fd;
	proc_watch(p, i);
	return 0;
}

bool rp__proc_reap(struct rp_worker *w, bool block)
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

void rp__proc_kill(struct rp_worker *w)
{
	if (w->reaped)
		return;
	if (w->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, w->pidfd, SIGKILL, NULL, 0);
	else if (w->pid > 0)
		kill(w->pid, SIGKILL);
}

/* Ask every worker to exit after its current task; wait up to the grace
 * period. Returns how many have not exited. */
static unsigned ask_stop(struct rp_procs *pr)
{
	uint64_t t0 = rp_clock_ns();
	unsigned i, left;

	for (i = 0; i < pr->nw; i++) {
		if (pr->w[i].pid <= 0)
			continue;
		/* release: pairs with the worker's acquire in stop_requested(). */
		atomic_store_explicit(&pr->w[i].ctl->stop, 1, memory_order_release);
		rp_evc_notify(&pr->w[i].ctl->wake);
	}
	do {
		left = 0;
		for (i = 0; i < pr->nw; i++)
			if (pr->w[i].pid > 0 && !rp__proc_reap(&pr->w[i], false))
				left++;
		if (left)
			usleep(200);
	} while (left && rp_clock_ns() - t0 < STOP_GRACE_MS * 1000000ull);
	return left;
}

void rp__procs_stop(struct rp_pool *p)
{
	struct rp_procs *pr = &p->procs;

	if (!pr->w)
		return;
	ask_stop(pr);
	for (unsigned i = 0; i < pr->nw; i++) {
		if (pr->w[i].pid <= 0)
			continue;
		if (!pr->w[i].reaped) {
			rp__proc_kill(&pr->w[i]);
			rp__proc_reap(&pr->w[i], true);
		}
		rp__proc_forget(p, i);
	}
}

unsigned rp__procs_poll_dead(struct rp_pool *p, unsigned *ids, unsigned cap)
{
	struct rp_procs *pr = &p->procs;
	unsigned ready[RP_MAX_WORKERS], nready = 0, n = 0, i;

	if (pr->reactor)
		rp__reactor_poll(pr->reactor, ready, RP_MAX_WORKERS, &nready);
	for (i = 0; i < nready && n < cap; i++)
		if (ready[i] < pr->nw && !pr->w[ready[i]].dead)
			ids[n++] = ready[i];
	/* Workers without a pidfd, or no reactor yet (start-up): waitid. */
	for (i = 0; i < pr->nw && n < cap; i++) {
		struct rp_worker *w = &pr->w[i];

		if (!w->dead && w->pid > 0 && (w->pidfd < 0 || !pr->reactor) &&
		    rp__proc_reap(w, false))
			ids[n++] = i;
	}
	return n;
}

int rp__procs_fd_setup(struct rp_pool *p)
{
	struct rp_procs *pr = &p->procs;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 0 };

	pr->efd = rp_fd_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (pr->efd < 0)
		return pr->efd == -1 ? -errno : pr->efd;
	pr->epfd = rp_fd_high(epoll_create1(EPOLL_CLOEXEC));
	if (pr->epfd < 0)
		return pr->epfd == -1 ? -errno : pr->epfd;
	if (epoll_ctl(pr->epfd, EPOLL_CTL_ADD, pr->efd, &ev) < 0)
		return -errno;
	return 0;
}
