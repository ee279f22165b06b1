/* SPDX-License-Identifier: MIT */
/*
 * A shared memory region backed by an anonymous memfd: created with
 * MFD_CLOEXEC | MFD_ALLOW_SEALING, sized, sealed against shrinking and
 * growing (then F_SEAL_SEAL), and mapped MAP_SHARED. No name in /dev/shm, so
 * nothing is left behind: the memory goes with the last fd and mapping.
 *
 * The creator's mapping is not inherited by fork() (MADV_DONTFORK): a child
 * sees the region only by mapping it from the fd. A peer maps either the
 * whole region (rp_region_attach) or a view: the region's address range
 * reserved inaccessible, with only the windows it needs mapped into it at
 * their offsets (rp_region_view + rp_region_view_map), read-only or
 * writable. A stray write outside a peer's windows faults in the peer.
 * Pages are not populated here: rp_region_populate does it when asked.
 */
#ifndef RP_REGION_H
#define RP_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_region {
	void *base;
	size_t size;
	int fd;
};

/*
 * Create, size, seal and map a region of `size` bytes (rounded up to the page
 * size). `name` shows in /proc/PID/fd for debugging. The fd is never 0, 1 or
 * 2 (see rp_fd_high). Returns 0, or -EINVAL (size 0), -ENOMEM, -EMFILE, or
 * another -errno from memfd_create, ftruncate, fcntl or mmap. On error
 * nothing is left open or mapped.
 */
int rp_region_create(struct rp_region *r, const char *name, size_t size);

/*
 * Map a whole region from an inherited fd. Checks that it is sealed against
 * shrinking and growing, so the creator cannot truncate it under us.
 * Returns 0, -EBADF, -EPERM (not sealed), or -errno from fstat/mmap.
 */
int rp_region_attach(struct rp_region *r, int fd);

/*
 * Reserve the address range of the region behind fd (same checks as
 * rp_region_attach) without mapping any of it: every byte faults until
 * rp_region_view_map maps a window there. Returns 0 or -errno as attach.
 */
int rp_region_view(struct rp_region *r, int fd);

/*
 * Map [off, off + len) of the region at base + off, read-only or writable.
 * off and len must be page multiples inside the region. Returns 0, -EINVAL,
 * or -errno from mmap.
 */
int rp_region_view_map(struct rp_region *r, uint64_t off, uint64_t len, bool writable);

/*
 * Allocate the pages of [off, off + len) now (MADV_POPULATE_WRITE, or one
 * write fault per page before Linux 5.14), so later accesses do not fault.
 * The range must be mapped writable. Returns 0 or -errno.
 */
int rp_region_populate(struct rp_region *r, uint64_t off, uint64_t len);

/* Unmap and close. Safe on a zeroed struct and to call twice. */
void rp_region_destroy(struct rp_region *r);

/*
 * Move fd above the standard streams: if fd is 0, 1 or 2 (one of them was
 * closed when it was opened), duplicate it to the lowest free fd >= 3
 * (close-on-exec) and close the original. Returns the fd to use, or -errno
 * (fd is closed then).
 */
int rp_fd_high(int fd);

#endif
