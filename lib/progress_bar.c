/* SPDX-License-Identifier: MIT */
/*
 * The built-in tqdm-style progress bar (rp_progress_bar_*). A pure formatter
 * turns counts, elapsed time and a width into one line; the bar object adds
 * the clock, the terminal test and the writing. On a terminal the line is
 * redrawn in place ('\r', then clear to end of line) at most every 90 ms;
 * anywhere else only the final line is written. It never fails its caller:
 * write errors are dropped, errno is left as it was, SIGPIPE cannot kill it.
 */
#include "ringpool.h"
#include "progress_bar.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_COLS	80		/* width when fd is not a terminal */
#define REDRAW_NS	90000000ull	/* ~11 redraws/s at most: just under the
					 * caller's default 100 ms tick, so clock
					 * jitter never drops one of its frames */
#define MIN_BAR		10		/* the bar keeps this width while the
					 * description can still be shortened */
#define LINE_CAP	1024		/* longest line plus NUL, bytes */
#define MAX_TIME_S	360000000.0	/* 100000 h: longer times print as "?" */

/* ---- formatting (pure) ---- */

/*
 * floor(a * b / c) for a < c, exact and without overflow: binary long
 * multiplication that keeps the remainder r below c, so q * c + r is always
 * a times the bits of b seen so far. 64 rounds; the result is below b.
 */
static uint64_t muldiv(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t q = 0, r = 0;

	for (int i = 63; i >= 0; i--) {
		q <<= 1;			/* (q, r) *= 2 */
		if (r >= c - r) {
			r -= c - r;
			q++;
		} else {
			r <<= 1;
		}
		if ((b >> i) & 1) {		/* (q, r) += a */
			if (r >= c - a) {
				r -= c - a;
				q++;
			} else {
				r += a;
			}
		}
	}
	return q;
}

/*
 * MM:SS, or H:MM:SS from an hour on; "?" for a negative, NaN or absurdly
 * long time. Rounds down, or up when `up` (so an ETA reads 00:00 only when
 * nothing is left).
 */
static void fmt_time(char *out, size_t n, double s, bool up)
{
	uint64_t t;

	if (!(s >= 0.0 && s < MAX_TIME_S)) {
		snprintf(out, n, "?");
		return;
	}
	t = (uint64_t)s;
	if (up && (double)t < s)
		t++;
	if (t >= 3600)
		snprintf(out, n, "%u:%02u:%02u", (unsigned)(t / 3600), (unsigned)(t / 60 % 60),
			 (unsigned)(t % 60));
	else
		snprintf(out, n, "%02u:%02u", (unsigned)(t / 60), (unsigned)(t % 60));
}

/*
 * Average rate since the start: "210.50 it/s", "12.3k it/s" (k, M, G, T,
 * P, E), "4.00 s/it" below 1 it/s, "? it/s" before the first item. The
 * unit is chosen after rounding, so 999.996 it/s prints as "1.0k it/s".
 */
static void fmt_rate(char *out, size_t n, uint64_t done, double elapsed_s)
{
	static const char unit[] = "kMGTPE";
	double r;
	int i = 0;

	if (done == 0 || !(elapsed_s > 0.0)) {
		snprintf(out, n, "? it/s");
		return;
	}
	r = (double)done / elapsed_s;
	if (r < 1.0) {
		snprintf(out, n, "%.2f s/it", 1.0 / r);
		return;
	}
	if (r < 999.995) {
		snprintf(out, n, "%.2f it/s", r);
		return;
	}
	r /= 1000.0;
	while (r >= 999.95 && unit[i + 1]) {
		r /= 1000.0;
		i++;
	}
	snprintf(out, n, "%.1f%c it/s", r, unit[i]);
}

/* The longest prefix of s, at most max bytes, that does not split a UTF-8
 * sequence. */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Append len bytes of src, as many as fit under limit. */
static void put(char *buf, size_t *n, size_t limit, const char *src, size_t len)
{
	if (len > limit - *n)
		len = limit - *n;
	memcpy(buf + *n, src, len);
	*n += len;
}

static void put_fill(char *buf, size_t *n, size_t limit, char c, size_t len)
{
	if (len > limit - *n)
		len = limit - *n;
	memset(buf + *n, c, len);
	*n += len;
}

