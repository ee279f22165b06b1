/* SPDX-License-Identifier: MIT */
/*
 * The built-in progress bar: exact lines from the pure formatter at fixed
 * elapsed times and widths; then the bar object writing to a pipe (one final
 * line, nothing before), to a pseudo-terminal ('\r' redraws, rate-limited,
 * '\n' at the end), to a pipe with no reader (no SIGPIPE death), and NULLs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* posix_openpt, ptsname, cfmakeraw */
#endif
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"
#include "progress_bar.h"

#define MIN_BAR 10	/* as in progress_bar.c */

static char line[2048];

static const char *fmt(const char *desc, uint64_t done, uint64_t total, uint64_t failed,
		       double elapsed, size_t width)
{
	size_t n = rp__progress_format(line, sizeof(line), desc, done, total, failed, elapsed,
				       (unsigned)width);

	cr_assert_eq(n, strlen(line), "returns the length");
	cr_assert_leq(n, width, "never wider than the line");
	return line;
}

/* "|" + fill '#' + (w - fill) ' ' + "|" */
static const char *bar(size_t fill, size_t w)
{
	static char b[1100];

	cr_assert_leq(fill, w);
	b[0] = '|';
	memset(b + 1, '#', fill);
	memset(b + 1 + fill, ' ', w - fill);
	b[1 + w] = '|';
	b[2 + w] = '\0';
	return b;
}

static const char *cat3(const char *a, const char *b, const char *c)
{
	static char s[1200];

	snprintf(s, sizeof(s), "%s%s%s", a, b, c);
	return s;
}

/* The header's example, bar 20 wide: 450/1000 fills 9. */
#define EXAMPLE "desc:  45%|#########           | 450/1000 [00:02<00:03, 210.50 it/s, 2 failed]"
#define EX_T (450 / 210.5)

Test(format, known_total_as_in_the_header)
{
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, strlen(EXAMPLE)), EXAMPLE);
	/* Five columns more: the bar takes them (25 wide, 11.25 -> 11 filled). */
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, strlen(EXAMPLE) + 5),
			 cat3("desc:  45%", bar(11, 25),
			      " 450/1000 [00:02<00:03, 210.50 it/s, 2 failed]"));
}

Test(format, unknown_total)
{
	cr_assert_str_eq(fmt("desc", 450, 0, 0, EX_T, 80), "desc: 450 [00:02, 210.50 it/s]");
	cr_assert_str_eq(fmt("desc", 450, 0, 3, EX_T, 80),
			 "desc: 450 [00:02, 210.50 it/s, 3 failed]");
	cr_assert_str_eq(fmt(NULL, 0, 0, 0, 0.0, 80), "0 [00:00, ? it/s]");
}

Test(format, no_desc_no_failed)
{
	const char *tail = " 450/1000 [00:02<00:03, 210.50 it/s]";
	size_t w = 80 - 4 - 2 - strlen(tail);

	cr_assert_str_eq(fmt(NULL, 450, 1000, 0, EX_T, 80),
			 cat3(" 45%", bar(w * 45 / 100, w), tail));
	cr_assert_str_eq(fmt("", 450, 1000, 0, EX_T, 80), line, "\"\" is no desc");
	cr_assert_str_eq(fmt("", 450, 1000, 0, EX_T, 80),
			 cat3(" 45%", bar(w * 45 / 100, w), tail));
}

Test(format, zero_percent)
{
	const char *tail = " 0/1000 [00:00<?, ? it/s]";
	size_t w = 80 - 4 - 2 - strlen(tail);

	cr_assert_str_eq(fmt(NULL, 0, 1000, 0, 0.0, 80), cat3("  0%", bar(0, w), tail));
	/* Some time passed, nothing done: the rate and ETA are still unknown. */
	cr_assert_str_eq(fmt(NULL, 0, 1000, 0, 61.0, 80),
			 cat3("  0%", bar(0, w), " 0/1000 [01:01<?, ? it/s]"));
}

