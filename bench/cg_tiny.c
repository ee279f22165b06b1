/* SPDX-License-Identifier: MIT */
/*
 * The instruction-count probe: N tiny tasks (8 bytes in, 8 out), one
 * rp_submit and one rp_next + rp_release each, ordered, on one worker,
 * with spinning off so that waits are futex sleeps, not loops whose length
 * depends on timing. Run under callgrind twice with different N
 * (bench/callgrind.sh): the difference per task is the cost of a task on
 * each side, start-up excluded.
 * With a burst size B, tasks go in with rp_submit_burst and come back with
 * rp_next_burst, B at a time.
 * Usage: cg_tiny N [workers] [B]
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

/* The burst form: B at a time each way. */
static uint64_t run_burst(struct rp_pool *p, uint64_t n, unsigned b)
{
	uint64_t *in = malloc(b * 8), sent = 0, got = 0, sum = 0;
	struct rp_result *res = malloc(b * sizeof(*res));

	if (!in || !res)
		exit(1);
	while (got < n) {
		while (sent < n) {
			unsigned k = n - sent < b ? (unsigned)(n - sent) : b;
			int r;

			for (unsigned i = 0; i < k; i++)
				in[i] = sent + i;
			r = rp_submit_burst(p, tiny, in, 8, k, RP_NONBLOCK, 0, NULL);
			if (r <= 0)
				break;
			sent += (uint64_t)r;
		}
		int r = rp_next_burst(p, res, b, 0);

		if (r <= 0) {
			fprintf(stderr, "cg_tiny: rp_next_burst: %s\n", strerror(-r));
			exit(1);
		}
		for (int i = 0; i < r; i++)
			sum += *(const uint64_t *)res[i].data;
		rp_release_burst(p, res, (unsigned)r);
		got += (uint64_t)r;
	}
	free(in);
	free(res);
	return sum;
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
	if (argc > 3 && atoi(argv[3]) > 0) {
		sum = run_burst(p, n, (unsigned)atoi(argv[3]));
		got = n;
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
