/* SPDX-License-Identifier: MIT */
/*
 * Eventcount on a 32-bit futex word in shared memory: lets one side sleep
 * until the other has published something, with no syscall on either side
 * while the sleeper is awake.
 *
 * The word holds an epoch in bits 1..31 and an "armed" flag in bit 0. The
 * waiter arms (rp_evc_prepare), re-checks its condition, and only then sleeps
 * on the armed value (rp_evc_wait). The notifier publishes its data, then
 * calls rp_evc_notify, which costs a fence and a load unless the flag is set;
 * only then does it bump the epoch (clearing the flag) and FUTEX_WAKE.
 * The two full fences (W1 in prepare, N1 in notify) form a Dekker pair: either
 * the waiter's re-check sees the notifier's data, or the notifier sees the
 * flag. A wake that lands between the re-check and the sleep changes the word,
 * so FUTEX_WAIT returns at once instead of sleeping through it.
 *
 * Futexes are shared (no FUTEX_PRIVATE_FLAG): waiter and notifier are
 * different processes mapping the same memfd.
 *
 * Asymmetric variant, for a notifier on a hot path (a worker publishing one
 * result per task): rp_evc_notify_light() replaces the fence N1 with a
 * compiler barrier, and the waiter pays instead, in rp_evc_prepare_heavy(),
 * with membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a full fence
 * on every CPU currently running a registered process. Either the notifier's
 * publish happened before that fence (and the waiter's re-check sees it), or
 * its load of the word comes after it (and sees the flag). Notifiers must
 * have called rp_membarrier_register() successfully; otherwise they use
 * rp_evc_notify().
 */
#ifndef RP_EVC_H
#define RP_EVC_H

#include "rp_compiler.h"

#include <stdint.h>

struct rp_evc {
	_Atomic uint32_t word;
};

#define RP_EVC_ARMED 1u

/* Initialise in place (before the memory is shared). */
static inline void rp_evc_init(struct rp_evc *e)
{
	atomic_init(&e->word, 0);
}

/*
 * Arm the eventcount. Returns the armed value to pass to rp_evc_wait() or
 * rp_evc_cancel(). The caller must re-check its wake-up condition after this
 * call and before sleeping.
 */
static inline uint32_t rp_evc_prepare(struct rp_evc *e)
{
	/* seq_cst RMW followed by W1, a seq_cst fence: pairs with N1 in
	 * rp_evc_notify(). Orders the arming before the caller's re-check load. */
	uint32_t v = atomic_fetch_or_explicit(&e->word, RP_EVC_ARMED, memory_order_seq_cst);

	atomic_thread_fence(memory_order_seq_cst); /* W1 */
	return v | RP_EVC_ARMED;
}

/*
 * Disarm after a re-check found the condition true. Single-waiter
 * eventcounts only: with several waiters it could clear another's flag.
 */
static inline void rp_evc_cancel(struct rp_evc *e, uint32_t armed)
{
	/* relaxed: we only undo our own flag; if the CAS fails a notifier has
	 * already bumped the epoch and woken (nobody), which is harmless. */
	atomic_compare_exchange_strong_explicit(&e->word, &armed, armed & ~RP_EVC_ARMED,
						memory_order_relaxed, memory_order_relaxed);
}

/*
 * Sleep until the word leaves `armed`, a wake arrives, or timeout_ns passes
 * (0 = no timeout). Returns 0 when woken or the word had already changed,
 * -ETIMEDOUT, or -EINTR. Spurious returns are allowed: re-check and re-arm.
 */
int rp_evc_wait(struct rp_evc *e, uint32_t armed, uint64_t timeout_ns);

/* Out-of-line part of rp_evc_notify(): bump the epoch and FUTEX_WAKE. */
int rp__evc_wake(struct rp_evc *e, uint32_t seen);

/*
 * Call after publishing data the waiter may be waiting for. Returns 1 if it
 * issued a FUTEX_WAKE syscall, 0 if no waiter was armed (the common case:
 * one fence and one load, no syscall).
 */
static inline int rp_evc_notify(struct rp_evc *e)
{
	atomic_thread_fence(memory_order_seq_cst); /* N1: pairs with W1 */
	/* relaxed: ordered after our publish by N1 above. */
	uint32_t v = atomic_load_explicit(&e->word, memory_order_relaxed);

	if (rp_likely(!(v & RP_EVC_ARMED)))
		return 0;
	return rp__evc_wake(e, v);
}

/*
 * Register this process as a target of the waiter's membarrier. Returns 0,
 * or -ENOSYS / -EINVAL / -EPERM when the kernel or a sandbox does not offer
 * MEMBARRIER_CMD_GLOBAL_EXPEDITED: then use the symmetric pair.
 */
int rp_membarrier_register(void);

/* 1 if MEMBARRIER_CMD_GLOBAL_EXPEDITED is available, else 0. */
int rp_membarrier_available(void);

/*
 * rp_evc_prepare() followed by a membarrier: pairs with notifiers that use
 * rp_evc_notify_light(). Returns the armed value, or 0 if the membarrier
 * failed (then treat the wait as unsafe: re-check with a short timeout).
 */
uint32_t rp_evc_prepare_heavy(struct rp_evc *e);

/*
 * Notify without a fence; only for notifiers registered with
 * rp_membarrier_register() whose waiters arm with rp_evc_prepare_heavy().
 * Returns 1 if it issued FUTEX_WAKE.
 */
static inline int rp_evc_notify_light(struct rp_evc *e)
{
	/* Compiler barrier only: the waiter's membarrier supplies the CPU
	 * fence (pairs with the barrier in rp_evc_prepare_heavy()). */
	atomic_signal_fence(memory_order_seq_cst);
	/* relaxed: ordering comes from the asymmetric pair above. */
	uint32_t v = atomic_load_explicit(&e->word, memory_order_relaxed);

	if (rp_likely(!(v & RP_EVC_ARMED)))
		return 0;
	return rp__evc_wake(e, v);
}

/* Raw shared-futex helpers, for callers that manage their own words. */
int rp_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns);
int rp_futex_wake(_Atomic uint32_t *word, int n);

#endif
