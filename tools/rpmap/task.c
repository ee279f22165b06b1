/* SPDX-License-Identifier: MIT */
/*
 * What runs in a worker: one ringpool task per batch of records. The batch
 * task reserves one result (its cap was computed by the parent), splits the
 * records again, applies the function's row (builtin.h) record by record
 * and writes the outputs back to back, with a table of per-record failures
 * at the end. Before each record it names it with rp_task_mark, so a crash
 * or a kill at the deadline (which restarts at each mark: --timeout is per
 * record) says which record did it.
 */
#include "rpmap.h"
#include "builtin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct rpmap_fn rpmap_fn;

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)

/* The function's bound for a batch, plus the result's header, padding and
 * room for one failure entry (--timeout) per batch; 0 if not known. */
uint64_t rpmap_result_bound(uint64_t bytes, uint64_t nrec)
{
	const struct rpmap_builtin *bi = rpmap_fn.bi;

	if (!bi->bound)
		return 0;
	return sizeof(struct rpmap_res_hdr) + 8 + sizeof(struct rpmap_fail) +
	       bi->bound(&rpmap_fn.conf, bytes, nrec);
}

/* ---- the batch task ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Next record in [p, end): its length with the separator, and whether it
 * has one. Returns 0 when nothing is left. */
static size_t next_record(const char *p, const char *end, bool *has_sep)
{
	size_t left = (size_t)(end - p);

	if (!left)
		return 0;
	if (rpmap_fn.mode == RPMAP_BLOCK) {
		*has_sep = false;
		return left < rpmap_fn.block ? left : rpmap_fn.block;
	}
	if (rpmap_fn.mode == RPMAP_CHUNKS) {
		*has_sep = false;
		return left;	/* the batch is the chunk */
	}
	if (rpmap_fn.mode == RPMAP_MEMBERS) {
		*has_sep = false;
		return rpmap_member_len(p, left, NULL);	/* the parent cut whole ones */
	}
	const char *s = memchr(p, rpmap_fn.sep, left);

	*has_sep = s != NULL;
	return s ? (size_t)(s - p) + 1 : left;
}

/* Failures are kept here until the batch ends, then copied after the output. */
static struct rpmap_fail *fails;
static size_t fails_cap;

static bool add_fail(uint32_t nfail, uint32_t rec, int status, enum rpmap_why why, uint64_t off)
{
	if (nfail == fails_cap) {
		size_t n = fails_cap ? fails_cap * 2 : 64;
		struct rpmap_fail *f = realloc(fails, n * sizeof(*f));

		if (!f)
			return false;
		fails = f;
		fails_cap = n;
	}
	fails[nfail] = (struct rpmap_fail){ .rec = rec, .count = 1, .status = status,
					    .why = why, .out_off = off };
	return true;
}

/* What a plugin's record must leave in the batch's result after its own
 * output: its separator and the failure table entry it might add. */
static uint64_t keep_for(uint64_t pos, uint32_t nfail, bool has_sep)
{
	return ALIGN8(pos) - pos + 8 + (uint64_t)(nfail + 1) * sizeof(*fails) + (has_sep ? 1 : 0);
}

/* The batch's records in [*pp, *end), from the task's input or the
 * mapping. Returns 0 or -EINVAL (a malformed task). */
static int batch_input(const struct rpmap_task_hdr *th, const void *in, size_t len,
		       const char **pp, const char **end)
{
	*pp = (const char *)(th + 1);
	*end = (const char *)in + len;
	if (!th->map_len)
		return 0;
	if (!rpmap_fn.map || th->map_off > rpmap_fn.map_size ||
	    th->map_len > rpmap_fn.map_size - th->map_off || len != sizeof(*th))
		return -EINVAL;
	*pp = rpmap_fn.map + th->map_off;
	*end = *pp + th->map_len;
	return 0;
}

/* A row that takes whole batches of lines or NUL records (identity, upper)
 * does the batch in one call when it fits (*pos: the bytes written).
 * Returns the records done (all of them), 0 when not taken. */
static uint32_t whole_batch(char *out, uint64_t room, const char **pp, const char *end,
			    uint64_t *pos)
{
	uint32_t recs;

	if (!rpmap_fn.bi->batch || rpmap_fn.mode == RPMAP_BLOCK)
		return 0;
	recs = rpmap_fn.bi->batch(&rpmap_fn.conf, out, room, *pp, end, rpmap_fn.sep);
	if (recs) {
		*pos += (uint64_t)(end - *pp);
		*pp = end;
	}
	return recs;
}

/* Fill the result's header and failure table and set its length. Returns
 * 0, or -EPROTO if the parent counted other records. */
