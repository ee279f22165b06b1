/* SPDX-License-Identifier: MIT */
/*
 * The parent's reactor (see reactor.h): one sleep for "doorbell rung, worker
 * died, or time is up". This file is the API and the fallback back-end:
 * FUTEX_WAIT slices plus poll(2) of the watched fds when due; io_uring is in
 * reactor_uring.c.
 */
#include "reactor_impl.h"

#include "rp_evc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool env_no_uring(void)
{
	const char *s = getenv("RINGPOOL_NO_URING");

	return s && *s && strcmp(s, "0") != 0;
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
			rp__reactor_set_ready(r, &r->w[r->pid[i]]);
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
		now = rp__reactor_now_ns();
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
			now = rp__reactor_now_ns();
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
	if (!force_fallback && !env_no_uring() && rp__uring_init(r) == 0)
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
			rp__uring_unwatch(r, id);
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
	uint64_t deadline = timeout_ns ? rp__reactor_now_ns() + timeout_ns : 0;
	unsigned n;
	int ret;

	if (nready)
		*nready = 0;
	if (!word || ((uintptr_t)word & 3))
		return -EINVAL;
	if (r->mode == RP_REACTOR_URING)
		ret = rp__uring_wait(r, word, val, deadline);
	else
		ret = wait_futex(r, word, val, deadline);
	n = collect(r, ids, cap);
	if (nready)
		*nready = n;
	return n && (ret == -ETIMEDOUT || ret == -EINTR) ? 0 : ret;
}

int rp__reactor_poll(struct rp_reactor *r, unsigned *ids, unsigned cap, unsigned *nready)
{
	int ret = 0;

	*nready = 0;
	if (r->mode == RP_REACTOR_URING) {
		/* Arm what is idle, and let the kernel post what completed
		 * (with COOP_TASKRUN, a poll's completion waits for a syscall). */
		ret = rp__uring_poll(r);
	} else if (r->nwatched) {
		poll_fds(r, rp__reactor_now_ns());
	}
	*nready = collect(r, ids, cap);
	return ret;
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
