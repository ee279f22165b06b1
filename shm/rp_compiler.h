/* SPDX-License-Identifier: MIT */
/*
 * Small compiler and CPU helpers shared by the shm/ and lib/ layers: cache-line
 * size, branch hints, the spin-loop pause, and the lock-free checks that every
 * file putting atomics in shared memory relies on.
 */
#ifndef RP_COMPILER_H
#define RP_COMPILER_H

#include <stdatomic.h>
#include <stdint.h>

#define RP_CACHELINE 64

#define rp_likely(x)   __builtin_expect(!!(x), 1)
#define rp_unlikely(x) __builtin_expect(!!(x), 0)

#define RP_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))

/*
 * Atomics placed in shared memory must be lock-free: a lock-based fallback
 * would keep its lock in process-private memory and not exclude the peer.
 */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

/* Tell the CPU we are spinning (frees the sibling hyper-thread, saves power). */
static inline void rp_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif
