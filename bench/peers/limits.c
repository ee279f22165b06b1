/* SPDX-License-Identifier: MIT */
/*
 * Physical limits between two processes sharing an anonymous MAP_SHARED
 * mapping (parent and one forked child): cache-line ping-pong (both spin,
 * pinned to different CPUs), a raw SPSC ring of 8-byte items, futex ping-pong
 * (both sleep) and pipe ping-pong. No pool can beat these; the driver
 * compares ringpool's round trips against them.
 */
#include "peer_common.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

#define RING_SLOTS 4096u	/* 32 KiB of items: stays in L1/L2 */

/* Each side writes only its own cache line. */
struct shared {
	_Alignas(64) _Atomic uint64_t ping;	/* parent -> child */
	_Alignas(64) _Atomic uint64_t pong;	/* child -> parent */
	_Alignas(64) _Atomic uint32_t fping;	/* futex words */
	_Alignas(64) _Atomic uint32_t fpong;
	_Alignas(64) _Atomic uint64_t head;	/* ring: written by producer */
	_Alignas(64) _Atomic uint64_t tail;	/* ring: written by consumer */
	_Alignas(64) _Atomic uint64_t ring_sum;	/* consumer's result */
	_Atomic uint64_t ring_done;
	_Atomic uint64_t child_syscalls;
	_Alignas(64) uint64_t slots[RING_SLOTS];
};

static struct shared *sh;
static int pin_ok;	/* two CPUs to pin the spinning sides on */

