/* SPDX-License-Identifier: MIT */
/*
 * The burst API (issue 12): rp_submit_burst (as many as fit, or all or none
 * with RP_BULK) and rp_next_burst / rp_release_burst (a batch of results held
 * in place). Order, user_data, consecutive sequence numbers, failures inside
 * a burst, and the rules: one batch held at a time, released in any order.
 */
#include <criterion/criterion.h>

#include "rp_test_tasks.h"

#define N 20000

Test(burst, ten_thousands_in_order, .timeout = 60)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	uint64_t *in = malloc(N * 8), seq0 = 0, next = 0, submitted = 0;
	struct rp_result res[100];

	test_config_init(&c);
	c.workers = 2;
	c.max_in_flight = 1u << 15;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (uint64_t i = 0; i < N; i++)
		in[i] = i;
	while (submitted < N) {
		int r = rp_submit_burst(p, task_triple, in + submitted, 8, (unsigned)(N - submitted),
					0, 1000 + submitted, submitted ? NULL : &seq0);

		cr_assert_gt(r, 0, "rp_submit_burst: %d", r);
		submitted += (uint64_t)r;
	}
	while (next < N) {
		int got = rp_next_burst(p, res, 100, 0);

		cr_assert_gt(got, 0, "rp_next_burst: %d", got);
		for (int k = 0; k < got; k++, next++) {
			cr_assert_eq(res[k].seq, seq0 + next, "consecutive sequence numbers, in order");
			cr_assert_eq(res[k].status, 0);
			cr_assert_eq(res[k].user_data, 1000 + next);
			cr_assert_eq(*(const uint64_t *)res[k].data, next * 3 + 1);
		}
		/* One batch at a time: the next call waits for its release. */
		cr_assert_eq(rp_next(p, &res[0], RP_NONBLOCK), -EBUSY);
		rp_release_burst(p, res, (unsigned)got);
	}
	cr_assert_eq(rp_next_burst(p, res, 100, 0), -ENODATA);
	free(in);
	rp_pool_destroy(p);
}

Test(burst, as_many_as_fit, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p = NULL;
	uint64_t in[64] = { 0 };
	struct rp_result res[64];
	struct rp_stats st;
	int r, got = 0;

	test_config_init(&c);
	c.workers = 1;
	c.max_in_flight = 16;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	r = rp_submit_burst(p, task_triple, in, 8, 64, RP_NONBLOCK, 0, NULL);
	cr_assert(r >= 1 && r <= 16, "a burst stops at the window: %d", r);
	/* RP_BULK: all or none. */
	cr_assert_eq(rp_submit_burst(p, task_triple, in, 8, 17, RP_BULK | RP_NONBLOCK, 0, NULL),
		     -EMSGSIZE, "more than the window can ever hold");
	rp_pool_stats(p, &st);
	if (r == 16)
		cr_assert_eq(rp_submit_burst(p, task_triple, in, 8, 2, RP_BULK | RP_NONBLOCK, 0,
					     NULL),
			     -EAGAIN);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.submitted, (uint64_t)r, "nothing of a refused bulk went");
	while (got < r) {
		int k = rp_next_burst(p, res, 64, 0);

		cr_assert_gt(k, 0);
		got += k;
		rp_release_burst(p, res, (unsigned)k);
	}
	cr_assert_eq(rp_submit_burst(p, task_triple, in, 8, 16, RP_BULK, 0, NULL), 16);
	for (got = 0; got < 16;) {
		int k = rp_next_burst(p, res, 64, 0);

		cr_assert_gt(k, 0);
		got += k;
		rp_release_burst(p, res, (unsigned)k);
	}
	cr_assert_eq(rp_submit_burst(p, task_triple, in, 8, 0, 0, 0, NULL), 0);
	cr_assert_eq(rp_submit_burst(p, task_triple, NULL, 8, 3, 0, 0, NULL), -EINVAL);
	rp_pool_destroy(p);
}

