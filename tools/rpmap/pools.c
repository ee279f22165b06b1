/* SPDX-License-Identifier: MIT */
/*
 * The pools rpmap makes and what they share: rings sized to the tasks and
 * to the memory left (a pool whose region would not fit is refused with a
 * message rather than left to the OOM killer), how a failed task is read,
 * and what exec'd workers need to rebuild a forked worker's state.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RING_ROOMY_MAX	(8u << 20)	/* rings up to this size get 4x headroom */

/*
 * Ring bytes for tasks and results of up to `need` bytes. Roomy: room for
 * four (at least 2 MiB) while that stays within RING_ROOMY_MAX, else, and
 * not roomy, the least power of two whose largest record (half of it)
 * holds one: 2 to 4 times need. Up to the library's 1 GiB.
 */
size_t rpmap_ring_for(uint64_t need, bool roomy)
{
	uint64_t ring = roomy ? 2u << 20 : RP_MIN_RING_BYTES;

	while (roomy && ring < 4 * (need + 64) && ring < RING_ROOMY_MAX)
		ring *= 2;
	while (ring / 2 < need + 64 && ring < (1u << 30))
		ring *= 2;
	return (size_t)ring;
}

/* Shared memory a pool's region takes: a task ring and a result ring per
 * worker, with their headers, and the region's own header. */
static uint64_t pool_bytes(const struct poolh *ph)
{
	return (uint64_t)ph->workers * 2 * (ph->ring_bytes + 4096) + (64u << 10);
}

void rpmap_no_memory(const struct poolh *ph, uint64_t avail, const char *what)
{
	char b1[32];

	fprintf(stderr,
		"rpmap: not enough memory for %s: %llu MiB of shared memory needed (%u worker%s, "
		"2 rings of %s each), %llu MiB available\n",
		what, (unsigned long long)(pool_bytes(ph) >> 20), ph->workers,
		ph->workers == 1 ? "" : "s", rpmap_size_str(b1, sizeof(b1), ph->ring_bytes),
		(unsigned long long)(avail >> 20));
}

/* Start the pool ph describes. Returns 0, or -ENOMEM when its region would
 * not fit in the memory left (checked first: a region too large would have
 * its pages taken later, and rpmap be killed for them), or rp_pool_create's
 * error. */
int rpmap_pool_start(struct eng *e, struct poolh *ph)
{
	struct rp_config cfg;
	struct rp_stats st;
	int r;

	if (pool_bytes(ph) > rpmap_mem_available())
		return -ENOMEM;

	rp_config_init(&cfg);
	cfg.workers = ph->workers;
	cfg.ring_bytes = ph->ring_bytes;
	cfg.max_in_flight = 16;
	while (cfg.max_in_flight < 8 * ph->workers)
		cfg.max_in_flight *= 2;
	cfg.fn = rpmap_batch_task;
	cfg.retries = ph->retries;
	cfg.task_timeout_ns = rpmap_fn.timeout_ns;
	cfg.max_tasks_per_worker = e->o->max_tasks;
	cfg.max_rss_bytes = e->o->max_rss;
	if (e->o->spawn) {
		cfg.flags |= RP_CFG_SPAWN;
		cfg.init = rpmap_worker_init;
		cfg.init_args = e->init;
		cfg.init_args_len = sizeof(*e->init);
	}
	r = rp_pool_create(&ph->pool, &cfg);
	if (r)
		return r;
	rp_pool_stats(ph->pool, &st);
	ph->max_res = st.max_payload;
	return 0;
}

void rpmap_pool_stop(struct eng *e, struct poolh *ph)
{
	struct rp_stats st;

	if (!ph->pool)
		return;
	if (rp_pool_stats(ph->pool, &st) == 0) {
		e->lib_restarts += st.restarts;
		e->lib_retried += st.retried;
		e->lib_timeouts += st.timeouts;
		e->lib_spawned += st.spawned;
	}
	rp_pool_destroy(ph->pool);
	ph->pool = NULL;
}

int rpmap_pool_restart(struct eng *e, struct poolh *ph)
{
	int r;

	rpmap_pool_stop(e, ph);
	e->restarts++;
	r = rpmap_pool_start(e, ph);
	if (r) {
		if (r == -ENOMEM)
			rpmap_no_memory(ph, rpmap_mem_available(), "the workers");
		else
			fprintf(stderr, "rpmap: cannot restart the worker pool: %s\n", strerror(-r));
		e->fatal = e->stop = true;
	}
	return r;
}

