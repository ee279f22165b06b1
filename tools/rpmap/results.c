/* SPDX-License-Identifier: MIT */
/*
 * A task's way in and out: submitting records as one task (the result
 * space it reserves included), checking a result, writing its output and
 * reporting the records that failed (index, input byte, cause).
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void rpmap_out(struct eng *e, const void *p, size_t n)
{
	int r;

	if (e->stop || !n)
		return;
	r = rpmap_output_write(e->out, p, n);
	if (r == -EPIPE) {
		e->epipe = e->stop = true;
	} else if (r) {
		fprintf(stderr, "rpmap: %s: %s\n", e->out->name, strerror(-r));
		e->fatal = e->stop = true;
	}
}

/* Report record `rec` of batch b as failed; without --keep-going, stop. */
void rpmap_record_failed(struct eng *e, const struct rpmap_batch *b, uint32_t rec, int status,
			  unsigned flags, int sig, int code)
{
	const char *p;
	size_t len;
	uint64_t off = e->in->start + b->off;	/* a file offset, as in rpmap_shrank_report */
	char why[160];

	if (e->stop)
		return;
	if (rpmap_batch_record(b, rec, &p, &len))
		off += (uint64_t)(p - b->data);
	else
		p = NULL;
	if (rpmap_fn.bi->flags & RPMAP_BI_STRICT) {
		/* Corrupt input, not a record to skip: stop, exit status 2. */
		const char *w = p && rpmap_fn.bi->explain && !(flags & RP_RES_POOL)
					? rpmap_fn.bi->explain(&rpmap_fn.conf, p, len, status)
					: NULL;

		w = w ? w : status < 0 ? strerror(-status) : "failed";
		fprintf(stderr, "rpmap: %s: member %llu (input byte %llu): %s\n", e->in->name,
			(unsigned long long)(b->first + rec), (unsigned long long)off, w);
		if (e->o->joblog)
			fprintf(e->o->joblog, "%llu\t%llu\t%s\n",
				(unsigned long long)(b->first + rec), (unsigned long long)off, w);
		e->failed++;
		e->fatal = e->stop = true;
		return;
	}
	if ((flags & RP_RES_POOL) && status == RP_ECRASHED) {
		if (sig)
			snprintf(why, sizeof(why), "worker killed by signal %d (%s)", sig,
				 strsignal(sig));
		else
			snprintf(why, sizeof(why), "worker exited with status %d", code);
	} else if ((flags & RP_RES_POOL) && status == RP_ETIMEDOUT) {
		snprintf(why, sizeof(why), "timed out after %llu ms",
			 (unsigned long long)e->o->timeout_ms);
	} else if (status == RP_EMSGSIZE) {
		snprintf(why, sizeof(why), "result too large (more than %u MiB)",
			 RPMAP_MAX_RESULT >> 20);
	} else if (p && rpmap_fn.bi->explain && !(flags & RP_RES_POOL) &&
		   rpmap_fn.bi->explain(&rpmap_fn.conf, p, len, status)) {
		snprintf(why, sizeof(why), "%s", rpmap_fn.bi->explain(&rpmap_fn.conf, p, len, status));
	} else if (status < 0) {
		snprintf(why, sizeof(why), "%s (%d)", strerror(-status), status);
	} else {
		snprintf(why, sizeof(why), "status %d", status);
	}
	fprintf(stderr, "rpmap: record %llu (input byte %llu): %s%s\n",
		(unsigned long long)(b->first + rec), (unsigned long long)off, why,
		e->o->keep_going ? ", skipped" : "");
	if (e->o->joblog)
		fprintf(e->o->joblog, "%llu\t%llu\t%s\n", (unsigned long long)(b->first + rec),
			(unsigned long long)off, why);
	e->failed++;
	if (!e->o->keep_going)
		e->stop = true;
}

void rpmap_timed_out(struct eng *e, const struct rpmap_batch *b, uint32_t rec)
{
	rpmap_record_failed(e, b, rec, RP_ETIMEDOUT, RP_RES_POOL, 0, -1);
}

/* Report records from + f->rec .. of b as failed, as the entry of a
 * result's failure table says. */
void rpmap_entry_failed(struct eng *e, const struct rpmap_batch *b, uint32_t from,
			const struct rpmap_fail *f)
{
	if (f->why == RPMAP_WHY_TIMEOUT)
		rpmap_timed_out(e, b, from + f->rec);
	else
		rpmap_record_failed(e, b, from + f->rec, f->status, 0, 0, -1);
}

/* Report a single record's failure as its task's status says. */
void rpmap_single_failed(struct eng *e, const struct rpmap_batch *b, uint32_t rec,
			  const struct failure *f)
{
	if (f->kind == F_KILLED)
		rpmap_timed_out(e, b, rec);
	else
		rpmap_record_failed(e, b, rec, f->status ? f->status : -EPROTO, f->flags, f->sig,
			      f->code);
}

