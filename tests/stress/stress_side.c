/* SPDX-License-Identifier: MIT */
/*
 * One side of the ring stress test (see stress_side.h): a loop that sends a
 * burst, receives a burst, now and then pauses, and when it can do neither,
 * waits on its eventcount exactly as lib/ does (flush, spin, arm, re-check,
 * sleep with a timeout). A timeout that finds work waiting although nobody
 * bumped our eventcount is a lost wake-up, and counts as an error.
 */
#include "stress_side.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* How long the peer may take from its publish to its notify before a
 * timed-out sleeper that found work calls it a lost wake-up. */
#define NOTIFY_GRACE_NS	100000000ull

uint64_t stress_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t ring_stride(uint64_t cap)
{
	return RP_ALIGN_UP(rp_ring_memsize(cap), (size_t)4096);
}

static void *ring_at(void *base, uint64_t cap, unsigned i)
{
	return (unsigned char *)base + STRESS_HDR + i * ring_stride(cap);
}

size_t stress_region_size(uint64_t cap)
{
	return STRESS_HDR + 2 * ring_stride(cap);
}

int stress_layout(void *base, uint64_t cap)
{
	struct stress_shared *sh = base;
	int err;

	rp_evc_init(&sh->wake[0].evc);
	rp_evc_init(&sh->wake[1].evc);
	atomic_init(&sh->failed, 0);
	for (unsigned i = 0; i < 2; i++) {
		err = rp_ring_init(ring_at(base, cap, i), cap);
		if (err)
			return err;
	}
	return 0;
}

/* xorshift64*: one stream per side. */
static uint64_t rnd(struct stress_side *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Mostly small records (many per ring), one in eight up to the maximum. */
static uint64_t pick_len(struct stress_side *s)
{
	uint64_t maxp = rp_ring_max_payload(s->cfg.cap), r = rnd(s);

	if (r & 7)
		return (r >> 8) % (maxp < 64 ? maxp + 1 : 64);
	return (r >> 8) % (maxp + 1);
}

/* Payload bytes are a function of (sender, seq): a stale or torn payload
 * fails the checksum, which covers seq and sender as well. */
static void fill(unsigned char *p, uint64_t len, unsigned sender, uint64_t seq)
{
	uint64_t x = (seq + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)sender << 56);

	while (len) {
		uint64_t n = len < 8 ? len : 8;

		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9ull;
		memcpy(p, &x, n);
		p += n;
		len -= n;
	}
}

