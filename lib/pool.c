/* SPDX-License-Identifier: MIT */
/*
 * Pool lifetime: configuration, laying out the region, starting the
 * workers and waiting until each is ready, close, join, terminate and
 * destroy. The top of the module graph (lib/README.md): it may call every
 * module; none calls it.
 */
#include "owner.h"
#include "config.h"
#include "collect.h"
#include "dispatch.h"
#include "fault.h"
#include "inline.h"
#include "reactor.h"
#include "rp_clock.h"
#include "fnaddr.h"
#include "spawn.h"
#include "wait.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#define START_TIMEOUT_NS 10000000000ull	/* workers must report ready within 10 s */

unsigned rp__fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	rp__fork_gen++;
}

static void atfork_setup(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

void rp__futq_init(struct rp_pool *p);

static bool env_set(const char *name)
{
	const char *s = getenv(name);

	return s && *s && strcmp(s, "0") != 0;
}

/* ---- creation ---- */

static void free_pool(struct rp_pool *p);

/* Allocate the parent's side of a pool. Returns NULL if out of memory. */
static struct rp_pool *pool_alloc(const struct rp_config *cfg)
{
	struct rp_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = *cfg;
	/* A fork in a process with threads could inherit a lock another
	 * thread held (stdio, malloc, a logger): exec the workers instead. */
	if (!(cfg->flags & (RP_CFG_SPAWN | RP_CFG_INLINE | RP_CFG_FORK)) && rp__multithreaded())
		p->cfg.flags |= RP_CFG_SPAWN;
	p->owner = getpid();
	p->gen = rp__fork_gen;
	p->procs.nw = cfg->workers;
	p->procs.spawn = !!(p->cfg.flags & RP_CFG_SPAWN);
	p->procs.keep_fds = !!(cfg->flags & RP_CFG_KEEP_FDS);
	p->procs.no_pidfd = env_set("RINGPOOL_NO_PIDFD");
	p->procs.region.fd = -1;
	p->procs.efd = -1;
	p->procs.epfd = -1;
	p->procs.nmodules = 1;
	p->disp.resv_worker = -1;
	p->inl.on = !!(cfg->flags & RP_CFG_INLINE);
	p->st.t_start_ns = rp_clock_ns();
	rp__futq_init(p);
	p->procs.w = calloc(p->procs.nw ? p->procs.nw : 1, sizeof(*p->procs.w));
	p->procs.modules = calloc(RP_MAX_MODULES, sizeof(*p->procs.modules));
	if (rp__window_init(&p->win, cfg->max_in_flight) || !p->procs.w || !p->procs.modules) {
		free_pool(p);
		return NULL;
	}
	for (unsigned i = 0; i < p->procs.nw; i++)
		p->procs.w[i].pidfd = -1;
	return p;
}

/* Workers and parent outnumber the CPUs this process may use: a spinning
 * side takes the CPU another needs, so both sides spin at most 5 us (2
 * workers on 2 CPUs: 4.0 M tiny tasks/s at 50 us, 9.0 M at 5 us). */
#define OVERSUBSCRIBED_SPIN_NS 5000u

static uint64_t spin_ns_for(const struct rp_pool *p)
{
	if ((unsigned long)p->procs.nw + 1 > rp__allowed_cpus() &&
	    p->cfg.spin_ns > OVERSUBSCRIBED_SPIN_NS)
		return OVERSUBSCRIBED_SPIN_NS;
	return p->cfg.spin_ns;
}

/* Place the initializer and exit hook where exec'd workers find them. */
static int hooks_setup(struct rp_pool *p)
{
	struct rp_shared *sh = p->procs.sh;
	void *fns[2] = { (void *)p->cfg.init, (void *)p->cfg.exit };

	for (int k = 0; k < 2; k++) {
		if (!fns[k])
			continue;
		if (rp__fn_resolve(p, fns[k], &sh->fns[RP_FN_INIT + k]) < 0) {
			if (p->procs.spawn)
				return -ENOENT;
			p->procs.unresolvable++;
		}
	}
	sh->init_fn = (uint64_t)(uintptr_t)p->cfg.init;
	sh->exit_fn = (uint64_t)(uintptr_t)p->cfg.exit;
	return 0;
}

/* Write the header workers read (they map it read-only). */
static int header_setup(struct rp_pool *p)
{
	const struct rp_config *cfg = &p->cfg;
	struct rp_shared *sh = p->procs.sh;
	uint64_t *token = &p->procs.token;

	sh->magic = RP_SHARED_MAGIC;
	sh->version = RP_SHARED_VERSION;
	if (getrandom(token, sizeof(*token), GRND_NONBLOCK) != sizeof(*token))
		*token = rp_clock_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)p;
	sh->token = *token;
	rp__layout_store(&p->procs.lay, sh);
	sh->spin_ns = spin_ns_for(p);
	sh->parent_pid = p->owner;
	sh->light_notify = p->wait.light_notify;
	sh->efd = p->procs.efd;
	if (cfg->init_args_len)
		memcpy((unsigned char *)sh + p->procs.lay.init_args_off, cfg->init_args,
		       cfg->init_args_len);
	sh->max_tasks = cfg->max_tasks_per_worker;
	sh->max_rss = cfg->max_rss_bytes;
	sh->pdeathsig = syscall(SYS_gettid) == getpid();
	sh->spawn = p->procs.spawn;
	sh->nmodules = 1;
	return hooks_setup(p);
}

