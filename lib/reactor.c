/* SPDX-License-Identifier: MIT */
/*
 * The parent's reactor (see reactor.h): one sleep for "doorbell rung, worker
 * died, or time is up". io_uring mode keeps one POLL_ADD armed per watched
 * pidfd and one FUTEX_WAIT on the doorbell, and sleeps in io_uring_enter with
 * the timeout passed as an argument (IORING_ENTER_EXT_ARG, no timeout SQE).
 * Every request carries a generation in its user_data; a completion whose
 * generation is no longer current (a cancelled FUTEX_WAIT for an older value,
 * the poll of an unwatched id) is consumed and ignored, never taken for a
 * wake. Fallback mode is FUTEX_WAIT slices plus poll(2) when due.
 */
#include "reactor.h"

#include "rp_evc.h"

#include <errno.h>
#include <liburing.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool env_no_uring(void)
{
	const char *s = getenv("RINGPOOL_NO_URING");

	return s && *s && strcmp(s, "0") != 0;
}

/* ---------------------------------------------------------------- io_uring */

/* Returns a vacant SQE, flushing the queue once if it is full; NULL only if
 * that flush failed. Counts the SQE as in flight. */
static struct io_uring_sqe *get_sqe(struct rp_reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {
		r->syscalls++;
		if (io_uring_submit(&r->ring) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return NULL;
	}
	r->inflight++;
	return sqe;
}

/*
 * FUTEX_WAIT as in the kernel's io_futex_prep(): fd = futex2 flags (size
 * U32; no FUTEX2_PRIVATE, so the key is shared), addr = word, addr2 =
 * expected value, addr3 = bitset mask, futex_flags (the rw_flags union) = 0.
 * io_uring_prep_rw() zeroes len, rw_flags, buf_index and file_index, which
 * the kernel requires.
 */
static void prep_futex_wait(struct io_uring_sqe *sqe, _Atomic uint32_t *word, uint32_t val,
			    uint64_t ud)
{
	io_uring_prep_rw(RP_IORING_OP_FUTEX_WAIT, sqe, FUTEX2_SIZE_U32, (const void *)word, 0,
			 val);
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
	sqe->user_data = ud;
}

static void set_ready(struct rp_reactor *r, struct watch *w)
{
	if (!w->ready) {
		w->ready = true;
		r->nready++;
	}
}

static void handle_cqe(struct rp_reactor *r, uint64_t ud, int res)
{
	struct watch *w;

	switch (UD_KIND(ud)) {
	case UD_FUTEX:
		if (r->fx_live && ud == r->fx_ud) {
			r->fx_live = false;
			r->fx_done = true;
			r->fx_res = res;
		}
		/* else: a cancelled wait for an older value; ignore. */
		break;
	case UD_POLL:
		if (UD_ID(ud) >= r->max_fds)
			break;
		w = &r->w[UD_ID(ud)];
		if (w->state != W_ARMED || w->gen != UD_GEN(ud))
			break;	/* unwatched (and maybe re-watched) since */
		w->state = W_IDLE;
		r->nidle++;
		/* A mask, or an error such as -EBADF: report either, the
		 * caller checks the worker. -ECANCELED: just re-arm. */
		if (res != -ECANCELED)
			set_ready(r, w);
		break;
	default:
		break;	/* POLL_REMOVE / ASYNC_CANCEL results */
	}
}

/* Consume every posted CQE. No syscall: reads the shared CQ ring only. */
static void drain(struct rp_reactor *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		handle_cqe(r, cqe->user_data, cqe->res);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
	r->inflight -= n;
}

/* Queue POLL_ADD for every watch with nothing in flight and nothing to report. */
static int arm_polls(struct rp_reactor *r)
{
	unsigned i;

	for (i = 0; i < r->max_fds && r->nidle; i++) {
		struct watch *w = &r->w[i];
		struct io_uring_sqe *sqe;

		if (w->state != W_IDLE || w->ready)
			continue;
		sqe = get_sqe(r);
		if (!sqe)
			return -EAGAIN;
		w->gen = ++r->gen;
		io_uring_prep_poll_add(sqe, w->fd, POLLIN);
		sqe->user_data = UD(UD_POLL, i, w->gen);
		w->state = W_ARMED;
		r->nidle--;
	}
	return 0;
}

/*
 * Submit what is queued and sleep until a CQE is posted or timeout_ns
 * passes. Returns 1 (a CQE is posted), -ETIME (the sleep timed out), -EINTR
 * (a signal, or an ending we cannot tell from one; see below), or another
 * -errno from io_uring_enter.
 */
static int enter(struct rp_reactor *r, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(timeout_ns / 1000000000ull),
		.tv_nsec = (long long)(timeout_ns % 1000000000ull),
	};
	struct io_uring_cqe *cqe = NULL;
	int ret;

	/* With a timeout and IORING_FEAT_EXT_ARG this is exactly one
	 * io_uring_enter: liburing 2.3 does not enter again once it has
	 * waited with a timeout (without one it would, and swallow EINTR). */
	r->syscalls++;
	ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	if (cqe)
		return 1;
	/* When the same call submitted SQEs, the kernel returns the number
	 * submitted even if its wait then timed out or was interrupted: no
	 * CQE and ret >= 0 means one of the two. */
	if (ret >= 0)
		return -EINTR;
	return ret;
}

