/* SPDX-License-Identifier: MIT */
/*
 * A hand-written fork+pipe process pool, as a competent C programmer would
 * build one without ringpool: each worker has a task pipe and a result pipe
 * carrying length-prefixed records; the parent keeps a bounded window of
 * tasks in flight, gives each new task to the least-loaded worker, writes
 * with writev() in batches (non-blocking), poll()s the result pipes and puts
 * results back in submit order. Workers read in bulk and answer a whole batch
 * with one write(). Pipes are grown to 1 MiB where the kernel allows it.
 */
#include "peer_common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { OP_TINY = 1, OP_SUM = 2, OP_BURN = 3 };

struct rec {		/* record header; `len` bytes of payload follow */
	uint32_t len;
	uint16_t op;
	uint16_t slot;		/* the parent's bookkeeping slot, echoed back */
	uint64_t seq;
};

struct res {		/* a result record: fixed size */
	uint64_t seq;
	uint64_t val;
	uint16_t slot;
	uint16_t pad[3];
};

#define BATCH 64	/* records per writev() */

/*
 * The unbatched variant (impl "forkpipe_unbatched"): one writev() per task
 * record and one write() per result, as many hand-written pools do. Set
 * before the workers are forked.
 */
static int unbatched;

#define PIPE_BYTES (1 << 20)

struct worker {
	pid_t pid;
	int tfd, rfd;		/* parent's ends: task write, result read */
	uint64_t *q;		/* slots assigned, not fully written: ring of `window` */
	unsigned qh, qt;
	size_t off;		/* bytes of q[qh]'s record already written */
	unsigned outstanding;	/* assigned, result not yet read */
	char rbuf[65536 - 65536 % sizeof(struct res)];
	size_t rhave;
};

struct pool {
	unsigned n;
	struct worker *w;
	uint64_t *counts;	/* shared page: syscalls made by each worker */
	uint64_t psys;		/* syscalls made by the parent */
};

/* ---- worker side ------------------------------------------------------ */

static void write_all(int fd, const void *p, size_t n, uint64_t *sys)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		++*sys;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		p = (const char *)p + k;
		n -= (size_t)k;
	}
}

static void worker_main(int tfd, int rfd, uint64_t *count)
{
	size_t cap = 1 << 20, have = 0, off = 0, olen = 0, ocap = 1 << 16;
	char *buf = aligned_alloc(64, cap), *out = malloc(ocap);
	uint64_t sys = 0;

	if (!buf || !out)
		_exit(2);
	for (;;) {
		/* answer every complete record we hold */
		while (have - off >= sizeof(struct rec)) {
			struct rec h;
			struct res r;
			const char *p = buf + off + sizeof(h);
			uint64_t x;

			memcpy(&h, buf + off, sizeof(h));
			if (have - off < sizeof(h) + h.len) {
				if (cap < sizeof(h) + h.len) {	/* grow for a big record */
					size_t ncap = cap;
					char *nb;

					while (ncap < sizeof(h) + h.len)
						ncap *= 2;
					nb = aligned_alloc(64, ncap);
					if (!nb)
						_exit(2);
					memcpy(nb, buf + off, have - off);
					free(buf);
					buf = nb;
					cap = ncap;
					have -= off;
					off = 0;
				}
				break;
			}
			r.seq = h.seq;
			r.slot = h.slot;
			switch (h.op) {
			case OP_TINY:
				memcpy(&x, p, 8);
				r.val = peer_tiny(x);
				break;
			case OP_SUM:
				r.val = peer_payload_sum(p, h.len);
				break;
			case OP_BURN:
				memcpy(&x, p, 8);
				r.val = peer_burn(x, h.seq);
				break;
			default:
				_exit(4);
			}
			if (olen + sizeof(r) > ocap) {
				write_all(rfd, out, olen, &sys);
				olen = 0;
			}
			memcpy(out + olen, &r, sizeof(r));
			olen += sizeof(r);
			off += sizeof(h) + h.len;
			if (unbatched) {
				write_all(rfd, out, olen, &sys);
				olen = 0;
			}
		}
		if (olen) {
			write_all(rfd, out, olen, &sys);
			olen = 0;
		}
		if (off) {
			memmove(buf, buf + off, have - off);
			have -= off;
			off = 0;
		}
		ssize_t k = read(tfd, buf + have, cap - have);

		sys++;
		if (k == 0)
			break;
		if (k < 0) {
			if (errno == EINTR)
				continue;
			_exit(5);
		}
		have += (size_t)k;
	}
	*count = sys;
	_exit(0);
}

