/* SPDX-License-Identifier: MIT */
/*
 * Promela model of one SPSC ring (shm/rp_ring.h) with the eventcount wake-up
 * protocol (shm/rp_evc.h, shm/evc.c) on both sides, as lib/ drives them: the
 * consumer sleeps when the ring is empty, the producer when it is full; the
 * worker may die at any step; the parent's sleep is bounded and followed by a
 * liveness check. shm/model/check.sh runs it; the BUG_* macros select the
 * broken variants that must fail.
 *
 * Abstraction (argued once, here):
 *  - Bytes become slots. A record takes 1..MAXLEN slots (MAXLEN = CAP/2, the
 *    rp_ring_max_payload() rule); a record that does not fit before the end
 *    is preceded by a pad marker that covers the rest, as in rp_ring_reserve().
 *  - Indices are free-running mod IDX = 2*CAP instead of mod 2^64. The code
 *    only ever masks an index (i % CAP) or subtracts two of them, and every
 *    difference it relies on lies in [0, CAP]; since CAP divides IDX and
 *    IDX > CAP, both results are the same mod IDX as mod 2^64.
 *  - The futex word is kept mod 4 (armed bit + one epoch bit). A waiter's
 *    armed value v can change at most once before its FUTEX_WAIT (the
 *    notifier's CAS v -> v+1 clears the flag, and only the waiter sets it
 *    again), so one epoch bit loses no behaviour.
 *  - Promela is sequentially consistent, which is what the seq_cst fences W1
 *    and N1 buy for the Dekker pair (arm; re-check) vs (publish; check flag).
 *    The acquire/release edges P1/C1 and C2/P2 make the ring data-race free,
 *    which the ghost slot states below check. A missing fence is modelled by
 *    the reordering it allows: BUG_RECHECK_FIRST (load before the arm, no W1),
 *    BUG_NOTIFY_FIRST (flag load before the publish, no N1).
 *  - FUTEX_WAIT compares and enqueues atomically, then sleeps until a
 *    FUTEX_WAKE (a mere change of the word does not wake, as in the kernel),
 *    or until its timeout if that side has one.
 *  - The spin budget is a nondeterministic number (0..SPIN) of re-checks.
 */

#ifndef CAP
#define CAP	4		/* ring capacity in slots */
#endif
#define IDX	(2 * CAP)	/* indices are kept mod IDX, see above */
#ifndef MAXLEN
#define MAXLEN	(CAP / 2)	/* rp_ring_max_payload(): a record uses at most cap/2 */
#endif
#ifndef NREC
#define NREC	4		/* records sent through the ring */
#endif
#ifndef SPIN
#define SPIN	1		/* spin budget: re-checks before arming */
#endif
#define WMOD	4		/* futex word mod 4: bit 0 armed, bit 1 epoch */

/* Who is who. PARENT_CONSUMES 1: the result ring (worker produces, parent
 * consumes); 0: the task ring (parent produces, worker consumes). */
#ifndef PARENT_CONSUMES
#define PARENT_CONSUMES	1
#endif
#ifndef DEATH
#define DEATH		0	/* the worker may be killed at any step */
#endif
#ifndef PARENT_TMO
#define PARENT_TMO	0	/* parent's sleep ends after liveness_ns */
#endif
#ifndef WORKER_TMO
#define WORKER_TMO	0	/* worker's sleep ends after 1 s (parent is alive) */
#endif

#if PARENT_CONSUMES
#define C_TMO	PARENT_TMO
#define P_TMO	WORKER_TMO
#else
#define C_TMO	WORKER_TMO
#define P_TMO	PARENT_TMO
#endif

#define PADMARK		255	/* tag RP_REC_PAD */
#define EAGAIN_		0	/* futex_wait results */
#define WOKEN		1
#define TIMEDOUT	2

/* Ghost state of each slot, for data-race and overwrite checks. */
#define S_FREE		0	/* the producer may write it */
#define S_WRITTEN	1	/* written, not yet covered by a published tail */
#define S_PUB		2	/* published (P1), the consumer may read it */
#define S_REL		3	/* released by the consumer, head not yet published */

#define USED(t, h)	(((t) + IDX - (h)) % IDX)

/* struct rp_ring: the shared part. */
byte tail;			/* rp_ring.tail, producer-written */
byte head;			/* rp_ring.head, consumer-written */
byte buf[CAP];			/* per slot: record seq (header and payload), or PADMARK */
byte blen[CAP];			/* per header slot: record length in slots */
byte ghost[CAP];

/* Two eventcounts. EVC_C: the consumer sleeps on it, the producer notifies
 * after publishing tail (result ring: the doorbell; task ring: worker.wake).
 * EVC_P: the producer sleeps on it for space, the consumer notifies after
 * publishing head (result ring: worker.wake; task ring: the doorbell). */
