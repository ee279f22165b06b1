/* SPDX-License-Identifier: MIT */
/*
 * The 0.2 contract (issue 14): a call's return is about the call, a task's
 * outcome travels apart; zero (or NULL) configuration is the documented
 * default; RP_CHUNK_AUTO is not 0; a threaded parent never forks silently;
 * user_data is echoed; max_queue caps a worker's queue; rp_run is one call.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>

#include "rp_test_tasks.h"

static int task_einval(struct rp_task *t, const void *in, size_t len)
{
	(void)t;
	(void)in;
	(void)len;
	return -EINVAL;	/* the task's own -EINVAL, not a bad argument */
}

Test(api, map_returns_the_failed_count_and_reports_the_first, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct ctl_in in[10];
	uint64_t out[10];
	struct rp_map_report rep;

	cr_assert_not_null(p);
	for (int i = 0; i < 10; i++)
		in[i] = (struct ctl_in){ .value = (uint64_t)i,
					 .action = i == 3 || i == 7 ? ACT_FAIL : ACT_OK, .arg = -EDOM };
	cr_assert_eq(rp_map_ex(p, task_ctl, in, sizeof(in[0]), out, 8, 10, NULL, &rep), 2);
	cr_assert_eq(rep.failed, 2);
	cr_assert_eq(rep.first_failed, 3);
	cr_assert_eq(rep.first.status, -EDOM);
	cr_assert_eq(rep.first.flags, 0, "the task's own status is not flagged");
	cr_assert_eq(out[3], 0, "a failed task's slot is zeroed");
	cr_assert_eq(out[9], 9);
	/* A task's -EINVAL and a bad argument's -EINVAL are told apart. */
	cr_assert_eq(rp_map(p, task_einval, in, 8, out, 8, 4), 4);
	cr_assert_eq(rp_map(p, NULL, in, 8, out, 8, 4), -EINVAL);
	/* -EMSGSIZE as a call error (an input no ring takes) vs an outcome. */
	cr_assert_eq(rp_map(p, task_ctl, in, 1u << 30, out, 8, 1), -EMSGSIZE);
	in[0] = (struct ctl_in){ .action = ACT_BIG, .arg = 64 };
	cr_assert_eq(rp_map_ex(p, task_ctl, in, sizeof(in[0]), out, 8, 1, NULL, &rep), 1);
	cr_assert_eq(rep.first.status, RP_EMSGSIZE);
	cr_assert_eq(rep.first.flags, RP_RES_POOL);
	rp_pool_destroy(p);
}

Test(api, apply_returns_one_for_a_failed_task, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in in = { .value = 5, .action = ACT_OK };
	struct rp_outcome oc;
	uint64_t out = 0;
	size_t n = 0;

	cr_assert_not_null(p);
	cr_assert_eq(rp_apply(p, task_ctl, &in, sizeof(in), &out, 8, &n, &oc), 0);
	cr_assert_eq(out, 5);
	cr_assert_eq(n, 8);
	cr_assert_eq(oc.status, 0);
	in.action = ACT_FAIL;
	in.arg = -EINVAL;
	cr_assert_eq(rp_apply(p, task_ctl, &in, sizeof(in), &out, 8, &n, &oc), 1);
	cr_assert_eq(oc.status, -EINVAL);
	cr_assert_eq(oc.flags, 0);
	cr_assert_eq(rp_apply(p, NULL, &in, sizeof(in), &out, 8, &n, &oc), -EINVAL, "a call error");
	in.action = ACT_BIG;
	in.arg = 16;
	cr_assert_eq(rp_apply(p, task_ctl, &in, sizeof(in), &out, 8, &n, &oc), 1);
	cr_assert_eq(oc.status, RP_EMSGSIZE, "a result longer than out_cap");
	cr_assert_eq(n, 16);
	in.action = ACT_KILL;
	in.arg = SIGKILL;
	cr_assert_eq(rp_apply(p, task_ctl, &in, sizeof(in), &out, 8, NULL, &oc), 1);
	cr_assert_eq(oc.status, RP_ECRASHED);
	cr_assert_eq(oc.flags, RP_RES_POOL);
	cr_assert_eq(oc.term_signal, SIGKILL);
	rp_pool_destroy(p);
}

