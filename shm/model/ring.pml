/* SPDX-License-Identifier: MIT */
/*
 * Promela model of one SPSC ring (shm/rp_ring.h) and the eventcount wake-up
 * protocol (shm/rp_evc.h, shm/evc.c) on both sides, driven as lib/ drives
 * them: the consumer sleeps while the ring is empty, the producer while it is
 * full; the worker may die at any step; the parent's sleep is bounded and
 * followed by a liveness check. shm/model/check.sh runs it. Line numbers in
 * the comments refer to shm/ as of commit f9dab7b plus the change that makes
 * rp_ring_peek() write nothing shared; the commit words (P3/C3: a record is
 * visible from its header's commit word, the tail is a lazily published
 * hint nobody here reads) were modelled here before they were written.
 */

/*
 * Abstraction (argued once, here):
 *  - Bytes become slots. A record takes 1..MAXLEN slots (MAXLEN = CAP/2: the
 *    rp_ring_max_payload() rule); one that does not fit before the end of the
 *    ring is preceded by a pad marker covering the rest, as in rp_ring_reserve.
 *  - Indices run free mod IDX = 2*CAP instead of mod 2^64. The code only
 *    masks an index (i % CAP) or subtracts two of them, and each difference it
 *    relies on lies in [0, CAP]; as CAP divides IDX and IDX > CAP, both give
 *    the same results mod IDX as mod 2^64. NREC >= 4 lets them wrap.
 *  - The futex word is kept mod 4 (armed bit + one epoch bit). Between a
 *    waiter's arm and its FUTEX_WAIT the word can change at most once (the
 *    notifier's CAS v -> v+1 clears the flag and only the waiter sets it), so
 *    one epoch bit loses no behaviour.
 *  - Promela is sequentially consistent, which is what the seq_cst fences W1
 *    (rp_evc_prepare) and N1 (rp_evc_notify) buy for the Dekker pair
 *    (arm; re-check) vs (publish; check flag). A missing fence is modelled by
 *    the reordering it permits: BUG_RECHECK_FIRST (re-check load before the
 *    arm, i.e. no W1), BUG_NOTIFY_FIRST (flag load before the publish, no N1).
 *  - The acquire/release pairs P3/C3 (a record's commit word, stored after
 *    its header and payload) and C2/P2 (head) are what make record data
 *    race-free; the ghost slot states check that this holds: the producer
 *    writes only FREE slots (freed by a published head), the consumer reads
 *    only PUB slots (whose commit word reached memory). Because of that
 *    check, the record reads are merged into the step of the commit-word
 *    load next to them. A commit word holds the record's absolute position
 *    (a pad's: position + 1, both doubled to stay apart), so a stale header
 *    of an earlier lap never matches; the code mixes in a random key so
 *    that payload bytes do not either. The tail (P1) is still stored, as the
 *    code does, but nobody in the model reads it.
 *  - FUTEX_WAIT compares and queues atomically, then sleeps until FUTEX_WAKE
 *    (a mere change of the word does not wake, as in the kernel) or until its
 *    timeout, if that side has one. FUTEX_WAKE is a step apart from the CAS.
 *  - The spin budget is a nondeterministic number (0..SPIN) of re-checks.
 *  - LIGHT=1 models the asymmetric pair: the worker rings the doorbell with
 *    rp_evc_notify_light() (no N1, just a load) and the parent arms it with
 *    rp_evc_prepare_heavy() (membarrier). The worker's stores (commit
 *    words and tail for a result ring, head for a task ring) then go
 *    through a one-entry store buffer (TSO), so its light notify's load of
 *    the word can overtake its commit; a fence (full notify, locked RMW)
 *    waits for the buffer to drain, the parent's membarrier drains it, and
 *    so does the worker's death (the kernel's exit path is full of fences).
 *    A second buffered store waits for the first to drain; that loses only
 *    executions in which a later store is reordered, never the last one.
 *
 * Broken variants, each of which check.sh requires to fail (-D for spin):
 * BUG_NORECHECK (sleep right after arming), BUG_RECHECK_FIRST (no W1),
 * BUG_NOTIFY_FIRST (no N1), BUG_NOWAKE (CAS but no FUTEX_WAKE), BUG_PADCHECK
 * (full check forgets the pad), BUG_NOLIVENESS (no liveness check after a
 * timeout), BUG_NODRAIN (a dead worker's published results are failed),
 * BUG_NO_MEMBARRIER (with LIGHT: the parent arms with plain rp_evc_prepare),
 * BUG_STALE_COMMIT (the commit word a plain "valid" flag with no position:
 * a header of an earlier lap passes for a new record), BUG_COMMIT_FIRST (the
 * commit word stored before the record it covers). (BUG_PEEK_STORES_HEAD,
 * the peek up to f9dab7b that stored head itself when it reloaded tail, is
 * gone with the tail reload: peek reads only commit words.)
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
#ifndef ABORTS
#define ABORTS	0		/* reservations the producer may abort (rp_ring_abort) */
#endif
/* NO_PREPUBLISH: the consumer does not publish head before a peek that will
 * reload tail (lib's take() and worker loop do), only before sleeping. */
