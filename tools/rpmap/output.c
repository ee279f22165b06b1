/* SPDX-License-Identifier: MIT */
/*
 * Output and progress. Small results are gathered in a 1 MiB buffer; a
 * large one goes to the kernel straight from the result ring, together with
 * what is buffered, in one writev. Errors are sticky: after the first, every
 * call returns it (-EPIPE when the reader has gone, which rpmap treats as a
 * quiet stop).
 * Progress is one line on stderr, redrawn at most ten times a second.
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

/* ---- progress: one line on stderr, redrawn ---- */

/*
 * Bytes in the unit that suits them (B, KiB, MiB, GiB), records counted as
 * well, and with a known total (a file) the percentage and an ETA from the
 * rate so far. A small input shows its bytes, never a bar stuck at 0 MiB.
 */
struct rpmap_progress {
	uint64_t total;			/* bytes, 0 if unknown */
	uint64_t t0, last;
	int width;			/* of the last line drawn */
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
	return pg;
}

/* "512 B", "3.8 KiB", "12.0 MiB", "1.20 GiB". Returns buf. */
static const char *human(char *buf, size_t n, double v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
	return buf;
}

void rpmap_progress_update(struct rpmap_progress *pg, uint64_t bytes, uint64_t records,
			   uint64_t failed, bool last)
{
	char line[160], b1[32], b2[32], eta[32] = "";
	uint64_t now;
	double s;
	int n;

	if (!pg)
		return;
	now = mono_ns();
	if (!last && now - pg->last < 100000000ull)
		return;
	pg->last = now;
	s = (double)(now - pg->t0) / 1e9;
	if (pg->total && bytes && !last && bytes < pg->total)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
			 s * (double)(pg->total - bytes) / (double)bytes + 0.5);
	n = snprintf(line, sizeof(line), "rpmap: %s", human(b1, sizeof(b1), (double)bytes));
	if (pg->total)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " of %s (%.0f%%)",
			      human(b2, sizeof(b2), (double)pg->total),
			      100.0 * (double)bytes / (double)pg->total);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ", %llu records", (unsigned long long)records);
	if (failed)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " (%llu failed)",
			      (unsigned long long)failed);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ", %s/s%s",
		      human(b2, sizeof(b2), s > 0 ? (double)bytes / s : 0), eta);
	fprintf(stderr, "\r%s%*s%s", line, pg->width > n ? pg->width - n : 0, "", last ? "\n" : "");
	pg->width = n;
}

void rpmap_progress_free(struct rpmap_progress *pg)
{
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
