/* SPDX-License-Identifier: MIT */
/*
 * A shared memory region backed by an anonymous memfd: created with
 * MFD_CLOEXEC | MFD_ALLOW_SEALING, sized, sealed against shrinking and
 * growing (then F_SEAL_SEAL), and mapped MAP_SHARED. No name in /dev/shm, so
 * nothing is left behind: the memory goes with the last fd and mapping.
 * A process that inherits the fd (fork, or exec with the fd kept open)
 * attaches with rp_region_attach(), which refuses an unsealed region.
 */
#ifndef RP_REGION_H
#define RP_REGION_H

#include <stddef.h>

struct rp_region {
	void *base;
	size_t size;
	int fd;
};

/*
 * Create, size, seal and map a region of `size` bytes (rounded up to the page
 * size). `name` shows in /proc/PID/fd for debugging. Returns 0, or -EINVAL
 * (size 0), -ENOMEM, -EMFILE, or another -errno from memfd_create, ftruncate,
 * fcntl or mmap. On error nothing is left open or mapped.
 */
int rp_region_create(struct rp_region *r, const char *name, size_t size);

/*
 * Map a region from an inherited fd. Checks that it is sealed against
 * shrinking and growing, so the creator cannot truncate it under us.
 * Returns 0, -EBADF, -EPERM (not sealed), or -errno from fstat/mmap.
 */
int rp_region_attach(struct rp_region *r, int fd);

/* Unmap and close. Safe on a zeroed struct and to call twice. */
void rp_region_destroy(struct rp_region *r);

#endif
