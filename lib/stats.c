/* SPDX-License-Identifier: MIT */
/*
 * Statistics (see stats.h): the latency histogram and per-record
 * accounting. Percentiles are read by info.c.
 */
#include "stats.h"
#include "rp_clock.h"
#include "window.h"

void rp__hist_add(struct rp_hist *h, uint64_t v)
{
	unsigned oct, sub;

	if (v < RP_HIST_SUB) {
		oct = 0;
		sub = (unsigned)v;
	} else {
		oct = 63u - (unsigned)__builtin_clzll(v);	/* >= 4 */
		sub = (unsigned)(v >> (oct - 4)) & (RP_HIST_SUB - 1);
		oct -= 3;
	}
	h->b[oct * RP_HIST_SUB + sub]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

uint64_t rp__hist_pct(const struct rp_hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->n), seen = 0;

	if (!h->n)
		return 0;
	for (unsigned i = 0; i < 64 * RP_HIST_SUB; i++) {
		seen += h->b[i];
		if (seen > want) {
			unsigned oct = i / RP_HIST_SUB, sub = i % RP_HIST_SUB;
			uint64_t v;

			if (oct == 0)
				return sub;
			/* midpoint of the bucket, never above the largest sample */
			v = ((uint64_t)(RP_HIST_SUB + sub) << (oct - 1)) + ((1ull << (oct - 1)) >> 1);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}
