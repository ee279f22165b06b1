/* SPDX-License-Identifier: MIT */
/*
 * workers = 0: the serial fallback. Every task runs in the caller at commit,
 * with the same task context, statuses, chunking and ordering as in a
 * worker; results are kept in malloc'd memory until collected. There is no
 * process isolation: a crashing task takes the caller down, as the serial
 * loop it replaces would.
 */
#include "rp_internal.h"
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
	struct rp_task_priv tp = { .inline_mode = true };
	struct rp_task t = { .seq = s->seq, .worker = 0, .state = p->inline_state, .priv_ = &tp };
	uint64_t t0 = rp_ticks(), dt;
	uint8_t rflags = 0;
	int status;

	if (tag & RP_TAG_CHUNK) {
		uint64_t need = rp__chunk_result_size(in, len);
		unsigned char *out = need ? rp_task_result(&t, need) : NULL;

		status = RP_EPROTO;
		if (out) {
			int64_t r = rp__run_chunk(fn, &t, in, len, out, need);

			status = r < 0 ? (int)r : 0;
		}
		if (status)
			rflags = RP_RES_POOL;
	} else {
		status = fn(&t, in, len);
	}
	dt = rp_ticks() - t0;
	if (tp.err) {
		status = tp.err;
		rflags = RP_RES_POOL;
		tp.len = 0;
	}
	s->state = RP_SLOT_INLINE;
	s->ibuf = tp.reserved ? tp.resv : NULL;
	s->ilen = (uint32_t)(tp.reserved ? tp.len : 0);
	s->status = status;
	s->rflags = rflags;
	if (status && rflags)
		s->ilen = 0;
	if (s->kind != RP_OWN_RAW) {
		struct rp_result res = {
			.data = s->ibuf ? s->ibuf : "", .len = s->ilen, .seq = s->seq,
			.status = status, .flags = rflags, .term_exit = -1,
		};

		rp__account(p, s, NULL, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt, status);
		rp__deliver_owned(p, s, &res);
		free(s->ibuf);
		s->ibuf = NULL;
		rp__free_slot(p, s);
	} else {
		rp__account(p, s, NULL, dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt, status);
	}
	return status;
}