static pid_t spawn(void (*fn)(uint64_t), uint64_t arg)
{
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		peer_die("fork: %s", strerror(errno));
	if (pid == 0) {
		peer_child_init(parent);
		fn(arg);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		peer_die("child %d failed (status 0x%x)", (int)pid, st);
}

/* ---- cache-line ping-pong -------------------------------------------- */

static void cl_child(uint64_t rounds)
{
	if (pin_ok)
		peer_pin(1);
	for (uint64_t i = 1; i <= rounds; i++) {
		/* acquire: pairs with the parent's release store of ping */
		while (atomic_load_explicit(&sh->ping, memory_order_acquire) != i)
			;
		/* release: pairs with the parent's acquire load of pong */
		atomic_store_explicit(&sh->pong, i, memory_order_release);
	}
}

static void bench_cacheline(const struct peer_opts *o)
{
	uint64_t warm = 20000, rounds = o->quick ? 200000 : 2000000;
	uint64_t *lat = malloc(rounds * sizeof(*lat));
	double c0 = peer_cpu_s(), p50, p99, p999, el;
	uint64_t t0, t1;
	char extra[96];
	pid_t pid;

	if (!lat)
		peer_die("out of memory");
	atomic_store(&sh->ping, 0);
	atomic_store(&sh->pong, 0);
	if (pin_ok)
		peer_pin(0);
	pid = spawn(cl_child, warm + rounds);
	for (uint64_t i = 1; i <= warm; i++) {
		atomic_store_explicit(&sh->ping, i, memory_order_release);
		while (atomic_load_explicit(&sh->pong, memory_order_acquire) != i)
			;
	}
	t0 = peer_now_ns();
	for (uint64_t i = warm + 1; i <= warm + rounds; i++) {
		uint64_t s = peer_ticks();

		/* release: pairs with the child's acquire load of ping */
		atomic_store_explicit(&sh->ping, i, memory_order_release);
		/* acquire: pairs with the child's release store of pong */
		while (atomic_load_explicit(&sh->pong, memory_order_acquire) != i)
			;
		lat[i - warm - 1] = peer_ticks() - s;
	}
	t1 = peer_now_ns();
	reap(pid);
	peer_unpin();
	el = (double)(t1 - t0) * 1e-9;
	peer_percentiles(lat, rounds, &p50, &p99, &p999);
	snprintf(extra, sizeof(extra), "{\"pinned\": %s}", pin_ok ? "true" : "false");
	struct peer_row r = peer_row_init("cacheline_pingpong", "limit");
	r.tasks = rounds;
	r.tasks_per_s = (double)rounds / el;
	r.p50_ns = p50;
	r.p99_ns = p99;
	r.p999_ns = p999;
	r.cpu_s = peer_cpu_s() - c0;
	r.syscalls_per_task = 0;
	r.extra = extra;
	peer_emit(&r);
	free(lat);
}

/* ---- raw SPSC ring of 8-byte items ----------------------------------- */

static void ring_child(uint64_t items)
{
	uint64_t tail = 0, head_cache = 0, sum = 0;

	if (pin_ok)
		peer_pin(1);
	while (tail < items) {
		if (tail == head_cache) {
			/* acquire: pairs with the producer's release store of head,
			 * so the slots below head are visible */
			while ((head_cache = atomic_load_explicit(&sh->head, memory_order_acquire)) == tail)
				;
		}
		while (tail < head_cache)
			sum += sh->slots[tail++ & (RING_SLOTS - 1)];
		/* release: pairs with the producer's acquire load of tail; the
		 * slots we read may be overwritten only after this */
		atomic_store_explicit(&sh->tail, tail, memory_order_release);
	}
	atomic_store_explicit(&sh->ring_sum, sum, memory_order_relaxed);
	/* release: publishes ring_sum; pairs with the parent's acquire */
	atomic_store_explicit(&sh->ring_done, 1, memory_order_release);
}

static void bench_ring(const struct peer_opts *o)
{
	uint64_t items = o->quick ? 30000000ull : 300000000ull;
	uint64_t head = 0, tail_cache = 0, t0, t1;
	double c0 = peer_cpu_s(), el;
	char extra[128];
	pid_t pid;

	atomic_store(&sh->head, 0);
	atomic_store(&sh->tail, 0);
	atomic_store(&sh->ring_done, 0);
	if (pin_ok)
		peer_pin(0);
	pid = spawn(ring_child, items);
	t0 = peer_now_ns();
	while (head < items) {
		if (head - tail_cache == RING_SLOTS) {
			/* acquire: pairs with the consumer's release store of tail */
			while (head - (tail_cache = atomic_load_explicit(&sh->tail, memory_order_acquire)) == RING_SLOTS)
				;
		}
		/* fill every free slot, then publish once (a burst) */
		uint64_t end = tail_cache + RING_SLOTS;

		if (end > items)
			end = items;
		while (head < end) {
			sh->slots[head & (RING_SLOTS - 1)] = head + 1;
			head++;
		}
		/* release: pairs with the consumer's acquire load of head */
		atomic_store_explicit(&sh->head, head, memory_order_release);
	}
	/* acquire: pairs with the consumer's release of ring_done */
	while (!atomic_load_explicit(&sh->ring_done, memory_order_acquire))
		;
	t1 = peer_now_ns();
	reap(pid);
	peer_unpin();
	if (atomic_load(&sh->ring_sum) != items * (items + 1) / 2)
		peer_die("raw_ring: wrong sum");
	el = (double)(t1 - t0) * 1e-9;
	snprintf(extra, sizeof(extra), "{\"pinned\": %s, \"slots\": %u, \"gbps\": %.3f}",
		 pin_ok ? "true" : "false", RING_SLOTS, (double)items * 8 / el * 1e-9);
	struct peer_row r = peer_row_init("raw_ring", "limit");
	r.payload_bytes = 8;
	r.tasks = items;
	r.tasks_per_s = (double)items / el;
	r.cpu_s = peer_cpu_s() - c0;
	r.syscalls_per_task = 0;
	r.extra = extra;
	peer_emit(&r);
}

/* ---- futex ping-pong -------------------------------------------------- */

/* Shared (not FUTEX_PRIVATE) futexes: the two sides are different processes. */
static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, w, op, val, ts, NULL, 0);
}

