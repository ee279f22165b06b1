/* SPDX-License-Identifier: MIT */
/*
 * The record runner and the task-side API (see task.h). Runs in workers and,
 * for workers = 0, in the caller.
 */
#include "task.h"
#include "chunk.h"
#include "rp_clock.h"

#include <stdlib.h>
#include <string.h>

/* The space for a result of cap bytes, as the context says. */
static void *result_space(struct rp_task_priv *tp, uint64_t cap, int *err)
{
	void *p;

	switch (tp->space) {
	case RP_SPACE_FIXED:
		if (cap > tp->fixed_cap) {
			*err = -EMSGSIZE;
			return NULL;
		}
		return tp->fixed;
	case RP_SPACE_HEAP:
		p = malloc(cap ? cap : 1);
		if (!p)
			*err = -ENOMEM;
		return p;
	default:
		p = rp_ring_reserve(tp->results, cap, err);
		if (rp_unlikely(!p) && *err == -EAGAIN)
			p = tp->wait(tp, cap, err);
		if (!p && !*err)
			*err = -EMSGSIZE;
		return p;
	}
}

void *rp_task_result(struct rp_task *t, size_t cap)
{
	struct rp_task_priv *tp;
	int err = 0;
	void *p;

	if (!t || !t->priv_)
		return NULL;
	tp = t->priv_;
	if (tp->reserved || tp->err)
		return NULL;
	p = result_space(tp, cap, &err);
	if (!p) {
		tp->err = err ? err : -EMSGSIZE;
		return NULL;
	}
	tp->reserved = true;
	tp->resv = p;
	tp->resv_cap = cap;
	tp->len = cap;
	return p;
}

int rp_task_result_len(struct rp_task *t, size_t len)
{
	struct rp_task_priv *tp;

	if (!t || !t->priv_)
		return -EINVAL;
	tp = t->priv_;
	if (!tp->reserved)
		return -EINVAL;
	if (len > tp->resv_cap) {
		tp->err = -EMSGSIZE;
		tp->len = 0;
		return -EMSGSIZE;
	}
	tp->len = len;
	return 0;
}

int rp_task_mark(struct rp_task *t, uint64_t mark)
{
	struct rp_task_priv *tp;

	if (!t || !t->priv_ || mark == UINT64_MAX)
		return -EINVAL;
	tp = t->priv_;
	if (tp->ctl) {
		/* relaxed: cur_start is read with cur_seq's acquire and a
		 * re-check (rp__check_deadlines); any value seen is a start
		 * time of this task. cur_mark is read after the worker died. */
		atomic_store_explicit(&tp->ctl->cur_start, rp_ticks(), memory_order_relaxed);
		atomic_store_explicit(&tp->ctl->cur_mark, mark + 1, memory_order_relaxed);
	}
	return 0;
}

int rp_task_run(struct rp_task *t, struct rp_subtask *sub)
{
	struct rp_task_priv *tp, sp;
	struct rp_task st;
	struct rp_run r;

	if (!t || !(tp = t->priv_) || !sub || !sub->fn || (sub->len && !sub->in) ||
	    (sub->out_cap && !sub->out))
		return -EINVAL;
	memset(&sp, 0, sizeof(sp));
	sp.space = RP_SPACE_FIXED;
	sp.fixed = sub->out;
	sp.fixed_cap = sub->out_cap;
	sp.ctl = tp->ctl;
	st = *t;
	st.seq = sub->seq;
	st.priv_ = &sp;
	rp__run_record(sub->fn, &st, false, sub->in, sub->len, &r);
	sub->status = r.status;
	sub->flags = r.flags;
	sub->out_len = r.reserved ? r.len : 0;
	return 0;
}

/* Run every task of a chunk into its slot of out (laid out as chunk.h
 * says). Returns 0, or RP_EPROTO for an input that is not a valid chunk. */
static int run_chunk(rp_task_fn fn, struct rp_task *t, const void *in, size_t len,
		     unsigned char *out)
{
	const unsigned char *d = in, *data;
	const struct rp_chunk_ent *e;
	struct rp_chunk_ent *re;
	struct rp_chunk_in h;
	unsigned char *slots;
	uint64_t dlen;

	memcpy(&h, d, sizeof(h));
	e = (const void *)(d + sizeof(h));
	data = d + sizeof(h) + (uint64_t)h.count * sizeof(*e);
	dlen = len - (uint64_t)(data - d);
	memcpy(out, &h, sizeof(h));
	re = (void *)(out + sizeof(h));
	slots = out + sizeof(h) + (uint64_t)h.count * sizeof(*re);
	for (uint32_t i = 0; i < h.count; i++) {
		struct rp_subtask sub = { .fn = fn, .seq = t->seq, .out = slots + (uint64_t)i * h.out_cap,
					  .out_cap = h.out_cap };
		struct rp_chunk_ent ent;

		memcpy(&ent, &e[i], sizeof(ent));
		if ((uint64_t)ent.off + ent.len > dlen) {
			sub.status = RP_EPROTO;
			sub.out_len = 0;
		} else {
			sub.in = data + ent.off;
			sub.len = ent.len;
			rp_task_run(t, &sub);
		}
		re[i].off = (uint32_t)sub.status;
		re[i].len = sub.status ? 0 : (uint32_t)sub.out_len;
	}
	return 0;
}

int rp__run_chunk(rp_task_fn fn, struct rp_task *t, const void *in, size_t len)
{
	uint64_t need = rp__chunk_result_size(in, len);
	unsigned char *res = need ? rp_task_result(t, need) : NULL;

	return res ? run_chunk(fn, t, in, len, res) : RP_EPROTO;
}