static unsigned collect(struct rp_reactor *r, unsigned *ids, unsigned cap)
{
	unsigned i, n = 0;

	for (i = 0; i < r->max_fds && r->nready; i++) {
		struct watch *w = &r->w[i];

		if (!w->ready)
			continue;
		if (ids && cap) {
			if (n == cap)
				break;
			ids[n] = i;
		}
		w->ready = false;
		r->nready--;
		n++;
	}
	return n;
}

static int wait_uring(struct rp_reactor *r, _Atomic uint32_t *word, uint32_t val,
		      uint64_t deadline)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (r->fx_live && (r->fx_word != word || r->fx_val != val)) {
		/* Armed for an older value: whatever it completes with is
		 * stale. Cancel it with the next submission. */
		sqe = get_sqe(r);
		if (sqe) {
			io_uring_prep_cancel64(sqe, r->fx_ud, 0);
			sqe->user_data = UD(UD_CTL, 0, 0);
		}
		r->fx_live = false;
	}
	r->fx_done = false;
	for (;;) {
		uint64_t now, left = FOREVER_NS;

		drain(r);
		if (r->fx_done) {
			r->fx_done = false;
			/* 0: woken; -EAGAIN: the value already differed;
			 * -ECANCELED / -EINTR: spurious, the caller re-checks. */
			if (r->fx_res == 0 || r->fx_res == -EAGAIN || r->fx_res == -ECANCELED ||
			    r->fx_res == -EINTR)
				return 0;
			return r->fx_res;
		}
		if (r->nready)
			return 0;
		/* relaxed: a shortcut for the kernel's own compare; the caller
		 * orders its re-check itself (rp_evc_prepare's W1). */
		if (atomic_load_explicit(word, memory_order_relaxed) != val)
			return 0;
		if (deadline) {
			now = now_ns();
			if (now >= deadline)
				return -ETIMEDOUT;
			left = deadline - now;
		}
		ret = arm_polls(r);
		if (ret)
			return ret;
		if (!r->fx_live) {
			sqe = get_sqe(r);
			if (!sqe)
				return -EAGAIN;
			r->fx_ud = UD(UD_FUTEX, 0, ++r->gen);
			prep_futex_wait(sqe, word, val, r->fx_ud);
			r->fx_word = word;
			r->fx_val = val;
			r->fx_live = true;
		}
		ret = enter(r, left);
		if (ret == 1 || ret == -ETIME)
			continue;	/* the loop drains, or finds the deadline passed */
		drain(r);
		if (r->fx_done || r->nready)
			continue;
		if (ret == -EINTR && deadline && now_ns() >= deadline)
			return -ETIMEDOUT;
		if (ret == -EBUSY || ret == -EAGAIN)
			return 0;	/* CQ backlog or a transient shortage: spurious */
		return ret;
	}
}

