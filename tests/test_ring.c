/* SPDX-License-Identifier: MIT */
/*
 * The SPSC ring on its own, in one process: empty and full, wrap-around with
 * pad markers, every record size up to the limit, refusal of oversize
 * records, and refusal of impossible indices and headers written by a
 * corrupt peer.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rp_ring.h"

struct ringbuf {
	void *mem;
	struct rp_ring_prod p;
	struct rp_ring_cons c;
	uint64_t cap;
};

static void setup_ring(struct ringbuf *rb, uint64_t cap)
{
	rb->cap = cap;
	cr_assert_eq(posix_memalign(&rb->mem, 64, rp_ring_memsize(cap)), 0);
	cr_assert_eq(rp_ring_init(rb->mem, cap), 0);
	cr_assert_eq(rp_ring_prod_attach(&rb->p, rb->mem, cap), 0);
	cr_assert_eq(rp_ring_cons_attach(&rb->c, rb->mem, cap), 0);
}

static int put(struct ringbuf *rb, uint64_t len, uint64_t seq)
{
	int err = 0;
	unsigned char *d = rp_ring_reserve(&rb->p, len, &err);

	if (!d)
		return err;
	for (uint64_t i = 0; i < len; i++)
		d[i] = (unsigned char)(seq + i);
	rp_ring_commit(&rb->p, len, 7, seq, -3, 11);
	rp_ring_publish(&rb->p);
	return 0;
}

static int get(struct ringbuf *rb, uint64_t *len, uint64_t *seq)
{
	struct rp_rec_view v;
	int r = rp_ring_peek(&rb->c, &v);

	if (r)
		return r;
	const unsigned char *d = v.data;
	for (uint64_t i = 0; i < v.len; i++)
		cr_assert_eq(d[i], (unsigned char)(v.seq + i), "payload byte %lu of seq %lu", i, v.seq);
	cr_assert_eq(v.tag, 7u);
	cr_assert_eq(v.status, -3);
	cr_assert_eq(v.aux, 11u);
	*len = v.len;
	*seq = v.seq;
	rp_ring_release(&rb->c, &v);
	return 0;
}

Test(ring, init_rejects_bad_capacity)
{
	void *mem;

	cr_assert_eq(posix_memalign(&mem, 64, rp_ring_memsize(4096)), 0);
	cr_assert_eq(rp_ring_init(mem, 0), -EINVAL);
	cr_assert_eq(rp_ring_init(mem, 100), -EINVAL);
	cr_assert_eq(rp_ring_init(mem, 32), -EINVAL);
	cr_assert_eq(rp_ring_init((char *)mem + 8, 4096), -EINVAL);
	cr_assert_eq(rp_ring_init(mem, 4096), 0);
	/* A handle must agree with the capacity in memory. */
	struct rp_ring_prod p;
	cr_assert_eq(rp_ring_prod_attach(&p, mem, 2048), -EINVAL);
	free(mem);
}

Test(ring, empty_then_one_record)
{
	struct ringbuf rb;
	uint64_t len, seq;

	setup_ring(&rb, 256);
	cr_assert_eq(get(&rb, &len, &seq), -EAGAIN);
	cr_assert_eq(put(&rb, 5, 42), 0);
	cr_assert_eq(get(&rb, &len, &seq), 0);
	cr_assert_eq(len, 5u);
	cr_assert_eq(seq, 42u);
	cr_assert_eq(get(&rb, &len, &seq), -EAGAIN);
	free(rb.mem);
}

Test(ring, unpublished_records_are_invisible)
{
	struct ringbuf rb;
	struct rp_rec_view v;
	int err;

	setup_ring(&rb, 256);
	cr_assert_not_null(rp_ring_reserve(&rb.p, 8, &err));
	rp_ring_commit(&rb.p, 8, 0, 1, 0, 0);
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EAGAIN);
	cr_assert_eq(rp_ring_unpublished(&rb.p), RP_REC_SIZE(8));
	cr_assert_eq(rp_ring_publish(&rb.p), 1);
	cr_assert_eq(rp_ring_publish(&rb.p), 0);
	cr_assert_eq(rp_ring_peek(&rb.c, &v), 0);
	free(rb.mem);
}

Test(ring, full_until_consumer_releases)
{
	struct ringbuf rb;
	uint64_t len, seq, n = 0;

	setup_ring(&rb, 256);
	/* 8-byte payloads take 32 bytes: exactly 8 fit in 256. */
	while (put(&rb, 8, n) == 0)
		n++;
	cr_assert_eq(n, 8u);
	cr_assert_eq(put(&rb, 8, n), -EAGAIN);
	cr_assert_eq(get(&rb, &len, &seq), 0);
	/* Space is only returned once the consumer publishes its head. */
	cr_assert_eq(put(&rb, 8, n), -EAGAIN);
	rp_ring_cons_publish(&rb.c);
	cr_assert_eq(put(&rb, 8, n), 0);
	free(rb.mem);
}

