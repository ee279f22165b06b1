/* SPDX-License-Identifier: MIT */
/*
 * The plugin row: PLUGIN.so:SYMBOL is loaded with dlopen before the workers
 * are forked (exec'd workers load it again by its absolute path, kept in
 * the row's argument), and runs once per record as a sub-task of the
 * batch's task (rp_task_run), whose result space is the record's place in
 * the batch's result.
 */
#include "builtin.h"
#include "rpmap.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN8(x) (((x) + 7) & ~(uint64_t)7)

int rpmap_plugin_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	const char *colon = arg ? strrchr(arg, ':') : NULL;
	char path[PATH_MAX], abs[PATH_MAX];
	size_t plen = colon ? (size_t)(colon - arg) : 0;
	void *h, *fn;

	if (!plen || !colon[1]) {
		snprintf(why, n, "'%s': expected PLUGIN.so:SYMBOL", arg ? arg : "");
		return -EINVAL;
	}
	/* A bare name would be searched in the library path: mean the file. */
	if (snprintf(path, sizeof(path), "%s%.*s", memchr(arg, '/', plen) ? "" : "./", (int)plen,
		     arg) >= (int)sizeof(path)) {
		snprintf(why, n, "plugin path too long: %s", arg);
		return -EINVAL;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);	/* kept loaded for the process's life */
	if (!h) {
		snprintf(why, n, "%s: cannot load plugin: %s", path, dlerror());
		return -ENOENT;
	}
	dlerror();
	fn = dlsym(h, colon + 1);
	if (!fn) {
		snprintf(why, n, "%s: no symbol '%s' in the plugin", path, colon + 1);
		return -ENOENT;
	}
	/* Exec'd workers open the very file: by absolute path. */
	if (!realpath(path, abs) ||
	    snprintf(c->arg, sizeof(c->arg), "%s:%s", abs, colon + 1) >= (int)sizeof(c->arg)) {
		snprintf(why, n, "%s: cannot resolve the plugin's path", path);
		return -ENOENT;
	}
	c->plugin = (rp_task_fn)(uintptr_t)fn;
	return 0;
}

/*
 * The result a record asked for when it did not fit its room: the library
 * does not say, so the record runs again into a private space of
 * RPMAP_MAX_RESULT bytes (reserved address space, MAP_NORESERVE: only the
 * pages it writes are taken, and given back at once). Returns the bytes,
 * RPMAP_MAX_RESULT + 1 if it asked for more than that, or 0 if not known
 * (no such space could be mapped, or it failed the second time).
 */
static uint64_t plugin_need(struct rp_task *t, struct rp_subtask sub)
{
	static void *big;

	if (!big) {
		big = mmap(NULL, RPMAP_MAX_RESULT, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (big == MAP_FAILED) {
			big = NULL;
			return 0;
		}
	}
	sub.out = big;
	sub.out_cap = RPMAP_MAX_RESULT;
	rp_task_run(t, &sub);
	if (sub.out_len)
		madvise(big, sub.out_len, MADV_DONTNEED);
	if (sub.status == RP_EMSGSIZE && (sub.flags & RP_RES_POOL))
		return (uint64_t)RPMAP_MAX_RESULT + 1;
	return sub.status ? 0 : sub.out_len;
}

/* The record's input, 8-byte aligned as the ABI promises: in place, or
 * copied to a per-worker buffer. NULL if out of memory. */
static const void *aligned_input(const char *p, size_t n)
{
	static const uint64_t empty;	/* an aligned place for empty records */
	static char *copy;
	static size_t cap;

	if (!n)
		return &empty;
	if (!((uintptr_t)p & 7))
		return p;
	if (n > cap) {
		char *s = realloc(copy, n);

		if (!s)
			return NULL;
		copy = s;
		cap = n;
	}
	return memcpy(copy, p, n);
}

/*
 * One record, without its separator, as a sub-task whose result space is
 * r->out (8-aligned first; the output is moved back after), at most
 * RPMAP_MAX_RESULT bytes and leaving r->keep; then the separator.
 */
int64_t rpmap_plugin_record(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	size_t body = r->has_sep ? r->n - 1 : r->n;
	char *aligned = (char *)(uintptr_t)ALIGN8((uintptr_t)r->out);
	uint64_t skew = (uint64_t)(aligned - r->out), room;
	struct rp_subtask sub = { .fn = c->plugin, .seq = r->index, .len = body, .out = aligned };

	r->need = 0;
	if (r->room <= r->keep + skew)
		return -2;
	room = r->room - r->keep - skew;
	sub.out_cap = room < RPMAP_MAX_RESULT ? (size_t)room : RPMAP_MAX_RESULT;
	sub.in = aligned_input(r->p, body);
	if (!sub.in) {
		r->status = -ENOMEM;
		return -1;
	}
	rp_task_run(r->t, &sub);
	if (sub.status == RP_EMSGSIZE && (sub.flags & RP_RES_POOL)) {
		r->need = plugin_need(r->t, sub);
		return -2;
	}
	if (sub.status) {
		r->status = sub.status;
		return -1;
	}
	if (skew && sub.out_len)
		memmove(r->out, aligned, sub.out_len);
	if (r->has_sep)
		r->out[sub.out_len++] = r->p[r->n - 1];
	return (int64_t)sub.out_len;
}