/* FNV-1a over 64-bit words and the tail bytes, folded to 32 bits. */
static uint32_t checksum(const unsigned char *p, uint64_t len, unsigned sender, uint64_t seq)
{
	uint64_t h = 0xcbf29ce484222325ull ^ seq ^ ((uint64_t)sender << 48);

	for (; len >= 8; p += 8, len -= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	while (len--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return (uint32_t)(h ^ (h >> 32));
}

static bool peer_failed(const struct stress_side *s)
{
	/* relaxed: the flag carries no data. A sleeper re-reads it after
	 * rp_evc_prepare() (W1), which pairs with N1 in the failing side's
	 * rp_evc_notify(), so it cannot sleep through it. */
	return atomic_load_explicit(&s->sh->failed, memory_order_relaxed) != 0;
}

static void notify_peer(struct stress_side *s)
{
	struct rp_evc *e = &s->sh->wake[!s->id].evc;

	if (s->cfg.light && s->id == 1 ? rp_evc_notify_light(e) : rp_evc_notify(e))
		s->st.wakes++;
}

/* Arm our eventcount. *safe is false if a light notify could be missed (the
 * membarrier failed), so that a timeout is then no evidence of a lost wake. */
static uint32_t arm(struct stress_side *s, struct rp_evc *e, bool *safe)
{
	uint32_t armed;

	*safe = true;
	if (!(s->cfg.light && s->id == 0))
		return rp_evc_prepare(e);
	armed = rp_evc_prepare_heavy(e);
	if (armed)
		return armed;
	s->st.heavy_failed++;
	*safe = false;
	return rp_evc_prepare(e);
}

static void fail(struct stress_side *s, const char *fmt, ...)
{
	va_list ap;

	if (s->st.errors++ == 0) {
		va_start(ap, fmt);
		vsnprintf(s->st.error, sizeof(s->st.error), fmt, ap);
		va_end(ap);
	}
	/* relaxed: see peer_failed(); the notify below orders it (N1). */
	atomic_store_explicit(&s->sh->failed, 1, memory_order_relaxed);
	rp_evc_notify(&s->sh->wake[!s->id].evc);
}

/* Publish what the peer may be waiting for: records, and freed space. */
static void flush(struct stress_side *s)
{
	int any = rp_ring_publish(&s->out);

	any |= rp_ring_cons_publish(&s->in);
	if (any)
		notify_peer(s);
}

/*
 * The wake-up condition: something to receive, room for the next record, or
 * the peer gave up. Like lib's space_ready() it may open a reservation; the
 * send loop's next rp_ring_reserve() replaces it.
 */
static bool ready(struct stress_side *s)
{
	int err = 0;

	if (peer_failed(s))
		return true;
	if (!s->recv_done && !rp_ring_cons_empty(&s->in))
		return true;
	if (!s->send_done &&
	    (rp_ring_reserve(&s->out, s->end_due ? 0 : s->next_len, &err) || err != -EAGAIN))
		return true;
	return false;
}

/* Time to send the end record? (The clock is read every 64 records.) */
static bool send_limit(const struct stress_side *s, uint64_t seq)
{
	if (s->cfg.oneway && s->id == 1)
		return true;
	if (s->cfg.records && seq >= s->cfg.records)
		return true;
	return s->cfg.deadline_ns && (seq & 63) == 0 && stress_now_ns() >= s->cfg.deadline_ns;
}

static unsigned send_burst(struct stress_side *s)
{
	unsigned n = 0, burst = 1 + (unsigned)(rnd(s) % 32);

	while (!s->send_done && n < burst) {
		uint64_t seq = s->st.sent, len;
		unsigned char *p;
		int err = 0;

		if (!s->end_due && send_limit(s, seq))
			s->end_due = true;
		len = s->end_due ? 0 : s->next_len;
		p = rp_ring_reserve(&s->out, len, &err);
		if (!p) {
			if (err != -EAGAIN)
				fail(s, "side %u: rp_ring_reserve(%llu): %d", s->id,
				     (unsigned long long)len, err);
			break;
		}
		n++;
		if (s->end_due) {
			rp_ring_commit(&s->out, 0, STRESS_TAG_END, seq, (int32_t)s->id, 0);
			s->send_done = true;
		} else if (s->cfg.abort_every && rnd(s) % s->cfg.abort_every == 0) {
			/* A pad marker it wrote stays behind. Then ask for a
			 * larger record, which may need exactly that pad's bytes. */
			rp_ring_abort(&s->out);
			s->st.aborts++;
			s->next_len = rnd(s) % (rp_ring_max_payload(s->cfg.cap) + 1);
		} else {
			fill(p, len, s->id, seq);
			rp_ring_commit(&s->out, len, STRESS_TAG_DATA, seq, (int32_t)s->id,
				       checksum(p, len, s->id, seq));
			s->st.sent++;
			s->st.bytes_sent += len;
			s->next_len = pick_len(s);
		}
	}
	if (rp_ring_publish(&s->out))
		notify_peer(s);
	return n;
}

/* Check one received record. Returns 0 if it is the one expected. */
static int check(struct stress_side *s, const struct rp_rec_view *v)
{
	unsigned peer = !s->id;

	if (v->status != (int32_t)peer || v->seq != s->expect) {
		fail(s, "side %u: record from %d seq %llu, expected from %u seq %llu", s->id,
		     v->status, (unsigned long long)v->seq, peer, (unsigned long long)s->expect);
		return -1;
	}
	if (v->tag == STRESS_TAG_END) {
		if (v->len) {
			fail(s, "side %u: end record with %u bytes", s->id, v->len);
			return -1;
		}
		s->recv_done = true;
		return 0;
	}
	if (v->tag != STRESS_TAG_DATA || v->len > rp_ring_max_payload(s->cfg.cap)) {
		fail(s, "side %u: seq %llu: tag %#x len %u", s->id, (unsigned long long)v->seq,
		     v->tag, v->len);
		return -1;
	}
	if (checksum(v->data, v->len, peer, v->seq) != v->aux) {
		fail(s, "side %u: seq %llu (%u bytes): bad checksum", s->id,
		     (unsigned long long)v->seq, v->len);
		return -1;
	}
	s->expect++;
	s->st.recv++;
	s->st.bytes_recv += v->len;
	return 0;
}

static unsigned recv_burst(struct stress_side *s)
{
	unsigned n = 0, burst = 1 + (unsigned)(rnd(s) % 32);

	while (!s->recv_done && n < burst) {
		struct rp_rec_view v;
		int r;

		r = rp_ring_peek(&s->in, &v);
		if (r == -EAGAIN) {
			/* As lib does: caught up, hand space back with a wake-up. */
			if (rp_ring_cons_publish(&s->in))
				notify_peer(s);
			break;
		}
		if (r < 0) {
			fail(s, "side %u: rp_ring_peek: %d at seq %llu", s->id, r,
			     (unsigned long long)s->expect);
			break;
		}
		if (check(s, &v))
			break;
		rp_ring_release(&s->in, &v);
		n++;
	}
	/* Now and then give space back in mid-stream (as rp_flush() does). */
	if ((rnd(s) & 7) == 0 && rp_ring_cons_publish(&s->in))
		notify_peer(s);
	return n;
}

static void maybe_pause(struct stress_side *s)
{
	uint64_t us;

	if (!s->cfg.pause_every || rnd(s) % s->cfg.pause_every)
		return;
	s->st.pauses++;
	us = s->cfg.pause_max_us ? rnd(s) % (s->cfg.pause_max_us + 1) : 0;
	if (!us) {
		sched_yield();
	} else {
		struct timespec ts = { 0, (long)(us * 1000) };

		nanosleep(&ts, NULL);
	}
}

/*
 * After a timeout with work waiting: was a wake owed to us? If nobody bumped
 * the word since we armed it, the peer made the work visible without a
 * notify. Give an in-flight notify NOTIFY_GRACE_NS before calling it lost.
 */
static void check_lost_wakeup(struct stress_side *s, struct rp_evc *e, uint32_t armed)
{
	uint64_t t0 = stress_now_ns();

	while (stress_now_ns() - t0 < NOTIFY_GRACE_NS) {
		/* relaxed: only compared with our own armed value. */
		if (atomic_load_explicit(&e->word, memory_order_relaxed) != armed)
			return;
		sched_yield();
	}
	s->st.lost_wakeups++;
	fail(s, "side %u: lost wake-up: work waiting after a %llu ms sleep, no notify "
	     "(sent %llu, received %llu)", s->id,
	     (unsigned long long)(s->cfg.wait_timeout_ns / 1000000),
	     (unsigned long long)s->st.sent, (unsigned long long)s->st.recv);
}

/* lib's worker_wait()/pool_wait(): flush, spin, then arm, re-check, sleep. */
static void wait_for_work(struct stress_side *s)
{
	struct rp_evc *e = &s->sh->wake[s->id].evc;
	uint32_t spins = (uint32_t)(rnd(s) % ((uint64_t)s->cfg.spin_max + 1));

	flush(s);
	for (uint32_t i = 0; i < spins; i++) {
		if (ready(s))
			return;
		rp_cpu_relax();
	}
	for (;;) {
		bool safe;
		uint32_t armed = arm(s, e, &safe);
		int r;

		if (ready(s)) {
			rp_evc_cancel(e, armed);
			return;
		}
		s->st.sleeps++;
		/* Without the membarrier, sleep briefly, as lib's wait_cond() does. */
		r = rp_evc_wait(e, armed, safe ? s->cfg.wait_timeout_ns : 100000);
		if (r == -ETIMEDOUT && !safe)
			continue;
		if (r == -ETIMEDOUT) {
			s->st.timeouts++;
			if (ready(s)) {
				check_lost_wakeup(s, e, armed);
				return;
			}
			if (s->cfg.peer_alive && !s->cfg.peer_alive(s->cfg.peer_arg)) {
				fail(s, "side %u: the peer died", s->id);
				return;
			}
			if (stress_now_ns() - s->last_progress_ns > s->cfg.stall_ns) {
				fail(s, "side %u: no progress for %llu ms (sent %llu, received %llu)",
				     s->id, (unsigned long long)(s->cfg.stall_ns / 1000000),
				     (unsigned long long)s->st.sent, (unsigned long long)s->st.recv);
				return;
			}
		} else if (r < 0 && r != -EINTR) {
			fail(s, "side %u: rp_evc_wait: %d", s->id, r);
			return;
		}
		if (ready(s))
			return;
	}
}

int stress_side_init(struct stress_side *s, void *base, unsigned id,
		     const struct stress_cfg *cfg)
{
	int err;

	memset(s, 0, sizeof(*s));
	s->id = id;
	s->sh = base;
	s->cfg = *cfg;
	s->rng = (cfg->seed + 1) * 0x9e3779b97f4a7c15ull + id * 0xd1b54a32d192ed03ull;
	if (!s->rng)
		s->rng = 1;
	err = rp_ring_prod_attach(&s->out, ring_at(base, cfg->cap, id), cfg->cap);
	if (!err)
		err = rp_ring_cons_attach(&s->in, ring_at(base, cfg->cap, !id), cfg->cap);
	s->next_len = pick_len(s);
	return err;
}

int stress_side_run(struct stress_side *s)
{
	s->last_progress_ns = stress_now_ns();
	while (!(s->send_done && s->recv_done) && !s->st.errors && !peer_failed(s)) {
		unsigned progress = send_burst(s);

		progress += recv_burst(s);
		if (progress) {
			s->last_progress_ns = stress_now_ns();
			maybe_pause(s);
		} else {
			wait_for_work(s);
		}
	}
	flush(s);
	return s->st.errors ? -EPROTO : 0;
}