#define EVC_C	0
#define EVC_P	1
byte word[2];			/* struct rp_evc.word */
bool asleep[2];			/* in FUTEX_WAIT on that word (one waiter each) */

bool killed;			/* the reaper has sent SIGKILL */
bool wdead;			/* the worker is dead (its pidfd polls readable) */
bool pdone, cdone;		/* producer / consumer finished */
byte npub;			/* ghost: records covered by the published tail */
byte nerr;			/* records the parent failed after the worker died */

#if PARENT_CONSUMES
#define parent_done	cdone
#else
#define parent_done	pdone
#endif

/* ------------------------------------------------------------------ */
/* Eventcount (shm/rp_evc.h, shm/evc.c)                                */
/* ------------------------------------------------------------------ */

/* rp_evc_prepare(), rp_evc.h:48-50: fetch_or seq_cst, then fence W1. */
inline evc_prepare(e, v)
{
	atomic { v = word[e] | 1; word[e] = v }
}

/* rp_evc_cancel(), rp_evc.h:62: CAS armed -> armed & ~1. */
inline evc_cancel(e, v)
{
	atomic { if :: word[e] == v -> word[e] = v - 1 :: else fi }
}

/* rp_futex_wait(), evc.c:26 (FUTEX_WAIT on value v): the kernel compares and
 * queues under its bucket lock; then we sleep until FUTEX_WAKE or timeout. */
inline futex_wait(e, v, tmo, res)
{
	atomic {
		if
		:: word[e] != v -> res = EAGAIN_
		:: else -> asleep[e] = true; res = WOKEN
		fi
	}
	if
	:: res == WOKEN ->
		if
		:: !asleep[e] -> skip			/* woken by FUTEX_WAKE */
		:: atomic { tmo -> asleep[e] = false; res = TIMEDOUT }
		fi
	:: else
	fi
}

/* rp_evc_notify(), rp_evc.h:83-87: fence N1, relaxed load; if armed,
 * rp__evc_wake(), evc.c:61-64: CAS seen -> seen + 1, then FUTEX_WAKE. */
inline evc_notify(e, nv, casok)
{
#ifndef BUG_NOTIFY_FIRST
	nv = word[e];				/* after N1; relaxed load */
#endif
	casok = false;
	do
	:: (nv & 1) == 0 -> break
	:: (nv & 1) != 0 ->
		atomic {
			if
			:: word[e] == nv -> word[e] = (nv + 1) % WMOD; casok = true
			:: else -> nv = word[e]
			fi
		}
		if
		:: casok ->
#ifndef BUG_NOWAKE
			asleep[e] = false;		/* rp_futex_wake(), evc.c:43 */
#endif
			break
		:: else
		fi
	od
}

/* ------------------------------------------------------------------ */
/* Producer                                                            */
/* ------------------------------------------------------------------ */

/* rp_ring_reserve(), rp_ring.h:143-182, for a record of sz slots. Sets ok.
 * The only shared access is the head load P2 (rp_ring.h:159). */
inline reserve()
{
	off = tl % CAP;
	contig = CAP - off;
#ifdef BUG_PADCHECK
	total = sz;				/* forgets the pad's bytes */
#else
	total = (sz <= contig -> sz : contig + sz);
#endif
	if
	:: USED(tl, hc) + total > CAP ->
		h = head;			/* P2 acquire, pairs with C2 */
		assert(USED(tl, h) <= CAP && USED(h, hc) <= CAP); /* never -EPROTO */
		hc = h;
		ok = (USED(tl, h) + total <= CAP)	/* else -EAGAIN */
	:: else -> ok = true
	fi;
	if
	:: ok && sz > contig ->
		/* pad marker, rp_ring.h:171-178; it covers the rest of the ring */
		d_step {
			k = off;
			do
			:: k < CAP -> assert(ghost[k] == S_FREE); ghost[k] = S_WRITTEN; k++
			:: else -> break
			od;
			buf[off] = PADMARK;
			tl = (tl + contig) % IDX;
			k = 0
		}
	:: else
	fi
}

/* rp_ring_commit(), rp_ring.h:195-205: header and payload carry seq. */
inline commit()
{
	d_step {
		off = tl % CAP;
		assert(off + sz <= CAP);
		k = 0;
		do
		:: k < sz -> assert(ghost[off + k] == S_FREE);
			ghost[off + k] = S_WRITTEN; buf[off + k] = seq; k++
		:: else -> break
		od;
		blen[off] = sz;
		tl = (tl + sz) % IDX;
		seq++;
		k = 0
	}
}

