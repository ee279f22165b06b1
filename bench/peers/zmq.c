/* SPDX-License-Identifier: MIT */
/*
 * ZeroMQ peers over ipc:// sockets in a private mkdtemp directory.
 * Pipeline: the parent PUSHes tasks to N forked workers (PULL), which PUSH
 * results to the parent's PULL; a bounded window of tasks is in flight and
 * results are reordered by sequence number for tiny_ordered. Round trip:
 * REQ/REP with one worker. Workers are forked before any context exists and
 * create their own; every receive has a timeout so nothing hangs.
 */
#include "peer_common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define STOP UINT64_MAX

struct msg {
	uint64_t seq;
	uint64_t x;
};

static char dir[64];
static char ep_tasks[128], ep_results[128], ep_rr[128];

static void *sock(void *ctx, int type, int timeout_ms)
{
	void *s = zmq_socket(ctx, type);
	int zero = 0, ivl = 10;

	if (!s)
		peer_die("zmq_socket: %s", zmq_strerror(zmq_errno()));
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms));
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	return s;
}

static void xsend(void *s, const struct msg *m)
{
	if (zmq_send(s, m, sizeof(*m), 0) != sizeof(*m))
		peer_die("zmq_send: %s", zmq_strerror(zmq_errno()));
}

/* Receive one message; 0 on timeout (the caller decides), 1 on success. */
static int xrecv(void *s, struct msg *m, int flags)
{
	int n = zmq_recv(s, m, sizeof(*m), flags);

	if (n == (int)sizeof(*m))
		return 1;
	if (n < 0 && zmq_errno() == EAGAIN)
		return 0;
	peer_die("zmq_recv: %s", n < 0 ? zmq_strerror(zmq_errno()) : "bad size");
}

/* ---- workers ---------------------------------------------------------- */

static void pipeline_worker(unsigned id)
{
	void *ctx = zmq_ctx_new();
	void *in = sock(ctx, ZMQ_PULL, 1000), *out = sock(ctx, ZMQ_PUSH, 5000);
	struct msg m = { STOP - 1, id };

	if (zmq_connect(in, ep_tasks) || zmq_connect(out, ep_results))
		peer_die("zmq_connect: %s", zmq_strerror(zmq_errno()));
	xsend(out, &m);		/* ready */
	for (;;) {
		if (!xrecv(in, &m, 0)) {
			if (getppid() == 1)
				break;
			continue;
		}
		if (m.seq == STOP)
			break;
		m.x = peer_tiny(m.x);
		xsend(out, &m);
	}
	zmq_close(in);
	zmq_close(out);
	zmq_ctx_term(ctx);
}

static void rep_worker(unsigned id)
{
	void *ctx = zmq_ctx_new();
	void *rep = sock(ctx, ZMQ_REP, 1000);
	struct msg m;

	(void)id;
	if (zmq_connect(rep, ep_rr))
		peer_die("zmq_connect: %s", zmq_strerror(zmq_errno()));
	for (;;) {
		if (!xrecv(rep, &m, 0)) {
			if (getppid() == 1)
				break;
			continue;
		}
		if (m.seq == STOP) {
			xsend(rep, &m);
			break;
		}
		m.x = peer_tiny(m.x);
		xsend(rep, &m);
	}
	zmq_close(rep);
	zmq_ctx_term(ctx);
}

static pid_t *spawn(unsigned n, void (*fn)(unsigned))
{
	pid_t *pids = calloc(n, sizeof(*pids)), parent = getpid();

	if (!pids)
		peer_die("out of memory");
	for (unsigned i = 0; i < n; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			peer_die("fork: %s", strerror(errno));
		if (pids[i] == 0) {
			peer_child_init(parent);
			fn(i);
			_exit(0);
		}
	}
	return pids;
}

/* Reap n workers, waiting at most ~2 s before killing stragglers. */
static void reap(pid_t *pids, unsigned n)
{
	uint64_t deadline = peer_now_ns() + 2000000000ull;

	for (unsigned i = 0; i < n; i++) {
		int st;

		while (waitpid(pids[i], &st, WNOHANG) == 0) {
			if (peer_now_ns() > deadline) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &st, 0);
				break;
			}
			usleep(1000);
		}
	}
	free(pids);
}

/* ---- pipeline ---------------------------------------------------------- */