#define WMOD	4		/* futex word mod 4: bit 0 armed, bit 1 epoch */

/* Roles. PARENT_CONSUMES 1: a result ring (the worker produces, the parent
 * consumes); 0: a task ring (the parent produces, the worker consumes). */
#ifndef PARENT_CONSUMES
#define PARENT_CONSUMES	1
#endif
#ifndef DEATH
#define DEATH		0	/* the worker may be SIGKILLed at any step */
#endif
#ifndef PARENT_TMO
#define PARENT_TMO	0	/* the parent's sleep ends after liveness_ns */
#endif
#ifndef WORKER_TMO
#define WORKER_TMO	0	/* the worker's sleep ends after 1 s; the parent lives */
#endif
#ifndef LIGHT
#define LIGHT		0	/* asymmetric doorbell: light notify, heavy prepare */
#endif

#if PARENT_CONSUMES
#define C_TMO	PARENT_TMO
#define P_TMO	WORKER_TMO
#define C_PREPARE	parent_prepare	/* the parent arms the doorbell */
#define P_PREPARE	evc_prepare	/* the worker arms its wake */
#define P_LIGHT		LIGHT		/* the worker's per-result notify */
#define C_LIGHT		0
#else
#define C_TMO	WORKER_TMO
#define P_TMO	PARENT_TMO
#define C_PREPARE	evc_prepare
#define P_PREPARE	parent_prepare
#define P_LIGHT		0
#define C_LIGHT		LIGHT		/* the worker's batch head publish */
#endif

#define PADMARK		255	/* the tag RP_REC_PAD */
#define EAGAIN_		0	/* futex_wait outcomes */
#define WOKEN		1
#define TIMEDOUT	2

/* Ghost state of a slot. */
#define S_FREE		0	/* the producer may write it */
#define S_WRITTEN	1	/* written, not yet covered by the published tail */
#define S_PUB		2	/* covered by the published tail: the consumer may read it */
#define S_REL		3	/* released by the consumer, head not yet published */

#define USED(t, h)	(((t) + IDX - (h)) % IDX)

/* Commit words: RP_REC_COMMIT(pos) and RP_PAD_COMMIT(pos) of rp_ring.h, pos
 * the record's absolute (never wrapped) position, kept in a byte: the runs
 * write fewer than 127 slots. BUG_STALE_COMMIT: a plain "valid" flag with
 * no position, which a stale header of an earlier lap also carries. */
#ifdef BUG_STALE_COMMIT
#define REC_CW(a)	1
#define PAD_CW(a)	2
#else
#define REC_CW(a)	(2 * (a) + 1)
#define PAD_CW(a)	(2 * (a) + 2)
#endif

/* struct rp_ring: the shared part. */
byte tail;			/* rp_ring.tail, written by the producer */
byte head;			/* rp_ring.head, written by the consumer */
byte buf[CAP];			/* per slot: the record's seq (header and payload), or PADMARK */
byte blen[CAP];			/* per header slot: the record's length in slots */
byte cw[CAP];			/* per header slot: the commit word (rec.commit) */
byte ghost[CAP];

/* Two eventcounts. EVC_C: the consumer sleeps on it, the producer notifies it
 * after publishing tail (result ring: the doorbell; task ring: worker.wake).
 * EVC_P: the producer sleeps on it for space, the consumer notifies it after
 * publishing head (result ring: worker.wake; task ring: the doorbell). */
