/* SPDX-License-Identifier: MIT */
/*
 * --stats: each rank's range, records, output and time in each stage
 * (split: boundaries, count and prefix sum; map: its pool; wait: for the
 * slowest rank to finish mapping; write: the ordered output), gathered to
 * rank 0 (MPI_Gather) and printed there in rank order, with the total.
 */
#include "rpmap_mpi.h"

#include <stdio.h>
#include <stdlib.h>

enum { S_OFF, S_END, S_FIRST, S_REC, S_FAIL, S_TASKS, S_IN, S_OUT, S_WORKERS, S_REPL,
       S_RERUN, S_SPLIT, S_MAP, S_WAIT, S_WRITE, S_STATUS, S_N };

static double sec(uint64_t ns)
{
	return (double)ns / 1e9;
}

static void print_rank(int r, const uint64_t *v)
{
	fprintf(stderr,
		"rpmap-mpi: rank %d: bytes [%llu, %llu), records from %llu: %llu (%llu failed) "
		"in %llu tasks, %.1f MB out, %llu workers (%llu replaced, %llu tasks rerun); "
		"split %.3f s, map %.3f s, wait %.3f s, write %.3f s; status %llu\n",
		r, (unsigned long long)v[S_OFF], (unsigned long long)v[S_END],
		(unsigned long long)v[S_FIRST], (unsigned long long)(v[S_REC] + v[S_FAIL]),
		(unsigned long long)v[S_FAIL], (unsigned long long)v[S_TASKS], v[S_OUT] / 1e6,
		(unsigned long long)v[S_WORKERS], (unsigned long long)v[S_REPL],
		(unsigned long long)v[S_RERUN], sec(v[S_SPLIT]), sec(v[S_MAP]), sec(v[S_WAIT]),
		sec(v[S_WRITE]), (unsigned long long)v[S_STATUS]);
}

void mpi_stats(const struct mpi_job *j)
{
	uint64_t v[S_N] = {
		[S_OFF] = j->off, [S_END] = j->end, [S_FIRST] = j->first,
		[S_REC] = j->tot.records, [S_FAIL] = j->tot.failed, [S_TASKS] = j->tot.tasks,
		[S_IN] = j->tot.bytes_in, [S_OUT] = j->tot.bytes_out, [S_WORKERS] = j->tot.workers,
		[S_REPL] = j->tot.replaced, [S_RERUN] = j->tot.reruns, [S_SPLIT] = j->ns_split,
		[S_MAP] = j->ns_map, [S_WAIT] = j->ns_wait, [S_WRITE] = j->ns_write,
		[S_STATUS] = (uint64_t)j->status,
	};
	uint64_t *all = j->rank == 0 ? calloc((size_t)j->size, sizeof(v)) : NULL, sum[S_N] = { 0 };
	double wall = sec(mpi_now_ns() - j->t0);

	if (j->rank == 0 && !all)
		MPI_Abort(MPI_COMM_WORLD, ST_ERROR);	/* a few bytes per rank */
	MPI_Gather(v, S_N, MPI_UINT64_T, all, S_N, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	if (j->rank != 0)
		return;
	for (int r = 0; r < j->size; r++) {
		print_rank(r, all + (size_t)r * S_N);
		for (int k = 0; k < S_N; k++)
			sum[k] += all[(size_t)r * S_N + k];
	}
	fprintf(stderr,
		"rpmap-mpi: total: %d ranks, %llu workers, %llu records (%llu failed) in %llu "
		"tasks, %.1f MB in, %.1f MB out, %.3f s from MPI_Init, %.1f MB/s\n",
		j->size, (unsigned long long)sum[S_WORKERS],
		(unsigned long long)(sum[S_REC] + sum[S_FAIL]), (unsigned long long)sum[S_FAIL],
		(unsigned long long)sum[S_TASKS], sum[S_IN] / 1e6, sum[S_OUT] / 1e6, wall,
		wall > 0 ? sum[S_IN] / 1e6 / wall : 0.0);
	free(all);
}
