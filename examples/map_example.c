/* SPDX-License-Identifier: MIT */
/*
 * map and starmap: Pool.map(f, xs) is rp_map over an array; Pool.starmap
 * (several arguments) is rp_map over an array of structs, with RP_ARGS in
 * the task. Chunking batches tiny tasks per ring record.
 */
#include <stdio.h>

#include "ringpool.h"

struct point {
	double x, y;	/* the "several arguments" */
};

static int dist2(struct rp_task *t, const void *in, size_t len)
{
	RP_ARGS(struct point, p, in, len);
	double *out = rp_task_result(t, sizeof(*out));

	if (!out)
		return -ENOMEM;
	*out = p->x * p->x + p->y * p->y;
	return 0;
}

int main(void)
{
	enum { N = 100000 };
	static struct point pts[N];
	static double out[N];
	struct rp_map_opts chunked = { .chunk = RP_CHUNK_AUTO };
	struct rp_config cfg;
	struct rp_pool *pool;
	double sum = 0;
	int err;

	for (int i = 0; i < N; i++)
		pts[i] = (struct point){ i % 100, i / 100 };
	rp_config_init(&cfg);
	if ((err = rp_pool_create(&pool, &cfg)))
		return 1;
	err = rp_map(pool, dist2, pts, sizeof(pts[0]), out, sizeof(out[0]), N);
	if (!err)
		err = rp_map_ex(pool, dist2, pts, sizeof(pts[0]), out, sizeof(out[0]), N, &chunked, NULL);
	rp_pool_destroy(pool);
	for (int i = 0; i < N; i++)
		sum += out[i];
	/* err: how many tasks failed (0: none), or a negative errno from a call. */
	printf("starmap over %d points: sum of squared distances %.0f (%d failed)\n", N, sum, err);
	return err != 0;
}
