/* SPDX-License-Identifier: MIT */
/*
 * Faults with replacement workers (the default): a crashed task fails with
 * its signal while the tasks queued behind it are re-dispatched to a
 * replacement and delivered exactly once, in order; retries; per-task
 * timeouts; the restart-rate limit; recycling by task count and memory; no
 * parent fds in workers; workers ignore SIGINT and die with their parent;
 * fork failure at creation leaves nothing behind.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "rp_test_tasks.h"

static struct rp_pool *pool_with(unsigned workers, void (*edit)(struct rp_config *))
{
	struct rp_config c;
	struct rp_pool *p = NULL;

	test_config_init(&c);
	c.workers = workers;
	c.spin_ns = 20000;
	if (edit)
		edit(&c);
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	return p;
}

static void submit_ctl(struct rp_pool *p, uint64_t v, int action, int arg)
{
	struct ctl_in in = { .value = v, .action = action, .arg = arg };

	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
}

Test(faults, crash_fails_one_task_and_the_rest_are_redispatched, .timeout = 30)
{
	struct rp_pool *p = pool_with(1, NULL);
	struct rp_result r;
	struct rp_stats st;

	for (int i = 0; i < 50; i++)
		submit_ctl(p, (uint64_t)i, i == 20 ? ACT_KILL : ACT_OK, SIGSEGV);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.seq, (uint64_t)i, "in order, exactly once");
		if (i == 20) {
			cr_assert_eq(r.status, RP_ECRASHED);
			cr_assert_eq(r.term_signal, SIGSEGV);
			cr_assert(r.flags & RP_RES_POOL);
		} else {
			cr_assert_eq(r.status, 0, "task %d survives the crash", i);
			cr_assert_eq(*(const uint64_t *)r.data, (uint64_t)i);
		}
		rp_release(p, &r);
	}
	rp_pool_stats(p, &st);
	cr_assert_eq(st.restarts, 1u);
	cr_assert_eq(st.workers_alive, 1u, "a replacement runs");
	cr_assert_eq(st.retried, 0u, "re-dispatch is not a retry");
	rp_pool_destroy(p);
}

static void retries_2(struct rp_config *c) { c->retries = 2; }

/* Crashes on its first run only: a marker file remembers the first run. */
static int task_crash_once(struct rp_task *t, const void *in, size_t len)
{
	const char *path = in;
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
	uint64_t *out;

	if (fd >= 0) {
		close(fd);
		raise(SIGKILL);
	}
	out = rp_task_result(t, 8);
	*out = 42;
	return 0;
}

Test(faults, retries_rerun_a_crashed_task, .timeout = 30)
{
	struct rp_pool *p = pool_with(2, retries_2);
	char path[64];
	struct rp_result r;
	struct rp_stats st;

	snprintf(path, sizeof(path), "/tmp/rp_crash_once.%d", getpid());
	unlink(path);
	cr_assert_eq(rp_submit(p, task_crash_once, path, strlen(path) + 1, 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, 0, "the retry succeeded");
	cr_assert_eq(*(const uint64_t *)r.data, 42u);
	rp_release(p, &r);
	unlink(path);
	/* Always crashing: fails after 1 + retries runs. */
	submit_ctl(p, 0, ACT_KILL, SIGKILL);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, RP_ECRASHED);
	rp_release(p, &r);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.retried, 3u, "1 for the first task, 2 for the second");
	rp_pool_destroy(p);
}

static void timeout_200ms(struct rp_config *c) { c->task_timeout_ns = 200000000; }

