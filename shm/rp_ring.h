/* SPDX-License-Identifier: MIT */
/*
 * Single-producer/single-consumer ring of variable-length records, laid out in
 * caller-placed (usually shared) memory: rp_ring_memsize() + rp_ring_init().
 *
 * Each side keeps a process-local handle (struct rp_ring_prod / rp_ring_cons)
 * holding its own free-running 64-bit index, a cached copy of the other
 * side's index (reloaded only when the ring looks full or empty) and the
 * capacity it was created with. Nothing the peer writes is trusted: indices
 * and record headers are read once, validated against the local capacity and
 * refused with -EPROTO when impossible, so a corrupt peer can never make us
 * touch memory outside the ring.
 *
 * Wrap-around: records never straddle the end of the data area. A record
 * that does not fit in the bytes left before the end is preceded by an 8-byte
 * pad marker, and the consumer skips from the marker to the end. Padding was
 * chosen over mapping the data twice back to back because the rings live at
 * arbitrary offsets of one shared region mapped once; the price is that a
 * record may use at most half the ring (rp_ring_max_payload()), which
 * guarantees it fits once the consumer has caught up.
 *
 * Indices are free-running (never masked when stored) and wrap modulo 2^64.
 *
 * Signalling is in the record, not in a shared index (as FastForward,
 * MCRingBuffer and B-Queue do): each header starts with a commit word, stored
 * last with release, whose value is the record's position mixed with the
 * ring's key (RP_REC_COMMIT). The consumer reads the word at its head: the
 * right value means a whole record is there, anything else (zero memory, a
 * stale header or payload of an earlier lap) means not yet, since positions
 * never repeat and the random key makes user bytes match only by a 2^-64
 * chance. So the consumer never pulls the producer's index line: results
 * travel on the lines that carry them anyway. The producer's tail is still
 * published (rp_ring_publish), lazily: it is a hint for occupancy, and what
 * a replacement producer starts from (rp_ring_cons_end finds the true end
 * after a producer died). The consumer releases space once per burst
 * (rp_ring_cons_publish); the producer reads that head only when the ring
 * looks full.
 */
#ifndef RP_RING_H
#define RP_RING_H

#include "rp_compiler.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* Record header, 32 bytes, 8-byte aligned; the payload follows it. */
struct rp_rec {
	_Atomic uint64_t commit; /* RP_REC_COMMIT or RP_PAD_COMMIT; stored last */
	uint32_t len;		/* payload bytes */
	uint32_t tag;		/* user's */
	uint64_t seq;		/* user's */
	int32_t status;		/* user's */
	uint32_t aux;		/* user's */
};

#define RP_REC_HDR	((uint64_t)sizeof(struct rp_rec))
#define RP_REC_ALIGN	8u
#define RP_REC_SIZE(len) RP_ALIGN_UP(RP_REC_HDR + (uint64_t)(len), (uint64_t)RP_REC_ALIGN)
/* A pad marker is only a commit word, RP_PAD_COMMIT: 8 bytes always fit. */
#define RP_REC_PAD_MIN	8u
/* The commit words of a record and of a pad at absolute position pos (a
 * multiple of 8) of a ring with key k (bit 63 set: never 0 for pos < 2^63). */
#define RP_REC_COMMIT(pos, k)	((uint64_t)(pos) ^ (k))
#define RP_PAD_COMMIT(pos, k)	(((uint64_t)(pos) + 1) ^ (k))

#define RP_RING_MIN_CAP	64u
#define RP_RING_MAX_CAP	(1ull << 31)
#define RP_RING_MAGIC	0x52505247u /* "RPRG" */

/* The shared part. Producer and consumer lines are apart to avoid false sharing. */
struct rp_ring {
	/* Written by the producer only. */
	_Alignas(RP_CACHELINE) _Atomic uint64_t tail;
	/* Written by the consumer only. */
	_Alignas(RP_CACHELINE) _Atomic uint64_t head;
	/* Written once by rp_ring_init(), before the ring is shared. */
	_Alignas(RP_CACHELINE) uint64_t capacity;
	uint64_t key;		/* random, bit 63 set; fresh at every init */
	uint32_t magic;
	/* The data area starts at the next cache line. */
	_Alignas(RP_CACHELINE) unsigned char data[];
};

