/* SPDX-License-Identifier: MIT */
/*
 * The reactor in both modes: a FUTEX_WAKE from another process ends the
 * sleep, a dying child's pidfd ends it with that child's id, timeouts and
 * signals end it with -ETIMEDOUT / -EINTR, stale completions (an old
 * FUTEX_WAIT, the poll of an unwatched id) are never taken for events, and
 * nothing leaks over many cycles or after destroy. Each scenario runs once
 * with io_uring (skipped when the kernel lacks it) and once with the fallback.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <liburing.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"
#include "rp_evc.h"

/* What a parent and its forked child share: a memfd mapping, as in the pool. */
struct shm {
	struct rp_evc bell;		/* parent's doorbell */
	_Atomic uint32_t word;		/* a raw futex word */
	_Atomic uint32_t cbell;		/* child's wake word */
	_Atomic uint32_t count;		/* child's progress */
};

static struct shm *shm_new(void)
{
	int fd = memfd_create("rp_test_reactor", MFD_CLOEXEC);
	struct shm *s;

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(s, MAP_FAILED);
	close(fd);
	rp_evc_init(&s->bell);
	atomic_init(&s->word, 0);
	atomic_init(&s->cbell, 0);
	atomic_init(&s->count, 0);
	return s;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int count_uring_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[300], link[128];
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		if (strstr(link, "io_uring"))
			n++;
	}
	closedir(d);
	return n;
}

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* A child that sleeps ms milliseconds and exits. */
static pid_t child_exit_after(unsigned ms)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		usleep(ms * 1000);
		_exit(0);
	}
	return pid;
}

/* A child that waits to be killed. */
static pid_t child_paused(void)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Die with the test process if an assertion ends it early. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	return pid;
}

/* Does this kernel offer what the io_uring mode needs? */
static bool kernel_has_uring_futex(void)
{
	struct io_uring_probe *p = io_uring_get_probe();
	bool ok;

	if (!p)
		return false;
	ok = io_uring_opcode_supported(p, 51 /* IORING_OP_FUTEX_WAIT */) &&
	     io_uring_opcode_supported(p, IORING_OP_POLL_ADD);
	io_uring_free_probe(p);
	return ok;
}

static struct rp_reactor *reactor(bool fallback, unsigned max_fds)
{
	struct rp_reactor *r;

	if (!fallback && !kernel_has_uring_futex())
		cr_skip_test("kernel lacks io_uring FUTEX_WAIT (Linux 6.7+) or io_uring is disabled");
	unsetenv("RINGPOOL_NO_URING");
	cr_assert_eq(rp__reactor_create(&r, max_fds, fallback), 0);
	cr_assert_eq(rp__reactor_mode(r), fallback ? RP_REACTOR_FUTEX : RP_REACTOR_URING);
	return r;
}

/* Wait (looping over spurious returns) until an fd is reported. */
static unsigned wait_for_fd(struct rp_reactor *r, _Atomic uint32_t *word, unsigned *ids,
			    unsigned cap)
{
	unsigned n = 0;

	while (!n) {
		int ret = rp__reactor_wait(r, word, atomic_load(word), 0, ids, cap, &n);

		cr_assert_eq(ret, 0, "wait returned %d", ret);
	}
	return n;
}

/* ------------------------------------------------------------------ modes */

Test(reactor, mode_is_uring_when_the_kernel_has_it, .timeout = 10)
{
	struct rp_reactor *r = reactor(false, 4);

	cr_assert_eq(rp__reactor_mode(r), RP_REACTOR_URING);
	cr_assert_eq(rp__reactor_syscalls(r), 0);
	rp__reactor_destroy(r);
}

Test(reactor, force_fallback_is_futex, .timeout = 10)
{
	struct rp_reactor *r;

	cr_assert_eq(rp__reactor_create(&r, 4, true), 0);
	cr_assert_eq(rp__reactor_mode(r), RP_REACTOR_FUTEX);
	rp__reactor_destroy(r);
}

