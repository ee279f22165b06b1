/* SPDX-License-Identifier: MIT */
/*
 * Where everything lives in a pool's region, and the view a worker maps.
 *
 *   [0, hdr_len)            struct rp_shared + init args: written by the
 *                           parent only, mapped read-only by workers
 *   [bell_off, +page)       the parent's doorbell: every worker rings it
 *   block i, at blocks_off + i * block_len, for worker i only:
 *     struct rp_wctl (one page), task ring, result ring (each page-aligned)
 *
 * Each worker maps the header read-only, the doorbell page and its own
 * block writable, and nothing else: a stray write into another worker's
 * rings, or into anything the parent reads its settings from, faults in the
 * worker that made it. The parent maps everything (never inherited by fork).
 */
#ifndef RP_LAYOUT_H
#define RP_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "rp_region.h"

struct rp_shared;
struct rp_wctl;
struct rp_evc;

/* A private copy of the layout: computed by the parent, read once and
 * validated by a worker. */
struct rp_layout {
	uint64_t size;		/* region bytes */
	uint64_t page;
	uint64_t hdr_len;	/* header + init args, page multiple */
	uint64_t init_args_off, init_args_len;
	uint64_t bell_off;
	uint64_t blocks_off;
	uint64_t block_len;
	uint64_t wctl_len;	/* one page (struct rp_wctl fits) */
	uint64_t ring_len;	/* rp_ring_memsize(ring_bytes), page multiple */
	uint64_t ring_bytes;
	unsigned nworkers;
};

/* Compute the layout of a pool. Returns 0 or -EINVAL (overflow). */
int rp__layout_compute(struct rp_layout *l, unsigned nworkers, uint64_t ring_bytes,
		       uint64_t init_args_len);

/* Record the layout in the header (parent, before any worker starts). */
void rp__layout_store(const struct rp_layout *l, struct rp_shared *sh);

/*
 * Read the layout from a header, once, and check every number against the
 * region's size and against itself. Returns 0 or -EPROTO.
 */
int rp__layout_load(struct rp_layout *l, const struct rp_shared *sh, uint64_t region_size);

static inline struct rp_evc *rp__bell(void *base, const struct rp_layout *l)
{
	return (struct rp_evc *)((unsigned char *)base + l->bell_off);
}

static inline uint64_t rp__block_off(const struct rp_layout *l, unsigned i)
{
	return l->blocks_off + (uint64_t)i * l->block_len;
}

static inline struct rp_wctl *rp__wctl(void *base, const struct rp_layout *l, unsigned i)
{
	return (struct rp_wctl *)((unsigned char *)base + rp__block_off(l, i));
}

static inline void *rp__task_ring(void *base, const struct rp_layout *l, unsigned i)
{
	return (unsigned char *)base + rp__block_off(l, i) + l->wctl_len;
}

static inline void *rp__result_ring(void *base, const struct rp_layout *l, unsigned i)
{
	return (unsigned char *)rp__task_ring(base, l, i) + l->ring_len;
}

/*
 * In a worker: map worker idx's view of the region behind fd into *reg
 * (see above) and load the layout into *l. Returns 0, -EPROTO (not a valid
 * pool region, or idx out of range), or -errno from mmap.
 */
int rp__view_map(struct rp_region *reg, int fd, unsigned idx, struct rp_layout *l);

#endif