#define EVC_C	0
#define EVC_P	1
byte word[2];			/* struct rp_evc.word */
bool asleep[2];			/* queued in FUTEX_WAIT on that word (one waiter each) */

bool killed;			/* the reaper has sent SIGKILL */
bool wdead;			/* the worker is dead: its pidfd polls readable */
bool pdone, cdone;		/* producer, consumer finished */
byte npub;			/* ghost: records covered by the published tail */
byte nerr;			/* records the parent failed after the worker died */

/* LIGHT: the worker CPU's store buffer, holding its last index store (tail
 * for a result ring, head for a task ring) until drained to memory. */
bool sb_pending;
byte sb_kind, sb_val, sb_slot, sb_len;
#define K_INDEX		0	/* tail (result ring) or head (task ring) */
#define K_COMMIT	1	/* a record's commit word */
#define K_PADCOMMIT	2	/* a pad marker's commit word */

#if PARENT_CONSUMES
#define parent_done	cdone
#else
#define parent_done	pdone
#endif

/* ------------------------------------------------------------------ */
/* Eventcount: shm/rp_evc.h, shm/evc.c                                 */
/* ------------------------------------------------------------------ */

/* rp_evc_prepare(), rp_evc.h:58-60: fetch_or seq_cst, then fence W1. On
 * the worker (LIGHT) the locked RMW waits for its store buffer to drain. */
inline evc_prepare(e)
{
	d_step { (!worker || !sb_pending) -> v = word[e] | 1; word[e] = v }
}

/* A commit word reaches memory (P3): the record's or pad's slots become
 * readable, and a record counts as published. */
inline commit_word(c_slot, c_val, c_len, c_isrec)
{
	cw[c_slot] = c_val;
	k = c_slot;
	do
	:: k < c_slot + c_len ->
#ifdef BUG_COMMIT_FIRST
		assert(ghost[k] == S_WRITTEN || ghost[k] == S_FREE);
#else
		assert(ghost[k] == S_WRITTEN);
#endif
		ghost[k] = S_PUB; k++
	:: else -> break
	od;
	if
	:: c_isrec -> npub++
	:: else
	fi;
	k = 0
}

/* rp_ring_commit()'s and the pad's release store of the commit word (P3);
 * on the worker (LIGHT) it goes through the store buffer. */
inline store_commit(c_slot, c_val, c_len, c_kind)
{
#if LIGHT && PARENT_CONSUMES
	d_step { !sb_pending -> sb_kind = c_kind; sb_slot = c_slot; sb_val = c_val; sb_len = c_len;
		 sb_pending = true }
#else
	d_step { commit_word(c_slot, c_val, c_len, c_kind == K_COMMIT) }
#endif
}

/* LIGHT: drain the worker's store buffer to memory. */
inline drain_sb()
{
#if PARENT_CONSUMES
	if
	:: sb_kind == K_INDEX -> tail = sb_val	/* P1 reaches memory */
	:: else -> commit_word(sb_slot, sb_val, sb_len, sb_kind == K_COMMIT)
	fi;
#else
	k = head;
	head = sb_val;				/* C2 reaches memory */
	do
	:: k != head -> assert(ghost[k % CAP] == S_REL);
		ghost[k % CAP] = S_FREE; k = (k + 1) % IDX
	:: else -> break
	od;
#endif
	sb_pending = false;
	sb_kind = 0; sb_val = 0; sb_slot = 0; sb_len = 0;
	k = 0
}

/*
 * The parent arms the doorbell: rp_evc_prepare_heavy(), evc.c, when LIGHT
 * (fetch_or, W1, then membarrier(GLOBAL_EXPEDITED): a full fence on the
 * worker's CPU, which drains its store buffer); else rp_evc_prepare().
 */
inline parent_prepare(e)
{
	evc_prepare(e);
#if LIGHT && !defined(BUG_NO_MEMBARRIER)
	d_step { if :: sb_pending -> drain_sb() :: else fi }	/* membarrier */
#endif
}

/* rp_evc_cancel(), rp_evc.h:72: CAS armed -> armed & ~1. */
inline evc_cancel(e)
{
	d_step { if :: word[e] == v -> word[e] = v - 1 :: else fi; v = 0 }
}

