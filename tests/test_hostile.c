/* SPDX-License-Identifier: MIT */
/*
 * A hostile worker: task functions that, from inside the worker, find the
 * pool's shared region (the "/memfd:ringpool" mapping, struct rp_shared at
 * its base) and scribble on their own result ring, the doorbell or the
 * region header, then return or park until killed. The parent must kill that
 * worker and fail its tasks with RP_EPROTO (or RP_ECRASHED when the worker
 * died first), deliver every other result intact, never crash or hang, and
 * still destroy the pool. One Test per kind of corruption. (Records are
 * forged the way the ring writes them: header, then its commit word. The
 * shared tail is only a hint now; garbage there must change nothing.)
 */
#include <criterion/criterion.h>
#include <linux/futex.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "rp_internal.h"
#include "task.h"
#include "rp_test_tasks.h"

#define RING_BYTES	(64u * 1024)
#define PARK_MS		5000	/* a corrupting worker waits this long to be killed */

/* Statuses a hostile task returns when the test itself went wrong. */
#define H_ELOCATE	(-ENXIO)	/* region or ring not found where expected */
#define H_ENOTKILLED	(-ETIME)	/* the parent did not react to the corruption */
#define H_ENOHISTORY	(-ENOENT)	/* no earlier record to re-publish */

enum {
	H_OK,			/* result = value * 3 + 1 */
	H_TAIL_PAST_CAP,	/* tail = tail + capacity + arg, then a normal result */
	H_TAIL_BACKWARDS,	/* tail = tail - arg, then a normal result */
	H_LEN_TOO_BIG,		/* a header claiming arg (or capacity) payload bytes */
	H_UNKNOWN_SEQ,		/* a well-formed record for a seq never dispatched */
	H_DUP_SEQ,		/* re-publish the previous record (an old seq) */
	H_DOORBELL_GARBAGE,	/* garbage into the doorbell word, then a normal result */
	H_NO_NOTIFY,		/* sleep arg ms, disarm the doorbell, normal result */
	H_BAD_SEQ_THEN_DIE,	/* unknown-seq record, published without notify, then SIGKILL */
	H_FN_TABLE,		/* nfns = arg (huge), then a normal result */
	H_HEADER_THEN_DIE,	/* rings_off scribbled, then SIGKILL */
	H_TASK_HEAD,		/* task ring head (ours to write) = garbage, then park */
	H_TASK_HEAD_THEN_DIE,	/* the same, then SIGKILL */
	H_CHUNK_COUNT,		/* inside a chunk: rewrite the chunk header's count */
	H_CHUNK_ENT_LEN,	/* inside a chunk: the previous task's entry claims a
				 * length past out_cap */
};

struct h_in {
	uint64_t value;
	int32_t action;
	int32_t arg;
};

/* Shared with the workers (inherited MAP_SHARED page): who misbehaved. */
struct h_ctl {
	_Atomic int32_t worker;	/* -1 until a hostile task ran */
	_Atomic uint64_t seq;
};
static struct h_ctl *ctl;

static void ctl_setup(void)
{
	ctl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(ctl, MAP_FAILED);
	atomic_store(&ctl->worker, -1);
	atomic_store(&ctl->seq, UINT64_MAX);
}

static void ctl_teardown(void)
{
	if (ctl && ctl != MAP_FAILED)
		munmap(ctl, 4096);
	ctl = NULL;
}

/* The region as this process maps it: struct rp_shared at the base. */
static struct rp_shared *find_region(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	struct rp_shared *found = NULL;
	char line[512];

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char path[256] = "";
		struct rp_shared *sh;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255[^\n]", &lo, &hi, path) < 3 ||
		    strcmp(path, "/memfd:ringpool (deleted)"))
			continue;
		sh = (struct rp_shared *)lo;
		if (sh->magic == RP_SHARED_MAGIC)	/* the header: a worker maps the rest in windows */
			found = sh;
	}
	fclose(f);
	return found;
}

/* The region's layout as a worker loads it. */
static struct rp_layout lay;

/* Worker i's result ring, found through the region layout. */
static struct rp_ring *result_ring(struct rp_shared *sh, unsigned i)
{
	struct rp_ring *r;