/* Sleep until *w == want; returns the number of syscalls made. */
static uint64_t futex_await(_Atomic uint32_t *w, uint32_t want)
{
	static const struct timespec ts = { 1, 0 };
	uint64_t n = 0, deadline = 0;
	uint32_t v;

	/* acquire: pairs with the other side's release store of *w */
	while ((v = atomic_load_explicit(w, memory_order_acquire)) != want) {
		if (futex(w, FUTEX_WAIT, v, &ts) < 0 && errno != EAGAIN && errno != EINTR &&
		    errno != ETIMEDOUT)
			peer_die("futex wait: %s", strerror(errno));
		n++;
		if (!deadline)
			deadline = peer_now_ns() + 10000000000ull;
		else if (n % 16 == 0 && peer_now_ns() > deadline)
			peer_die("futex ping-pong: peer silent for 10 s");
	}
	return n;
}

static void fx_child(uint64_t rounds)
{
	uint64_t sc = 0;

	for (uint32_t i = 1; i <= rounds; i++) {
		sc += futex_await(&sh->fping, i);
		/* release: pairs with the parent's acquire in futex_await */
		atomic_store_explicit(&sh->fpong, i, memory_order_release);
		futex(&sh->fpong, FUTEX_WAKE, 1, NULL);
		sc++;
	}
	atomic_store(&sh->child_syscalls, sc);
}

static void bench_futex(const struct peer_opts *o, uint64_t gap_ns)
{
	uint64_t warm = 1000, rounds = o->quick ? 20000 : 200000, sc = 0, t0, t1;
	uint64_t *lat, busy = 0;
	double c0 = peer_cpu_s(), p50, p99, p999;
	char extra[96];
	pid_t pid;

	if (gap_ns)
		rounds = o->quick ? 500 : 5000;
	lat = malloc(rounds * sizeof(*lat));
	if (!lat)
		peer_die("out of memory");
	atomic_store(&sh->fping, 0);
	atomic_store(&sh->fpong, 0);
	atomic_store(&sh->child_syscalls, 0);
	pid = spawn(fx_child, warm + rounds);
	t0 = peer_now_ns();
	for (uint32_t i = 1; i <= warm + rounds; i++) {
		uint64_t s, d;

		if (gap_ns && i > warm) {
			struct timespec g = { 0, (long)gap_ns };

			nanosleep(&g, NULL);
		}
		s = peer_ticks();
		/* release: pairs with the child's acquire in futex_await */
		atomic_store_explicit(&sh->fping, i, memory_order_release);
		futex(&sh->fping, FUTEX_WAKE, 1, NULL);
		sc += 1 + futex_await(&sh->fpong, i);
		d = peer_ticks() - s;
		if (i > warm) {
			lat[i - warm - 1] = d;
			busy += d;
		}
	}
	t1 = peer_now_ns();
	reap(pid);
	peer_percentiles(lat, rounds, &p50, &p99, &p999);
	snprintf(extra, sizeof(extra), "{\"pinned\": false, \"gap_ns\": %llu}", (unsigned long long)gap_ns);
	struct peer_row r = peer_row_init("futex_pingpong", gap_ns ? "limit_idle" : "limit");
	r.tasks = rounds;
	/* with a gap, the rate counts only the time spent in round trips */
	r.tasks_per_s = gap_ns ? (double)rounds / ((double)busy / peer_ticks_per_ns() * 1e-9)
			       : (double)(warm + rounds) / ((double)(t1 - t0) * 1e-9);
	r.p50_ns = p50;
	r.p99_ns = p99;
	r.p999_ns = p999;
	r.cpu_s = peer_cpu_s() - c0;
	r.syscalls_per_task = (double)(sc + atomic_load(&sh->child_syscalls)) / (double)(warm + rounds);
	r.extra = extra;
	peer_emit(&r);
	free(lat);
}

/* ---- pipe ping-pong --------------------------------------------------- */

