/* SPDX-License-Identifier: MIT */
/* Task functions shared by the pool tests. */
#ifndef RP_TEST_TASKS_H
#define RP_TEST_TASKS_H

#include <signal.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"

static inline uint64_t test_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* Result = in * 3 + 1 (8 bytes in, 8 bytes out). */
static __attribute__((unused)) int task_triple(struct rp_task *t, const void *in, size_t len)
{
	uint64_t x, *out;

	if (len != 8)
		return -EINVAL;
	memcpy(&x, in, 8);
	out = rp_task_result(t, 8);
	if (!out)
		return -ENOMEM;
	*out = x * 3 + 1;
	return 0;
}

/* Like task_triple, after a busy wait of 0..4 us chosen from the input. */
static __attribute__((unused)) int task_triple_jitter(struct rp_task *t, const void *in, size_t len)
{
	uint64_t x;
	struct timespec a, b;

	memcpy(&x, in, 8);
	long ns = (long)(test_mix(x) % 4000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
	return task_triple(t, in, len);
}

/* Echo the input back as the result. */
static __attribute__((unused)) int task_echo(struct rp_task *t, const void *in, size_t len)
{
	void *out = rp_task_result(t, len);

	if (!out)
		return -ENOMEM;
	memcpy(out, in, len);
	return 0;
}

/* Input: {uint64 value, int32 action, int32 arg}. Actions below. */
struct ctl_in {
	uint64_t value;
	int32_t action;
	int32_t arg;
};

enum {
	ACT_OK,		/* result = value */
	ACT_FAIL,	/* return arg */
	ACT_KILL,	/* raise(arg) */
	ACT_EXIT,	/* _exit(arg) */
	ACT_SLEEP_MS,	/* sleep arg ms, then result = value */
	ACT_PID,	/* result = getpid(), then sleep arg ms */
	ACT_BIG,	/* ask for arg bytes of result */
	ACT_OVERLEN,	/* reserve 8, then claim arg bytes */
};

static __attribute__((unused)) int task_ctl(struct rp_task *t, const void *in, size_t len)
{
	struct ctl_in c;
	uint64_t *out;

	if (len != sizeof(c))
		return -EINVAL;
	memcpy(&c, in, sizeof(c));
	switch (c.action) {
	case ACT_FAIL:
		return c.arg;
	case ACT_KILL:
		raise(c.arg);
		return 0;
	case ACT_EXIT:
		_exit(c.arg);
	case ACT_SLEEP_MS:
		usleep((useconds_t)c.arg * 1000);
		break;
	case ACT_PID:
		out = rp_task_result(t, 8);
		*out = (uint64_t)getpid();
		usleep((useconds_t)c.arg * 1000);
		return 0;
	case ACT_BIG:
		return rp_task_result(t, (size_t)c.arg) ? 0 : -ENOMEM;
	case ACT_OVERLEN:
		if (!rp_task_result(t, 8))
			return -ENOMEM;
		return rp_task_result_len(t, (size_t)c.arg);
	}
	out = rp_task_result(t, 8);
	*out = c.value;
	return 0;
}

/* rp_apply's call error, or else the task's status: the shorthand of tests
 * that check statuses (test_api.c checks the call/outcome split itself). */
static inline int apply_status(struct rp_pool *p, rp_task_fn fn, const void *in, size_t len,
			       void *out, size_t cap, size_t *out_len)
{
	struct rp_outcome oc;
	int r = rp_apply(p, fn, in, len, out, cap, out_len, &oc);

	return r < 0 ? r : oc.status;
}

/* rp_map_ex's call error, or else the first failed task's status (0 if
 * none failed), checking that the report agrees with the returned count. */
static inline int map_status_ex(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size,
				void *out, size_t out_size, size_t n,
				const struct rp_map_opts *opts)
{
	struct rp_map_report rep;
	int r = rp_map_ex(p, fn, in, in_size, out, out_size, n, opts, &rep);

	if (r < 0)
		return r;
	if ((size_t)r != rep.failed || (r == 0) != (rep.first_failed == SIZE_MAX))
		return -EILSEQ;	/* the count and the report disagree */
	return r ? rep.first.status : 0;
}

static inline int map_status(struct rp_pool *p, rp_task_fn fn, const void *in, size_t in_size,
			     void *out, size_t out_size, size_t n)
{
	return map_status_ex(p, fn, in, in_size, out, out_size, n, NULL);
}

/* rp_future_result's call error, or else the task's status. */
static inline int future_status(const struct rp_future *f, const void **data, size_t *len)
{
	struct rp_outcome oc;
	int r = rp_future_result(f, data, len, &oc);

	return r ? r : oc.status;
}

/*
 * rp_config_init, plus the start method under test: the suites run once
 * with fork (default) and once with RP_TEST_START=spawn (meson runs both).
 * Fork is asked for explicitly: a Criterion test process has a second,
 * idle thread, so the library would otherwise exec the workers.
 */
static inline void test_config_init(struct rp_config *c)
{
	const char *m = getenv("RP_TEST_START");

	rp_config_init(c);
	if (m && !strcmp(m, "spawn"))
		c->flags |= RP_CFG_SPAWN;
	else
		c->flags |= RP_CFG_FORK;	/* Criterion's runner has an idle thread */
}

static inline struct rp_pool *test_pool(unsigned workers, unsigned flags)
{
	struct rp_config c;
	struct rp_pool *p = NULL;

	test_config_init(&c);
	c.workers = workers;
	c.flags |= flags;
	if (!workers)
		c.flags |= RP_CFG_INLINE;	/* the tests' 0: no workers */
	c.spin_ns = 20000;
	if (rp_pool_create(&p, &c))
		return NULL;
	return p;
}

#endif
