/* SPDX-License-Identifier: MIT */
/*
 * rpmap-mpi: rpmap across the ranks of an MPI job. `mpirun -n R rpmap-mpi
 * [OPTIONS] FUNCTION -i FILE [-o OUT]` takes rpmap's command line (parsed
 * by rpmap's own code, before MPI_Init, so a plugin is loaded before any
 * thread exists); each rank maps one range of whole records of FILE with
 * its own ringpool pool into an unlinked temporary file, and the outputs
 * are then written in rank order (emit.c). Open MPI starts threads in
 * MPI_Init, so the workers are exec'd (rpmap's --spawn): they never see
 * MPI. Every rank ends with the job's status, the highest of all ranks'.
 */
#include "rpmap_mpi.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
"Usage: mpirun -n R rpmap-mpi [OPTION]... FUNCTION -i FILE [-o OUT]\n"
"       srun -n R rpmap-mpi [OPTION]... FUNCTION -i FILE [-o OUT]\n"
"rpmap across the ranks of an MPI job: each rank maps one range of whole\n"
"records of FILE with its own worker pool (-j workers per rank), and the\n"
"output is the ranks' outputs in input order, the same bytes as\n"
"`rpmap [OPTION]... FUNCTION -i FILE`.\n"
"\n"
"OPTIONS and FUNCTION are rpmap's (rpmap --help), except:\n"
"  -i FILE      required (or one FILE argument): a regular file every rank\n"
"               can read\n"
"  -o OUT       written as OUT.tmp-<random> in OUT's directory (MPI-IO) and\n"
"               renamed to OUT only if every rank succeeded (with -k: also\n"
"               when records failed and were skipped); without -o the output\n"
"               goes to standard output through rank 0 and mpirun, which does\n"
"               not report its own write errors: use -o for output you keep\n"
"  -j N         workers per rank (default: the CPUs the rank is bound to;\n"
"               unbound, the node's CPUs shared among its ranks)\n"
"  --stats      one line per rank and the total, from rank 0 (no =json)\n"
"  --joblog, --pipe, gunzip and unzstd are not supported\n"
"  workers are always exec'd (--spawn); there is no progress bar\n"
"\n"
"Each rank writes its output to an unlinked file in $TMPDIR (default /tmp)\n"
"first. Exit status (every rank): the highest of the ranks' rpmap statuses.\n";

uint64_t mpi_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wait for req without spinning a CPU (Open MPI's blocking calls poll):
 * a rank that is done early leaves the CPUs to the workers of the others. */
void mpi_wait_idle(MPI_Request *req)
{
	struct timespec ts = { 0, 20000 };
	int done = 0;

	for (;;) {
		MPI_Test(req, &done, MPI_STATUS_IGNORE);
		if (done)
			return;
		nanosleep(&ts, NULL);
		if (ts.tv_nsec < 1000000)
			ts.tv_nsec *= 2;	/* 20 us up to about 1 ms */
	}
}

int mpi_agree(int status)
{
	MPI_Request req;
	int all = 0;

	MPI_Iallreduce(&status, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &req);
	mpi_wait_idle(&req);
	return all;
}

/*
 * The launcher's rank for this process, before MPI_Init; -1 if unknown.
 * A rank counts only with its job size beside it (rank < size, size > 1):
 * a stray variable (SLURM_PROCID in a one-task step, say) must not silence
 * the error messages of a process that runs alone.
 */
static int env_rank(void)
{
	static const char *const vars[][2] = {
		{ "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE" },
		{ "PMI_RANK", "PMI_SIZE" },
		{ "SLURM_PROCID", "SLURM_NTASKS" },
	};

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *r = getenv(vars[i][0]), *n = getenv(vars[i][1]);

		if (r && *r && n && *n && atoi(n) > 1 && atoi(r) >= 0 && atoi(r) < atoi(n))
			return atoi(r);
	}
	return -1;
}

/* --help or --version among the options (before "--"). */
static const char *info_option(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
		    !strcmp(argv[i], "-V") || !strcmp(argv[i], "--version"))
			return argv[i];
	return NULL;
}

/* What rpmap takes and rpmap-mpi does not: several input files or none
 * (standard input), --joblog (every rank would write the same file; it was
 * opened, and so truncated, by the parse), --stats=json. Returns -1 or
 * ST_ERROR (reported). */