/* Start a side pool on first use. Returns 0 or -errno (reported, fatal). */
int rpmap_pool_ensure(struct eng *e, struct poolh *ph)
{
	int r;

	if (ph->pool)
		return 0;
	r = rpmap_pool_start(e, ph);
	if (r) {
		if (r == -ENOMEM)
			rpmap_no_memory(ph, rpmap_mem_available(), "a worker for recovery");
		else
			fprintf(stderr, "rpmap: cannot start a worker for recovery: %s\n",
				strerror(-r));
		e->fatal = e->stop = true;
	}
	return r;
}

/*
 * Classify a failed result (before rp_release). The record it was on is
 * the task's last mark (the batch task marks each record before running
 * it): not known (-1) if it died or was killed before its first record,
 * or never started (it waited behind a worker that could not be replaced).
 * A task of one record is on that record.
 */
void rpmap_failure_of(const struct rp_result *res, uint32_t from, uint32_t cnt,
		      struct failure *f)
{
	bool pool = res->flags & RP_RES_POOL;

	f->status = res->status;
	f->flags = res->flags;
	f->sig = res->term_signal;
	f->code = res->term_exit;
	f->kind = pool && res->status == RP_ECRASHED    ? F_CRASH
		  : pool && res->status == RP_ETIMEDOUT ? F_KILLED
							: F_OTHER;
	f->rec = -1;
	if (f->kind == F_OTHER)
		return;
	if (res->mark && res->mark <= cnt)
		f->rec = (int64_t)from + (int64_t)res->mark - 1;
	else if (cnt == 1)
		f->rec = from;
}

/* The largest task input or result a batch of the main pool may need. */
static uint64_t task_need(const struct rpmap_opts *o)
{
	uint64_t task = o->batch_bytes, need, res;

	if ((rpmap_fn.mode == RPMAP_BLOCK || rpmap_fn.mode == RPMAP_CHUNKS) &&
	    rpmap_fn.block > task)
		task = rpmap_fn.block;	/* a chunk of --pipe is a batch too */
	need = task + sizeof(struct rpmap_task_hdr);
	/* Batches are cut so that their bound fits: one record of `task`
	 * bytes is the most a task must hold. */
	res = rpmap_result_bound(task, 1);
	if (rpmap_fn.conf.res_hint > res)
		res = rpmap_fn.conf.res_hint;	/* a decoded member */
	return res > need ? res : need;
}

/*
 * Memory: choose the main pool's rings and workers to fit what the system
 * and the memory cgroup leave (rpmap_mem_available). Rings are roomy (room
 * for four of the largest tasks or results, at least 2 MiB) while that is
 * at most 8 MiB, else just large enough for one (ring_for: 2 to 4 times
 * it, as a ring is a power of two of which a record takes at most half).
 * If that does not fit: the least rings that hold one task, then, unless
 * -j was given, fewer workers. Returns 0, or -ENOMEM (reported).
 */
int rpmap_fit_main(struct eng *e, const struct rpmap_opts *o)
{
	uint64_t need = task_need(o), avail = rpmap_mem_available();
	struct poolh *ph = &e->main;
	uint64_t per;

	ph->workers = o->workers;
	ph->ring_bytes = rpmap_ring_for(need, true);
	if (pool_bytes(ph) <= avail)
		return 0;
	ph->ring_bytes = rpmap_ring_for(need, false);
	per = pool_bytes(&(struct poolh){ .workers = 1, .ring_bytes = ph->ring_bytes });
	if (pool_bytes(ph) > avail && !o->workers_set && avail >= per)
		ph->workers = (unsigned)(avail / per);
	if (pool_bytes(ph) <= avail)
		return 0;
	rpmap_no_memory(ph, avail, "the workers");
	fprintf(stderr, "rpmap: use fewer workers (-j) or smaller records or tasks "
			"(--block, --batch)\n");
	return -ENOMEM;
}

/* --spawn: what exec'd workers need to rebuild a forked worker's state. */
struct rpmap_init *rpmap_make_init(const struct rpmap_opts *o, const struct rpmap_input *in)
{
	struct rpmap_init *a = calloc(1, sizeof(*a));
	struct stat st;

	if (!a)
		return NULL;
	a->fn = rpmap_fn;
	snprintf(a->name, sizeof(a->name), "%s", rpmap_fn.bi->name);
	a->ppid = (int32_t)getpid();
	a->map_fd = -1;
	if (rpmap_fn.map && fstat(in->fd, &st) == 0) {
		a->map_fd = in->fd;
		a->map_dev = (uint64_t)st.st_dev;
		a->map_ino = (uint64_t)st.st_ino;
	}
	return a;
}