static void pipeline(const struct peer_opts *o, int ordered)
{
	const unsigned W = 1024, mask = W - 1;
	uint64_t n = o->quick ? 100000 : 1000000, sub = 0, del = 0, t0, t1;
	double c0 = peer_cpu_s();
	uint8_t *ready = calloc(W, 1);
	pid_t *pids = spawn(o->workers, pipeline_worker);
	void *ctx = zmq_ctx_new();
	void *push = sock(ctx, ZMQ_PUSH, 10000), *pull = sock(ctx, ZMQ_PULL, 10000);
	struct msg m;
	char extra[64];

	if (!ready)
		peer_die("out of memory");
	if (zmq_bind(push, ep_tasks) || zmq_bind(pull, ep_results))
		peer_die("zmq_bind: %s", zmq_strerror(zmq_errno()));
	for (unsigned i = 0; i < o->workers; i++)
		if (!xrecv(pull, &m, 0) || m.seq != STOP - 1)
			peer_die("worker did not report ready");
	usleep(20000);	/* let every worker's task connection attach */

	t0 = peer_now_ns();
	while (del < n) {
		while (sub < n && sub - del < W) {
			m.seq = sub;
			m.x = sub;
			xsend(push, &m);
			sub++;
		}
		/* block for one result, then take whatever else is there */
		int flags = 0;

		while (xrecv(pull, &m, flags)) {
			if (m.seq >= sub || m.x != peer_tiny(m.seq))
				peer_die("bad result for seq %llu", (unsigned long long)m.seq);
			if (ordered)
				ready[m.seq & mask] = 1;
			else
				del++;
			flags = ZMQ_DONTWAIT;
		}
		if (!flags)
			peer_die("no result for 10 s");
		while (ordered && del < sub && ready[del & mask]) {
			ready[del & mask] = 0;
			del++;
		}
	}
	t1 = peer_now_ns();

	m.seq = STOP;
	for (unsigned i = 0; i < o->workers; i++)
		xsend(push, &m);
	zmq_close(push);
	zmq_close(pull);
	zmq_ctx_term(ctx);
	reap(pids, o->workers);
	free(ready);

	struct peer_row r = peer_row_init(ordered ? "tiny_ordered" : "tiny_unordered", "zmq_pipeline");

	snprintf(extra, sizeof(extra), "{\"window\": %u, \"transport\": \"ipc\"}", W);
	r.workers = o->workers;
	r.payload_bytes = sizeof(m);
	r.tasks = n;
	r.tasks_per_s = (double)n / ((double)(t1 - t0) * 1e-9);
	r.cpu_s = peer_cpu_s() - c0;
	r.extra = extra;
	peer_emit(&r);
}

/* ---- REQ/REP round trip ----------------------------------------------- */

static void reqrep(const struct peer_opts *o, int asleep)
{
	uint64_t warm = 1000, n = asleep ? (o->quick ? 500 : 5000) : (o->quick ? 20000 : 200000);
	uint64_t *lat = malloc(n * sizeof(*lat)), busy = 0;
	double c0 = peer_cpu_s();
	pid_t *pids = spawn(1, rep_worker);
	void *ctx = zmq_ctx_new();
	void *req = sock(ctx, ZMQ_REQ, 10000);
	char extra[64];
	struct msg m;

	if (!lat)
		peer_die("out of memory");
	if (zmq_bind(req, ep_rr))
		peer_die("zmq_bind: %s", zmq_strerror(zmq_errno()));
	for (uint64_t i = 0; i < warm + n; i++) {
		uint64_t s, d;

		if (asleep && i >= warm) {
			struct timespec g = { 0, 1000000 };

			nanosleep(&g, NULL);
		}
		m.seq = i;
		m.x = i;
		s = peer_ticks();
		xsend(req, &m);
		if (!xrecv(req, &m, 0))
			peer_die("no reply for 10 s");
		d = peer_ticks() - s;
		if (m.seq != i || m.x != peer_tiny(i))
			peer_die("bad reply");
		if (i >= warm) {
			lat[i - warm] = d;
			busy += d;
		}
	}
	m.seq = STOP;
	xsend(req, &m);
	xrecv(req, &m, 0);
	zmq_close(req);
	zmq_ctx_term(ctx);
	reap(pids, 1);

	struct peer_row r = peer_row_init(asleep ? "rtt_asleep" : "rtt_awake", "zmq_reqrep");

	snprintf(extra, sizeof(extra), "{\"gap_ns\": %d, \"transport\": \"ipc\"}", asleep ? 1000000 : 0);
	r.workers = 1;
	r.payload_bytes = sizeof(m);
	r.tasks = n;
	r.tasks_per_s = (double)n / ((double)busy / peer_ticks_per_ns() * 1e-9);
	peer_percentiles(lat, n, &r.p50_ns, &r.p99_ns, &r.p999_ns);
	r.cpu_s = peer_cpu_s() - c0;
	r.extra = extra;
	peer_emit(&r);
	free(lat);
}

static pid_t main_pid;

/* Remove the sockets and the directory. Async-signal-safe. */
static void cleanup(void)
{
	if (getpid() != main_pid)	/* a worker exiting */
		return;
	unlink(ep_tasks + 6);	/* skip "ipc://" */
	unlink(ep_results + 6);
	unlink(ep_rr + 6);
	rmdir(dir);
}

static void on_alarm(int sig)
{
	static const char msg[] = "watchdog: time limit reached, exiting\n";

	(void)sig;
	cleanup();
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(124);
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	signal(SIGPIPE, SIG_IGN);
	peer_ticks_per_ns();
	snprintf(dir, sizeof(dir), "/tmp/rp-zmq.XXXXXX");
	if (!mkdtemp(dir))
		peer_die("mkdtemp: %s", strerror(errno));
	snprintf(ep_tasks, sizeof(ep_tasks), "ipc://%s/tasks", dir);
	snprintf(ep_results, sizeof(ep_results), "ipc://%s/results", dir);
	snprintf(ep_rr, sizeof(ep_rr), "ipc://%s/rr", dir);
	main_pid = getpid();
	atexit(cleanup);
	signal(SIGALRM, on_alarm);	/* the watchdog, now with cleanup */
	if (peer_want(&o, "tiny_ordered"))
		pipeline(&o, 1);
	if (peer_want(&o, "tiny_unordered"))
		pipeline(&o, 0);
	if (peer_want(&o, "rtt_awake"))
		reqrep(&o, 0);
	if (peer_want(&o, "rtt_asleep"))
		reqrep(&o, 1);
	return 0;
}
