/* SPDX-License-Identifier: MIT */
/*
 * Promises from README and the header that an outside review found broken
 * (issue 11), one Test per behaviour: results survive recycling after close;
 * poll loops that never wait still finish; callbacks that call back in get
 * -EDEADLK; a forked child or a task touching the owner's pool gets -EPERM;
 * workers do not share the caller's stdin/stdout; internal fds never take
 * 0-2; a stray RINGPOOL_WORKER is ignored; a worker's stray writes to the
 * region cannot hurt the parent; pools do not see each other's regions;
 * a pool too big for its memory cgroup fails with -ENOMEM.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "rp_internal.h"
#include "rp_test_tasks.h"

/* ---- helpers ---- */

/* struct rp_shared as this process maps it (a worker's view). */
static struct rp_shared *find_region(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	struct rp_shared *found = NULL;
	char line[512];

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char path[256] = "";
		struct rp_shared *sh;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255[^\n]", &lo, &hi, path) < 3 ||
		    strcmp(path, "/memfd:ringpool (deleted)"))
			continue;
		sh = (struct rp_shared *)lo;
		if (sh->magic == RP_SHARED_MAGIC)
			found = sh;
	}
	fclose(f);
	return found;
}

/* Distinct ringpool regions (memfd inodes) this process maps. */
static int regions_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long inos[64];
	int n = 0;
	char line[512];

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long ino;
		char path[256] = "";
		int k;

		if (sscanf(line, "%*s %*s %*s %*s %lu %255[^\n]", &ino, path) < 2 ||
		    !strstr(path, "memfd:ringpool"))
			continue;
		for (k = 0; k < n && inos[k] != ino; k++)
			;
		if (k == n && n < 64)
			inos[n++] = ino;
	}
	fclose(f);
	return n;
}

static uint64_t run_u64(struct rp_pool *p, rp_task_fn fn, uint64_t x, int *status)
{
	uint64_t out = 0;
	size_t len = 0;

	*status = apply_status(p, fn, &x, 8, &out, 8, &len);
	return out;
}

/* ---- item 9: recycling after close loses nothing ---- */

Test(promises, recycled_workers_finish_every_task_after_close, .timeout = 60)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	struct rp_future *f[6];
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 20 };

	test_config_init(&c);
	c.workers = 3;
	c.max_tasks_per_worker = 1;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (int i = 0; i < 6; i++) {
		in.value = (uint64_t)i;
		cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f[i]), 0);
	}
	cr_assert_eq(rp_pool_close(p), 0);
	cr_assert_eq(rp_pool_join(p, 0), 0);
	for (int i = 0; i < 6; i++) {
		const void *d;
		size_t n;

		cr_assert_eq(rp_future_test(f[i]), 1, "task %d finished", i);
		cr_assert_eq(future_status(f[i], &d, &n), 0, "task %d: no crash", i);
		cr_assert_eq(n, 8);
		cr_assert_eq(*(const uint64_t *)d, (uint64_t)i);
		rp_future_free(f[i]);
	}
	rp_pool_destroy(p);
}

/* ---- item 10: non-waiting calls make progress ---- */

static bool spin_until(int (*test)(void *), void *arg)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		if (test(arg) == 1)
			return true;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while (b.tv_sec - a.tv_sec < 10);
	return false;
}

static int future_test_(void *f)
{
	return rp_future_test(f);
}

static int job_poll_(void *j)
{
	return rp_job_poll(j);
}

Test(promises, future_test_loop_completes_without_waiting, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct rp_future *f;
	uint64_t x = 5;

	cr_assert_not_null(p);
	/* One future, far below any publish batch: only polling can finish it. */
	cr_assert_eq(rp_apply_async(p, task_triple, &x, 8, &f), 0);
	cr_assert(spin_until(future_test_, f), "rp_future_test never saw the task finish");
	rp_future_free(f);
	rp_pool_destroy(p);
}

