/* SPDX-License-Identifier: MIT */
/*
 * Where a task function is, in a form every worker can use (see fnaddr.c).
 */
#ifndef RP_FNADDR_H
#define RP_FNADDR_H

struct rp_pool;
struct rp_shared;
struct rp_fn_entry;

/* Fill e for fn: address, and (module, offset) when dladdr can place it;
 * a new module goes into the pool's own table and then the region's.
 * Returns 0, or -ENOENT if fn cannot be found again in an exec'd worker. */
int rp__fn_resolve(struct rp_pool *p, void *fn, struct rp_fn_entry *e);

/* In a worker: the address of entry e (spawn: dlopen and offset). NULL if
 * it cannot be found. */
void *rp__fn_locate(const struct rp_shared *sh, const struct rp_fn_entry *e);

/* In an exec'd worker, before anything is located: raw addresses from the
 * parent mean nothing here. */
void rp__fn_exec_worker(void);

#endif
