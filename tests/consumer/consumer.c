/* SPDX-License-Identifier: MIT */
/*
 * A program that uses ringpool as an outside project does: <ringpool.h>
 * only, built by tests/consumer/run.sh against an installed copy (pkg-config,
 * shared and static; CMake) and as a meson subproject. It checks that header
 * and library agree, a map's results and its failure report with forked,
 * exec'd (spawn: this binary re-run, so a static link must carry the
 * library's constructor) and inline workers, and a crash's outcome.
 * Prints "consumer: ok ..." and exits 0, or says what differed and exits 1.
 */
#include <ringpool.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 1000
#define BAD 13	/* the one input whose task fails, on purpose */

static int square(struct rp_task *t, const void *in, size_t len)
{
	RP_ARGS(int64_t, x, in, len);
	int64_t *y = rp_task_result(t, sizeof *y);

	if (!y)
		return -EMSGSIZE;
	*y = *x * *x;
	return *x == BAD ? -EDOM : 0;
}

static int crash(struct rp_task *t, const void *in, size_t len)
{
	(void)t, (void)in, (void)len;
	abort();
}

static int fail(const char *what, const char *method, long long got, long long want)
{
	fprintf(stderr, "consumer: %s (%s): got %lld, want %lld\n", what, method, got, want);
	return 1;
}

/* rp_map_ex over N inputs on a pool with these flags. */
static int map_once(unsigned flags, int method, const char *name)
{
	static int64_t in[N], out[N];
	struct rp_config cfg = { .flags = flags, .workers = flags & RP_CFG_INLINE ? 0 : 2 };
	struct rp_map_report rep;
	struct rp_stats st;
	struct rp_pool *pool;
	int err, failed;

	for (int i = 0; i < N; i++)
		in[i] = i;
	err = rp_pool_create(&pool, &cfg);
	if (err)
		return fail("rp_pool_create", name, err, 0);
	failed = rp_map_ex(pool, square, in, sizeof in[0], out, sizeof out[0], N,
			   &(struct rp_map_opts){ .chunk = RP_CHUNK_AUTO }, &rep);
	err = rp_pool_stats(pool, &st);
	rp_pool_destroy(pool);
	if (failed != 1)
		return fail("tasks failed", name, failed, 1);
	if (rep.first_failed != BAD || rep.first.status != -EDOM || rep.first.flags)
		return fail("first failure's index", name, (long long)rep.first_failed, BAD);
	for (int i = 0; i < N; i++)
		if (out[i] != (i == BAD ? 0 : (int64_t)i * i))
			return fail("result", name, out[i], (long long)i * i);
	if (err || st.start_method != method)
		return fail("start method", name, st.start_method, method);
	return 0;
}

int main(void)
{
	struct rp_outcome oc;
	struct rp_pool *pool;
	int r;

	if (rp_version() != RINGPOOL_VERSION_NUMBER)
		return fail("rp_version", RINGPOOL_VERSION_STRING, rp_version(),
			    RINGPOOL_VERSION_NUMBER);
	if (map_once(0, RP_START_FORK, "fork") || map_once(RP_CFG_SPAWN, RP_START_SPAWN, "spawn") ||
	    map_once(RP_CFG_INLINE, RP_START_INLINE, "inline"))
		return 1;

	/* A crash in a task is that task's outcome; the call worked. */
	r = rp_pool_create(&pool, &(struct rp_config){ .workers = 1 });
	if (r)
		return fail("rp_pool_create", "crash", r, 0);
	r = rp_apply(pool, crash, NULL, 0, NULL, 0, NULL, &oc);
	rp_pool_destroy(pool);
	if (r != 1 || oc.status != RP_ECRASHED || oc.term_signal != SIGABRT)
		return fail("a crashed task's outcome", "rp_apply", oc.status, RP_ECRASHED);

	printf("consumer: ok (ringpool %s: fork, spawn, inline, crash)\n", RINGPOOL_VERSION_STRING);
	return 0;
}
