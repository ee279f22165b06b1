/* SPDX-License-Identifier: MIT */
/*
 * A misbehaving rpmap plugin for the tests. `testfn` copies each record,
 * except that a record containing
 *   CRASH  dies with SIGSEGV,       FAIL  returns -EINVAL,
 *   EXIT   calls _exit(7),          BIG   writes a 3 MiB result (all 'x').
 * `slow` copies each record after sleeping 2 ms (for Ctrl-C tests);
 * `seq` prints the record index rpmap passes as t->seq;
 * `sleepy` copies each record, after sleeping N ms on a record containing
 *   SLEEP<N>, or spinning the CPU for N ms on one containing SPIN<N>;
 * `flaky` is testfn, except that a record containing FLAKY<N> (N default 1)
 *   dies with SIGSEGV the first N times it is run: runs are counted with
 *   marker files <index>.<k> in the directory $RPMAP_MARKS.
 * `sized` writes N bytes of 'x' for a record that is the decimal number N;
 * `leak` copies each record and leaks 1 MiB (allocated and touched);
 * `noisy` copies each record after writing to stdout (printf + fflush, and
 *   write(1)) and reading stdin (read(0)), as a careless plugin would;
 * `expand` writes its record K times, K = its first byte % 40 (% 3 for
 *   records over 64 KiB): results from none to 39 times the record.
 */
#include <ringpool.h>

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int has(const void *in, size_t len, const char *w)
{
	return memmem(in, len, w, strlen(w)) != NULL;
}

static int copy(struct rp_task *t, const void *in, size_t len)
{
	void *out = rp_task_result(t, len);

	if (!out)
		return -ENOMEM;
	memcpy(out, in, len);
	return 0;
}

int testfn(struct rp_task *t, const void *in, size_t len)
{
	if (has(in, len, "CRASH"))
		raise(SIGSEGV);
	if (has(in, len, "EXIT"))
		_exit(7);
	if (has(in, len, "FAIL"))
		return -EINVAL;
	if (has(in, len, "BIG")) {
		size_t n = 3u << 20;
		char *out = rp_task_result(t, n);

		if (!out)
			return -ENOMEM;
		memset(out, 'x', n);
		return 0;
	}
	return copy(t, in, len);
}

int slow(struct rp_task *t, const void *in, size_t len)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL);
	return copy(t, in, len);
}

int seq(struct rp_task *t, const void *in, size_t len)
{
	char *out = rp_task_result(t, 24);

	(void)in;
	(void)len;
	if (!out)
		return -ENOMEM;
	return rp_task_result_len(t, (size_t)snprintf(out, 24, "%llu",
							 (unsigned long long)t->seq));
}

/* The number after `w` in the record (0 if none). */
static long num_after(const void *in, size_t len, const char *w)
{
	const char *p = memmem(in, len, w, strlen(w)), *end = (const char *)in + len;
	long n = 0;

	if (!p)
		return -1;
	for (p += strlen(w); p < end && *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	return n;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int sleepy(struct rp_task *t, const void *in, size_t len)
{
	long ms = num_after(in, len, "SLEEP");

	if (ms > 0) {
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) != 0)
			;
	}
	ms = num_after(in, len, "SPIN");
	if (ms > 0) {
		uint64_t end = mono_ms() + (uint64_t)ms;
		volatile uint64_t x = 0;

		while (mono_ms() < end)
			x++;
	}
	return copy(t, in, len);
}

int flaky(struct rp_task *t, const void *in, size_t len)
{
	long n = num_after(in, len, "FLAKY");
	const char *dir = getenv("RPMAP_MARKS");

	if (n >= 0) {
		char path[4096];

		if (!dir)
			return -EINVAL;
		for (long k = 1; k <= (n ? n : 1); k++) {
			int fd;

			snprintf(path, sizeof(path), "%s/%llu.%ld", dir, (unsigned long long)t->seq, k);
			fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
			if (fd >= 0) {
				close(fd);
				raise(SIGSEGV);
			}
		}
	}
	return testfn(t, in, len);
}

int sized(struct rp_task *t, const void *in, size_t len)
{
	char num[32];
	size_t n;
	char *out;

	if (len >= sizeof(num))
		return -EINVAL;
	memcpy(num, in, len);
	num[len] = 0;
	n = (size_t)strtoull(num, NULL, 10);
	out = rp_task_result(t, n);
	if (!out)
		return -ENOMEM;
	memset(out, 'x', n);
	return 0;
}

int leak(struct rp_task *t, const void *in, size_t len)
{
	size_t n = 1u << 20;
	char *p = malloc(n);

	if (!p)
		return -ENOMEM;
	memset(p, (int)len, n);	/* touched: it counts in the resident size */
	__asm__ volatile("" : : "r"(p) : "memory");
	return copy(t, in, len);
}

int noisy(struct rp_task *t, const void *in, size_t len)
{
	char buf[4096];
	ssize_t r;

	printf("NOISE from printf, record %llu\n", (unsigned long long)t->seq);
	fflush(stdout);
	r = write(1, "NOISE from write(1)\n", 20);
	/* Whatever stdin is: a read must neither block for long nor take
	 * the parent's input. */
	r = read(0, buf, sizeof(buf));
	(void)r;
	return copy(t, in, len);
}

int expand(struct rp_task *t, const void *in, size_t len)
{
	const unsigned char *b = in;
	size_t k = len ? b[0] % (len > 65536 ? 3 : 40) : 0;
	char *out = rp_task_result(t, k * len);

	if (!out && k && len)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		memcpy(out + i * len, in, len);
	return 0;
}
