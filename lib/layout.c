/* SPDX-License-Identifier: MIT */
/*
 * The region's layout (computed by the parent, validated by workers) and a
 * worker's view of the region. See layout.h.
 */
#include "rp_internal.h"

#include <string.h>
#include <unistd.h>

static bool add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

int rp__layout_compute(struct rp_layout *l, unsigned nworkers, uint64_t ring_bytes,
		       uint64_t init_args_len)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), blocks;

	memset(l, 0, sizeof(*l));	/* padding too: rp__layout_load compares */
	l->page = pg;
	l->nworkers = nworkers;
	l->ring_bytes = ring_bytes;
	l->init_args_off = RP_ALIGN_UP((uint64_t)sizeof(struct rp_shared), (uint64_t)RP_CACHELINE);
	l->init_args_len = init_args_len;
	l->hdr_len = RP_ALIGN_UP(l->init_args_off + init_args_len, pg);
	l->bell_off = l->hdr_len;
	l->blocks_off = l->bell_off + pg;
	l->wctl_len = RP_ALIGN_UP((uint64_t)sizeof(struct rp_wctl), pg);
	l->ring_len = RP_ALIGN_UP((uint64_t)rp_ring_memsize(ring_bytes), pg);
	l->block_len = l->wctl_len + 2 * l->ring_len;
	if (__builtin_mul_overflow(l->block_len, (uint64_t)(nworkers ? nworkers : 1), &blocks) ||
	    !add_ok(l->blocks_off, blocks, &l->size))
		return -EINVAL;
	return 0;
}

void rp__layout_store(const struct rp_layout *l, struct rp_shared *sh)
{
	sh->size = l->size;
	sh->page = l->page;
	sh->hdr_len = l->hdr_len;
	sh->init_args_off = l->init_args_off;
	sh->init_args_len = l->init_args_len;
	sh->bell_off = l->bell_off;
	sh->blocks_off = l->blocks_off;
	sh->block_len = l->block_len;
	sh->wctl_len = l->wctl_len;
	sh->ring_len = l->ring_len;
	sh->ring_bytes = l->ring_bytes;
	sh->nworkers = l->nworkers;
}

int rp__layout_load(struct rp_layout *l, const struct rp_shared *sh, uint64_t region_size)
{
	struct rp_layout want;

	/* Read once; then recompute from the three free numbers and demand
	 * that every derived one agrees: nothing else can be inconsistent. */
	memset(l, 0, sizeof(*l));
	l->size = sh->size;
	l->page = sh->page;
	l->hdr_len = sh->hdr_len;
	l->init_args_off = sh->init_args_off;
	l->init_args_len = sh->init_args_len;
	l->bell_off = sh->bell_off;
	l->blocks_off = sh->blocks_off;
	l->block_len = sh->block_len;
	l->wctl_len = sh->wctl_len;
	l->ring_len = sh->ring_len;
	l->ring_bytes = sh->ring_bytes;
	l->nworkers = sh->nworkers;
	if (l->nworkers > RP_MAX_WORKERS || l->init_args_len > RP_MAX_INIT_ARGS ||
	    l->ring_bytes < RP_RING_MIN_CAP || l->ring_bytes > RP_RING_MAX_CAP ||
	    (l->ring_bytes & (l->ring_bytes - 1)) ||
	    rp__layout_compute(&want, l->nworkers, l->ring_bytes, l->init_args_len) ||
	    memcmp(&want, l, sizeof(want)) || l->size > region_size)
		return -EPROTO;
	return 0;
}

int rp__view_map(struct rp_region *reg, int fd, unsigned idx, struct rp_layout *l)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), hdr;
	const struct rp_shared *sh;
	int err;

	err = rp_region_view(reg, fd);
	if (err)
		return err;
	if (reg->size < pg || (err = rp_region_view_map(reg, 0, pg, false)))
		goto fail;
	sh = reg->base;
	hdr = sh->hdr_len;	/* read once: the full header's length */
	err = -EPROTO;
	if (sh->magic != RP_SHARED_MAGIC || sh->version != RP_SHARED_VERSION || !hdr ||
	    hdr % pg || hdr > reg->size)
		goto fail;
	if (hdr > pg && (err = rp_region_view_map(reg, 0, hdr, false)))
		goto fail;
	err = rp__layout_load(l, sh, reg->size);
	if (!err && idx >= l->nworkers)
		err = -EPROTO;
	if (err || (err = rp_region_view_map(reg, l->bell_off, l->page, true)) ||
	    (err = rp_region_view_map(reg, rp__block_off(l, idx), l->block_len, true)))
		goto fail;
	return 0;
fail:
	reg->fd = -1;	/* the caller owns fd */
	rp_region_destroy(reg);
	return err;
}