/* Give an uncounted batch (ordered mode) its record indices. */
void rpmap_place(struct eng *e, struct rpmap_batch *b, uint32_t nrec)
{
	if (!b->counted) {
		b->first = e->emit_index;
		b->nrec = nrec;
		b->counted = true;
	}
	if (b->first + b->nrec > e->emit_index)
		e->emit_index = b->first + b->nrec;
}

static bool valid_result(const void *data, size_t len)
{
	const struct rpmap_res_hdr *h = data;

	return len >= sizeof(*h) && h->magic == RPMAP_RES_MAGIC && h->ndone <= h->nrec &&
	       h->nfail <= h->ndone && sizeof(*h) + h->out_len <= len &&
	       ALIGN8(sizeof(*h) + h->out_len) + (uint64_t)h->nfail * sizeof(struct rpmap_fail) <= len;
}

/* A finished result for a task of cnt records (cnt 0: not known). */
bool rpmap_result_ok(const struct rp_result *r, uint32_t cnt)
{
	return r->status == 0 && valid_result(r->data, r->len) &&
	       (!cnt || ((const struct rpmap_res_hdr *)r->data)->nrec == cnt);
}

/*
 * Write the output of records from .. from + h->ndone of batch b (a valid
 * result) and report its failed records. Without --keep-going, output stops
 * at the first failed record.
 */
void rpmap_emit(struct eng *e, struct rpmap_batch *b, uint32_t from, const void *data)
{
	const struct rpmap_res_hdr *h = data;
	const char *o = (const char *)(h + 1);
	const struct rpmap_fail *f = (const void *)((const char *)data +
						     ALIGN8(sizeof(*h) + h->out_len));
	uint32_t k;

	if (e->stop)
		return;
	if (h->nfail && !e->o->keep_going) {
		/* Everything before the first failed record, then stop. */
		rpmap_out(e, o, f[0].out_off < h->out_len ? f[0].out_off : h->out_len);
		e->records += f[0].rec;
		rpmap_entry_failed(e, b, from, &f[0]);
		return;
	}
	rpmap_out(e, o, h->out_len);
	for (k = 0; k < h->nfail; k++)
		rpmap_entry_failed(e, b, from, &f[k]);
	e->records += h->ndone - h->nfail;
}

/*
 * Result space a task reserves: the function's bound; without one (a
 * plugin), its learnt output per input byte (the row's out_ratio at first)
 * times the input plus 64 KiB
 * (a record that needs more runs again alone, in a pool that holds it).
 * Never more than the pool's largest result.
 */
static uint64_t task_cap(const struct eng *e, const struct poolh *ph, size_t len, uint32_t nrec,
			 bool alone, uint64_t out_bound)
{
	uint64_t cap = rpmap_fn.bi->bound ? rpmap_result_bound(len, nrec)
		       : out_bound ? sizeof(struct rpmap_res_hdr) + 8 +
					     (nrec + 1ull) * sizeof(struct rpmap_fail) + out_bound
		       : alone ? ph->max_res
			       : (uint64_t)(e->out_ratio * (double)len) + 65536;

	return cap > ph->max_res ? ph->max_res : cap;
}

/*
 * Submit records from .. from + cnt of batch b (cnt 0: the whole batch) as
 * one task. Returns 0 and sets *seq, or rp_reserve's error.
 */
int rpmap_submit(struct eng *e, struct poolh *ph, struct rpmap_batch *b, uint32_t from,
		  uint32_t cnt, unsigned flags, uint64_t *seq)
{
	const char *p = b->data, *q;
	size_t len = b->len, l2;
	struct rpmap_task_hdr *th;
	bool mapped;
	void *buf;
	int r;

	if (cnt) {
		if (!rpmap_batch_record(b, from, &p, &l2) ||
		    !rpmap_batch_record(b, from + cnt - 1, &q, &l2))
			return rpmap_input_faulted() ? -ENODATA : -EINVAL;
		len = (size_t)(q + l2 - p);
	}
	mapped = b->seg->mapped;
	r = rp_reserve(ph->pool, NULL, sizeof(*th) + (mapped ? 0 : len), flags, &buf);
	if (r)
		return r;
	th = buf;
	th->first = b->first + from;
	th->nrec = cnt ? cnt : b->counted ? b->nrec : 0;
	/* Members: what the whole batch decodes to is known (a part of it
	 * would need its own sum: it runs with the learnt ratio). */
	th->cap = (uint32_t)task_cap(e, ph, len, th->nrec, cnt == 1, cnt ? 0 : b->out_bound);
	th->map_off = mapped ? (uint64_t)(p - rpmap_fn.map) : 0;
	th->map_len = mapped ? len : 0;
	if (!mapped)
		memcpy(th + 1, p, len);
	return rp_commit(ph->pool, sizeof(*th) + (mapped ? 0 : len), 0, seq);
}
