/* SPDX-License-Identifier: MIT */
/*
 * The memfd region: sized to pages, sealed against shrink and grow (so a peer
 * cannot truncate it under us), attachable from an inherited fd, never
 * inherited as a mapping, viewable in read-only and writable windows, and
 * gone without a trace on destroy.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
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

Test(region, creator_mapping_is_not_inherited)
{
	struct rp_region r;
	pid_t pid;
	int st;

	cr_assert_eq(rp_region_create(&r, "t", 4096), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* The address must not be mapped here: mincore fails with ENOMEM. */
		unsigned char v;

		_exit(mincore(r.base, 4096, &v) == 0 ? 1 : errno == ENOMEM ? 0 : 2);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	rp_region_destroy(&r);
}

Test(region, view_maps_only_its_windows, .signal = SIGSEGV)
{
	struct rp_region a, v;
	long pg = sysconf(_SC_PAGESIZE);
	volatile unsigned char *p;

	cr_assert_eq(rp_region_create(&a, "t", 4 * (size_t)pg), 0);
	memset(a.base, 7, 4 * (size_t)pg);
	cr_assert_eq(rp_region_view(&v, dup(a.fd)), 0);
	cr_assert_eq(v.size, 4 * (size_t)pg);
	cr_assert_eq(rp_region_view_map(&v, 0, (uint64_t)pg, false), 0);
	cr_assert_eq(rp_region_view_map(&v, 2 * (uint64_t)pg, (uint64_t)pg, true), 0);
	cr_assert_eq(rp_region_view_map(&v, 1, (uint64_t)pg, true), -EINVAL, "unaligned");
	cr_assert_eq(rp_region_view_map(&v, 3 * (uint64_t)pg, 2 * (uint64_t)pg, true), -EINVAL,
		     "past the end");
	p = v.base;
	cr_assert_eq(p[0], 7);
	p[2 * pg] = 9;
	cr_assert_eq(((unsigned char *)a.base)[2 * pg], 9, "the window is the same memory");
	cr_assert_eq(rp_region_populate(&v, 2 * (uint64_t)pg, (uint64_t)pg), 0);
	p[pg] = 1;	/* not mapped: faults */
}

Test(region, view_read_only_window_faults_on_write, .signal = SIGSEGV)
{
	struct rp_region a, v;

	cr_assert_eq(rp_region_create(&a, "t", 4096), 0);
	cr_assert_eq(rp_region_view(&v, dup(a.fd)), 0);
	cr_assert_eq(rp_region_view_map(&v, 0, 4096, false), 0);
	((volatile unsigned char *)v.base)[0] = 1;
}

Test(region, fd_high_moves_standard_numbers)
{
	int fd;

	close(0);
	fd = open("/dev/null", O_RDONLY);
	cr_assert_eq(fd, 0);
	fd = rp_fd_high(fd);
	cr_assert_geq(fd, 3);
	cr_assert_eq(fcntl(0, F_GETFD), -1, "the low fd is closed");
	cr_assert_eq(rp_fd_high(fd), fd, "a high fd is kept");
	cr_assert_eq(rp_fd_high(-1), -1);
	close(fd);
}