Test(reactor, env_no_uring_is_futex, .timeout = 10)
{
	struct rp_reactor *r;

	cr_assert_eq(setenv("RINGPOOL_NO_URING", "1", 1), 0);
	cr_assert_eq(rp__reactor_create(&r, 4, false), 0);
	cr_assert_eq(rp__reactor_mode(r), RP_REACTOR_FUTEX);
	rp__reactor_destroy(r);
	if (!kernel_has_uring_futex())
		return;
	cr_assert_eq(setenv("RINGPOOL_NO_URING", "0", 1), 0);
	cr_assert_eq(rp__reactor_create(&r, 4, false), 0);
	cr_assert_eq(rp__reactor_mode(r), RP_REACTOR_URING, "\"0\" does not disable io_uring");
	rp__reactor_destroy(r);
}

/* Make io_uring_setup fail with err in this (forked) test process. */
static void deny_io_uring_setup(int err)
{
#ifdef __x86_64__
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
#else
	(void)err;
	cr_skip_test("seccomp filter written for x86_64 only");
#endif
}

static void seccomp_falls_back(int err)
{
	struct shm *s = shm_new();
	struct rp_reactor *r;
	unsigned n;

	deny_io_uring_setup(err);
	unsetenv("RINGPOOL_NO_URING");
	cr_assert_eq(rp__reactor_create(&r, 4, false), 0);
	cr_assert_eq(rp__reactor_mode(r), RP_REACTOR_FUTEX);
	cr_assert_eq(rp__reactor_wait(r, &s->word, 1, 0, NULL, 0, &n), 0);
	rp__reactor_destroy(r);
}

Test(reactor, seccomp_eperm_falls_back, .timeout = 10)
{
	seccomp_falls_back(EPERM);
}

Test(reactor, seccomp_enosys_falls_back, .timeout = 10)
{
	seccomp_falls_back(ENOSYS);
}

Test(reactor, bad_arguments, .timeout = 10)
{
	struct rp_reactor *r;
	_Atomic uint32_t words[2];
	unsigned n = 7;

	cr_assert_eq(rp__reactor_create(NULL, 4, true), -EINVAL);
	cr_assert_eq(rp__reactor_create(&r, RP_REACTOR_MAX_FDS + 1, true), -EINVAL);
	cr_assert_null(r);
	cr_assert_eq(rp__reactor_create(&r, 4, true), 0);
	cr_assert_eq(rp__reactor_watch(r, 0, 4), -EINVAL);
	cr_assert_eq(rp__reactor_watch(r, -1, 0), -EBADF);
	cr_assert_eq(rp__reactor_watch(r, 0, 0), 0);
	cr_assert_eq(rp__reactor_watch(r, 0, 0), -EBUSY);
	cr_assert_eq(rp__reactor_unwatch(r, 0), 0);
	cr_assert_eq(rp__reactor_unwatch(r, 0), -ENOENT);
	cr_assert_eq(rp__reactor_unwatch(r, 9), -EINVAL);
	cr_assert_eq(rp__reactor_wait(r, NULL, 0, 0, NULL, 0, &n), -EINVAL);
	cr_assert_eq(n, 0);
	cr_assert_eq(rp__reactor_wait(r, (_Atomic uint32_t *)((char *)words + 1), 0, 0, NULL,
				      0, &n), -EINVAL);
	cr_assert_eq(rp__reactor_set_poll_interval(r, 0), -EINVAL);
	rp__reactor_destroy(r);
	rp__reactor_destroy(NULL);
}

/* ------------------------------------------------- wake from another process */

static void wake_from_child(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	pid_t pid = fork();
	unsigned n;
	int ret, st;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		usleep(30000);
		/* release: the parent reads nothing else, but keep the habit. */
		atomic_store_explicit(&s->word, 1, memory_order_release);
		rp_futex_wake(&s->word, INT_MAX);
		_exit(0);
	}
	/* No timeout: only the child's wake (or value change) ends this. */
	do {
		ret = rp__reactor_wait(r, &s->word, 0, 0, NULL, 0, &n);
		cr_assert_eq(ret, 0);
	} while (atomic_load(&s->word) == 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	rp__reactor_destroy(r);
}