static int uring_probe(struct rp_reactor *r)
{
	struct io_uring_probe *probe;
	struct io_uring_cqe *cqe = NULL;
	struct io_uring_sqe *sqe;
	struct __kernel_timespec ts = { .tv_sec = 1 };
	bool ok;
	int ret;

	probe = io_uring_get_probe_ring(&r->ring);
	if (!probe)
		return -EOPNOTSUPP;
	ok = io_uring_opcode_supported(probe, RP_IORING_OP_FUTEX_WAIT) &&
	     io_uring_opcode_supported(probe, IORING_OP_POLL_ADD) &&
	     io_uring_opcode_supported(probe, IORING_OP_POLL_REMOVE) &&
	     io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL);
	io_uring_free_probe(probe);
	if (!ok)
		return -EOPNOTSUPP;
	/* Self-test the SQE layout: a wait on a value that differs must
	 * complete at once with -EAGAIN (-EINVAL means a flag is wrong). */
	atomic_init(&r->probe_word, 1);
	sqe = io_uring_get_sqe(&r->ring);
	if (!sqe)
		return -EBUSY;
	prep_futex_wait(sqe, &r->probe_word, 0, UD(UD_CTL, 0, 1));
	ret = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
	if (!cqe)
		return ret < 0 ? ret : -ETIME;
	ret = cqe->user_data == UD(UD_CTL, 0, 1) && cqe->res == -EAGAIN ? 0 : -EOPNOTSUPP;
	io_uring_cqe_seen(&r->ring, cqe);
	return ret;
}

static int uring_init(struct rp_reactor *r)
{
	struct io_uring_params p;
	unsigned entries = 8;
	int ret;

	while (entries < 2 * r->max_fds + 8)
		entries <<= 1;
	/* COOP_TASKRUN: a completion does not interrupt us with an IPI while
	 * we run; it is posted at our next syscall (or wakes our sleep).
	 * SUBMIT_ALL: one bad SQE does not hold back the ones after it. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
	ret = io_uring_queue_init_params(entries, &r->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(entries, &r->ring, &p);
	}
	if (ret)
		return ret;
	if ((p.features & (IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP)) !=
	    (IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP))
		ret = -EOPNOTSUPP;
	else
		ret = uring_probe(r);
	if (ret) {
		io_uring_queue_exit(&r->ring);
		return ret;
	}
	/* Forked workers should not share our SQ/CQ pages. Best effort. */
	(void)io_uring_ring_dontfork(&r->ring);
	return 0;
}

/* ---------------------------------------------------------------- fallback */

/* poll(2) the watched fds once, without sleeping; marks the readable ones. */
static void poll_fds(struct rp_reactor *r, uint64_t now)
{
	unsigned i, n = 0;

	r->last_poll_ns = now;
	for (i = 0; i < r->max_fds; i++) {
		if (r->w[i].state == W_OFF)
			continue;
		r->pfd[n].fd = r->w[i].fd;
		r->pfd[n].events = POLLIN;
		r->pfd[n].revents = 0;
		r->pid[n++] = i;
	}
	if (!n)
		return;
	r->syscalls++;
	if (poll(r->pfd, n, 0) <= 0)
		return;
	for (i = 0; i < n; i++)
		if (r->pfd[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))
			set_ready(r, &r->w[r->pid[i]]);
}

static int wait_futex(struct rp_reactor *r, _Atomic uint32_t *word, uint32_t val,
		      uint64_t deadline)
{
	for (;;) {
		uint64_t now, slice = 0;
		int ret;

		if (r->nready)
			return 0;
		/* relaxed: FUTEX_WAIT compares again; see wait_uring(). */
		if (atomic_load_explicit(word, memory_order_relaxed) != val)
			return 0;
		now = now_ns();
		if (r->nwatched && now - r->last_poll_ns >= r->poll_ns) {
			poll_fds(r, now);
			if (r->nready)
				return 0;
		}
		if (deadline) {
			if (now >= deadline)
				return -ETIMEDOUT;
			slice = deadline - now;
		}
		if (r->nwatched) {
			uint64_t due = r->last_poll_ns + r->poll_ns - now;

			if (!slice || due < slice)
				slice = due ? due : 1;
		}
		r->syscalls++;
		ret = rp_futex_wait(word, val, slice);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret == 0 || ret == -EINTR) {
			now = now_ns();
			if (r->nwatched && now - r->last_poll_ns >= r->poll_ns)
				poll_fds(r, now);
			return r->nready ? 0 : ret;
		}
		return ret;
	}
}

/* ---------------------------------------------------------------- API */

