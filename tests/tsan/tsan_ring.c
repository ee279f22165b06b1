/* SPDX-License-Identifier: MIT */
/*
 * The ring and eventcount code under ThreadSanitizer: two threads stream
 * records both ways through one memfd region with tests/stress/stress_side.c
 * (random sizes, wrap-around, pauses, small spin budgets so both sides sleep;
 * sequence numbers and checksums checked). Exit 0 on success; a TSan report
 * exits 66 (meson.build sets halt_on_error); a hang trips alarm() (exit 3).
 */
/*
 * Two phases. "same": both threads use one mapping, so TSan sees every
 * access and checks that the ring's acquire/release pairs (P1/C1, C2/P2)
 * order all record reads and writes. "dual": the region is mapped twice and
 * each thread uses its own mapping, as two processes would; TSan cannot
 * relate the two addresses of one byte, so this phase checks function (only
 * offsets are shared; FUTEX_WAKE through one mapping wakes a waiter on the
 * other) rather than races. TSan does not model futex syscalls, and need
 * not: no data is handed over by the futex, only by the ring's atomics.
 *
 * Usage: tsan_ring [--records N] [--seconds N] [--cap BYTES] [--seed N]
 *                  [--phase same|dual|both]
 */
#include "rp_region.h"
#include "stress_side.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig)
{
	static const char msg[] = "tsan_ring: watchdog: the run hung, failing\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static void *side_main(void *arg)
{
	stress_side_run(arg);
	return NULL;
}

static uint64_t arg_u64(const char *opt, const char *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v ? v : "", &end, 0);
	if (!v || errno || *end) {
		fprintf(stderr, "tsan_ring: bad value for %s\n", opt);
		exit(2);
	}
	return x;
}

/* One phase: two threads, over one mapping or two. Returns the error count. */
static unsigned long phase(const char *name, bool dual, struct stress_cfg cfg, uint64_t seconds)
{
	struct stress_side side[2];
	struct rp_region reg;
	pthread_t th[2];
	void *base[2];
	uint64_t t0, t1;
	unsigned long errors = 0;
	int err;

	err = rp_region_create(&reg, "rp-tsan", stress_region_size(cfg.cap));
	if (!err)
		err = stress_layout(reg.base, cfg.cap);
	if (err) {
		fprintf(stderr, "tsan_ring: region/ring setup: %s\n", strerror(-err));
		return 1;
	}
	base[0] = reg.base;
	base[1] = reg.base;
	if (dual) {
		/* The same pages at a second address, as the other process would see them. */
		base[1] = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED, reg.fd, 0);
		if (base[1] == MAP_FAILED) {
			perror("tsan_ring: second mmap");
			rp_region_destroy(&reg);
			return 1;
		}
	}
	t0 = stress_now_ns();
	cfg.deadline_ns = t0 + seconds * 1000000000ull;
	for (unsigned i = 0; i < 2; i++) {
		err = stress_side_init(&side[i], base[i], i, &cfg);
		if (err) {
			fprintf(stderr, "tsan_ring: attach: %s\n", strerror(-err));
			exit(2);
		}
	}
	for (unsigned i = 0; i < 2; i++) {
		err = pthread_create(&th[i], NULL, side_main, &side[i]);
		if (err) {
			fprintf(stderr, "tsan_ring: pthread_create: %s\n", strerror(err));
			exit(2);
		}
	}
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	t1 = stress_now_ns();

	printf("tsan_ring: phase %s (%s): %.1f s, ring %" PRIu64 " B, seed %#" PRIx64 "\n", name,
	       dual ? "two mappings" : "one mapping", (double)(t1 - t0) / 1e9, cfg.cap, cfg.seed);
	for (unsigned i = 0; i < 2; i++) {
		const struct stress_stats *st = &side[i].st;

		printf("  side %u: sent %" PRIu64 ", checked %" PRIu64 " (%" PRIu64 " B), sleeps %" PRIu64
		       ", wakes issued %" PRIu64 ", timeouts %" PRIu64 ", lost wake-ups %" PRIu64
		       ", errors %" PRIu64 "\n", i, st->sent, st->recv, st->bytes_recv, st->sleeps,
		       st->wakes, st->timeouts, st->lost_wakeups, st->errors);
		if (st->errors)
			printf("    first error: %s\n", st->error);
		errors += st->errors;
	}
	if (!errors && (side[0].st.sent != side[1].st.recv || side[1].st.sent != side[0].st.recv)) {
		printf("tsan_ring: phase %s: counts disagree\n", name);
		errors++;
	}
	if (!errors && (!side[0].st.sleeps || !side[1].st.sleeps))
		printf("tsan_ring: note: a side never slept in phase %s\n", name);
	if (dual)
		munmap(base[1], reg.size);
	rp_region_destroy(&reg);
	return errors;
}

int main(int argc, char **argv)
{
	struct stress_cfg cfg = {
		.cap = 4096,
		.records = 500000,
		.spin_max = 32,
		.pause_every = 32,
		.pause_max_us = 100,
		/* TSan slows everything ~10x; a correct run never needs these. */
		.wait_timeout_ns = 5000000000ull,
		.stall_ns = 30000000000ull,
	};
	uint64_t seconds = 10;
	const char *which = "both";
	unsigned long errors = 0;

	cfg.seed = (uint64_t)time(NULL);
	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--records"))
			cfg.records = arg_u64(o, v);
		else if (!strcmp(o, "--seconds"))
			seconds = arg_u64(o, v);
		else if (!strcmp(o, "--cap"))
			cfg.cap = arg_u64(o, v);
		else if (!strcmp(o, "--seed"))
			cfg.seed = arg_u64(o, v);
		else if (!strcmp(o, "--phase") && v)
			which = v;
		else {
			fprintf(stderr, "usage: tsan_ring [--records N] [--seconds N] [--cap BYTES]"
					" [--seed N] [--phase same|dual|both]\n");
			return 2;
		}
	}
	/* Each phase sends up to `records` each way, for at most `seconds`. */
	signal(SIGALRM, on_alarm);
	alarm((unsigned)(2 * seconds + 120));
	if (strcmp(which, "dual"))
		errors += phase("same", false, cfg, seconds);
	if (strcmp(which, "same"))
		errors += phase("dual", true, cfg, seconds);
	printf("tsan_ring: %s\n", errors ? "FAILED" : "ok");
	return errors ? 1 : 0;
}