Test(reactor_uring, wake_from_child, .timeout = 10) { wake_from_child(false); }
Test(reactor_futex, wake_from_child, .timeout = 10) { wake_from_child(true); }

static void value_already_differs(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	unsigned n = 9;

	atomic_store(&s->word, 7);
	/* No timeout: a hang is the failure. */
	cr_assert_eq(rp__reactor_wait(r, &s->word, 6, 0, NULL, 0, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(rp__reactor_syscalls(r), 0, "a differing value needs no syscall");
	rp__reactor_destroy(r);
}

Test(reactor_uring, value_already_differs, .timeout = 10) { value_already_differs(false); }
Test(reactor_futex, value_already_differs, .timeout = 10) { value_already_differs(true); }

/* -------------------------------------------------------------- worker death */

static void child_exit_reports_id(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 8);
	pid_t pid = child_exit_after(30);
	int pfd = pidfd_open_(pid);
	unsigned ids[4], n;

	cr_assert_geq(pfd, 0);
	cr_assert_eq(rp__reactor_watch(r, pfd, 5), 0);
	/* The word never changes and there is no timeout: only the pidfd
	 * (or the fallback's periodic poll) can end this. */
	n = wait_for_fd(r, &s->word, ids, 4);
	cr_assert_eq(n, 1);
	cr_assert_eq(ids[0], 5);
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), pid, "the child has exited");
	cr_assert_eq(rp__reactor_unwatch(r, 5), 0);
	close(pfd);
	rp__reactor_destroy(r);
}

Test(reactor_uring, child_exit_reports_id, .timeout = 10) { child_exit_reports_id(false); }
Test(reactor_futex, child_exit_reports_id, .timeout = 10) { child_exit_reports_id(true); }

/* Readiness is level-triggered: reported again until unwatched. */
static void dead_child_reported_until_unwatched(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 8);
	pid_t pid = child_exit_after(0);
	int pfd = pidfd_open_(pid);
	unsigned ids[4];

	cr_assert_geq(pfd, 0);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(rp__reactor_watch(r, pfd, 2), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(wait_for_fd(r, &s->word, ids, 4), 1);
		cr_assert_eq(ids[0], 2);
	}
	cr_assert_eq(rp__reactor_unwatch(r, 2), 0);
	close(pfd);
	rp__reactor_destroy(r);
}

Test(reactor_uring, dead_child_reported_until_unwatched, .timeout = 10)
{
	dead_child_reported_until_unwatched(false);
}
Test(reactor_futex, dead_child_reported_until_unwatched, .timeout = 10)
{
	dead_child_reported_until_unwatched(true);
}

/* More ready ids than cap: the rest come with the next calls. */
static void ready_beyond_cap_kept(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 8);
	int pfd[3];
	unsigned seen = 0, ids[1];

	for (int i = 0; i < 3; i++) {
		pid_t pid = child_exit_after(0);

		pfd[i] = pidfd_open_(pid);
		cr_assert_geq(pfd[i], 0);
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
		cr_assert_eq(rp__reactor_watch(r, pfd[i], 3 + i), 0);
	}
	while (seen != 7u << 3) {
		cr_assert_eq(wait_for_fd(r, &s->word, ids, 1), 1);
		cr_assert(ids[0] >= 3 && ids[0] < 6);
		cr_assert_eq(seen & (1u << ids[0]), 0, "id %u reported after unwatch", ids[0]);
		seen |= 1u << ids[0];
		cr_assert_eq(rp__reactor_unwatch(r, ids[0]), 0);
	}
	for (int i = 0; i < 3; i++)
		close(pfd[i]);
	rp__reactor_destroy(r);
}

Test(reactor_uring, ready_beyond_cap_kept, .timeout = 10) { ready_beyond_cap_kept(false); }
Test(reactor_futex, ready_beyond_cap_kept, .timeout = 10) { ready_beyond_cap_kept(true); }

/* ------------------------------------------------------------------ unwatch */

