/* SPDX-License-Identifier: MIT */
/*
 * Soak: stream tiny and slow tasks through a pool while killing a random
 * worker on a schedule, and check that nothing is lost, duplicated or
 * reordered, and that fds and memory stay flat. Three phases: no kills, one
 * kill per second, one kill every --kill-ms (default 100 ms). Prints a
 * summary and one JSON line; exits 1 on any loss, duplicate, reordering or
 * leak. Usage: soak [--seconds N] [--kill-ms M] [--workers W]
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ringpool.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct task_in {
	uint64_t value;
	uint32_t sleep_us;
	uint32_t pad;
};

static int task(struct rp_task *t, const void *in, size_t len)
{
	struct task_in x;
	uint64_t *out;

	if (len != sizeof(x))
		return -EINVAL;
	memcpy(&x, in, sizeof(x));
	if (x.sleep_us)
		usleep(x.sleep_us);
	out = rp_task_result(t, sizeof(*out));
	if (!out)
		return -ENOMEM;
	*out = x.value * 2654435761u + 7;
	return 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct phase {
	const char *name;
	uint64_t kill_ns;	/* 0: no kills */
	uint64_t tasks, crashed, kills;
	double secs;
};

int main(int argc, char **argv)
{
	unsigned seconds = 600, workers = 2, kill_ms = 100;
	struct rp_config cfg;
	struct rp_pool *pool;
	uint64_t sub = 0, expect = 0, lost = 0, dup = 0, order = 0, bad = 0, rng = 88172645463325252ull;
	uint64_t *det = NULL, ndet = 0, capdet = 0;
	int fd0, fd1, err;
	long rss0, rss1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--kill-ms") && i + 1 < argc)
			kill_ms = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			workers = (unsigned)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: soak [--seconds N] [--kill-ms M] [--workers W]\n");
			return 2;
		}
	}
	if (!seconds || !workers || !kill_ms)
		return 2;
	struct phase ph[3] = {
		{ .name = "no kills", .kill_ns = 0 },
		{ .name = "1 kill/s", .kill_ns = 1000000000ull },
		{ .name = "kill every", .kill_ns = (uint64_t)kill_ms * 1000000ull },
	};
	/* Watchdog: a hang fails. */
	alarm(seconds + 60);
	rp_config_init(&cfg);
	cfg.workers = workers;
	cfg.max_restarts = 100000;
	cfg.spin_ns = 20000;
	err = rp_pool_create(&pool, &cfg);
	if (err) {
		fprintf(stderr, "soak: rp_pool_create: %s\n", strerror(-err));
		return 1;
	}
	fd0 = count_fds();
	rss0 = rss_kib();
	for (int k = 0; k < 3; k++) {
		struct phase *P = &ph[k];
		uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000ull / 3;
		uint64_t next_kill = P->kill_ns ? t0 + P->kill_ns : UINT64_MAX;
		uint64_t kill_at = 0, done0 = expect;
		int victim = -1, victim_idx = -1;

		while (now_ns() < end || sub != expect) {
			struct rp_result r;
			uint64_t now;

			/* Submit while there is room (stop at the phase's end). */
			while (now_ns() < end) {
				struct task_in in = { .value = sub };

				rng ^= rng << 13;
				rng ^= rng >> 7;
				rng ^= rng << 17;
				if (rng % 10 == 0)
					in.sleep_us = 1000 + (uint32_t)(rng >> 40) % 4000;
				if (rp_submit(pool, task, &in, sizeof(in), 0, 0, NULL))
					break;
				sub++;
			}
			now = now_ns();
			if (now >= next_kill && victim < 0) {
				struct rp_worker_stats ws;

				victim_idx = (int)(rng % workers);
				if (rp_worker_stats(pool, (unsigned)victim_idx, &ws) == 0 && ws.alive &&
				    ws.pid > 0 && kill(ws.pid, SIGKILL) == 0) {
					victim = ws.pid;
					kill_at = now;
					P->kills++;
				}
				next_kill = now + P->kill_ns;
			}
			err = rp_next(pool, &r, sub == expect ? RP_NONBLOCK : 0);
			if (err == -ENODATA || err == -EAGAIN)
				continue;
			if (err) {
				fprintf(stderr, "soak: rp_next: %s\n", strerror(-err));
				return 1;
			}
			if (r.seq != expect) {
				if (r.seq < expect)
					dup++;
				else
					order++;
			}
			if (r.status == RP_ECRASHED) {
				P->crashed++;
			} else if (r.status || r.len != 8 ||
				   *(const uint64_t *)r.data != r.seq * 2654435761u + 7) {
				bad++;
			}
			expect = r.seq + 1;
			rp_release(pool, &r);
			if (victim >= 0) {
				struct rp_worker_stats ws;

				/* Detected once the pool has replaced it. */
				if (rp_worker_stats(pool, (unsigned)victim_idx, &ws) == 0 &&
				    ws.pid != victim) {
					if (ndet == capdet) {
						capdet = capdet ? capdet * 2 : 1024;
						det = realloc(det, capdet * sizeof(*det));
					}
					det[ndet++] = now_ns() - kill_at;
					victim = -1;
				}
			}
		}
		P->secs = (double)(now_ns() - t0) * 1e-9;
		P->tasks = expect - done0;
	}
	lost = sub - expect;
	struct rp_stats st;
	rp_pool_stats(pool, &st);
	fd1 = count_fds();
	rss1 = rss_kib();
	rp_pool_destroy(pool);
	qsort(det, ndet, sizeof(*det), cmp_u64);
	double p50 = ndet ? (double)det[ndet / 2] / 1e6 : 0, p99 = ndet ? (double)det[ndet * 99 / 100] / 1e6 : 0;

	printf("soak: %u s, %u workers\n", seconds, workers);
	for (int k = 0; k < 3; k++)
		printf("  %-10s %8.0f tasks/s  kills %-5lu crashed tasks %lu\n", ph[k].name,
		       (double)ph[k].tasks / ph[k].secs,
		       (unsigned long)ph[k].kills, (unsigned long)ph[k].crashed);
	printf("  submitted %lu delivered %lu lost %lu duplicated %lu out of order %lu wrong %lu\n",
	       (unsigned long)sub, (unsigned long)expect, (unsigned long)lost, (unsigned long)dup,
	       (unsigned long)order, (unsigned long)bad);
	printf("  kills survived %lu (restarts %lu), detection p50 %.2f ms p99 %.2f ms\n",
	       (unsigned long)(ph[1].kills + ph[2].kills), (unsigned long)st.restarts, p50, p99);
	printf("  fds %d -> %d, parent RSS %ld -> %ld KiB\n", fd0, fd1, rss0, rss1);
	printf("{\"workload\": \"soak\", \"impl\": \"ringpool\", \"workers\": %u, \"seconds\": %u, "
	       "\"submitted\": %lu, \"delivered\": %lu, \"lost\": %lu, \"duplicated\": %lu, "
	       "\"out_of_order\": %lu, \"wrong\": %lu, \"kills\": %lu, \"detect_p50_ms\": %.3f, "
	       "\"detect_p99_ms\": %.3f, \"tasks_per_s_no_kills\": %.0f, \"tasks_per_s_1_kill_per_s\": %.0f, "
	       "\"tasks_per_s_kill_every_%u_ms\": %.0f, \"fds_start\": %d, \"fds_end\": %d, "
	       "\"rss_kib_start\": %ld, \"rss_kib_end\": %ld}\n",
	       workers, seconds, (unsigned long)sub, (unsigned long)expect, (unsigned long)lost,
	       (unsigned long)dup, (unsigned long)order, (unsigned long)bad,
	       (unsigned long)(ph[1].kills + ph[2].kills), p50, p99,
	       (double)ph[0].tasks / ph[0].secs, (double)ph[1].tasks / ph[1].secs, kill_ms,
	       (double)ph[2].tasks / ph[2].secs, fd0, fd1, rss0, rss1);
	free(det);
	if (lost || dup || order || bad || fd1 != fd0 || rss1 - rss0 > 16384) {
		fprintf(stderr, "soak: FAILED\n");
		return 1;
	}
	return 0;
}
