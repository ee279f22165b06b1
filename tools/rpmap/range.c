/* SPDX-License-Identifier: MIT */
/*
 * A byte range of a regular file as rpmap's whole input (rpmaplib.h): where
 * a range boundary falls so that every record is in exactly one range, how
 * many records a range holds (so the next range's records are numbered on
 * from them), a range opened as the input, and the engine's run over one
 * range with its output to an fd.
 * Nothing here knows how the ranges are shared out (rpmap-mpi does that).
 */
#include "rpmaplib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCAN_BYTES	(64u << 10)	/* boundary search: one pread */
#define COUNT_BYTES	(1u << 20)	/* record count: one pread */

/* pread all of n bytes at off unless the file ends first. Returns the
 * bytes read or -errno. */
static ssize_t pread_full(int fd, char *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int rpmap_range_boundary(int fd, uint64_t size, uint64_t p, uint64_t max_record, uint64_t *at)
{
	char buf[SCAN_BYTES];
	uint64_t q, scanned = 0;

	if (p == 0 || p >= size) {
		*at = p == 0 ? 0 : size;
		return 0;
	}
	if (rpmap_fn.mode == RPMAP_BLOCK) {
		*at = p - p % rpmap_fn.block;
		return 0;
	}
	for (q = p - 1; q < size; ) {
		size_t want = size - q < sizeof(buf) ? (size_t)(size - q) : sizeof(buf);
		ssize_t n = scanned > max_record ? -E2BIG : pread_full(fd, buf, want, q);
		const char *sep;

		if (n <= 0)
			return n ? (int)n : -ENODATA;	/* 0: the file shrank */
		sep = memchr(buf, rpmap_fn.sep, (size_t)n);
		if (sep) {
			*at = q + (uint64_t)(sep - buf) + 1;
			return 0;
		}
		q += (uint64_t)n;
		scanned += (uint64_t)n;
	}
	*at = size;
	return 0;
}

/* Separators in buf[0..n): a loop the compiler vectorises. */
static uint64_t count_sep(const unsigned char *buf, size_t n, unsigned char sep)
{
	uint64_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += buf[i] == sep;
	return k;
}

int rpmap_range_count(int fd, uint64_t off, uint64_t end, uint64_t *n)
{
	unsigned char *buf, last = (unsigned char)rpmap_fn.sep;
	uint64_t k = 0;

	if (rpmap_fn.mode == RPMAP_BLOCK) {
		*n = (end - off + rpmap_fn.block - 1) / rpmap_fn.block;
		return 0;
	}
	buf = malloc(COUNT_BYTES);
	if (!buf)
		return -ENOMEM;
	while (off < end) {
		size_t want = end - off < COUNT_BYTES ? (size_t)(end - off) : COUNT_BYTES;
		ssize_t got = pread_full(fd, (char *)buf, want, off);

		if (got <= 0) {
			free(buf);
			return got < 0 ? (int)got : -ENODATA;	/* the file shrank */
		}
		k += count_sep(buf, (size_t)got, (unsigned char)rpmap_fn.sep);
		last = buf[got - 1];
		off += (uint64_t)got;
	}
	free(buf);
	*n = k + (last != (unsigned char)rpmap_fn.sep);
	return 0;
}

int rpmap_input_open_range(struct rpmap_input *in, const char *path, size_t max_record,
			   uint64_t off, uint64_t end, uint64_t first)
{
	struct stat st;
	int err = -EINVAL;

	memset(in, 0, sizeof(*in));
	in->read_size = 1u << 20;
	in->max_record = max_record;
	in->name = path;
	in->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (in->fd < 0)
		return -errno;
	if (fstat(in->fd, &st) < 0)
		err = -errno;
	else if (S_ISREG(st.st_mode) && off <= end && end <= (uint64_t)st.st_size)
		err = 0;
	if (!err) {
		in->id = (struct rpmap_file_id){ .known = true, .dev = (uint64_t)st.st_dev,
						 .ino = (uint64_t)st.st_ino };
		rpmap_input_regular(in, off, end - off, true);
	}
	/* Mapped, or empty: a read() would run on past the range's end. */
	if (!err && end > off && !in->mapped)
		err = -ENOMEM;
	if (err) {
		close(in->fd);
		return err;
	}
	in->eof = true;
	in->next_index = first;
	return 0;
}

int rpmap_run_range(const struct rpmap_opts *o, const struct rpmap_range *r,
		    struct rpmap_totals *t)
{
	struct rpmap_input in;
	struct rpmap_output out;
	int st, err;

	err = rpmap_input_open_range(&in, r->path, r->max_record, r->off, r->end, r->first);
	if (err) {
		fprintf(stderr, "rpmap: %s: bytes %llu to %llu: %s\n", r->path,
			(unsigned long long)r->off, (unsigned long long)r->end, strerror(-err));
		return 2;
	}
	err = rpmap_output_fd(&out, r->out_fd, r->out_name);
	if (err) {
		fprintf(stderr, "rpmap: %s\n", strerror(-err));
		rpmap_input_close(&in);
		return 2;
	}
	st = rpmap_run_totals(o, &in, &out, t);
	rpmap_input_close(&in);
	err = st == -EPIPE ? 0 : rpmap_output_flush(&out);
	if (err && st != 2) {
		fprintf(stderr, "rpmap: %s: %s\n", r->out_name, strerror(-err));
		st = 2;
	}
	free(out.buf);
	return st;
}
