/* SPDX-License-Identifier: MIT */
/*
 * Cache-line and futex ping-pong between a parent and a forked child over an
 * anonymous shared mapping. The child bounces each value back; the parent
 * times each round trip. The child exits when the parent's value says so or
 * when the parent is gone (PR_SET_PDEATHSIG).
 */
#include "pingpong.h"
#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STOP UINT32_MAX

struct line {
	_Alignas(64) _Atomic uint32_t ping;
	_Alignas(64) _Atomic uint32_t pong;
};

static long futex(_Atomic uint32_t *w, int op, uint32_t v, const struct timespec *ts)
{
	return syscall(SYS_futex, w, op, v, ts, NULL, 0);
}

static struct line *map_line(void)
{
	void *p = mmap(NULL, sizeof(struct line), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Wait (spinning or sleeping) until *w == v; give up after 2 s. */
static int await(_Atomic uint32_t *w, uint32_t v, int sleep)
{
	uint64_t t0 = bench_ns();
	struct timespec ts = { 0, 100000000 };

	for (;;) {
		/* acquire: pairs with the peer's release store of the value. */
		uint32_t cur = atomic_load_explicit(w, memory_order_acquire);

		if (cur == v || cur == STOP)
			return cur == v ? 0 : 1;
		if (sleep)
			futex(w, FUTEX_WAIT, cur, &ts);
		if (bench_ns() - t0 > 2000000000ull)
			return -ETIMEDOUT;
	}
}

static void put(_Atomic uint32_t *w, uint32_t v, int sleep)
{
	/* release: pairs with the acquire load in await(). */
	atomic_store_explicit(w, v, memory_order_release);
	if (sleep)
		futex(w, FUTEX_WAKE, 1, NULL);
}

/* Pin the caller to CPU n (of those allowed), or undo it. */
static cpu_set_t saved_set;

static void pin(int n)
{
	cpu_set_t all, one;
	int k = 0;

	sched_getaffinity(0, sizeof(all), &all);
	if (n == 0)
		saved_set = all;
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (CPU_ISSET(c, &all) && k++ == n) {
			CPU_SET(c, &one);
			sched_setaffinity(0, sizeof(one), &one);
			return;
		}
	}
}

static void unpin(void)
{
	sched_setaffinity(0, sizeof(saved_set), &saved_set);
}

static int pingpong(uint64_t *rtt, size_t rounds, int sleep, unsigned gap_us, int pinned)
{
	struct line *l = map_line();
	pid_t pid;
	int st, err = 0;

	if (!l)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		munmap(l, sizeof(*l));
		return err;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (pinned)
			pin(1);
		for (uint32_t i = 1;; i++) {
			if (await(&l->ping, i, sleep))
				_exit(0);
			put(&l->pong, i, sleep);
		}
	}
	if (pinned)
		pin(0);
	for (uint32_t i = 1; i <= rounds; i++) {
		uint64_t t0;

		if (gap_us)
			usleep(gap_us);
		t0 = bench_ns();

		put(&l->ping, i, sleep);
		if (await(&l->pong, i, sleep)) {
			err = -ETIMEDOUT;
			break;
		}
		rtt[i - 1] = bench_ns() - t0;
	}
	put(&l->ping, STOP, sleep);
	waitpid(pid, &st, 0);
	if (pinned)
		unpin();
	munmap(l, sizeof(*l));
	return err;
}

int bench_cacheline_pingpong(uint64_t *rtt, size_t rounds)
{
	return pingpong(rtt, rounds, 0, 0, 0);
}

int bench_futex_pingpong(uint64_t *rtt, size_t rounds, unsigned gap_us, int pinned)
{
	return pingpong(rtt, rounds, 1, gap_us, pinned);
}
