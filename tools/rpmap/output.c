/* SPDX-License-Identifier: MIT */
/*
 * Output and progress. Small results are gathered in a 1 MiB buffer; a
 * large one goes to the kernel straight from the result ring, together with
 * what is buffered, in one writev. Errors are sticky: after the first, every
 * call returns it (-EPIPE when the reader has gone, which rpmap treats as a
 * quiet stop).
 *
 * The progress bar is the library's rp_progress_bar when the library has it
 * (weak references, resolved when rpmap is loaded), else a small one here.
 */
#include "rpmaplib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define OUT_BUF		(1u << 20)
#define DIRECT_MIN	(32u << 10)	/* results this large skip the buffer */

/* Whether fd, opened by name (by_name) or stdout, is the input. */
static bool is_input(int fd, bool by_name, const struct rpmap_file_id *in)
{
	struct stat st;

	if (!in || !in->known || fstat(fd, &st) < 0 || (uint64_t)st.st_dev != in->dev ||
	    (uint64_t)st.st_ino != in->ino)
		return false;
	if (S_ISFIFO(st.st_mode))
		return true;	/* rpmap would feed itself and never see the end */
	return S_ISREG(st.st_mode) && (by_name || in->left);
}

int rpmap_output_open(struct rpmap_output *o, const char *path, const struct rpmap_file_id *in)
{
	struct stat st;

	memset(o, 0, sizeof(*o));
	if (!path || !strcmp(path, "-")) {
		o->fd = 1;
		o->name = "standard output";
		if (is_input(o->fd, false, in))
			return -EEXIST;
	} else {
		/* Not O_TRUNC: truncate only once it is known not to be the input. */
		o->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		o->name = path;
		if (o->fd < 0)
			return -errno;
		if (is_input(o->fd, true, in)) {
			close(o->fd);
			o->fd = -1;
			return -EEXIST;
		}
		if (fstat(o->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(o->fd, 0) < 0)
			return -errno;
	}
	o->cap = OUT_BUF;
	o->buf = malloc(o->cap);
	return o->buf ? 0 : -ENOMEM;
}

int rpmap_output_fd(struct rpmap_output *o, int fd, const char *name)
{
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->name = name;
	o->cap = OUT_BUF;
	o->buf = malloc(o->cap);
	return o->buf ? 0 : -ENOMEM;
}

/* Write every byte of iov[0..n), retrying short writes and EINTR. */
static int write_all(struct rpmap_output *o, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(o->fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return o->err = -errno;
		}
		o->bytes += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int rpmap_output_flush(struct rpmap_output *o)
{
	struct iovec v = { o->buf, o->len };

	if (o->err)
		return o->err;
	if (!o->len)
		return 0;
	o->len = 0;
	return write_all(o, &v, 1);
}

int rpmap_output_write(struct rpmap_output *o, const void *p, size_t n)
{
	if (o->err)
		return o->err;
	if (n >= DIRECT_MIN) {
		struct iovec v[2] = { { o->buf, o->len }, { (void *)(uintptr_t)p, n } };
		int k = o->len ? 2 : 1;

		o->len = 0;
		return write_all(o, k == 2 ? v : v + 1, k);
	}
	if (o->len + n > o->cap) {
		int r = rpmap_output_flush(o);

		if (r)
			return r;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return 0;
}

int rpmap_output_close(struct rpmap_output *o)
{
	int r = rpmap_output_flush(o);

	free(o->buf);
	o->buf = NULL;
	if (o->fd > 2 && close(o->fd) < 0 && !r)
		r = o->err = -errno;
	return r;
}

/* ---- progress ---- */

#pragma weak rp_progress_bar_new
#pragma weak rp_progress_bar
#pragma weak rp_progress_bar_free

struct rpmap_progress {
	struct rp_progress_bar *lib;	/* the library's bar, if it has one */
	uint64_t total;			/* bytes, 0 if unknown */
	uint64_t t0, last;
	bool drawn;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct rpmap_progress *rpmap_progress_new(uint64_t total_bytes)
{
	struct rpmap_progress *pg = calloc(1, sizeof(*pg));

	if (!pg)
		return NULL;
	pg->total = total_bytes;
	pg->t0 = mono_ns();
	if (rp_progress_bar_new && rp_progress_bar && rp_progress_bar_free)
		pg->lib = rp_progress_bar_new("rpmap MiB", 2);
	return pg;
}

/* Our own bar: "rpmap:  45% |#########           | 56.0/125.0 MiB  25.3 MB/s". */
static void draw(struct rpmap_progress *pg, uint64_t bytes, uint64_t failed, uint64_t now)
{
	double s = (double)(now - pg->t0) / 1e9, mb = (double)bytes / 1e6;
	char bar[32], line[160];
	int n;

	if (pg->total) {
		unsigned pct = (unsigned)(bytes * 100 / pg->total), fill = pct / 4;

		memset(bar, '#', fill);
		memset(bar + fill, ' ', 25 - fill);
		bar[25] = 0;
		n = snprintf(line, sizeof(line), "\rrpmap: %3u%% |%s| %.1f/%.1f MiB %7.1f MB/s",
			     pct, bar, (double)bytes / 1048576.0, (double)pg->total / 1048576.0,
			     s > 0 ? mb / s : 0.0);
	} else {
		n = snprintf(line, sizeof(line), "\rrpmap: %.1f MiB %7.1f MB/s",
			     (double)bytes / 1048576.0, s > 0 ? mb / s : 0.0);
	}
	if (failed && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", %llu failed",
			      (unsigned long long)failed);
	if (n > 0 && write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) > 0)
		pg->drawn = true;
}

void rpmap_progress_update(struct rpmap_progress *pg, uint64_t bytes, uint64_t failed, bool last)
{
	uint64_t now;

	if (!pg)
		return;
	now = mono_ns();
	if (!last && now - pg->last < 100000000ull)
		return;
	pg->last = now;
	if (pg->lib) {
		rp_progress_bar(pg->lib, bytes >> 20, pg->total >> 20, failed);
		return;
	}
	draw(pg, bytes, failed, now);
	if (last && pg->drawn && write(2, "\n", 1) < 0)
		pg->drawn = false;
}

void rpmap_progress_free(struct rpmap_progress *pg)
{
	if (!pg)
		return;
	if (pg->lib)
		rp_progress_bar_free(pg->lib);
	free(pg);
}

const char *rpmap_size_str(char *buf, size_t n, uint64_t v)
{
	if (v >= (1ull << 20) && !(v & ((1ull << 20) - 1)))
		snprintf(buf, n, "%lluM", (unsigned long long)(v >> 20));
	else if (v >= 1024 && !(v & 1023))
		snprintf(buf, n, "%lluk", (unsigned long long)(v >> 10));
	else
		snprintf(buf, n, "%llu", (unsigned long long)v);
	return buf;
}