Test(promises, job_poll_loop_completes_without_waiting, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t in[5] = { 1, 2, 3, 4, 5 }, out[5];
	struct rp_job *j;

	cr_assert_not_null(p);
	cr_assert_eq(rp_map_async(p, task_triple, in, 8, out, 8, 5, NULL, NULL, NULL, &j), 0);
	cr_assert(spin_until(job_poll_, j), "rp_job_poll never saw the job finish");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(out[i], in[i] * 3 + 1);
	rp_job_free(j);
	rp_pool_destroy(p);
}

/* ---- item 11: calls from callbacks ---- */

struct cb_probe {
	struct rp_pool *p;
	int got;		/* what the nested call returned */
	int calls;
	int which;
};

enum { NEST_APPLY, NEST_SUBMIT, NEST_NEXT, NEST_DESTROY, NEST_MAP, NEST_JOIN, NEST_IMAP };

static ssize_t one_src(void *arg, void *buf, size_t cap)
{
	int *left = arg;
	uint64_t x = 7;

	if (!*left)
		return RP_EOF;
	(*left)--;
	memcpy(buf, &x, 8);
	return 8;
}

static int null_sink(void *arg, const struct rp_result *r)
{
	(void)arg;
	(void)r;
	return 0;
}

static int nested_call(struct cb_probe *c)
{
	uint64_t x = 1, y[1] = { 0 };
	struct rp_result r;
	int left = 1;

	switch (c->which) {
	case NEST_APPLY:
		return apply_status(c->p, task_triple, &x, 8, &y, 8, NULL);
	case NEST_SUBMIT:
		return rp_submit(c->p, task_triple, &x, 8, 0, 0, NULL);
	case NEST_NEXT:
		return rp_next(c->p, &r, 0);
	case NEST_DESTROY:
		return rp_pool_destroy(c->p);
	case NEST_MAP:
		return map_status(c->p, task_triple, &x, 8, y, 8, 1);
	case NEST_JOIN:
		return rp_pool_join(c->p, 0);
	case NEST_IMAP:
		return rp_imap(c->p, task_triple, one_src, &left, null_sink, NULL, NULL);
	}
	return 0;
}

static int probing_sink(void *arg, const struct rp_result *r)
{
	struct cb_probe *c = arg;

	(void)r;
	if (!c->calls++)
		c->got = nested_call(c);
	return 0;
}

static ssize_t probing_src(void *arg, void *buf, size_t cap)
{
	struct cb_probe *c = arg;
	uint64_t x = 3;

	if (c->calls++ == 0)
		c->got = nested_call(c);
	if (c->calls > 4)
		return RP_EOF;
	memcpy(buf, &x, 8);
	return 8;
}

static void imap_sink_probe(int which)
{
	struct rp_pool *p = test_pool(2, 0);
	struct cb_probe c = { .p = p, .which = which, .got = 12345 };
	int left = 4;

	cr_assert_not_null(p);
	cr_assert_eq(rp_imap(p, task_triple, one_src, &left, probing_sink, &c, NULL), 0);
	cr_assert_eq(c.got, -EDEADLK, "nested call %d from a sink returned %d", which, c.got);
	/* The pool is intact afterwards. */
	int st;
	cr_assert_eq(run_u64(p, task_triple, 2, &st), 7);
	cr_assert_eq(st, 0);
	rp_pool_destroy(p);
}

Test(promises, apply_from_imap_sink_is_edeadlk, .timeout = 30)
{
	imap_sink_probe(NEST_APPLY);
}

Test(promises, submit_from_imap_sink_is_edeadlk, .timeout = 30)
{
	imap_sink_probe(NEST_SUBMIT);
}

Test(promises, next_from_imap_sink_is_edeadlk, .timeout = 30)
{
	imap_sink_probe(NEST_NEXT);
}

Test(promises, destroy_from_imap_sink_is_edeadlk, .timeout = 30)
{
	imap_sink_probe(NEST_DESTROY);
}

