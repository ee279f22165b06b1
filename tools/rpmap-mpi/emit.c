/* SPDX-License-Identifier: MIT */
/*
 * The ranks' outputs, in rank order. Rank 0's is in place already (main.c:
 * it wrote at offset 0 of OUT.tmp-*, or to stdout, while mapping); each
 * other rank's is in its own temporary file, so memory stays at one 4 MiB
 * buffer per rank.
 * With -o OUT: MPI_Exscan of the sizes gives each rank its offset, each
 * other rank writes its bytes there with MPI_File_write_at into
 * OUT.tmp-<random> (in OUT's directory, so the rename stays on one
 * filesystem), the file is synced and closed, and rank 0 renames it to OUT
 * only if every rank wrote all of its bytes and the file has the sum of the
 * sizes; else it is removed. OUT never looks complete when it is not.
 * Without -o: rank 0 asks each rank in turn for its output, one chunk per
 * request (a request at a time bounds what is in flight), up to and
 * including the first rank that did not complete its range: what
 * single-node rpmap writes before its first failure.
 */
#include "rpmap_mpi.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK		(4u << 20)
#define TAG_TOKEN	1	/* rank 0 -> rank r: int, GO or STOP */
#define TAG_DATA	2	/* rank r -> rank 0: a chunk; 0 bytes: the end */
#define TAG_ERR		3	/* rank r -> rank 0: it could not read its output */
enum { STOP = 0, GO = 1 };

/* Rank 0, with -o: the name to remove if a signal ends it. */
static char abandon_path[PATH_MAX];
static volatile sig_atomic_t abandon_armed;
static mode_t out_mode;

void mpi_out_abandon(void)
{
	if (abandon_armed)
		unlink(abandon_path);
}

static void mpi_error(const struct mpi_job *j, const char *what, int rc)
{
	char s[MPI_MAX_ERROR_STRING];
	int n = 0;

	if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS)
		snprintf(s, sizeof(s), "MPI error %d", rc);
	fprintf(stderr, "rpmap-mpi: rank %d: %s: %s\n", j->rank, what, s);
}

/* Whether a and b are the same file. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Rank 0: check OUT, resolve a symlink, choose OUT.tmp-<random> and the
 * mode OUT will have. Returns 0 or 2 (reported). */
static int pick_tmp(struct mpi_job *j)
{
	struct stat ost, ist;
	char dir[PATH_MAX];
	uint32_t rnd = 0;
	mode_t mask;

	if (lstat(j->out, &ost) == 0 && S_ISLNK(ost.st_mode) && !realpath(j->out, j->out_path)) {
		fprintf(stderr, "rpmap-mpi: %s: %s\n", j->out, strerror(errno));
		return ST_ERROR;
	}
	if (!(lstat(j->out, &ost) == 0 && S_ISLNK(ost.st_mode)))
		snprintf(j->out_path, sizeof(j->out_path), "%s", j->out);
	mask = umask(0);
	umask(mask);
	out_mode = 0666 & ~mask;
	if (stat(j->out_path, &ost) == 0) {
		if (!S_ISREG(ost.st_mode)) {
			fprintf(stderr, "rpmap-mpi: %s: not a regular file (OUT is written as "
					"OUT.tmp-* and renamed; without -o the output goes to "
					"standard output)\n", j->out);
			return ST_ERROR;
		}
		if (stat(j->in, &ist) == 0 && same_file(&ist, &ost)) {
			fprintf(stderr, "rpmap-mpi: %s: input file is output file\n", j->out);
			return ST_ERROR;
		}
		out_mode = ost.st_mode & 07777;
	}
	snprintf(dir, sizeof(dir), "%s", j->out_path);
	if (access(dirname(dir), W_OK | X_OK) < 0) {
		fprintf(stderr, "rpmap-mpi: %s: %s\n", dir, strerror(errno));
		return ST_ERROR;
	}
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint32_t)getpid() ^ (uint32_t)mpi_now_ns();
	if (snprintf(j->tmp_path, sizeof(j->tmp_path), "%s.tmp-%08x", j->out_path, rnd) >=
	    (int)sizeof(j->tmp_path)) {
		fprintf(stderr, "rpmap-mpi: %s: %s\n", j->out, strerror(ENAMETOOLONG));
		return ST_ERROR;
	}
	return ST_OK;
}

