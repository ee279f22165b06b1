/* SPDX-License-Identifier: MIT */
/*
 * The reactor's insides, shared by its two back-ends: reactor.c (the API
 * and the futex + poll fallback) and reactor_uring.c (io_uring). Only those
 * two include this.
 */
#ifndef RP_REACTOR_IMPL_H
#define RP_REACTOR_IMPL_H

#include "reactor.h"

#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/*
 * io_uring futex opcodes (Linux 6.7) and futex2 flags: liburing 2.3 and the
 * 6.1 uapi headers predate them. The opcodes are enum members in the uapi
 * header, not macros, so #ifndef cannot detect them: use our own names.
 */
#define RP_IORING_OP_FUTEX_WAIT	51
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32		0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE		128	/* never set: the waker is another process */
#endif

#ifdef RP_WAIT_FUTEX
_Static_assert(RP_REACTOR_FUTEX == RP_WAIT_FUTEX, "reactor modes match RP_WAIT_*");
#endif
#ifdef RP_WAIT_URING
_Static_assert(RP_REACTOR_URING == RP_WAIT_URING, "reactor modes match RP_WAIT_*");
#endif

/* user_data: kind in bits 56..63, id in bits 32..55, generation in 0..31. */
enum { UD_FUTEX = 1, UD_POLL = 2, UD_CTL = 3 };
#define UD(kind, id, gen) (((uint64_t)(kind) << 56) | ((uint64_t)(id) << 32) | (uint32_t)(gen))
#define UD_KIND(ud)	((unsigned)((ud) >> 56))
#define UD_ID(ud)	((unsigned)(((ud) >> 32) & 0xffffffu))
#define UD_GEN(ud)	((uint32_t)(ud))

/* "No timeout" is a one-year timeout: the kernel adds the relative time to
 * its clock without saturating, so a huge tv_sec would expire at once. */
#define FOREVER_NS	(365ull * 24 * 3600 * 1000000000ull)

enum { W_OFF = 0, W_IDLE, W_ARMED };	/* watch.state */

struct watch {
	int fd;
	uint32_t gen;		/* generation of the POLL_ADD in flight */
	uint8_t state;		/* W_IDLE: watched, no request in flight (arm at
				 * the next sleep); W_ARMED: POLL_ADD in flight */
	bool ready;		/* found readable, not yet reported */
};

struct rp_reactor {
	int mode;
	unsigned max_fds;
	unsigned nwatched;
	unsigned nready;	/* watches with ready set */
	unsigned nidle;		/* uring: watches in W_IDLE */
	struct watch *w;
	uint64_t syscalls;

	/* fallback */
	uint64_t poll_ns;
	uint64_t last_poll_ns;
	struct pollfd *pfd;
	unsigned *pid;

	/* io_uring */
	struct io_uring ring;
	unsigned inflight;	/* SQEs queued or in flight, minus CQEs consumed */
	uint32_t gen;
	bool fx_live;		/* the FUTEX_WAIT fx_ud is in flight and still
				 * counts: it waits on (fx_word, fx_val) */
	bool fx_done;		/* ... and has completed, with fx_res */
	int fx_res;
	uint64_t fx_ud;
	_Atomic uint32_t *fx_word;
	uint32_t fx_val;
	_Atomic uint32_t probe_word;
};

static inline uint64_t rp__reactor_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Mark watch w readable (once) for the next report. */
static inline void rp__reactor_set_ready(struct rp_reactor *r, struct watch *w)
{
	if (!w->ready) {
		w->ready = true;
		r->nready++;
	}
}

/* io_uring back-end (reactor_uring.c). */
int rp__uring_init(struct rp_reactor *r);
int rp__uring_wait(struct rp_reactor *r, _Atomic uint32_t *word, uint32_t val, uint64_t deadline);
/* Arm idle polls, let the kernel post completions, consume them. */
int rp__uring_poll(struct rp_reactor *r);
/* Queue the removal of watch id's armed poll (its state is W_ARMED). */
void rp__uring_unwatch(struct rp_reactor *r, unsigned id);

#endif