Test(promises, imap_from_imap_sink_is_edeadlk, .timeout = 30)
{
	imap_sink_probe(NEST_IMAP);
}

Test(promises, calls_from_imap_source_are_edeadlk, .timeout = 30)
{
	int calls[] = { NEST_APPLY, NEST_SUBMIT, NEST_NEXT, NEST_MAP, NEST_DESTROY };

	for (unsigned k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		struct rp_pool *p = test_pool(1, 0);
		struct cb_probe c = { .p = p, .which = calls[k], .got = 12345 };

		cr_assert_not_null(p);
		cr_assert_eq(rp_imap(p, task_triple, probing_src, &c, null_sink, NULL, NULL), 0);
		cr_assert_eq(c.got, -EDEADLK, "call %d from a source returned %d", calls[k], c.got);
		rp_pool_destroy(p);
	}
}

static void job_cb_probe(struct rp_job *j, void *arg)
{
	struct cb_probe *c = arg;

	(void)j;
	c->calls++;
	c->got = nested_call(c);
}

Test(promises, destroy_and_join_from_job_callback_are_edeadlk, .timeout = 30)
{
	int calls[] = { NEST_DESTROY, NEST_JOIN, NEST_MAP, NEST_APPLY };

	for (unsigned k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
		struct rp_pool *p = test_pool(2, 0);
		struct cb_probe c = { .p = p, .which = calls[k], .got = 12345 };
		uint64_t in[4] = { 1, 2, 3, 4 }, out[4];
		struct rp_job *j;

		cr_assert_not_null(p);
		cr_assert_eq(rp_map_async(p, task_triple, in, 8, out, 8, 4, NULL, job_cb_probe, &c,
					  &j), 0);
		cr_assert_eq(rp_job_wait(j, 0), 0);
		cr_assert_eq(c.calls, 1);
		cr_assert_eq(c.got, -EDEADLK, "call %d from a job callback returned %d", calls[k],
			     c.got);
		rp_job_free(j);
		/* Still usable: the nested destroy did nothing. */
		cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 4), 0);
		rp_pool_destroy(p);
	}
}

static void progress_probe(void *arg, uint64_t done, uint64_t total, uint64_t failed)
{
	struct cb_probe *c = arg;

	(void)done;
	(void)total;
	(void)failed;
	if (!c->calls++)
		c->got = nested_call(c);
}

Test(promises, map_from_progress_callback_is_edeadlk, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct cb_probe c = { .p = p, .which = NEST_MAP, .got = 12345 };
	uint64_t in[8] = { 0 }, out[8];

	cr_assert_not_null(p);
	cr_assert_eq(rp_pool_set_progress(p, progress_probe, &c, 8, 1), 0);
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 8), 0);
	cr_assert_geq(c.calls, 1);
	cr_assert_eq(c.got, -EDEADLK);
	rp_pool_destroy(p);
}

Test(promises, waiting_behind_an_uncollected_result_is_edeadlk, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_future *f;
	struct rp_result r;
	uint64_t x = 1, y, in[1] = { 1 }, out[1];

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	/* Not collected: the caller's result sits at the head of the only
	 * result ring, and anything dispatched now comes back behind it. */
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &y, 8, NULL), -EDEADLK);
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 1), -EBUSY);
	cr_assert_eq(rp_apply_async(p, task_triple, &x, 8, &f), 0);
	cr_assert_eq(rp_future_wait(f, 0), -EDEADLK);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	rp_release(p, &r);
	cr_assert_eq(rp_future_wait(f, 0), 0);
	rp_future_free(f);
	rp_pool_destroy(p);
}

Test(promises, a_held_result_does_not_block_futures_behind_it, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_result r;
	uint64_t x = 1, y = 0;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	/* Taken (held in place): the future's result behind it is read past. */
	x = 2;
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &y, 8, NULL), 0);
	cr_assert_eq(y, 7);
	cr_assert_eq(*(const uint64_t *)r.data, 4, "the held result is intact");
	rp_release(p, &r);
	rp_pool_destroy(p);
}