static int own_checks(struct mpi_job *j)
{
	const char *why = NULL;

	if (j->cli.npaths != 1 || !strcmp(j->cli.paths[0], "-"))
		why = "one input file is needed (-i FILE, or FILE): every rank maps its own "
		      "range of it";
	else if (j->cli.o.joblog)
		why = "--joblog is not supported (every rank would write the same file)";
	else if (j->cli.o.stats == 2)
		why = "--stats=json is not supported (--stats prints one line per rank)";
	if (j->cli.o.joblog) {
		fclose(j->cli.o.joblog);
		j->cli.o.joblog = NULL;
	}
	if (!why)
		return -1;
	fprintf(stderr, "rpmap-mpi: %s\n", why);
	return ST_ERROR;
}

/*
 * Before MPI_Init, on every rank alike: rpmap's command line and the checks
 * of rpmap-mpi's own. Only the first rank prints (the others' stderr is
 * /dev/null meanwhile), so a usage error is said once. Returns -1 to go
 * on, or the exit status.
 */
static int early(int argc, char **argv, struct mpi_job *j)
{
	const char *info = info_option(argc, argv);
	int quiet = env_rank() > 0 && fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 &&
		    fcntl(2, F_GETFD) >= 0;
	int saved = quiet ? dup(2) : -1, null = saved >= 0 ? open("/dev/null", O_WRONLY) : -1;
	int r = -1;

	if (null >= 0) {
		dup2(null, 2);
		close(null);
	}
	if (info && env_rank() > 0)
		r = 0;
	else if (info && (!strcmp(info, "-h") || !strcmp(info, "--help")))
		r = fputs(usage_text, stdout) < 0 || fflush(stdout) ? ST_ERROR : 0;
	else if (info)
		r = printf("rpmap-mpi (rpmap, ringpool %d.%d)\n", RINGPOOL_VERSION_MAJOR,
			   RINGPOOL_VERSION_MINOR) < 0 || fflush(stdout) ? ST_ERROR : 0;
	if (r < 0)
		r = rpmap_cli_parse(argc, argv, &j->cli);
	if (r < 0)
		r = own_checks(j);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	j->in = r < 0 ? j->cli.paths[0] : NULL;
	j->out = j->cli.outpath && strcmp(j->cli.outpath, "-") ? j->cli.outpath : NULL;
	return r;
}

static void on_fatal_signal(int sig)
{
	mpi_out_abandon();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* After MPI_Init: ranks, the workers per rank, the signals. */
static void setup(struct mpi_job *j)
{
	MPI_Comm node;
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	MPI_Comm_rank(MPI_COMM_WORLD, &j->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &j->size);
	MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, j->rank, MPI_INFO_NULL, &node);
	MPI_Comm_size(node, &j->local);
	MPI_Comm_free(&node);
	/* rpmap's default is the CPUs this process may run on: a rank bound to
	 * some has them; an unbound one shares the node's with its neighbours. */
	if (!j->cli.o.workers_set && j->local > 1 && online > 0 && j->cli.o.workers >= online) {
		j->cli.o.workers /= (unsigned)j->local;
		if (!j->cli.o.workers)
			j->cli.o.workers = 1;
	}
	j->cli.o.spawn = true;		/* MPI_Init started threads: exec, never fork */
	j->cli.o.progress = 0;
	j->stats = j->cli.o.stats;	/* ours (stats.c), not the engine's */
	j->cli.o.stats = false;
	signal(SIGPIPE, SIG_IGN);	/* stdout's reader leaving is EPIPE, for rank 0 */
	if (j->rank == 0 && j->out) {
		signal(SIGTERM, on_fatal_signal);
		signal(SIGINT, on_fatal_signal);
		signal(SIGHUP, on_fatal_signal);
	}
}

