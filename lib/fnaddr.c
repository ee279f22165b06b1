/* SPDX-License-Identifier: MIT */
/*
 * Placing task functions so any worker finds them again: a forked worker by
 * address (same image), an exec'd one by (module, offset from its load
 * bias). The parent places a function with dladdr1(); the worker finds the
 * module (the main program, or a shared object by path, dlopen'ed if
 * needed) and adds the offset.
 */
#include "rp_internal.h"
#include "fnaddr.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

/* Set in an exec'd worker: raw addresses from the parent mean nothing here. */
static bool exec_worker;

void rp__fn_exec_worker(void)
{
	exec_worker = true;
}

static uintptr_t main_bias(void)
{
	void *h = dlopen(NULL, RTLD_NOW);
	struct link_map *lm = NULL;

	if (!h)
		return 0;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
		lm = NULL;
	dlclose(h);
	return lm ? lm->l_addr : 0;
}

int rp__fn_resolve(struct rp_pool *p, void *fn, struct rp_fn_entry *e)
{
	struct link_map *lm = NULL;
	Dl_info info;
	uint32_t m;

	e->addr = (uint64_t)(uintptr_t)fn;
	e->module = RP_MOD_NONE;
	e->offset = 0;
	if (!fn || !dladdr1(fn, &info, (void **)&lm, RTLD_DL_LINKMAP) || !lm)
		return -ENOENT;
	e->offset = (uint64_t)((uintptr_t)fn - lm->l_addr);
	/* The main program's link map has an empty name. */
	if (!lm->l_name || !lm->l_name[0] || lm->l_addr == main_bias()) {
		e->module = 0;
		return 0;
	}
	if (strlen(lm->l_name) >= RP_MOD_PATH || lm->l_name[0] != '/')
		return -ENOENT;
	/* Looked up in our own table; the region's copy is only for workers. */
	for (m = 1; m < p->procs.nmodules; m++)
		if (!strcmp(p->procs.modules[m], lm->l_name))
			break;
	if (m == p->procs.nmodules) {
		if (m == RP_MAX_MODULES)
			return -ENOENT;
		strcpy(p->procs.modules[m], lm->l_name);
		memcpy(p->procs.sh->modules[m], p->procs.modules[m], RP_MOD_PATH);
		p->procs.nmodules = m + 1;
		p->procs.sh->nmodules = p->procs.nmodules;
	}
	e->module = m;
	return 0;
}

void *rp__fn_locate(const struct rp_shared *sh, const struct rp_fn_entry *e)
{
	struct link_map *lm = NULL;
	uint32_t m = e->module;
	void *h;
	uintptr_t bias;

	if (!exec_worker)
		return (void *)(uintptr_t)e->addr;	/* forked: the same image */
	if (m == RP_MOD_NONE || (m && m >= sh->nmodules))
		return NULL;
	if (m == 0)
		return (void *)(main_bias() + (uintptr_t)e->offset);
	/* Read the path once into our memory, bounded, then use it. */
	char path[RP_MOD_PATH];

	memcpy(path, sh->modules[m], sizeof(path));
	path[sizeof(path) - 1] = 0;
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		h = dlopen(path, RTLD_NOW);	/* a plugin the parent dlopen'ed */
	if (!h || dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
		return NULL;
	bias = lm->l_addr;
	/* Keep it loaded: the worker calls into it from now on. */
	return (void *)(bias + (uintptr_t)e->offset);
}

