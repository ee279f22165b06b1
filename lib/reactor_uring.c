/* SPDX-License-Identifier: MIT */
/*
 * The reactor's io_uring back-end: one POLL_ADD armed per watched pidfd and
 * one FUTEX_WAIT on the doorbell, and one io_uring_enter per sleep with the
 * timeout passed as an argument (IORING_ENTER_EXT_ARG, no timeout SQE).
 * Every request carries a generation in its user_data; a completion whose
 * generation is no longer current (a cancelled FUTEX_WAIT for an older value,
 * the poll of an unwatched id) is consumed and ignored, never taken for a
 * wake.
 */
#include "reactor_impl.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>

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
			rp__reactor_set_ready(r, w);
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


int rp__uring_wait(struct rp_reactor *r, _Atomic uint32_t *word, uint32_t val, uint64_t deadline)
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
			now = rp__reactor_now_ns();
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
		if (ret == -EINTR && deadline && rp__reactor_now_ns() >= deadline)
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

int rp__uring_init(struct rp_reactor *r)
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

int rp__uring_poll(struct rp_reactor *r)
{
	int ret = arm_polls(r);

	r->syscalls++;
	if (io_uring_sq_ready(&r->ring))
		io_uring_submit(&r->ring);
	else
		io_uring_get_events(&r->ring);
	drain(r);
	return ret;
}

void rp__uring_unwatch(struct rp_reactor *r, unsigned id)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	/* Sent with the next submission. If the queue cannot take it, the
	 * poll stays armed until it fires; its completion is stale either way
	 * (the watch is W_OFF by then). */
	if (sqe) {
		io_uring_prep_poll_remove(sqe, UD(UD_POLL, id, r->w[id].gen));
		sqe->user_data = UD(UD_CTL, id, 0);
	}
}
