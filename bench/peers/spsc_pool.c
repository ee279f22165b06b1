/* SPDX-License-Identifier: MIT */
/*
 * spsc_pool: ringpool's design with threads instead of processes. Each
 * worker has an SPSC task ring and an SPSC result ring of 32-byte slots
 * (free-running indices, the consumer caching the producer's index, producer
 * and consumer fields on separate cache lines); an idle side spins, then
 * sleeps on a futex eventcount that the other side rings only when it is
 * armed. What ringpool's lib/ does to go fast is here too: tasks published in
 * bursts of 32, each result published at once with a light notify (the owner
 * pays a membarrier to sleep), workers spinning 5 us instead of 50 when they
 * and the owner outnumber the CPUs, no owner spin right after waking a worker,
 * dispatch to the worker with the fewest tasks outstanding capped at ~200 us
 * of its measured task time. Module graph: spscpool.c -> this -> peer_common.
 */
#include "spsc_pool.h"
#include "peer_common.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");

#define RING_SLOTS	1024u		/* per ring; a power of two */
#define RING_MASK	(RING_SLOTS - 1)
#define BURST		32u		/* the owner publishes tasks at least this often */
#define SPIN_NS		50000ull	/* spin this long before sleeping (ringpool's default) */
#define SPIN_CROWDED_NS	5000ull		/* workers' spin when they and the owner outnumber CPUs */
#define QUEUE_NS	200000ull	/* queue about this much work per worker */

_Static_assert(sizeof(struct spsc_item) == 32, "two items per cache line");

/*
 * Single producer, single consumer. head and tail are free-running counters
 * (2^64 items never wrap in a run), masked only to address a slot, so
 * head - tail is the fill level. The producer never reads tail: the owner
 * keeps at most RING_SLOTS tasks outstanding per worker, counted from its
 * own submit and collect counts, and a task's result is collected only after
 * the worker consumed the task, so neither ring of a worker can overflow.
 * Nor is a task slot rewritten while the worker reads it: the worker's
 * release of the task's result orders its reads of the slot before the
 * owner's acquire of that result, which comes before the slot's reuse.
 */
struct spsc {
	_Alignas(64) _Atomic uint64_t head;	/* published: slots below are readable */
	uint64_t head_local;			/* written (>= head); producer only */
	_Alignas(64) uint64_t tail;		/* consumed; consumer only */
	uint64_t head_cache;			/* the consumer's last look at head */
	_Alignas(64) struct spsc_item slot[RING_SLOTS];
};
_Static_assert(offsetof(struct spsc, tail) % 64 == 0, "consumer on its own line");
_Static_assert(offsetof(struct spsc, slot) % 64 == 0, "slots apart from the indices");

/* Eventcount: bit 0 "a sleeper is armed", the epoch above (as shm/rp_evc.h). */
struct evc {
	_Alignas(64) _Atomic uint32_t word;
};

struct worker {
	struct spsc task;		/* owner -> worker */
	struct spsc res;		/* worker -> owner */
	struct evc wake;		/* the worker sleeps here */
	struct spsc_pool *pool;
	pthread_t th;
	/* owner only */
	_Alignas(64) uint64_t outstanding;	/* submitted, result not collected */
	uint64_t cap;				/* adaptive limit of outstanding */
	uint64_t mean_ticks;			/* EWMA of task run time */
};
_Static_assert(offsetof(struct worker, outstanding) % 64 == 0, "owner fields apart");

struct spsc_pool {
	struct evc doorbell;		/* the owner sleeps here; every worker rings it */
	/* read by spinning workers: set at creation (stop: once, at the end) */
	_Alignas(64) _Atomic int stop;
	int light;			/* workers notify the owner with evc_notify_light() */
	unsigned n;
	struct worker *w;
	spsc_fn fn;
	uint64_t queue_ticks, spin_ticks, worker_spin_ticks;
	/* owner only */
	_Alignas(64) uint64_t wakes, wakes_seen;	/* workers woken; as of the last wait */
	unsigned rr;			/* where spsc_pool_collect looks first */
};
_Static_assert(offsetof(struct spsc_pool, stop) % 64 == 0, "read-mostly line");
_Static_assert(offsetof(struct spsc_pool, wakes) % 64 == 0, "owner fields apart");

/* ---- eventcount ----------------------------------------------------------- */

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	static const struct timespec ts = { 1, 0 };	/* re-checked by the caller */

	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

/* Arm; the caller re-checks its condition before evc_sleep(). */
static uint32_t evc_prepare(struct evc *e)
{
	/* seq_cst RMW then fence W1: pairs with N1 in evc_notify(); the arming
	 * is ordered before the caller's re-check of the ring. */
	uint32_t v = atomic_fetch_or_explicit(&e->word, 1u, memory_order_seq_cst);

	atomic_thread_fence(memory_order_seq_cst);	/* W1 */
	return v | 1u;
}

static void evc_cancel(struct evc *e, uint32_t armed)
{
	/* relaxed: undoes our own flag only; if a notifier bumped the epoch
	 * first, the CAS fails and nothing is owed. */
	atomic_compare_exchange_strong_explicit(&e->word, &armed, armed & ~1u,
						memory_order_relaxed, memory_order_relaxed);
}

