/* SPDX-License-Identifier: MIT */
/*
 * For event loops: the completion fd (an epoll set of the eventfd workers
 * write when the parent is armed, and every worker's pidfd, registered by
 * procs.c) and rp_pool_arm, which handles what it reported and arms the
 * doorbell so the next result makes the fd readable.
 */
#include "owner.h"
#include "collect.h"
#include "dispatch.h"
#include "fault.h"

#include <unistd.h>

int rp_pool_fd(const struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	return p->procs.epfd >= 0 ? p->procs.epfd : -EOPNOTSUPP;
}

int rp_pool_arm(struct rp_pool *p)
{
	struct rp_evc *bell;
	uint64_t v;
	uint32_t armed;

	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;
	if (p->procs.efd < 0)
		return -EOPNOTSUPP;
	bell = p->procs.bell;
	while (read(p->procs.efd, &v, sizeof(v)) == sizeof(v)) {
	}
	rp__check_workers(p);
	rp__check_deadlines(p);
	rp__flush_all(p);
	rp__pump(p);
	if (rp__raw_ready(p, true) || p->win.in_flight == 0)
		return 1;
	armed = p->wait.light_notify ? rp_evc_prepare_heavy(bell) : rp_evc_prepare(bell);
	if (!armed)	/* membarrier failed: do not rely on the fd */
		return 1;
	if (rp__raw_ready(p, true) || rp__owned_ready(p)) {
		rp_evc_cancel(bell, armed);
		return 1;
	}
	return 0;
}