_Static_assert(offsetof(struct rp_ring, tail) % RP_CACHELINE == 0, "tail on its own line");
_Static_assert(offsetof(struct rp_ring, head) % RP_CACHELINE == 0, "head on its own line");
_Static_assert(offsetof(struct rp_ring, head) - offsetof(struct rp_ring, tail) >= RP_CACHELINE,
	       "producer and consumer lines apart");
_Static_assert(offsetof(struct rp_ring, data) % RP_CACHELINE == 0, "data line-aligned");

struct rp_ring_prod {
	struct rp_ring *ring;
	unsigned char *data;
	uint64_t cap;		/* ours, never re-read from shared memory */
	uint64_t key;		/* the ring's key, read once at attach */
	uint64_t tail;		/* next write position; may run ahead of the published one */
	uint64_t tail_pub;	/* last value stored to ring->tail */
	uint64_t head_cache;	/* consumer's head as we last saw it */
	uint64_t resv;		/* bytes of the open reservation at tail, 0 if none */
};

struct rp_ring_cons {
	struct rp_ring *ring;
	unsigned char *data;
	uint64_t cap;
	uint64_t key;		/* the ring's key, read once at attach */
	uint64_t head;		/* next read position; may run ahead of the published one */
	uint64_t head_pub;	/* last value stored to ring->head */
};

/* A record as read by the consumer: header fields copied out once. */
struct rp_rec_view {
	const void *data;	/* payload, in place in the ring */
	uint32_t len;
	uint32_t tag;
	uint64_t seq;
	int32_t status;
	uint32_t aux;
	uint64_t size;		/* bytes the record occupies, for release */
};

/* Bytes to set aside for a ring of `cap` data bytes (cap a power of two). */
static inline size_t rp_ring_memsize(uint64_t cap)
{
	return sizeof(struct rp_ring) + cap;
}

/* Largest payload one record of a `cap`-byte ring can carry. */
static inline uint64_t rp_ring_max_payload(uint64_t cap)
{
	return cap / 2 - RP_REC_HDR;
}

/*
 * Lay out an empty ring of `cap` data bytes at mem (rp_ring_memsize(cap)
 * bytes, 64-byte aligned). Returns 0, or -EINVAL if cap is not a power of two
 * in [RP_RING_MIN_CAP, RP_RING_MAX_CAP] or mem is misaligned.
 */
int rp_ring_init(void *mem, uint64_t cap);

/*
 * Attach a producer or consumer handle to an initialised ring. `cap` is the
 * capacity the caller knows from its own records; the copy in shared memory
 * is only checked against it. Returns 0 or -EINVAL (bad cap, or magic or
 * capacity in memory disagree), -EPROTO (indices already impossible).
 */
int rp_ring_prod_attach(struct rp_ring_prod *p, void *mem, uint64_t cap);
int rp_ring_cons_attach(struct rp_ring_cons *c, void *mem, uint64_t cap);

/*
 * Reserve space for a record of `len` payload bytes at the tail. Returns a
 * pointer to the payload space, or NULL if the ring lacks room now (the
 * consumer has not caught up) or the consumer's index is impossible (then
 * *err is set to -EPROTO; otherwise to -EAGAIN). A len above
 * rp_ring_max_payload() gives NULL with -EMSGSIZE. At most one reservation is
 * open at a time; a second call replaces the first.
 */