/* rp_ring_publish(), rp_ring.h:210-219: P1 release store of tail. */
inline publish()
{
	if
	:: tl != tl_pub ->
		d_step {
			tail = tl;			/* P1 release, pairs with C1 */
			k = tl_pub;
			do
			:: k != tl -> assert(ghost[k % CAP] == S_WRITTEN);
				ghost[k % CAP] = S_PUB; k = (k + 1) % IDX
			:: else -> break
			od;
			npub = seq;
			k = 0
		}
		tl_pub = tl;
		pubd = true
	:: else -> pubd = false
	fi
}

/* lib: publish_tasks() (dispatch.c) / the worker's publish + notify of the
 * doorbell (worker.c): notify whenever the publish moved the tail. */
inline publish_notify()
{
#ifdef BUG_NOTIFY_FIRST
	nv = word[EVC_C];			/* flag load hoisted above P1: no N1 */
#endif
	publish();
	if
	:: pubd -> evc_notify(EVC_C, nv, casok)
	:: else
	fi
}

/*
 * Wait until reserve() succeeds: lib worker_wait(space_ready) (worker.c) or
 * the parent's pool_wait(can_progress) (dispatch.c). Spin, then arm EVC_P,
 * re-check, sleep. If the producer is the parent, a timeout leads to the
 * liveness check; a dead consumer ends the producer (goto pstop).
 */
inline wait_space()
{
	spins = 0;
	do
	:: ok -> break
	:: !ok && spins < SPIN -> spins++; reserve()		/* spinning */
	:: !ok ->
#if defined(BUG_RECHECK_FIRST)
		reserve();					/* re-check before arming */
		if
		:: ok -> skip
		:: else ->
			evc_prepare(EVC_P, v);
#elif defined(BUG_NORECHECK)
		evc_prepare(EVC_P, v);				/* no re-check */
		if
		:: false -> skip
		:: else ->
#else
		evc_prepare(EVC_P, v);				/* rp_evc_prepare: arm + W1 */
		reserve();					/* re-check: P2 */
		if
		:: ok -> evc_cancel(EVC_P, v)
		:: else ->
#endif
			futex_wait(EVC_P, v, P_TMO, res);
#if !PARENT_CONSUMES
			/* parent: rp__check_workers() after liveness_ns */
#ifndef BUG_NOLIVENESS
			if
			:: res == TIMEDOUT && wdead -> goto pstop
			:: else
			fi;
#endif
#endif
			reserve()					/* re-check after waking */
		fi
	od
}

proctype Producer()
{
	/* struct rp_ring_prod: tail, tail_pub, head_cache (local to the process) */
	byte tl, tl_pub, hc;
	byte seq, sz, off, contig, total, h, k, v, nv, res, spins;
	bool ok, pubd, casok;

#if DEATH && PARENT_CONSUMES
	{
#endif
	do
	:: seq == NREC -> break
	:: else ->
		select(sz : 1 .. MAXLEN);
		reserve();
		if
		:: ok
		:: else ->
			/* full: the consumer must see what we have before we wait */
			publish_notify();
			wait_space()
		fi;
		commit();
		if
		:: true -> publish_notify()		/* end of burst */
		:: seq < NREC -> skip			/* keep the burst open */
		fi
	od;
	publish_notify();
#if DEATH && PARENT_CONSUMES
	} unless { atomic { killed -> wdead = true } }
#endif
pstop:
	pdone = true
}

/* ------------------------------------------------------------------ */
/* Consumer                                                            */
/* ------------------------------------------------------------------ */

/* rp_ring_cons_publish(), rp_ring.h:228-237: C2 release store of head. */
inline cons_publish()
{
	if
	:: hd != hd_pub ->
		d_step {
			head = hd;			/* C2 release, pairs with P2 */
			k = hd_pub;
			do
			:: k != hd -> assert(ghost[k % CAP] == S_REL);
				ghost[k % CAP] = S_FREE; k = (k + 1) % IDX
			:: else -> break
			od;
			k = 0
		}
		hd_pub = hd;
		pubd = true
	:: else -> pubd = false
	fi
}

/* lib: publish_head() (dispatch.c) / worker_flush() (worker.c): publish head
 * and notify the producer if that moved it. */
inline head_notify()
{
#ifdef BUG_NOTIFY_FIRST
	nv = word[EVC_P];			/* flag load hoisted above C2: no N1 */
#endif
	cons_publish();
	if
	:: pubd -> evc_notify(EVC_P, nv, casok)
	:: else
	fi
}