/* ---- item 12: a forked child, or a task, touching the owner's pool ---- */

static struct rp_pool *g_pool;

static int task_calls_pool(struct rp_task *t, const void *in, size_t len)
{
	uint64_t x = 1, *out = rp_task_result(t, 8);
	struct rp_result r;

	(void)in;
	(void)len;
	if (!out)
		return -ENOMEM;
	/* Every entry point must refuse, never crash. */
	int a = rp_submit(g_pool, task_triple, &x, 8, RP_NONBLOCK, 0, NULL);
	int b = rp_next(g_pool, &r, RP_NONBLOCK);
	int c = rp_pool_destroy(g_pool);

	*out = (uint64_t)(uint32_t)-a;
	return a == b && b == c ? 0 : -EINVAL;
}

Test(promises, forked_child_gets_eperm_and_parent_pool_survives, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t in[16], out[16];
	pid_t pid;
	int st;

	cr_assert_not_null(p);
	for (int i = 0; i < 16; i++)
		in[i] = (uint64_t)i;
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 16), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct rp_result r;
		struct rp_future *f;
		struct rp_stats s;
		int bad = 0;

		bad |= rp_submit(p, task_triple, in, 8, 0, 0, NULL) != -EPERM;
		bad |= (rp_next(p, &r, 0) != -EPERM) << 1;
		bad |= (map_status(p, task_triple, in, 8, out, 8, 16) != -EPERM) << 2;
		bad |= (rp_apply_async(p, task_triple, in, 8, &f) != -EPERM) << 3;
		bad |= (rp_pool_join(p, 0) != -EPERM) << 4;
		bad |= (rp_pool_terminate(p) != -EPERM) << 5;
		bad |= (rp_pool_stats(p, &s) != -EPERM) << 6;
		bad |= (rp_pool_destroy(p) != -EPERM) << 7;
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "the child died by signal %d", WTERMSIG(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "calls that did not return -EPERM: mask %#x",
		     WEXITSTATUS(st));
	memset(out, 0, sizeof(out));
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 16), 0, "the parent's pool works");
	for (int i = 0; i < 16; i++)
		cr_assert_eq(out[i], in[i] * 3 + 1);
	rp_pool_destroy(p);
}

Test(promises, task_calling_into_its_pool_gets_an_error, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in die = { .action = ACT_KILL, .arg = SIGKILL };
	uint64_t out = 0;
	int st;

	cr_assert_not_null(p);
	g_pool = p;	/* forked workers see it; exec'd ones see NULL */
	for (int round = 0; round < 2; round++) {
		st = apply_status(p, task_calls_pool, &out, 8, &out, 8, NULL);
		cr_assert_eq(st, 0, "round %d: status %d", round, st);
		cr_assert(out == EPERM || out == EINVAL, "round %d: got %lu", round,
			  (unsigned long)out);
		/* Round 2 runs in a replacement worker. */
		apply_status(p, task_ctl, &die, sizeof(die), NULL, 0, NULL);
	}
	g_pool = NULL;
	rp_pool_destroy(p);
}

/* ---- item 13 ---- */

Test(promises, config_init_null_is_a_no_op)
{
	rp_config_init(NULL);
}

/* ---- item 3: workers do not share the caller's stdin/stdout ---- */

static int task_stdio(struct rp_task *t, const void *in, size_t len)
{
	char buf[64];
	uint64_t *out = rp_task_result(t, 8);
	ssize_t n;

	(void)in;
	(void)len;
	printf("from printf\n");
	fflush(stdout);
	if (write(1, "from write(1)\n", 14) < 0) {
	}
	n = read(0, buf, sizeof(buf));
	*out = (uint64_t)n;
	return 0;
}

