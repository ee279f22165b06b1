/* SPDX-License-Identifier: MIT */
/*
 * workers = 0: the serial fallback. Every task runs in the caller at commit,
 * with the same task context, statuses, chunking and ordering as in a
 * worker; results are kept in malloc'd memory until collected. There is no
 * process isolation: a crashing task takes the caller down, as the serial
 * loop it replaces would.
 */
#include "rp_internal.h"
#include "task.h"
#include "rp_clock.h"

#include <stdlib.h>

int rp__inline_init(struct rp_pool *p)
{
	if (!p->cfg.init)
		return 0;
	int r = p->cfg.init(0, p->cfg.init_args_len ? p->cfg.init_args : NULL,
			    p->cfg.init_args_len, &p->inline_state);

	return r ? (r < 0 ? r : -r) : 0;
}

void rp__inline_exit(struct rp_pool *p)
{
	if (p->cfg.exit)
		p->cfg.exit(0, p->inline_state);
}

int rp__inline_run(struct rp_pool *p, struct rp_slot *s, rp_task_fn fn, uint32_t tag,
		   const void *in, size_t len)
{
	struct rp_task_priv tp = { .space = RP_SPACE_HEAP };
	struct rp_task t = { .seq = s->seq, .worker = 0, .state = p->inline_state, .priv_ = &tp };
	uint64_t t0 = rp_ticks(), dt;
	struct rp_run r;

	rp__run_record(fn, &t, tag & RP_TAG_CHUNK, in, len, &r);
	dt = rp_ticks() - t0;
	s->state = RP_SLOT_INLINE;
	s->ibuf = r.reserved ? r.data : NULL;
	s->ilen = (uint32_t)r.len;
	s->status = r.status;
	s->rflags = (uint8_t)r.flags;
	rp__account(p, s, NULL, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt, r.status);
	if (s->kind != RP_OWN_RAW) {
		struct rp_result res = {
			.data = s->ibuf ? s->ibuf : "", .len = s->ilen, .seq = s->seq,
			.status = r.status, .flags = r.flags, .term_exit = -1,
		};

		rp__deliver_owned(p, s, &res);
		free(s->ibuf);
		s->ibuf = NULL;
		rp__free_slot(p, s);
	}
	return r.status;
}
