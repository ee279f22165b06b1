/* SPDX-License-Identifier: MIT */
/*
 * close, join, terminate: join waits until every task is computed and loses
 * nothing (results stay collectable); terminate stops at once, cancels what
 * has not run and still delivers what had; an empty map; stats and progress.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "rp_test_tasks.h"

Test(lifecycle, close_join_keeps_every_result, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 5 };
	struct rp_future *f;
	struct rp_result r;
	uint64_t x = 0;

	cr_assert_not_null(p);
	for (int i = 0; i < 20; i++) {
		in.value = (uint64_t)i;
		cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	}
	cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f), 0);
	cr_assert_eq(rp_pool_join(p, 0), 0);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), -ESHUTDOWN, "join closes");
	for (int i = 0; i < 20; i++) {
		cr_assert_eq(rp_next(p, &r, RP_NONBLOCK), 0, "computed and kept: %d", i);
		cr_assert_eq(*(const uint64_t *)r.data, (uint64_t)i);
		rp_release(p, &r);
	}
	/* The future may sit behind those results in a ring; now it is out. */
	cr_assert_eq(rp_future_test(f), 1, "the future is done after join");
	rp_future_free(f);
	rp_pool_destroy(p);
}

Test(lifecycle, join_timeout, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 500 };

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	cr_assert_eq(rp_pool_join(p, 20000000), -ETIMEDOUT);
	rp_pool_destroy(p);
}

Test(lifecycle, terminate_cancels_the_rest, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in in = { .value = 1, .action = ACT_OK };
	struct rp_future *f;
	struct rp_result r;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	cr_assert_eq(rp_pool_join(p, 0), 0); /* the first is computed */
	/* join closed the pool; a new one for the rest of the scenario */
	rp_pool_destroy(p);
	p = test_pool(1, 0);
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);	/* make sure the worker is running */
	rp_release(p, &r);
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	rp_flush(p);
	usleep(100000);				/* computed, not collected */
	in = (struct ctl_in){ .action = ACT_SLEEP_MS, .arg = 5000 };
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f), 0);
	rp_flush(p);
	usleep(50000);
	cr_assert_eq(rp_pool_terminate(p), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, 0, "a result computed before terminate is delivered");
	rp_release(p, &r);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, RP_ECANCELED, "the running task is cancelled");
	rp_release(p, &r);
	cr_assert_eq(rp_next(p, &r, 0), -ENODATA);
	cr_assert_eq(rp_future_wait(f, 0), 0);
	cr_assert_eq(future_status(f, NULL, NULL), RP_ECANCELED);
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), -ESHUTDOWN);
	rp_future_free(f);
	rp_pool_destroy(p);
}

struct prog {
	int calls;
	uint64_t last_done, last_total, last_failed;
	int monotonic;
};

static void on_progress(void *arg, uint64_t done, uint64_t total, uint64_t failed)
{
	struct prog *pr = arg;

	if (done < pr->last_done)
		pr->monotonic = 0;
	pr->calls++;
	pr->last_done = done;
	pr->last_total = total;
	pr->last_failed = failed;
}

Test(lifecycle, progress_and_stats, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	size_t n = 20000;
	struct ctl_in *in = calloc(n, sizeof(*in));
	uint64_t *out = calloc(n, 8);
	struct prog pr = { .monotonic = 1 };
	struct rp_stats st;
	struct rp_worker_stats ws[2];

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		in[i] = (struct ctl_in){ .value = i, .action = ACT_OK };
	in[5].action = ACT_FAIL;
	in[5].arg = -EDOM;
	/* Four in a row: latency is sampled one record in four. */
	for (int k = 6000; k < 6004; k++)
		in[k] = (struct ctl_in){ .action = ACT_SLEEP_MS, .arg = 250 };
	cr_assert_eq(rp_pool_set_progress(p, on_progress, &pr, n, 50000000), 0);
	cr_assert_eq(map_status(p, task_ctl, in, sizeof(*in), out, 8, n), -EDOM);
	cr_assert_geq(pr.calls, 2, "called while running and at the end");
	cr_assert_eq(pr.last_done, n, "the last call reports every task");
	cr_assert_eq(pr.last_total, n);
	cr_assert_eq(pr.last_failed, 1u);
	cr_assert(pr.monotonic);
	cr_assert_eq(rp_pool_stats(p, &st), 0);
	cr_assert_eq(st.completed, n);
	cr_assert_eq(st.failed, 1u);
	cr_assert_geq(st.latency_max_ns, 200000000u, "a 250 ms task shows in the latency");
	cr_assert_leq(st.latency_p50_ns, st.latency_p99_ns);
	cr_assert_leq(st.latency_p99_ns, st.latency_p999_ns);
	cr_assert_leq(st.latency_p999_ns, st.latency_max_ns);
	cr_assert(st.wait_mode == RP_WAIT_URING || st.wait_mode == RP_WAIT_FUTEX);
	if (getenv("RINGPOOL_NO_URING"))
		cr_assert_eq(st.wait_mode, RP_WAIT_FUTEX, "the fallback is forced");
	uint64_t tasks = 0, busy = 0;
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(rp_worker_stats(p, i, &ws[i]), 0);
		cr_assert(ws[i].alive);
		cr_assert_gt(ws[i].pid, 0);
		tasks += ws[i].tasks;
		busy += ws[i].busy_ns;
	}
	cr_assert_eq(tasks, n);
	cr_assert_geq(busy, 4 * 240000000u, "busy time includes the sleeping tasks");
	cr_assert_eq(rp_worker_stats(p, 2, &ws[0]), -EINVAL);
	free(in);
	free(out);
	rp_pool_destroy(p);
}