/* Lay out each worker's control block and rings, and attach our handles. */
static int blocks_setup(struct rp_pool *p)
{
	uint64_t rb = p->cfg.ring_bytes;
	int err;

	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		void *tr = rp__task_ring(p->procs.sh, &p->procs.lay, i);
		void *rr = rp__result_ring(p->procs.sh, &p->procs.lay, i);

		w->ctl = rp__wctl(p->procs.sh, &p->procs.lay, i);
		rp_evc_init(&w->ctl->wake);
		if ((err = rp_ring_init(tr, rb)) || (err = rp_ring_init(rr, rb)) ||
		    (err = rp_ring_prod_attach(&w->tasks, tr, rb)) ||
		    (err = rp_ring_cons_attach(&w->results, rr, rb)))
			return err;
		/* One record each until one has come back and been measured:
		 * an unknown task may be long, and nothing should wait behind
		 * it while another worker is idle. The first result sets the
		 * real limit (tiny tasks: up to the window at once). */
		w->limit = 1;
		w->term_exit = -1;
		w->start_ns = p->st.t_start_ns;
	}
	return 0;
}

/* The shared region: layout, header, doorbell, worker blocks. */
static int region_setup(struct rp_pool *p)
{
	struct rp_procs *pr = &p->procs;
	int err = rp__layout_compute(&pr->lay, pr->nw, p->cfg.ring_bytes, p->cfg.init_args_len);

	if (err)
		return err;
	err = rp_region_create(&pr->region, "ringpool", pr->lay.size);
	if (err)
		return err;
	pr->sh = pr->region.base;
	pr->bell = rp__bell(pr->sh, &pr->lay);
	rp_evc_init(pr->bell);
	/* RINGPOOL_NO_MEMBARRIER=1 (benchmarks): workers fence every notify
	 * instead, and the parent sleeps without a membarrier. */
	p->wait.light_notify = rp_membarrier_available() && !env_set("RINGPOOL_NO_MEMBARRIER");
	p->wait.spin_ns = spin_ns_for(p);
	p->wait.spin_ticks = rp_ns_to_ticks(p->wait.spin_ns); /* calibrates before fork */
	p->disp.max_payload = rp_ring_max_payload(p->cfg.ring_bytes);
	p->faults.timeout_ticks =
		p->cfg.task_timeout_ns ? rp_ns_to_ticks(p->cfg.task_timeout_ns) : 0;
	if (!p->inl.on && (err = rp__procs_fd_setup(p)))
		return err;
	err = header_setup(p);
	return err ? err : blocks_setup(p);
}

/*
 * Worker i died before it was ready: why. Killed while allocating its rings
 * is the OOM killer's work (workers make themselves its first choice).
 */
static int startup_error(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];
	/* acquire: pairs with the worker's release of state; init_err below
	 * is visible once FAILED is. */
	uint32_t st = atomic_load_explicit(&w->ctl->state, memory_order_acquire);
	/* relaxed: ordered by the acquire above. */
	int e = atomic_load_explicit(&w->ctl->init_err, memory_order_relaxed);

	if (st == RP_WS_POPULATING && w->term_signal == SIGKILL)
		return -ENOMEM;
	if (st == RP_WS_FAILED && e < 0 && e > -4096)
		return e;	/* the initializer's error (a plausible -errno) */
	return -ECHILD;
}

