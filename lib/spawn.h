/* SPDX-License-Identifier: MIT */
/*
 * The spawn start method: exec of /proc/self/exe, recognised by a library
 * constructor that checks the region it is given and runs the worker.
 */
#ifndef RP_SPAWN_H
#define RP_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct rp_pool;

/* Start worker i by fork + exec of /proc/self/exe. Returns its pid or -errno. */
pid_t rp__spawn_exec(struct rp_pool *p, unsigned i);

/* True if the calling process has more than one thread. */
bool rp__multithreaded(void);

#endif