/* An unlinked file in $TMPDIR for this rank's output. Returns an fd or -errno. */
static int open_tmp(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd >= 0 ? fd : -errno;
	/* No O_TMPFILE on this filesystem: a named file, unlinked at once. */
	if (snprintf(path, sizeof(path), "%s/rpmap-mpi.XXXXXX", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/*
 * Where this rank's output goes while it maps. Rank 0's place is known
 * before anything is mapped (offset 0 of OUT.tmp-*, or first on stdout), so
 * it writes there directly (j->direct): one copy less, and stdout starts at
 * once. The others write to an unlinked file in $TMPDIR, copied to its
 * place once every earlier rank's size is known. Returns an fd or -errno
 * (reported).
 */
static int open_out(struct mpi_job *j, const char **name)
{
	const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int fd;

	j->direct = j->rank == 0;
	if (!j->direct) {
		*name = "temporary output file";
		fd = open_tmp();
		if (fd < 0)
			fprintf(stderr, "rpmap-mpi: rank %d: a temporary file in %s: %s\n", j->rank,
				dir, strerror(-fd));
		return fd;
	}
	*name = j->out ? j->tmp_path : "standard output";
	if (j->out)
		fd = open(j->tmp_path, O_WRONLY | O_CLOEXEC);	/* MPI_File_open made it */
	else
		fd = fcntl(1, F_DUPFD_CLOEXEC, 3);	/* closed at the end, not stdout */
	if (fd < 0) {
		fd = -errno;
		fprintf(stderr, "rpmap-mpi: %s: %s\n", *name, strerror(-fd));
	}
	return fd;
}

/* Map this rank's range to its output (open_out). Sets j->status. */
static void map_range(struct mpi_job *j)
{
	struct rpmap_range r = { .path = j->in, .off = j->off, .end = j->end, .first = j->first,
				 .max_record = (size_t)j->cli.max_record };
	uint64_t t0 = mpi_now_ns();
	int st;

	j->tmp_fd = open_out(j, &r.out_name);
	if (j->tmp_fd < 0) {
		j->status = ST_ERROR;
		return;
	}
	r.out_fd = j->tmp_fd;
	/* An empty range writes nothing; an empty input gets rpmap's output for
	 * one (gzip: an empty member) from rank 0 alone. */
	if (j->end == j->off && (j->in_size || j->rank))
		return;
	/* gzip --bgzf's end-of-file block ends the whole output: the last range's. */
	j->cli.o.part = j->end < j->in_size;
	st = rpmap_run_range(&j->cli.o, &r, &j->tot);
	/* -EPIPE: rank 0's stdout (quietly, as rpmap); elsewhere it cannot happen. */
	j->status = st == -EPIPE ? (j->direct && !j->out ? ST_EPIPE : ST_ERROR) : st;
	j->ns_map = mpi_now_ns() - t0;
}

/* Every rank's status after mapping: done[r] (rank r completed its range)
 * and the highest. Waits for the slowest rank without spinning. */
static int gather_status(struct mpi_job *j, unsigned char *done)
{
	int *all = calloc((size_t)j->size, sizeof(*all)), worst = 0;
	uint64_t t0 = mpi_now_ns();
	MPI_Request req;

	if (!all)
		MPI_Abort(MPI_COMM_WORLD, ST_ERROR);
	MPI_Iallgather(&j->status, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD, &req);
	mpi_wait_idle(&req);
	j->ns_wait = mpi_now_ns() - t0;
	for (int r = 0; r < j->size; r++) {
		done[r] = all[r] == ST_OK || (all[r] == ST_FAILED && j->cli.o.keep_going);
		if (all[r] > worst)
			worst = all[r];
	}
	free(all);
	return worst;
}

int main(int argc, char **argv)
{
	struct mpi_job j = { .tmp_fd = -1 };
	unsigned char *done;
	int st, est = 0;

	st = early(argc, argv, &j);
	if (st > 0 && env_rank() > 0)
		/* Only the first rank says what is wrong; a quiet rank that
		 * exits at once can make mpirun end the job before the first
		 * has written it (seen in a loaded test run). Bounded. */
		usleep(500000);
	if (st >= 0)
		return st;
	MPI_Init(&argc, &argv);
	j.t0 = mpi_now_ns();
	setup(&j);
	done = calloc((size_t)j.size, 1);
	if (!done)
		MPI_Abort(MPI_COMM_WORLD, ST_ERROR);
	st = mpi_out_open(&j);
	if (!st)
		st = mpi_ranges(&j);
	if (!st) {
		map_range(&j);
		st = gather_status(&j, done);
		est = mpi_emit(&j, done, st == 0 || (st == ST_FAILED && j.cli.o.keep_going));
	} else if (j.fh_open) {
		mpi_emit(&j, done, false);	/* removes OUT.tmp-* */
	}
	if (j.stats)
		mpi_stats(&j);
	if (j.tmp_fd >= 0)
		close(j.tmp_fd);
	free(done);
	MPI_Finalize();
	return est > st ? est : st;
}
