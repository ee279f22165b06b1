/* SPDX-License-Identifier: MIT */
/*
 * apply and apply_async: futures waited with and without timeouts, tested
 * without blocking, read in place, collected in any order, cancelled before
 * dispatch; a million outstanding at once; waiting twice; cancelling a
 * finished future; futures beside rp_submit tasks.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "rp_test_tasks.h"

Test(futures, apply_blocking, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t x = 5, y = 0;
	size_t len = 0;

	cr_assert_not_null(p);
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &y, 8, &len), 0);
	cr_assert_eq(y, 16u);
	cr_assert_eq(len, 8u);
	/* A result larger than the caller's buffer. */
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &y, 4, &len), RP_EMSGSIZE);
	cr_assert_eq(len, 8u, "the real length is reported");
	/* The task's own error. */
	struct ctl_in in = { .action = ACT_FAIL, .arg = -EDOM };
	cr_assert_eq(apply_status(p, task_ctl, &in, sizeof(in), NULL, 0, NULL), -EDOM);
	rp_pool_destroy(p);
}

Test(futures, many_collected_in_any_order, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	enum { N = 5000 };
	struct rp_future **f = calloc(N, sizeof(*f));

	cr_assert_not_null(p);
	for (uint64_t i = 0; i < N; i++)
		cr_assert_eq(rp_apply_async(p, task_triple_jitter, &i, 8, &f[i]), 0);
	/* Collect backwards: the last first. */
	for (int i = N - 1; i >= 0; i--) {
		const void *d;
		size_t len;

		cr_assert_eq(rp_future_wait(f[i], 0), 0);
		cr_assert_eq(future_status(f[i], &d, &len), 0);
		cr_assert_eq(len, 8u);
		cr_assert_eq(*(const uint64_t *)d, (uint64_t)i * 3 + 1);
		cr_assert_eq(rp_future_wait(f[i], 0), 0, "waiting twice is fine");
		cr_assert_eq(rp_future_cancel(f[i]), -EALREADY, "cancelling a finished future");
		rp_future_free(f[i]);
	}
	free(f);
	rp_pool_destroy(p);
}

Test(futures, test_and_timeout, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in in = { .value = 9, .action = ACT_SLEEP_MS, .arg = 300 };
	struct rp_future *f;
	const void *d;
	size_t len;

	cr_assert_not_null(p);
	cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f), 0);
	cr_assert_eq(rp_future_test(f), 0, "not done yet");
	cr_assert_eq(future_status(f, &d, &len), -EAGAIN);
	cr_assert_eq(rp_future_wait(f, 20000000), -ETIMEDOUT);
	cr_assert_eq(rp_future_wait(f, 5000000000ull), 0);
	cr_assert_eq(rp_future_test(f), 1);
	cr_assert_eq(future_status(f, &d, &len), 0);
	cr_assert_eq(*(const uint64_t *)d, 9u);
	rp_future_free(f);
	rp_pool_destroy(p);
}

/* Futures beyond the window wait in a queue: those can be cancelled. */
Test(futures, cancel_before_dispatch, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_future *f[40];
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 20 };
	int cancelled = 0, refused = 0;

	test_config_init(&c);
	c.workers = 1;
	c.max_in_flight = 4;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (int i = 0; i < 40; i++) {
		in.value = (uint64_t)i;
		cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &f[i]), 0);
	}
	for (int i = 0; i < 40; i++) {
		int r = rp_future_cancel(f[i]);

		if (r == 0)
			cancelled++;
		else {
			cr_assert(r == -EBUSY || r == -EALREADY, "dispatched or done: %d", r);
			refused++;
		}
	}
	cr_assert_geq(refused, 1, "the dispatched ones run on");
	cr_assert_geq(cancelled, 30, "the queued ones are cancelled");
	for (int i = 0; i < 40; i++) {
		const void *d;
		size_t len;

		cr_assert_eq(rp_future_wait(f[i], 0), 0);
		int st = future_status(f[i], &d, &len);
		if (st == 0)
			cr_assert_eq(*(const uint64_t *)d, (uint64_t)i);
		else
			cr_assert_eq(st, RP_ECANCELED);
		rp_future_free(f[i]);
	}
	rp_pool_destroy(p);
}

Test(futures, a_million_outstanding, .timeout = 120)
{
	struct rp_pool *p = test_pool(2, 0);
	enum { N = 1000000 };
	struct rp_future **f = malloc(N * sizeof(*f));

	cr_assert_not_null(p);
	for (uint64_t i = 0; i < N; i++)
		cr_assert_eq(rp_apply_async(p, task_triple, &i, 8, &f[i]), 0);
	for (uint64_t i = 0; i < N; i++) {
		const void *d;

		cr_assert_eq(rp_future_wait(f[i], 0), 0);
		cr_assert_eq(future_status(f[i], &d, NULL), 0);
		cr_assert_eq(*(const uint64_t *)d, i * 3 + 1);
		rp_future_free(f[i]);
	}
	free(f);
	rp_pool_destroy(p);
}

Test(futures, beside_submitted_tasks, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct rp_future *f;
	struct rp_result res;
	uint64_t x = 1, y = 2;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_apply_async(p, task_triple, &y, 8, &f), 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(*(const uint64_t *)res.data, 4u);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), -ENODATA, "the future's result is not the caller's");
	cr_assert_eq(rp_future_wait(f, 0), 0);
	rp_future_free(f);
	rp_pool_destroy(p);
}

Test(futures, freed_before_done_and_destroy_with_outstanding, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 50 };
	struct rp_future *a, *b;

	cr_assert_not_null(p);
	cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &a), 0);
	cr_assert_eq(rp_apply_async(p, task_ctl, &in, sizeof(in), &b), 0);
	rp_future_free(a);	/* dropped when it lands */
	rp_pool_destroy(p);	/* b is finished as cancelled, still ours to free */
	const void *d;
	cr_assert_eq(future_status(b, &d, NULL), RP_ECANCELED);
	rp_future_free(b);
}

/* A future queued behind results the caller has not collected cannot be
 * delivered: waiting says so instead of hanging. */
Test(futures, behind_uncollected_results_is_edeadlk, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_future *f;
	struct rp_result r;
	uint64_t x = 1;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_apply_async(p, task_triple, &x, 8, &f), 0);
	cr_assert_eq(rp_future_wait(f, 0), -EDEADLK);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(rp_next(p, &r, 0), 0);
		rp_release(p, &r);
	}
	cr_assert_eq(rp_future_wait(f, 0), 0, "collecting them unblocks it");
	rp_future_free(f);
	rp_pool_destroy(p);
}
