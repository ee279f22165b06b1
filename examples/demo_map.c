/* SPDX-License-Identifier: MIT */
/*
 * The quick-start demonstration: map a million tiny tasks through a pool, in
 * order, and print the rate next to the same work done by a plain serial loop
 * and by one worker. Usage: demo_map [tasks] [workers]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ringpool.h"

/* The work: a 64-bit mix of the input (what a hash-partitioning step does). */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int mix_task(struct rp_task *t, const void *in, size_t len)
{
	uint64_t x, *out = rp_task_result(t, sizeof(*out));

	if (len != sizeof(x) || !out)
		return -EINVAL;
	memcpy(&x, in, sizeof(x));
	*out = mix(x);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int run_pool(unsigned workers, const uint64_t *in, uint64_t *out, size_t n, double *secs)
{
	struct rp_config cfg;
	struct rp_pool *pool;
	double t0;
	int err;

	rp_config_init(&cfg);
	cfg.workers = workers;
	err = rp_pool_create(&pool, &cfg);
	if (err)
		return err;
	t0 = now();
	err = rp_map(pool, mix_task, in, sizeof(*in), out, sizeof(*out), n);
	*secs = now() - t0;
	rp_pool_destroy(pool);
	return err > 0 ? -EIO : err;	/* a count of failed tasks, or -errno */
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	struct rp_config def;
	unsigned workers;
	uint64_t *in, *ref, *out;
	double t0, serial, one, many;
	int err;

	rp_config_init(&def);
	workers = argc > 2 ? (unsigned)atoi(argv[2]) : def.workers;
	in = malloc(n * sizeof(*in));
	ref = malloc(n * sizeof(*ref));
	out = malloc(n * sizeof(*out));
	if (!in || !ref || !out || !n) {
		fprintf(stderr, "demo_map: bad task count or out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		in[i] = i;

	t0 = now();
	for (size_t i = 0; i < n; i++)
		ref[i] = mix(in[i]);
	serial = now() - t0;

	err = run_pool(1, in, out, n, &one);
	if (!err && memcmp(out, ref, n * sizeof(*out)))
		err = -EBADMSG;
	if (!err) {
		memset(out, 0, n * sizeof(*out));
		err = run_pool(workers, in, out, n, &many);
	}
	if (!err && memcmp(out, ref, n * sizeof(*out)))
		err = -EBADMSG;
	if (err) {
		fprintf(stderr, "demo_map: %s\n", strerror(-err));
		return 1;
	}
	printf("ringpool demo: %zu tiny tasks (a 64-bit hash each), results in input order\n", n);
	printf("  serial loop, no isolation   %8.2f M tasks/s\n", (double)n / serial / 1e6);
	printf("  rp_map, 1 worker process    %8.2f M tasks/s\n", (double)n / one / 1e6);
	printf("  rp_map, %u worker processes %8.2f M tasks/s\n", workers, (double)n / many / 1e6);
	printf("  every result checked against the serial loop: identical\n");
	free(in);
	free(ref);
	free(out);
	return 0;
}
