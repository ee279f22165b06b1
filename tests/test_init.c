/* SPDX-License-Identifier: MIT */
/*
 * The initializer: its argument bytes reach every worker, the state it sets
 * is what every task sees, the exit hook runs at shutdown, and a failing
 * initializer makes pool creation fail cleanly.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "rp_test_tasks.h"

/* The seed's initializer: (misc, scale, thresh). */
struct init_args {
	int misc, scale, thresh;
	char exit_file[64];
};

struct wstate {
	struct init_args a;
	unsigned worker;
	uint64_t tasks;
};

static int init_ok(unsigned worker, const void *args, size_t len, void **state)
{
	struct wstate *s = calloc(1, sizeof(*s));

	if (len != sizeof(struct init_args) || !s)
		return -EINVAL;
	memcpy(&s->a, args, sizeof(s->a));
	s->worker = worker;
	*state = s;
	return 0;
}

static void exit_hook(unsigned worker, void *state)
{
	struct wstate *s = state;
	char path[96];
	FILE *f;

	snprintf(path, sizeof(path), "%s.%u", s->a.exit_file, worker);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%lu\n", (unsigned long)s->tasks);
		fclose(f);
	}
	free(s);
}

static int task_scaled(struct rp_task *t, const void *in, size_t len)
{
	struct wstate *s = t->state;
	uint64_t frame, *out = rp_task_result(t, 8);

	memcpy(&frame, in, 8);
	cr_assert_eq(s->worker, t->worker, "each worker has its own state");
	s->tasks++;
	*out = frame * (uint64_t)s->a.scale * (uint64_t)s->a.thresh + (uint64_t)s->a.misc;
	return 0;
}

Test(init, args_state_and_exit_hook, .timeout = 30)
{
	struct init_args a = { .misc = 1, .scale = 2, .thresh = 3 };
	struct rp_config c;
	struct rp_pool *p;
	uint64_t in[100], out[100];

	snprintf(a.exit_file, sizeof(a.exit_file), "/tmp/rp_test_exit.%d", getpid());
	test_config_init(&c);
	c.workers = 2;
	c.init = init_ok;
	c.exit = exit_hook;
	c.init_args = &a;
	c.init_args_len = sizeof(a);
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (int i = 0; i < 100; i++)
		in[i] = (uint64_t)i;
	cr_assert_eq(map_status(p, task_scaled, in, 8, out, 8, 100), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(out[i], (uint64_t)i * 6 + 1);
	cr_assert_eq(rp_pool_destroy(p), 0);
	/* Both exit hooks ran, and between them saw every task. */
	uint64_t total = 0;
	for (int w = 0; w < 2; w++) {
		char path[96];
		unsigned long n = 0;
		FILE *f;

		snprintf(path, sizeof(path), "%s.%d", a.exit_file, w);
		f = fopen(path, "r");
		cr_assert_not_null(f, "exit hook of worker %d ran", w);
		cr_assert_eq(fscanf(f, "%lu", &n), 1);
		fclose(f);
		unlink(path);
		total += n;
	}
	cr_assert_eq(total, 100u);
}

static int init_fails_on_1(unsigned worker, const void *args, size_t len, void **state)
{
	return worker == 1 ? -ENOENT : 0;
}

Test(init, failing_initializer_fails_create, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p = (struct rp_pool *)1;

	test_config_init(&c);
	c.workers = 2;
	c.init = init_fails_on_1;
	cr_assert_eq(rp_pool_create(&p, &c), -ENOENT, "the initializer's error");
	cr_assert_null(p);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "no worker left behind");
	/* Inline mode: the same. */
	c.workers = 0;
	c.flags |= RP_CFG_INLINE;
	c.init = init_fails_on_1;
	cr_assert_eq(rp_pool_create(&p, &c), 0, "worker 0 initialises fine inline");
	rp_pool_destroy(p);
}

Test(init, bad_init_args, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p;

	test_config_init(&c);
	c.workers = 1;
	c.init_args_len = 10;
	cr_assert_eq(rp_pool_create(&p, &c), -EINVAL, "length without bytes");
	c.init_args = "x";
	c.init_args_len = RP_MAX_INIT_ARGS + 1;
	cr_assert_eq(rp_pool_create(&p, &c), -EINVAL);
}
