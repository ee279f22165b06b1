/* SPDX-License-Identifier: MIT */
/*
 * Bad input gets a clear -E... code and changes nothing: invalid
 * configurations, oversize payloads, missing functions, calls out of order,
 * a closed pool, a full window.
 */
#include <criterion/criterion.h>

#include "rp_test_tasks.h"

static int create_with(void (*edit)(struct rp_config *))
{
	struct rp_config c;
	struct rp_pool *p = (struct rp_pool *)1;
	int r;

	test_config_init(&c);
	c.workers = 1;
	edit(&c);
	r = rp_pool_create(&p, &c);
	if (r == 0)
		rp_pool_destroy(p);
	else
		cr_assert_null(p, "no pool on error");
	return r;
}

static void workers_0(struct rp_config *c) { c->workers = 0; }
static void inline_with_workers(struct rp_config *c) { c->workers = 2; c->flags |= RP_CFG_INLINE; }
static void reserved_set(struct rp_config *c) { c->reserved_[7] = 1; }
static void queue_over_window(struct rp_config *c) { c->max_queue = c->max_in_flight * 2; }
static void workers_big(struct rp_config *c) { c->workers = RP_MAX_WORKERS + 1; }
static void ring_npot(struct rp_config *c) { c->ring_bytes = 5000; }
static void ring_small(struct rp_config *c) { c->ring_bytes = 2048; }
static void ring_huge(struct rp_config *c) { c->ring_bytes = 1ull << 31; }
static void window_npot(struct rp_config *c) { c->max_in_flight = 1000; }
static void window_0(struct rp_config *c) { c->max_in_flight = 0; }
static void window_huge(struct rp_config *c) { c->max_in_flight = 1u << 21; }
static void spin_long(struct rp_config *c) { c->spin_ns = 2000000000ull; }
static void liveness_short(struct rp_config *c) { c->liveness_ns = 1000; }
static void flags_unknown(struct rp_config *c) { c->flags = 1u << 7; }
static void ok_minimal(struct rp_config *c) { c->ring_bytes = RP_MIN_RING_BYTES; c->max_in_flight = 1; }

Test(badinput, invalid_configs_rejected, .timeout = 30)
{
	cr_assert_eq(create_with(workers_0), 0, "workers = 0 is the default count");
	cr_assert_eq(create_with(inline_with_workers), -EINVAL, "inline has no workers");
	cr_assert_eq(create_with(reserved_set), -EINVAL, "reserved fields must be zero");
	cr_assert_eq(create_with(queue_over_window), -EINVAL);
	cr_assert_eq(create_with(workers_big), -EINVAL);
	cr_assert_eq(create_with(ring_npot), -EINVAL);
	cr_assert_eq(create_with(ring_small), -EINVAL, "ring too small");
	cr_assert_eq(create_with(ring_huge), -EINVAL);
	cr_assert_eq(create_with(window_npot), -EINVAL);
	cr_assert_eq(create_with(window_0), 0, "max_in_flight 0 is the default");
	cr_assert_eq(create_with(window_huge), -EINVAL);
	cr_assert_eq(create_with(spin_long), -EINVAL);
	cr_assert_eq(create_with(liveness_short), -EINVAL);
	cr_assert_eq(create_with(flags_unknown), -EINVAL);
	cr_assert_eq(create_with(ok_minimal), 0, "the smallest valid config works");
}

Test(badinput, null_arguments)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_result res;
	void *buf;

	test_config_init(&c);
	cr_assert_eq(rp_pool_create(NULL, &c), -EINVAL);
	cr_assert_eq(rp_pool_create(&p, NULL), 0, "NULL config: the defaults");
	cr_assert_eq(rp_pool_destroy(p), 0);
	cr_assert_eq(rp_pool_destroy(NULL), -EINVAL);
	cr_assert_eq(rp_pool_close(NULL), -EINVAL);
	cr_assert_eq(rp_reserve(NULL, task_echo, 1, 0, &buf), -EINVAL);
	cr_assert_eq(rp_submit(NULL, task_echo, "x", 1, 0, 0, NULL), -EINVAL);
	cr_assert_eq(rp_next(NULL, &res, 0), -EINVAL);
	cr_assert_eq(rp_commit(NULL, 0, 0, NULL), -EINVAL);
	cr_assert_eq(rp_flush(NULL), -EINVAL);
	cr_assert_eq(map_status(NULL, task_echo, "", 1, NULL, 0, 0), -EINVAL);
	rp_release(NULL, &res); /* no crash */
}

