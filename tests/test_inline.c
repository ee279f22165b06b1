/* SPDX-License-Identifier: MIT */
/*
 * workers = 0 runs every task inline in the caller, with the same results,
 * statuses and order as with workers: one number switches parallelism off.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <unistd.h>

#include "rp_test_tasks.h"

Test(inline, same_results_as_workers, .timeout = 30)
{
	struct rp_pool *w = test_pool(2, 0), *s = test_pool(0, 0);
	struct ctl_in in[500];
	uint64_t ow[500], os[500];

	cr_assert_not_null(w);
	cr_assert_not_null(s);
	for (int i = 0; i < 500; i++)
		in[i] = (struct ctl_in){ .value = (uint64_t)i * 5, .action = ACT_OK };
	in[123] = (struct ctl_in){ .action = ACT_FAIL, .arg = -ERANGE };
	cr_assert_eq(map_status(w, task_ctl, in, sizeof(in[0]), ow, 8, 500), -ERANGE);
	cr_assert_eq(map_status(s, task_ctl, in, sizeof(in[0]), os, 8, 500), -ERANGE);
	cr_assert_arr_eq(ow, os, sizeof(ow));
	rp_pool_destroy(w);
	rp_pool_destroy(s);
}

Test(inline, submit_next_futures_and_statuses, .timeout = 30)
{
	struct rp_pool *p = test_pool(0, 0);
	struct rp_result r;
	struct rp_future *f;
	struct rp_stats st;
	uint64_t x = 3;

	cr_assert_not_null(p);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.workers, 0u);
	for (uint64_t i = 0; i < 10; i++)
		cr_assert_eq(rp_submit(p, task_triple, &i, 8, 0, 0, NULL), 0);
	for (uint64_t i = 0; i < 10; i++) {
		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.seq, i);
		cr_assert_eq(*(const uint64_t *)r.data, i * 3 + 1);
		rp_release(p, &r);
	}
	cr_assert_eq(rp_next(p, &r, 0), -ENODATA);
	/* The task runs in this very process. */
	struct ctl_in pid = { .action = ACT_PID };
	cr_assert_eq(rp_apply_async(p, task_ctl, &pid, sizeof(pid), &f), 0);
	cr_assert_eq(rp_future_wait(f, 0), 0);
	const void *d;
	cr_assert_eq(future_status(f, &d, NULL), 0);
	cr_assert_eq(*(const uint64_t *)d, (uint64_t)getpid());
	rp_future_free(f);
	/* An oversize result is the same RP_EMSGSIZE status. */
	struct ctl_in big = { .action = ACT_OVERLEN, .arg = 64 };
	cr_assert_eq(rp_submit(p, task_ctl, &big, sizeof(big), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, RP_EMSGSIZE);
	cr_assert(r.flags & RP_RES_POOL);
	rp_release(p, &r);
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &x, 8, NULL), 0);
	cr_assert_eq(x, 10u);
	rp_pool_destroy(p);
}