Test(api, a_killed_task_is_not_a_timed_out_wait, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 2000 };
	struct rp_future *f;
	struct rp_outcome oc;

	cr_assert_neq(RP_ETIMEDOUT, -ETIMEDOUT);
	test_config_init(&c);
	c.workers = 1;
	c.task_timeout_ns = 50000000;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f), 0);
	cr_assert_eq(rp_future_wait(f, 1000000), -ETIMEDOUT, "the wait timed out: a call error");
	cr_assert_eq(rp_future_result(f, NULL, NULL, &oc), -EAGAIN, "not finished");
	cr_assert_eq(rp_future_wait(f, 0), 0);
	cr_assert_eq(rp_future_result(f, NULL, NULL, &oc), 0);
	cr_assert_eq(oc.status, RP_ETIMEDOUT, "the task was killed: its outcome");
	rp_future_free(f);
	rp_pool_destroy(p);
}

Test(api, cancel_says_why_it_could_not, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 100 };
	struct rp_future *f[8];
	int busy = 0, cancelled = 0;

	test_config_init(&c);
	c.workers = 1;
	c.max_in_flight = 2;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f[i]), 0);
	for (int i = 0; i < 8; i++) {
		int r = rp_future_cancel(f[i]);

		cr_assert(r == 0 || r == -EBUSY, "future %d: %d", i, r);
		busy += r == -EBUSY;
		cancelled += r == 0;
	}
	cr_assert_geq(busy, 1, "dispatched futures run on");
	cr_assert_geq(cancelled, 5, "queued ones are cancelled");
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(rp_future_wait(f[i], 0), 0);
		cr_assert_eq(rp_future_cancel(f[i]), -EALREADY);
		rp_future_free(f[i]);
	}
	rp_pool_destroy(p);
}

Test(api, zero_and_null_configs_are_the_defaults, .timeout = 30)
{
	struct rp_config zero = { 0 }, d;
	struct rp_pool *p;
	struct rp_stats st;
	cpu_set_t one, saved;

	rp_config_init(&d);
	zero.flags = RP_CFG_FORK;
	cr_assert_eq(rp_pool_create(&p, &zero), 0);
	cr_assert_eq(rp_pool_workers(p), d.workers);
	cr_assert_eq(rp_pool_stats(p, &st), 0);
	cr_assert_eq(st.max_payload, (1u << 20) / 2 - 32, "ring_bytes 0 is 1 MiB");
	rp_pool_destroy(p);
	/* The default count follows the CPU affinity mask. */
	cr_assert_eq(sched_getaffinity(0, sizeof(saved), &saved), 0);
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &saved)) {
			CPU_SET(c, &one);
			break;
		}
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cr_assert_eq(rp_pool_create(&p, &zero), 0);
	cr_assert_eq(rp_pool_workers(p), 1, "one allowed CPU: one worker");
	rp_pool_destroy(p);
	cr_assert_eq(sched_setaffinity(0, sizeof(saved), &saved), 0);
	cr_assert_eq(rp_pool_create(&p, NULL), 0, "NULL: the defaults");
	rp_pool_destroy(p);
}

static ssize_t src_n(void *arg, void *buf, size_t cap)
{
	int *left = arg;

	if (!*left)
		return RP_EOF;
	(*left)--;
	memset(buf, 1, 8);
	return 8;
}

static int sink_count(void *arg, const struct rp_result *r)
{
	int *ok = arg;

	*ok += r->status == 0 && r->len == 6000;
	return 0;
}

static int task_6000(struct rp_task *t, const void *in, size_t len)
{
	(void)in;
	(void)len;
	return rp_task_result(t, 6000) ? 0 : -ENOMEM;
}

Test(api, zero_chunk_is_no_chunking, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	struct rp_imap_opts o = { .max_input = 4096 };	/* chunk 0 */
	int left = 20000, ok = 0;

	cr_assert_neq(RP_CHUNK_AUTO, 0u);
	cr_assert_not_null(p);
	/* Results above max_result's default: fine unchunked. */
	cr_assert_eq(rp_imap(p, task_6000, src_n, &left, sink_count, &ok, &o), 0);
	cr_assert_eq(ok, 20000);
	rp_pool_destroy(p);
}

