/* SPDX-License-Identifier: MIT */
/*
 * Cold paths of the SPSC ring: layout and attaching handles. The hot path
 * (reserve, commit, publish, peek, release) is inline in rp_ring.h.
 */
#include "rp_ring.h"

#include "rp_clock.h"

#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* A fresh key for each init: a replacement of a ring (a respawned worker's
 * task ring) must not accept the commit words of the ring it replaces. */
static uint64_t new_key(void)
{
	static _Atomic uint64_t counter;
	uint64_t k = 0;

	if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
		/* relaxed: only needs to differ between calls. */
		k = rp_ticks() ^ ((uint64_t)getpid() << 32) ^
		    atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed) * 0x9e3779b97f4a7c15ull;
		k ^= k >> 31;
		k *= 0xbf58476d1ce4e5b9ull;
		k ^= k >> 29;
	}
	return k | (1ull << 63);
}

static int cap_ok(uint64_t cap)
{
	return cap >= RP_RING_MIN_CAP && cap <= RP_RING_MAX_CAP && !(cap & (cap - 1));
}

int rp_ring_init(void *mem, uint64_t cap)
{
	struct rp_ring *r = mem;

	if (!mem || !cap_ok(cap) || ((uintptr_t)mem % RP_CACHELINE))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	r->capacity = cap;
	r->key = new_key();
	r->magic = RP_RING_MAGIC;
	return 0;
}

/*
 * Check a ring laid out at mem against the capacity the caller knows, and
 * read both indices once. Both sides move only by whole records and pads, so
 * the indices stay 8-aligned; an unaligned one would make peek read a
 * header's tag past the end of the data area. Returns 0, -EINVAL or -EPROTO.
 */
static int check(void *mem, uint64_t cap, uint64_t *head, uint64_t *tail, uint64_t *key)
{
	struct rp_ring *r = mem;
	uint64_t h, t;

	if (!mem || !cap_ok(cap) || ((uintptr_t)mem % RP_CACHELINE))
		return -EINVAL;
	if (r->magic != RP_RING_MAGIC || r->capacity != cap || !(r->key >> 63))
		return -EINVAL;
	/* acquire: pairs with the producer's P1 (tail) and the consumer's C2
	 * (head), so a re-attached side sees what the previous one wrote. */
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (t - h > cap || (h | t) % RP_REC_ALIGN)
		return -EPROTO;
	*head = h;
	*tail = t;
	*key = r->key;
	return 0;
}

int rp_ring_prod_attach(struct rp_ring_prod *p, void *mem, uint64_t cap)
{
	struct rp_ring *r = mem;
	uint64_t h, t, k;
	int err = check(mem, cap, &h, &t, &k);

	if (err)
		return err;
	p->ring = r;
	p->data = r->data;
	p->cap = cap;
	p->key = k;
	p->tail = p->tail_pub = t;
	p->head_cache = h;
	p->resv = 0;
	return 0;
}

int rp_ring_cons_attach(struct rp_ring_cons *c, void *mem, uint64_t cap)
{
	struct rp_ring *r = mem;
	uint64_t h, t, k;
	int err = check(mem, cap, &h, &t, &k);

	if (err)
		return err;
	c->ring = r;
	c->data = r->data;
	c->cap = cap;
	c->key = k;
	c->head = c->head_pub = h;
	return 0;
}

uint64_t rp_ring_cons_end(const struct rp_ring_cons *c, uint64_t *n)
{
	struct rp_ring_cons x = *c;
	struct rp_rec_view v;

	*n = 0;
	while (rp_ring_peek(&x, &v) == 0) {
		rp_ring_release(&x, &v);
		(*n)++;
	}
	return x.head;	/* past a trailing pad too: peek skipped it */
}

void rp_ring_set_tail(void *mem, uint64_t tail)
{
	struct rp_ring *r = mem;

	/* release: pairs with the acquire in check() of the producer that
	 * attaches next. */
	atomic_store_explicit(&r->tail, tail, memory_order_release);
}