Test(ring, oversize_record_refused)
{
	struct ringbuf rb;
	int err = 0;

	setup_ring(&rb, 1024);
	cr_assert_eq(rp_ring_max_payload(1024), 512 - RP_REC_HDR);
	cr_assert_null(rp_ring_reserve(&rb.p, rp_ring_max_payload(1024) + 1, &err));
	cr_assert_eq(err, -EMSGSIZE);
	cr_assert_null(rp_ring_reserve(&rb.p, 4096, &err));
	cr_assert_eq(err, -EMSGSIZE);
	cr_assert_eq(put(&rb, rp_ring_max_payload(1024), 1), 0);
	free(rb.mem);
}

/* Every size from 0 to the limit, many laps, so every wrap offset is seen. */
Test(ring, wraparound_all_sizes)
{
	struct ringbuf rb;
	uint64_t cap = 1024, maxp = rp_ring_max_payload(cap);
	uint64_t sent = 0, recv = 0, len, seq;

	setup_ring(&rb, cap);
	for (uint64_t round = 0; round < 20; round++) {
		for (uint64_t sz = 0; sz <= maxp; sz++) {
			while (put(&rb, (sz * 7 + round) % (maxp + 1), sent) == -EAGAIN) {
				cr_assert_eq(get(&rb, &len, &seq), 0);
				cr_assert_eq(seq, recv);
				recv++;
				rp_ring_cons_publish(&rb.c);
			}
			sent++;
		}
	}
	while (get(&rb, &len, &seq) == 0) {
		cr_assert_eq(seq, recv);
		recv++;
	}
	cr_assert_eq(recv, sent);
	cr_assert_gt(rb.p.tail, 20 * cap, "the test must wrap many times");
}

Test(ring, pad_marker_skipped)
{
	struct ringbuf rb;
	uint64_t len, seq;

	setup_ring(&rb, 256);
	/* Fill to offset 224, drain, then a 64-byte record must wrap. */
	for (int i = 0; i < 7; i++)
		cr_assert_eq(put(&rb, 8, (uint64_t)i), 0);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(get(&rb, &len, &seq), 0);
	rp_ring_cons_publish(&rb.c);
	cr_assert_eq(put(&rb, 64, 100), 0);
	cr_assert_eq(rb.p.tail, 256 + RP_REC_SIZE(64), "the pad covers the last 32 bytes");
	cr_assert_eq(get(&rb, &len, &seq), 0);
	cr_assert_eq(seq, 100u);
	cr_assert_eq(len, 64u);
	free(rb.mem);
}

/* A corrupt producer: tail past capacity, tail behind head, lengths too big. */
Test(ring, consumer_rejects_corrupt_producer)
{
	struct ringbuf rb;
	struct rp_rec_view v;

	setup_ring(&rb, 256);
	atomic_store(&rb.c.ring->tail, 257);
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	atomic_store(&rb.c.ring->tail, (uint64_t)-8);
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);

	/* A header whose length runs past the published tail. */
	cr_assert_eq(put(&rb, 8, 1), 0);
	((struct rp_rec *)rb.c.data)->len = 200;
	atomic_store(&rb.c.ring->tail, RP_REC_SIZE(8));
	rb.c.tail_cache = rb.c.head;
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	/* A length past the end of the data area. */
	((struct rp_rec *)rb.c.data)->len = 0xfffffff0u;
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	/* A pad marker not covered by the tail. */
	((struct rp_rec *)rb.c.data)->tag = RP_REC_PAD;
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	free(rb.mem);
}

Test(ring, producer_rejects_corrupt_consumer)
{
	struct ringbuf rb;
	int err = 0;

	setup_ring(&rb, 256);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(put(&rb, 8, (uint64_t)i), 0);
	/* Head beyond tail. */
	atomic_store(&rb.p.ring->head, 512);
	cr_assert_null(rp_ring_reserve(&rb.p, 8, &err));
	cr_assert_eq(err, -EPROTO);
	free(rb.mem);
}

/* An index that is not 8-aligned would make peek read past the ring. */
Test(ring, attach_refuses_unaligned_indices)
{
	struct ringbuf rb;
	struct rp_ring_cons c;
	struct rp_ring_prod p;

	setup_ring(&rb, 256);
	atomic_store(&rb.c.ring->head, 253);
	atomic_store(&rb.c.ring->tail, 253);
	cr_assert_eq(rp_ring_cons_attach(&c, rb.mem, 256), -EPROTO);
	cr_assert_eq(rp_ring_prod_attach(&p, rb.mem, 256), -EPROTO);
	free(rb.mem);
}
