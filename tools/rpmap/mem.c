/* SPDX-License-Identifier: MIT */
/*
 * How much memory rpmap may still take: the least of the system's
 * MemAvailable (plus free swap) and, for its memory cgroup and each
 * ancestor (v2: memory.max, v1: memory.limit_in_bytes), the limit less the
 * usage plus the reclaimable file cache. An estimate, read before each pool
 * is created, so that a pool too large for it is refused with a message
 * instead of being killed by the OOM killer once its pages are touched.
 */
#include "rpmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first number after "key" (at a line start, then a space or ':') in
 * file; false if absent. "max" reads as UINT64_MAX. */
static bool read_key(const char *file, const char *key, uint64_t *out)
{
	char line[256];
	size_t kl = strlen(key);
	bool found = false;
	FILE *f = fopen(file, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *v = line + kl;

		if (kl && (strncmp(line, key, kl) || (*v != ' ' && *v != ':')))
			continue;
		v += kl ? 1 : 0;
		while (*v == ' ')
			v++;
		if (!strncmp(v, "max", 3)) {
			*out = UINT64_MAX;
			found = true;
		} else if (*v >= '0' && *v <= '9') {
			*out = strtoull(v, NULL, 10);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* The mount point of the cgroup hierarchy: v2 (v1 false) or the v1 one
 * with the memory controller. Returns false if not mounted. */
static bool cgroup_mount(bool v1, char *dir, size_t n)
{
	char line[1024], mnt[512], root[512], fstype[64], opts[512];
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%63s %*s %511s", fstype, opts) != 2 || strcmp(root, "/"))
			continue;
		if (v1 ? !strcmp(fstype, "cgroup") && strstr(opts, "memory")
		       : !strcmp(fstype, "cgroup2"))
			found = snprintf(dir, n, "%s", mnt) < (int)n;
	}
	fclose(f);
	return found;
}

/* This process's cgroup path in the hierarchy (v2: "0::", v1: the line
 * naming the memory controller). */
static bool cgroup_path(bool v1, char *path, size_t n)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (!c2)
			continue;
		*c1 = *c2 = 0;	/* line: the id; c1 + 1: the controllers */
		if (v1 ? !strstr(c1 + 1, "memory") : strcmp(line, "0") || c1[1])
			continue;
		c2[strcspn(c2 + 1, "\n") + 1] = 0;
		found = snprintf(path, n, "%s", c2 + 1) < (int)n;
	}
	fclose(f);
	return found;
}

/* What the cgroup at dir and its ancestors up to the mount leave. */
static uint64_t cgroup_avail(bool v1, const char *mnt, char *rel)
{
	static const char *const v2f[] = { "memory.max", "memory.current", "memory.stat",
					   "inactive_file", "active_file" };
	static const char *const v1f[] = { "memory.limit_in_bytes", "memory.usage_in_bytes",
					   "memory.stat", "total_inactive_file",
					   "total_active_file" };
	const char *const *fl = v1 ? v1f : v2f;
	uint64_t best = UINT64_MAX;
	char file[1280];

	for (;;) {
		uint64_t lim, use, in = 0, act = 0, left;
		char *slash;

		snprintf(file, sizeof(file), "%s%s/%s", mnt, rel, fl[0]);
		if (read_key(file, "", &lim) && lim < (1ull << 60)) {
			snprintf(file, sizeof(file), "%s%s/%s", mnt, rel, fl[1]);
			if (!read_key(file, "", &use))
				use = 0;
			snprintf(file, sizeof(file), "%s%s/%s", mnt, rel, fl[2]);
			read_key(file, fl[3], &in);
			read_key(file, fl[4], &act);
			left = lim > use ? lim - use : 0;
			left += in + act;	/* page cache the kernel can reclaim */
			if (left < best)
				best = left;
		}
		slash = strrchr(rel, '/');
		if (!slash || !*rel)
			break;
		*slash = 0;	/* the parent; "" is the mount's root */
	}
	return best;
}

uint64_t rpmap_mem_available(void)
{
	uint64_t best = UINT64_MAX, avail, swap = 0;
	char mnt[512], rel[512];

	if (read_key("/proc/meminfo", "MemAvailable", &avail)) {
		read_key("/proc/meminfo", "SwapFree", &swap);
		best = (avail + swap) * 1024;
	}
	for (int v1 = 0; v1 <= 1; v1++) {
		if (cgroup_mount(v1, mnt, sizeof(mnt)) && cgroup_path(v1, rel, sizeof(rel))) {
			uint64_t c;

			if (!strcmp(rel, "/"))
				rel[0] = 0;
			c = cgroup_avail(v1, mnt, rel);
			if (c < best)
				best = c;
		}
	}
	return best;
}