static void unwatch_works(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	pid_t a = child_exit_after(0), b;
	int pa = pidfd_open_(a), pb, st;
	unsigned ids[4], n;
	int ret;

	cr_assert_geq(pa, 0);
	cr_assert_eq(rp__reactor_watch(r, pa, 1), 0);
	/* Arm the poll (io_uring) and let a's death complete it... */
	ret = rp__reactor_wait(r, &s->word, 0, 5000000, ids, 4, &n);
	cr_assert(ret == 0 || ret == -ETIMEDOUT);
	cr_assert_eq(waitpid(a, &st, 0), a);
	usleep(5000);
	/* ...then forget it, whatever was posted, and reuse the id for a
	 * live child: the stale completion must not be reported. */
	cr_assert_eq(rp__reactor_unwatch(r, 1), 0);
	close(pa);
	b = child_paused();
	pb = pidfd_open_(b);
	cr_assert_geq(pb, 0);
	cr_assert_eq(rp__reactor_watch(r, pb, 1), 0);
	ret = rp__reactor_wait(r, &s->word, 0, 50000000, ids, 4, &n);
	cr_assert_eq(ret, -ETIMEDOUT, "a live child's pidfd is not ready (got %d)", ret);
	cr_assert_eq(n, 0);
	/* Now b dies: reported under the reused id. */
	kill(b, SIGKILL);
	cr_assert_eq(wait_for_fd(r, &s->word, ids, 4), 1);
	cr_assert_eq(ids[0], 1);
	/* Unwatched, its death is no longer reported. */
	cr_assert_eq(rp__reactor_unwatch(r, 1), 0);
	ret = rp__reactor_wait(r, &s->word, 0, 30000000, ids, 4, &n);
	cr_assert_eq(ret, -ETIMEDOUT);
	cr_assert_eq(n, 0);
	cr_assert_eq(waitpid(b, &st, 0), b);
	close(pb);
	cr_assert_leq(rp__reactor_inflight(r), 1, "only the idle FUTEX_WAIT may remain");
	rp__reactor_destroy(r);
}

Test(reactor_uring, unwatch_works, .timeout = 10) { unwatch_works(false); }
Test(reactor_futex, unwatch_works, .timeout = 10) { unwatch_works(true); }

/*
 * Unwatch an id whose poll is armed and watch it again at once: the old
 * request's cancellation completes after the new one is armed, and must
 * not be taken for the new one's completion (that would arm a duplicate).
 */
static void rewatch_armed_id(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	pid_t a = child_paused(), b = child_paused();
	int pa = pidfd_open_(a), pb = pidfd_open_(b);
	unsigned ids[4], n;

	cr_assert_geq(pa, 0);
	cr_assert_geq(pb, 0);
	cr_assert_eq(rp__reactor_watch(r, pa, 1), 0);
	cr_assert_eq(rp__reactor_wait(r, &s->word, 0, 5000000, ids, 4, &n), -ETIMEDOUT);
	cr_assert_eq(rp__reactor_unwatch(r, 1), 0);
	cr_assert_eq(rp__reactor_watch(r, pb, 1), 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rp__reactor_wait(r, &s->word, 0, 5000000, ids, 4, &n), -ETIMEDOUT);
		if (!fallback)
			cr_assert_eq(rp__reactor_inflight(r), 2, "one FUTEX_WAIT and one poll");
	}
	/* a is no longer watched: its death is not reported. */
	kill(a, SIGKILL);
	cr_assert_eq(waitpid(a, NULL, 0), a);
	cr_assert_eq(rp__reactor_wait(r, &s->word, 0, 20000000, ids, 4, &n), -ETIMEDOUT);
	kill(b, SIGKILL);
	cr_assert_eq(wait_for_fd(r, &s->word, ids, 4), 1);
	cr_assert_eq(ids[0], 1);
	cr_assert_eq(waitpid(b, NULL, 0), b);
	cr_assert_eq(rp__reactor_unwatch(r, 1), 0);
	close(pa);
	close(pb);
	rp__reactor_destroy(r);
}

Test(reactor_uring, rewatch_armed_id, .timeout = 10) { rewatch_armed_id(false); }
Test(reactor_futex, rewatch_armed_id, .timeout = 10) { rewatch_armed_id(true); }