/* rp_evc_wait() -> rp_futex_wait(), evc.c:27, FUTEX_WAIT on value v: the
 * kernel compares and queues under its bucket lock (one step); then we sleep
 * until a FUTEX_WAKE, or a timeout when tmo. Sets res. */
inline futex_wait(e, tmo)
{
	d_step {
		if
		:: word[e] != v -> res = EAGAIN_
		:: else -> asleep[e] = true; res = WOKEN
		fi;
		v = 0
	}
	if
	:: res == WOKEN ->
		if
		:: !asleep[e] -> skip			/* woken by FUTEX_WAKE */
		:: d_step { tmo -> asleep[e] = false; res = TIMEDOUT }
		fi
	:: else
	fi
}

/* rp_evc_notify(), rp_evc.h:93-99: fence N1, relaxed load; if armed,
 * rp__evc_wake(), evc.c:63-66: CAS seen -> seen + 1, then FUTEX_WAKE. With
 * light, rp_evc_notify_light(), rp_evc.h:124-134: the load without N1.
 * With BUG_NOTIFY_FIRST the caller has loaded nv before its publish. */
inline evc_notify(e, light)
{
#ifndef BUG_NOTIFY_FIRST
	d_step { (light || !worker || !sb_pending) -> nv = word[e] }	/* N1; load */
#endif
	do
	:: (nv & 1) == 0 -> nv = 0; break		/* not armed: no syscall */
	:: (nv & 1) != 0 ->
		d_step {
			if
			:: word[e] == nv -> word[e] = (nv + 1) % WMOD; nv = 255
			:: else -> nv = word[e]		/* CAS failed: seen = word */
			fi
		}
		if
		:: nv == 255 ->
#ifndef BUG_NOWAKE
			asleep[e] = false;		/* rp_futex_wake(), evc.c:44 */
#endif
			nv = 0;
			break
		:: else
		fi
	od
}

/* ------------------------------------------------------------------ */
/* Producer                                                            */
/* ------------------------------------------------------------------ */

/*
 * rp_ring_reserve(), rp_ring.h:142-181, for a record of sz slots: sets ok
 * (else -EAGAIN). Its one racing access is the head load P2 (rp_ring.h:158);
 * the pad marker (rp_ring.h:171-177) goes into FREE slots in the same step.
 */
inline reserve()
{
	d_step {
		off = tl % CAP;
		contig = CAP - off;
#ifdef BUG_PADCHECK
		total = sz;			/* forgets the bytes the pad skips */
#else
		total = (sz <= contig -> sz : contig + sz);
#endif
		if
		:: USED(tl, hc) + total > CAP ->
			h = head;		/* P2 acquire, pairs with C2 */
			assert(USED(tl, h) <= CAP && USED(h, hc) <= CAP); /* no -EPROTO */
			hc = h;
			ok = (USED(tl, h) + total <= CAP)
		:: else -> ok = true
		fi;
		if
		:: ok && sz > contig ->
			k = off;
			do
			:: k < CAP -> assert(ghost[k] == S_FREE); ghost[k] = S_WRITTEN; k++
			:: else -> break
			od;
			buf[off] = PADMARK;
			padoff = off; padlen = contig; padpos = pa;
			tl = (tl + contig) % IDX;
			pa = pa + contig
		:: else -> padlen = 0
		fi;
		off = 0; contig = 0; total = 0; h = 0; k = 0
	}
	if	/* the pad's commit word, a release store of its own */
	:: padlen > 0 -> store_commit(padoff, PAD_CW(padpos), padlen, K_PADCOMMIT)
	:: else
	fi;
	padoff = 0; padlen = 0; padpos = 0
}

/* rp_ring_commit(), rp_ring.h:194-204: header and payload slots carry seq. */
inline commit()
{
#ifdef BUG_COMMIT_FIRST
	store_commit(tl % CAP, REC_CW(pa), sz, K_COMMIT);	/* before the record */
#endif
	d_step {
		off = tl % CAP;
		assert(off + sz <= CAP);
		k = 0;
		do
		:: k < sz ->
#ifdef BUG_COMMIT_FIRST
			assert(ghost[off + k] == S_FREE || ghost[off + k] == S_PUB);
#else
			assert(ghost[off + k] == S_FREE);
#endif
			ghost[off + k] = S_WRITTEN; buf[off + k] = seq; k++
		:: else -> break
		od;
		blen[off] = sz;
		k = 0
	}
#ifndef BUG_COMMIT_FIRST
	store_commit(off, REC_CW(pa), sz, K_COMMIT);	/* P3 release, pairs with C3 */
#endif
	d_step { tl = (tl + sz) % IDX; pa = pa + sz; seq++; off = 0; sz = 0; cn = true }
}

