/* SPDX-License-Identifier: MIT */
/*
 * The progress callback (rp_pool_set_progress): called at most every
 * interval while results are collected, and once more when done == total.
 * Free when off.
 */
#ifndef RP_PROGRESS_H
#define RP_PROGRESS_H

#include <stdbool.h>

struct rp_pool;

void rp__progress_slow(struct rp_pool *p, bool final);

/* Report progress if a callback is set and it is time (or final). */
#define rp__progress(p, final)                                                 \
	do {                                                                   \
		if (rp_unlikely((p)->prog.cb))                                 \
			rp__progress_slow((p), (final));                       \
	} while (0)

#endif