Test(format, hundred_percent_only_when_done)
{
	const char *tail = " 1000/1000 [00:05<00:00, 200.00 it/s]";
	size_t w = 80 - 4 - 2 - strlen(tail);

	cr_assert_str_eq(fmt(NULL, 1000, 1000, 0, 5.0, 80), cat3("100%", bar(w, w), tail));
	/* 99.9% is shown as 99% with the bar one short, never as 100%. */
	fmt(NULL, 999, 1000, 0, 5.0, 80);
	cr_assert_eq(strncmp(line, " 99%|", 5), 0, "%s", line);
	cr_assert_not_null(strstr(line, "# |"), "%s", line);
	/* More done than the total: 100% and a full bar, the counts as given. */
	fmt(NULL, 1500, 1000, 0, 5.0, 80);
	cr_assert_eq(strncmp(line, "100%|#", 6), 0, "%s", line);
	cr_assert_not_null(strstr(line, "#| 1500/1000 [00:05<00:00, 300.00 it/s]"), "%s", line);
}

Test(format, huge_counts)
{
	const char *tail = " 18446744073709551614/18446744073709551615 [00:01<00:01, 18.4E it/s]";
	size_t w = 120 - 4 - 2 - strlen(tail);

	/* Exact arithmetic: one short of 2^64 - 1 is 99% with the bar one short. */
	cr_assert_str_eq(fmt(NULL, UINT64_MAX - 1, UINT64_MAX, 0, 1.0, 120),
			 cat3(" 99%", bar(w - 1, w), tail));
	fmt(NULL, UINT64_MAX, UINT64_MAX, UINT64_MAX, 1.0, 200);
	cr_assert_eq(strncmp(line, "100%|#", 6), 0, "%s", line);
	cr_assert_not_null(strstr(line, ", 18446744073709551615 failed]"), "%s", line);
	cr_assert_str_eq(fmt(NULL, UINT64_MAX, 0, 0, 1.0, 80),
			 "18446744073709551615 [00:01, 18.4E it/s]");
}

Test(format, rates)
{
	cr_assert_str_eq(fmt(NULL, 12345, 0, 0, 1.0, 80), "12345 [00:01, 12.3k it/s]");
	cr_assert_str_eq(fmt(NULL, 2500000, 0, 0, 1.0, 80), "2500000 [00:01, 2.5M it/s]");
	cr_assert_str_eq(fmt(NULL, 999, 0, 0, 1.0, 80), "999 [00:01, 999.00 it/s]");
	/* The unit is picked after rounding: no "1000.00 it/s". */
	cr_assert_str_eq(fmt(NULL, 999996, 0, 0, 1000.0, 80), "999996 [16:40, 1.0k it/s]");
	cr_assert_str_eq(fmt(NULL, 1, 0, 0, 1.0, 80), "1 [00:01, 1.00 it/s]");
	cr_assert_str_eq(fmt(NULL, 1, 0, 0, 4.0, 80), "1 [00:04, 4.00 s/it]");
}

Test(format, times)
{
	/* Elapsed rounds down, ETA rounds up; H:MM:SS from an hour on. */
	cr_assert_str_eq(fmt(NULL, 7, 0, 0, 59.9, 80), "7 [00:59, 8.56 s/it]");
	fmt(NULL, 1, 3, 0, 1.2, 120);
	cr_assert_not_null(strstr(line, " 1/3 [00:01<00:03, 1.20 s/it]"), "%s", line);
	fmt(NULL, 1, 3, 0, 3725.0, 120);
	cr_assert_not_null(strstr(line, " 1/3 [1:02:05<2:04:10, 3725.00 s/it]"), "%s", line);
	/* A negative or NaN elapsed time is taken as 0: rate unknown. */
	cr_assert_str_eq(fmt(NULL, 5, 0, 0, -3.0, 80), "5 [00:00, ? it/s]");
	cr_assert_str_eq(fmt(NULL, 5, 0, 0, 0.0 / 0.0, 80), "5 [00:00, ? it/s]");
}