/* rp_ring_publish(), rp_ring.h:209-218: P1 release store of tail. Sets pubd. */
inline publish()
{
#if LIGHT && PARENT_CONSUMES
	/* the worker's P1 goes into its store buffer; drain_sb() does the rest */
	d_step {
		(tl == tl_pub || !sb_pending) ->
		if
		:: tl != tl_pub ->
			sb_kind = K_INDEX; sb_val = tl; sb_pending = true;
			tl_pub = tl;
			pubd = true
		:: else -> pubd = false
		fi
	}
#else
	d_step {
		if
		:: tl != tl_pub ->
			tail = tl;		/* P1 release: a hint now, read by nobody here */
			tl_pub = tl;
			pubd = true
		:: else -> pubd = false
		fi
	}
#endif
}

/* lib publish_tasks() (dispatch.c) and the worker's publish + doorbell
 * notify (worker.c): notify whenever the publish moved the tail. light: the
 * worker's per-result rp_evc_notify_light() (worker.c main loop). */
inline publish_notify(light)
{
#ifdef BUG_NOTIFY_FIRST
	nv = word[EVC_C];			/* flag load hoisted above P1: no N1 */
#endif
	publish();
	if
	:: pubd || cn -> pubd = false; cn = false; evc_notify(EVC_C, light)
	:: else -> nv = 0
	fi
}

/* The worker's lazy path (worker.c main loop): its result's commit word is
 * the publication; the tail waits for a batch or a sleep; the doorbell is
 * checked after every record. (Without that check the model still passes:
 * a producer here always publishes and notifies before it sleeps or ends,
 * so a missing per-record check costs latency behind a long next task,
 * which the model has no notion of, never a wake-up.) */
inline lazy_notify(light)
{
	cn = false;
	evc_notify(EVC_C, light)
}

/*
 * Wait until reserve() succeeds: lib worker_wait(space_ready) (worker.c) or
 * the parent's pool_wait(can_progress) (dispatch.c). Spin, arm EVC_P,
 * re-check, sleep. A parent producer checks liveness after a timeout and
 * stops if the worker is dead (goto pstop).
 */
inline wait_space()
{
	spins = 0;
	do
	:: ok -> spins = 0; break
	:: !ok && spins < SPIN -> spins++; reserve()		/* spinning */
	:: !ok ->
#if defined(BUG_RECHECK_FIRST)
		reserve();					/* re-check, then arm */
		if
		:: ok -> skip
		:: else ->
			P_PREPARE(EVC_P);
#elif defined(BUG_NORECHECK)
		P_PREPARE(EVC_P);				/* arm, no re-check */
		if
		:: false -> skip
		:: else ->
#else
		P_PREPARE(EVC_P);				/* arm (W1) */
		reserve();					/* re-check: P2 */
		if
		:: ok -> evc_cancel(EVC_P)
		:: else ->
#endif
			futex_wait(EVC_P, P_TMO);
#if !PARENT_CONSUMES && !defined(BUG_NOLIVENESS)
			if
			:: res == TIMEDOUT && wdead -> goto pstop	/* rp__check_workers() */
			:: else
			fi;
#endif
			res = 0;
			reserve()					/* re-check after the wait */
		fi
	od
}

