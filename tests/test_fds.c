/* SPDX-License-Identifier: MIT */
/*
 * Nothing is left behind: after destroy, the process has the same open file
 * descriptors as before (no memfd, no pidfd), no child process remains, and
 * nothing named ringpool exists in /dev/shm.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <string.h>
#include <sys/wait.h>

#include "rp_test_tasks.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

Test(fds, destroy_leaves_nothing, .timeout = 60)
{
	int before = count_fds();

	for (int round = 0; round < 20; round++) {
		struct rp_pool *p = test_pool(1 + round % 3, 0);
		struct rp_result res;
		uint64_t x = 1;

		cr_assert_not_null(p);
		cr_assert_gt(count_fds(), before, "the pool holds a memfd and pidfds");
		cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
		if (round % 2) {
			cr_assert_eq(rp_next(p, &res, 0), 0);
			rp_release(p, &res);
		}
		/* Odd rounds destroy with a result still uncollected. */
		rp_pool_destroy(p);
		cr_assert_eq(count_fds(), before, "round %d leaked an fd", round);
	}
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "no child process remains");
	cr_assert_eq(errno, ECHILD);
	DIR *d = opendir("/dev/shm");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			cr_assert_null(strstr(e->d_name, "ringpool"));
		closedir(d);
	}
}
