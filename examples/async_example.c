/* SPDX-License-Identifier: MIT */
/*
 * map_async and apply_async: start work, do something else, then wait with a
 * timeout, poll, or get a callback; futures are collected in any order.
 */
#include <stdio.h>
#include <string.h>

#include "ringpool.h"

static int fib(struct rp_task *t, const void *in, size_t len)
{
	uint64_t n, a = 0, b = 1, *out = rp_task_result(t, sizeof(*out));

	memcpy(&n, in, sizeof(n));
	while (n--) {
		uint64_t c = a + b;

		a = b;
		b = c;
	}
	*out = a;
	return 0;
}

static void done(struct rp_job *job, void *arg)
{
	struct rp_map_report rep;

	(void)arg;
	rp_job_report(job, &rep);
	printf("map_async finished %zu tasks, %zu failed (callback in the caller's thread)\n",
	       rp_job_done(job), rep.failed);
}

int main(void)
{
	uint64_t in[90], out[90];
	struct rp_future *f[3];
	struct rp_config cfg;
	struct rp_pool *pool;
	struct rp_job *job;
	uint64_t ns[3] = { 10, 50, 90 };

	for (int i = 0; i < 90; i++)
		in[i] = (uint64_t)i;
	rp_config_init(&cfg);
	if (rp_pool_create(&pool, &cfg))
		return 1;
	if (rp_map_async(pool, fib, in, 8, out, 8, 90, NULL, done, NULL, &job))
		return 1;
	for (int i = 0; i < 3; i++)
		if (rp_apply_async(pool, fib, &ns[i], 8, &f[i]))
			return 1;
	for (int i = 2; i >= 0; i--) {	/* any order */
		struct rp_outcome oc;
		const void *d;

		/* The call's return says whether the wait worked; the task's
		 * own status is in its outcome. */
		if (rp_future_wait(f[i], 1000000000ull) == 0 &&
		    rp_future_result(f[i], &d, NULL, &oc) == 0 && oc.status == 0)
			printf("fib(%llu) = %llu\n", (unsigned long long)ns[i],
			       (unsigned long long)*(const uint64_t *)d);
		rp_future_free(f[i]);
	}
	int st = rp_job_wait(job, 0);	/* how many tasks failed, or -errno */
	printf("fib(89) = %llu\n", (unsigned long long)out[89]);
	rp_job_free(job);
	rp_pool_destroy(pool);
	return st != 0;
}