Test(faults, task_timeout_kills_and_replaces, .timeout = 30)
{
	struct rp_pool *p = pool_with(1, timeout_200ms);
	struct rp_result r;
	struct timespec a, b;
	struct rp_stats st;

	clock_gettime(CLOCK_MONOTONIC, &a);
	submit_ctl(p, 0, ACT_SLEEP_MS, 10000);
	submit_ctl(p, 7, ACT_OK, 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_eq(r.status, RP_ETIMEDOUT);
	cr_assert_eq(r.term_signal, SIGKILL);
	rp_release(p, &r);
	cr_log_info("timeout detected after %.1f ms (limit 200 ms)",
		    (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, 0, "the next task runs on the replacement");
	cr_assert_eq(*(const uint64_t *)r.data, 7u);
	rp_release(p, &r);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.timeouts, 1u);
	rp_pool_destroy(p);
}

static void restarts_3(struct rp_config *c)
{
	c->max_restarts = 3;
	c->restart_window_ns = 60000000000ull;
}

Test(faults, restart_limit_stops_a_crash_storm, .timeout = 30)
{
	struct rp_pool *p = pool_with(1, restarts_3);
	struct rp_result r;
	struct rp_stats st;
	int crashed = 0, got = 0, r2;

	struct ctl_in kill10[10];

	/* All ten queued at once (RP_BULK ignores the adaptive per-worker
	 * limit, which would otherwise send them one at a time). */
	for (int i = 0; i < 10; i++)
		kill10[i] = (struct ctl_in){ .value = (uint64_t)i, .action = ACT_KILL,
					     .arg = SIGKILL };
	cr_assert_eq(rp_submit_burst(p, task_ctl, kill10, sizeof(kill10[0]), 10, RP_BULK, 0, NULL),
		     10);
	while ((r2 = rp_next(p, &r, 0)) == 0) {
		crashed += r.status == RP_ECRASHED;
		got++;
		rp_release(p, &r);
	}
	cr_assert_eq(r2, -ENODATA);
	cr_assert_eq(got, 10, "every task has a result");
	cr_assert_eq(crashed, 10);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.restarts, 3u);
	cr_assert(st.restarts_exhausted);
	cr_assert_eq(st.workers_alive, 0u);
	uint64_t x = 1;
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), -ECHILD, "a clear error, no fork loop");
	rp_pool_destroy(p);
}

static void recycle_100(struct rp_config *c) { c->max_tasks_per_worker = 100; }

Test(faults, recycling_by_task_count_loses_nothing, .timeout = 60)
{
	struct rp_pool *p = pool_with(2, recycle_100);
	uint64_t sub = 0, got = 0, n = 5000;
	struct rp_result r;
	struct rp_stats st;

	while (got < n) {
		while (sub < n && rp_submit(p, task_triple, &sub, 8, 0, 0, NULL) == 0)
			sub++;
		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.seq, got);
		cr_assert_eq(r.status, 0);
		cr_assert_eq(*(const uint64_t *)r.data, got * 3 + 1);
		rp_release(p, &r);
		got++;
	}
	rp_pool_stats(p, &st);
	cr_assert_geq(st.restarts, 40u, "workers were recycled (%lu)", st.restarts);
	cr_assert_eq(st.restarts_exhausted, 0, "recycling does not count as crashing");
	rp_pool_destroy(p);
}

static void rss_64m(struct rp_config *c) { c->max_rss_bytes = 64u << 20; }

static int task_hog(struct rp_task *t, const void *in, size_t len)
{
	size_t n = 96u << 20;
	char *m = malloc(n);
	uint64_t *out;

	if (!m)
		return -ENOMEM;
	memset(m, 1, n);	/* touch it: resident */
	/* Keep the compiler from eliding the allocation (it may drop a
	 * malloc/memset/free with no reader). */
	__asm__ __volatile__("" : : "r"(m) : "memory");
	free(m);
	out = rp_task_result(t, 8);
	*out = (uint64_t)getpid();
	return 0;
}

Test(faults, recycling_by_memory, .timeout = 60)
{
	struct rp_pool *p = pool_with(1, rss_64m);
	struct rp_stats st;
	uint64_t pids[70];

	/* The worker checks every 64 tasks. */
	for (int i = 0; i < 70; i++)
		cr_assert_eq(apply_status(p, task_hog, NULL, 0, &pids[i], 8, NULL), 0);
	rp_pool_stats(p, &st);
	cr_assert_geq(st.restarts, 1u);
	cr_assert_neq(pids[0], pids[69], "a new worker process took over");
	rp_pool_destroy(p);
}

static int task_count_fds(struct rp_task *t, const void *in, size_t len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0, *out;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	out = rp_task_result(t, 8);
	*out = n - 1;	/* less the directory fd itself */
	return 0;
}

Test(faults, workers_inherit_no_fds, .timeout = 30)
{
	int extra = open("/dev/null", O_RDONLY);	/* not close-on-exec */
	struct rp_pool *p = pool_with(1, NULL);
	uint64_t n = 0;

	cr_assert_geq(extra, 0);
	cr_assert_eq(apply_status(p, task_count_fds, NULL, 0, &n, 8, NULL), 0);
	cr_assert_eq(n, 5u, "stdin, stdout, stderr, the region and the completion eventfd only (%lu)", n);
	rp_pool_destroy(p);
	close(extra);
}

