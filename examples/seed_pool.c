/* SPDX-License-Identifier: MIT */
/*
 * The C port of the seed program (a practice note on Python's Pool): a
 * CPU-bound count(frame, thresh) over frames, an initializer carrying
 * (misc, scale, thresh), an ordered stream over the pool with a progress
 * bar, the results and the elapsed time, and the serial fallback.
 *
 *   seed_pool [-j WORKERS] [-n FRAMES] [-i ITERATIONS]
 *
 * -j 0 is the seed's "max_workers == 0" branch: every task runs inline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"

/* _WorkerInitParams: set once per worker by the initializer. */
struct init_params {
	int misc;
	int scale;
	int thresh;
	uint64_t iterations;
};

static int worker_initializer(unsigned worker, const void *args, size_t len, void **state)
{
	struct init_params *p = malloc(sizeof(*p));

	if (!p || len != sizeof(*p))
		return -EINVAL;
	memcpy(p, args, sizeof(*p));
	*state = p;
	return 0;
}

static void worker_exit(unsigned worker, void *state)
{
	free(state);
}

/* for i in range(0, 10000000): i = i + 1; return i * frame * thresh */
static uint64_t count(uint64_t frame, uint64_t thresh, uint64_t iterations)
{
	uint64_t i;

	for (i = 0; i < iterations; i++) {
		i = i + 1;
		__asm__ __volatile__("" : "+r"(i)); /* keep the loop: it is the work */
		i = i - 1;
	}
	return i * frame * thresh;
}

/* _mp_worker_fn: frame *= scale; count(frame, thresh) */
static int mp_worker_fn(struct rp_task *t, const void *in, size_t len)
{
	const struct init_params *prm = t->state;
	uint64_t frame, *out;

	if (len != sizeof(frame))
		return -EINVAL;
	memcpy(&frame, in, sizeof(frame));
	frame *= (uint64_t)prm->scale;
	out = rp_task_result(t, sizeof(*out));
	if (!out)
		return -ENOMEM;
	*out = count(frame, (uint64_t)prm->thresh, prm->iterations);
	return 0;
}

/* The input iterator (_iter_fn) and the ordered output list (new_frames). */
struct frames {
	uint64_t next, n;
	uint64_t *results;
	uint64_t got;
};

static ssize_t next_frame(void *arg, void *buf, size_t cap)
{
	struct frames *f = arg;

	if (f->next == f->n)
		return RP_EOF;
	memcpy(buf, &f->next, sizeof(f->next));
	f->next++;
	return sizeof(f->next);
}

static int keep_result(void *arg, const struct rp_result *r)
{
	struct frames *f = arg;

	if (r->status) {
		fprintf(stderr, "frame %llu failed: %s\n", (unsigned long long)r->seq,
			strerror(-r->status));
		return r->status;
	}
	memcpy(&f->results[r->seq], r->data, sizeof(uint64_t));
	f->got++;
	return 0;
}

int main(int argc, char **argv)
{
	struct init_params prm = { .misc = 1, .scale = 1, .thresh = 3, .iterations = 10000000 };
	struct rp_imap_opts opts = { .max_input = sizeof(uint64_t) };
	struct rp_config cfg;
	struct rp_pool *pool;
	struct rp_progress_bar *bar;
	struct frames fr = { .n = 10 };
	struct timespec t0, t1;
	int c, err;

	rp_config_init(&cfg);
	while ((c = getopt(argc, argv, "j:n:i:")) != -1) {
		switch (c) {
		case 'j':
			cfg.workers = (unsigned)atoi(optarg);
			if (!cfg.workers)	/* the seed's max_workers == 0 */
				cfg.flags |= RP_CFG_INLINE;
			break;
		case 'n': fr.n = strtoull(optarg, NULL, 10); break;
		case 'i': prm.iterations = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: seed_pool [-j WORKERS] [-n FRAMES] [-i ITERATIONS]\n");
			return 2;
		}
	}
	fr.results = calloc(fr.n ? fr.n : 1, sizeof(uint64_t));
	clock_gettime(CLOCK_MONOTONIC, &t0);

	cfg.init = worker_initializer;
	cfg.exit = worker_exit;
	cfg.init_args = &prm;
	cfg.init_args_len = sizeof(prm);
	err = rp_pool_create(&pool, &cfg);
	if (err) {
		fprintf(stderr, "seed_pool: rp_pool_create: %s\n", strerror(-err));
		return 1;
	}
	bar = rp_progress_bar_new(cfg.workers ? "PoolIter" : "serial", -1);
	rp_pool_set_progress(pool, rp_progress_bar, bar, fr.n, 0);
	err = rp_imap(pool, mp_worker_fn, next_frame, &fr, keep_result, &fr, &opts);
	rp_progress_bar_free(bar);
	rp_pool_destroy(pool);
	if (err) {
		fprintf(stderr, "seed_pool: %s\n", strerror(-err));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("[");
	for (uint64_t i = 0; i < fr.n; i++)
		printf("%s%llu", i ? ", " : "", (unsigned long long)fr.results[i]);
	printf("]\n%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	free(fr.results);
	return 0;
}
