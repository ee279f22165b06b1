/* SPDX-License-Identifier: MIT */
/*
 * The host API for several records per task (rp_task_run, rp_task_mark):
 * each sub-task has its own result space and status; a crash or a deadline
 * names the record that was running (res.mark); marks restart the deadline,
 * so it bounds each record, not the batch.
 */
#include <criterion/criterion.h>

#include "rp_test_tasks.h"

/* A batch: n records of {uint64 value, int32 action, int32 arg} (struct
 * ctl_in); each is run as a sub-task of task_ctl, marked first. The
 * result: n x {int32 status, uint32 len, uint64 value}. */
struct sub_out {
	int32_t status;
	uint32_t len;
	uint64_t value;
};

static int task_batch(struct rp_task *t, const void *in, size_t len)
{
	const struct ctl_in *rec = in;
	size_t n = len / sizeof(*rec);
	struct sub_out *out = rp_task_result(t, n * sizeof(*out));

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct rp_subtask sub = { .fn = task_ctl, .seq = 1000 + i, .in = &rec[i],
					  .len = sizeof(rec[i]), .out = &out[i].value,
					  .out_cap = 8 };

		if (rp_task_mark(t, i))
			return -EINVAL;
		if (rp_task_run(t, &sub))
			return -EINVAL;
		out[i].status = sub.status;
		out[i].len = (uint32_t)sub.out_len;
	}
	return 0;
}

static struct rp_pool *pool_with_timeout(uint64_t timeout_ns)
{
	struct rp_config c;
	struct rp_pool *p = NULL;

	test_config_init(&c);
	c.workers = 1;
	c.task_timeout_ns = timeout_ns;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	return p;
}

static void run_batch(struct rp_pool *p, const struct ctl_in *recs, size_t n,
		      struct rp_result *res)
{
	cr_assert_eq(rp_submit(p, task_batch, recs, n * sizeof(*recs), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, res, 0), 0);
}

Test(subtask, each_record_has_its_own_result_and_status, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in recs[4] = {
		{ .value = 11, .action = ACT_OK },
		{ .action = ACT_FAIL, .arg = -EDOM },
		{ .action = ACT_BIG, .arg = 9 },	/* more than out_cap: EMSGSIZE */
		{ .value = 44, .action = ACT_OK },
	};
	struct rp_result r;

	cr_assert_not_null(p);
	run_batch(p, recs, 4, &r);
	cr_assert_eq(r.status, 0);
	cr_assert_eq(r.len, 4 * sizeof(struct sub_out));
	const struct sub_out *o = r.data;

	cr_assert_eq(o[0].status, 0);
	cr_assert_eq(o[0].len, 8);
	cr_assert_eq(o[0].value, 11);
	cr_assert_eq(o[1].status, -EDOM);
	cr_assert_eq(o[1].len, 0);
	cr_assert_eq(o[2].status, RP_EMSGSIZE);
	cr_assert_eq(o[2].len, 0);
	cr_assert_eq(o[3].value, 44);
	rp_release(p, &r);
	rp_pool_destroy(p);
}

static int task_bad_calls(struct rp_task *t, const void *in, size_t len)
{
	struct rp_subtask sub = { .fn = NULL };
	uint64_t *out = rp_task_result(t, 8);
	int bad = 0;

	(void)in;
	(void)len;
	bad |= rp_task_run(t, &sub) != -EINVAL;
	bad |= (rp_task_run(t, NULL) != -EINVAL) << 1;
	bad |= (rp_task_run(NULL, &sub) != -EINVAL) << 2;
	sub.fn = task_echo;
	sub.len = 3;	/* no input */
	bad |= (rp_task_run(t, &sub) != -EINVAL) << 3;
	bad |= (rp_task_mark(NULL, 1) != -EINVAL) << 4;
	bad |= (rp_task_mark(t, UINT64_MAX) != -EINVAL) << 5;
	*out = (uint64_t)bad;
	return 0;
}

Test(subtask, bad_arguments_are_call_errors, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	uint64_t mask = 99, x = 0;

	cr_assert_not_null(p);
	cr_assert_eq(apply_status(p, task_bad_calls, &x, 8, &mask, 8, NULL), 0);
	cr_assert_eq(mask, 0, "calls that did not return -EINVAL: %#lx", (unsigned long)mask);
	rp_pool_destroy(p);
}

Test(subtask, a_crash_names_the_record, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct ctl_in recs[5] = { { .action = ACT_OK }, { .action = ACT_OK }, { .action = ACT_OK },
				  { .action = ACT_KILL, .arg = SIGSEGV }, { .action = ACT_OK } };
	struct rp_result r;

	cr_assert_not_null(p);
	run_batch(p, recs, 5, &r);
	cr_assert_eq(r.status, RP_ECRASHED);
	cr_assert_eq(r.term_signal, SIGSEGV);
	cr_assert_eq(r.mark, 4, "record 3 was running (mark + 1)");
	rp_release(p, &r);
	/* Unmarked tasks report 0. */
	struct ctl_in die = { .action = ACT_KILL, .arg = SIGKILL };

	cr_assert_eq(rp_submit(p, task_ctl, &die, sizeof(die), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, RP_ECRASHED);
	cr_assert_eq(r.mark, 0);
	rp_release(p, &r);
	rp_pool_destroy(p);
}

Test(subtask, marks_restart_the_deadline, .timeout = 30)
{
	struct rp_pool *p = pool_with_timeout(250000000);
	struct ctl_in recs[12];
	struct rp_result r;

	for (int i = 0; i < 12; i++)
		recs[i] = (struct ctl_in){ .value = (uint64_t)i, .action = ACT_SLEEP_MS, .arg = 40 };
	/* 480 ms in all, 40 ms per marked record: well within a 250 ms
	 * deadline per record (the margin is for a loaded machine). */
	run_batch(p, recs, 12, &r);
	cr_assert_eq(r.status, 0, "status %d", r.status);
	rp_release(p, &r);
	/* One record of 2 s: killed at its deadline, and named. */
	recs[2].arg = 2000;
	run_batch(p, recs, 12, &r);
	cr_assert_eq(r.status, RP_ETIMEDOUT);
	cr_assert_eq(r.mark, 3);
	rp_release(p, &r);
	rp_pool_destroy(p);
}

Test(subtask, an_unmarked_task_is_bounded_as_a_whole, .timeout = 30)
{
	struct rp_pool *p = pool_with_timeout(150000000);
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 60 };
	struct rp_result r;

	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, 0, "a single 60 ms record is fine");
	rp_release(p, &r);
	in.arg = 400;
	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &r, 0), 0);
	cr_assert_eq(r.status, RP_ETIMEDOUT);
	cr_assert_eq(r.mark, 0);
	rp_release(p, &r);
	rp_pool_destroy(p);
}

Test(subtask, inline_runs_subtasks_too, .timeout = 30)
{
	struct rp_pool *p = test_pool(0, 0);
	struct ctl_in recs[2] = { { .value = 5, .action = ACT_OK },
				  { .action = ACT_FAIL, .arg = -EIO } };
	struct rp_result r;

	cr_assert_not_null(p);
	run_batch(p, recs, 2, &r);
	const struct sub_out *o = r.data;

	cr_assert_eq(r.status, 0);
	cr_assert_eq(o[0].value, 5);
	cr_assert_eq(o[1].status, -EIO);
	rp_release(p, &r);
	rp_pool_destroy(p);
}
