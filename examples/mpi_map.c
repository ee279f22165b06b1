/* SPDX-License-Identifier: MIT */
/*
 * Hybrid MPI + ringpool: one pool per rank, as OpenMP runs inside the ranks
 * of a hybrid HPC code. Rank r of R takes numbers [1 + N*r/R, 1 + N*(r+1)/R),
 * its pool's workers count their Collatz steps (rp_map, chunked), and
 * MPI_Reduce adds the ranks' sums on rank 0.
 *
 *   mpirun -n 2 --bind-to none build/examples/mpi_map [N] [--fork]
 *
 * The rules (docs/scale.md says more):
 *  1. Workers never call MPI, not even MPI_Comm_rank: a worker is not an MPI
 *     process. What a task needs (the rank, a seed) travels in its input or
 *     in the initializer's arguments (cfg.init_args).
 *  2. Create the pool after MPI_Init, and size it from what MPI says about
 *     this rank's place: the ranks sharing its node (MPI_Comm_split_type)
 *     and the CPUs it is bound to (some MPIs bind inside MPI_Init). Destroy
 *     it before MPI_Finalize, so no worker outlives its rank.
 *  3. Start method. Open MPI starts threads in MPI_Init (4.1: two more, for
 *     PMIx and its event loop), so ringpool 0.2 execs the workers (spawn:
 *     a fresh copy of this binary, stopped by libringpool before main, so
 *     it never reaches MPI_Init) unless RP_CFG_FORK asks for fork. Keep the
 *     default. A fork copies the rank as it is at that instant, with one
 *     thread: the shared-memory transport's segments (vader: the queues
 *     other ranks write into) stay mapped in the worker, where a stray
 *     write corrupts another rank's messages; locks that the progress/PMIx
 *     threads held stay locked in the worker forever (glibc resets
 *     malloc's, not Open MPI's memory hooks', which run on munmap); with an
 *     RDMA transport (openib, UCX on InfiniBand) memory registered with the
 *     NIC becomes copy-on-write, and the rank's own transfers may then hit
 *     the worker's copy. TCP sockets are only inherited fds (ringpool closes
 *     them in workers). Take RP_CFG_FORK only for workers that must inherit
 *     state an initializer cannot rebuild, on shared memory or TCP only,
 *     never with RDMA, and knowing that replacements are exec'd anyway.
 */
#include <mpi.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringpool.h"

/* Collatz steps from n down to 1: uneven work, a few hundred steps at most. */
static int steps(struct rp_task *t, const void *in, size_t len)
{
	RP_ARGS(uint64_t, n, in, len);
	uint64_t *out = rp_task_result(t, sizeof(*out)), x = *n, k = 0;

	if (!out)
		return -ENOMEM;
	for (; x > 1; k++)
		x = x & 1 ? 3 * x + 1 : x / 2;
	*out = k;
	return 0;
}

/* Workers for this rank: the CPUs it may run on, shared with the other
 * ranks of its node when it is not bound (its CPUs are all of them). */
static unsigned rank_workers(void)
{
	MPI_Comm node;
	cpu_set_t set;
	int local = 1, mine = 0;
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
	MPI_Comm_size(node, &local);
	MPI_Comm_free(&node);
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		mine = CPU_COUNT(&set);
	if (mine <= 0)
		mine = 1;
	if (mine >= online && local > 1)
		mine /= local;
	return mine > 0 ? (unsigned)mine : 1;
}

/* This rank's sum of steps over [lo, hi) on its own pool. Returns how many
 * tasks failed, or a negative errno. */
static int rank_sum(uint64_t lo, uint64_t hi, unsigned flags, uint64_t *sum, int *method)
{
	size_t n = (size_t)(hi - lo);
	uint64_t *in = malloc((n ? n : 1) * sizeof(*in)), *out = malloc((n ? n : 1) * sizeof(*out));
	struct rp_map_opts chunked = { .chunk = RP_CHUNK_AUTO };
	struct rp_config cfg;
	struct rp_stats st;
	struct rp_pool *pool;
	int r;

	if (!in || !out) {
		free(in);
		free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		in[i] = lo + i;
	rp_config_init(&cfg);
	cfg.workers = rank_workers();
	cfg.flags = flags;
	r = rp_pool_create(&pool, &cfg);	/* after MPI_Init: rule 2 */
	if (!r) {
		r = rp_map_ex(pool, steps, in, sizeof(*in), out, sizeof(*out), n, &chunked, NULL);
		*method = rp_pool_stats(pool, &st) == 0 ? st.start_method : 0;
		rp_pool_destroy(pool);		/* before MPI_Finalize: rule 2 */
	}
	*sum = 0;
	for (size_t i = 0; r == 0 && i < n; i++)
		*sum += out[i];
	free(in);
	free(out);
	return r;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, sum = 0, total = 0;
	unsigned flags = 0;
	int rank, size, r, method = 0, bad, anybad = 0;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fork"))
			flags |= RP_CFG_FORK;	/* rule 3: read it before you use it */
		else
			n = strtoull(argv[i], NULL, 10);
	}
	r = rank_sum(1 + n * (uint64_t)rank / (uint64_t)size,
		     1 + n * ((uint64_t)rank + 1) / (uint64_t)size, flags, &sum, &method);
	if (r)
		fprintf(stderr, "mpi_map: rank %d: %s\n", rank,
			r < 0 ? strerror(-r) : "some tasks failed");
	bad = r != 0;
	MPI_Reduce(&sum, &total, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
	MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
	if (rank == 0 && !anybad)
		printf("Collatz steps for 1..%llu: %llu (%d ranks, workers %s)\n",
		       (unsigned long long)n, (unsigned long long)total, size,
		       method == RP_START_SPAWN ? "exec'd" : method == RP_START_FORK ? "forked"
										  : "?");
	MPI_Finalize();
	return anybad;
}