Test(promises, workers_do_not_share_stdin_or_stdout, .timeout = 30)
{
	int outp[2], inp[2];
	char buf[256];
	uint64_t got = 99;
	ssize_t n;

	cr_assert_eq(pipe(outp), 0);
	cr_assert_eq(pipe(inp), 0);
	cr_assert_eq(write(inp[1], "caller's input\n", 15), 15);
	close(inp[1]);
	fflush(stdout);
	cr_assert_eq(dup2(outp[1], 1), 1);
	cr_assert_eq(dup2(inp[0], 0), 0);
	close(outp[1]);
	close(inp[0]);

	struct rp_pool *p = test_pool(2, 0);

	cr_assert_not_null(p);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(apply_status(p, task_stdio, &got, 8, &got, 8, NULL), 0);
		cr_assert_eq(got, 0, "a task read %ld bytes of the caller's stdin", (long)got);
	}
	rp_pool_destroy(p);
	/* Nothing reached the caller's stdout; its stdin is untouched. */
	int fl = fcntl(outp[0], F_GETFL);
	fcntl(outp[0], F_SETFL, fl | O_NONBLOCK);
	n = read(outp[0], buf, sizeof(buf));
	cr_assert_leq(n, 0, "tasks wrote %ld bytes to the caller's stdout", (long)n);
	n = read(0, buf, sizeof(buf));
	cr_assert_eq(n, 15, "the caller's stdin lost input");
}

/* ---- item 2 sibling: internal fds never take 0, 1 or 2 ---- */

Test(promises, internal_fds_do_not_take_standard_numbers, .timeout = 30)
{
	struct rp_pool *p;
	int st;

	close(0);
	close(1);
	p = test_pool(2, 0);
	cr_assert_not_null(p);
	cr_assert_eq(fcntl(0, F_GETFD), -1, "the pool took fd 0");
	cr_assert_eq(fcntl(1, F_GETFD), -1, "the pool took fd 1");
	cr_assert_eq(run_u64(p, task_triple, 1, &st), 4);
	cr_assert_eq(st, 0);
	cr_assert_eq(fcntl(0, F_GETFD), -1);
	cr_assert_eq(fcntl(1, F_GETFD), -1);
	rp_pool_destroy(p);
}

/* ---- item 7: a stray RINGPOOL_WORKER ---- */

