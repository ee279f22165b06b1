/* SPDX-License-Identifier: MIT */
/*
 * A TCP service on 127.0.0.1: one thread runs an epoll loop over the sockets
 * and rp_pool_fd(), hands each request's CPU work to a ringpool pool, and
 * collects results as they finish (RP_UNORDERED). Each connection keeps a
 * window of its requests indexed by request number; replies leave from the
 * head of that window, so they come back in request order per connection.
 *
 * Protocol (lines; any number of requests may be pipelined):
 *   request   "N\n"    N in decimal, 0 .. 2^64-1 ("\r\n" is accepted too)
 *   reply     "H\n"    H = service_work(N) in decimal: the splitmix64 step
 *                      applied min(N, 2^22) times, starting from N
 *             "ERR badrequest\n"   not a number, or a line over 64 bytes
 *             "ERR crashed\n"      the worker running it died (RP_ECRASHED)
 *             "ERR failed\n"       any other failure (e.g. no worker left)
 *             "ERR busy\n"         sent once, then closed: over --max-conns
 *   Replies come in request order. After the client shuts down its sending
 *   side, the replies still owed are sent and then the connection is closed.
 * Backpressure: a connection is not read while CONN_WINDOW of its requests
 * are unanswered or OUT_HIGH bytes of replies wait for it to read; requests
 * the pool has no room for (rp_submit: -EAGAIN) wait in their connection's
 * window and are submitted, round-robin over connections, once results are
 * collected. Results for a connection closed meanwhile are dropped.
 * SIGINT or SIGTERM: close every socket, rp_pool_destroy, exit 0.
 *
 * Usage: service [--port P] [--workers N] [--max-conns N]
 *   --port 0 (default) picks a free port; the port is the first line on stdout.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringpool.h"

#define WORK_CAP	(1ull << 22)	/* most rounds per request (~40 ms at 10 ns/round) */
#define MAX_LINE	64		/* longest request line, newline included */
#define CONN_WINDOW	256		/* requests read and not yet answered, per connection */
#define OUT_HIGH	16384		/* stop reading while this much output is unsent */
#define REPLY_MAX	24		/* longest reply line: 20 digits + "\n" */
#define IN_CAP		4096
#define OUT_CAP		(OUT_HIGH + CONN_WINDOW * REPLY_MAX)
#define SUBMIT_BURST	8		/* requests per connection per round-robin turn */
#define SETTLE_ROUNDS	32		/* pool rounds between looks at the sockets */
#define WINDOW		16384		/* the pool's max_in_flight (default 1024) */
#define ST_BADREQ	(-EBADMSG)	/* status of a request that did not parse */

/* epoll tags (low 32 bits of data.u64; a connection's generation is above). */
enum { TAG_LISTEN, TAG_SIGNAL, TAG_POOL, TAG_CONN0 };

/*
 * The work, a chain of dependent hashes: deterministic and CPU-bound, its
 * cost linear in N. service_load.c has the same function as its reference.
 */