/* Rank 0, without -o: stdout must not be the input (as rpmap checks). */
static int check_stdout(const struct mpi_job *j)
{
	struct stat ist, ost;

	if (fstat(1, &ost) == 0 && S_ISREG(ost.st_mode) && stat(j->in, &ist) == 0 &&
	    same_file(&ist, &ost)) {
		fprintf(stderr, "rpmap-mpi: standard output: input file is output file\n");
		return ST_ERROR;
	}
	return ST_OK;
}

int mpi_out_open(struct mpi_job *j)
{
	int st = ST_OK, rc, ok, nok = 0;

	if (!j->out)
		return mpi_agree(j->rank == 0 ? check_stdout(j) : ST_OK);
	if (j->rank == 0)
		st = pick_tmp(j);
	MPI_Bcast(j->tmp_path, sizeof(j->tmp_path), MPI_CHAR, 0, MPI_COMM_WORLD);
	st = mpi_agree(st);
	if (st)
		return st;
	rc = MPI_File_open(MPI_COMM_WORLD, j->tmp_path,
			   MPI_MODE_CREATE | MPI_MODE_EXCL | MPI_MODE_WRONLY, MPI_INFO_NULL, &j->fh);
	ok = rc == MPI_SUCCESS;
	if (j->rank == 0 && ok) {
		snprintf(abandon_path, sizeof(abandon_path), "%s", j->tmp_path);
		abandon_armed = 1;
	}
	MPI_Allreduce(&ok, &nok, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (nok == j->size) {
		j->fh_open = true;
		return ST_OK;
	}
	if (!ok)
		mpi_error(j, j->tmp_path, rc);
	if (nok) {
		/* Open on some ranks only: no collective close can follow. */
		mpi_out_abandon();
		MPI_Abort(MPI_COMM_WORLD, ST_ERROR);
	}
	return ST_ERROR;
}

/* pread all of n bytes at off. Returns 0, or -errno (-ENODATA: short). */
static int read_tmp(int fd, char *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ENODATA;
		got += (size_t)r;
	}
	return 0;
}

/* All n bytes of buf at off in OUT.tmp-*: a short count is written on from
 * where it stopped (as write(2) callers do), so a full filesystem shows as
 * MPI's error for the next write, not as a bare count. Returns 0 or 2. */
static int put_at(struct mpi_job *j, const char *buf, size_t n, uint64_t off)
{
	for (size_t done = 0; done < n;) {
		MPI_Status ms;
		int cnt = 0, rc = MPI_File_write_at(j->fh, (MPI_Offset)(off + done), buf + done,
						    (int)(n - done), MPI_BYTE, &ms);

		if (rc != MPI_SUCCESS) {
			mpi_error(j, j->tmp_path, rc);
			return ST_ERROR;
		}
		MPI_Get_count(&ms, MPI_BYTE, &cnt);
		if (cnt <= 0) {
			fprintf(stderr, "rpmap-mpi: rank %d: %s: no byte written at offset %llu "
					"(%zu to go)\n", j->rank, j->tmp_path,
				(unsigned long long)(off + done), n - done);
			return ST_ERROR;
		}
		done += (size_t)cnt;
	}
	return ST_OK;
}

/* This rank's `size` bytes at j->out_off in OUT.tmp-*. Returns 0 or 2. */
static int write_at(struct mpi_job *j, char *buf, uint64_t size)
{
	for (uint64_t pos = 0; pos < size;) {
		size_t n = size - pos < CHUNK ? (size_t)(size - pos) : CHUNK;
		int r = read_tmp(j->tmp_fd, buf, n, pos);

		if (r) {
			fprintf(stderr, "rpmap-mpi: rank %d: temporary output file: %s\n", j->rank,
				strerror(-r));
			return ST_ERROR;
		}
		if (put_at(j, buf, n, j->out_off + pos))
			return ST_ERROR;
		pos += n;
	}
	return ST_OK;
}

/* Rank 0: OUT.tmp-* becomes OUT if st is 0 and it holds `total` bytes;
 * else it is removed. Returns the status. */
