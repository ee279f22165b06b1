/* SPDX-License-Identifier: MIT */
/*
 * Slow paths of the eventcount: the futex syscalls. Kept out of line so the
 * inline fast paths in rp_evc.h stay a fence and a load.
 */
#include "rp_evc.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int rp_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	long r;

	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tsp = &ts;
	}
	/* Shared futex: no FUTEX_PRIVATE_FLAG, the peer is another process. */
	r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, NULL, 0);
	if (r == 0)
		return 0;
	switch (errno) {
	case EAGAIN:	/* the word had already changed: a wake we need not sleep for */
		return 0;
	case ETIMEDOUT:
		return -ETIMEDOUT;
	case EINTR:
		return -EINTR;
	default:
		return -errno;
	}
}

int rp_futex_wake(_Atomic uint32_t *word, int n)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);

	return r < 0 ? -errno : (int)r;
}

int rp_evc_wait(struct rp_evc *e, uint32_t armed, uint64_t timeout_ns)
{
	return rp_futex_wait(&e->word, armed, timeout_ns);
}

int rp__evc_wake(struct rp_evc *e, uint32_t seen)
{
	/* Bump the epoch and clear the flag in one step: seen is odd, so
	 * seen + 1 carries the flag into the epoch. If the CAS fails, another
	 * notifier bumped the word first and is waking the waiter, or the
	 * waiter disarmed; either way our publish is visible to its re-check
	 * (N1/W1), so no wake is owed. relaxed: the ordering that matters is
	 * N1 in rp_evc_notify() and the syscall's own full barrier. */
	while (seen & RP_EVC_ARMED) {
		if (atomic_compare_exchange_weak_explicit(&e->word, &seen, seen + 1,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			rp_futex_wake(&e->word, INT_MAX);
			return 1;
		}
	}
	return 0;
}

static long membarrier_(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

int rp_membarrier_available(void)
{
	long q = membarrier_(MEMBARRIER_CMD_QUERY);

	return q > 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) &&
	       (q & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED);
}

int rp_membarrier_register(void)
{
	if (!rp_membarrier_available())
		return -ENOSYS;
	return membarrier_(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) < 0 ? -errno : 0;
}

uint32_t rp_evc_prepare_heavy(struct rp_evc *e)
{
	uint32_t v = rp_evc_prepare(e);

	/* A full fence on every CPU running a registered notifier: pairs with
	 * the compiler barrier in rp_evc_notify_light(). */
	if (membarrier_(MEMBARRIER_CMD_GLOBAL_EXPEDITED) < 0)
		return 0;
	return v;
}