static inline void *rp_ring_reserve(struct rp_ring_prod *p, uint64_t len, int *err)
{
	uint64_t cap = p->cap, need, off, contig, total;

	if (rp_unlikely(len > rp_ring_max_payload(cap))) {
		*err = -EMSGSIZE;
		return NULL;
	}
	need = RP_REC_SIZE(len);
	off = p->tail & (cap - 1);
	contig = cap - off;
	total = need <= contig ? need : contig + need;
	if (rp_unlikely(p->tail - p->head_cache + total > cap)) {
		/* P2 acquire: pairs with C2 (consumer's release of head). The
		 * consumer has finished reading the bytes it released before we
		 * overwrite them. */
		uint64_t h = atomic_load_explicit(&p->ring->head, memory_order_acquire);

		if (rp_unlikely(p->tail - h > cap || h - p->head_cache > cap)) {
			*err = -EPROTO; /* head ahead of tail, or moved backwards */
			return NULL;
		}
		p->head_cache = h;
		if (p->tail - h + total > cap) {
			*err = -EAGAIN;
			return NULL;
		}
	}
	if (need > contig) {
		/* Pad marker: only the commit word is sure to fit (contig >= 8).
		 * P3 release: pairs with C3, as a record's commit word. */
		struct rp_rec *pad = (struct rp_rec *)(p->data + off);

		atomic_store_explicit(&pad->commit, RP_PAD_COMMIT(p->tail, p->key),
				      memory_order_release);
		p->tail += contig;
		off = 0;
	}
	p->resv = need;
	return p->data + off + RP_REC_HDR;
}

/*
 * Re-read the consumer's head and check it is possible (at most our tail,
 * never backwards). Returns 0 or -EPROTO; lets a producer find a corrupt
 * consumer before its ring fills.
 */
static inline int rp_ring_prod_check(struct rp_ring_prod *p)
{
	/* P2 acquire: pairs with C2, as in rp_ring_reserve. */
	uint64_t h = atomic_load_explicit(&p->ring->head, memory_order_acquire);

	if (p->tail - h > p->cap || h - p->head_cache > p->cap)
		return -EPROTO;
	p->head_cache = h;
	return 0;
}

/* Drop the open reservation (a pad marker it wrote stays; that is harmless). */
static inline void rp_ring_abort(struct rp_ring_prod *p)
{
	p->resv = 0;
}

/*
 * Commit the open reservation as a record of `len` payload bytes (len must
 * not exceed what was reserved). The consumer may read it from now on;
 * rp_ring_publish() only moves the shared tail (a hint) and says whether
 * there was anything to announce.
 */
static inline void rp_ring_commit(struct rp_ring_prod *p, uint64_t len, uint32_t tag,
				  uint64_t seq, int32_t status, uint32_t aux)
{
	struct rp_rec *r = (struct rp_rec *)(p->data + (p->tail & (p->cap - 1)));

	r->len = (uint32_t)len;
	r->tag = tag;
	r->seq = seq;
	r->status = status;
	r->aux = aux;
	/* P3 release: pairs with C3 (the consumer's acquire of the commit
	 * word). Orders the header and payload above before the word. */
	atomic_store_explicit(&r->commit, RP_REC_COMMIT(p->tail, p->key), memory_order_release);
	p->tail += RP_REC_SIZE(len);
	p->resv = 0;
}

/* Store the tail (a hint: records are visible once committed). Returns 1
 * if it moved: something was committed since the last call. */
static inline int rp_ring_publish(struct rp_ring_prod *p)
{
	if (p->tail == p->tail_pub)
		return 0;
	/* P1 release: pairs with the acquire of a re-attaching producer
	 * (ring.c check()) and rp_ring_tail_hint(); readers of records use
	 * the commit words (P3/C3), not this. */
	atomic_store_explicit(&p->ring->tail, p->tail, memory_order_release);
	p->tail_pub = p->tail;
	return 1;
}

/* Committed but unpublished bytes. */
static inline uint64_t rp_ring_unpublished(const struct rp_ring_prod *p)
{
	return p->tail - p->tail_pub;
}

/* Give consumed space back to the producer. Returns 1 if anything changed. */
static inline int rp_ring_cons_publish(struct rp_ring_cons *c)
{
	if (c->head == c->head_pub)
		return 0;
	/* C2 release: pairs with P2. Our reads of the released records happen
	 * before the producer may overwrite them. */
	atomic_store_explicit(&c->ring->head, c->head, memory_order_release);
	c->head_pub = c->head;
	return 1;
}

/*
 * Give consumed space back up to pos only (head_pub <= pos <= head): the
 * records between pos and head were read but are still in use (a caller
 * holds them in place). Returns 1 if anything changed.
 */
