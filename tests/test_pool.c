/* SPDX-License-Identifier: MIT */
/*
 * The pool end to end: ordered and unordered delivery of many tasks with
 * random durations, the zero-copy path both ways, rp_map, several task
 * functions in one pool, empty records, and backpressure through small rings.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "rp_test_tasks.h"

Test(pool, ordered_million_random_durations, .timeout = 120)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t sub = 0, got = 0, n = 1000000;
	struct rp_result res;

	cr_assert_not_null(p);
	while (got < n) {
		while (sub < n && rp_submit(p, task_triple_jitter, &sub, 8, 0, 0, NULL) == 0)
			sub++;
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(res.seq, got, "results in submit order");
		cr_assert_eq(res.status, 0);
		cr_assert_eq(res.len, 8u);
		cr_assert_eq(*(const uint64_t *)res.data, got * 3 + 1);
		rp_release(p, &res);
		got++;
	}
	cr_assert_eq(rp_next(p, &res, 0), -ENODATA);
	struct rp_stats st;
	rp_pool_stats(p, &st);
	cr_assert_eq(st.submitted, n);
	cr_assert_eq(st.completed, n);
	cr_assert_eq(st.in_flight, 0u);
	rp_pool_destroy(p);
}

Test(pool, unordered_every_result_exactly_once, .timeout = 120)
{
	struct rp_pool *p = test_pool(2, RP_CFG_UNORDERED);
	uint64_t sub = 0, got = 0, n = 300000, out_of_order = 0, last = 0;
	unsigned char *seen = calloc(n, 1);
	struct rp_result res;

	cr_assert_not_null(p);
	while (got < n) {
		while (sub < n && rp_submit(p, task_triple_jitter, &sub, 8, 0, 0, NULL) == 0)
			sub++;
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_lt(res.seq, n);
		cr_assert_eq(seen[res.seq], 0, "seq %lu delivered twice", res.seq);
		seen[res.seq] = 1;
		cr_assert_eq(*(const uint64_t *)res.data, res.seq * 3 + 1);
		if (res.seq < last)
			out_of_order++;
		last = res.seq;
		rp_release(p, &res);
		got++;
	}
	for (uint64_t i = 0; i < n; i++)
		cr_assert_eq(seen[i], 1, "seq %lu never delivered", i);
	cr_log_info("unordered: %lu of %lu results overtook an earlier one", out_of_order, n);
	free(seen);
	rp_pool_destroy(p);
}

Test(pool, zero_copy_both_ways, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_result res;
	void *buf;
	uint64_t seq;

	cr_assert_not_null(p);
	for (unsigned i = 0; i < 1000; i++) {
		size_t len = 1 + i % 300;

		cr_assert_eq(rp_reserve(p, task_echo, len, 0, &buf), 0);
		memset(buf, (int)(i & 0xff), len);
		cr_assert_eq(rp_commit(p, len, 0, &seq), 0);
		cr_assert_eq(seq, i);
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(res.len, len);
		for (size_t k = 0; k < len; k++)
			cr_assert_eq(((const unsigned char *)res.data)[k], i & 0xff);
		rp_release(p, &res);
	}
	/* A commit may shrink the reservation. */
	cr_assert_eq(rp_reserve(p, task_echo, 100, 0, &buf), 0);
	memcpy(buf, "abc", 3);
	cr_assert_eq(rp_commit(p, 3, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.len, 3u);
	cr_assert_eq(memcmp(res.data, "abc", 3), 0);
	rp_release(p, &res);
	rp_release(p, &res); /* releasing twice is a no-op */
	cr_assert_eq(rp_next(p, &res, 0), -ENODATA);
	rp_pool_destroy(p);
}

Test(pool, map_ordered_results, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	size_t n = 200000;
	uint64_t *in = malloc(n * 8), *out = malloc(n * 8);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		in[i] = i ^ 0x5555;
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, n), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(out[i], in[i] * 3 + 1, "out[%zu]", i);
	/* Twice on the same pool, and an empty map. */
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, n), 0);
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 0), 0);
	free(in);
	free(out);
	rp_pool_destroy(p);
}

Test(pool, map_unordered_pool_still_places_results, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, RP_CFG_UNORDERED);
	size_t n = 50000;
	uint64_t *in = malloc(n * 8), *out = malloc(n * 8);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		in[i] = i;
	cr_assert_eq(map_status(p, task_triple_jitter, in, 8, out, 8, n), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(out[i], i * 3 + 1);
	free(in);
	free(out);
	rp_pool_destroy(p);
}

