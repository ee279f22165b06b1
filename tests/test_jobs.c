/* SPDX-License-Identifier: MIT */
/*
 * map_async jobs (wait with timeout, poll, completion callback), chunking
 * (fixed and automatic) with per-task statuses kept, starmap with RP_ARGS,
 * and callbacks that call back into the pool.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "rp_test_tasks.h"

struct add_args {
	double a, b;
};

static int add(struct rp_task *t, const void *in, size_t len)
{
	RP_ARGS(struct add_args, x, in, len);
	double *out = rp_task_result(t, sizeof(*out));

	*out = x->a + x->b;
	return 0;
}

Test(jobs, starmap_with_rp_args, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct add_args args[1000];
	double out[1000];

	cr_assert_not_null(p);
	for (int i = 0; i < 1000; i++)
		args[i] = (struct add_args){ i, 0.5 };
	cr_assert_eq(map_status(p, add, args, sizeof(args[0]), out, sizeof(out[0]), 1000), 0);
	for (int i = 0; i < 1000; i++)
		cr_assert_float_eq(out[i], i + 0.5, 1e-12);
	/* The wrong record size is the task's -EINVAL. */
	cr_assert_eq(map_status(p, add, args, 8, out, sizeof(out[0]), 10), -EINVAL);
	rp_pool_destroy(p);
}

struct cb_state {
	int calls;
	int status;
	struct rp_pool *pool;
	int reentry;
};

static void on_done(struct rp_job *j, void *arg)
{
	struct cb_state *s = arg;
	struct rp_map_report rep;
	uint64_t x = 1;

	s->calls++;
	s->status = rp_job_report(j, &rep) == 0 ? (int)rep.failed : -1;
	/* Calling back into the pool from a callback is refused, not a deadlock. */
	s->reentry = rp_submit(s->pool, task_triple, &x, 8, 0, 0, NULL);
	(void)j;
}

Test(jobs, map_async_wait_poll_callback, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	size_t n = 100000;
	uint64_t *in = malloc(n * 8), *out = malloc(n * 8);
	struct cb_state st = { .pool = p };
	struct rp_job *j;

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		in[i] = i;
	cr_assert_eq(rp_map_async(p, task_triple_jitter, in, 8, out, 8, n, NULL, on_done, &st, &j), 0);
	cr_assert_eq(rp_job_poll(j), 0);
	cr_assert_eq(rp_job_total(j), n);
	cr_assert_eq(rp_job_wait(j, 1000), -ETIMEDOUT);
	cr_assert_eq(rp_job_wait(j, 0), 0);
	cr_assert_eq(rp_job_poll(j), 1);
	cr_assert_eq(rp_job_done(j), n);
	cr_assert_eq(st.calls, 1, "the callback ran once");
	cr_assert_eq(st.status, 0);
	cr_assert_eq(st.reentry, -EDEADLK);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(out[i], i * 3 + 1);
	rp_job_free(j);
	free(in);
	free(out);
	rp_pool_destroy(p);
}

Test(jobs, two_jobs_and_futures_at_once, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	uint64_t a[5000], b[7000], oa[5000], ob[7000];
	struct rp_job *ja, *jb;
	struct rp_future *f;

	cr_assert_not_null(p);
	for (int i = 0; i < 5000; i++)
		a[i] = (uint64_t)i;
	for (int i = 0; i < 7000; i++)
		b[i] = (uint64_t)i * 7;
	cr_assert_eq(rp_map_async(p, task_triple, a, 8, oa, 8, 5000, NULL, NULL, NULL, &ja), 0);
	cr_assert_eq(rp_map_async(p, task_triple, b, 8, ob, 8, 7000, NULL, NULL, NULL, &jb), 0);
	cr_assert_eq(rp_apply_async(p, task_triple, &a[3], 8, &f), 0);
	cr_assert_eq(rp_job_wait(jb, 0), 0);
	cr_assert_eq(rp_job_wait(ja, 0), 0);
	cr_assert_eq(rp_future_wait(f, 0), 0);
	for (int i = 0; i < 5000; i++)
		cr_assert_eq(oa[i], a[i] * 3 + 1);
	for (int i = 0; i < 7000; i++)
		cr_assert_eq(ob[i], b[i] * 3 + 1);
	rp_job_free(ja);
	rp_job_free(jb);
	rp_future_free(f);
	rp_pool_destroy(p);
}

static void check_chunked(unsigned chunk)
{
	struct rp_pool *p = test_pool(2, 0);
	size_t n = 50000;
	struct ctl_in *in = calloc(n, sizeof(*in));
	uint64_t *out = calloc(n, 8);
	struct rp_map_opts o = { .chunk = chunk };

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		in[i] = (struct ctl_in){ .value = i * 2, .action = ACT_OK };
	in[777] = (struct ctl_in){ .action = ACT_FAIL, .arg = -EDOM };
	in[778] = (struct ctl_in){ .action = ACT_BIG, .arg = 100 }; /* > out_size */
	cr_assert_eq(map_status_ex(p, task_ctl, in, sizeof(*in), out, 8, n, &o), -EDOM,
		     "chunk %u: the first failure in input order", chunk);
	for (size_t i = 0; i < n; i++)
		if (i != 777 && i != 778)
			cr_assert_eq(out[i], i * 2, "chunk %u, index %zu", chunk, i);
	/* The oversize result alone fails with RP_EMSGSIZE. */
	in[777].action = ACT_OK;
	cr_assert_eq(map_status_ex(p, task_ctl, in, sizeof(*in), out, 8, n, &o), RP_EMSGSIZE);
	struct rp_stats st;
	rp_pool_stats(p, &st);
	cr_assert_geq(st.completed, 2 * n, "statistics count tasks, not records");
	free(in);
	free(out);
	rp_pool_destroy(p);
}

Test(jobs, chunk_fixed, .timeout = 60)
{
	check_chunked(64);
}

Test(jobs, chunk_auto, .timeout = 60)
{
	check_chunked(RP_CHUNK_AUTO);
}

Test(jobs, chunk_crash_fails_the_whole_chunk_only, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	struct ctl_in in[256];
	uint64_t out[256];
	struct rp_map_opts o = { .chunk = 16 };

	cr_assert_not_null(p);
	for (int i = 0; i < 256; i++)
		in[i] = (struct ctl_in){ .value = (uint64_t)i, .action = ACT_OK };
	in[200] = (struct ctl_in){ .action = ACT_KILL, .arg = SIGKILL };
	int r = map_status_ex(p, task_ctl, in, sizeof(in[0]), out, 8, 256, &o);
	cr_assert_eq(r, RP_ECRASHED);
	for (int i = 0; i < 192; i++)
		cr_assert_eq(out[i], (uint64_t)i, "chunks before the crash are intact");
	rp_pool_destroy(p);
}