/* ---------------------------------------------------------- timeouts, signals */

static void timeout_expires(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	pid_t pid = child_paused();
	int pfd;
	unsigned n;

	/* A live watched child: the fallback sleeps in poll-interval slices. */
	pfd = pidfd_open_(pid);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(rp__reactor_watch(r, pfd, 0), 0);
	cr_assert_eq(rp__reactor_set_poll_interval(r, 7000000), 0);
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = now_ns(), dt;

		cr_assert_eq(rp__reactor_wait(r, &s->word, 0, 25000000, NULL, 0, &n), -ETIMEDOUT);
		dt = now_ns() - t0;
		cr_assert_eq(n, 0);
		cr_assert_geq(dt, 25000000, "returned early: %llu ns", (unsigned long long)dt);
		cr_assert_lt(dt, 2000000000ull, "sane bound");
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	rp__reactor_unwatch(r, 0);
	close(pfd);
	rp__reactor_destroy(r);
}

Test(reactor_uring, timeout_expires, .timeout = 10) { timeout_expires(false); }
Test(reactor_futex, timeout_expires, .timeout = 10) { timeout_expires(true); }

static void on_alarm(int sig)
{
	(void)sig;
}

static void signal_interrupts(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct itimerval it = { .it_interval = { 0, 20000 }, .it_value = { 0, 20000 } };
	unsigned n;

	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
	cr_assert_eq(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* No timeout, nothing to wake us: only the signal ends it. */
	cr_assert_eq(rp__reactor_wait(r, &s->word, 0, 0, NULL, 0, &n), -EINTR);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	rp__reactor_destroy(r);
}

Test(reactor_uring, signal_interrupts, .timeout = 10) { signal_interrupts(false); }
Test(reactor_futex, signal_interrupts, .timeout = 10) { signal_interrupts(true); }

/* ------------------------------------------------------- stale completions */

/*
 * A FUTEX_WAIT left armed by a timed-out wait, then woken for the old value,
 * must not end a later wait for a new value.
 */
static void stale_futex_completion_ignored(bool fallback)
{
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	unsigned n;

	atomic_store(&s->word, 5);
	cr_assert_eq(rp__reactor_wait(r, &s->word, 5, 5000000, NULL, 0, &n), -ETIMEDOUT);
	cr_assert_eq(rp__reactor_wait(r, &s->word, 5, 5000000, NULL, 0, &n), -ETIMEDOUT);
	if (!fallback)
		cr_assert_eq(rp__reactor_inflight(r), 1, "one FUTEX_WAIT, reused, stays armed");
	atomic_store(&s->word, 6);
	cr_assert_eq(rp_futex_wake(&s->word, INT_MAX), fallback ? 0 : 1,
		     "the armed request is a waiter");
	usleep(2000);
	cr_assert_eq(rp__reactor_wait(r, &s->word, 6, 30000000, NULL, 0, &n), -ETIMEDOUT,
		     "a completion for value 5 is not a wake for value 6");
	cr_assert_eq(rp__reactor_cq_ready(r), 0);
	if (!fallback)
		cr_assert_eq(rp__reactor_inflight(r), 1);
	rp__reactor_destroy(r);
}

Test(reactor_uring, stale_futex_completion_ignored, .timeout = 10)
{
	stale_futex_completion_ignored(false);
}
Test(reactor_futex, stale_futex_completion_ignored, .timeout = 10)
{
	stale_futex_completion_ignored(true);
}

/* ---------------------------------------------------- many cycles, no leaks */

#define CYCLES 10000u

static void ping_pong(bool fallback)
{
	int fds_before = count_fds(), tasks_before = count_tasks();
	struct shm *s = shm_new();
	struct rp_reactor *r = reactor(fallback, 4);
	unsigned ids[4], n, inflight_early = 0;
	pid_t pid;
	int pfd, st;

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (uint32_t i = 1; i <= CYCLES; i++) {
			uint32_t v;

			/* acquire: pairs with the parent's release of cbell. */
			while ((v = atomic_load_explicit(&s->cbell, memory_order_acquire)) < i)
				rp_futex_wait(&s->cbell, v, 0);
			/* release: publishes the count the parent checks. */
			atomic_store_explicit(&s->count, i, memory_order_release);
			rp_evc_notify(&s->bell);
		}
		/* Exit only when told, so no cycle sees the death. */
		while (atomic_load_explicit(&s->cbell, memory_order_acquire) <= CYCLES)
			rp_futex_wait(&s->cbell, CYCLES, 0);
		_exit(0);
	}
	pfd = pidfd_open_(pid);
	cr_assert_geq(pfd, 0);
	cr_assert_eq(rp__reactor_watch(r, pfd, 3), 0);
	for (uint32_t i = 1; i <= CYCLES; i++) {
		/* release: pairs with the child's acquire of cbell. */
		atomic_store_explicit(&s->cbell, i, memory_order_release);
		rp_futex_wake(&s->cbell, INT_MAX);
		for (;;) {
			uint32_t armed;
			int ret;

			if (atomic_load_explicit(&s->count, memory_order_acquire) == i)
				break;
			armed = rp_evc_prepare(&s->bell);
			if (atomic_load_explicit(&s->count, memory_order_acquire) == i) {
				rp_evc_cancel(&s->bell, armed);
				break;
			}
			ret = rp__reactor_wait(r, &s->bell.word, armed, 0, ids, 4, &n);
			cr_assert_eq(ret, 0, "cycle %u: %d", i, ret);
			cr_assert_eq(n, 0, "cycle %u: the child is alive", i);
		}
		if (i == 100)
			inflight_early = rp__reactor_inflight(r);
	}
	cr_assert_leq(rp__reactor_inflight(r), inflight_early + 1, "requests pile up");
	cr_assert_leq(rp__reactor_syscalls(r), 2 * CYCLES + 16, "the wait loops");
	/* No request went to io-wq: an iou-wrk thread would make the parent
	 * look multi-threaded (rp__multithreaded()) and change how it forks. */
	cr_assert_eq(count_tasks(), tasks_before, "the reactor started a thread");
	/* Let the child exit: its id is reported. */
	atomic_store_explicit(&s->cbell, CYCLES + 1, memory_order_release);
	rp_futex_wake(&s->cbell, INT_MAX);
	n = wait_for_fd(r, &s->bell.word, ids, 4);
	cr_assert_eq(n, 1);
	cr_assert_eq(ids[0], 3);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(rp__reactor_unwatch(r, 3), 0);
	close(pfd);
	/* One more sleep sends the POLL_REMOVE; then all that is left is at
	 * most the idle FUTEX_WAIT, and no completion is pending. */
	cr_assert_eq(rp__reactor_wait(r, &s->word, 0, 2000000, ids, 4, &n), -ETIMEDOUT);
	cr_assert_leq(rp__reactor_inflight(r), 1);
	cr_assert_eq(rp__reactor_cq_ready(r), 0);
	rp__reactor_destroy(r);
	munmap(s, 4096);
	cr_assert_eq(count_fds(), fds_before, "an fd leaked");
}

Test(reactor_uring, ping_pong_10000_no_leaks, .timeout = 60) { ping_pong(false); }
Test(reactor_futex, ping_pong_10000_no_leaks, .timeout = 60) { ping_pong(true); }

/* ------------------------------------------------------------------ destroy */

Test(reactor_uring, destroy_closes_ring_fd, .timeout = 10)
{
	int before = count_fds(), rings = count_uring_fds();
	struct rp_reactor *r = reactor(false, 64);

	cr_assert_eq(count_fds(), before + 1, "one ring fd");
	cr_assert_eq(count_uring_fds(), rings + 1);
	rp__reactor_destroy(r);
	cr_assert_eq(count_fds(), before);
	cr_assert_eq(count_uring_fds(), rings);
}

Test(reactor_futex, destroy_leaves_no_fd, .timeout = 10)
{
	int before = count_fds();
	struct rp_reactor *r = reactor(true, 64);

	cr_assert_eq(count_fds(), before);
	rp__reactor_destroy(r);
	cr_assert_eq(count_fds(), before);
}