static int finish_result(struct rp_task *t, const struct rpmap_task_hdr *th,
			 struct rpmap_res_hdr *rh, uint64_t pos, uint32_t nrec, uint32_t nfail,
			 uint64_t t0)
{
	uint64_t fend = ALIGN8(pos);

	if (th->nrec && th->nrec != nrec)
		return -EPROTO;	/* the parent and the worker disagree on records */
	rh->nrec = nrec;
	rh->nfail = nfail;
	rh->magic = RPMAP_RES_MAGIC;
	rh->out_len = pos - sizeof(*rh);
	if (nfail) {
		if (fend + (uint64_t)nfail * sizeof(*fails) > th->cap)
			return RP_EMSGSIZE;	/* cannot happen: room was kept */
		memcpy((char *)rh + fend, fails, (size_t)nfail * sizeof(*fails));
	}
	rh->run_ns = now_ns() - t0;
	rp_task_result_len(t, fend + (uint64_t)nfail * sizeof(*fails));
	if (th->map_len)
		rpmap_map_drop(rpmap_fn.map + th->map_off, th->map_len);
	return 0;
}

/* Whether the failure table still has room for one more entry after `pos`
 * bytes of output (the parent's bound keeps room for one per batch). */
static bool fail_fits(const struct rpmap_task_hdr *th, uint64_t pos, uint32_t nfail)
{
	return ALIGN8(pos) + (uint64_t)(nfail + 1) * sizeof(*fails) <= th->cap;
}

/*
 * Run record i (n bytes at p) and account for it: its output added at
 * *pos, or a failure entry. With --timeout its run time is measured too:
 * the library kills a record past the limit only while the parent is
 * inside a ringpool call, so one that ran longer and finished meanwhile
 * fails here (its output dropped). Returns 0, or -2 when the batch must
 * stop before record i (*need: what its result asked for, 0 if not known).
 */
static int one_record(struct rp_task *t, const struct rpmap_task_hdr *th, char *out,
		      uint64_t *pos, uint32_t i, uint32_t *nfail, const char *p, size_t n,
		      bool has_sep, uint64_t *need)
{
	uint64_t limit = rpmap_fn.timeout_ns, t0 = limit ? now_ns() : 0;
	struct rpmap_rec rec = { .t = t, .index = th->first + i, .p = p, .n = n,
				 .has_sep = has_sep, .out = out + *pos, .room = th->cap - *pos,
				 .keep = keep_for(*pos, *nfail, has_sep) };
	int status;
	int64_t r;

	rp_task_mark(t, i);	/* a crash or a kill now names record i */
	r = rpmap_fn.bi->record(&rpmap_fn.conf, &rec);
	status = rec.status;
	if (r >= 0 && limit && now_ns() - t0 > limit) {
		status = RP_ETIMEDOUT;
		r = -3;
	}
	if (r == -2) {
		*need = rec.need;
		return -2;
	}
	if (r >= 0) {
		*pos += (uint64_t)r;
		return 0;
	}
	*need = 0;
	if (!fail_fits(th, *pos, *nfail) ||
	    !add_fail(*nfail, i, status, r == -3 ? RPMAP_WHY_TIMEOUT : RPMAP_WHY_STATUS,
		      *pos - sizeof(struct rpmap_res_hdr)))
		return -2;	/* no room for the failure: the rest runs again */
	++*nfail;
	return 0;
}

int rpmap_batch_task(struct rp_task *t, const void *in, size_t len)
{
	const struct rpmap_task_hdr *th = in;
	const char *p, *end;
	struct rpmap_res_hdr *rh;
	char *out;
	uint64_t t0 = now_ns(), pos, need = 0;
	uint32_t i, nfail = 0;
	bool has_sep, stopped = false;

	if (len < sizeof(*th) || batch_input(th, in, len, &p, &end))
		return -EINVAL;
	out = rp_task_result(t, th->cap);
	if (!out)
		return RP_EMSGSIZE;
	rh = (struct rpmap_res_hdr *)out;
	rh->need = 0;
	pos = sizeof(*rh);
	i = whole_batch(out + pos, th->cap - pos, &p, end, &pos);
	for (size_t n; (n = next_record(p, end, &has_sep)); p += n, i++) {
		if (stopped)
			continue;	/* only counting from here on */
		if (one_record(t, th, out, &pos, i, &nfail, p, n, has_sep, &need) == 0)
			continue;
		stopped = true;
		rh->ndone = i;
		rh->need = need;
	}
	if (!stopped)
		rh->ndone = i;
	return finish_result(t, th, rh, pos, i, nfail, t0);
}
