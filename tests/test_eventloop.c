/* SPDX-License-Identifier: MIT */
/*
 * The completion fd for event loops: an epoll loop that sleeps only on
 * rp_pool_fd() receives every result without blocking calls, and a worker's
 * death wakes it too.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>

#include "rp_test_tasks.h"

/* Drive n tasks (sleep_ms each) through an epoll loop; returns results seen. */
static int loop(struct rp_pool *p, int n, int sleep_ms, int kill_after, int *crashed)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), sub = 0, got = 0, wakeups = 0;
	struct epoll_event ev = { .events = EPOLLIN };

	cr_assert_geq(ep, 0);
	cr_assert_geq(rp_pool_fd(p), 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, rp_pool_fd(p), &ev), 0);
	while (got < n) {
		struct rp_result r;
		int rc;

		while (sub < n) {
			struct ctl_in in = { .value = (uint64_t)sub, .action = ACT_SLEEP_MS,
					     .arg = sleep_ms };

			if (rp_submit(p, task_ctl, &in, sizeof(in), RP_NONBLOCK, 0, NULL))
				break;
			sub++;
		}
		if (kill_after >= 0 && got == kill_after) {
			struct rp_worker_stats ws;

			rp_worker_stats(p, 0, &ws);
			kill(ws.pid, SIGKILL);
			kill_after = -1;
		}
		rc = rp_pool_arm(p);
		cr_assert_geq(rc, 0);
		if (rc == 0) {
			/* Armed: sleep on the fd alone (bounded: a hang fails). */
			int k;

			/* An event loop retries on EINTR: the killed worker's
			 * SIGCHLD can interrupt the wait (Criterion's runner
			 * leaves its test processes a SIGCHLD handler). */
			do
				k = epoll_wait(ep, &ev, 1, 5000);
			while (k < 0 && errno == EINTR);
			cr_assert_eq(k, 1, "the fd must fire (got %d of %d; epoll_wait %d, %s)", got, n,
				     k, k < 0 ? strerror(errno) : "timeout");
			wakeups++;
			continue;
		}
		while (rp_next(p, &r, RP_NONBLOCK) == 0) {
			if (r.status == RP_ECRASHED)
				(*crashed)++;
			else
				cr_assert_eq(*(const uint64_t *)r.data, r.seq);
			got++;
			rp_release(p, &r);
		}
	}
	close(ep);
	return wakeups;
}

Test(eventloop, results_through_the_fd, .timeout = 60)
{
	struct rp_pool *p = test_pool(2, 0);
	int crashed = 0;

	cr_assert_not_null(p);
	int w = loop(p, 200, 1, -1, &crashed);
	cr_assert_gt(w, 0, "the loop slept on the fd");
	cr_assert_eq(crashed, 0);
	rp_pool_destroy(p);
}

Test(eventloop, worker_death_wakes_the_loop, .timeout = 60)
{
	struct rp_pool *p = test_pool(1, 0);
	int crashed = 0;

	cr_assert_not_null(p);
	loop(p, 20, 20, 5, &crashed);
	cr_assert_leq(crashed, 1, "at most the running task fails");
	struct rp_stats st;
	rp_pool_stats(p, &st);
	cr_assert_eq(st.restarts, 1u, "restarts %lu, crashed %d", (unsigned long)st.restarts, crashed);
	rp_pool_destroy(p);
}

Test(eventloop, inline_pool_has_no_fd)
{
	struct rp_pool *p = test_pool(0, 0);

	cr_assert_eq(rp_pool_fd(p), -EOPNOTSUPP);
	cr_assert_eq(rp_pool_arm(p), -EOPNOTSUPP);
	rp_pool_destroy(p);
	cr_assert_eq(rp_pool_fd(NULL), -EINVAL);
}
