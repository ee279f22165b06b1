/* SPDX-License-Identifier: MIT */
/*
 * Two processes over one ring in a memfd region: a forked producer sends ten
 * million records (random sizes, sequence number and checksum in each) and
 * the consumer checks that each arrives once, in order, intact. Both sides
 * sleep on eventcounts when the ring is full or empty, so wake-ups are
 * exercised too; every wait has a timeout, and a stalled peer fails the test.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rp_evc.h"
#include "rp_region.h"
#include "rp_ring.h"

#define NREC 10000000ull
#define CAP 65536ull

struct shared {
	_Alignas(64) struct rp_evc data_ready;	/* consumer sleeps here */
	_Alignas(64) struct rp_evc space_ready;	/* producer sleeps here */
	_Alignas(64) unsigned char ring[];
};

static uint32_t fnv(const unsigned char *p, size_t n, uint64_t seq)
{
	uint32_t h = 2166136261u ^ (uint32_t)seq;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void produce(struct shared *sh)
{
	struct rp_ring_prod p;
	uint64_t rng = 88172645463325252ull;

	if (rp_ring_prod_attach(&p, sh->ring, CAP))
		_exit(10);
	for (uint64_t seq = 0; seq < NREC; seq++) {
		uint64_t len = xorshift(&rng) % 57;
		unsigned char *d;
		int err = 0;

		while (!(d = rp_ring_reserve(&p, len, &err))) {
			if (err != -EAGAIN)
				_exit(11);
			rp_ring_publish(&p);
			rp_evc_notify(&sh->data_ready);
			uint32_t armed = rp_evc_prepare(&sh->space_ready);
			d = rp_ring_reserve(&p, len, &err);
			if (d) {
				rp_evc_cancel(&sh->space_ready, armed);
				break;
			}
			if (rp_evc_wait(&sh->space_ready, armed, 2000000000ull) == -ETIMEDOUT)
				_exit(12);
		}
		for (uint64_t i = 0; i < len; i++)
			d[i] = (unsigned char)(seq * 31 + i);
		rp_ring_commit(&p, len, fnv(d, len, seq), seq, 0, (uint32_t)len);
		if ((seq & 15) == 0) {
			rp_ring_publish(&p);
			rp_evc_notify(&sh->data_ready);
		}
	}
	rp_ring_publish(&p);
	rp_evc_notify(&sh->data_ready);
	_exit(0);
}

Test(ring_2proc, ten_million_records_in_order, .timeout = 120)
{
	struct rp_region reg;
	struct rp_ring_cons c;
	struct shared *sh;
	uint64_t expect = 0, sleeps = 0;
	pid_t pid;
	int st;

	cr_assert_eq(rp_region_create(&reg, "test-ring", sizeof(*sh) + rp_ring_memsize(CAP)), 0);
	sh = reg.base;
	rp_evc_init(&sh->data_ready);
	rp_evc_init(&sh->space_ready);
	cr_assert_eq(rp_ring_init(sh->ring, CAP), 0);
	cr_assert_eq(rp_ring_cons_attach(&c, sh->ring, CAP), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The creator's mapping is not inherited: map it from the fd. */
		struct rp_region mine;

		if (rp_region_attach(&mine, reg.fd))
			_exit(2);
		produce(mine.base);
	}

	while (expect < NREC) {
		struct rp_rec_view v;
		int r = rp_ring_peek(&c, &v);

		if (r == -EAGAIN) {
			rp_ring_cons_publish(&c);
			rp_evc_notify(&sh->space_ready);
			uint32_t armed = rp_evc_prepare(&sh->data_ready);
			if (!rp_ring_cons_empty(&c)) {
				rp_evc_cancel(&sh->data_ready, armed);
				continue;
			}
			sleeps++;
			r = rp_evc_wait(&sh->data_ready, armed, 2000000000ull);
			cr_assert_neq(r, -ETIMEDOUT, "producer stalled at record %lu", expect);
			continue;
		}
		cr_assert_eq(r, 0, "ring protocol error at record %lu", expect);
		cr_assert_eq(v.seq, expect, "record out of order or lost");
		cr_assert_eq(v.aux, v.len);
		cr_assert_eq(v.tag, fnv(v.data, v.len, v.seq), "checksum of record %lu", expect);
		rp_ring_release(&c, &v);
		expect++;
		if ((expect & 63) == 0) {
			rp_ring_cons_publish(&c);
			rp_evc_notify(&sh->space_ready);
		}
	}
	rp_ring_cons_publish(&c);
	rp_evc_notify(&sh->space_ready);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer exit status %d", st);
	struct rp_rec_view v;
	cr_assert_eq(rp_ring_peek(&c, &v), -EAGAIN, "no record beyond the last");
	cr_log_info("10M records checked, consumer slept %lu times", sleeps);
	rp_region_destroy(&reg);
}