Test(faults, workers_ignore_sigint, .timeout = 30)
{
	struct rp_pool *p = pool_with(1, NULL);
	struct rp_worker_stats ws;
	uint64_t x = 2, y;

	cr_assert_eq(rp_worker_stats(p, 0, &ws), 0);
	cr_assert_eq(kill(ws.pid, SIGINT), 0);
	usleep(50000);
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &y, 8, NULL), 0);
	cr_assert_eq(y, 7u);
	struct rp_stats st;
	rp_pool_stats(p, &st);
	cr_assert_eq(st.restarts, 0u, "the worker survived SIGINT");
	rp_pool_destroy(p);
}

/* The parent is SIGKILLed: every worker exits, no orphan remains. */
Test(faults, workers_die_with_their_parent, .timeout = 30)
{
	int fds[2];
	pid_t parent;
	int wpids[2];

	cr_assert_eq(pipe(fds), 0);
	parent = fork();
	cr_assert_geq(parent, 0);
	if (parent == 0) {
		struct rp_config c;
		struct rp_pool *p;
		struct rp_worker_stats ws;

		test_config_init(&c);
		c.workers = 2;
		c.flags |= RP_CFG_KEEP_FDS;
		if (rp_pool_create(&p, &c))
			_exit(1);
		for (unsigned i = 0; i < 2; i++) {
			rp_worker_stats(p, i, &ws);
			wpids[i] = ws.pid;
		}
		if (write(fds[1], wpids, sizeof(wpids)) != sizeof(wpids))
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], wpids, sizeof(wpids)), (ssize_t)sizeof(wpids));
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(kill(parent, SIGKILL), 0);
	waitpid(parent, NULL, 0);
	for (int i = 0; i < 2; i++) {
		int tries = 0;

		/* Orphans are reparented and reaped by init: poll until gone. */
		while (kill(wpids[i], 0) == 0 && tries++ < 2000)
			usleep(1000);
		cr_assert_neq(kill(wpids[i], 0), 0, "worker %d outlived its parent", wpids[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_log_info("workers gone %.1f ms after the parent was killed",
		    (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
	close(fds[0]);
}

/* fork() fails part-way through creation (RLIMIT_NPROC): a clear error and
 * no half-started pool. Root ignores RLIMIT_NPROC, so drop to nobody. */
Test(faults, fork_failure_at_create, .timeout = 30)
{
	pid_t child = fork();
	int st;

	cr_assert_geq(child, 0);
	if (child == 0) {
		struct rp_config c;
		struct rp_pool *p;
		struct rlimit rl = { 2, 2 };
		int r;

		if (getuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(10);
		if (setrlimit(RLIMIT_NPROC, &rl))
			_exit(11);
		test_config_init(&c);
		c.workers = 4;
		r = rp_pool_create(&p, &c);
		if (r != -EAGAIN)
			_exit(12);
		if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
			_exit(13);	/* a worker left behind */
		_exit(0);
	}
	cr_assert_eq(waitpid(child, &st, 0), child);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "child exit %d", WEXITSTATUS(st));
}

/* io_uring when the kernel has it; the futex fallback when forced. */
Test(faults, wait_mode_reported_and_forced, .timeout = 30)
{
	struct rp_pool *p;
	struct rp_config c;
	struct rp_stats st;

	test_config_init(&c);
	c.workers = 1;
	c.flags |= RP_CFG_NO_URING;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.wait_mode, RP_WAIT_FUTEX);
	rp_pool_destroy(p);
	c.flags &= ~RP_CFG_NO_URING;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	rp_pool_stats(p, &st);
	cr_log_info("wait mode without forcing: %s", st.wait_mode == RP_WAIT_URING ? "io_uring" : "futex");
	if (getenv("RINGPOOL_NO_URING"))
		cr_assert_eq(st.wait_mode, RP_WAIT_FUTEX);
	rp_pool_destroy(p);
}

/* Without respawn, a dead worker's pidfd must not keep the completion fd
 * (or the parent's wait) readable forever. */
Test(faults, dead_worker_does_not_keep_the_fd_readable, .timeout = 30)
{
	struct rp_pool *p;
	struct rp_config c;
	struct rp_result r;
	struct pollfd pf;

	test_config_init(&c);
	c.workers = 2;
	c.flags |= RP_CFG_NO_RESPAWN;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	submit_ctl(p, 0, ACT_KILL, SIGKILL);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, RP_ECRASHED);
	rp_release(p, &r);
	cr_assert_eq(rp_pool_arm(p), 1, "nothing in flight");
	submit_ctl(p, 1, ACT_SLEEP_MS, 300);
	/* Spurious wake-ups are allowed (a worker handing back ring space
	 * rings the doorbell); a dead pidfd left in the set would make the fd
	 * readable on every poll, thousands of times in 200 ms. */
	int wakeups = 0, got = 0;
	uint64_t t0 = 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	pf.fd = rp_pool_fd(p);
	pf.events = POLLIN;
	for (;;) {
		uint64_t now;
		int a = rp_pool_arm(p);

		cr_assert_geq(a, 0);
		while (a == 1 && rp_next(p, &r, RP_NONBLOCK) == 0) {
			got++;
			rp_release(p, &r);
		}
		if (got)
			break;
		if (a == 0 && poll(&pf, 1, 50) == 1)
			wakeups++;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		cr_assert_lt(now - t0, 5000, "the result must arrive");
	}
	cr_assert_lt(wakeups, 20, "the fd kept firing while idle (%d wake-ups)", wakeups);
	rp_pool_destroy(p);
}

/*
 * Results a worker committed before it died are delivered once and never
 * run again, though it publishes its result tail only every 32 results (or
 * when it waits): the parent reads past the published tail by the records'
 * commit words. A shared file counts the runs of each task (the replacement
 * worker is exec'd: the parent has Criterion's thread).
 */
#define NRUNS 50

struct runs_in {
	uint64_t v;
	char path[56];
};

static int task_count_runs(struct rp_task *t, const void *in, size_t len)
{
	struct runs_in a;
	_Atomic uint32_t *runs;
	uint32_t before;
	uint64_t *out;
	int fd;

	if (len != sizeof(a))
		return -EINVAL;
	memcpy(&a, in, sizeof(a));
	fd = open(a.path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	runs = mmap(NULL, NRUNS * sizeof(*runs), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (runs == MAP_FAILED)
		return -ENOMEM;
	/* relaxed: counted here, read by the parent after the pool is gone. */
	before = atomic_fetch_add_explicit(&runs[a.v], 1, memory_order_relaxed);
	munmap((void *)runs, NRUNS * sizeof(*runs));
	if (before == 0 && a.v == 20)
		raise(SIGKILL);		/* the first run of task 20 dies */
	out = rp_task_result(t, sizeof(a.v));
	if (!out)
		return -ENOMEM;
	*out = a.v;
	return 0;
}

Test(faults, committed_results_survive_a_death_unpublished, .timeout = 30)
{
	struct runs_in a;
	struct rp_pool *p;
	struct rp_result r;
	uint32_t runs[NRUNS];
	int fd;

	snprintf(a.path, sizeof(a.path), "/tmp/rp_runs.%d", getpid());
	fd = open(a.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, sizeof(runs)), 0);
	p = pool_with(1, retries_2);
	for (uint64_t i = 0; i < NRUNS; i++) {
		a.v = i;
		cr_assert_eq(rp_submit(p, task_count_runs, &a, sizeof(a), 0, i, NULL), 0);
	}
	for (uint64_t i = 0; i < NRUNS; i++) {
		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.seq, i, "in order, exactly once");
		cr_assert_eq(r.status, 0, "task %lu: status %d signal %d", i, r.status,
			     r.term_signal);
		cr_assert_eq(*(const uint64_t *)r.data, i);
		rp_release(p, &r);
	}
	cr_assert_eq(rp_next(p, &r, RP_NONBLOCK), -ENODATA);
	rp_pool_destroy(p);
	cr_assert_eq(pread(fd, runs, sizeof(runs), 0), (ssize_t)sizeof(runs));
	close(fd);
	unlink(a.path);
	for (uint64_t i = 0; i < NRUNS; i++)
		cr_assert_eq(runs[i], i == 20 ? 2u : 1u, "task %lu ran %u times", i, runs[i]);
}
