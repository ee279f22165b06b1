/* SPDX-License-Identifier: MIT */
/*
 * The instruction-count probe: N tiny tasks (8 bytes in, 8 out), one
 * rp_submit and one rp_next + rp_release each, ordered, on one worker,
 * with spinning off so that waits are futex sleeps, not loops whose length
 * depends on timing. Run under callgrind twice with different N
 * (bench/callgrind.sh): the difference per task is the cost of a task on
 * each side, start-up excluded.
 * Usage: cg_tiny N [workers] [burst]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringpool.h"

static int tiny(struct rp_task *t, const void *in, size_t len)
{
	uint64_t *out = rp_task_result(t, 8);

	(void)len;
	*out = *(const uint64_t *)in * 2 + 1;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000, sent = 0, got = 0, sum = 0;
	struct rp_config c;
	struct rp_pool *p;
	struct rp_result r;
	int err;

	rp_config_init(&c);
	c.workers = argc > 2 ? (unsigned)atoi(argv[2]) : 1;
	c.spin_ns = RP_SPIN_NEVER;
	if ((err = rp_pool_create(&p, &c))) {
		fprintf(stderr, "cg_tiny: rp_pool_create: %s\n", strerror(-err));
		return 1;
	}
	while (got < n) {
		while (sent < n && (err = rp_submit(p, tiny, &sent, 8, RP_NONBLOCK, 0, NULL)) == 0)
			sent++;
		if (err && err != -EAGAIN) {
			fprintf(stderr, "cg_tiny: rp_submit: %s\n", strerror(-err));
			return 1;
		}
		if ((err = rp_next(p, &r, 0))) {
			fprintf(stderr, "cg_tiny: rp_next: %s\n", strerror(-err));
			return 1;
		}
		sum += *(const uint64_t *)r.data;
		rp_release(p, &r);
		got++;
	}
	rp_pool_destroy(p);
	printf("%llu\n", (unsigned long long)sum);
	return sum == n * n ? 0 : 1;
}
