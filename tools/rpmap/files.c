/* SPDX-License-Identifier: MIT */
/*
 * Several input files, read in order as one stream: `rpmap FUNCTION FILE...`
 * as cat reads them. Each file is read (not mapped: the mapping is one
 * file), and its end is an end of input to the cutter, so a record never
 * spans two files; the engine then opens the next one and cuts on, with
 * record indices and input offsets counted across the files.
 */
#include "rpmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rpmap_inputs_open(struct rpmap_input *in, const char *const *paths, unsigned n,
		      size_t max_record)
{
	int r = rpmap_input_open(in, paths[0], max_record, n == 1);

	in->paths = paths;
	in->npaths = n;
	in->ipath = 0;
	if (n > 1)
		in->size = 0;	/* the stream's size is not this file's */
	return r;
}

int rpmap_input_next(struct rpmap_input *in)
{
	const char *path;
	struct stat st;
	int fd;

	if (!in->paths || in->ipath + 1 >= in->npaths)
		return 0;
	path = in->paths[++in->ipath];
	if (!strcmp(path, "-")) {
		fd = 0;
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fd = -errno;
		fprintf(stderr, "rpmap: %s: %s\n", path, strerror(-fd));
		return fd;
	}
	if (in->fd > 0)
		close(in->fd);
	in->fd = fd;
	in->name = fd ? path : "standard input";
	in->regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	in->eof = false;
	if (in->regular)
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 1;
}

const char *rpmap_inputs_clash(const char *const *paths, unsigned n, const char *outpath)
{
	struct stat o, i;

	if (outpath && strcmp(outpath, "-") ? stat(outpath, &o) : fstat(1, &o))
		return NULL;	/* no such output yet: it cannot be an input */
	if (!S_ISREG(o.st_mode))
		return NULL;
	for (unsigned k = 0; k < n; k++) {
		int got = strcmp(paths[k], "-") ? stat(paths[k], &i) : fstat(0, &i);

		if (!got && i.st_dev == o.st_dev && i.st_ino == o.st_ino && i.st_size > 0)
			return paths[k];
	}
	return NULL;
}