static uint64_t service_work(uint64_t n)
{
	uint64_t h = n, rounds = n < WORK_CAP ? n : WORK_CAP;

	while (rounds--) {
		uint64_t z = (h += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		h = z ^ (z >> 31);
	}
	return h;
}

/* Task (in a worker): 8 bytes of N in, 8 bytes of service_work(N) out. */
static int work_task(struct rp_task *t, const void *in, size_t len)
{
	RP_ARGS(uint64_t, n, in, len);
	uint64_t *out = rp_task_result(t, sizeof(*out));

	if (!out)
		return -ENOMEM;
	*out = service_work(*n);
	return 0;
}

enum { REQ_QUEUED = 1, REQ_RUNNING, REQ_DONE };

struct req {
	uint64_t n;		/* the request */
	uint64_t value;		/* the result, once REQ_DONE with status 0 */
	int status;		/* 0, ST_BADREQ, or the task's / pool's status */
	int state;		/* REQ_* */
};

/*
 * One connection, in a slot that is reused; `gen` changes on every close so
 * that results and events meant for an earlier occupant are recognised.
 * Requests next_reply <= i < next_req live in win[i % CONN_WINDOW]; those
 * from next_submit on that are REQ_QUEUED still wait for the pool.
 */
struct conn {
	int fd;			/* -1: slot free */
	uint32_t gen;
	uint32_t events;	/* epoll mask registered */
	bool eof;		/* client shut down its side: close once all is answered */
	bool discard;		/* skipping the rest of an overlong line */
	bool dirty;		/* on the dirty list: replies to move out */
	bool queued;		/* on the submit queue */
	int prev, next;		/* submit queue links (slot numbers, -1: none) */
	unsigned turn;		/* submitted in its current turn at the queue head */
	uint64_t next_req, next_submit, next_reply;
	struct req *win;
	char *in, *out;
	size_t in_len, out_off, out_len;
};

/* An in-flight task: the request it answers. */
struct flight {
	uint64_t seq;
	uint64_t idx;		/* request number within the connection */
	uint32_t slot, gen;
	bool used;
};

struct server {
	struct rp_pool *pool;
	int ep, lfd, sfd, pfd;
	struct conn *conns;
	unsigned max_conns, nconns;
	unsigned *free_slots, nfree;
	unsigned *dirty, ndirty;
	int q_head, q_tail;	/* connections with requests for the pool */
	struct flight *fl;	/* seq -> request, open addressing, linear probing */
	size_t fl_mask;
	uint64_t inflight;	/* submitted and not collected */
	bool pool_full;		/* rp_submit said -EAGAIN: wait for a collection */
	bool pool_event;	/* rp_pool_fd() was readable */
	bool accept_paused;	/* out of fds: listener muted until a close */
	bool pool_polled;	/* pool fd left the epoll set: poll every 1 ms */
	uint64_t answered, crashed, failed, dropped;
};

/* ---- seq -> request map ---- */

/*
 * A hash table of twice the pool window, so at most half full. rp_next
 * returns results by seq, and an RP_ECRASHED result carries no data: the
 * parent has to remember which request each seq was.
 */
static void fl_insert(struct server *s, uint64_t seq, unsigned slot, uint32_t gen, uint64_t idx)
{
	size_t i = seq & s->fl_mask;

	while (s->fl[i].used)
		i = (i + 1) & s->fl_mask;
	s->fl[i] = (struct flight){ .seq = seq, .idx = idx, .slot = slot, .gen = gen,
				    .used = true };
}

/* Remove and return the entry for seq; false if there is none. */
static bool fl_take(struct server *s, uint64_t seq, struct flight *out)
{
	size_t i = seq & s->fl_mask, j, home;

	while (s->fl[i].used && s->fl[i].seq != seq)
		i = (i + 1) & s->fl_mask;
	if (!s->fl[i].used)
		return false;
	*out = s->fl[i];
	/* Backward-shift deletion: pull up later entries of the same probe run. */
	for (j = i;;) {
		j = (j + 1) & s->fl_mask;
		if (!s->fl[j].used)
			break;
		home = s->fl[j].seq & s->fl_mask;
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;	/* its home lies after the hole: it stays */
		s->fl[i] = s->fl[j];
		i = j;
	}
	s->fl[i].used = false;
	return true;
}

/* ---- submit queue (round-robin over connections) ---- */

static void q_push(struct server *s, struct conn *c)
{
	int me = (int)(c - s->conns);

	if (c->queued)
		return;
	c->queued = true;
	c->prev = s->q_tail;
	c->next = -1;
	if (s->q_tail >= 0)
		s->conns[s->q_tail].next = me;
	else
		s->q_head = me;
	s->q_tail = me;
}

static void q_remove(struct server *s, struct conn *c)
{
	if (!c->queued)
		return;
	c->queued = false;
	if (c->prev >= 0)
		s->conns[c->prev].next = c->next;
	else
		s->q_head = c->next;
	if (c->next >= 0)
		s->conns[c->next].prev = c->prev;
	else
		s->q_tail = c->prev;
}

static void mark_dirty(struct server *s, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	s->dirty[s->ndirty++] = (unsigned)(c - s->conns);
}

/* ---- connections ---- */

static void set_events(struct server *s, struct conn *c, uint32_t want)
{
	struct epoll_event ev = { .events = want,
				  .data.u64 = (uint64_t)c->gen << 32 |
					      (uint64_t)(TAG_CONN0 + (c - s->conns)) };

	if (want != c->events && epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
}

static void listener_events(struct server *s, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.u64 = TAG_LISTEN };

	epoll_ctl(s->ep, EPOLL_CTL_MOD, s->lfd, &ev);
}

/* Close now: whatever is queued or in flight for it is dropped. */
static void conn_close(struct server *s, struct conn *c)
{
	q_remove(s, c);
	close(c->fd);	/* also leaves the epoll set: the fd is not shared */
	c->fd = -1;
	c->gen++;	/* its in-flight results no longer match */
	c->dirty = false;
	s->free_slots[s->nfree++] = (unsigned)(c - s->conns);
	s->nconns--;
	if (s->accept_paused) {
		s->accept_paused = false;
		listener_events(s, EPOLLIN);
	}
}

static bool can_take(const struct conn *c)
{
	return c->next_req - c->next_reply < CONN_WINDOW && c->out_len - c->out_off < OUT_HIGH;
}

/* Parse "N" (len bytes, no newline). Returns false if it is not a number. */
static bool parse_n(const char *p, size_t len, uint64_t *n)
{
	uint64_t v = 0;

	if (len && p[len - 1] == '\r')
		len--;
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*n = v;
	return true;
}

static void add_request(struct conn *c, bool ok, uint64_t n)
{
	struct req *r = &c->win[c->next_req++ % CONN_WINDOW];

	r->n = n;
	r->status = ok ? 0 : ST_BADREQ;
	r->state = ok ? REQ_QUEUED : REQ_DONE;
}

/* Turn complete lines of input into requests while the window has room.
 * Returns true if any was added. */
static bool conn_parse(struct server *s, struct conn *c)
{
	size_t off = 0;
	bool any = false, queue = false;

	while (can_take(c) && off < c->in_len) {
		char *line = c->in + off, *nl = memchr(line, '\n', c->in_len - off);
		size_t len = nl ? (size_t)(nl - line) : c->in_len - off;
		uint64_t n = 0;
		bool ok;

		if (!nl) {
			if (!c->discard && len < MAX_LINE)
				break;	/* wait for the rest of the line */
			if (!c->discard)
				add_request(c, false, 0), any = true;
			c->discard = true;
			off = c->in_len;
			break;
		}
		off += len + 1;
		if (c->discard) {	/* the end of an overlong line */
			c->discard = false;
			continue;
		}
		ok = len < MAX_LINE && parse_n(line, len, &n);
		add_request(c, ok, n);
		queue |= ok;
		any = true;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (queue)
		q_push(s, c);
	return any;
}

static void append_reply(struct server *s, struct conn *c, const struct req *r)
{
	char *p;
	int k;

	if (c->out_len + REPLY_MAX > OUT_CAP) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	/* Bounded: input stops at OUT_HIGH, and at most CONN_WINDOW replies
	 * were owed then. */
	assert(c->out_len + REPLY_MAX <= OUT_CAP);
	p = c->out + c->out_len;
	if (r->status == 0)
		k = snprintf(p, REPLY_MAX, "%llu\n", (unsigned long long)r->value);
	else if (r->status == ST_BADREQ)
		k = snprintf(p, REPLY_MAX, "ERR badrequest\n");
	else if (r->status == RP_ECRASHED)
		k = snprintf(p, REPLY_MAX, "ERR crashed\n"), s->crashed++;
	else
		k = snprintf(p, REPLY_MAX, "ERR failed\n"), s->failed++;
	c->out_len += (size_t)k;
	s->answered++;
}

/* Write what can be written. Returns 0 (done, or the socket is full) or -errno. */
static int conn_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->out_off += (size_t)k;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/*
 * Bring a connection up to date: move answered requests from the head of
 * its window to its output, parse what the freed room allows, write, and
 * decide what to wait for. May close it.
 */
static void conn_update(struct server *s, struct conn *c)
{
	bool progress;

	do {
		progress = conn_parse(s, c);
		while (c->next_reply < c->next_req) {
			struct req *r = &c->win[c->next_reply % CONN_WINDOW];

			if (r->state != REQ_DONE)
				break;
			append_reply(s, c, r);
			r->state = 0;
			c->next_reply++;
			progress = true;
		}
	} while (progress && c->in_len);
	if (c->out_off < c->out_len && !(c->events & EPOLLOUT) && conn_write(c) < 0) {
		conn_close(s, c);
		return;
	}
	if (c->eof && c->next_reply == c->next_req && c->out_off == c->out_len) {
		conn_close(s, c);
		return;
	}
	set_events(s, c,
		   (!c->eof && can_take(c) && c->in_len < IN_CAP ? EPOLLIN : 0) |
			   (c->out_off < c->out_len ? EPOLLOUT : 0));
}

static void conn_read(struct server *s, struct conn *c)
{
	ssize_t k = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);

	if (k > 0)
		c->in_len += (size_t)k;
	else if (k == 0)
		c->eof = true;
	else if (errno != EAGAIN && errno != EINTR) {
		conn_close(s, c);
		return;
	}
	conn_update(s, c);
}

static void conn_open(struct server *s, int fd)
{
	unsigned slot = s->free_slots[--s->nfree];
	struct conn *c = &s->conns[slot];
	struct epoll_event ev;
	int one = 1;

	if (!c->win) {	/* first use of the slot; kept for its later occupants */
		c->win = calloc(CONN_WINDOW, sizeof(*c->win));
		c->in = malloc(IN_CAP);
		c->out = malloc(OUT_CAP);
		if (!c->win || !c->in || !c->out) {
			free(c->win), free(c->in), free(c->out);
			c->win = NULL, c->in = c->out = NULL;
			s->nfree++;
			close(fd);
			return;
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->events = EPOLLIN;
	c->eof = c->discard = c->dirty = c->queued = false;
	c->turn = 0;
	c->next_req = c->next_submit = c->next_reply = 0;
	c->in_len = c->out_off = c->out_len = 0;
	ev = (struct epoll_event){ .events = EPOLLIN,
				   .data.u64 = (uint64_t)c->gen << 32 | (TAG_CONN0 + slot) };
	if (epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		c->fd = -1;
		s->nfree++;
		return;
	}
	s->nconns++;
}

static void do_accept(struct server *s)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Mute the listener until a connection closes. */
				s->accept_paused = true;
				listener_events(s, 0);
			}
			return;
		}
		if (s->nconns == s->max_conns) {
			send(fd, "ERR busy\n", 9, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		conn_open(s, fd);
	}
}

/* ---- the pool side ---- */

/*
 * Hand queued requests to the pool, SUBMIT_BURST per connection per turn,
 * until the queue is empty or the pool has no room (-EAGAIN). A turn spans
 * calls: the pool takes only a few tasks per worker at a time (about 200 us
 * of work each), so a turn that restarted on every call would let the head
 * connection keep it for as long as it has requests.
 */
static void submit_pending(struct server *s)
{
	if (s->pool_full && s->inflight == 0)
		s->pool_full = false;	/* nothing to wait for: try again */
	while (s->q_head >= 0 && !s->pool_full) {
		struct conn *c = &s->conns[s->q_head];

		while (c->next_submit < c->next_req && c->turn < SUBMIT_BURST) {
			struct req *r = &c->win[c->next_submit % CONN_WINDOW];
			uint64_t seq;
			int err;

			if (r->state != REQ_QUEUED) {
				c->next_submit++;
				continue;
			}
			err = rp_submit(s->pool, NULL, &r->n, sizeof(r->n), RP_NONBLOCK, 0, &seq);
			if (err == -EAGAIN) {
				s->pool_full = true;	/* c keeps its turn */
				return;
			}
			if (err) {	/* e.g. -ECHILD: no worker left */
				r->state = REQ_DONE;
				r->status = err;
				mark_dirty(s, c);
			} else {
				r->state = REQ_RUNNING;
				fl_insert(s, seq, (unsigned)(c - s->conns), c->gen, c->next_submit);
				s->inflight++;
			}
			c->next_submit++;
			c->turn++;
		}
		c->turn = 0;
		q_remove(s, c);
		if (c->next_submit < c->next_req)
			q_push(s, c);	/* to the back of the line */
	}
}

/* Collect every ready result into its connection's window. Returns how many. */
static unsigned drain(struct server *s)
{
	struct rp_result r;
	unsigned n = 0;

	while (rp_next(s->pool, &r, RP_NONBLOCK | RP_UNORDERED) == 0) {
		struct flight f;
		struct conn *c;
		struct req *q;

		n++;
		s->inflight--;
		if (!fl_take(s, r.seq, &f)) {
			fprintf(stderr, "service: result for unknown seq %llu\n",
				(unsigned long long)r.seq);
			rp_release(s->pool, &r);
			continue;
		}
		c = &s->conns[f.slot];
		if (c->fd < 0 || c->gen != f.gen) {
			s->dropped++;	/* its connection is gone */
			rp_release(s->pool, &r);
			continue;
		}
		q = &c->win[f.idx % CONN_WINDOW];
		q->status = r.status;
		if (r.status == 0 && r.len == sizeof(q->value))
			memcpy(&q->value, r.data, sizeof(q->value));
		else if (r.status == 0)
			q->status = -EPROTO;
		q->state = REQ_DONE;
		rp_release(s->pool, &r);
		mark_dirty(s, c);
	}
	if (n)
		s->pool_full = false;
	return n;
}

static void process_dirty(struct server *s)
{
	/* conn_update never marks a connection dirty: the list only shrinks. */
	for (unsigned i = 0; i < s->ndirty; i++) {
		struct conn *c = &s->conns[s->dirty[i]];

		if (c->fd >= 0 && c->dirty) {
			c->dirty = false;
			conn_update(s, c);
		}
	}
	s->ndirty = 0;
}

/*
 * Once the pool has given up replacing workers, the pidfd of a dead worker
 * stays in the set behind rp_pool_fd() and keeps it readable for good: take
 * the fd out of our epoll set and poll the pool instead, or the loop spins.
 */
static void check_exhausted(struct server *s)
{
	struct rp_stats st;

	if (s->pool_polled || rp_pool_stats(s->pool, &st) || !st.restarts_exhausted)
		return;
	epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pfd, NULL);
	s->pool_polled = true;
	fprintf(stderr, "service: worker restarts exhausted, %u of %u workers left\n",
		st.workers_alive, st.workers);
}

