/* SPDX-License-Identifier: MIT */
/*
 * The window of sequence numbers and slots (see window.h).
 */
#include "window.h"

#include <errno.h>
#include <stdlib.h>

int rp__window_init(struct rp_window *w, uint64_t max_in_flight)
{
	w->slots = calloc(max_in_flight, sizeof(*w->slots));
	w->mask = max_in_flight - 1;
	return w->slots ? 0 : -ENOMEM;
}

void rp__window_free(struct rp_window *w)
{
	free(w->slots);
	w->slots = NULL;
}

void rp__window_fail(struct rp_window *w, struct rp_slot *s, int status, int sig, int code)
{
	s->state = RP_SLOT_FAILED;
	s->mark = 0;
	s->status = status;
	s->term_signal = sig;
	s->term_exit = code;
	w->nfailed++;
	w->nfailed_owned += s->owner != NULL;
}

void rp__window_unfail(struct rp_window *w, struct rp_slot *s)
{
	w->nfailed--;
	w->nfailed_owned -= s->owner != NULL;
}

struct rp_slot *rp__window_raw_failed(const struct rp_window *w)
{
	for (uint64_t q = w->next_seq; q != w->submit_seq; q++) {
		struct rp_slot *s = rp__slot(w, q);

		if (s->state == RP_SLOT_FAILED && s->seq == q && !s->owner)
			return s;
	}
	return NULL;
}
