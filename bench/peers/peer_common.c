/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the peer benchmarks (see peer_common.h). Nothing here is
 * on a measured hot path except the inline task bodies and peer_ticks().
 */
#include "peer_common.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void peer_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f, "usage: %s [--quick] [--workers N] [--only WORKLOAD[,WORKLOAD...]]\n"
		"  prints one JSON object per measurement on stdout\n", argv0);
}

void peer_parse(int argc, char **argv, struct peer_opts *o)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "workers", required_argument, NULL, 'w' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;

	o->quick = 0;
	o->workers = peer_nproc();
	o->only = NULL;
	while ((c = getopt_long(argc, argv, "qw:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			o->quick = 1;
			break;
		case 'w':
			o->workers = (unsigned)strtoul(optarg, NULL, 10);
			if (o->workers < 1 || o->workers > 256)
				peer_die("--workers must be 1..256");
			break;
		case 'o':
			o->only = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			exit(2);
		}
	}
}

int peer_want(const struct peer_opts *o, const char *workload)
{
	size_t n = strlen(workload);
	const char *p = o->only;

	if (!p)
		return 1;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !memcmp(p, workload, n))
			return 1;
		p += l + (e != NULL);
	}
	return 0;
}

static void on_alarm(int sig)
{
	static const char msg[] = "watchdog: time limit reached, exiting\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(124);
}

void peer_watchdog(unsigned sec)
{
	signal(SIGALRM, on_alarm);
	alarm(sec);
}

void peer_child_init(pid_t parent)
{
	alarm(0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)	/* parent died before prctl took effect */
		_exit(1);
}

static cpu_set_t allowed;	/* the affinity we started with */
static int allowed_saved;

static void save_allowed(void)
{
	if (!allowed_saved && sched_getaffinity(0, sizeof(allowed), &allowed) == 0)
		allowed_saved = 1;
}

int peer_pin(int nth)
{
	cpu_set_t set;
	int seen = 0;

	save_allowed();
	if (!allowed_saved)
		return -ENOSYS;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &allowed) || seen++ != nth)
			continue;
		CPU_ZERO(&set);
		CPU_SET(c, &set);
		return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
	}
	return -EINVAL;
}

void peer_unpin(void)
{
	if (allowed_saved)
		sched_setaffinity(0, sizeof(allowed), &allowed);
}