int rp__reactor_create(struct rp_reactor **out, unsigned max_fds, bool force_fallback)
{
	struct rp_reactor *r;
	unsigned i;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (max_fds > RP_REACTOR_MAX_FDS)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->max_fds = max_fds;
	r->poll_ns = RP_REACTOR_POLL_NS;
	r->w = calloc(max_fds ? max_fds : 1, sizeof(*r->w));
	r->pfd = calloc(max_fds ? max_fds : 1, sizeof(*r->pfd));
	r->pid = calloc(max_fds ? max_fds : 1, sizeof(*r->pid));
	if (!r->w || !r->pfd || !r->pid) {
		free(r->w);
		free(r->pfd);
		free(r->pid);
		free(r);
		return -ENOMEM;
	}
	for (i = 0; i < max_fds; i++)
		r->w[i].fd = -1;
	r->mode = RP_REACTOR_FUTEX;
	if (!force_fallback && !env_no_uring() && uring_init(r) == 0)
		r->mode = RP_REACTOR_URING;
	*out = r;
	return 0;
}

int rp__reactor_mode(const struct rp_reactor *r)
{
	return r->mode;
}

int rp__reactor_set_poll_interval(struct rp_reactor *r, uint64_t poll_ns)
{
	if (!poll_ns)
		return -EINVAL;
	r->poll_ns = poll_ns;
	return 0;
}

int rp__reactor_watch(struct rp_reactor *r, int fd, unsigned id)
{
	struct watch *w;

	if (id >= r->max_fds)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	w = &r->w[id];
	if (w->state != W_OFF)
		return -EBUSY;
	w->fd = fd;
	w->ready = false;
	w->state = W_IDLE;	/* armed by the next sleep, in the same syscall */
	r->nwatched++;
	if (r->mode == RP_REACTOR_URING)
		r->nidle++;
	return 0;
}

int rp__reactor_unwatch(struct rp_reactor *r, unsigned id)
{
	struct watch *w;

	if (id >= r->max_fds)
		return -EINVAL;
	w = &r->w[id];
	if (w->state == W_OFF)
		return -ENOENT;
	if (r->mode == RP_REACTOR_URING) {
		if (w->state == W_ARMED) {
			struct io_uring_sqe *sqe = get_sqe(r);

			/* Sent with the next submission. If the queue cannot
			 * take it, the poll stays armed until it fires; its
			 * completion is stale either way (state W_OFF). */
			if (sqe) {
				io_uring_prep_poll_remove(sqe, UD(UD_POLL, id, w->gen));
				sqe->user_data = UD(UD_CTL, id, 0);
			}
		} else {
			r->nidle--;
		}
	}
	if (w->ready) {
		w->ready = false;
		r->nready--;
	}
	w->state = W_OFF;
	w->fd = -1;
	r->nwatched--;
	return 0;
}

int rp__reactor_wait(struct rp_reactor *r, _Atomic uint32_t *word, uint32_t val,
		     uint64_t timeout_ns, unsigned *ids, unsigned cap, unsigned *nready)
{
	uint64_t deadline = timeout_ns ? now_ns() + timeout_ns : 0;
	unsigned n;
	int ret;

	if (nready)
		*nready = 0;
	if (!word || ((uintptr_t)word & 3))
		return -EINVAL;
	if (r->mode == RP_REACTOR_URING)
		ret = wait_uring(r, word, val, deadline);
	else
		ret = wait_futex(r, word, val, deadline);
	n = collect(r, ids, cap);
	if (nready)
		*nready = n;
	return n && (ret == -ETIMEDOUT || ret == -EINTR) ? 0 : ret;
}

uint64_t rp__reactor_syscalls(const struct rp_reactor *r)
{
	return r->syscalls;
}

unsigned rp__reactor_inflight(const struct rp_reactor *r)
{
	return r->mode == RP_REACTOR_URING ? r->inflight : 0;
}

unsigned rp__reactor_cq_ready(const struct rp_reactor *r)
{
	return r->mode == RP_REACTOR_URING ? io_uring_cq_ready(&r->ring) : 0;
}

void rp__reactor_destroy(struct rp_reactor *r)
{
	if (!r)
		return;
	if (r->mode == RP_REACTOR_URING)
		io_uring_queue_exit(&r->ring);
	free(r->w);
	free(r->pfd);
	free(r->pid);
	free(r);
}
