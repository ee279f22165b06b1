/* SPDX-License-Identifier: MIT */
/*
 * Cold paths of the SPSC ring: layout and attaching handles. The hot path
 * (reserve, commit, publish, peek, release) is inline in rp_ring.h.
 */
#include "rp_ring.h"

#include <string.h>

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
	r->magic = RP_RING_MAGIC;
	return 0;
}

/*
 * Check a ring laid out at mem against the capacity the caller knows, and
 * read both indices once. Both sides move only by whole records and pads, so
 * the indices stay 8-aligned; an unaligned one would make peek read a
 * header's tag past the end of the data area. Returns 0, -EINVAL or -EPROTO.
 */
static int check(void *mem, uint64_t cap, uint64_t *head, uint64_t *tail)
{
	struct rp_ring *r = mem;
	uint64_t h, t;

	if (!mem || !cap_ok(cap) || ((uintptr_t)mem % RP_CACHELINE))
		return -EINVAL;
	if (r->magic != RP_RING_MAGIC || r->capacity != cap)
		return -EINVAL;
	/* acquire: pairs with the producer's P1 (tail) and the consumer's C2
	 * (head), so a re-attached side sees what the previous one wrote. */
	h = atomic_load_explicit(&r->head, memory_order_acquire);
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (t - h > cap || (h | t) % RP_REC_ALIGN)
		return -EPROTO;
	*head = h;
	*tail = t;
	return 0;
}

int rp_ring_prod_attach(struct rp_ring_prod *p, void *mem, uint64_t cap)
{
	struct rp_ring *r = mem;
	uint64_t h, t;
	int err = check(mem, cap, &h, &t);

	if (err)
		return err;
	p->ring = r;
	p->data = r->data;
	p->cap = cap;
	p->tail = p->tail_pub = t;
	p->head_cache = h;
	p->resv = 0;
	return 0;
}

int rp_ring_cons_attach(struct rp_ring_cons *c, void *mem, uint64_t cap)
{
	struct rp_ring *r = mem;
	uint64_t h, t;
	int err = check(mem, cap, &h, &t);

	if (err)
		return err;
	c->ring = r;
	c->data = r->data;
	c->cap = cap;
	c->head = c->head_pub = h;
	c->tail_cache = h;
	return 0;
}