unsigned peer_nproc(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

uint64_t peer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double peer_ticks_per_ns(void)
{
	static double cached;

	if (cached == 0) {
		uint64_t t0 = peer_now_ns(), c0 = peer_ticks(), t1, c1;

		do
			t1 = peer_now_ns();
		while (t1 - t0 < 20000000ull);
		c1 = peer_ticks();
		cached = (double)(c1 - c0) / (double)(t1 - t0);
	}
	return cached;
}

double peer_cpu_s(void)
{
	struct rusage s, c;

	getrusage(RUSAGE_SELF, &s);
	getrusage(RUSAGE_CHILDREN, &c);
	return (double)(s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec + c.ru_stime.tv_sec) +
	       (double)(s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec + c.ru_stime.tv_usec) * 1e-6;
}

static int read_small(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = 0;
	return (int)n;
}

/* utime+stime of one /proc/.../stat line, in ns (tick resolution). */
static uint64_t stat_cpu_ns(const char *line)
{
	const char *p = strrchr(line, ')');
	unsigned long long ut = 0, st = 0;

	if (!p)
		return 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

uint64_t peer_pid_cpu_ns(pid_t pid)
{
	char path[320], buf[512];
	struct dirent *de;
	uint64_t sum = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		unsigned long long run;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
		if (read_small(path, buf, sizeof(buf)) > 0 && sscanf(buf, "%llu", &run) == 1) {
			sum += run;
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, de->d_name);
		if (read_small(path, buf, sizeof(buf)) > 0)
			sum += stat_cpu_ns(buf);
	}
	closedir(d);
	return sum;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void peer_percentiles(uint64_t *t, size_t n, double *p50, double *p99, double *p999)
{
	double k;

	if (n == 0) {
		*p50 = *p99 = *p999 = NAN;
		return;
	}
	qsort(t, n, sizeof(*t), cmp_u64);
	k = 1.0 / peer_ticks_per_ns();
	/* nearest rank: the smallest sample with at least q of them <= it */
	*p50 = (double)t[(size_t)ceil(0.50 * (double)n) - 1] * k;
	*p99 = (double)t[(size_t)ceil(0.99 * (double)n) - 1] * k;
	*p999 = (double)t[(size_t)ceil(0.999 * (double)n) - 1] * k;
}

struct peer_row peer_row_init(const char *workload, const char *impl)
{
	struct peer_row r = {
		.workload = workload, .impl = impl, .workers = 1,
		.tasks_per_s = NAN, .p50_ns = NAN, .p99_ns = NAN, .p999_ns = NAN,
		.cpu_s = NAN, .syscalls_per_task = NAN,
	};
	return r;
}

static void put_num(const char *key, double v, int last)
{
	if (isnan(v) || isinf(v))
		printf("\"%s\": null%s", key, last ? "" : ", ");
	else
		printf("\"%s\": %.6g%s", key, v, last ? "" : ", ");
}

void peer_emit(const struct peer_row *r)
{
	printf("{\"workload\": \"%s\", \"impl\": \"%s\", \"workers\": %u, "
	       "\"payload_bytes\": %" PRIu64 ", \"tasks\": %" PRIu64 ", ",
	       r->workload, r->impl, r->workers, r->payload_bytes, r->tasks);
	put_num("tasks_per_s", r->tasks_per_s, 0);
	put_num("p50_ns", r->p50_ns, 0);
	put_num("p99_ns", r->p99_ns, 0);
	put_num("p999_ns", r->p999_ns, 0);
	put_num("cpu_s", r->cpu_s, 0);
	put_num("syscalls_per_task", r->syscalls_per_task, 0);
	printf("\"extra\": %s}\n", r->extra ? r->extra : "{}");
	fflush(stdout);
}

/* ---- task bodies ------------------------------------------------------ */

const size_t peer_payload_sizes[] = {
	64, 1024, 16384, 262144, 1048576, 4194304, 16777216, 0
};

unsigned peer_payload_window(size_t bytes, unsigned workers)
{
	unsigned w = 1;

	while (w < 1024 && ((size_t)w * bytes < (256u << 10) || w < 2 * workers))
		w *= 2;
	return w;
}

uint64_t peer_payload_tasks(size_t bytes, int quick)
{
	uint64_t budget = quick ? (64ull << 20) : (1ull << 30);
	uint64_t lo = quick ? 8 : 32, hi = quick ? 20000 : 200000;
	uint64_t n = budget / bytes;

	return n < lo ? lo : n > hi ? hi : n;
}

void peer_payload_fill(void *buf, size_t len, uint64_t tag)
{
	uint64_t *w = buf;
	size_t n = len / 8;

	for (size_t i = 0; i < n; i++)
		w[i] = tag + i;
}

uint64_t peer_payload_sum(const void *buf, size_t len)
{
	const uint64_t *w = buf;
	size_t n = len / 8;
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += w[i];
	return s;
}

uint64_t peer_burn(uint64_t iters, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

uint64_t peer_burn_calibrate(uint64_t ns)
{
	static uint64_t per_ms;	/* iterations per millisecond */

	if (!per_ms) {
		uint64_t iters = 1 << 16, t0, dt, best = UINT64_MAX;
		volatile uint64_t sink;

		/* grow until one run takes >= 5 ms, then keep the fastest of 3 */
		/* seeded from the clock so no run can be hoisted out of its timing */
		for (;;) {
			t0 = peer_now_ns();
			sink = peer_burn(iters, t0);
			dt = peer_now_ns() - t0;
			if (dt >= 5000000)
				break;
			iters *= 2;
		}
		for (int k = 0; k < 3; k++) {
			t0 = peer_now_ns();
			sink = peer_burn(iters, t0);
			dt = peer_now_ns() - t0;
			if (dt < best)
				best = dt;
		}
		(void)sink;
		per_ms = iters * 1000000ull / best;
	}
	return per_ms * ns / 1000000ull;
}

double peer_burn_serial_s(uint64_t iters, uint64_t n)
{
	double el[3], t;
	volatile uint64_t sink = 0;

	for (int k = 0; k < 3; k++) {
		uint64_t t0 = peer_now_ns();

		for (uint64_t i = 0; i < n; i++)
			sink += peer_burn(iters, i);
		el[k] = (double)(peer_now_ns() - t0) * 1e-9;
	}
	(void)sink;
	/* median of three */
	if (el[0] > el[1]) {
		t = el[0];
		el[0] = el[1];
		el[1] = t;
	}
	if (el[1] > el[2])
		el[1] = el[2];
	return el[0] > el[1] ? el[0] : el[1];
}

uint64_t peer_seed_count(uint64_t iters, uint64_t frame, uint64_t thresh)
{
	uint64_t i = 0;

	for (uint64_t k = 0; k < iters; k++) {
		i = k + 1;
		__asm__ __volatile__("" : "+r"(i));
	}
	return i * frame * thresh;
}

uint64_t peer_seed_iters(int quick)
{
	return quick ? 1000000ull : 10000000ull;
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t peer_skew_durations(uint64_t *out, size_t n, uint64_t base_ns)
{
	uint64_t s = 42, total = 0;

	for (size_t i = 0; i < n; i++) {
		/* Box-Muller: two uniforms in (0,1] -> one standard normal */
		double u1 = ((double)(splitmix64(&s) >> 11) + 1.0) / 9007199254740993.0;
		double u2 = (double)(splitmix64(&s) >> 11) / 9007199254740992.0;
		double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
		double f = exp(z);	/* lognormal, sigma 1 */

		if (f < 0.1)
			f = 0.1;
		if (f > 10.0)
			f = 10.0;
		out[i] = (uint64_t)(f * (double)base_ns);
		total += out[i];
	}
	return total;
}

size_t peer_skew_tasks(int quick)
{
	return quick ? 2000 : 20000;
}

void peer_spin_for(uint64_t ns)
{
	uint64_t t0 = peer_now_ns();

	while (peer_now_ns() - t0 < ns)
		;
}
