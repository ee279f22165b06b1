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

/* A record is visible from its commit on (its commit word), not from the
 * tail's publication; a reservation is not. */
Test(ring, committed_records_are_visible_at_once)
{
	struct ringbuf rb;
	struct rp_rec_view v;
	int err;

	setup_ring(&rb, 256);
	cr_assert_not_null(rp_ring_reserve(&rb.p, 8, &err));
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EAGAIN);
	cr_assert(rp_ring_cons_empty(&rb.c));
	rp_ring_commit(&rb.p, 8, 0, 1, 0, 0);
	cr_assert_not(rp_ring_cons_empty(&rb.c));
	cr_assert_eq(rp_ring_peek(&rb.c, &v), 0);
	cr_assert_eq(v.seq, 1u);
	cr_assert_eq(rp_ring_tail_hint(&rb.c), 0u, "the tail is published lazily");
	cr_assert_eq(rp_ring_unpublished(&rb.p), RP_REC_SIZE(8));
	cr_assert_eq(rp_ring_publish(&rb.p), 1);
	cr_assert_eq(rp_ring_publish(&rb.p), 0);
	cr_assert_eq(rp_ring_tail_hint(&rb.c), RP_REC_SIZE(8));
	free(rb.mem);
}

/* Headers and payloads of an earlier lap stay in memory; none of them may
 * pass for a record at a later position. */
Test(ring, stale_laps_are_not_records)
{
	struct ringbuf rb;
	struct rp_rec_view v;
	uint64_t len, seq, n = 0;

	setup_ring(&rb, 256);
	for (int lap = 0; lap < 5; lap++) {
		/* 8-byte payloads whose bytes are positions without the key */
		while (put(&rb, 8, n) == 0)
			n++;
		while (get(&rb, &len, &seq) == 0)
			;
		rp_ring_cons_publish(&rb.c);
		cr_assert_eq(rp_ring_peek(&rb.c, &v), -EAGAIN);
		cr_assert(rp_ring_cons_empty(&rb.c));
	}
	/* The same memory laid out again: the old commit words are void. */
	struct rp_ring_cons c2;

	cr_assert_eq(rp_ring_init(rb.mem, 256), 0);
	cr_assert_eq(rp_ring_cons_attach(&c2, rb.mem, 256), 0);
	for (uint64_t pos = 0; pos < 256; pos += 8) {
		c2.head = pos;
		cr_assert_eq(rp_ring_peek(&c2, &v), -EAGAIN, "stale record at %lu", pos);
	}
	free(rb.mem);
}

/* A producer died with records committed past its published tail: the
 * consumer finds the end, a replacement starts there, nothing is lost or
 * read twice. */
Test(ring, replacement_producer_starts_past_committed_records)
{
	struct ringbuf rb;
	struct rp_ring_prod p2;
	uint64_t len, seq, n, end;
	int err;

	setup_ring(&rb, 256);
	cr_assert_eq(put(&rb, 8, 0), 0);		/* published */
	for (uint64_t i = 1; i <= 3; i++) {		/* committed, not published */
		unsigned char *d = rp_ring_reserve(&rb.p, 8, &err);

		cr_assert_not_null(d);
		for (int b = 0; b < 8; b++)
			d[b] = (unsigned char)(i + (uint64_t)b);
		rp_ring_commit(&rb.p, 8, 7, i, -3, 11);
	}
	cr_assert_not_null(rp_ring_reserve(&rb.p, 8, &err));	/* never committed */
	cr_assert_eq(get(&rb, &len, &seq), 0);
	cr_assert_eq(seq, 0u);
	end = rp_ring_cons_end(&rb.c, &n);
	cr_assert_eq(n, 3u);
	cr_assert_eq(end, 4 * RP_REC_SIZE(8));
	rp_ring_set_tail(rb.mem, end);
	cr_assert_eq(rp_ring_prod_attach(&p2, rb.mem, 256), 0);
	rb.p = p2;
	cr_assert_eq(put(&rb, 8, 4), 0);
	for (uint64_t i = 1; i <= 4; i++) {
		cr_assert_eq(get(&rb, &len, &seq), 0);
		cr_assert_eq(seq, i);
	}
	cr_assert_eq(get(&rb, &len, &seq), -EAGAIN);
	free(rb.mem);
}

Test(ring, full_until_consumer_releases)
{
	struct ringbuf rb;
	uint64_t len, seq, n = 0;

	setup_ring(&rb, 256);
	/* 8-byte payloads take 40 bytes: 6 fit in 256. */
	while (put(&rb, 8, n) == 0)
		n++;
	cr_assert_eq(n, 6u);
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
	/* Fill to offset 240, drain, then a 64-byte record must wrap. */
	for (int i = 0; i < 6; i++)
		cr_assert_eq(put(&rb, 8, (uint64_t)i), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(get(&rb, &len, &seq), 0);
	rp_ring_cons_publish(&rb.c);
	cr_assert_eq(put(&rb, 64, 100), 0);
	cr_assert_eq(rb.p.tail, 256 + RP_REC_SIZE(64), "the pad covers the last 16 bytes");
	cr_assert_eq(get(&rb, &len, &seq), 0);
	cr_assert_eq(seq, 100u);
	cr_assert_eq(len, 64u);
	free(rb.mem);
}

/* A corrupt producer: impossible lengths behind a valid commit word, a pad
 * at offset 0, garbage commit words (not records: never trusted). */
Test(ring, consumer_rejects_corrupt_producer)
{
	struct ringbuf rb;
	struct rp_rec_view v;
	struct rp_rec *h;

	setup_ring(&rb, 256);
	h = (struct rp_rec *)rb.c.data;
	/* A tail past capacity or behind the head means nothing now. */
	atomic_store(&rb.c.ring->tail, 257);
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EAGAIN);
	/* Garbage in the commit word: not a record. */
	atomic_store(&h->commit, 0x1234);
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EAGAIN);
	cr_assert(rp_ring_cons_empty(&rb.c));
	/* A length over the record limit (half the ring). */
	cr_assert_eq(put(&rb, 8, 1), 0);
	h->len = 200;
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	/* A length past the end of the data area. */
	h->len = 0xfffffff0u;
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	/* A pad marker at offset 0 (a record always fits there). */
	atomic_store(&h->commit, RP_PAD_COMMIT(0, rb.c.key));
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	/* A record committed in the last 8 bytes: refused before its header
	 * (past the end of the data area) is read. Found by fuzz_results. */
	rb.c.head = 248;
	atomic_store((_Atomic uint64_t *)(rb.c.data + 248), RP_REC_COMMIT(248, rb.c.key));
	cr_assert_eq(rp_ring_peek(&rb.c, &v), -EPROTO);
	free(rb.mem);
}

Test(ring, producer_rejects_corrupt_consumer)
{
	struct ringbuf rb;
	int err = 0;

	setup_ring(&rb, 256);
	for (int i = 0; i < 6; i++)
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
