/* SPDX-License-Identifier: MIT */
/*
 * workers = 0 (see inline.h).
 */
#include "rp_internal.h"
#include "inline.h"
#include "rp_clock.h"
#include "stats.h"
#include "task.h"

#include <stdlib.h>

int rp__inline_init(struct rp_pool *p)
{
	int r;

	if (!p->cfg.init)
		return 0;
	r = p->cfg.init(0, p->cfg.init_args_len ? p->cfg.init_args : NULL, p->cfg.init_args_len,
			&p->inl.state);
	return r ? (r < 0 ? r : -r) : 0;
}

void rp__inline_exit(struct rp_pool *p)
{
	if (p->cfg.exit)
		p->cfg.exit(0, p->inl.state);
}

int rp__inline_reserve(struct rp_pool *p, size_t len, void **buf)
{
	struct rp_inline *in = &p->inl;

	if (rp__window_full(&p->win))
		return -EAGAIN;
	if (len > in->scratch_cap || !in->scratch) {
		size_t cap = len < 4096 ? 4096 : len;
		void *n = realloc(in->scratch, cap);

		if (!n)
			return -ENOMEM;
		in->scratch = n;
		in->scratch_cap = cap;
	}
	*buf = in->scratch;
	return 0;
}

void rp__inline_run(struct rp_pool *p, struct rp_slot *s, rp_task_fn fn, uint32_t tag,
		    size_t len)
{
	struct rp_task_priv tp = { .space = RP_SPACE_HEAP };
	struct rp_task t = { .seq = s->seq, .worker = 0, .state = p->inl.state, .priv_ = &tp };
	uint64_t t0 = rp_ticks(), dt;
	struct rp_run r;

	rp__run_record(fn, &t, tag & RP_TAG_CHUNK, p->inl.scratch, len, &r);
	dt = rp_ticks() - t0;
	s->state = RP_SLOT_INLINE;
	s->ibuf = r.reserved ? r.data : NULL;
	s->ilen = (uint32_t)r.len;
	s->status = r.status;
	s->rflags = (uint8_t)r.flags;
	rp__stats_record(&p->st, NULL, s, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt, r.status);
	if (s->owner) {
		struct rp_result res = {
			.data = s->ibuf ? s->ibuf : "", .len = s->ilen, .seq = s->seq,
			.status = r.status, .flags = r.flags, .term_exit = -1,
		};

		rp__owner_deliver(p, s, s->owner, &res);
		free(s->ibuf);
		s->ibuf = NULL;
		rp__window_free_slot(&p->win, s);
	}
}
