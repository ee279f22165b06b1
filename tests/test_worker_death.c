/* SPDX-License-Identifier: MIT */
/*
 * A worker that dies turns into error results, never a hang. These tests run
 * with RP_CFG_NO_RESPAWN (test_faults.c covers replacement): the task it held
 * and the tasks queued behind it complete with RP_ECRASHED naming the signal
 * or exit code; results it had published are still delivered; tasks on
 * other workers are unaffected; with every worker gone, submissions fail
 * with -ECHILD.
 */
#include <criterion/criterion.h>
#include <signal.h>

#include "rp_test_tasks.h"

static void submit_ctl(struct rp_pool *p, uint64_t v, int action, int arg)
{
	struct ctl_in in = { .value = v, .action = action, .arg = arg };

	cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
}

Test(worker_death, task_kills_its_worker, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, RP_CFG_NO_RESPAWN);
	struct rp_result res;

	cr_assert_not_null(p);
	submit_ctl(p, 1, ACT_OK, 0);
	submit_ctl(p, 2, ACT_KILL, SIGKILL);
	submit_ctl(p, 3, ACT_OK, 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, 0, "the result published before the crash survives");
	cr_assert_eq(*(const uint64_t *)res.data, 1u);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, RP_ECRASHED);
	cr_assert(res.flags & RP_RES_POOL);
	cr_assert_eq(res.term_signal, SIGKILL);
	cr_assert_eq(res.seq, 1u);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, RP_ECRASHED, "queued behind the crash, no respawn");
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), -ENODATA);
	cr_assert_eq(rp_submit(p, task_ctl, &res, 16, 0, 0, NULL), -ECHILD, "no worker left");
	rp_pool_destroy(p);
}

Test(worker_death, segfault_abort_and_exit_are_reported, .timeout = 30)
{
	int sigs[] = { SIGSEGV, SIGABRT };

	for (int i = 0; i < 2; i++) {
		struct rp_pool *p = test_pool(1, RP_CFG_NO_RESPAWN);
		struct rp_result res;

		cr_assert_not_null(p);
		submit_ctl(p, 0, ACT_KILL, sigs[i]);
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(res.status, RP_ECRASHED);
		cr_assert_eq(res.term_signal, sigs[i]);
		rp_release(p, &res);
		rp_pool_destroy(p);
	}
	struct rp_pool *p = test_pool(1, RP_CFG_NO_RESPAWN);
	struct rp_result res;

	cr_assert_not_null(p);
	submit_ctl(p, 0, ACT_EXIT, 7);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, RP_ECRASHED);
	cr_assert_eq(res.term_signal, 0);
	cr_assert_eq(res.term_exit, 7);
	rp_release(p, &res);
	rp_pool_destroy(p);
}

/* Killed from outside while the parent is asleep waiting for its result. */
Test(worker_death, external_kill_while_parent_waits, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, RP_CFG_NO_RESPAWN);
	struct rp_result res;
	uint64_t victim;

	cr_assert_not_null(p);
	submit_ctl(p, 0, ACT_PID, 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	victim = *(const uint64_t *)res.data;
	rp_release(p, &res);
	/* The next task goes to the least loaded worker: make it the victim's
	 * by asking for its pid until we hit it, then have it sleep long. */
	for (;;) {
		submit_ctl(p, 0, ACT_PID, 3000);
		cr_assert_eq(rp_next(p, &res, 0), 0);
		uint64_t pid = *(const uint64_t *)res.data;
		rp_release(p, &res);
		if (pid == victim)
			break;
	}
	/* The victim is now asleep in a 3 s task; the other worker is idle. */
	submit_ctl(p, 10, ACT_SLEEP_MS, 2000);
	submit_ctl(p, 11, ACT_OK, 0);
	cr_assert_eq(kill((pid_t)victim, SIGKILL), 0);
	int crashed = 0, ok = 0;
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(rp_next(p, &res, 0), 0);
		if (res.status == RP_ECRASHED) {
			crashed++;
			cr_assert_eq(res.term_signal, SIGKILL);
		} else {
			cr_assert_eq(res.status, 0);
			ok++;
		}
		rp_release(p, &res);
	}
	cr_assert_geq(crashed, 1, "the task on the killed worker failed");
	struct rp_stats st;
	rp_pool_stats(p, &st);
	cr_assert_eq(st.workers_alive, 1u);
	/* The pool goes on with the survivor. */
	uint64_t x = 4;
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(*(const uint64_t *)res.data, 13u);
	rp_release(p, &res);
	rp_pool_destroy(p);
}