Test(promises, stray_worker_variable_is_ignored_with_a_warning, .timeout = 30)
{
	const char *vals[] = { "3:0:-1", "0:0:0", "garbage", "", "2:1:2:3:4" };

	for (unsigned k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		int errp[2], st;
		pid_t pid;
		char buf[4096] = "";
		ssize_t n, got = 0;

		cr_assert_eq(pipe(errp), 0);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			char *argv[] = { PROBE_PATH, NULL };

			dup2(errp[1], 2);
			dup2(errp[1], 1);
			setenv("RINGPOOL_WORKER", vals[k], 1);
			execv(PROBE_PATH, argv);
			_exit(99);
		}
		close(errp[1]);
		while ((n = read(errp[0], buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		close(errp[0]);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "RINGPOOL_WORKER=%s: status %#x, output: %s", vals[k], st, buf);
		cr_assert_not_null(strstr(buf, "probe main ran"), "main did not run: %s", buf);
		cr_assert_not_null(strstr(buf, "RINGPOOL_WORKER"), "no warning: %s", buf);
	}
}

/* ---- items 14-16: stray writes into the region ---- */

enum { SCRIBBLE_MODULES, SCRIBBLE_TASKS_DONE, SCRIBBLE_HEADER };

static int task_scribble(struct rp_task *t, const void *in, size_t len)
{
	struct rp_shared *sh = find_region();
	struct rp_layout l;
	uint64_t what;

	if (len != 8 || !sh || rp__layout_load(&l, sh, sh->size))
		return -ENXIO;
	memcpy(&what, in, 8);
	switch (what) {
	case SCRIBBLE_MODULES:
		/* May fault (a read-only header): the task then crashed. */
		sh->nmodules = 0xffffffffu;
		memset(sh->modules, 'A', sizeof(sh->modules));
		break;
	case SCRIBBLE_TASKS_DONE:
		/* Every other worker's counter (those may be unmapped here: the
		 * task then crashes), and our own, which is writable by design
		 * (the worker rewrites it after the task). */
		for (unsigned i = 0; i < 2; i++)
			if (i != t->worker)
				atomic_store(&rp__wctl(sh, &l, i)->tasks_done, 1ull << 60);
		atomic_store(&rp__wctl(sh, &l, t->worker)->tasks_done, 1ull << 60);
		break;
	case SCRIBBLE_HEADER:
		sh->parent_pid = 1;
		sh->efd = 0;
		sh->init_fn = 0x1234;
		sh->init_args_len = 1ull << 40;
		sh->spin_ns = ~0ull;
		sh->max_tasks = 1;
		break;
	}
	return 0;
}

static int task_other_fn(struct rp_task *t, const void *in, size_t len)
{
	return task_triple(t, in, len);
}

static int init_count(unsigned worker, const void *args, size_t len, void **state)
{
	(void)worker;
	if (len != 4 || memcmp(args, "args", 4))
		return -EINVAL;
	*state = (void *)(uintptr_t)0x5eed;
	return 0;
}

static int task_state(struct rp_task *t, const void *in, size_t len)
{
	uint64_t *out = rp_task_result(t, 8);

	(void)in;
	(void)len;
	*out = (uint64_t)(uintptr_t)t->state;
	return 0;
}

Test(promises, stray_write_to_module_table_cannot_crash_parent, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	uint64_t what = SCRIBBLE_MODULES;
	void *h = dlopen(PLUGIN_PATH, RTLD_NOW);
	rp_task_fn square;
	int st;

	cr_assert_not_null(p);
	cr_assert_not_null(h, "%s", dlerror());
	square = (rp_task_fn)dlsym(h, "plugin_square");
	cr_assert_not_null(square);
	apply_status(p, task_scribble, &what, 8, NULL, 0, NULL);
	/* A function in a shared object makes the parent look it up in the
	 * module table; a new one in the main program, in the function table. */
	cr_assert_eq(run_u64(p, square, 3, &st), 10);
	cr_assert_eq(st, 0);
	cr_assert_eq(run_u64(p, task_other_fn, 2, &st), 7);
	cr_assert_eq(st, 0);
	rp_pool_destroy(p);
	dlclose(h);
}

Test(promises, stray_tasks_done_cannot_hang_join, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t what = SCRIBBLE_TASKS_DONE;
	struct rp_result r;
	uint64_t x = 1;

	cr_assert_not_null(p);
	apply_status(p, task_scribble, &what, 8, NULL, 0, NULL);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_pool_join(p, 0), 0);
	cr_assert_eq(rp_next(p, &r, RP_NONBLOCK), 0);
	cr_assert_eq(*(const uint64_t *)r.data, 4);
	rp_release(p, &r);
	rp_pool_destroy(p);
}

Test(promises, stray_header_writes_cannot_stop_replacements, .timeout = 60)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	struct ctl_in die = { .action = ACT_KILL, .arg = SIGKILL };
	uint64_t what = SCRIBBLE_HEADER;
	int st;

	test_config_init(&c);
	c.workers = 1;
	c.init = init_count;
	c.init_args = "args";
	c.init_args_len = 4;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	apply_status(p, task_scribble, &what, 8, NULL, 0, NULL);
	for (int round = 0; round < 3; round++) {
		/* Kill the worker; its replacement must start and run tasks. */
		apply_status(p, task_ctl, &die, sizeof(die), NULL, 0, NULL);
		cr_assert_eq(run_u64(p, task_state, 0, &st), 0x5eed, "round %d", round);
		cr_assert_eq(st, 0);
	}
	struct rp_stats s;

	rp_pool_stats(p, &s);
	cr_assert_eq(s.workers_alive, 1);
	cr_assert_eq(s.restarts_exhausted, 0);
	rp_pool_destroy(p);
}

