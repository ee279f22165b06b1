/* SPDX-License-Identifier: MIT */
/*
 * workers = 0: the serial fallback. Every task runs in the caller at
 * commit, through the same record runner as in a worker (task.c), with the
 * same statuses, chunking and order; results wait in malloc'd memory in
 * their slots until collected. No isolation: a crashing task takes the
 * caller down, as the serial loop it replaces would.
 */
#ifndef RP_INLINE_H
#define RP_INLINE_H

#include <stddef.h>
#include <stdint.h>

#include "ringpool.h"

struct rp_pool;
struct rp_slot;

/* Reserve len bytes of input in the scratch buffer. Returns 0, -EAGAIN
 * (window full) or -ENOMEM. */
int rp__inline_reserve(struct rp_pool *p, size_t len, void **buf);

/* Run the committed record (len bytes in the scratch buffer) for slot s;
 * its result waits in s (or goes to its owner at once). */
void rp__inline_run(struct rp_pool *p, struct rp_slot *s, rp_task_fn fn, uint32_t tag,
		    size_t len);

/* The initializer and exit hook, in the caller. */
int rp__inline_init(struct rp_pool *p);
void rp__inline_exit(struct rp_pool *p);

#endif