/* rp_ring_peek(), rp_ring.h:245-289. Sets got (else -EAGAIN). */
inline peek()
{
	got = false;
	do
	:: hd == tc ->
		cons_publish();			/* rp_ring.h:254: publishes head, no notify */
		t = tail;			/* C1 acquire, pairs with P1 */
		if
		:: t == hd -> break		/* -EAGAIN */
		:: else -> assert(USED(t, hd) <= CAP); tc = t	/* never -EPROTO */
		fi
	:: hd != tc ->
		off = hd % CAP;
		contig = CAP - off;
		avail = USED(tc, hd);
		d_step {
			assert(ghost[off] == S_PUB);	/* reads only published slots */
			rseq = buf[off]; rlen = blen[off]
		}
		if
		:: rseq == PADMARK ->
			assert(contig <= avail);	/* never -EPROTO */
			d_step {
				k = off;
				do
				:: k < CAP -> assert(ghost[k] == S_PUB); ghost[k] = S_REL; k++
				:: else -> break
				od;
				k = 0
			}
			hd = (hd + contig) % IDX
		:: else ->
			assert(rlen >= 1 && rlen <= contig && rlen <= avail);
			got = true;
			break
		fi
	od
}

/* Check the record (FIFO, no loss, no duplicate, payload intact), then
 * rp_ring_release(), rp_ring.h:292. */
inline take_release()
{
	assert(rseq == expect);
	d_step {
		k = 0;
		do
		:: k < rlen -> assert(ghost[off + k] == S_PUB && buf[off + k] == rseq);
			ghost[off + k] = S_REL; k++
		:: else -> break
		od;
		k = 0
	}
	expect++;
	hd = (hd + rlen) % IDX
}

/* lib take() (dispatch.c) and the worker loop (worker.c): when the cached
 * tail is used up, publish head with a notify before peek reloads tail.
 * BUG_SILENT_PEEK leaves that to peek, which publishes without a notify. */
inline next()
{
#ifndef BUG_SILENT_PEEK
	if
	:: hd == tc -> head_notify()
	:: else
	fi;
#endif
	peek()
}

/*
 * Parent only: rp__check_workers() found the worker dead. fail_worker()
 * (pool.c): results it published stay collectible, the rest fail.
 */
inline drain_dead()
{
#ifndef BUG_NODRAIN
	do
	:: true ->
		peek();
		if
		:: got -> take_release()
		:: else -> break
		fi
	od;
#endif
	nerr = NREC - expect;
	assert(expect == npub);		/* nothing published was lost */
	goto cstop
}

/*
 * Wait until the ring is non-empty: lib pool_wait(result_ready) (dispatch.c)
 * or worker_wait(tasks_ready) (worker.c). Spin on rp_ring_cons_empty(), then
 * arm EVC_C, re-check, sleep.
 */
inline wait_data()
{
	spins = 0;
	do
	:: spins < SPIN -> spins++;
		t = tail;				/* rp_ring_cons_empty: C1 */
		if
		:: t != hd -> break
		:: else
		fi
	:: true ->
#if defined(BUG_RECHECK_FIRST)
		t = tail;				/* re-check before arming */
		if
		:: t != hd -> break
		:: else -> evc_prepare(EVC_C, v);
#elif defined(BUG_NORECHECK)
		evc_prepare(EVC_C, v);			/* no re-check */
		if
		:: false -> skip
		:: else ->
#else
		evc_prepare(EVC_C, v);			/* rp_evc_prepare: arm + W1 */
		t = tail;				/* re-check, rp_ring_cons_empty: C1 */
		if
		:: t != hd -> evc_cancel(EVC_C, v); break
		:: else ->
#endif
			futex_wait(EVC_C, v, C_TMO, res);
#if PARENT_CONSUMES
			/* parent: rp__check_workers() after liveness_ns */
#ifndef BUG_NOLIVENESS
			if
			:: res == TIMEDOUT && wdead -> drain_dead()
			:: else
			fi;
#endif
#endif
			break
		fi
	od
}

proctype Consumer()
{
	/* struct rp_ring_cons: head, head_pub, tail_cache */
	byte hd, hd_pub, tc;
	byte expect, off, contig, avail, t, rseq, rlen, k, v, nv, res, spins;
	bool got, pubd, casok;

#if DEATH && !PARENT_CONSUMES
	{
#endif
	do
	:: expect == NREC -> break
	:: else ->
		next();
		if
		:: got ->
			take_release();
			if
			:: true -> head_notify()	/* mid-burst publish */
			:: true -> skip
			fi
		:: else ->
#ifdef BUG_SILENT_PEEK
			head_notify();		/* cons_publish() == 0: peek did it */
#endif
			wait_data()
		fi
	od;
	head_notify();
#if DEATH && !PARENT_CONSUMES
	} unless { atomic { killed -> wdead = true } }
#endif
cstop:
	cdone = true
}

#if DEATH
/* SIGKILL to the worker, at any moment or never. */
active proctype Reaper()
{
	if
	:: killed = true
	:: skip
	fi
}
#endif

init
{
	atomic {
		run Producer();
		run Consumer()
	}
}

/* Final-state checks: in a finished run, everything sent arrived once, in
 * order; after a death, what was published arrived and the rest failed. */
#ifdef LTL
ltl parent_terminates { <> parent_done }
#endif