/* Wake the sleeper if the word (loaded after a fence) says one is armed. */
static int evc_wake(struct evc *e, uint32_t w)
{
	/* relaxed CAS: bumping the epoch (clearing the flag) makes a sleeper
	 * that has not reached FUTEX_WAIT yet return at once; the syscall is a
	 * full barrier. A failed CAS means another wake or a cancel: none owed. */
	if ((w & 1u) && atomic_compare_exchange_strong_explicit(&e->word, &w, w + 1,
								 memory_order_relaxed,
								 memory_order_relaxed)) {
		syscall(SYS_futex, &e->word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		return 1;
	}
	return 0;
}

/* Called after publishing: wakes the sleeper if one is armed; 1 if it did. */
static int evc_notify(struct evc *e)
{
	/* N1: pairs with W1. Either the sleeper's re-check sees what we
	 * published, or this load sees its flag. */
	atomic_thread_fence(memory_order_seq_cst);
	/* relaxed: ordered by N1 */
	return evc_wake(e, atomic_load_explicit(&e->word, memory_order_relaxed));
}

/*
 * The workers' notify: a compiler barrier instead of N1. The sleeper pays in
 * evc_prepare_heavy() with a membarrier, a full fence on every CPU running a
 * thread of this process: either our publish came before that fence (its
 * re-check sees it) or this load comes after it (and sees the flag).
 */
static int evc_notify_light(struct evc *e)
{
	atomic_signal_fence(memory_order_seq_cst);	/* pairs with the membarrier */
	/* relaxed: ordered by the membarrier in evc_prepare_heavy() */
	return evc_wake(e, atomic_load_explicit(&e->word, memory_order_relaxed));
}

static long membarrier(int cmd)
{
	return syscall(SYS_membarrier, cmd, 0, 0);
}

/* Arm for light notifiers. Returns 0 (not armed) if the membarrier failed. */
static uint32_t evc_prepare_heavy(struct evc *e)
{
	uint32_t armed = evc_prepare(e);

	if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) < 0) {
		evc_cancel(e, armed);
		return 0;
	}
	return armed;
}

/* ---- ring ------------------------------------------------------------------ */

/* Producer: make every written item visible. */
static void spsc_publish(struct spsc *r)
{
	/* release: the slots written before it; pairs with the acquire in spsc_ready() */
	atomic_store_explicit(&r->head, r->head_local, memory_order_release);
}

/* Consumer: items ready to read; reloads head only when the cached copy is used up. */
static uint64_t spsc_ready(struct spsc *r)
{
	if (r->head_cache == r->tail)
		/* acquire: pairs with the release in spsc_publish(); the slots below are written */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	return r->head_cache - r->tail;
}

/*
 * Wait until `r` has an item: spin SPIN_NS, then sleep on `e`. Returns 0 if
 * `stop` is set while the ring is empty (stop may be NULL).
 */
static int spsc_await(struct spsc *r, struct evc *e, _Atomic int *stop, uint64_t spin_ticks)
{
	uint64_t t0 = peer_ticks();

	for (unsigned k = 0; !spsc_ready(r); k++) {
		/* acquire: pairs with the release in spsc_pool_destroy() */
		if (stop && atomic_load_explicit(stop, memory_order_acquire))
			return 0;
		if ((k & 63) || peer_ticks() - t0 < spin_ticks) {
			__builtin_ia32_pause();
			continue;
		}
		uint32_t armed = evc_prepare(e);

		/* acquire, as above; after W1, so a stop set before our arming is seen */
		if (spsc_ready(r) || (stop && atomic_load_explicit(stop, memory_order_acquire))) {
			evc_cancel(e, armed);	/* re-check after W1: no sleep needed */
			continue;
		}
		futex_wait(&e->word, armed);
	}
	return 1;
}

/* ---- the pool ----------------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct spsc_pool *p = w->pool;
	struct spsc *t = &w->task, *r = &w->res;

	for (;;) {
		if (!spsc_ready(t) && !spsc_await(t, &w->wake, &p->stop, p->worker_spin_ticks))
			return NULL;
		const struct spsc_item *in = &t->slot[t->tail & RING_MASK];
		struct spsc_item *out = &r->slot[r->head_local & RING_MASK];
		uint64_t t0 = peer_ticks();

		out->x = p->fn(in);
		out->ticks = peer_ticks() - t0;
		out->seq = in->seq;
		t->tail++;
		r->head_local++;
		/* Publish each result at once: a later task may run long, and the
		 * owner must not wait for it to see this one. */
		spsc_publish(r);
		if (p->light)
			evc_notify_light(&p->doorbell);
		else
			evc_notify(&p->doorbell);
	}
}

struct spsc_pool *spsc_pool_create(unsigned n, spsc_fn fn)
{
	/* aligned_alloc: the cache-line layout holds only on a 64-byte boundary */
	struct spsc_pool *p = aligned_alloc(64, sizeof(*p));
	double tpn = peer_ticks_per_ns();