static inline int rp_ring_cons_publish_to(struct rp_ring_cons *c, uint64_t pos)
{
	if (pos == c->head_pub)
		return 0;
	/* C2 release: pairs with P2, as in rp_ring_cons_publish. */
	atomic_store_explicit(&c->ring->head, pos, memory_order_release);
	c->head_pub = pos;
	return 1;
}

/* The commit word at c's head: C3 acquire, pairs with P3 (the producer's
 * release of it, after the header and payload). */
static inline uint64_t rp__ring_word(const struct rp_ring_cons *c, uint64_t pos)
{
	const struct rp_rec *r = (const struct rp_rec *)(c->data + (pos & (c->cap - 1)));

	return atomic_load_explicit(&r->commit, memory_order_acquire);
}

/*
 * Look at the next record without consuming it. Returns 0 and fills *v;
 * -EAGAIN if nothing is committed at the head; -EPROTO if the producer
 * committed an impossible header. The payload stays valid until
 * rp_ring_release. Writes nothing to shared memory, so it also works on a
 * copy of a handle (to look ahead); release space with rp_ring_cons_publish,
 * once per burst.
 */
static inline int rp_ring_peek(struct rp_ring_cons *c, struct rp_rec_view *v)
{
	uint64_t cap = c->cap, off, contig, w;
	const struct rp_rec *r;
	uint32_t len;

	for (;;) {
		off = c->head & (cap - 1);
		contig = cap - off;
		w = rp__ring_word(c, c->head);
		if (rp_likely(w == RP_REC_COMMIT(c->head, c->key)))
			break;
		if (w != RP_PAD_COMMIT(c->head, c->key))
			return -EAGAIN;
		/* A pad is only ever needed before the end (a record always
		 * fits at offset 0), so at most one is skipped per call: a
		 * producer committing pads cannot keep us in this loop. */
		if (rp_unlikely(off == 0))
			return -EPROTO;
		c->head += contig;
	}
	/* A record's header must fit before the end (only a pad may sit in
	 * the last 8..24 bytes): checked before the header is read. */
	if (rp_unlikely(contig < RP_REC_HDR))
		return -EPROTO;
	r = (const struct rp_rec *)(c->data + off);
	/* Each header field is read once into a local, then validated. */
	len = r->len;
	if (rp_unlikely(len > contig - RP_REC_HDR || len > rp_ring_max_payload(cap)))
		return -EPROTO;
	v->data = (const unsigned char *)r + RP_REC_HDR;
	v->len = len;
	v->tag = r->tag;
	v->seq = r->seq;
	v->status = r->status;
	v->aux = r->aux;
	v->size = RP_REC_SIZE(len);
	return 0;
}

/* Consume the record last returned by rp_ring_peek(). */
static inline void rp_ring_release(struct rp_ring_cons *c, const struct rp_rec_view *v)
{
	c->head += v->size;
}

/*
 * Non-consuming emptiness check for sleepers' re-checks: is a record or a
 * pad committed at our head? (C3 acquire, pairs with P3.)
 */
static inline int rp_ring_cons_empty(const struct rp_ring_cons *c)
{
	uint64_t w = rp__ring_word(c, c->head);

	return w != RP_REC_COMMIT(c->head, c->key) && w != RP_PAD_COMMIT(c->head, c->key);
}

/* The producer's published tail: a hint of how full the ring is (it lags
 * the records committed by up to one batch). P1's pair. */
static inline uint64_t rp_ring_tail_hint(const struct rp_ring_cons *c)
{
	return atomic_load_explicit(&c->ring->tail, memory_order_acquire);
}

/*
 * After the producer died: the position just past the last record (or pad)
 * committed from c's head on, and how many records lie there (*n). A
 * replacement producer starts there (rp_ring_set_tail), after the records
 * still to be read. Stops at the first impossible header.
 */
uint64_t rp_ring_cons_end(const struct rp_ring_cons *c, uint64_t *n);

/* Store the tail a replacement producer attaches at; only while no
 * producer runs. */
void rp_ring_set_tail(void *mem, uint64_t tail);

#endif