/* How many workers are ready; -errno if one failed or died starting. */
static int count_ready(struct rp_pool *p)
{
	int ready = 0;

	for (unsigned i = 0; i < p->procs.nw; i++) {
		struct rp_worker *w = &p->procs.w[i];
		/* acquire: pairs with the worker's release of state. */
		uint32_t st = atomic_load_explicit(&w->ctl->state, memory_order_acquire);

		if (st == RP_WS_READY) {
			ready++;
			continue;
		}
		if (rp__proc_reap(w, false) || st == RP_WS_FAILED || st == RP_WS_EXITING) {
			rp__proc_kill(w);
			rp__proc_reap(w, true);
			return startup_error(p, i);
		}
	}
	return ready;
}

/* Wait until every worker has reported READY, or one failed or died. */
static int wait_ready(struct rp_pool *p)
{
	uint64_t t0 = rp_clock_ns();

	for (;;) {
		uint32_t armed = rp_evc_prepare(p->procs.bell);
		int ready = count_ready(p);

		if (ready < 0 || (unsigned)ready == p->procs.nw) {
			rp_evc_cancel(p->procs.bell, armed);
			return ready < 0 ? ready : 0;
		}
		if (rp_clock_ns() - t0 > START_TIMEOUT_NS)
			return -ETIMEDOUT;
		rp_evc_wait(p->procs.bell, armed, 1000000);
	}
}

/* Start every worker and wait until all are ready; then map the pages they
 * allocated into our own page tables. */
static int workers_start(struct rp_pool *p)
{
	struct rp_procs *pr = &p->procs;
	int err;

	for (unsigned i = 0; i < pr->nw; i++) {
		err = rp__proc_start(p, i);
		if (err)
			return err;
	}
	pr->alive = pr->nw;
	err = wait_ready(p);
	if (err)
		return err;
	/* The workers populated their blocks: this only fills our page
	 * tables (no new memory), so the hot path takes no page faults. */
	if (pr->nw)
		rp_region_populate(&pr->region, pr->lay.blocks_off,
				   pr->lay.size - pr->lay.blocks_off);
	return 0;
}

/* The parent's wait and liveness registry: io_uring when it can (futex
 * wait on the doorbell and a poll on every pidfd at once), futex + pidfd
 * polls otherwise. Watches the pidfds of the workers started so far. */
static int reactor_setup(struct rp_pool *p)
{
	struct rp_procs *pr = &p->procs;
	int err;

	err = rp__reactor_create(&pr->reactor, pr->nw, !!(p->cfg.flags & RP_CFG_NO_URING));
	if (err)
		return err;
	rp__reactor_set_poll_interval(pr->reactor, p->cfg.liveness_ns);
	for (unsigned i = 0; i < pr->nw; i++)
		if (pr->w[i].pidfd >= 0)
			rp__reactor_watch(pr->reactor, pr->w[i].pidfd, i);
	return 0;
}

/* Fill fds 0-2 that are closed with /dev/null while the pool opens its own,
 * so none of them takes a standard number (the io_uring fd is liburing's).
 * Returns a mask of the ones filled; unfill_std closes them again. */
static unsigned fill_std(void)
{
	unsigned filled = 0;

	for (int fd = 0; fd < 3; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		n = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (n == fd)
			filled |= 1u << fd;
		else if (n >= 0)
			close(n);
	}
	return filled;
}

static void unfill_std(unsigned filled)
{
	for (int fd = 0; fd < 3; fd++)
		if (filled & (1u << fd))
			close(fd);
}

static int pool_start(struct rp_pool *p)
{
	int err = region_setup(p);

	if (!err)
		err = workers_start(p);
	if (!err && p->inl.on) {
		err = rp__inline_init(p);
		p->inl.ready = !err;
	}
	if (!err && !p->inl.on)
		err = reactor_setup(p);
	return err;
}

int rp_pool_create(struct rp_pool **out, const struct rp_config *cfg)
{
	struct rp_config c;
	struct rp_pool *p;
	unsigned filled;
	int err;

	if (!out)
		return -EINVAL;
	*out = NULL;
	rp__config_resolve(&c, cfg);
	err = rp__config_check(&c);
	if (err)
		return err;
	pthread_once(&atfork_once, atfork_setup);
	p = pool_alloc(&c);
	if (!p)
		return -ENOMEM;
	filled = fill_std();
	err = pool_start(p);
	unfill_std(filled);
	if (err) {
		free_pool(p);
		return err;
	}
	p->procs.started = true;
	*out = p;
	return 0;
}

/* ---- the end ---- */

/* Free inline results still waiting in their slots. */
static void free_inline_results(struct rp_pool *p)
{
	for (uint64_t q = p->win.next_seq; q != p->win.submit_seq; q++) {
		struct rp_slot *s = rp__slot(&p->win, q);

		free(s->ibuf);
		s->ibuf = NULL;
	}
}