Test(badinput, calls_on_a_live_pool, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_result res;
	struct rp_stats st;
	void *buf;
	uint64_t x = 1;

	cr_assert_not_null(p);
	rp_pool_stats(p, &st);
	/* No function anywhere. */
	cr_assert_eq(rp_submit(p, NULL, &x, 8, 0, 0, NULL), -EINVAL);
	/* Payload larger than a ring record. */
	cr_assert_eq(rp_reserve(p, task_echo, st.max_payload + 1, 0, &buf), -EMSGSIZE);
	cr_assert_eq(rp_submit(p, task_echo, &x, (size_t)1 << 40, 0, 0, NULL), -EMSGSIZE);
	/* data NULL with a length. */
	cr_assert_eq(rp_submit(p, task_echo, NULL, 8, 0, 0, NULL), -EINVAL);
	/* Commit or abort without a reservation; two reservations. */
	cr_assert_eq(rp_commit(p, 0, 0, NULL), -EINVAL);
	cr_assert_eq(rp_abort(p), -EINVAL);
	cr_assert_eq(rp_reserve(p, task_echo, 8, 0, &buf), 0);
	cr_assert_eq(rp_reserve(p, task_echo, 8, 0, &buf), -EBUSY);
	cr_assert_eq(rp_commit(p, 9, 0, NULL), -EMSGSIZE, "more than reserved");
	cr_assert_eq(rp_abort(p), 0);
	/* Nothing outstanding. */
	cr_assert_eq(rp_next(p, &res, 0), -ENODATA);
	cr_assert_eq(rp_next(p, &res, RP_NONBLOCK), -ENODATA);
	/* Holding a result blocks the next one, and rp_map. */
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(rp_next(p, &res, 0), -EBUSY);
	cr_assert_eq(map_status(p, task_triple, &x, 8, &x, 8, 1), -EBUSY);
	rp_release(p, &res);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	rp_release(p, &res);
	/* map with NULL buffers. */
	cr_assert_eq(map_status(p, task_triple, NULL, 8, &x, 8, 1), -EINVAL);
	cr_assert_eq(map_status(p, NULL, &x, 8, &x, 8, 1), -EINVAL);
	rp_pool_destroy(p);
}

Test(badinput, closed_pool_refuses_submits_but_delivers, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	struct rp_result res;
	uint64_t x = 2;
	void *buf;

	cr_assert_not_null(p);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_pool_close(p), 0);
	cr_assert_eq(rp_pool_close(p), 0, "idempotent");
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), -ESHUTDOWN);
	cr_assert_eq(rp_reserve(p, task_triple, 8, 0, &buf), -ESHUTDOWN);
	cr_assert_eq(map_status(p, task_triple, &x, 8, &x, 8, 1), -ESHUTDOWN);
	cr_assert_eq(rp_next(p, &res, 0), 0, "the result computed before close is kept");
	cr_assert_eq(*(const uint64_t *)res.data, 7u);
	rp_release(p, &res);
	rp_pool_destroy(p);
}

Test(badinput, full_window_says_eagain, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_result res;
	uint64_t x = 0;
	int n = 0, r;

	test_config_init(&c);
	c.workers = 1;
	c.max_in_flight = 16;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	while ((r = rp_submit(p, task_triple, &x, 8, 0, 0, NULL)) == 0)
		n++;
	cr_assert_eq(r, -EAGAIN);
	cr_assert_eq(n, 16, "exactly max_in_flight tasks fit the window");
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, RP_NONBLOCK, 0, NULL), -EAGAIN);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	rp_release(p, &res);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0, "collecting one makes room");
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(rp_next(p, &res, 0), 0);
		rp_release(p, &res);
	}
	cr_assert_eq(rp_next(p, &res, RP_NONBLOCK), -ENODATA);
	rp_pool_destroy(p);
}