Test(api, user_data_is_echoed, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t x = 1;
	void *buf;

	cr_assert_not_null(p);
	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0xabc0000 + i, NULL), 0);
	cr_assert_eq(rp_reserve(p, task_triple, 8, 0, &buf), 0);
	memcpy(buf, &x, 8);
	cr_assert_eq(rp_commit(p, 8, 77, NULL), 0);
	for (uint64_t i = 0; i < 101; i++) {
		struct rp_result r;

		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.user_data, i < 100 ? 0xabc0000 + i : 77);
		rp_release(p, &r);
	}
	rp_pool_destroy(p);
}

Test(api, max_queue_caps_each_worker, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 50 };
	struct rp_result r;
	int accepted = 0;

	test_config_init(&c);
	c.workers = 2;
	c.max_queue = 1;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	while (rp_submit(p, task_ctl, &in, sizeof(in), RP_NONBLOCK, 0, NULL) == 0)
		accepted++;
	cr_assert_eq(accepted, 2, "one record per worker");
	for (int i = 0; i < accepted; i++) {
		cr_assert_eq(rp_next(p, &r, 0), 0);
		rp_release(p, &r);
	}
	rp_pool_destroy(p);
}

static void *idle_thread(void *arg)
{
	pthread_barrier_t *b = arg;

	pthread_barrier_wait(b);	/* started */
	pthread_barrier_wait(b);	/* told to end */
	return NULL;
}

Test(api, a_threaded_parent_execs_its_workers, .timeout = 30)
{
	pthread_barrier_t b;
	pthread_t th;
	struct rp_pool *p;
	struct rp_stats st;
	uint64_t x = 2, y = 0;

	pthread_barrier_init(&b, NULL, 2);
	cr_assert_eq(pthread_create(&th, NULL, idle_thread, &b), 0);
	pthread_barrier_wait(&b);
	cr_assert_eq(rp_pool_create(&p, NULL), 0);
	cr_assert_eq(rp_pool_stats(p, &st), 0);
	cr_assert_eq(st.start_method, RP_START_SPAWN, "never a silent fork");
	cr_assert_eq(rp_apply(p, task_triple, &x, 8, &y, 8, NULL, NULL), 0);
	cr_assert_eq(y, 7);
	rp_pool_destroy(p);
	pthread_barrier_wait(&b);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&b);
}

static int square(struct rp_task *t, const void *in, size_t len)
{
	const double *x = in;
	double *y = rp_task_result(t, sizeof(*y));

	(void)len;
	*y = *x * *x;
	return 0;
}

Test(api, run_is_one_call, .timeout = 60)
{
	double in[1000], out[1000];

	for (int i = 0; i < 1000; i++)
		in[i] = i;
	cr_assert_eq(rp_run(square, in, sizeof(in[0]), out, sizeof(out[0]), 1000), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(out[i], (double)i * i);
	cr_assert_eq(rp_run(task_einval, in, 8, out, 8, 10), 10, "ten failed");
	cr_assert_eq(rp_run(NULL, in, 8, out, 8, 10), -EINVAL);
}

Test(api, version)
{
	cr_assert_eq(rp_version(), RINGPOOL_VERSION_NUMBER);
	cr_assert_eq(RINGPOOL_VERSION_NUMBER >> 16, RINGPOOL_VERSION_MAJOR);
}

static void report_early(struct rp_job *j, void *arg)
{
	(void)arg;
	(void)j;
}

Test(api, job_report_waits_for_the_end, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in in[4];
	uint64_t out[4];
	struct rp_map_report rep;
	struct rp_job *j;

	cr_assert_not_null(p);
	for (int i = 0; i < 4; i++)
		in[i] = (struct ctl_in){ .action = i == 2 ? ACT_FAIL : ACT_SLEEP_MS, .arg = 20 };
	cr_assert_eq(rp_map_async(p, task_ctl, in, sizeof(in[0]), out, 8, 4, NULL, report_early,
				  NULL, &j), 0);
	cr_assert_eq(rp_job_report(j, &rep), -EAGAIN);
	cr_assert_eq(rp_job_wait(j, 0), 1, "one task failed");
	cr_assert_eq(rp_job_report(j, &rep), 0);
	cr_assert_eq(rep.first_failed, 2);
	cr_assert_eq(rep.first.status, 20);
	rp_job_free(j);
	rp_pool_destroy(p);
}