static int p2c[2], c2p[2];

static void xfer(int fd, uint64_t *v, int wr)
{
	ssize_t n = wr ? write(fd, v, 8) : read(fd, v, 8);

	if (n != 8)
		peer_die("pipe %s: %s", wr ? "write" : "read", n < 0 ? strerror(errno) : "short");
}

static void pipe_child(uint64_t rounds)
{
	close(p2c[1]);
	close(c2p[0]);
	for (uint64_t i = 0; i < rounds; i++) {
		uint64_t v;

		xfer(p2c[0], &v, 0);
		v++;
		xfer(c2p[1], &v, 1);
	}
}

static void bench_pipe(const struct peer_opts *o, uint64_t gap_ns)
{
	uint64_t warm = 1000, rounds = o->quick ? 20000 : 200000, t0, t1, busy = 0;
	uint64_t *lat;
	double c0 = peer_cpu_s(), p50, p99, p999;
	char extra[96];
	pid_t pid;

	if (gap_ns)
		rounds = o->quick ? 500 : 5000;
	lat = malloc(rounds * sizeof(*lat));
	if (!lat || pipe(p2c) || pipe(c2p))
		peer_die("pipe setup: %s", strerror(errno));
	pid = spawn(pipe_child, warm + rounds);
	close(p2c[0]);
	close(c2p[1]);
	t0 = peer_now_ns();
	for (uint64_t i = 0; i < warm + rounds; i++) {
		uint64_t v = i, s, d;

		if (gap_ns && i >= warm) {
			struct timespec g = { 0, (long)gap_ns };

			nanosleep(&g, NULL);
		}
		s = peer_ticks();
		xfer(p2c[1], &v, 1);
		xfer(c2p[0], &v, 0);
		d = peer_ticks() - s;
		if (v != i + 1)
			peer_die("pipe ping-pong: bad reply");
		if (i >= warm) {
			lat[i - warm] = d;
			busy += d;
		}
	}
	t1 = peer_now_ns();
	close(p2c[1]);
	close(c2p[0]);
	reap(pid);
	peer_percentiles(lat, rounds, &p50, &p99, &p999);
	snprintf(extra, sizeof(extra), "{\"pinned\": false, \"gap_ns\": %llu}", (unsigned long long)gap_ns);
	struct peer_row r = peer_row_init("pipe_pingpong", gap_ns ? "limit_idle" : "limit");
	r.payload_bytes = 8;
	r.tasks = rounds;
	r.tasks_per_s = gap_ns ? (double)rounds / ((double)busy / peer_ticks_per_ns() * 1e-9)
			       : (double)(warm + rounds) / ((double)(t1 - t0) * 1e-9);
	r.p50_ns = p50;
	r.p99_ns = p99;
	r.p999_ns = p999;
	r.cpu_s = peer_cpu_s() - c0;
	r.syscalls_per_task = 4;	/* write + read on each side */
	r.extra = extra;
	peer_emit(&r);
	free(lat);
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 30 : 300);
	peer_ticks_per_ns();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		peer_die("mmap: %s", strerror(errno));
	{
		cpu_set_t set;

		pin_ok = sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) >= 2;
	}
	/* two spinning processes on one CPU measure the scheduler, not a limit */
	if (!pin_ok)
		fprintf(stderr, "limits: one CPU: skipping cacheline_pingpong and raw_ring\n");
	if (pin_ok && peer_want(&o, "cacheline_pingpong"))
		bench_cacheline(&o);
	if (pin_ok && peer_want(&o, "raw_ring"))
		bench_ring(&o);
	if (peer_want(&o, "futex_pingpong")) {
		bench_futex(&o, 0);
		bench_futex(&o, 1000000);
	}
	if (peer_want(&o, "pipe_pingpong")) {
		bench_pipe(&o, 0);
		bench_pipe(&o, 1000000);
	}
	return 0;
}