Test(format, narrow_width)
{
	const char *tail = " 450/1000 [00:02<00:03, 210.50 it/s, 2 failed]";
	size_t fixed = 4 + 2 + strlen(tail);

	/* Just room for the desc and a MIN_BAR bar. */
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, 6 + fixed + MIN_BAR),
			 cat3("desc:  45%", bar(4, MIN_BAR), tail));
	/* Less: the desc goes first, keeping the bar at MIN_BAR (+ the freed
	 * columns when not even one desc character fits). */
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, 5 + fixed + MIN_BAR),
			 cat3("des:  45%", bar(4, MIN_BAR), tail));
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, 2 + fixed + MIN_BAR),
			 cat3(" 45%", bar(5, MIN_BAR + 2), tail));
	/* Then the bar shrinks, then goes with its '|'s. */
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, fixed + 3),
			 cat3(" 45%", bar(1, 3), tail));
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, fixed), cat3(" 45%", tail, ""));
	/* Then the line is cut at the width. */
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, 20), " 45% 450/1000 [00:02");
	cr_assert_str_eq(fmt("desc", 450, 0, 0, EX_T, 10), "450 [00:02");
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, 1), " ");
	cr_assert_str_eq(fmt("desc", 450, 1000, 2, EX_T, 0), "");
}

Test(format, long_desc_truncated)
{
	char desc[301];
	const char *tail = " 450/1000 [00:02<00:03, 210.50 it/s, 2 failed]";
	size_t keep = 80 - (4 + 2 + strlen(tail)) - MIN_BAR - 2;
	char want[200];

	memset(desc, 'a', 300);
	desc[300] = '\0';
	memset(want, 'a', keep);
	snprintf(want + keep, sizeof(want) - keep, ":  45%%%s%s", bar(4, MIN_BAR), tail);
	cr_assert_str_eq(fmt(desc, 450, 1000, 2, EX_T, 80), want);
	cr_assert_eq(strlen(line), 80);

	/* Unknown total: the desc is cut, the counts are whole. */
	fmt(desc, 450, 0, 0, EX_T, 40);
	cr_assert_eq(strlen(line), 40);
	cr_assert_str_eq(line + 40 - strlen(": 450 [00:02, 210.50 it/s]"),
			 ": 450 [00:02, 210.50 it/s]");
}

Test(format, desc_cut_at_utf8_boundary_and_controls_replaced)
{
	char desc[201] = "";
	size_t cut;

	for (int i = 0; i < 100; i++)
		strcat(desc, "\xc3\xa9");	/* é, 2 bytes */
	/* 79 - 2 - fixed - MIN_BAR is odd here: one byte is given back to the bar. */
	for (unsigned w = 79; w <= 80; w++) {
		fmt(desc, 450, 1000, 2, EX_T, w);
		cut = (size_t)(strstr(line, ": ") - line);
		cr_assert_eq(cut % 2, 0, "width %u: cut inside a character (%zu bytes)", w, cut);
		cr_assert_eq(memcmp(line, desc, cut), 0);
		cr_assert_eq(strlen(line), w);
	}
	fmt("a\nb\rc\033[2J", 1, 0, 0, 1.0, 80);
	cr_assert_str_eq(line, "a?b?c?[2J: 1 [00:01, 1.00 it/s]");
}

Test(format, buffer_capacity_bounds_the_line)
{
	char small[10];

	memset(small, 'x', sizeof(small));
	cr_assert_eq(rp__progress_format(small, sizeof(small), "desc", 450, 1000, 2, EX_T, 80), 9);
	cr_assert_str_eq(small, " 45% 450/");
	cr_assert_eq(rp__progress_format(small, 1, "desc", 450, 1000, 2, EX_T, 80), 0);
	cr_assert_str_eq(small, "");
	small[0] = 'x';
	cr_assert_eq(rp__progress_format(small, 0, "desc", 450, 1000, 2, EX_T, 80), 0);
	cr_assert_eq(small[0], 'x', "cap 0 writes nothing");
}

/* ---- the bar object ---- */

