/* SPDX-License-Identifier: MIT */
/*
 * rpmap-mpi: rpmap's engine as the per-node stage of an MPI job. One job
 * state per rank, and the stages it goes through: ranges.c splits the
 * input into one range of whole records per rank and numbers them;
 * main.c maps this rank's range into a temporary file (rpmaplib.h);
 * emit.c writes the ranks' outputs in rank order (MPI-IO into OUT.tmp-*,
 * renamed only when every rank succeeded, or to stdout through rank 0);
 * stats.c gathers --stats. The stages run one way: main -> ranges, emit,
 * stats; none of them calls back into main.
 */
#ifndef RPMAP_MPI_H
#define RPMAP_MPI_H

#include <limits.h>
#include <mpi.h>
#include <stdint.h>

#include "rpmaplib.h"

/* Exit statuses, as rpmap's; the job's is the highest of its ranks'. */
#define ST_OK		0
#define ST_FAILED	1	/* records failed (with -k: skipped, output complete) */
#define ST_ERROR	2	/* usage, I/O, setup; or another rank's failure */
#define ST_EPIPE	141	/* stdout's reader went away */

struct mpi_job {
	int rank, size;		/* in MPI_COMM_WORLD */
	int local;		/* ranks on this node */
	struct rpmap_cli cli;	/* rpmap's command line */
	const char *in;		/* -i FILE: every rank maps its range of it */
	const char *out;	/* -o OUT, or NULL: stdout through rank 0 */
	char out_path[PATH_MAX];	/* OUT, symlinks resolved (rank 0) */
	char tmp_path[PATH_MAX];	/* OUT.tmp-<random> in OUT's directory */
	MPI_File fh;		/* tmp_path, open on every rank */
	bool fh_open;
	uint64_t in_size;	/* the input's size (rank 0's fstat, for all) */
	uint64_t off, end;	/* this rank's range of the input */
	uint64_t first;		/* index of its first record */
	int tmp_fd;		/* its output (an unlinked file), -1 before */
	bool direct;		/* rank 0: tmp_fd is its place (OUT.tmp-* or stdout) */
	int status;		/* its status (ST_*) */
	bool stats;		/* --stats */
	struct rpmap_totals tot;
	uint64_t out_off;	/* where its output goes in OUT */
	uint64_t t0;		/* MPI_Init returned */
	uint64_t ns_split, ns_map, ns_wait, ns_write;	/* --stats */
};

/* Monotonic nanoseconds. */
uint64_t mpi_now_ns(void);

/* Wait for req to complete, sleeping between tests (Open MPI's blocking
 * calls poll a CPU): a rank done early leaves the CPUs to the others. */
void mpi_wait_idle(MPI_Request *req);

/* The highest status of all ranks (MPI_Allreduce). Collective. */
int mpi_agree(int status);

/* ---- ranges.c ---- */

/*
 * Set j->in_size, j->off, j->end (this rank's range of whole records,
 * rpmap_range_boundary) and j->first (records before it: MPI_Exscan of
 * every range's count). Collective. Returns the job's status: 0, or 2 if
 * any rank failed (each rank reports its own error).
 */
int mpi_ranges(struct mpi_job *j);

/* ---- emit.c ---- */

/* -o: rank 0 checks OUT and picks OUT.tmp-<random>; every rank opens it
 * (MPI_File_open). Collective. Returns the job's status (0 or 2). */
int mpi_out_open(struct mpi_job *j);

/*
 * Write the ranks' outputs in rank order, now that every rank has mapped
 * its range and `ok` says that all of them completed it: -o: each at its
 * offset (MPI_Exscan of the sizes) with MPI-IO, then OUT.tmp-* is renamed
 * to OUT by rank 0 if every write worked, or removed (also when !ok);
 * stdout: rank 0 writes its own and then each rank's in turn, up to and
 * including the first rank that did not complete (rpmap's prefix).
 * `done[r]`: whether rank r completed its range. Collective. Returns the
 * job's status (the emit's own: 0, 2, or ST_EPIPE).
 */
int mpi_emit(struct mpi_job *j, const unsigned char *done, bool ok);

/* A signal ends rank 0: remove OUT.tmp-* (async-signal-safe). */
void mpi_out_abandon(void);

/* ---- stats.c ---- */

/* --stats: every rank's line and the total, printed by rank 0. Collective. */
void mpi_stats(const struct mpi_job *j);

#endif
