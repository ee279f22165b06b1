/* SPDX-License-Identifier: MIT */
/*
 * The parent's reactor: one blocking call that sleeps until a shared futex
 * word is woken or changes, a watched fd (a worker's pidfd) becomes readable,
 * or a timeout passes. With io_uring (Linux 6.7+: IORING_OP_FUTEX_WAIT) all
 * three are one io_uring_enter, and a worker death ends the sleep at once.
 * Without it (old kernel, seccomp, kernel.io_uring_disabled, or
 * RINGPOOL_NO_URING=1) it falls back to FUTEX_WAIT slices of at most the poll
 * interval followed by a poll(2) of the watched fds: same contract, slower
 * detection. Not thread-safe: one thread (the parent's) uses a reactor.
 */
#ifndef RP_REACTOR_H
#define RP_REACTOR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Values match RP_WAIT_* in ringpool.h (RP_WAIT_FUTEX is 1, RP_WAIT_URING 2). */
enum {
	RP_REACTOR_FUTEX = 1,	/* FUTEX_WAIT slices + poll(2) of the watched fds */
	RP_REACTOR_URING = 2,	/* one io_uring: FUTEX_WAIT + POLL_ADD per pidfd */
};

/* Largest max_fds accepted by rp__reactor_create(). */
#define RP_REACTOR_MAX_FDS 4096u

/* Default fallback poll interval: matches the pool's default liveness_ns. */
#define RP_REACTOR_POLL_NS 10000000ull

struct rp_reactor;

/*
 * Create a reactor for ids 0..max_fds-1. Uses io_uring unless force_fallback
 * is true or the environment has RINGPOOL_NO_URING set to anything but "0";
 * any io_uring failure (ENOSYS, EPERM from seccomp or the io_uring_disabled
 * sysctl, a missing opcode, a self-test FUTEX_WAIT that misbehaves) selects
 * the futex fallback silently. The ring's mappings are not inherited by
 * fork(), but its fd is (no O_CLOFORK): create after forking workers, or
 * have them close it. Returns 0 and sets *out, -EINVAL (NULL out, max_fds
 * above RP_REACTOR_MAX_FDS) or -ENOMEM; on error *out is NULL.
 */
int rp__reactor_create(struct rp_reactor **out, unsigned max_fds, bool force_fallback);

/* RP_REACTOR_URING or RP_REACTOR_FUTEX. */
int rp__reactor_mode(const struct rp_reactor *r);

/*
 * Fallback mode only: poll the watched fds at least every poll_ns while a
 * wait sleeps (default RP_REACTOR_POLL_NS). Returns 0 or -EINVAL (0).
 */
int rp__reactor_set_poll_interval(struct rp_reactor *r, uint64_t poll_ns);

/*
 * Watch fd for readability (POLLIN, HUP, ERR count too) under `id`. The
 * request reaches the kernel with the next wait (no syscall here), so fd must
 * stay open until rp__reactor_unwatch(id) returns; it may be closed right
 * after. Readiness is level-triggered, as with poll(2): an fd that stays
 * readable (a dead worker's pidfd) is reported by every wait until unwatched.
 * Returns 0, -EINVAL (id >= max_fds), -EBADF (fd < 0), -EBUSY (id already
 * watched) or -EAGAIN (submission queue full and could not be flushed). On
 * error nothing changes.
 */
int rp__reactor_watch(struct rp_reactor *r, int fd, unsigned id);

/*
 * Stop watching `id`. Any readiness of it not yet reported is dropped, and
 * a completion still in flight for it is ignored, also if the id is watched
 * again with another fd. Returns 0, -EINVAL (id >= max_fds) or -ENOENT (not
 * watched).
 */
int rp__reactor_unwatch(struct rp_reactor *r, unsigned id);

/*
 * Sleep until *word is woken by FUTEX_WAKE (shared futex: any process
 * mapping the same memory), *word no longer holds val, a watched fd is
 * readable, or timeout_ns passes (0 = no timeout). Returns 0 (woken, value
 * differs, or an fd is ready), -ETIMEDOUT, -EINTR (a signal), -EINVAL /
 * -EFAULT (word NULL, misaligned or unmapped), or rarely -EAGAIN (io_uring
 * could not queue a request; nothing is lost, call again). Spurious 0
 * returns are allowed: the caller re-checks its condition.
 * Writes up to cap ready ids to ids[] and their count to *nready (always
 * set, 0 if none); ids beyond cap are kept and returned by the next call
 * without sleeping. With cap == 0 (or ids NULL) the count is reported and
 * the ids are dropped: the caller scans.
 * io_uring mode keeps its FUTEX_WAIT armed between calls while (word, val)
 * stay the same, so wakers must wake all waiters (INT_MAX), as rp_evc does:
 * a FUTEX_WAKE of 1 may be taken by that idle request.
 */
int rp__reactor_wait(struct rp_reactor *r, _Atomic uint32_t *word, uint32_t val,
		     uint64_t timeout_ns, unsigned *ids, unsigned cap, unsigned *nready);

/*
 * Look without sleeping: report the watched fds that are readable now, as
 * rp__reactor_wait does (ids, cap, *nready), and arm what is not yet armed.
 * One or two syscalls. Returns 0, or -EAGAIN (io_uring could not queue a
 * poll; nothing is lost, call again).
 */
int rp__reactor_poll(struct rp_reactor *r, unsigned *ids, unsigned cap, unsigned *nready);

/*
 * Syscalls made by waits (and queue flushes) so far: io_uring_enter calls,
 * or FUTEX_WAIT + poll(2) calls in fallback mode. create's probe is not
 * counted. A wait that finds its answer without sleeping makes none.
 */
uint64_t rp__reactor_syscalls(const struct rp_reactor *r);

/*
 * Requests in flight: submitted (or queued) to the ring whose completion has
 * not been consumed; 0 in fallback mode. For leak checks in tests: between
 * waits it is at most 1 (the armed FUTEX_WAIT) + the number of watched fds,
 * plus any cancellations queued since the last wait.
 */
unsigned rp__reactor_inflight(const struct rp_reactor *r);

/* Completions posted but not yet consumed (0 in fallback mode). */
unsigned rp__reactor_cq_ready(const struct rp_reactor *r);

/* Close the ring (the kernel cancels what is in flight) and free. NULL ok. */
void rp__reactor_destroy(struct rp_reactor *r);

#endif