/*
 * Submit, collect and answer until nothing more can happen without waiting,
 * or for SETTLE_ROUNDS rounds (then the sockets get their turn). Returns the
 * epoll_wait timeout: -1 when armed (or idle); 0 after SETTLE_ROUNDS; 1 ms
 * if the pool said results were ready but none came (then polling is the
 * safe choice) or the pool fd is no longer usable.
 */
static int settle(struct server *s)
{
	unsigned empty = 0;

	for (unsigned round = 0; round < SETTLE_ROUNDS; round++) {
		int rc;

		submit_pending(s);
		process_dirty(s);
		if (s->q_head >= 0 && !s->pool_full)
			continue;	/* answering freed room: more to submit */
		if (s->inflight == 0 && !s->pool_event)
			/* Idle: only sockets can wake us; but -EAGAIN with
			 * nothing in flight (a worker being replaced) is
			 * retried by polling. */
			return s->pool_full ? 1 : -1;
		rc = rp_pool_arm(s->pool);	/* also publishes what we submitted */
		if (s->pool_event) {
			s->pool_event = false;
			check_exhausted(s);
		}
		if (rc < 0) {
			fprintf(stderr, "service: rp_pool_arm: %s\n", strerror(-rc));
			return 1;
		}
		if (rc == 0)	/* armed: the pool fd wakes us */
			return s->pool_polled ? 1 : -1;
		if (drain(s) == 0 && s->inflight && ++empty >= 3)
			return 1;
	}
	return 0;
}