	if (!sh || rp__layout_load(&lay, sh, sh->size) || i >= lay.nworkers)
		return NULL;
	r = rp__result_ring(sh, &lay, i);
	if (r->magic != RP_RING_MAGIC || r->capacity != sh->ring_bytes)
		return NULL;
	return r;
}

static void park(void)
{
	for (int ms = 0; ms < PARK_MS; ms++)
		usleep(1000);
}

/* Wait (bounded) until the parent has consumed everything up to tail. */
static void wait_caught_up(struct rp_ring *r, uint64_t tail)
{
	for (int i = 0; i < 20000; i++) {
		/* acquire: pairs with the parent's C2 release of head. */
		if (atomic_load_explicit(&r->head, memory_order_acquire) == tail)
			return;
		usleep(100);
	}
}

/* Write a record header at byte index `at` of ring r (no wrap handling:
 * the tests keep rings far from full). Returns false if it would wrap. */
static bool put_hdr(struct rp_ring *r, uint64_t at, uint32_t len, uint32_t tag, uint64_t seq,
		    int32_t status)
{
	uint64_t cap = r->capacity, off = at & (cap - 1);
	struct rp_rec *h = (struct rp_rec *)(r->data + off);

	if (off + RP_REC_HDR + 8 > cap)
		return false;
	h->len = len;
	h->tag = tag;
	h->seq = seq;
	h->status = status;
	h->aux = 0;
	return true;
}

/* Commit the header at `at` as the ring does: its commit word, last. */
static void commit_hdr(struct rp_ring *r, uint64_t at)
{
	struct rp_rec *h = (struct rp_rec *)(r->data + (at & (r->capacity - 1)));

	/* release: pairs with the parent's C3 acquire, like rp_ring_commit. */
	atomic_store_explicit(&h->commit, RP_REC_COMMIT(at, r->key), memory_order_release);
}

/* Commit the forged header at `at`, publish the tail past it, wake the
 * parent, and wait to be killed. */
static int publish_and_park(struct rp_shared *sh, struct rp_ring *r, uint64_t at)
{
	commit_hdr(r, at);
	/* release: like a real publish (a hint). */
	atomic_store_explicit(&r->tail, at + RP_REC_SIZE(8), memory_order_release);
	rp_evc_notify(rp__bell(sh, &lay));
	park();
	return H_ENOTKILLED;
}

/* The chunk record this task's result slot lives in, found back from the
 * slot: task k of a chunk of 4 with 8-byte slots (checked by the caller). */
static struct rp_chunk_in *own_chunk(struct rp_task_priv *tp, unsigned k)
{
	return (struct rp_chunk_in *)(tp->fixed - (uint64_t)k * 8 - 4 * sizeof(struct rp_chunk_ent) -
				      sizeof(struct rp_chunk_in));
}