/* All bytes readable from fd within quiet_ms of the last one. */
static size_t drain(int fd, char *buf, size_t cap, int quiet_ms)
{
	size_t n = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (n < cap - 1 && poll(&pfd, 1, quiet_ms) == 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

static size_t count(const char *s, char c)
{
	size_t k = 0;

	for (; *s; s++)
		k += *s == c;
	return k;
}

static void make_pipe(int p[2])
{
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
}

Test(pipe, only_the_final_line, .timeout = 10)
{
	char out[4096];
	int p[2];
	struct rp_progress_bar *b;

	make_pipe(p);
	b = rp_progress_bar_new("job", p[1]);
	cr_assert_not_null(b);
	for (uint64_t i = 0; i < 10; i++)
		rp_progress_bar(b, i, 10, 0);
	cr_assert_eq(drain(p[0], out, sizeof(out), 50), 0, "nothing before the end: \"%s\"", out);
	rp_progress_bar(b, 10, 10, 1);
	drain(p[0], out, sizeof(out), 50);
	cr_assert_eq(count(out, '\n'), 1, "\"%s\"", out);
	cr_assert_eq(out[strlen(out) - 1], '\n');
	cr_assert_null(strchr(out, '\r'));
	cr_assert_null(strchr(out, '\033'));
	cr_assert_eq(strncmp(out, "job: 100%|##########", 20), 0, "\"%s\"", out);
	cr_assert_not_null(strstr(out, "| 10/10 ["), "\"%s\"", out);
	cr_assert_not_null(strstr(out, ", 1 failed]\n"), "\"%s\"", out);
	cr_assert_eq(strlen(out), 80 + 1, "80 columns when not a terminal");

	/* The repeat of the final update and the free add nothing. */
	rp_progress_bar(b, 10, 10, 1);
	rp_progress_bar_free(b);
	cr_assert_eq(drain(p[0], out, sizeof(out), 50), 0, "\"%s\"", out);
	close(p[0]);
	close(p[1]);
}

Test(pipe, free_writes_the_last_state, .timeout = 10)
{
	char out[4096];
	int p[2];
	struct rp_progress_bar *b;

	make_pipe(p);
	b = rp_progress_bar_new("job", p[1]);
	rp_progress_bar(b, 3, 10, 1);
	rp_progress_bar_free(b);
	drain(p[0], out, sizeof(out), 50);
	cr_assert_eq(strncmp(out, "job:  30%|", 10), 0, "\"%s\"", out);
	cr_assert_not_null(strstr(out, "| 3/10 ["), "\"%s\"", out);
	cr_assert_eq(count(out, '\n'), 1, "\"%s\"", out);

	/* Unknown total: likewise, one line at free. */
	b = rp_progress_bar_new(NULL, p[1]);
	rp_progress_bar(b, 5, 0, 0);
	rp_progress_bar(b, 7, 0, 0);
	cr_assert_eq(drain(p[0], out, sizeof(out), 50), 0);
	rp_progress_bar_free(b);
	drain(p[0], out, sizeof(out), 50);
	cr_assert_eq(strncmp(out, "7 [00:00, ", 10), 0, "\"%s\"", out);
	cr_assert_eq(count(out, '\n'), 1, "\"%s\"", out);

	/* No update at all: nothing to say. */
	rp_progress_bar_free(rp_progress_bar_new("idle", p[1]));
	cr_assert_eq(drain(p[0], out, sizeof(out), 50), 0, "\"%s\"", out);
	close(p[0]);
	close(p[1]);
}

Test(pipe, a_new_run_ends_the_last, .timeout = 10)
{
	char out[4096];
	int p[2];
	struct rp_progress_bar *b;

	make_pipe(p);
	b = rp_progress_bar_new("job", p[1]);
	rp_progress_bar(b, 10, 10, 0);		/* run 1 finishes */
	rp_progress_bar(b, 5, 20, 0);		/* new total: run 2 */
	rp_progress_bar(b, 8, 20, 0);
	rp_progress_bar(b, 2, 20, 0);		/* done went back: run 3, run 2 ends at 8 */
	rp_progress_bar(b, 20, 20, 0);		/* run 3 finishes */
	rp_progress_bar_free(b);
	drain(p[0], out, sizeof(out), 50);
	cr_assert_eq(count(out, '\n'), 3, "\"%s\"", out);
	cr_assert_not_null(strstr(out, "| 10/10 ["), "\"%s\"", out);
	cr_assert_not_null(strstr(out, "| 8/20 ["), "\"%s\"", out);
	cr_assert_not_null(strstr(out, "| 20/20 ["), "\"%s\"", out);
	close(p[0]);
	close(p[1]);
}

Test(pipe, minus_one_is_stderr, .timeout = 10)
{
	char out[4096];
	int p[2], saved = dup(2);
	struct rp_progress_bar *b;

	make_pipe(p);
	cr_assert_geq(saved, 0);
	cr_assert_eq(dup2(p[1], 2), 2);
	b = rp_progress_bar_new("err", -1);
	rp_progress_bar(b, 1, 1, 0);
	rp_progress_bar_free(b);
	dup2(saved, 2);
	close(saved);
	drain(p[0], out, sizeof(out), 50);
	cr_assert_eq(strncmp(out, "err: 100%|", 10), 0, "\"%s\"", out);
	close(p[0]);
	close(p[1]);
}

Test(pipe, no_reader_no_sigpipe_errno_kept, .timeout = 10)
{
	int p[2];
	sigset_t before, after, pending;
	struct rp_progress_bar *b;

	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	cr_assert_eq(signal(SIGPIPE, SIG_DFL), SIG_DFL);	/* a SIGPIPE would kill us */
	sigprocmask(SIG_SETMASK, NULL, &before);
	b = rp_progress_bar_new("gone", p[1]);
	errno = EXDEV;
	rp_progress_bar(b, 1, 1, 0);		/* the final line: EPIPE */
	cr_assert_eq(errno, EXDEV);
	rp_progress_bar_free(b);
	cr_assert_eq(errno, EXDEV);
	sigprocmask(SIG_SETMASK, NULL, &after);
	cr_assert_eq(sigismember(&after, SIGPIPE), sigismember(&before, SIGPIPE), "mask restored");
	sigpending(&pending);
	cr_assert_eq(sigismember(&pending, SIGPIPE), 0, "no SIGPIPE left pending");
	close(p[1]);

	/* A bad fd: the writes fail, quietly. */
	b = rp_progress_bar_new("bad", 1000);
	errno = EXDEV;
	rp_progress_bar(b, 1, 2, 0);
	rp_progress_bar(b, 2, 2, 0);
	rp_progress_bar_free(b);
	cr_assert_eq(errno, EXDEV);
}

Test(null, null_is_a_no_op, .timeout = 10)
{
	char out[4096];
	int p[2];
	struct rp_progress_bar *b;
	rp_progress_fn fn = rp_progress_bar;	/* passes as a callback as is */

	errno = EXDEV;
	rp_progress_bar(NULL, 1, 2, 0);
	rp_progress_bar_free(NULL);
	cr_assert_eq(errno, EXDEV);

	make_pipe(p);
	b = rp_progress_bar_new(NULL, p[1]);
	cr_assert_not_null(b);
	fn(b, 2, 2, 0);
	rp_progress_bar_free(b);
	drain(p[0], out, sizeof(out), 50);
	cr_assert_eq(strncmp(out, "100%|#", 6), 0, "no desc, no \": \": \"%s\"", out);
	close(p[0]);
	close(p[1]);
}

/* ---- on a terminal ---- */

struct pty {
	int master, slave;
};

static struct pty open_pty(unsigned cols)
{
	struct pty t = { -1, -1 };
	struct termios tio;
	struct winsize ws = { .ws_row = 24, .ws_col = (unsigned short)cols };
	char *name;

	t.master = posix_openpt(O_RDWR | O_NOCTTY);
	if (t.master < 0 || grantpt(t.master) || unlockpt(t.master) || !(name = ptsname(t.master)))
		cr_skip_test("no pseudo-terminal: %s", strerror(errno));
	t.slave = open(name, O_RDWR | O_NOCTTY);
	if (t.slave < 0)
		cr_skip_test("cannot open %s: %s", name, strerror(errno));
	/* Raw: the master reads exactly the bytes written (no "\n" -> "\r\n"). */
	cr_assert_eq(tcgetattr(t.slave, &tio), 0);
	cfmakeraw(&tio);
	cr_assert_eq(tcsetattr(t.slave, TCSANOW, &tio), 0);
	cr_assert_eq(ioctl(t.master, TIOCSWINSZ, &ws), 0);
	cr_assert_eq(fcntl(t.master, F_SETFL, O_NONBLOCK), 0);
	return t;
}

/* One redraw: "\r" + a line of exactly `width` bytes (0: any) + "\033[K"
 * (+ "\n" if final). */
static void assert_redraw(const char *out, size_t width, bool final)
{
	size_t n = strlen(out), tail = final ? 4 : 3;

	cr_assert_eq(out[0], '\r', "\"%s\"", out);
	cr_assert_eq(count(out, '\r'), 1, "one redraw: \"%s\"", out);
	cr_assert_geq(n, 1 + tail);
	cr_assert_eq(memcmp(out + n - tail, final ? "\033[K\n" : "\033[K", tail), 0, "\"%s\"", out);
	if (width)
		cr_assert_eq(n - 1 - tail, width, "line %zu bytes, want %zu: \"%s\"", n - 1 - tail, width,
		     out);
}

Test(tty, redraws_in_place, .timeout = 10)
{
	char out[4096];
	struct pty t = open_pty(60);
	struct rp_progress_bar *b = rp_progress_bar_new("tty", t.slave);
	struct timespec pause = { 0, 120000000 };

	/* The first update is drawn; the next, at once, is dropped (the guard). */
	rp_progress_bar(b, 1, 10, 0);
	rp_progress_bar(b, 2, 10, 0);
	drain(t.master, out, sizeof(out), 100);
	assert_redraw(out, 59, false);		/* the last column stays empty */
	cr_assert_eq(strncmp(out, "\rtty:  10%|", 11), 0, "\"%s\"", out);
	cr_assert_null(strchr(out, '\n'));

	/* 120 ms later, one is let through. */
	nanosleep(&pause, NULL);
	rp_progress_bar(b, 3, 10, 0);
	drain(t.master, out, sizeof(out), 100);
	assert_redraw(out, 59, false);
	cr_assert_not_null(strstr(out, "| 3/10 ["), "\"%s\"", out);

	/* The terminal grows: the next line follows it. */
	struct winsize ws = { .ws_row = 24, .ws_col = 100 };
	cr_assert_eq(ioctl(t.master, TIOCSWINSZ, &ws), 0);
	nanosleep(&pause, NULL);
	rp_progress_bar(b, 4, 10, 0);
	drain(t.master, out, sizeof(out), 100);
	assert_redraw(out, 99, false);

	/* The final update is never dropped, and ends the line. */
	rp_progress_bar(b, 10, 10, 0);
	drain(t.master, out, sizeof(out), 100);
	assert_redraw(out, 99, true);
	cr_assert_not_null(strstr(out, "tty: 100%|"), "\"%s\"", out);
	rp_progress_bar_free(b);
	cr_assert_eq(drain(t.master, out, sizeof(out), 50), 0, "\"%s\"", out);
	close(t.slave);
	close(t.master);
}

Test(tty, free_ends_the_line, .timeout = 10)
{
	char out[4096];
	struct pty t = open_pty(80);
	struct rp_progress_bar *b = rp_progress_bar_new(NULL, t.slave);

	rp_progress_bar(b, 4, 0, 0);
	drain(t.master, out, sizeof(out), 100);
	assert_redraw(out, 0, false);
	cr_assert_eq(strncmp(out, "\r4 [00:00, ", 11), 0, "\"%s\"", out);
	rp_progress_bar_free(b);
	drain(t.master, out, sizeof(out), 100);
	assert_redraw(out, 0, true);
	cr_assert_eq(strncmp(out, "\r4 [00:00, ", 11), 0, "\"%s\"", out);
	close(t.slave);
	close(t.master);
}