/* ---- item 17: pools do not see each other's regions ---- */

static int task_regions(struct rp_task *t, const void *in, size_t len)
{
	uint64_t *out = rp_task_result(t, 8);

	(void)in;
	(void)len;
	*out = (uint64_t)regions_mapped();
	return 0;
}

Test(promises, a_worker_maps_only_its_own_pool, .timeout = 30)
{
	struct rp_pool *a = test_pool(1, 0), *b;
	int st;

	cr_assert_not_null(a);
	b = test_pool(1, 0);
	cr_assert_not_null(b);
	cr_assert_eq(run_u64(b, task_regions, 0, &st), 1, "B's worker maps another region");
	cr_assert_eq(run_u64(a, task_regions, 0, &st), 1, "A's worker maps another region");
	rp_pool_destroy(a);
	cr_assert_eq(regions_mapped(), 1, "the parent still maps A's region");
	rp_pool_destroy(b);
	cr_assert_eq(regions_mapped(), 0);
}

/* ---- item 6: memory that cannot be had ---- */

/* A fresh memory cgroup limited to `limit` bytes (v1 or v2), or NULL. */
static const char *make_cgroup(char *path, size_t cap, uint64_t limit)
{
	static const char *bases[] = { "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified",
				       "/sys/fs/cgroup" };
	static const char *files[] = { "memory.limit_in_bytes", "memory.max", "memory.max" };

	for (unsigned k = 0; k < 3; k++) {
		char f[1024];
		FILE *fp;

		snprintf(path, cap, "%s/ringpool-test-%d", bases[k], (int)getpid());
		if (mkdir(path, 0755) < 0)
			continue;
		snprintf(f, sizeof(f), "%s/%s", path, files[k]);
		fp = fopen(f, "w");
		if (fp && fprintf(fp, "%llu\n", (unsigned long long)limit) > 0 && fclose(fp) == 0)
			return path;
		if (fp)
			fclose(fp);
		rmdir(path);
	}
	return NULL;
}

static bool join_cgroup(const char *path)
{
	char f[1024];
	FILE *fp;

	snprintf(f, sizeof(f), "%s/cgroup.procs", path);
	fp = fopen(f, "w");
	if (!fp)
		return false;
	fprintf(fp, "%d\n", (int)getpid());
	return fclose(fp) == 0;
}

Test(promises, pool_too_big_for_its_cgroup_fails_with_enomem, .timeout = 60)
{
	char path[512];
	pid_t pid;
	int st;

	if (!make_cgroup(path, sizeof(path), 96ull << 20))
		cr_skip_test("no writable memory cgroup here");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct rp_config c;
		struct rp_pool *p = NULL;
		int err;

		if (!join_cgroup(path))
			_exit(77);
		test_config_init(&c);
		c.workers = 2;
		c.ring_bytes = 128u << 20;	/* 512 MiB of rings in a 96 MiB cgroup */
		err = rp_pool_create(&p, &c);
		if (err != -ENOMEM)
			_exit(10);
		/* A pool that fits still works in the same cgroup. */
		c.ring_bytes = 1u << 20;
		if (rp_pool_create(&p, &c))
			_exit(11);
		uint64_t x = 1, y = 0;
		if (apply_status(p, task_triple, &x, 8, &y, 8, NULL) || y != 4)
			_exit(12);
		rp_pool_destroy(p);
		_exit(0);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	rmdir(path);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		cr_skip_test("cannot join the memory cgroup");
	cr_assert(WIFEXITED(st), "the caller was killed by signal %d", WTERMSIG(st));
	cr_assert_eq(WEXITSTATUS(st), 0, "step %d failed", WEXITSTATUS(st));
}