static int task_hostile(struct rp_task *t, const void *in, size_t len)
{
	struct rp_task_priv *tp = t->priv_;
	struct rp_shared *sh;
	struct rp_ring *r;
	struct h_in c;
	uint64_t *out, tail;

	if (len != sizeof(c))
		return -EINVAL;
	memcpy(&c, in, sizeof(c));
	if (c.action != H_OK) {
		sh = find_region();
		r = result_ring(sh, t->worker);
		if (!r)
			return H_ELOCATE;
		/* The layout lookup must agree with the worker's own handle. */
		if (!tp->fixed && (!tp->results || tp->results->ring != r))
			return H_ELOCATE;
		atomic_store(&ctl->worker, (int32_t)t->worker);
		atomic_store(&ctl->seq, t->seq);
		/* Where our next record goes: the worker's own tail (the
		 * shared one lags), or in a chunk the shared one (unused). */
		tail = tp->results ? tp->results->tail
				   : atomic_load_explicit(&r->tail, memory_order_relaxed);
		if (c.action >= H_LEN_TOO_BIG && c.action <= H_DUP_SEQ)
			wait_caught_up(r, tail);
		switch (c.action) {
		case H_TAIL_PAST_CAP:
			/* release: like a real publish; garbage all the same. */
			atomic_store_explicit(&r->tail, tail + r->capacity + (uint64_t)c.arg,
					      memory_order_release);
			break;
		case H_TAIL_BACKWARDS:
			atomic_store_explicit(&r->tail, tail - (uint64_t)c.arg, memory_order_release);
			break;
		case H_LEN_TOO_BIG:
			if (!put_hdr(r, tail, c.arg ? (uint32_t)c.arg : (uint32_t)r->capacity, 0,
				     t->seq, 0))
				return H_ELOCATE;
			return publish_and_park(sh, r, tail);
		case H_UNKNOWN_SEQ:
			if (!put_hdr(r, tail, 8, 0, t->seq + 1000003, 0))
				return H_ELOCATE;
			return publish_and_park(sh, r, tail);
		case H_DUP_SEQ: {
			/* The previous result on this ring: 8 bytes, right before. */
			const struct rp_rec *prev;

			if (tail < RP_REC_SIZE(8))
				return H_ENOHISTORY;
			prev = (const struct rp_rec *)(r->data +
						       ((tail - RP_REC_SIZE(8)) & (r->capacity - 1)));
			if (atomic_load(&prev->commit) != RP_REC_COMMIT(tail - RP_REC_SIZE(8), r->key) ||
			    prev->len != 8 || prev->seq >= t->seq)
				return H_ENOHISTORY;
			memcpy(r->data + (tail & (r->capacity - 1)), prev, RP_REC_SIZE(8));
			return publish_and_park(sh, r, tail);
		}
		case H_DOORBELL_GARBAGE:
			/* relaxed: garbage needs no order. Odd and even values, so
			 * both the armed and the idle reading are exercised. */
			atomic_store_explicit(&rp__bell(sh, &lay)->word, 0xdeadbeefu ^ (uint32_t)c.arg,
					      memory_order_relaxed);
			break;
		case H_NO_NOTIFY:
			/* Let the parent fall asleep, then clear its armed flag so
			 * our worker's notify after this task sees nobody waiting. */
			usleep((useconds_t)c.arg * 1000);
			atomic_fetch_and_explicit(&rp__bell(sh, &lay)->word, ~RP_EVC_ARMED,
						  memory_order_relaxed);
			break;
		case H_BAD_SEQ_THEN_DIE:
			usleep(30000);	/* the parent is asleep by now */
			if (!put_hdr(r, tail, 8, 0, t->seq + 1000003, 0))
				return H_ELOCATE;
			commit_hdr(r, tail);	/* committed, but no doorbell */
			raise(SIGKILL);
			return H_ENOTKILLED;
		case H_FN_TABLE:
			sh->nfns = (uint32_t)c.arg;
			break;
		case H_HEADER_THEN_DIE:
			/* A valid capacity, and rings far outside the region. */
			sh->blocks_off = 1ull << 46;	/* read-only: faults */
			raise(SIGKILL);
			return H_ENOTKILLED;
		case H_TASK_HEAD:
		case H_TASK_HEAD_THEN_DIE: {
			struct rp_ring *tr = rp__task_ring(sh, &lay, t->worker);

			/* release: like the consumer's own C2 store of head. */
			atomic_store_explicit(&tr->head, tr->head + 3 * tr->capacity,
					      memory_order_release);
			if (c.action == H_TASK_HEAD_THEN_DIE)
				raise(SIGKILL);
			atomic_store(&ctl->seq, UINT64_MAX - 1);	/* "scribbled" */
			park();
			return H_ENOTKILLED;
		}
		case H_CHUNK_COUNT:
		case H_CHUNK_ENT_LEN: {
			unsigned k = (unsigned)c.arg;	/* our index in the chunk */
			struct rp_chunk_in *h;
			struct rp_chunk_ent *e;

			if (!tp->fixed || k < 1 || k >= 4)
				return H_ELOCATE;
			h = own_chunk(tp, k);
			e = (struct rp_chunk_ent *)(h + 1);
			/* Check that this is the chunk we think it is. */
			if (h->count != 4 || h->out_cap != 8 ||
			    (unsigned char *)tp->fixed !=
				    (unsigned char *)(e + 4) + (uint64_t)k * h->out_cap)
				return H_ELOCATE;
			if (c.action == H_CHUNK_COUNT)
				h->count = 0x7fffffffu;
			else
				e[k - 1].len = 0xffffff00u;	/* the task before us: done */
			break;
		}
		}
	}
	out = rp_task_result(t, 8);
	if (!out)
		return -ENOMEM;
	*out = c.value * 3 + 1;
	return 0;
}