/*
 * Width policy, most important part last to go: the counts, times and rate
 * are always there (cut only when even they do not fit); the bar takes what
 * is left, and keeps MIN_BAR columns by shortening the description (at a
 * UTF-8 boundary); only when the description is gone does the bar shrink
 * further, and then disappear with its '|'s. Widths count bytes, which is
 * never less than the columns they take.
 */
size_t rp__progress_format(char *buf, size_t cap, const char *desc, uint64_t done, uint64_t total,
			   uint64_t failed, double elapsed_s, unsigned width)
{
	char pct[8] = "", tail[192], el[24], eta[24], rate[48], fail[40] = "";
	size_t limit, dfull, dshow, plen, tlen, fixed, bar = 0, n = 0;
	bool with_bar = false;

	if (cap == 0)
		return 0;
	limit = cap - 1 < width ? cap - 1 : width;
	desc = desc ? desc : "";
	if (!(elapsed_s > 0.0))
		elapsed_s = 0.0;	/* negative or NaN */
	if (isinf(elapsed_s))
		elapsed_s = MAX_TIME_S;	/* prints "?" */

	fmt_time(el, sizeof(el), elapsed_s, false);
	fmt_rate(rate, sizeof(rate), done, elapsed_s);
	if (failed)
		snprintf(fail, sizeof(fail), ", %llu failed", (unsigned long long)failed);
	if (total) {
		uint64_t left = done < total ? total - done : 0;
		double eta_s = -1.0;	/* unknown: "?" */

		if (left == 0)
			eta_s = 0.0;
		else if (done && elapsed_s > 0.0)
			eta_s = (double)left * elapsed_s / (double)done;
		fmt_time(eta, sizeof(eta), eta_s, true);
		/* Rounded down, and done > total shows 100%: 100% means finished. */
		snprintf(pct, sizeof(pct), "%3u%%",
			 done < total ? (unsigned)muldiv(done, 100, total) : 100u);
		snprintf(tail, sizeof(tail), " %llu/%llu [%s<%s, %s%s]", (unsigned long long)done,
			 (unsigned long long)total, el, eta, rate, fail);
	} else {
		snprintf(tail, sizeof(tail), "%llu [%s, %s%s]", (unsigned long long)done, el, rate,
			 fail);
	}
	plen = strlen(pct);
	tlen = strlen(tail);
	fixed = plen + tlen + (total ? 2 : 0);	/* the bar's two '|' */
	dfull = strlen(desc);

	if (limit >= (dfull ? dfull + 2 : 0) + fixed + (total ? MIN_BAR : 0)) {
		dshow = dfull;
	} else if (dfull && limit >= fixed + (total ? MIN_BAR : 0) + 3) {
		dshow = utf8_cut(desc, limit - fixed - (total ? MIN_BAR : 0) - 2);
	} else {
		dshow = 0;
	}
	if (total) {
		size_t used = (dshow ? dshow + 2 : 0) + fixed;

		if (limit > used) {
			with_bar = true;
			bar = limit - used;
		}
	}

	for (size_t i = 0; i < dshow; i++) {
		unsigned char c = (unsigned char)desc[i];

		/* A control byte ('\n', '\r', ESC) would break the redraw. */
		buf[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	if (dshow)
		put(buf, &n, limit, ": ", 2);
	put(buf, &n, limit, pct, plen);
	if (with_bar) {
		size_t fill = done < total ? (size_t)muldiv(done, bar, total) : bar;

		put(buf, &n, limit, "|", 1);
		put_fill(buf, &n, limit, '#', fill);
		put_fill(buf, &n, limit, ' ', bar - fill);
		put(buf, &n, limit, "|", 1);
	}
	put(buf, &n, limit, tail, tlen);
	buf[n] = '\0';
	return n;
}

/* ---- the bar object ---- */

struct rp_progress_bar {
	int fd;
	bool tty;		/* fd was a terminal at rp_progress_bar_new */
	bool seen;		/* this run has had an update */
	bool on_screen;		/* tty: a line is drawn and not yet ended by '\n' */
	bool finished;		/* this run's final line is written */
	uint64_t t0_ns;		/* start of the run (CLOCK_MONOTONIC) */
	uint64_t last_ns;	/* time of the last update */
	uint64_t drawn_ns;	/* time of the last tty redraw */
	uint64_t done, total, failed;	/* the last update */
	char desc[];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Terminal width, read at each draw so that a resize is followed. */
static unsigned term_cols(int fd)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return DEFAULT_COLS;
}

/* Write it all, through short writes and EINTR. Returns 0 or -errno (the
 * rest is dropped: EAGAIN on a non-blocking fd is not waited out). */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * write_all without dying of SIGPIPE when fd is a pipe or socket whose
 * reader has gone: SIGPIPE is blocked in this thread for the write, and the
 * one the write raised is taken back with a zero-timeout sigtimedwait,
 * unless one was already pending before (that one is the caller's).
 */
static void write_quiet(int fd, const char *p, size_t len)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old, pending;
	bool was_pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0) {
		write_all(fd, p, len);
		return;
	}
	was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
	if (write_all(fd, p, len) == -EPIPE && !was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Draw the last update: "\r<line>\033[K" on a terminal, then '\n' if final. */
static void draw(struct rp_progress_bar *b, bool final)
{
	char line[LINE_CAP + 8];
	size_t n = 0;
	unsigned width = DEFAULT_COLS;
	double elapsed = (double)(b->last_ns - b->t0_ns) / 1e9;

	/* On a terminal, leave the last column empty: some terminals wrap as
	 * soon as it is written, and '\r' would then redraw on a new line. */
	if (b->tty) {
		width = term_cols(b->fd) - 1;
		line[n++] = '\r';
	}
	n += rp__progress_format(line + n, LINE_CAP, b->desc, b->done, b->total, b->failed, elapsed,
				 width);
	if (b->tty) {
		memcpy(line + n, "\033[K", 3);
		n += 3;
	}
	if (final)
		line[n++] = '\n';
	if (b->tty)
		write_all(b->fd, line, n);
	else
		write_quiet(b->fd, line, n);
}

/* Write this run's final line, if it has had an update and it is not out yet. */
static void finish(struct rp_progress_bar *b)
{
	if (b->seen && !b->finished) {
		draw(b, true);
		b->finished = true;
		b->on_screen = false;
	}
}

/*
 * A bar writing to fd (-1: stderr), desc (NULL or "": none) copied, up to
 * LINE_CAP bytes. The clock starts now. Returns NULL only if out of memory.
 * Leaves errno unchanged.
 */
struct rp_progress_bar *rp_progress_bar_new(const char *desc, int fd)
{
	int saved = errno;
	size_t len = desc ? utf8_cut(desc, LINE_CAP) : 0;
	struct rp_progress_bar *b = calloc(1, sizeof(*b) + len + 1);

	if (b) {
		b->fd = fd == -1 ? STDERR_FILENO : fd;
		b->tty = isatty(b->fd) == 1;
		if (len)
			memcpy(b->desc, desc, len);
		b->desc[len] = '\0';
		b->t0_ns = now_ns();
	}
	errno = saved;
	return b;
}

/*
 * An rp_progress_fn: record the update and, on a terminal, redraw (at most
 * every REDRAW_NS; always for the final one). The final line is written when
 * done reaches a known total; updates after it are ignored until a new run:
 * a different total, or a done lower than the last, ends the current run
 * (writing its final line if not yet written) and restarts the clock.
 * bar NULL: nothing. Never fails, leaves errno unchanged.
 */
void rp_progress_bar(void *bar, uint64_t done, uint64_t total, uint64_t failed)
{
	struct rp_progress_bar *b = bar;
	int saved = errno;
	uint64_t now;

	if (!b)
		return;
	now = now_ns();
	if (b->seen && (total != b->total || done < b->done)) {
		finish(b);
		b->seen = b->finished = b->on_screen = false;
		b->t0_ns = now;
	}
	if (b->finished)
		goto out;
	b->seen = true;
	b->done = done;
	b->total = total;
	b->failed = failed;
	b->last_ns = now;
	if (total && done >= total) {
		finish(b);
	} else if (b->tty && (!b->on_screen || now - b->drawn_ns >= REDRAW_NS)) {
		draw(b, false);
		b->on_screen = true;
		b->drawn_ns = now;
	}
out:
	errno = saved;
}

/*
 * Write the final line if an update came and it is not out yet (on a
 * terminal this ends the redrawn line with '\n'), then free. NULL: nothing.
 */
void rp_progress_bar_free(struct rp_progress_bar *bar)
{
	int saved = errno;

	if (!bar)
		return;
	finish(bar);
	free(bar);
	errno = saved;
}
