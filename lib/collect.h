/* SPDX-License-Identifier: MIT */
/*
 * Collecting: reading results in place at the heads of the result rings,
 * validating each against its slot (a record that does not match the
 * window is a protocol violation: fault.c kills its worker), and
 * accounting for what is taken. Each worker runs its records in order, so
 * each result ring is FIFO in dispatch order: in submit order, the
 * caller's next result is at the head of one known ring. Delivery is done
 * above: owner.c for futures and jobs, stream.c for the caller.
 */
#ifndef RP_COLLECT_H
#define RP_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "rp_internal.h"
#include "dispatch.h"

/*
 * The head of worker i's result ring, validated: returns its slot and fills
 * *v; NULL if the ring is empty or the worker broke the protocol (then it
 * has been handled and *bad is set). The view is cached until taken.
 */
struct rp_slot *rp__head_slow(struct rp_pool *p, unsigned i, struct rp_rec_view *v, bool *bad);

static inline struct rp_slot *rp__head(struct rp_pool *p, unsigned i, struct rp_rec_view *v,
				       bool *bad)
{
	struct rp_worker *w = &p->procs.w[i];

	if (w->hvalid) {
		*v = w->hview;
		return w->hslot;
	}
	return rp__head_slow(p, i, v, bad);
}

/* Consume worker i's head record (v) whose slot is s: release its space,
 * account for it, free the slot. */
void rp__head_consume(struct rp_pool *p, unsigned i, struct rp_slot *s,
		      const struct rp_rec_view *v);

/* Account for a collected record (worker i, or -1 for none). */
static inline void rp__account(struct rp_pool *p, struct rp_slot *s, int i, uint32_t ticks, int status)
{
	struct rp_worker *w = i >= 0 ? &p->procs.w[i] : NULL;
	uint64_t run = rp__stats_record(&p->st, w ? &w->st : NULL, s, ticks, status);

	if (w)
		rp__dispatch_learn(p, w, run, s->count);
}

/* The result a head record or a failed slot stands for. */
/* Statuses a worker may flag as the pool's (RP_RES_POOL): those the record
 * runner sets. Any other flagged status is the task's own: unflagged. */
static inline unsigned rp__checked_flags(const struct rp_rec_view *v)
{
	if (rp_likely(!(v->tag & RP_RES_POOL)))
		return 0;
	return v->status == RP_EMSGSIZE || v->status == RP_EPROTO || v->status == -ENOSYS ||
			       v->status == -ENOMEM
		       ? RP_RES_POOL
		       : 0;
}

static inline void rp__view_to_result(const struct rp_rec_view *v, unsigned i, struct rp_result *res)
{
	res->data = v->data;
	res->len = v->len;
	res->seq = v->seq;
	res->status = v->status;
	res->flags = rp__checked_flags(v);
	res->worker = i;
	res->term_signal = 0;
	res->term_exit = -1;
	res->mark = 0;
	res->user_data = 0;
}
void rp__failed_to_result(const struct rp_slot *s, struct rp_result *res);

/*
 * Workers not yet measured whose first result waits at their ring head:
 * learn their limit from it now, before the caller collects it (so a
 * submission is not refused with -EAGAIN only because nothing was
 * measured). Returns true if some limit grew.
 */
bool rp__learn_heads(struct rp_pool *p);

/* A result for rp_next is ready (in order, or any). Updates raw_low only. */
bool rp__raw_ready(struct rp_pool *p, bool unordered);

/* A result for a future or job is ready (no side effects). */
bool rp__owned_ready(struct rp_pool *p);

/* Worker i's ring head is a result of the caller's waiting for rp_next:
 * nothing owned behind it moves until then. (Results the caller holds are
 * read already: owned ones behind them are delivered.) */
bool rp__head_is_raw(const struct rp_pool *p, unsigned i);

#endif
