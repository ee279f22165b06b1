/* SPDX-License-Identifier: MIT */
/*
 * One range of whole records per rank. Rank r's nominal range is bytes
 * [S*r/R, S*(r+1)/R) of the input (S: its size on rank 0); each rank moves
 * its end to the record boundary at or after it (rpmap_range_boundary: the
 * end of the record holding the byte before it; fixed blocks: down to a
 * multiple of the block) and takes its start from its neighbour's end
 * (MPI_Allgather), so every boundary is found once and ranges never
 * overlap. A record longer than a range leaves empty the ranges it covers.
 * Then every rank counts its records and MPI_Exscan gives each the index
 * of its first one (plugins' t->seq, failure messages): one more read of
 * the range, which the mapping then finds in the page cache.
 */
#include "rpmap_mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open the input and check it. Returns 0 or 2 (reported). */
static int open_input(struct mpi_job *j, int *fd, uint64_t *size)
{
	struct stat st;

	*fd = open(j->in, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		fprintf(stderr, "rpmap-mpi: rank %d: %s: %s\n", j->rank, j->in, strerror(errno));
		return ST_ERROR;
	}
	if (!S_ISREG(st.st_mode)) {
		if (j->rank == 0)	/* the same on every rank: said once */
			fprintf(stderr, "rpmap-mpi: %s: not a regular file (every rank maps its "
					"own range of the input)\n", j->in);
		return ST_ERROR;
	}
	*size = (uint64_t)st.st_size;
	return ST_OK;
}

/* S * num / den without overflow (num <= den). */
static uint64_t share(uint64_t s, uint64_t num, uint64_t den)
{
	return s / den * num + s % den * num / den;
}

/* This rank's end, and its start from its neighbour's end. Returns 0 or 2
 * (reported); collective (the Allgather runs whatever this rank found). */
static int find_range(struct mpi_job *j, int fd)
{
	uint64_t p = share(j->in_size, (uint64_t)j->rank + 1, (uint64_t)j->size), end = 0;
	uint64_t *ends = malloc((size_t)j->size * sizeof(*ends));
	int st = ST_OK, r;

	r = rpmap_range_boundary(fd, j->in_size, p, j->cli.max_record, &end);
	if (r == -E2BIG)
		fprintf(stderr, "rpmap: %s: record at input byte %llu or before is longer than "
				"--max-record (%llu bytes)\n",
			j->in, (unsigned long long)(p - 1), (unsigned long long)j->cli.max_record);
	else if (r)
		fprintf(stderr, "rpmap-mpi: rank %d: %s: %s\n", j->rank, j->in,
			r == -ENODATA ? "input shrank while being read" : strerror(-r));
	if (r)
		st = ST_ERROR;
	if (!ends)
		MPI_Abort(MPI_COMM_WORLD, ST_ERROR);	/* a few bytes per rank */
	MPI_Allgather(&end, 1, MPI_UINT64_T, ends, 1, MPI_UINT64_T, MPI_COMM_WORLD);
	j->off = j->rank ? ends[j->rank - 1] : 0;
	j->end = end;
	free(ends);
	if (!st && j->off > j->end) {
		/* Cannot happen: boundaries grow with p. Say so rather than overlap. */
		fprintf(stderr, "rpmap-mpi: rank %d: range [%llu, %llu) out of order\n", j->rank,
			(unsigned long long)j->off, (unsigned long long)j->end);
		st = ST_ERROR;
	}
	return st;
}

/*
 * The record kinds whose boundaries and counts rpmap_range_boundary and
 * rpmap_range_count know. Any other (a kind added to rpmap later: whole
 * compressed members, --pipe chunks) is refused until they learn it, rather
 * than split blindly. The same on every rank: rank 0 says it.
 */
static int check_mode(const struct mpi_job *j)
{
	if (rpmap_fn.mode == RPMAP_LINES || rpmap_fn.mode == RPMAP_NUL ||
	    rpmap_fn.mode == RPMAP_BLOCK)
		return ST_OK;
	if (j->rank == 0)
		fprintf(stderr, "rpmap-mpi: this function's records cannot be split across "
				"ranks yet (only lines, NUL records and fixed blocks)\n");
	return ST_ERROR;
}

int mpi_ranges(struct mpi_job *j)
{
	uint64_t t0 = mpi_now_ns(), size = 0, n = 0, first = 0;
	int fd = -1, st, r;

	if (check_mode(j))
		return ST_ERROR;	/* the same on every rank: no collective needed */
	st = mpi_agree(open_input(j, &fd, &size));
	if (st)
		goto out;
	/* Rank 0's size for all: a file still growing is read to the same end. */
	j->in_size = size;
	MPI_Bcast(&j->in_size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	if (size < j->in_size) {
		fprintf(stderr, "rpmap-mpi: rank %d: %s has %llu bytes here, %llu on rank 0\n",
			j->rank, j->in, (unsigned long long)size, (unsigned long long)j->in_size);
		st = ST_ERROR;
	}
	st = mpi_agree(st);
	if (!st)
		st = mpi_agree(find_range(j, fd));
	if (st)
		goto out;
	r = j->end > j->off ? rpmap_range_count(fd, j->off, j->end, &n) : 0;
	if (r) {
		fprintf(stderr, "rpmap-mpi: rank %d: %s: %s\n", j->rank, j->in,
			r == -ENODATA ? "input shrank while being read" : strerror(-r));
		st = ST_ERROR;
	}
	MPI_Exscan(&n, &first, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
	j->first = j->rank ? first : 0;	/* rank 0's result is undefined */
	st = mpi_agree(st);
out:
	if (fd >= 0)
		close(fd);
	j->ns_split = mpi_now_ns() - t0;
	return st;
}
