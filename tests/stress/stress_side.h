/* SPDX-License-Identifier: MIT */
/*
 * One side of the ring stress test, shared by tests/stress/ring_stress.c (two
 * processes) and tests/tsan/tsan_ring.c (two threads). Side i sends on ring i
 * and receives ring 1-i, and when it can do neither sleeps on its own
 * eventcount, as a pool worker sleeps on one for tasks and result space.
 */
#ifndef STRESS_SIDE_H
#define STRESS_SIDE_H

#include "rp_evc.h"
#include "rp_ring.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STRESS_TAG_DATA	0x41544144u	/* "DATA" */
#define STRESS_TAG_END	0x21444e45u	/* "END!": seq = number of data records sent */
#define STRESS_HDR	4096u		/* bytes before the first ring */

struct stress_stats {
	uint64_t sent, recv;		/* data records sent, and received and checked */
	uint64_t bytes_sent, bytes_recv; /* payload bytes */
	uint64_t sleeps;		/* FUTEX_WAITs entered */
	uint64_t wakes;			/* notifies that issued a FUTEX_WAKE */
	uint64_t timeouts;		/* waits ended by their timeout */
	uint64_t pauses;		/* random pauses taken */
	uint64_t aborts;		/* reservations dropped with rp_ring_abort() */
	uint64_t lost_wakeups;		/* timed out with work waiting and no wake owed us */
	uint64_t heavy_failed;		/* rp_evc_prepare_heavy() could not membarrier */
	uint64_t errors;
	char error[192];		/* the first error */
};

/*
 * The region: this header, then ring 0 and ring 1. Every record carries a
 * sequence number (seq), the sender's id (status) and a checksum of its
 * payload (aux); the receiver checks all three. The last record of a stream
 * is an end record (tag STRESS_TAG_END, seq = data records sent).
 * Each eventcount sits on its own cache line.
 */
struct stress_shared {
	struct {
		_Alignas(RP_CACHELINE) struct rp_evc evc;
	} wake[2];				/* side i sleeps on wake[i] */
	_Alignas(RP_CACHELINE) _Atomic uint32_t failed; /* a side gave up: both stop */
	_Alignas(RP_CACHELINE) struct stress_stats stats[2]; /* filled in at the end */
};

_Static_assert(sizeof(struct stress_shared) <= STRESS_HDR, "header fits");

struct stress_cfg {
	uint64_t cap;			/* ring bytes, a power of two */
	uint64_t records;		/* data records to send (0 = no limit) ... */
	uint64_t deadline_ns;		/* ... or until CLOCK_MONOTONIC passes this (0 = none) */
	uint64_t seed;
	uint32_t spin_max;		/* a wait spins 0..spin_max re-checks before arming */
	uint32_t pause_every;		/* a random pause every ~N bursts (0 = never) */
	uint32_t pause_max_us;		/* pauses last 0..pause_max_us microseconds */
	uint32_t abort_every;		/* abort a reservation every ~N records (0 = never) */
	uint64_t wait_timeout_ns;	/* each futex wait; a correct run never needs it */
	uint64_t stall_ns;		/* no progress for this long is an error */
	bool oneway;			/* side 1 sends no data, only its end record */
	bool light;			/* side 1 rings side 0 with rp_evc_notify_light(),
					 * side 0 arms with rp_evc_prepare_heavy(), as a
					 * worker and the parent do; side 1 must have
					 * called rp_membarrier_register() */
	bool (*peer_alive)(void *arg);	/* asked after a timeout; NULL = always */
	void *peer_arg;
};

struct stress_side {
	unsigned id;			/* 0 or 1 */
	struct stress_shared *sh;
	struct rp_ring_prod out;	/* ring id */
	struct rp_ring_cons in;		/* ring 1 - id */
	struct stress_cfg cfg;
	struct stress_stats st;
	/* private to stress_side.c */
	uint64_t rng;
	uint64_t next_len;		/* payload of the next record to send */
	uint64_t expect;		/* next sequence number to receive */
	uint64_t last_progress_ns;
	bool end_due, send_done, recv_done;
};

/* Bytes to map for two rings of `cap` bytes and the header. */
size_t stress_region_size(uint64_t cap);

/* Lay out the header and both rings at base (page-aligned, zeroed memory of
 * stress_region_size(cap) bytes). Returns 0 or -EINVAL. */
int stress_layout(void *base, uint64_t cap);

/* Attach side `id` (0 or 1) to a laid-out region mapped at base (either
 * mapping of it). Returns 0, or the -errno of rp_ring_*_attach(). */
int stress_side_init(struct stress_side *s, void *base, unsigned id,
		     const struct stress_cfg *cfg);

/* Send and receive until both directions are finished, the peer fails, or
 * an error. Returns 0 if this side saw no error, else -EPROTO (details in
 * s->st.error). Either way the side's statistics are in s->st. */
int stress_side_run(struct stress_side *s);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t stress_now_ns(void);

#endif