/* ---- parent side ------------------------------------------------------ */

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static struct pool *pool_create(unsigned n, unsigned window)
{
	struct pool *p = calloc(1, sizeof(*p));
	pid_t parent = getpid();

	if (!p)
		peer_die("out of memory");
	p->n = n;
	p->w = calloc(n, sizeof(*p->w));
	p->counts = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (!p->w || p->counts == MAP_FAILED)
		peer_die("out of memory");
	for (unsigned i = 0; i < n; i++) {
		int t[2], r[2];
		struct worker *w = &p->w[i];

		if (pipe2(t, O_CLOEXEC) || pipe2(r, O_CLOEXEC))
			peer_die("pipe: %s", strerror(errno));
		fcntl(t[1], F_SETPIPE_SZ, PIPE_BYTES);	/* best effort */
		fcntl(r[1], F_SETPIPE_SZ, PIPE_BYTES);
		w->pid = fork();
		if (w->pid < 0)
			peer_die("fork: %s", strerror(errno));
		if (w->pid == 0) {
			peer_child_init(parent);
			/* drop the parent's ends, ours and earlier workers' */
			for (unsigned j = 0; j < i; j++) {
				close(p->w[j].tfd);
				close(p->w[j].rfd);
			}
			close(t[1]);
			close(r[0]);
			worker_main(t[0], r[1], &p->counts[i]);
		}
		close(t[0]);
		close(r[1]);
		w->tfd = t[1];
		w->rfd = r[0];
		set_nonblock(w->tfd);
		set_nonblock(w->rfd);
		w->q = malloc(window * sizeof(*w->q));
		if (!w->q)
			peer_die("out of memory");
	}
	return p;
}