/* ---- setup ---- */

static int listen_on(unsigned port, unsigned *bound)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*bound = ntohs(a.sin_port);
	return fd;
}

/* Room for max_conns sockets plus our own fds, if the hard limit allows. */
static void raise_fd_limit(unsigned max_conns)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_conns + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int add_fd(int ep, int fd, uint64_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void usage(void)
{
	fprintf(stderr, "usage: service [--port P] [--workers N] [--max-conns N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'w' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ 0 },
	};
	struct server srv = { .ep = -1, .lfd = -1, .sfd = -1, .q_head = -1, .q_tail = -1 };
	struct server *s = &srv;
	struct rp_config cfg;
	struct rp_stats st;
	sigset_t sigs;
	unsigned port = 0, bound = 0;
	long workers = -1, max_conns = 1000;
	int o, err, sig = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long v = o == '?' ? 0 : strtol(optarg, &end, 10);

		if (o == '?' || *end || v < 0)
			usage();
		if (o == 'p' && v <= 65535)
			port = (unsigned)v;
		else if (o == 'w' && v >= 1 && v <= RP_MAX_WORKERS)
			workers = v;
		else if (o == 'm' && v >= 1 && v <= 1000000)
			max_conns = v;
		else
			usage();
	}
	if (optind != argc)
		usage();

	/*
	 * Signals arrive through a signalfd. Block them before the pool forks
	 * so that its workers (which inherit the mask) never die of a SIGTERM
	 * meant for the service; SIG_DFL because a background shell job starts
	 * with SIGINT ignored, and an ignored signal is discarded, not queued.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);

	rp_config_init(&cfg);
	if (workers > 0)
		cfg.workers = (unsigned)workers;
	cfg.fn = work_task;
	/*
	 * The window is a span of sequence numbers from the oldest result not
	 * collected (not a count): one long task stops submission once
	 * max_in_flight - 1 later ones are out, even collected unordered. A
	 * 40 ms task is 5-10k short ones here: give the window room for them.
	 */
	cfg.max_in_flight = WINDOW;
	err = rp_pool_create(&s->pool, &cfg);
	if (err) {
		fprintf(stderr, "service: rp_pool_create: %s\n", strerror(-err));
		return 1;
	}
	raise_fd_limit((unsigned)max_conns);

	s->max_conns = (unsigned)max_conns;
	s->conns = calloc(s->max_conns, sizeof(*s->conns));
	s->free_slots = malloc(s->max_conns * sizeof(*s->free_slots));
	s->dirty = malloc(s->max_conns * sizeof(*s->dirty));
	s->fl_mask = (size_t)cfg.max_in_flight * 2 - 1;
	s->fl = calloc(s->fl_mask + 1, sizeof(*s->fl));
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	s->pfd = rp_pool_fd(s->pool);
	s->lfd = listen_on(port, &bound);
	if (!s->conns || !s->free_slots || !s->dirty || !s->fl || s->ep < 0 || s->sfd < 0 ||
	    s->pfd < 0 || s->lfd < 0 || add_fd(s->ep, s->lfd, TAG_LISTEN) ||
	    add_fd(s->ep, s->sfd, TAG_SIGNAL) || add_fd(s->ep, s->pfd, TAG_POOL)) {
		fprintf(stderr, "service: setup failed%s%s\n", s->lfd < 0 ? ": listen: " : "",
			s->lfd < 0 ? strerror(-s->lfd) : "");
		rp_pool_destroy(s->pool);
		return 1;
	}
	for (unsigned i = 0; i < s->max_conns; i++) {
		s->conns[i].fd = -1;
		s->free_slots[s->nfree++] = s->max_conns - 1 - i;
	}
	printf("%u\n", bound);
	fflush(stdout);

	while (!sig) {
		struct epoll_event evs[64];
		int n = epoll_wait(s->ep, evs, 64, settle(s));

		if (n < 0 && errno != EINTR) {
			perror("service: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++) {
			uint32_t tag = (uint32_t)evs[i].data.u64, gen = evs[i].data.u64 >> 32;
			uint32_t e = evs[i].events;
			struct signalfd_siginfo si;
			struct conn *c;

			if (tag == TAG_LISTEN) {
				do_accept(s);
				continue;
			}
			if (tag == TAG_SIGNAL) {
				if (read(s->sfd, &si, sizeof(si)) == sizeof(si))
					sig = (int)si.ssi_signo;
				continue;
			}
			if (tag == TAG_POOL) {
				s->pool_event = true;	/* settle() calls rp_pool_arm */
				continue;
			}
			c = &s->conns[tag - TAG_CONN0];
			if (c->fd < 0 || c->gen != gen)
				continue;	/* closed earlier in this batch */
			if ((e & EPOLLERR) || ((e & EPOLLHUP) && !(e & EPOLLIN))) {
				conn_close(s, c);	/* nobody left to answer */
				continue;
			}
			if ((e & EPOLLOUT) && conn_write(c) < 0) {
				conn_close(s, c);
				continue;
			}
			if (e & EPOLLIN)
				conn_read(s, c);
			else
				conn_update(s, c);
		}
	}

	rp_pool_stats(s->pool, &st);
	fprintf(stderr,
		"service: %s: %llu answered (%llu crashed, %llu failed), %llu dropped for "
		"closed connections, %llu worker restarts\n",
		sig ? strsignal(sig) : "error", (unsigned long long)s->answered,
		(unsigned long long)s->crashed, (unsigned long long)s->failed,
		(unsigned long long)s->dropped, (unsigned long long)st.restarts);
	for (unsigned i = 0; i < s->max_conns; i++) {
		if (s->conns[i].fd >= 0)
			close(s->conns[i].fd);
		free(s->conns[i].win), free(s->conns[i].in), free(s->conns[i].out);
	}
	close(s->lfd);
	close(s->sfd);
	close(s->ep);
	rp_pool_destroy(s->pool);	/* reaps every worker */
	free(s->conns), free(s->free_slots), free(s->dirty), free(s->fl);
	return sig ? 0 : 1;
}
