/* SPDX-License-Identifier: MIT */
/*
 * Statistics: a sampled log-linear latency histogram, counters, and the
 * per-worker figures behind rp_pool_stats and rp_worker_stats. Everything
 * stays in ticks on the hot path; conversions happen when read.
 */
#ifndef RP_STATS_H
#define RP_STATS_H

#include <stdint.h>

#include "rp_clock.h"
#include "window.h"

/* One record in this many has its submit-to-collect latency measured. */
#define RP_LAT_SAMPLE 4u

/* 64 octaves x 16 sub-buckets: within 3%. */
#define RP_HIST_SUB 16
struct rp_hist {
	uint64_t n;
	uint64_t max;
	uint32_t b[64 * RP_HIST_SUB];
};

struct rp_pstats {
	struct rp_hist hist;
	uint64_t failed;	/* results with a non-zero status */
	uint64_t futex_waits;	/* the parent's */
	uint64_t futex_wakes;
	uint64_t liveness_checks;
	uint64_t t_start_ns;
};

/* A worker's figures, kept by the parent from what it collects. */
struct rp_wstats {
	uint64_t tasks, failed, busy_ticks, wait_ticks;
};

void rp__hist_add(struct rp_hist *h, uint64_t v);

/*
 * Account one collected record (ticks: its run time as the worker
 * reported, UINT32_MAX if unknown; ws NULL if no worker ran it). Returns
 * its run time in ticks (the latency if unknown). On the hot path: inline.
 */
static inline uint64_t rp__stats_record(struct rp_pstats *st, struct rp_wstats *ws,
					const struct rp_slot *s, uint32_t ticks, int status)
{
	uint64_t lat = s->t_submit ? rp_ticks() - s->t_submit : 0;
	uint64_t run = ticks == UINT32_MAX ? lat : ticks;

	if (s->t_submit)
		rp__hist_add(&st->hist, lat);
	if (status)
		st->failed++;
	if (ws) {
		ws->tasks += s->count;
		ws->failed += status != 0;
		ws->busy_ticks += run;
		/* sampled like the latency, so scaled up */
		if (s->t_submit && lat > run)
			ws->wait_ticks += (lat - run) * RP_LAT_SAMPLE;
	}
	return run;
}

/* The q-quantile of the histogram, in ticks. */
uint64_t rp__hist_pct(const struct rp_hist *h, double q);

#endif