/* Close the task pipes (workers exit), reap them; returns worker syscalls. */
static uint64_t pool_destroy(struct pool *p)
{
	uint64_t sys = 0;

	for (unsigned i = 0; i < p->n; i++)
		close(p->w[i].tfd);
	for (unsigned i = 0; i < p->n; i++) {
		int st;

		if (waitpid(p->w[i].pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			peer_die("worker %u failed (status 0x%x)", i, st);
		close(p->w[i].rfd);
		free(p->w[i].q);
		sys += p->counts[i];
	}
	munmap(p->counts, 4096);
	free(p->w);
	free(p);
	return sys;
}

/* One streaming run: n tasks, at most `window` submitted and not delivered. */
struct job {
	uint64_t n;
	unsigned op;
	size_t len;		/* payload bytes per task */
	unsigned window;	/* power of two */
	int ordered;
	uint64_t gap_ns;	/* sleep before each task (rtt_asleep) */
	uint64_t burn_iters;	/* OP_BURN */
	uint64_t *lat;		/* per-task ticks, submit -> delivery (window 1) */
	/* filled by run() */
	double elapsed_s;
};

struct slot {
	struct rec h;
	uint64_t x;		/* OP_TINY / OP_BURN input */
	char *payload;		/* OP_SUM input */
	uint64_t val;
	int ready;
	uint64_t t0;
};

static uint64_t expect(const struct job *j, uint64_t seq)
{
	switch (j->op) {
	case OP_TINY:
		return peer_tiny(seq);
	case OP_SUM:
		return peer_payload_expect(j->len, seq);
	default:
		return 0;	/* OP_BURN: not checked */
	}
}

/* Write as much of w's queue as the pipe takes now. */
static void flush_worker(struct pool *p, struct worker *w, struct slot *s, unsigned mask)
{
	while (w->qh != w->qt) {
		struct iovec iov[2 * BATCH];
		int k = 0;
		size_t skip = w->off;

		for (unsigned i = w->qh; i != w->qt && k < (unbatched ? 2 : 2 * BATCH); i++) {
			struct slot *sl = &s[w->q[i & mask]];
			void *pay = sl->h.op == OP_SUM ? (void *)sl->payload : (void *)&sl->x;

			iov[k].iov_base = &sl->h;
			iov[k].iov_len = sizeof(sl->h);
			iov[k + 1].iov_base = pay;
			iov[k + 1].iov_len = sl->h.len;
			k += 2;
		}
		/* skip what an earlier partial write already sent */
		int first = 0;

		while (skip) {
			size_t d = skip < iov[first].iov_len ? skip : iov[first].iov_len;

			iov[first].iov_base = (char *)iov[first].iov_base + d;
			iov[first].iov_len -= d;
			skip -= d;
			if (iov[first].iov_len == 0)
				first++;
		}
		ssize_t got = writev(w->tfd, iov + first, k - first);

		p->psys++;
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			peer_die("writev: %s", strerror(errno));
		}
		/* advance over whole records */
		size_t done = w->off + (size_t)got;

		while (w->qh != w->qt) {
			size_t rl = sizeof(struct rec) + s[w->q[w->qh & mask]].h.len;

			if (done < rl)
				break;
			done -= rl;
			w->qh++;
		}
		w->off = done;
	}
}

static void run(struct pool *p, struct job *j)
{
	unsigned W = j->window, mask = W - 1, nfree = 0;
	struct slot *s = calloc(W, sizeof(*s));
	uint16_t *freel = malloc(W * sizeof(*freel));
	struct pollfd *pf = malloc(2 * p->n * sizeof(*pf));
	uint64_t sub = 0, del = 0, t0;
	unsigned rr = 0;

	if (!s || !freel || !pf || W > 65536)
		peer_die("out of memory");
	for (unsigned i = 0; j->op == OP_SUM && i < W; i++) {
		if (!(s[i].payload = aligned_alloc(64, j->len)))
			peer_die("out of memory");
		memset(s[i].payload, 0, j->len);	/* fault in before timing */
	}
	for (unsigned i = W; i-- > 0;)
		freel[nfree++] = (uint16_t)i;
	for (unsigned i = 0; i < p->n; i++) {
		p->w[i].qh = p->w[i].qt = 0;
		p->w[i].off = 0;
		p->w[i].rhave = 0;
		p->w[i].outstanding = 0;
	}
	t0 = peer_now_ns();
	while (del < j->n) {
		/*
		 * Fill the window. Ordered: at most W tasks between the oldest
		 * undelivered one and the newest (slot = seq mod W). Unordered: at
		 * most W outstanding, slots from a free list.
		 */
		while (sub < j->n && (j->ordered ? sub - del < W : nfree > 0)) {
			unsigned si = j->ordered ? (unsigned)(sub & mask) : freel[--nfree];
			struct slot *sl = &s[si];
			struct worker *best = NULL;

			if (j->gap_ns) {
				struct timespec g = { 0, (long)j->gap_ns };

				nanosleep(&g, NULL);
			}
			sl->h.seq = sub;
			sl->h.op = (uint16_t)j->op;
			sl->h.slot = (uint16_t)si;
			sl->ready = 0;
			if (j->op == OP_SUM) {
				sl->h.len = (uint32_t)j->len;
				peer_payload_fill(sl->payload, j->len, sub);
			} else {
				sl->h.len = 8;
				sl->x = j->op == OP_BURN ? j->burn_iters : sub;
			}
			/* least loaded worker, round robin among equals */
			for (unsigned i = 0; i < p->n; i++) {
				struct worker *w = &p->w[(rr + i) % p->n];

				if (!best || w->outstanding < best->outstanding)
					best = w;
			}
			rr++;
			best->q[best->qt++ & mask] = si;
			best->outstanding++;
			if (j->lat)
				sl->t0 = peer_ticks();
			sub++;
		}
		/* write, then wait for results (or room in a task pipe) */
		int nf = 0;

		for (unsigned i = 0; i < p->n; i++) {
			struct worker *w = &p->w[i];

			flush_worker(p, w, s, mask);
			if (w->outstanding) {
				pf[nf].fd = w->rfd;
				pf[nf].events = POLLIN;
				nf++;
			}
			if (w->qh != w->qt) {
				pf[nf].fd = w->tfd;
				pf[nf].events = POLLOUT;
				nf++;
			}
		}
		int pr = poll(pf, (nfds_t)nf, 10000);

		p->psys++;
		if (pr < 0 && errno != EINTR)
			peer_die("poll: %s", strerror(errno));
		if (pr == 0)
			peer_die("no progress for 10 s");
		for (int f = 0; f < nf; f++) {
			if (pf[f].events != POLLIN || !(pf[f].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			struct worker *w = NULL;

			for (unsigned i = 0; i < p->n && !w; i++)
				if (p->w[i].rfd == pf[f].fd)
					w = &p->w[i];
			ssize_t k = read(w->rfd, w->rbuf + w->rhave, sizeof(w->rbuf) - w->rhave);

			p->psys++;
			if (k == 0)
				peer_die("a worker died");
			if (k < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				peer_die("read: %s", strerror(errno));
			}
			w->rhave += (size_t)k;
			size_t off = 0;

			for (; w->rhave - off >= sizeof(struct res); off += sizeof(struct res)) {
				struct res r;
				struct slot *sl;

				memcpy(&r, w->rbuf + off, sizeof(r));
				if (r.slot >= W || s[r.slot].h.seq != r.seq || r.seq >= sub)
					peer_die("bad result seq %llu", (unsigned long long)r.seq);
				if (j->op != OP_BURN && r.val != expect(j, r.seq))
					peer_die("wrong result for seq %llu", (unsigned long long)r.seq);
				w->outstanding--;
				sl = &s[r.slot];
				if (j->ordered) {
					sl->ready = 1;	/* delivered below, in order */
					sl->val = r.val;
				} else {
					/* delivered now; its slot is free again */
					if (j->lat)
						j->lat[r.seq] = peer_ticks() - sl->t0;
					freel[nfree++] = r.slot;
					del++;
				}
			}
			memmove(w->rbuf, w->rbuf + off, w->rhave - off);
			w->rhave -= off;
		}
		/* ordered delivery: the contiguous prefix */
		while (j->ordered && del < sub && s[del & mask].ready) {
			if (j->lat)
				j->lat[del] = peer_ticks() - s[del & mask].t0;
			s[del & mask].ready = 0;
			del++;
		}
	}
	j->elapsed_s = (double)(peer_now_ns() - t0) * 1e-9;
	if (j->op == OP_SUM)
		for (unsigned i = 0; i < W; i++)
			free(s[i].payload);
	free(s);
	free(freel);
	free(pf);
}

/* ---- workloads -------------------------------------------------------- */

static void emit_run(const char *wl, unsigned workers, struct job *j, double cpu, uint64_t sys,
		     const char *extra)
{
	struct peer_row r = peer_row_init(wl, unbatched ? "forkpipe_unbatched" : "forkpipe");

	r.workers = workers;
	r.payload_bytes = j->op == OP_SUM ? j->len : 8;
	r.tasks = j->n;
	r.tasks_per_s = (double)j->n / j->elapsed_s;
	if (j->lat && j->gap_ns) {
		/* paced run: the rate over the time spent in round trips only */
		double busy = 0;

		for (uint64_t i = 0; i < j->n; i++)
			busy += (double)j->lat[i];
		r.tasks_per_s = (double)j->n / (busy / peer_ticks_per_ns() * 1e-9);
	}
	if (j->lat)
		peer_percentiles(j->lat, j->n, &r.p50_ns, &r.p99_ns, &r.p999_ns);
	r.cpu_s = cpu;
	r.syscalls_per_task = (double)sys / (double)j->n;
	r.extra = extra;
	peer_emit(&r);
}

/* Create a pool, run one job on it, destroy it; CPU counts workers too. */
static void measure(const char *wl, unsigned workers, struct job *j, const char *extra_in)
{
	double c0 = peer_cpu_s();
	struct pool *p = pool_create(workers, j->window);
	uint64_t sys;
	char extra[160];

	run(p, j);
	sys = p->psys;
	sys += pool_destroy(p);
	if (extra_in)
		snprintf(extra, sizeof(extra), "%s", extra_in);
	else
		snprintf(extra, sizeof(extra), "{\"window\": %u}", j->window);
	emit_run(wl, workers, j, peer_cpu_s() - c0, sys, extra);
}

static void tiny(const struct peer_opts *o, int ordered)
{
	struct job j = {
		.n = o->quick ? 200000 : 2000000, .op = OP_TINY, .window = 1024,
		.ordered = ordered,
	};

	measure(ordered ? "tiny_ordered" : "tiny_unordered", o->workers, &j, NULL);
	if (ordered) {
		unbatched = 1;
		j.n /= 4;
		measure("tiny_ordered", o->workers, &j, NULL);
		unbatched = 0;
	}
}

static void rtt(const struct peer_opts *o, int asleep)
{
	struct job j = {
		.op = OP_TINY, .window = 1, .ordered = 1,
		.gap_ns = asleep ? 1000000 : 0,
	};

	j.n = asleep ? (o->quick ? 500 : 5000) : (o->quick ? 20000 : 200000);
	j.lat = malloc(j.n * sizeof(*j.lat));
	if (!j.lat)
		peer_die("out of memory");
	if (asleep)
		measure("rtt_asleep", o->workers, &j, "{\"gap_ns\": 1000000}");
	else
		measure("rtt_awake", o->workers, &j, "{\"gap_ns\": 0}");
	free(j.lat);
}

static void payload(const struct peer_opts *o)
{
	for (const size_t *sz = peer_payload_sizes; *sz; sz++) {
		struct job j = {
			.n = peer_payload_tasks(*sz, o->quick), .op = OP_SUM, .len = *sz,
			.ordered = 1,
		};
		double c0 = peer_cpu_s();
		struct pool *p;
		uint64_t sys;
		char extra[128];

		/* one buffer per task in flight */
		j.window = peer_payload_window(*sz, o->workers);
		p = pool_create(o->workers, j.window);
		run(p, &j);
		sys = p->psys + pool_destroy(p);
		snprintf(extra, sizeof(extra), "{\"gbps\": %.4f, \"path\": \"copy\", \"window\": %u}",
			 (double)j.n * (double)*sz / j.elapsed_s * 1e-9, j.window);
		emit_run("payload", o->workers, &j, peer_cpu_s() - c0, sys, extra);
	}
}

static void cpu_scaling(const struct peer_opts *o)
{
	uint64_t iters = peer_burn_calibrate(1000000), n = o->quick ? 400 : 4000;
	double serial_s;

	serial_s = peer_burn_serial_s(iters, (uint64_t)n);
	for (unsigned w = 1; w <= o->workers; w++) {
		struct job j = {
			.n = n, .op = OP_BURN, .window = 1024, .ordered = 1, .burn_iters = iters,
		};
		double c0 = peer_cpu_s();
		struct pool *p = pool_create(w, j.window);
		uint64_t sys;
		char extra[160];

		run(p, &j);
		sys = p->psys + pool_destroy(p);
		snprintf(extra, sizeof(extra),
			 "{\"speedup\": %.4f, \"serial_s\": %.4f, \"task_us\": %.1f}",
			 serial_s / j.elapsed_s, serial_s, serial_s / (double)n * 1e6);
		emit_run("cpu_scaling", w, &j, peer_cpu_s() - c0, sys, extra);
	}
}

int main(int argc, char **argv)
{
	struct peer_opts o;

	peer_parse(argc, argv, &o);
	peer_watchdog(o.quick ? 40 : 400);
	signal(SIGPIPE, SIG_IGN);
	peer_ticks_per_ns();
	if (peer_want(&o, "tiny_ordered"))
		tiny(&o, 1);
	if (peer_want(&o, "tiny_unordered"))
		tiny(&o, 0);
	if (peer_want(&o, "rtt_awake"))
		rtt(&o, 0);
	if (peer_want(&o, "rtt_asleep"))
		rtt(&o, 1);
	if (peer_want(&o, "payload"))
		payload(&o);
	if (peer_want(&o, "cpu_scaling"))
		cpu_scaling(&o);
	return 0;
}