static int finish_file(struct mpi_job *j, int st, uint64_t total)
{
	struct stat sb;

	abandon_armed = 0;
	if (!st && stat(j->tmp_path, &sb) < 0) {
		fprintf(stderr, "rpmap-mpi: %s: %s\n", j->tmp_path, strerror(errno));
		st = ST_ERROR;
	} else if (!st && (uint64_t)sb.st_size != total) {
		fprintf(stderr, "rpmap-mpi: %s: %llu bytes written, %llu expected\n", j->tmp_path,
			(unsigned long long)sb.st_size, (unsigned long long)total);
		st = ST_ERROR;
	}
	if (!st && (chmod(j->tmp_path, out_mode) < 0 || rename(j->tmp_path, j->out_path) < 0)) {
		fprintf(stderr, "rpmap-mpi: %s: %s\n", j->out_path, strerror(errno));
		st = ST_ERROR;
	}
	if (st && unlink(j->tmp_path) < 0 && errno != ENOENT)
		fprintf(stderr, "rpmap-mpi: %s: cannot remove it: %s\n", j->tmp_path,
			strerror(errno));
	return st;
}

/* -o: see the file comment. Returns the status (when !ok: 0, the file
 * removed, the job's status being already a failure). */
static int emit_file(struct mpi_job *j, bool ok)
{
	uint64_t size = 0, total = 0;
	struct stat sb;
	char *buf = ok ? malloc(CHUNK) : NULL;
	int st = ST_OK, rc;

	if (ok) {
		if (!buf || (j->direct ? fsync(j->tmp_fd) : fstat(j->tmp_fd, &sb)) < 0) {
			fprintf(stderr, "rpmap-mpi: rank %d: %s: %s\n", j->rank,
				j->direct ? j->tmp_path : "temporary output file", strerror(errno));
			st = ST_ERROR;
		}
		/* Rank 0 wrote in place from offset 0 (j->direct): its size is
		 * where its fd stands; it alone has written to OUT.tmp-* so far. */
		size = st ? 0 : j->direct ? (uint64_t)lseek(j->tmp_fd, 0, SEEK_CUR)
					  : (uint64_t)sb.st_size;
		MPI_Exscan(&size, &j->out_off, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
		if (j->rank == 0)
			j->out_off = 0;	/* rank 0's result is undefined */
		MPI_Allreduce(&size, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
		if (!st && !j->direct)
			st = write_at(j, buf, size);
		rc = MPI_File_sync(j->fh);	/* collective; before OUT can appear */
		if (rc != MPI_SUCCESS && !st) {
			mpi_error(j, j->tmp_path, rc);
			st = ST_ERROR;
		}
	}
	free(buf);
	rc = MPI_File_close(&j->fh);
	j->fh_open = false;
	if (rc != MPI_SUCCESS && !st) {
		mpi_error(j, j->tmp_path, rc);
		st = ST_ERROR;
	}
	st = mpi_agree(ok ? st : ST_ERROR);
	if (j->rank == 0)
		st = finish_file(j, st, total);
	MPI_Bcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD);
	return ok ? st : ST_OK;
}

/* Rank 0: what a write to stdout returned (r) becomes *st, once. */
static void out_status(int r, int *st)
{
	if (*st)
		return;
	if (r == -EPIPE) {
		*st = ST_EPIPE;	/* quietly, as rpmap */
	} else if (r) {
		fprintf(stderr, "rpmap-mpi: standard output: %s\n", strerror(-r));
		*st = ST_ERROR;
	}
}

/* Rank 0: write `n` bytes; a failure stops the stream (*st set). */
static void put(struct rpmap_output *o, const char *p, size_t n, int *st)
{
	if (!*st)
		out_status(rpmap_output_write(o, p, n), st);
}

/* Rank 0: rank r's output, chunk by chunk, each asked for with GO. */
static void relay(struct rpmap_output *o, char *buf, int r, int *st)
{
	int token = GO, n = 0;
	MPI_Status ms;

	while (!*st) {
		MPI_Send(&token, 1, MPI_INT, r, TAG_TOKEN, MPI_COMM_WORLD);
		MPI_Recv(buf, CHUNK, MPI_BYTE, r, MPI_ANY_TAG, MPI_COMM_WORLD, &ms);
		if (ms.MPI_TAG == TAG_ERR) {
			*st = ST_ERROR;	/* rank r said why */
			return;
		}
		MPI_Get_count(&ms, MPI_BYTE, &n);
		if (n <= 0)
			return;
		put(o, buf, (size_t)n, st);
	}
	token = STOP;	/* stdout failed mid-way: r waits for a word */
	MPI_Send(&token, 1, MPI_INT, r, TAG_TOKEN, MPI_COMM_WORLD);
}

/* Rank 0: its own output, then ranks 1 .. last in turn; STOP to the rest. */
static int stdout_root(struct mpi_job *j, char *buf, int last)
{
	struct rpmap_output o;
	/* Its own output is on stdout already (j->direct), unless it had none. */
	uint64_t size = j->direct ? 0 : (uint64_t)lseek(j->tmp_fd, 0, SEEK_END);
	int st = rpmap_output_fd(&o, 1, "standard output") ? ST_ERROR : ST_OK, r;

	for (uint64_t pos = 0; !st && pos < size;) {
		size_t n = size - pos < CHUNK ? (size_t)(size - pos) : CHUNK;

		r = read_tmp(j->tmp_fd, buf, n, pos);
		if (r) {
			fprintf(stderr, "rpmap-mpi: rank 0: temporary output file: %s\n",
				strerror(-r));
			st = ST_ERROR;
		}
		put(&o, buf, n, &st);
		pos += n;
	}
	for (r = 1; r < j->size; r++) {
		int token = STOP;

		if (!st && r <= last)
			relay(&o, buf, r, &st);
		else
			MPI_Send(&token, 1, MPI_INT, r, TAG_TOKEN, MPI_COMM_WORLD);
	}
	if (!st)
		out_status(rpmap_output_flush(&o), &st);
	free(o.buf);
	return st;
}

/* Rank r > 0: a chunk of its output for each GO, until STOP or its end. */
static int stdout_leaf(struct mpi_job *j, char *buf)
{
	uint64_t size = (uint64_t)lseek(j->tmp_fd, 0, SEEK_END), pos = 0;
	MPI_Request req;
	int token, r;

	for (;;) {
		MPI_Irecv(&token, 1, MPI_INT, 0, TAG_TOKEN, MPI_COMM_WORLD, &req);
		mpi_wait_idle(&req);	/* maybe long: the ranks before it first */
		if (token == STOP)
			return ST_OK;
		size_t n = size - pos < CHUNK ? (size_t)(size - pos) : CHUNK;

		r = read_tmp(j->tmp_fd, buf, n, pos);
		if (r) {
			fprintf(stderr, "rpmap-mpi: rank %d: temporary output file: %s\n", j->rank,
				strerror(-r));
			MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_ERR, MPI_COMM_WORLD);
			return ST_ERROR;
		}
		MPI_Send(buf, (int)n, MPI_BYTE, 0, TAG_DATA, MPI_COMM_WORLD);
		if (n == 0)
			return ST_OK;
		pos += n;
	}
}

/* No -o: see the file comment. Returns rank 0's status, on every rank. */
static int emit_stdout(struct mpi_job *j, const unsigned char *done)
{
	char *buf = malloc(CHUNK);
	int last = j->size - 1, st;
	MPI_Request req;

	if (!buf)
		MPI_Abort(MPI_COMM_WORLD, ST_ERROR);
	for (int r = 0; r < j->size; r++)
		if (!done[r]) {
			last = r;	/* its prefix is the last output */
			break;
		}
	st = j->rank == 0 ? stdout_root(j, buf, last) : stdout_leaf(j, buf);
	free(buf);
	MPI_Ibcast(&st, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
	mpi_wait_idle(&req);
	return st;
}

int mpi_emit(struct mpi_job *j, const unsigned char *done, bool ok)
{
	uint64_t t0 = mpi_now_ns();
	int st = j->out ? emit_file(j, ok) : emit_stdout(j, done);

	j->ns_write = mpi_now_ns() - t0;
	return st;
}
