/* SPDX-License-Identifier: MIT */
/*
 * The window: sequence numbers, one slot per task record in flight, and the
 * accounting of what is outstanding. Slot seq % max_in_flight names the
 * record's worker, its owner (NULL: the caller's own stream) and, once the
 * pool decided it, its status. Results wait in place in the rings; the slot
 * array is the reorder buffer. Owns no behaviour beyond its counters: the
 * modules above decide what a slot's state means for them.
 */
#ifndef RP_WINDOW_H
#define RP_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_owner;

enum {
	RP_SLOT_FREE = 0,
	RP_SLOT_PENDING,	/* dispatched; the result will come from its worker's ring */
	RP_SLOT_FAILED,		/* the pool decided the status (worker died, terminate) */
	RP_SLOT_INLINE,		/* RP_CFG_INLINE: ran at commit, result in ibuf */
	RP_SLOT_HELD,		/* handed to the caller by rp_next*, not released */
};

struct rp_slot {
	uint64_t seq;
	uint64_t t_submit;	/* rp_ticks() at commit (sampled), for latency */
	struct rp_owner *owner;	/* future or job; NULL: the caller's stream */
	uint64_t index;		/* owner: its index of the record's first task;
				 * the caller's stream: the task's user_data */
	void *ibuf;		/* RP_SLOT_INLINE: the result (malloc'd) */
	uint32_t ilen;
	uint16_t worker;
	uint16_t count;		/* tasks in the record (a chunk), >= 1 */
	uint8_t state;
	uint8_t rflags;		/* RP_SLOT_INLINE: the result's RP_RES_* flags */
	uint16_t retries;	/* times re-run after its worker died */
	int32_t status;		/* FAILED, INLINE */
	int32_t term_signal;
	int32_t term_exit;
	uint64_t mark;		/* FAILED: the task's rp_task_mark + 1, or 0 */
};

struct rp_window {
	struct rp_slot *slots;
	uint64_t mask;		/* max_in_flight - 1 */
	uint64_t submit_seq;	/* next sequence number to hand out */
	uint64_t next_seq;	/* lowest sequence number whose slot is not free */
	uint64_t raw_low;	/* lowest that may be a caller's outstanding slot */
	uint64_t raw_out;	/* the caller's slots outstanding */
	uint64_t in_flight;	/* records submitted, not yet freed */
	uint64_t completed;	/* tasks whose slots were freed */
	uint64_t nfailed;	/* slots in RP_SLOT_FAILED */
	uint64_t nfailed_owned;	/* of which owned by a future or job */
};

/* Allocate max_in_flight slots (a power of two). Returns 0 or -ENOMEM. */
int rp__window_init(struct rp_window *w, uint64_t max_in_flight);
void rp__window_free(struct rp_window *w);

static inline struct rp_slot *rp__slot(const struct rp_window *w, uint64_t seq)
{
	return &w->slots[seq & w->mask];
}

static inline bool rp__window_full(const struct rp_window *w)
{
	return w->submit_seq - w->next_seq > w->mask;
}

/*
 * Take the next sequence number for a record of `count` tasks owned by
 * owner (NULL: the caller's) starting at the owner's task `index`. The slot
 * is left FREE for the caller to set. Call only when not full.
 */
static inline struct rp_slot *rp__window_open(struct rp_window *w, struct rp_owner *owner,
					      uint64_t index, uint16_t count)
{
	uint64_t q = w->submit_seq++;
	struct rp_slot *s = rp__slot(w, q);

	s->seq = q;
	s->retries = 0;
	s->owner = owner;
	s->index = index;
	s->count = count;
	w->in_flight++;
	w->raw_out += !owner;
	return s;
}

/* The pool decided slot s's status. */
void rp__window_fail(struct rp_window *w, struct rp_slot *s, int status, int sig, int code);

/* A FAILED slot is being handed to its consumer. */
void rp__window_unfail(struct rp_window *w, struct rp_slot *s);

/* Free a collected slot and advance the window. */
static inline void rp__window_free_slot(struct rp_window *w, struct rp_slot *s)
{
	s->state = RP_SLOT_FREE;
	s->owner = NULL;
	w->in_flight--;
	w->completed += s->count;
	while (w->next_seq != w->submit_seq && rp__slot(w, w->next_seq)->state == RP_SLOT_FREE)
		w->next_seq++;
}

/* Advance raw_low past slots that are free or not the caller's; returns
 * the caller's oldest outstanding slot, or NULL if none. */
static inline struct rp_slot *rp__window_raw_head(struct rp_window *w)
{
	while (w->raw_low < w->submit_seq) {
		struct rp_slot *s = rp__slot(w, w->raw_low);

		if (s->seq == w->raw_low && s->state != RP_SLOT_FREE && s->state != RP_SLOT_HELD &&
		    !s->owner)
			return s;
		w->raw_low++;
	}
	return NULL;
}

/* The caller's oldest FAILED slot, or NULL. O(window). */
struct rp_slot *rp__window_raw_failed(const struct rp_window *w);

#endif
