/* SPDX-License-Identifier: MIT */
/*
 * The chunk codec (see chunk.h): sizes, the in-place encoder, the worker's
 * check of an input, and the parent's reader of a chunk result.
 */
#include "chunk.h"
#include "ringpool.h"
#include "rp_compiler.h"

#include <string.h>

size_t rp__chunk_in_size(uint32_t count, size_t in_size)
{
	return sizeof(struct rp_chunk_in) +
	       (size_t)count * (sizeof(struct rp_chunk_ent) + RP_ALIGN_UP(in_size, (size_t)8));
}

uint64_t rp__chunk_out_size(uint32_t count, uint32_t out_cap)
{
	return sizeof(struct rp_chunk_in) +
	       (uint64_t)count * (sizeof(struct rp_chunk_ent) + out_cap);
}

uint32_t rp__chunk_fit(uint64_t max_payload, size_t in_size, size_t out_size, uint32_t want)
{
	uint64_t per = sizeof(struct rp_chunk_ent) +
		       RP_ALIGN_UP(in_size > out_size ? in_size : out_size, (size_t)8);
	uint64_t fit = max_payload > sizeof(struct rp_chunk_in)
			       ? (max_payload - sizeof(struct rp_chunk_in)) / per
			       : 0;

	if (want > RP_CHUNK_MAX)
		want = RP_CHUNK_MAX;
	if (fit < want)
		want = (uint32_t)fit;
	return want ? want : 1;
}

void rp__chunk_begin(struct rp_chunk_enc *e, void *buf, uint32_t max, uint32_t out_cap)
{
	e->buf = buf;
	e->max = max;
	e->count = 0;
	e->out_cap = out_cap;
	e->data = 0;
}

static unsigned char *data_area(const struct rp_chunk_enc *e, uint32_t entries)
{
	return e->buf + sizeof(struct rp_chunk_in) + (size_t)entries * sizeof(struct rp_chunk_ent);
}

void *rp__chunk_space(struct rp_chunk_enc *e)
{
	return data_area(e, e->max) + e->data;
}

void rp__chunk_commit(struct rp_chunk_enc *e, size_t len)
{
	struct rp_chunk_ent ent = { .off = (uint32_t)e->data, .len = (uint32_t)len };

	memcpy(e->buf + sizeof(struct rp_chunk_in) + (size_t)e->count * sizeof(ent), &ent,
	       sizeof(ent));
	e->count++;
	e->data += RP_ALIGN_UP(len, (size_t)8);
}

size_t rp__chunk_end(struct rp_chunk_enc *e)
{
	struct rp_chunk_in h = { .count = e->count, .out_cap = e->out_cap };

	/* The data area starts after `count` entries: move it down if fewer
	 * than max were added. */
	if (e->count < e->max && e->data)
		memmove(data_area(e, e->count), data_area(e, e->max), e->data);
	memcpy(e->buf, &h, sizeof(h));
	return (size_t)(data_area(e, e->count) - e->buf) + e->data;
}

uint64_t rp__chunk_result_size(const void *in, size_t len)
{
	struct rp_chunk_in h;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, in, sizeof(h));
	if (!h.count || h.count > RP_CHUNK_MAX ||
	    len < sizeof(h) + (uint64_t)h.count * sizeof(struct rp_chunk_ent))
		return 0;
	return rp__chunk_out_size(h.count, h.out_cap);
}

int rp__chunk_each(const struct rp_result *res, uint32_t count, size_t out_cap,
		   rp__chunk_fn fn, void *arg)
{
	const unsigned char *d = res->data, *slots;
	const struct rp_chunk_ent *e;
	struct rp_chunk_in h;
	uint32_t k;
	int bad, err;

	if (res->status || res->len < sizeof(h)) {
		/* The whole chunk failed (crash, protocol error): every task. */
		for (k = 0; k < count; k++)
			if ((err = fn(arg, k, "", 0, res->status ? res->status : RP_EPROTO,
				      RP_RES_POOL)))
				return err;
		return 0;
	}
	/* The header is read once and checked against what we sent; the
	 * worker could still be writing, so each entry is copied out too. */
	memcpy(&h, d, sizeof(h));
	e = (const void *)(d + sizeof(h));
	bad = h.count != count || h.out_cap != out_cap ||
	      res->len < rp__chunk_out_size(count, (uint32_t)out_cap);
	slots = d + sizeof(h) + (size_t)count * sizeof(*e);
	for (k = 0; k < count; k++) {
		struct rp_chunk_ent ent = { .off = (uint32_t)RP_EPROTO, .len = 0 };
		unsigned flags = bad ? RP_RES_POOL : 0;

		if (!bad)
			memcpy(&ent, &e[k], sizeof(ent));
		/* An honest worker never writes past a slot (the runner caps
		 * each task's result at out_cap): a longer entry is a lie. */
		if (ent.len > out_cap) {
			ent.off = (uint32_t)RP_EPROTO;
			ent.len = 0;
			flags = RP_RES_POOL;
		}
		if ((err = fn(arg, k, flags ? (const void *)"" : slots + (size_t)k * out_cap,
			      ent.len, (int32_t)ent.off, flags)))
			return err;
	}
	return 0;
}
