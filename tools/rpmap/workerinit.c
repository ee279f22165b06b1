/* SPDX-License-Identifier: MIT */
/*
 * The initializer of exec'd workers (--spawn): they start with nothing of
 * the parent's but the pool's region, so rpmap_worker_init sets the run's
 * settings again from its arguments, loads the plugin by its absolute path
 * and maps the input file through the parent's fd (/proc/PPID/fd/N).
 */
#include "rpmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open the parent's fd `fd` anew (a new open file description). */
static int open_parent_fd(int ppid, int fd, int flags, struct stat *st)
{
	char path[64];
	int f;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", ppid, fd);
	f = open(path, flags | O_CLOEXEC);
	if (f < 0)
		return -errno;
	if (fstat(f, st) < 0) {
		int err = -errno;

		close(f);
		return err;
	}
	return f;
}

/* The function's row by name, its argument parsed again (a plugin is
 * loaded again). Returns 0 or -errno. */
static int set_function(struct rpmap_init *a)
{
	char why[256];

	a->name[sizeof(a->name) - 1] = 0;
	a->fn.conf.arg[sizeof(a->fn.conf.arg) - 1] = 0;
	rpmap_fn.bi = rpmap_builtin_find(a->name);
	if (!rpmap_fn.bi)
		return -EINVAL;
	if (!rpmap_fn.bi->parse)
		return 0;
	/* The plain fields stay as the parent set them; parse rebuilds the
	 * rest from the argument the parent kept. */
	return rpmap_fn.bi->parse(a->fn.conf.arg[0] ? a->fn.conf.arg : NULL, &rpmap_fn.conf,
				  why, sizeof(why));
}

int rpmap_worker_init(unsigned worker, const void *args, size_t len, void **state)
{
	static struct rpmap_init a;	/* read once from the region, then used */
	struct stat st;
	void *m;
	int fd, r;

	(void)worker;
	*state = NULL;
	if (!args || len != sizeof(a))
		return -EINVAL;
	memcpy(&a, args, sizeof(a));
	if (a.fn.mode > RPMAP_CHUNKS || (a.fn.mode == RPMAP_BLOCK && !a.fn.block))
		return -EINVAL;
	rpmap_fn = a.fn;
	rpmap_fn.conf.plugin = NULL;
	rpmap_fn.map = NULL;
	rpmap_fn.map_size = 0;
	r = set_function(&a);
	if (r)
		return r;
	if (a.map_fd >= 0 && a.fn.map_size) {
		fd = open_parent_fd(a.ppid, a.map_fd, O_RDONLY, &st);
		if (fd < 0)
			return fd;
		long pg = sysconf(_SC_PAGESIZE);
		size_t skew = (size_t)(a.fn.map_start % (uint64_t)(pg > 0 ? pg : 4096));

		/* The very file the parent mapped. It may have shrunk since: a
		 * read past its end then kills this worker by SIGBUS, and the
		 * parent, seeing the file shorter, stops the input there. */
		if ((uint64_t)st.st_dev != a.map_dev || (uint64_t)st.st_ino != a.map_ino) {
			close(fd);
			return -ESTALE;
		}
		m = mmap(NULL, skew + (size_t)a.fn.map_size, PROT_READ, MAP_PRIVATE, fd,
			 (off_t)(a.fn.map_start - skew));
		r = m == MAP_FAILED ? -errno : 0;
		close(fd);
		if (r)
			return r;
		madvise(m, skew + (size_t)a.fn.map_size, MADV_SEQUENTIAL);
		rpmap_fn.map = (char *)m + skew;
		rpmap_fn.map_size = a.fn.map_size;
		rpmap_fn.map_start = a.fn.map_start;
	}
	return 0;
}