static struct rp_pool *h_pool(unsigned workers, unsigned flags)
{
	struct rp_config c;
	struct rp_pool *p = NULL;

	rp_config_init(&c);
	c.workers = workers;
	c.flags = flags | RP_CFG_FORK;	/* the hostile tasks need fork (ctl) */
	c.ring_bytes = RING_BYTES;
	c.max_in_flight = 256;
	c.spin_ns = 20000;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	return p;
}

static void submit_h(struct rp_pool *p, uint64_t v, int action, int arg)
{
	struct h_in in = { .value = v, .action = action, .arg = arg };

	cr_assert_eq(rp_submit(p, task_hostile, &in, sizeof(in), 0, 0, NULL), 0);
}

static bool pool_failed(const struct rp_result *r)
{
	return (r->flags & RP_RES_POOL) && (r->status == RP_EPROTO || r->status == RP_ECRASHED);
}

/* Collect seqs [from, to) in order; seq `bad` is the hostile one. Results
 * from the hostile worker at or after it may be pool failures (or correct,
 * if a replacement ran them); everything else must be exactly right. */
static void collect_checked(struct rp_pool *p, uint64_t from, uint64_t to, uint64_t bad)
{
	for (uint64_t q = from; q < to; q++) {
		struct rp_result res;
		int32_t hw = atomic_load(&ctl->worker);

		cr_assert_eq(rp_next(p, &res, 0), 0, "seq %llu", (unsigned long long)q);
		cr_assert_eq(res.seq, q);
		if (q == bad) {
			cr_assert(pool_failed(&res), "hostile task: status %d flags %u", res.status,
				  res.flags);
		} else if (pool_failed(&res)) {
			cr_assert(q > bad && (int32_t)res.worker == hw,
				  "seq %llu on worker %u failed (%d, signal %d, exit %d) though "
				  "worker %d misbehaved",
				  (unsigned long long)q, res.worker, res.status, res.term_signal,
				  res.term_exit, hw);
		} else {
			cr_assert_eq(res.status, 0, "seq %llu: status %d", (unsigned long long)q,
				     res.status);
			cr_assert_eq(res.len, 8u);
			cr_assert_eq(*(const uint64_t *)res.data, q * 3 + 1);
		}
		rp_release(p, &res);
	}
}

/* Warm up every worker (so each ring has history), then one hostile task
 * among `n` good ones on a pool of `workers`; check all of it. */
static void run_case(unsigned workers, unsigned flags, int action, int arg)
{
	struct rp_pool *p = h_pool(workers, flags);
	struct rp_result res;
	uint64_t q = 0, bad, n = 24;
	unsigned seen = 0;

	/* Warm-up: the second task goes to the idle worker, and so on. */
	for (unsigned i = 0; i < 4 * workers; i++)
		submit_h(p, q + i, H_OK, 0);
	for (unsigned i = 0; i < 4 * workers; i++, q++) {
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(*(const uint64_t *)res.data, q * 3 + 1);
		seen |= 1u << res.worker;
		rp_release(p, &res);
	}
	cr_assert_eq(seen, (1u << workers) - 1, "every worker ran a warm-up task");

	bad = q;
	submit_h(p, q++, action, arg);
	for (uint64_t i = 0; i < n; i++) {
		struct h_in in = { .value = q, .action = H_OK };
		int err = rp_submit(p, task_hostile, &in, sizeof(in), 0, 0, NULL);

		/* A submitter waiting for room may find the bad record first
		 * and kill its worker: with one worker, none is left. */
		if (err == -ECHILD && workers == 1)
			break;
		cr_assert_eq(err, 0);
		q++;
	}
	collect_checked(p, bad, q, bad);
	cr_assert_eq(rp_next(p, &res, RP_NONBLOCK), -ENODATA);

	/* The pool still works where it has a worker left. */
	if (workers > 1) {
		uint64_t from = q;

		for (int i = 0; i < 8; i++)
			submit_h(p, q++, H_OK, 0);
		collect_checked(p, from, q, UINT64_MAX);
	}
	cr_assert_eq(rp_pool_destroy(p), 0);
}

TestSuite(hostile, .init = ctl_setup, .fini = ctl_teardown);

/* Every third task scribbles (harmless corruption): all results correct.
 * A submit may say -EAGAIN (a result is ready, only collecting makes room):
 * then the next one in order is collected. */
