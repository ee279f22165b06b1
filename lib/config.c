/* SPDX-License-Identifier: MIT */
/*
 * Configuration: the defaults (zero in any field means its default), their
 * validation, and the library's version.
 */
#include "rp_internal.h"
#include "config.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

#define MAX_WINDOW	(1u << 20)

unsigned rp_version(void)
{
	return RINGPOOL_VERSION_NUMBER;
}

/* CPUs this process may run on (its affinity mask), at least 1. */
unsigned rp__allowed_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : (unsigned)n;
}

void rp_config_init(struct rp_config *cfg)
{
	unsigned n = rp__allowed_cpus();

	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = n > RP_MAX_WORKERS ? RP_MAX_WORKERS : n;
	cfg->ring_bytes = 1u << 20;
	cfg->max_in_flight = 1024;
	cfg->spin_ns = 50000;
	cfg->liveness_ns = 10000000;
	cfg->max_restarts = 16;
	cfg->restart_window_ns = 1000000000ull;
}

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* Zeros become defaults (a zero-initialised config is the default pool). */
void rp__config_resolve(struct rp_config *c, const struct rp_config *in)
{
	struct rp_config d;

	rp_config_init(&d);
	*c = in ? *in : (struct rp_config){ 0 };
	if (!c->workers && !(c->flags & RP_CFG_INLINE))
		c->workers = d.workers;
	if (!c->ring_bytes)
		c->ring_bytes = d.ring_bytes;
	if (!c->max_in_flight)
		c->max_in_flight = d.max_in_flight;
	if (!c->spin_ns)
		c->spin_ns = d.spin_ns;
	else if (c->spin_ns == RP_SPIN_NEVER)
		c->spin_ns = 0;
	if (!c->liveness_ns)
		c->liveness_ns = d.liveness_ns;
	if (!c->max_restarts)
		c->max_restarts = d.max_restarts;
	if (!c->restart_window_ns)
		c->restart_window_ns = d.restart_window_ns;
}

int rp__config_check(const struct rp_config *c)
{
	for (unsigned k = 0; k < sizeof(c->reserved_) / sizeof(c->reserved_[0]); k++)
		if (c->reserved_[k])
			return -EINVAL;
	if (c->workers > RP_MAX_WORKERS || ((c->flags & RP_CFG_INLINE) && c->workers))
		return -EINVAL;
	if (c->init_args_len > RP_MAX_INIT_ARGS || (c->init_args_len && !c->init_args))
		return -EINVAL;
	if (!pow2(c->ring_bytes) || c->ring_bytes < RP_MIN_RING_BYTES ||
	    c->ring_bytes > RP_MAX_RING_BYTES)
		return -EINVAL;
	if (!pow2(c->max_in_flight) || c->max_in_flight > MAX_WINDOW ||
	    c->max_queue > c->max_in_flight)
		return -EINVAL;
	if (c->spin_ns > 1000000000ull || c->liveness_ns < 100000)
		return -EINVAL;
	if (c->flags & ~(RP_CFG_UNORDERED | RP_CFG_NO_RESPAWN | RP_CFG_KEEP_FDS | RP_CFG_SPAWN |
			 RP_CFG_NO_URING | RP_CFG_INLINE | RP_CFG_FORK) ||
	    (c->flags & RP_CFG_FORK && c->flags & RP_CFG_SPAWN))
		return -EINVAL;
	if (c->retries > 1000 || (c->task_timeout_ns && c->task_timeout_ns < 1000000))
		return -EINVAL;
	return 0;
}

