/* SPDX-License-Identifier: MIT */
/*
 * memfd-backed shared region: create, seal, map, attach. See rp_region.h.
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

#define SEALS_REQUIRED (F_SEAL_SHRINK | F_SEAL_GROW)

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
	fd = memfd_create(name ? name : "ringpool", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto fail;
	if (fcntl(fd, F_ADD_SEALS, SEALS_REQUIRED | F_SEAL_SEAL) < 0)
		goto fail;
	/* MAP_POPULATE: take the page faults now, not on the hot path. */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (base == MAP_FAILED)
		goto fail;
	r->base = base;
	r->size = size;
	r->fd = fd;
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

int rp_region_attach(struct rp_region *r, int fd)
{
	struct stat st;
	void *base;
	int seals;

	r->base = NULL;
	r->size = 0;
	r->fd = -1;
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
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		    fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	r->base = base;
	r->size = (size_t)st.st_size;
	r->fd = fd;
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