static void harmless_case(unsigned workers, int action, int arg)
{
	struct rp_pool *p = h_pool(workers, 0);
	uint64_t q, got = 0;

	for (q = 0; q < 64; q++) {
		struct h_in in = { .value = q, .action = q % 3 ? H_OK : action, .arg = arg };
		int err;

		while ((err = rp_submit(p, task_hostile, &in, sizeof(in), 0, 0, NULL)) == -EAGAIN) {
			collect_checked(p, got, got + 1, UINT64_MAX);
			got++;
		}
		cr_assert_eq(err, 0);
	}
	collect_checked(p, got, q, UINT64_MAX);
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/* The shared tail is a hint (records carry commit words): garbage there is
 * no protocol error and loses nothing. */
Test(hostile, tail_past_capacity, .timeout = 30)
{
	harmless_case(1, H_TAIL_PAST_CAP, 64);
	harmless_case(2, H_TAIL_PAST_CAP, 1);
}

Test(hostile, tail_moves_backwards, .timeout = 30)
{
	harmless_case(1, H_TAIL_BACKWARDS, 8);
	harmless_case(2, H_TAIL_BACKWARDS, (int)RING_BYTES / 2);
}

Test(hostile, record_longer_than_ring, .timeout = 30)
{
	run_case(1, 0, H_LEN_TOO_BIG, 0);		/* len = capacity */
	run_case(2, 0, H_LEN_TOO_BIG, INT32_MAX);
	run_case(2, 0, H_LEN_TOO_BIG, RING_BYTES / 2);	/* over the record limit */
}

Test(hostile, unknown_sequence_number, .timeout = 30)
{
	run_case(1, 0, H_UNKNOWN_SEQ, 0);
	run_case(2, 0, H_UNKNOWN_SEQ, 0);
}

Test(hostile, duplicate_sequence_number, .timeout = 30)
{
	run_case(1, 0, H_DUP_SEQ, 0);
	run_case(2, 0, H_DUP_SEQ, 0);
}

/* Garbage in the doorbell is no protocol error: results stay correct. */
Test(hostile, doorbell_garbage, .timeout = 30)
{
	struct rp_pool *p = h_pool(2, 0);
	uint64_t q;

	for (q = 0; q < 64; q++) {
		struct h_in in = { .value = q, .action = q % 3 ? H_OK : H_DOORBELL_GARBAGE,
				   .arg = (int32_t)q };

		cr_assert_eq(rp_submit(p, task_hostile, &in, sizeof(in), 0, 0, NULL), 0);
		if (q % 8 == 7)
			collect_checked(p, q - 7, q + 1, UINT64_MAX);
	}
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/* A child process hammers FUTEX_WAKE on the doorbell while the parent waits
 * for slow tasks: the results still arrive, correct, in bounded time. */
Test(hostile, doorbell_wake_flood, .timeout = 60)
{
	struct rp_pool *p = h_pool(2, 0);
	struct rp_shared *sh = find_region();
	struct ctl_in in = { .action = ACT_SLEEP_MS, .arg = 20 };
	pid_t hammer;
	int st;

	cr_assert_not_null(sh);
	hammer = fork();
	cr_assert_geq(hammer, 0);
	if (hammer == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			syscall(SYS_futex, &rp__bell(sh, &lay)->word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	for (uint64_t q = 0; q < 40; q++) {
		in.value = q * 7;
		cr_assert_eq(rp_submit(p, task_ctl, &in, sizeof(in), 0, 0, NULL), 0);
	}
	for (uint64_t q = 0; q < 40; q++) {
		struct rp_result res;

		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(res.seq, q);
		cr_assert_eq(res.status, 0);
		cr_assert_eq(*(const uint64_t *)res.data, q * 7);
		rp_release(p, &res);
	}
	kill(hammer, SIGKILL);
	waitpid(hammer, &st, 0);
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/* A worker whose notifies never wake the parent: results still arrive
 * through the parent's bounded sleeps. */
Test(hostile, never_notifies, .timeout = 30)
{
	struct rp_pool *p = h_pool(1, 0);

	for (uint64_t q = 0; q < 16; q++) {
		submit_h(p, q, H_NO_NOTIFY, 5);
		collect_checked(p, q, q + 1, UINT64_MAX);
	}
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/*
 * Publish a record with a seq never dispatched, without ringing the
 * doorbell, and die. The parent notices the death (liveness) before it reads
 * the record, so it counts the record as a published result; reading it
 * then breaks the protocol on a worker already dead.
 */
static void bad_seq_then_die(unsigned flags, bool close)
{
	struct rp_pool *p = h_pool(1, flags);
	struct rp_result res;

	submit_h(p, 0, H_OK, 0);
	collect_checked(p, 0, 1, UINT64_MAX);
	submit_h(p, 1, H_BAD_SEQ_THEN_DIE, 0);
	submit_h(p, 2, H_OK, 0);
	if (close)
		rp_pool_close(p);	/* no replacement once closed */
	collect_checked(p, 1, 3, 1);
	cr_assert_eq(rp_next(p, &res, RP_NONBLOCK), -ENODATA);
	cr_assert_eq(rp_pool_destroy(p), 0);
}

Test(hostile, bad_record_then_death, .timeout = 30)
{
	bad_seq_then_die(0, false);
}

Test(hostile, bad_record_then_death_closed, .timeout = 30)
{
	bad_seq_then_die(0, true);
}

#ifdef RP_CFG_NO_RESPAWN
Test(hostile, bad_record_then_death_no_respawn, .timeout = 30)
{
	bad_seq_then_die(RP_CFG_NO_RESPAWN, false);
}
#endif

/*
 * The worker corrupts its task ring's head (the index it owns there) while
 * the caller holds one of its results; the parent finds out when a submit
 * needs room in that ring. The held result stays valid until released, the
 * worker's other tasks fail, the other worker's results arrive, and the
 * books balance: unordered collection afterwards neither spins nor recurses.
 */
Test(hostile, task_ring_head_while_result_held, .timeout = 30)
{
	struct rp_pool *p = h_pool(2, 0);
	struct ctl_in slow = { .value = 7, .action = ACT_SLEEP_MS, .arg = 300 };
	static unsigned char big[8000];
	struct rp_result held, res;
	struct rp_stats st;
	uint64_t fills = 0;
	int r = 0, hw;

	/* Nearly fill both task rings (the parent re-reads a worker's head
	 * only when its ring looks full), and collect. */
	for (int i = 0; i < 16; i++)
		cr_assert_eq(rp_submit(p, task_echo, big, sizeof(big), 0, 0, NULL), 0);
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(rp_next(p, &res, 0), 0);
		cr_assert_eq(res.status, 0);
		rp_release(p, &res);
	}
	/* seq 16 keeps one worker busy; seqs 17 and 18 go to the other. */
	cr_assert_eq(rp_submit(p, task_ctl, &slow, sizeof(slow), 0, 0, NULL), 0);
	submit_h(p, 17, H_OK, 0);
	submit_h(p, 18, H_TASK_HEAD, 0);
	cr_assert_eq(rp_next(p, &held, RP_UNORDERED), 0);
	cr_assert_eq(held.seq, 17u);
	while (atomic_load(&ctl->seq) != UINT64_MAX - 1)
		usleep(100);
	hw = atomic_load(&ctl->worker);
	cr_assert_eq(hw, (int)held.worker, "the held result is from the hostile worker");
	/* Submit until the parent has had to re-read that worker's head. */
	for (int i = 0; i < 200; i++) {
		struct rp_worker_stats ws;

		r = rp_submit(p, task_echo, big, sizeof(big), RP_NONBLOCK, 0, NULL);
		fills += r == 0;
		cr_assert_eq(rp_worker_stats(p, (unsigned)hw, &ws), 0);
		if (!ws.alive || (r && r != -EAGAIN))
			break;
	}
	cr_assert_eq(*(const uint64_t *)held.data, 17u * 3 + 1, "the held result is intact");
	rp_release(p, &held);
	for (;;) {
		r = rp_next(p, &res, RP_UNORDERED);
		if (r)
			break;
		if ((int)res.worker == hw)
			cr_assert(pool_failed(&res), "seq %llu: status %d",
				  (unsigned long long)res.seq, res.status);
		else
			cr_assert_eq(res.status, 0, "seq %llu: status %d",
				     (unsigned long long)res.seq, res.status);
		rp_release(p, &res);
	}
	cr_assert_eq(r, -ENODATA);
	cr_assert_eq(rp_pool_stats(p, &st), 0);
	cr_assert_eq(st.in_flight, 0u);
	cr_assert_eq(st.completed, st.submitted);
	cr_assert_eq(st.submitted, 19 + fills);
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/* The task ring's head is the worker's to write: a worker that corrupts it
 * and dies must not strand the tasks queued behind it (the parent re-reads
 * that ring to re-dispatch them). */
Test(hostile, task_ring_head_then_death, .timeout = 30)
{
	run_case(1, 0, H_TASK_HEAD_THEN_DIE, 0);
	run_case(2, 0, H_TASK_HEAD_THEN_DIE, 0);
}

/* The function table's count is in the region: a worker that tries to make
 * it huge faults (workers map the header read-only), and registering a new
 * function afterwards must not walk past the region either way. */
Test(hostile, function_table_count, .timeout = 30)
{
	struct rp_pool *p = h_pool(2, 0);
	struct rp_result res;
	uint64_t x = 5;

	submit_h(p, 0, H_FN_TABLE, INT32_MAX);
	collect_checked(p, 0, 1, 0);
	/* A function the pool has not seen yet. */
	cr_assert_eq(rp_submit(p, task_triple, &x, sizeof(x), 0, 0, NULL), 0);
	cr_assert_eq(rp_next(p, &res, 0), 0);
	cr_assert_eq(res.status, 0);
	cr_assert_eq(*(const uint64_t *)res.data, 16u);
	rp_release(p, &res);
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/* The region header's layout fields are in the region too: a worker that
 * tries to rewrite them dies (read-only), and that must not steer the
 * parent's death handling (replacement included) outside the region. */
Test(hostile, region_header_then_death, .timeout = 30)
{
	struct rp_pool *p = h_pool(2, 0);
	struct rp_result res;

	for (uint64_t q = 0; q < 4; q++)
		submit_h(p, q, H_OK, 0);
	collect_checked(p, 0, 4, UINT64_MAX);
	submit_h(p, 4, H_HEADER_THEN_DIE, 0);
	for (uint64_t q = 5; q < 16; q++)
		submit_h(p, q, H_OK, 0);
	collect_checked(p, 4, 16, 4);
	cr_assert_eq(rp_next(p, &res, RP_NONBLOCK), -ENODATA);
	cr_assert_eq(rp_pool_destroy(p), 0);
}

/*
 * Chunk results are parsed by the parent. A lying chunk header fails every
 * task of that chunk with RP_EPROTO; an entry claiming more than its slot
 * fails that task only (RP_EPROTO, or RP_EMSGSIZE as a result too big).
 * Tasks in other chunks are unaffected.
 */
static void chunk_case(int action)
{
	struct rp_pool *p = h_pool(2, 0);
	struct rp_map_opts o = { .chunk = 4 };
	enum { N = 64, BAD = 17 };
	struct h_in in[N];
	uint64_t out[N];
	int err;

	for (int i = 0; i < N; i++)
		in[i] = (struct h_in){ .value = (uint64_t)i, .action = i == BAD ? action : H_OK,
				       .arg = BAD % 4 };
	memset(out, 0xa5, sizeof(out));
	err = map_status_ex(p, task_hostile, in, sizeof(in[0]), out, sizeof(out[0]), N, &o);
	if (action == H_CHUNK_COUNT)
		cr_assert_eq(err, RP_EPROTO, "first error: %d", err);
	else
		cr_assert(err == RP_EPROTO || err == RP_EMSGSIZE, "first error: %d", err);
	for (int i = 0; i < N; i++) {
		bool failed = action == H_CHUNK_COUNT ? i / 4 == BAD / 4 : i == BAD - 1;

		if (failed)
			cr_assert_eq(out[i], 0u, "failed task %d is zeroed", i);
		else
			cr_assert_eq(out[i], (uint64_t)i * 3 + 1, "task %d", i);
	}
	cr_assert_eq(rp_pool_destroy(p), 0);
}

Test(hostile, chunk_header_lies, .timeout = 30)
{
	chunk_case(H_CHUNK_COUNT);
}

Test(hostile, chunk_entry_lies, .timeout = 30)
{
	chunk_case(H_CHUNK_ENT_LEN);
}