proctype Producer()
{
	/* struct rp_ring_prod: tail, tail_pub, head_cache (process-local) */
	byte tl, tl_pub, hc, pa;		/* pa: tl, never wrapped */
	byte seq, sz, off, contig, total, h, k, v, nv, res, spins, naborts;
	byte padoff, padlen, padpos;
	bool ok, pubd, cn;			/* cn: committed, no notify since */
	bool worker = PARENT_CONSUMES;		/* constant: has the store buffer */

#if DEATH && PARENT_CONSUMES
	{
#endif
	do
	:: seq == NREC -> break
	:: else ->
		if					/* record size, 1..MAXLEN slots */
		:: sz = 1
		:: MAXLEN >= 2 -> sz = 2
		:: MAXLEN >= 3 -> sz = 3
		fi;
		reserve();
		if
		:: ok
		:: else ->
			/* full: publish what we have, or the consumer never frees space
			 * (lib: worker_wait()'s worker_flush(), or publish_tasks()) */
			publish_notify(0);
			wait_space()
		fi;
		ok = false;
		if
		:: naborts < ABORTS ->
			naborts++; sz = 0		/* rp_ring_abort(): a pad stays */
		:: true ->
			commit();
			if
			:: true -> publish_notify(P_LIGHT)	/* end of a burst */
			:: true -> lazy_notify(P_LIGHT)		/* tail left for later */
			:: seq < NREC			/* the burst goes on */
			fi
		fi
	od;
	publish_notify(0);
#if DEATH && PARENT_CONSUMES
	} unless { d_step { killed -> if :: sb_pending -> drain_sb() :: else fi; wdead = true };
		   goto pdead }
#endif
pstop:
	pdone = true;
pdead:
	skip
}

/* ------------------------------------------------------------------ */
/* Consumer                                                            */
/* ------------------------------------------------------------------ */

/* The store in rp_ring_cons_publish(), rp_ring.h:227-236: C2 release. */
inline store_head()
{
#if LIGHT && !PARENT_CONSUMES
	/* the worker's C2 goes into its store buffer; drain_sb() does the rest */
	d_step {
		(hd == hd_pub || !sb_pending) ->
		if
		:: hd != hd_pub -> sb_val = hd; sb_pending = true; hd_pub = hd; pubd = true
		:: else -> pubd = false
		fi
	}
#else
	d_step {
	if
	:: hd != hd_pub ->
		head = hd;			/* C2 release, pairs with P2 */
		k = hd_pub;
		do
		:: k != hd -> assert(ghost[k % CAP] == S_REL);
			ghost[k % CAP] = S_FREE; k = (k + 1) % IDX
		:: else -> break
		od;
		hd_pub = hd;
		pubd = true;
		k = 0
	:: else -> pubd = false
	fi
	}
#endif
}

/* rp_ring_cons_publish() as lib calls it: pubd is its return value, "1 if
 * anything changed", i.e. if this call stored head. */
inline cons_publish()
{
	store_head()
}

/* lib publish_head() (dispatch.c), worker_flush() (worker.c): publish head,
 * notify the producer if that moved it. light: the worker's batch publish of
 * task space, rung with rp_evc_notify_light() (worker.c main loop). */
inline head_notify(light)
{
#ifdef BUG_NOTIFY_FIRST
	nv = word[EVC_P];			/* flag load hoisted above C2: no N1 */
#endif
	cons_publish();
	if
	:: pubd -> pubd = false; evc_notify(EVC_P, light)
	:: else -> nv = 0
	fi
}

/*
 * rp_ring_peek(): sets got, else -EAGAIN. It loads the commit word at head
 * (C3) and stores nothing: a record's commit word means a record, a pad's
 * means skip to offset 0 (at most once), anything else means nothing yet.
 * The record's slots are read in the same step as the word they depend on
 * (they are PUB, see above).
 */
inline peek()
{
	got = false;
	do
	:: d_step {
		off = hd % CAP;
		contig = CAP - off;
		w = cw[off];			/* C3 acquire, pairs with P3 */
		if
		:: w == REC_CW(ca) ->
			assert(ghost[off] == S_PUB);	/* reads only committed slots */
			rseq = buf[off];
			rlen = blen[off];
			assert(rlen >= 1 && rlen <= contig);	/* no -EPROTO */
			got = true
		:: w == PAD_CW(ca) ->
			assert(off != 0);		/* no -EPROTO */
			k = off;
			do
			:: k < CAP -> assert(ghost[k] == S_PUB); ghost[k] = S_REL; k++
			:: else -> break
			od;
			hd = (hd + contig) % IDX;
			ca = ca + contig;
			k = 0
		:: else -> skipped = true	/* -EAGAIN: nothing committed at head */
		fi;
		w = 0; contig = 0
	}
	if
	:: got -> break
	:: skipped -> skipped = false; break
	:: else				/* skipped a pad: look at offset 0 */
	fi
	od
}

/* rp_ring_cons_empty() for the sleepers' re-check: a record or a pad
 * committed at head. C3. */
