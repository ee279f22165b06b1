/* SPDX-License-Identifier: MIT */
/*
 * The memfd region: sized to pages, sealed against shrink and grow (so a peer
 * cannot truncate it under us), attachable from an inherited fd, and gone
 * without a trace on destroy.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rp_region.h"

Test(region, create_seals_and_rounds)
{
	struct rp_region r;
	int seals;

	cr_assert_eq(rp_region_create(&r, "t", 1), 0);
	cr_assert_eq(r.size % (size_t)sysconf(_SC_PAGESIZE), 0);
	seals = fcntl(r.fd, F_GET_SEALS);
	cr_assert(seals & F_SEAL_SHRINK);
	cr_assert(seals & F_SEAL_GROW);
	cr_assert(seals & F_SEAL_SEAL);
	cr_assert_eq(ftruncate(r.fd, 0), -1, "a sealed region cannot shrink");
	cr_assert_eq(ftruncate(r.fd, (off_t)r.size * 2), -1, "nor grow");
	cr_assert(fcntl(r.fd, F_GETFD) & FD_CLOEXEC);
	rp_region_destroy(&r);
	rp_region_destroy(&r); /* twice is fine */
}

Test(region, zero_size_is_invalid)
{
	struct rp_region r;

	cr_assert_eq(rp_region_create(&r, "t", 0), -EINVAL);
	cr_assert_eq(r.fd, -1);
}

Test(region, attach_sees_same_memory)
{
	struct rp_region a, b;

	cr_assert_eq(rp_region_create(&a, "t", 8192), 0);
	cr_assert_eq(rp_region_attach(&b, dup(a.fd)), 0);
	cr_assert_eq(b.size, a.size);
	((volatile int *)a.base)[100] = 1234;
	cr_assert_eq(((volatile int *)b.base)[100], 1234);
	rp_region_destroy(&b);
	rp_region_destroy(&a);
}

Test(region, attach_refuses_unsealed)
{
	struct rp_region r;
	int fd = memfd_create("unsealed", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	cr_assert_eq(rp_region_attach(&r, fd), -EPERM);
	cr_assert_eq(rp_region_attach(&r, -1), -EBADF);
	close(fd);
}
