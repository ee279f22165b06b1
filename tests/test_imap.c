/* SPDX-License-Identifier: MIT */
/*
 * rp_imap over a source callback: results reach the sink in input order (or
 * as finished), memory stays bounded on a long stream (the source is never
 * more than max_in_flight ahead of the sink), failed tasks arrive with their
 * status, and errors from the source or sink stop the stream cleanly.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "rp_test_tasks.h"

struct stream {
	uint64_t next, n;	/* source position and length */
	uint64_t got;		/* sink count */
	uint64_t max_ahead;	/* largest source - sink distance seen */
	uint64_t fail_at;	/* make this input fail (ACT_FAIL) */
	int sink_stop_at;	/* sink returns an error at this count (-1: never) */
	unsigned char *seen;
	int ordered;
};

static ssize_t src_ctl(void *arg, void *buf, size_t cap)
{
	struct stream *s = arg;
	struct ctl_in in = { .value = s->next, .action = ACT_OK };

	if (s->next == s->n)
		return RP_EOF;
	if (s->next == s->fail_at)
		in = (struct ctl_in){ .action = ACT_FAIL, .arg = -EDOM };
	cr_assert_geq(cap, sizeof(in));
	memcpy(buf, &in, sizeof(in));
	s->next++;
	if (s->next - s->got > s->max_ahead)
		s->max_ahead = s->next - s->got;
	return sizeof(in);
}

static int sink_check(void *arg, const struct rp_result *r)
{
	struct stream *s = arg;

	if (s->sink_stop_at >= 0 && s->got == (uint64_t)s->sink_stop_at)
		return -ECONNRESET;
	cr_assert_lt(r->seq, s->n);
	if (s->ordered)
		cr_assert_eq(r->seq, s->got, "in input order");
	cr_assert_eq(s->seen[r->seq], 0, "once");
	s->seen[r->seq] = 1;
	if (r->seq == s->fail_at) {
		cr_assert_eq(r->status, -EDOM, "a failed task arrives with its status");
	} else {
		cr_assert_eq(r->status, 0);
		cr_assert_eq(r->len, 8u);
		cr_assert_eq(*(const uint64_t *)r->data, r->seq);
	}
	s->got++;
	return 0;
}

static void run(unsigned workers, unsigned chunk, unsigned flags, uint64_t n)
{
	struct rp_pool *p = test_pool(workers, 0);
	struct stream s = { .n = n, .fail_at = n / 3, .sink_stop_at = -1,
			    .ordered = !(flags & RP_UNORDERED) };
	struct rp_imap_opts o = { .max_input = 64, .chunk = chunk, .max_result = 8,
				  .flags = flags, .max_in_flight = 256 };

	cr_assert_not_null(p);
	s.seen = calloc(n, 1);
	cr_assert_eq(rp_imap(p, task_ctl, src_ctl, &s, sink_check, &s, &o), 0);
	cr_assert_eq(s.got, n);
	cr_assert_leq(s.max_ahead, 256 * (chunk == RP_CHUNK_AUTO ? 1024 : chunk) + 1,
		      "bounded: the source stays within max_in_flight records");
	free(s.seen);
	rp_pool_destroy(p);
}

Test(imap, ordered, .timeout = 60) { run(2, 1, 0, 200000); }
Test(imap, unordered, .timeout = 60) { run(2, 1, RP_UNORDERED, 200000); }
Test(imap, ordered_chunked, .timeout = 60) { run(2, 32, 0, 200000); }
Test(imap, auto_chunk, .timeout = 60) { run(2, RP_CHUNK_AUTO, 0, 500000); }
Test(imap, inline_serial_fallback, .timeout = 60) { run(0, 1, 0, 20000); }

Test(imap, sink_error_stops, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	struct stream s = { .n = 100000, .fail_at = UINT64_MAX, .sink_stop_at = 1000,
			    .ordered = 1 };

	cr_assert_not_null(p);
	s.seen = calloc(s.n, 1);
	cr_assert_eq(rp_imap(p, task_ctl, src_ctl, &s, sink_check, &s, NULL), -ECONNRESET);
	cr_assert_eq(s.got, 1000u);
	cr_assert_lt(s.next, s.n, "the source was not drained");
	/* The pool is usable afterwards: nothing left outstanding. */
	struct rp_result r;
	cr_assert_eq(rp_next(p, &r, RP_NONBLOCK), -ENODATA);
	uint64_t x = 1, y;
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &y, 8, NULL), 0);
	free(s.seen);
	rp_pool_destroy(p);
}

static ssize_t src_bad(void *arg, void *buf, size_t cap)
{
	int *n = arg;

	if (++*n == 50)
		return -EIO;
	memset(buf, 0, 8);
	return 8;
}

static int sink_count(void *arg, const struct rp_result *r)
{
	(*(int *)arg)++;
	return 0;
}

Test(imap, source_error_stops_after_in_flight, .timeout = 30)
{
	struct rp_pool *p = test_pool(2, 0);
	int n = 0, got = 0;

	cr_assert_not_null(p);
	cr_assert_eq(rp_imap(p, task_triple, src_bad, &n, sink_count, &got, NULL), -EIO);
	cr_assert_eq(got, 49, "results of inputs already taken are not lost");
	rp_pool_destroy(p);
}

Test(imap, bad_arguments, .timeout = 30)
{
	struct rp_pool *p = test_pool(1, 0);
	int n = 0;
	uint64_t x = 1;

	cr_assert_not_null(p);
	cr_assert_eq(rp_imap(p, NULL, src_bad, &n, sink_count, &n, NULL), -EINVAL);
	cr_assert_eq(rp_imap(p, task_triple, NULL, &n, sink_count, &n, NULL), -EINVAL);
	cr_assert_eq(rp_imap(p, task_triple, src_bad, &n, NULL, &n, NULL), -EINVAL);
	cr_assert_eq(rp_submit(p, task_triple, &x, 8, 0, 0, NULL), 0);
	cr_assert_eq(rp_imap(p, task_triple, src_bad, &n, sink_count, &n, NULL), -EBUSY);
	rp_pool_destroy(p);
}

/* A final chunk holding a single input is still unpacked (it once reached
 * the sink as raw chunk bytes). */
Test(imap, chunked_stream_ending_with_one_input, .timeout = 30)
{
	for (uint64_t n = 1; n <= 9; n++) {
		struct rp_pool *p = test_pool(1, 0);
		struct stream s = { .n = n, .fail_at = UINT64_MAX, .sink_stop_at = -1, .ordered = 1 };
		struct rp_imap_opts o = { .max_input = 64, .chunk = 4, .max_result = 8 };

		cr_assert_not_null(p);
		s.seen = calloc(n, 1);
		cr_assert_eq(rp_imap(p, task_ctl, src_ctl, &s, sink_check, &s, &o), 0);
		cr_assert_eq(s.got, n);
		free(s.seen);
		rp_pool_destroy(p);
	}
}