Test(burst, failures_inside_a_burst_keep_their_place, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct ctl_in in[40];
	struct rp_result res[40];
	unsigned got = 0;

	cr_assert_not_null(p);
	for (int i = 0; i < 40; i++)
		in[i] = (struct ctl_in){ .value = (uint64_t)i,
					 .action = i == 13 ? ACT_KILL : i == 20 ? ACT_FAIL : ACT_OK,
					 .arg = i == 13 ? SIGKILL : -EDOM };
	for (unsigned sent = 0; sent < 40;) {
		int r = rp_submit_burst(p, task_ctl, in + sent, sizeof(in[0]), 40 - sent, 0, sent,
					NULL);

		cr_assert_gt(r, 0);
		sent += (unsigned)r;
	}
	while (got < 40) {
		int k = rp_next_burst(p, res, 40, 0);

		cr_assert_gt(k, 0);
		for (int j = 0; j < k; j++) {
			unsigned i = got + (unsigned)j;

			cr_assert_eq(res[j].user_data, i);
			if (i == 13)
				cr_assert_eq(res[j].status, RP_ECRASHED);
			else if (i == 20)
				cr_assert_eq(res[j].status, -EDOM);
			else
				cr_assert_eq(*(const uint64_t *)res[j].data, (uint64_t)i, "task %u", i);
		}
		/* Any order, and twice is harmless. */
		for (int j = k - 1; j >= 0; j--)
			rp_release(p, &res[j]);
		rp_release_burst(p, res, (unsigned)k);
		got += (unsigned)k;
	}
	rp_pool_destroy(p);
}

Test(burst, unordered_and_inline, .timeout = 30)
{
	unsigned workers[2] = { 2, 0 };

	for (int w = 0; w < 2; w++) {
		struct rp_pool *p = test_pool(workers[w], RP_CFG_UNORDERED);
		uint64_t in[500], sum = 0;
		struct rp_result res[32];
		unsigned got = 0;

		cr_assert_not_null(p);
		for (int i = 0; i < 500; i++)
			in[i] = (uint64_t)i;
		for (unsigned sent = 0; sent < 500;) {
			int r = rp_submit_burst(p, task_triple_jitter, in + sent, 8, 500 - sent, 0, 0,
						NULL);

			if (r == -EAGAIN) {	/* inline: the window holds its results */
				int k = rp_next_burst(p, res, 32, 0);

				cr_assert_gt(k, 0);
				for (int j = 0; j < k; j++)
					sum += *(const uint64_t *)res[j].data;
				got += (unsigned)k;
				rp_release_burst(p, res, (unsigned)k);
				continue;
			}
			cr_assert_gt(r, 0, "%d", r);
			sent += (unsigned)r;
		}
		while (got < 500) {
			int k = rp_next_burst(p, res, 32, 0);

			cr_assert_gt(k, 0);
			for (int j = 0; j < k; j++)
				sum += *(const uint64_t *)res[j].data;
			got += (unsigned)k;
			rp_release_burst(p, res, (unsigned)k);
		}
		cr_assert_eq(sum, 3ull * (499 * 500 / 2) + 500, "every result once");
		rp_pool_destroy(p);
	}
}

Test(burst, a_held_batch_survives_its_worker, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	uint64_t in[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct ctl_in die = { .action = ACT_KILL, .arg = SIGKILL };
	struct rp_result res[8], r;
	int k = 0;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit_burst(p, task_triple, in, 8, 8, RP_BULK, 0, NULL), 8);
	while (k < 8) {
		int got = rp_next_burst(p, res + k, (unsigned)(8 - k), 0);

		cr_assert_gt(got, 0);
		k += got;
		if (k < 8) {	/* keep all eight: a batch grows only after release */
			rp_release_burst(p, res, (unsigned)k);
			k = 0;
			break;
		}
	}
	if (k == 8) {
		/* The worker dies while its results are held: they stay intact. */
		cr_assert_eq(rp_submit(p, task_ctl, &die, sizeof(die), 0, 0, NULL), 0);
		usleep(50000);
		for (int j = 0; j < 8; j++)
			cr_assert_eq(*(const uint64_t *)res[j].data, in[j] * 3 + 1);
		rp_release_burst(p, res, 8);
		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.status, RP_ECRASHED);
		rp_release(p, &r);
	}
	rp_pool_destroy(p);
}