#define COMMITTED_AT_HEAD	(cw[hd % CAP] == REC_CW(ca) || cw[hd % CAP] == PAD_CW(ca))

/* The record must be the next in order, with intact payload (FIFO, no loss,
 * no duplicate); then rp_ring_release(), rp_ring.h:291. */
inline take_release()
{
	d_step {
		assert(rseq == expect);
		k = 0;
		do
		:: k < rlen -> assert(ghost[off + k] == S_PUB && buf[off + k] == rseq);
			ghost[off + k] = S_REL; k++
		:: else -> break
		od;
		expect++;
		hd = (hd + rlen) % IDX;
		ca = ca + rlen;
		got = false; rseq = 0; rlen = 0; off = 0; k = 0
	}
}

/* lib take() (collect.c) and the worker loop (worker.c): once the cached
 * tail is used up, publish head with a notify before peek reloads tail. */
inline next()
{
#ifndef NO_PREPUBLISH
	if
	:: head_notify(0)
	:: true
	fi;
#endif
	peek()
}

/*
 * Parent only: rp__check_workers() (pool.c) found the worker dead.
 * fail_worker(): results it published stay collectible, the rest fail.
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
	assert(expect == npub);		/* nothing the worker published is lost */
	goto cstop
}

/*
 * Wait until the ring is non-empty: lib pool_wait(result_ready) (dispatch.c)
 * or worker_wait(tasks_ready) (worker.c). Spin on rp_ring_cons_empty(), arm
 * EVC_C, re-check, sleep. A parent consumer checks liveness after a timeout.
 */
inline wait_data()
{
	head_notify(0);			/* pool_wait's flush_all(), worker_wait's worker_flush() */
	spins = 0;
	do
	:: spins < SPIN -> spins++;
		d_step { ok = COMMITTED_AT_HEAD }	/* rp_ring_cons_empty: C3 */
		if
		:: ok -> ok = false; break
		:: else
		fi
	:: true ->
#if defined(BUG_RECHECK_FIRST)
		d_step { ok = COMMITTED_AT_HEAD }	/* re-check, then arm */
		if
		:: ok -> ok = false; break
		:: else -> C_PREPARE(EVC_C);
#elif defined(BUG_NORECHECK)
		C_PREPARE(EVC_C);				/* arm, no re-check */
		if
		:: false -> skip
		:: else ->
#else
		C_PREPARE(EVC_C);				/* arm (W1) */
		d_step { ok = COMMITTED_AT_HEAD }	/* re-check: C3 */
		if
		:: ok -> ok = false; evc_cancel(EVC_C); break
		:: else ->
#endif
			futex_wait(EVC_C, C_TMO);
#if PARENT_CONSUMES && !defined(BUG_NOLIVENESS)
			if
			:: res == TIMEDOUT && wdead -> drain_dead()	/* rp__check_workers() */
			:: else
			fi;
#endif
			res = 0;
			break
		fi
	od;
	spins = 0
}

proctype Consumer()
{
	/* struct rp_ring_cons: head, head_pub, tail_cache (process-local) */
	byte hd, hd_pub, ca;			/* ca: hd, never wrapped */
	byte expect, off, contig, w, rseq, rlen, k, v, nv, res, spins;
	bool got, ok, pubd, skipped;
	bool worker = !PARENT_CONSUMES;		/* constant: has the store buffer */

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
			:: true -> head_notify(C_LIGHT)	/* rp_flush(), or a batch boundary */
			:: true
			fi
		:: else -> wait_data()
		fi
	od;
	head_notify(0);
#if DEATH && !PARENT_CONSUMES
	} unless { d_step { killed -> if :: sb_pending -> drain_sb() :: else fi; wdead = true };
		   goto cdead }
#endif
cstop:
	cdone = true;
cdead:
	skip
}

#if LIGHT
/* The worker CPU's store buffer drains at any moment. */
active proctype Drain()
{
	byte k;

end:	do
	:: d_step { sb_pending -> drain_sb() }
	od
}
#endif

#if DEATH
/* SIGKILL for the worker, at any moment, or never. */
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

#ifdef LTL
/* With fairness: the parent always finishes, whether the worker finished or
 * died at any step (stronger than [](wdead -> <> parent_done)). */
ltl parent_terminates { <> parent_done }
#endif
