/* SPDX-License-Identifier: MIT */
/*
 * rpmap as a library (the static library rpmap_core, which rpmap and
 * rpmap-mpi link): the command line, parsed as rpmap parses it, and the
 * engine run over a byte range [off, end) of a regular file with its output
 * going to an fd. A range runner (rpmap-mpi: one range per MPI rank) finds
 * record boundaries with rpmap_range_boundary, numbers the records with
 * rpmap_range_count and runs each range with rpmap_run_range.
 */
#ifndef RPMAP_LIB_H
#define RPMAP_LIB_H

#include "rpmap.h"

/* ---- the command line (main.c) ---- */

/* What the command line asks for, besides the run's settings (rpmap_fn). */
struct rpmap_cli {
	struct rpmap_opts o;
	const char *inpath, *outpath;
	const char *const *paths;	/* the input files (-i, FILE..., or "-") */
	unsigned npaths;
	uint64_t max_record;
	bool mode_set;		/* a record option was given */
	bool force;		/* -f: compressed output to a terminal too */
	const char *pipe;	/* --pipe CMD */
	unsigned closed;	/* standard fds closed at start (bit n: fd n) */
};

/*
 * Hold the standard fds that are closed (first, before anything opens an
 * fd), then parse argv into *c and rpmap_fn and load the function (a
 * plugin is dlopen'd here). Returns -1 to go on, or the exit status after
 * --help, --version or an error (reported); usage errors exit 2 at once.
 */
int rpmap_cli_parse(int argc, char **argv, struct rpmap_cli *c);

/* rpmap's main(): parse, open, run, close. Returns the exit status. */
int rpmap_main(int argc, char **argv);

/* ---- a run and its totals (engine.c) ---- */

struct rpmap_totals {
	uint64_t records;	/* records written */
	uint64_t failed;	/* records that failed (reported) */
	uint64_t tasks;
	uint64_t bytes_in;	/* input bytes done */
	uint64_t bytes_out;	/* output bytes handed to the kernel */
	uint64_t ns;		/* wall-clock time of the run */
	uint64_t replaced;	/* workers replaced (crashes, limits, deadlines) */
	uint64_t reruns;	/* tasks run again to recover */
	unsigned workers;	/* the main pool's workers */
};

/* rpmap_run, filling *t (if not NULL) when it ends. Same returns. */
int rpmap_run_totals(const struct rpmap_opts *o, struct rpmap_input *in,
		     struct rpmap_output *out, struct rpmap_totals *t);

/* ---- a byte range of a regular file (range.c, input.c, output.c) ---- */

/*
 * Open bytes [off, end) of the regular file at path as the input; its
 * first record has index `first` (what plugins see as t->seq, and what
 * failure messages name). The range must start and end on record
 * boundaries (rpmap_range_boundary); a range is mapped whole, never read().
 * Returns 0, -EINVAL (not a regular file, or end beyond its size, or
 * off > end), or another -errno (nothing left open).
 */
int rpmap_input_open_range(struct rpmap_input *in, const char *path, size_t max_record,
			   uint64_t off, uint64_t end, uint64_t first);

/* Write to fd (not closed by rpmap_output_close if <= 2; the caller keeps
 * it: call rpmap_output_flush, then free o->buf). Returns 0 or -ENOMEM. */
int rpmap_output_fd(struct rpmap_output *o, int fd, const char *name);

/*
 * Where the record holding byte p - 1 of the file (fd, `size` bytes) ends:
 * the first record boundary at or after p; 0 for p 0, size for p >= size.
 * Lines and NUL records: one past the first separator at or after p - 1,
 * read with pread; fixed blocks: p rounded down to the block size. So each
 * record belongs to the range its first byte is in, and a record longer
 * than a range leaves the ranges it covers empty. Returns 0 and sets *at,
 * -E2BIG if no separator is found within max_record + 1 bytes (that
 * record is longer than --max-record), -ENODATA if the file is shorter
 * than size now, or -errno from pread. O(the record).
 */
int rpmap_range_boundary(int fd, uint64_t size, uint64_t p, uint64_t max_record, uint64_t *at);

/*
 * Records in [off, end) of the file (fd), which ends on a record boundary
 * or at the file's end: separators, plus one for an unterminated last
 * record; fixed blocks: ceil((end - off) / block). Returns 0 and sets *n,
 * or -errno from pread. Reads the range once (1 MiB at a time).
 */
int rpmap_range_count(int fd, uint64_t off, uint64_t end, uint64_t *n);

/* One range's run, for rpmap_run_range. */
struct rpmap_range {
	const char *path;	/* a regular file */
	uint64_t off, end;	/* its bytes [off, end), on record boundaries */
	uint64_t first;		/* index of the record at off */
	size_t max_record;	/* --max-record */
	int out_fd;		/* where the output goes (not closed) */
	const char *out_name;	/* for messages */
};

/*
 * Map the records of range r with o's settings (rpmap_fn, set by
 * rpmap_cli_parse) to r->out_fd, in order; *t (if not NULL) gets the
 * totals. The engine starts its pool even for an empty range, and gzip
 * then writes one empty member, as rpmap does for an empty input: a caller
 * splitting a non-empty input skips its empty ranges. Returns rpmap_run's
 * statuses (0, 1, 2, 130, -EPIPE); an error opening the range is reported
 * and returns 2.
 */
int rpmap_run_range(const struct rpmap_opts *o, const struct rpmap_range *r,
		    struct rpmap_totals *t);

#endif