static void free_pool(struct rp_pool *p)
{
	/* Before the pidfds it watches are closed. */
	rp__reactor_destroy(p->procs.reactor);
	p->procs.reactor = NULL;
	rp__procs_stop(p);
	if (p->inl.on && p->inl.ready)
		rp__inline_exit(p);
	if (p->win.slots) {
		rp__owners_detach(p);
		free_inline_results(p);
	}
	free(p->inl.scratch);
	if (p->procs.epfd >= 0)
		close(p->procs.epfd);
	if (p->procs.efd >= 0)
		close(p->procs.efd);
	rp_region_destroy(&p->procs.region);
	rp__window_free(&p->win);
	free(p->procs.modules);
	free(p->procs.w);
	free(p);
}

int rp_pool_close(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	p->closed = true;
	return 0;
}

/*
 * Are all of worker i's outstanding records computed? Counted from its
 * result ring (on a copy of our consumer handle), never from a counter the
 * worker writes. A ring that breaks the protocol is handled like anywhere
 * else (the worker is killed and its tasks fail): computed, too. O(records).
 */
static bool worker_computed(struct rp_pool *p, unsigned i)
{
	struct rp_worker *w = &p->procs.w[i];
	struct rp_ring_cons c = w->results;
	struct rp_rec_view v;
	uint32_t n = 0;
	int r = 0;

	if (w->dead || w->outstanding <= w->held)
		return true;
	while (n < w->outstanding - w->held && (r = rp_ring_peek(&c, &v)) == 0) {
		rp_ring_release(&c, &v);
		n++;
	}
	if (r == -EPROTO) {
		rp__worker_broke_protocol(p, i);
		return true;
	}
	return n >= w->outstanding - w->held;
}

static bool all_computed(struct rp_pool *p)
{
	if (p->own.feeders)
		return false;
	for (unsigned i = 0; i < p->procs.nw; i++)
		if (!worker_computed(p, i))
			return false;
	/* Owned results still in rings are delivered by the pump. */
	for (unsigned i = 0; i < p->procs.nw && p->win.in_flight != p->win.raw_out; i++) {
		struct rp_worker *w = &p->procs.w[i];

		if (w->outstanding && !w->raw_head && !w->dead && !rp_ring_cons_empty(&w->results))
			return false;
	}
	return !p->win.nfailed_owned;
}

static bool join_cond(struct rp_pool *p, void *arg)
{
	(void)arg;
	return all_computed(p) || rp__owned_ready(p) || rp__feed_ready(p);
}

int rp_pool_join(struct rp_pool *p, uint64_t timeout_ns)
{
	uint64_t deadline;

	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;
	p->closed = true;
	deadline = timeout_ns ? rp_clock_ns() + timeout_ns : 0;
	for (;;) {
		rp__pump(p);
		if (all_computed(p))
			return 0;
		if (p->inl.on)
			return -EDEADLK; /* only uncollected results hold queued work */
		if (rp__wait(p, join_cond, NULL, deadline) == -ETIMEDOUT) {
			rp__pump(p);
			return all_computed(p) ? 0 : -ETIMEDOUT;
		}
	}
}

int rp_pool_terminate(struct rp_pool *p)
{
	struct rp_procs *pr;

	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;
	p->closed = true;
	p->terminated = true;
	pr = &p->procs;
	for (unsigned i = 0; i < pr->nw; i++)
		rp__proc_kill(&pr->w[i]);
	/* Results they published are delivered; the rest are cancelled. */
	for (unsigned i = 0; i < pr->nw; i++)
		if (pr->w[i].pid > 0)
			rp__worker_lost(p, i, RP_ECANCELED);
	rp__owners_cancel(p, RP_ECANCELED);
	rp__pump(p);
	return 0;
}

int rp_pool_destroy(struct rp_pool *p)
{
	RP_POOL_CHECK(p);
	if (p->in_cb)
		return -EDEADLK;	/* the callback's caller still uses the pool */
	p->closed = true;
	p->destroying = true;
	free_pool(p);
	return 0;
}

int rp_run(rp_task_fn fn, const void *in, size_t in_size, void *out, size_t out_size, size_t n)
{
	struct rp_map_opts o = { .chunk = RP_CHUNK_AUTO };
	struct rp_pool *p;
	int err, derr;

	if (!fn)
		return -EINVAL;
	err = rp_pool_create(&p, NULL);
	if (err)
		return err;
	err = rp_map_ex(p, fn, in, in_size, out, out_size, n, &o, NULL);
	derr = rp_pool_destroy(p);
	return err < 0 ? err : derr < 0 ? derr : err;
}
