/* SPDX-License-Identifier: MIT */
/*
 * The worker process: maps its view of the region, runs the initializer,
 * then consumes task records in place through the record runner (task.c)
 * and publishes results, sleeping on its wake eventcount when idle. Started
 * by procs.c (fork) or spawn.c (exec); knows nothing of the parent's pool.
 */
#ifndef RP_WORKER_H
#define RP_WORKER_H

/* Run worker idx of the region behind fd; never returns. */
_Noreturn void rp__worker_main(int region_fd, unsigned idx);

/* In a new worker before it runs anything: stdin from /dev/null, stdout to
 * stderr (or /dev/null), so tasks cannot read the caller's input or write
 * into its output. Async-signal-safe. */
void rp__worker_stdio(void);

#endif