	if (n < 1 || n > RING_SLOTS)
		peer_die("spsc_pool: 1..%u workers", RING_SLOTS);
	if (!p)
		peer_die("out of memory");
	memset(p, 0, sizeof(*p));
	if (!(p->w = aligned_alloc(64, n * sizeof(*p->w))))
		peer_die("out of memory");
	memset(p->w, 0, n * sizeof(*p->w));
	p->n = n;
	p->fn = fn;
	p->queue_ticks = (uint64_t)(QUEUE_NS * tpn);
	p->spin_ticks = (uint64_t)(SPIN_NS * tpn);
	/* a spinning worker takes the CPU the owner needs to feed the others */
	p->worker_spin_ticks = n + 1 > peer_nproc() ? (uint64_t)(SPIN_CROWDED_NS * tpn)
						    : p->spin_ticks;
	p->light = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
	for (unsigned i = 0; i < n; i++) {
		p->w[i].pool = p;
		p->w[i].cap = 16;	/* until the first results give a task time */
		if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]))
			peer_die("pthread_create failed");
	}
	return p;
}

void spsc_pool_destroy(struct spsc_pool *p)
{
	/* release: pairs with the acquire loads in spsc_await() */
	atomic_store_explicit(&p->stop, 1, memory_order_release);
	for (unsigned i = 0; i < p->n; i++)
		evc_notify(&p->w[i].wake);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->w[i].th, NULL);
	free(p->w);
	free(p);
}

void spsc_pool_flush(struct spsc_pool *p)
{
	for (unsigned i = 0; i < p->n; i++) {
		struct spsc *t = &p->w[i].task;

		/* relaxed: the owner reads back its own store */
		if (t->head_local != atomic_load_explicit(&t->head, memory_order_relaxed)) {
			spsc_publish(t);
			p->wakes += evc_notify(&p->w[i].wake);
		}
	}
}

/* The worker with room and the fewest outstanding tasks, or NULL. O(workers). */
static struct worker *pick(const struct spsc_pool *p)
{
	struct worker *best = NULL;

	for (unsigned i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];

		if (w->outstanding < w->cap && (!best || w->outstanding < best->outstanding))
			best = w;
	}
	return best;
}

int spsc_pool_room(const struct spsc_pool *p)
{
	return pick(p) != NULL;
}

void spsc_pool_submit(struct spsc_pool *p, const struct spsc_item *it)
{
	struct worker *w = pick(p);
	struct spsc *t;

	if (!w)
		peer_die("spsc_pool_submit: no room (call spsc_pool_room first)");
	t = &w->task;

	t->slot[t->head_local & RING_MASK] = *it;
	t->head_local++;
	w->outstanding++;
	/* relaxed: the owner reads back its own store */
	if (t->head_local - atomic_load_explicit(&t->head, memory_order_relaxed) >= BURST) {
		spsc_publish(t);
		p->wakes += evc_notify(&w->wake);
	}
}

/* Take the head result of w (which has one) and adapt w's cap to its task time. */
static void take(struct spsc_pool *p, struct worker *w, struct spsc_item *out)
{
	struct spsc *r = &w->res;
	uint64_t c;

	*out = r->slot[r->tail & RING_MASK];
	r->tail++;
	w->outstanding--;
	w->mean_ticks = w->mean_ticks ? (w->mean_ticks * 7 + out->ticks) / 8 : out->ticks + 1;
	c = p->queue_ticks / (w->mean_ticks + 1);
	w->cap = c < 2 ? 2 : c > RING_SLOTS ? RING_SLOTS : c;
}

int spsc_pool_collect(struct spsc_pool *p, struct spsc_item *out)
{
	for (unsigned k = 0; k < p->n; k++, p->rr++) {
		struct worker *w = &p->w[p->rr % p->n];

		if (spsc_ready(&w->res)) {
			take(p, w, out);
			return 0;
		}
	}
	return -EAGAIN;
}

static int any_result(struct spsc_pool *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (spsc_ready(&p->w[i].res))
			return 1;
	return 0;
}

/*
 * Spins SPIN_NS, then sleeps on the doorbell. After waking a sleeping worker
 * it sleeps at once: the answer cannot come before that worker's wake-up,
 * and a sleeping waker lets the scheduler run the woken worker on this CPU.
 */
void spsc_pool_wait(struct spsc_pool *p)
{
	uint64_t t0 = peer_ticks(), spin;

	spsc_pool_flush(p);
	spin = p->wakes == p->wakes_seen ? p->spin_ticks : 0;
	p->wakes_seen = p->wakes;
	for (unsigned k = 0; !any_result(p); k++) {
		if ((k & 63) || peer_ticks() - t0 < spin) {
			__builtin_ia32_pause();
			continue;
		}
		uint32_t armed = p->light ? evc_prepare_heavy(&p->doorbell)
					  : evc_prepare(&p->doorbell);

		if (any_result(p))
			evc_cancel(&p->doorbell, armed);	/* re-checked after W1 */
		else if (armed)
			futex_wait(&p->doorbell.word, armed);
		else
			peer_die("membarrier failed: %s", strerror(errno));
	}
}

