/* SPDX-License-Identifier: MIT */
/*
 * The parent's wait (see wait.h).
 *
 * If we woke a sleeping worker since the last wait, the answer cannot come
 * sooner than that worker's wake-up, so we sleep at once instead of
 * spinning: on a VM, waking an idle vCPU costs tens of microseconds, while
 * a waker that sleeps lets the scheduler run the woken worker on this CPU.
 */
#include "rp_internal.h"
#include "wait.h"
#include "dispatch.h"
#include "fault.h"
#include "reactor.h"
#include "rp_clock.h"

/* Arm the doorbell for a sleep. Returns the armed value; *cap_ns may be
 * lowered when a light notify could be missed (membarrier failed). */
static uint32_t arm(struct rp_pool *p, uint64_t *cap_ns)
{
	uint32_t armed;

	if (!p->wait.light_notify)
		return rp_evc_prepare(p->procs.bell);
	armed = rp_evc_prepare_heavy(p->procs.bell);
	if (!armed) {
		/* membarrier failed: a light notify may be missed, so sleep
		 * briefly and look again. */
		armed = rp_evc_prepare(p->procs.bell);
		if (*cap_ns > 100000)
			*cap_ns = 100000;
	}
	return armed;
}

/* How long the next sleep may last: the liveness interval, the nearest task
 * deadline and the caller's deadline. 0: the caller's deadline passed. */
static uint64_t sleep_budget(struct rp_pool *p, uint64_t deadline)
{
	uint64_t t = p->cfg.liveness_ns, dl = rp__check_deadlines(p), now;

	if (dl < t)
		t = dl;
	if (deadline) {
		now = rp_clock_ns();
		if (now >= deadline)
			return 0;
		if (deadline - now < t)
			t = deadline - now;
	}
	return t;
}

/* One sleep on the doorbell, the pidfds and the timeout. */
static void sleep_once(struct rp_pool *p, uint32_t armed, uint64_t timeout, uint64_t *last_check)
{
	unsigned ids[RP_MAX_WORKERS], n = 0;

	p->st.futex_waits++;
	rp__reactor_wait(p->procs.reactor, &p->procs.bell->word, armed, timeout, ids,
			 RP_MAX_WORKERS, &n);
	for (unsigned k = 0; k < n; k++)
		if (ids[k] < p->procs.nw)
			rp__worker_died(p, ids[k]);
	if (n)
		*last_check = rp_clock_ns();
}

/*
 * Is an answer likely within the spin budget? Not when every busy worker's
 * records take longer on average: spinning then only takes a CPU from the
 * workers (2 workers on 2 CPUs, 1 ms tasks: speed-up 1.80 spinning 50 us,
 * 1.95 not spinning). Before anything is measured, yes.
 */
static bool answer_soon(const struct rp_pool *p)
{
	uint64_t best = UINT64_MAX;

	for (unsigned i = 0; i < p->procs.nw; i++) {
		const struct rp_worker *w = &p->procs.w[i];

		if (!w->dead && w->outstanding && w->ewma_ns < best)
			best = w->ewma_ns;
	}
	return best <= p->wait.spin_ns || best == UINT64_MAX;
}

static bool spin(struct rp_pool *p, rp__cond_fn cond, void *arg)
{
	uint64_t end;

	if (p->st.futex_wakes != p->wait.wakes_seen)
		return false;	/* we woke a sleeper: sleep at once (see above) */
	if (!p->wait.spin_ticks || !answer_soon(p))
		return false;
	end = rp_ticks() + p->wait.spin_ticks;
	do {
		if (cond(p, arg))
			return true;
		rp_cpu_relax();
	} while (rp_ticks() < end);
	return false;
}

static int wait_cond(struct rp_pool *p, rp__cond_fn cond, void *arg, uint64_t deadline)
{
	uint64_t last_check;

	rp__flush_all(p);
	if (spin(p, cond, arg))
		return 0;
	last_check = rp_clock_ns();
	for (;;) {
		uint64_t timeout = sleep_budget(p, deadline), now;
		uint32_t armed;

		if (!timeout)
			return -ETIMEDOUT;
		armed = arm(p, &timeout);
		if (cond(p, arg)) {
			rp_evc_cancel(p->procs.bell, armed);
			return 0;
		}
		sleep_once(p, armed, timeout, &last_check);
		now = rp_clock_ns();
		if (now - last_check >= p->cfg.liveness_ns) {
			last_check = now;
			rp__check_workers(p);
		}
		if (cond(p, arg))
			return 0;
	}
}

int rp__wait(struct rp_pool *p, rp__cond_fn cond, void *arg, uint64_t deadline)
{
	uint64_t now;
	int r;

	if (p->inl.on)
		return cond(p, arg) ? 0 : -ETIMEDOUT; /* nothing runs behind our back */
	/* Liveness is checked on this slow path whatever cond says, so no
	 * caller loop can starve it. */
	now = rp_clock_ns();
	if (now - p->wait.last_liveness_ns >= p->cfg.liveness_ns) {
		p->wait.last_liveness_ns = now;
		rp__check_workers(p);
	}
	r = wait_cond(p, cond, arg, deadline);
	p->wait.wakes_seen = p->st.futex_wakes;
	return r;
}
