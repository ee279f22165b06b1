/* SPDX-License-Identifier: MIT */
/*
 * memfd-backed shared region: create, seal, map, attach, views. See
 * rp_region.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "rp_region.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define SEALS_REQUIRED (F_SEAL_SHRINK | F_SEAL_GROW)

int rp_fd_high(int fd)
{
	int hi;

	if (fd < 0 || fd > 2)
		return fd;
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (hi < 0)
		hi = -errno;
	close(fd);
	return hi;
}

int rp_region_create(struct rp_region *r, const char *name, size_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *base;
	int fd, err;

	r->base = NULL;
	r->size = 0;
	r->fd = -1;
	if (!size)
		return -EINVAL;
	size = (size + (size_t)pg - 1) & ~((size_t)pg - 1);
	fd = rp_fd_high(memfd_create(name ? name : "ringpool", MFD_CLOEXEC | MFD_ALLOW_SEALING));
	if (fd < 0)
		return fd == -1 ? -errno : fd;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	if (fcntl(fd, F_ADD_SEALS, SEALS_REQUIRED | F_SEAL_SEAL) < 0)
		goto fail;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	/* Children map what they need from the fd; they never inherit ours. */
	if (madvise(base, size, MADV_DONTFORK) < 0) {
		err = -errno;
		munmap(base, size);
		close(fd);
		return err;
	}
	r->base = base;
	r->size = size;
	r->fd = fd;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

/* The sealed size of the region behind fd, or -errno. */
static long long sealed_size(int fd)
{
	struct stat st;
	int seals;

	if (fd < 0)
		return -EBADF;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	if ((seals & SEALS_REQUIRED) != SEALS_REQUIRED)
		return -EPERM;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0)
		return -EINVAL;
	return (long long)st.st_size;
}

static int map_region(struct rp_region *r, int fd, int prot, int flags)
{
	long long size = sealed_size(fd);
	void *base;

	r->base = NULL;
	r->size = 0;
	r->fd = -1;
	if (size < 0)
		return (int)size;
	base = mmap(NULL, (size_t)size, prot, flags, flags & MAP_ANONYMOUS ? -1 : fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	r->base = base;
	r->size = (size_t)size;
	r->fd = fd;
	return 0;
}

int rp_region_attach(struct rp_region *r, int fd)
{
	return map_region(r, fd, PROT_READ | PROT_WRITE, MAP_SHARED);
}

int rp_region_view(struct rp_region *r, int fd)
{
	return map_region(r, fd, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
}

int rp_region_view_map(struct rp_region *r, uint64_t off, uint64_t len, bool writable)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE);
	void *at;

	if (!r->base || !len || (off | len) & (pg - 1) || off > r->size || len > r->size - off)
		return -EINVAL;
	at = mmap((unsigned char *)r->base + off, (size_t)len,
		  PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED | MAP_FIXED, r->fd,
		  (off_t)off);
	return at == MAP_FAILED ? -errno : 0;
}

int rp_region_populate(struct rp_region *r, uint64_t off, uint64_t len)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), a;
	volatile unsigned char *p;

	if (!r->base || off > r->size || len > r->size - off)
		return -EINVAL;
	a = off & ~(pg - 1);
	len += off - a;
	if (madvise((unsigned char *)r->base + a, (size_t)len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;	/* ENOMEM, EFAULT, EHWPOISON... */
	/* Before 5.14: one write fault per page, leaving the byte as it was.
	 * Only for memory nobody else writes yet (a region being set up). */
	p = (volatile unsigned char *)r->base + a;
	for (uint64_t i = 0; i < len; i += pg)
		p[i] = p[i];
	return 0;
}

void rp_region_destroy(struct rp_region *r)
{
	if (r->base)
		munmap(r->base, r->size);
	if (r->fd >= 0)
		close(r->fd);
	r->base = NULL;
	r->size = 0;
	r->fd = -1;
}