Test(pool, map_reports_first_failure_in_input_order, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct ctl_in in[100];
	uint64_t out[100];

	cr_assert_not_null(p);
	for (int i = 0; i < 100; i++)
		in[i] = (struct ctl_in){ .value = (uint64_t)i, .action = ACT_OK };
	in[70] = (struct ctl_in){ .action = ACT_FAIL, .arg = -EDOM };
	in[40] = (struct ctl_in){ .action = ACT_FAIL, .arg = -ERANGE };
	cr_assert_eq(map_status(p, task_ctl, in, sizeof(in[0]), out, 8, 100), -ERANGE);
	for (int i = 0; i < 100; i++)
		if (i != 40 && i != 70)
			cr_assert_eq(out[i], (uint64_t)i, "every other task finished");
	cr_assert_eq(out[40], 0u, "a failed task's slot is zeroed");
	/* A result longer than out_size fails that task with RP_EMSGSIZE. */
	uint32_t small[100];
	cr_assert_eq(map_status(p, task_triple, in, 8, small, 4, 1), RP_EMSGSIZE);
	rp_pool_destroy(p);
}

Test(pool, several_functions_and_empty_records, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct rp_result res;
	uint64_t x = 5;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_submit(p, task_echo, NULL, 0, 0, 0, NULL), 0);
	cr_assert_eq(rp_submit(p, task_echo, "xyz", 3, 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(*(const uint64_t *)res.data, 16u);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.len, 0u, "an empty record is a valid task");
	cr_assert_eq(res.status, 0);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(memcmp(res.data, "xyz", 3), 0);
	rp_release(p, &res);
	rp_pool_destroy(p);
}

Test(pool, result_too_large_is_a_task_error, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_stats st;
	struct rp_result res;
	struct ctl_in in = { .action = ACT_BIG };

	cr_assert_not_null(p);
	rp_pool_stats(p, &st);
	in.arg = (int32_t)st.max_payload + 1;
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	in = (struct ctl_in){ .action = ACT_OVERLEN, .arg = 9 };
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	in = (struct ctl_in){ .value = 77, .action = ACT_OK };
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);

	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, RP_EMSGSIZE);
	cr_assert(res.flags & RP_RES_POOL);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, RP_EMSGSIZE);
	cr_assert_eq(res.len, 0u, "nothing past the reservation is published");
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, 0, "the worker goes on");
	cr_assert_eq(*(const uint64_t *)res.data, 77u);
	rp_release(p, &res);
	rp_pool_destroy(p);
}

/* 3 KiB records through 4 KiB rings: every task waits for ring space. */
Test(pool, backpressure_through_small_rings, .timeout = 60)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_result res;
	static unsigned char buf[1500];
	uint64_t sub = 0, got = 0, n = 20000;

	test_config_init(&c);
	c.workers = 2;
	c.ring_bytes = 4096;
	c.spin_ns = 1000;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	while (got < n) {
		int r;

		while (sub < n) {
			memset(buf, (int)(sub & 0xff), sizeof(buf));
			r = rp_submit(p, task_echo, buf, sizeof(buf), 0, 0, NULL);
			if (r == -EAGAIN)
				break;
			cr_assert_eq(r, 0);
			sub++;
		}
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(res.seq, got);
		cr_assert_eq(res.len, sizeof(buf));
		cr_assert_eq(((const unsigned char *)res.data)[1499], got & 0xff);
		rp_release(p, &res);
		got++;
	}
	rp_pool_destroy(p);
}

/* Tasks slower than the spin budget: both sides go to sleep and are woken. */
Test(pool, sleeping_sides_are_woken, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_result res;
	struct rp_stats st;
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 2 };

	test_config_init(&c);
	c.workers = 2;
	c.spin_ns = 1000;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (int i = 0; i < 50; i++) {
		in.value = (uint64_t)i;
		cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(*(const uint64_t *)res.data, (uint64_t)i);
		rp_release(p, &res);
		usleep(200); /* let the worker fall asleep */
	}
	rp_pool_stats(p, &st);
	cr_assert_gt(st.parent_futex_waits, 0u, "the parent slept");
	cr_assert_gt(st.worker_futex_waits, 0u, "workers slept");
	cr_assert_gt(st.parent_futex_wakes, 0u, "and were woken");
	rp_pool_destroy(p);
}
