/* SPDX-License-Identifier: MIT */
/*
 * The chunk codec: several tasks in one ring record, and their results in
 * one result record. The only place that knows the layout; used by map
 * jobs, rp_imap and the worker's record runner (task.c).
 *
 * Task payload:   struct rp_chunk_in {count, out_cap}, count entries
 *                 {offset in the data area, length}, the data area (each
 *                 input 8-byte aligned).
 * Result payload: struct rp_chunk_in (echoed), count entries {status,
 *                 length}, then count slots of out_cap bytes.
 */
#ifndef RP_CHUNK_H
#define RP_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringpool.h"	/* RP_CHUNK_MAX */

struct rp_chunk_in {
	uint32_t count;
	uint32_t out_cap;
};

struct rp_chunk_ent {
	uint32_t off;		/* input: data offset; result: status (int32) */
	uint32_t len;
};

/* Input bytes of a chunk of `count` inputs of at most in_size bytes each. */
size_t rp__chunk_in_size(uint32_t count, size_t in_size);

/* Result bytes of a chunk of `count` tasks with out_cap-byte slots. */
uint64_t rp__chunk_out_size(uint32_t count, uint32_t out_cap);

/*
 * How many tasks of at most in_size input and out_size result bytes fit in
 * one record of at most max_payload bytes, both ways, capped at want and
 * RP_CHUNK_MAX; at least 1.
 */
uint32_t rp__chunk_fit(uint64_t max_payload, size_t in_size, size_t out_size, uint32_t want);

/* Writing a chunk's input in place (in a reserved task record). */
struct rp_chunk_enc {
	unsigned char *buf;
	uint32_t max;		/* entries reserved */
	uint32_t count;		/* entries written */
	uint32_t out_cap;
	size_t data;		/* bytes used in the data area */
};

/* Start a chunk of at most `max` inputs at buf (rp__chunk_in_size(max, ...)
 * bytes reserved). */
void rp__chunk_begin(struct rp_chunk_enc *e, void *buf, uint32_t max, uint32_t out_cap);

/* Space for the next input of at most cap bytes; fill it, then call
 * rp__chunk_commit with its length (<= cap). */
void *rp__chunk_space(struct rp_chunk_enc *e);
void rp__chunk_commit(struct rp_chunk_enc *e, size_t len);

/* Finish: writes the header (moving the data down if fewer than max inputs
 * were added). Returns the record's length. */
size_t rp__chunk_end(struct rp_chunk_enc *e);

/* Worker side: the result size a chunk input asks for, after checking its
 * header against its length; 0 if the input is not a valid chunk. */
uint64_t rp__chunk_result_size(const void *in, size_t len);

/*
 * Parent side: hand each task of a chunk result to fn (k = index in the
 * chunk), after checking the header against what was sent (count, out_cap,
 * length): a failed or malformed chunk gives every task RP_EPROTO (or the
 * record's own status) flagged RP_RES_POOL; an entry longer than its slot
 * gives that task RP_EPROTO. Returns 0, or fn's first non-zero return (and
 * stops there).
 */
typedef int (*rp__chunk_fn)(void *arg, uint32_t k, const void *data, uint32_t len, int status,
			    unsigned flags);
int rp__chunk_each(const struct rp_result *res, uint32_t count, size_t out_cap,
		   rp__chunk_fn fn, void *arg);

#endif
