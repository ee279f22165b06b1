/* SPDX-License-Identifier: MIT */
/*
 * Load generator for examples/service.c: C connections to 127.0.0.1, each
 * keeping up to P requests in flight, until R requests are sent or S
 * seconds pass; then each connection is shut down for writing, and the
 * server must answer the rest and close it. Every reply is checked against
 * service_work(N) computed here (for a table of N values, precomputed);
 * a wrong, unexpected or missing reply exits 1. Prints requests/s and
 * per-request latency (send -> reply) as text and as one JSON line.
 *
 * Usage: service_load --port PORT [--conns C] [--requests R] [--pipeline P]
 *        [--seconds S] [--nmax N] [--bad-every K] [--max-crashed K]
 *        [--stall-ms T] [--quiet]
 *   --nmax N         request values are drawn from 0..N (work ~ N hashes)
 *   --bad-every K    every K-th request is malformed ("ERR badrequest" expected)
 *   --max-crashed K  accept up to K "ERR crashed" replies (worker killed)
 *   --stall-ms T     read no replies for the first T ms (backpressure test)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WORK_CAP	(1ull << 22)	/* as in service.c */
#define NVALUES		1024		/* distinct N values (references precomputed) */
#define KIND_BAD	UINT32_MAX	/* a malformed request */
#define LINE_MAX_	32
#define IN_CAP		65536
#define DRAIN_NS	(20ull * 1000000000)	/* replies owed after the send phase */

/* Must match service.c. */
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

struct lconn {
	int fd;
	uint32_t events;
	uint32_t *kind;		/* ring of P: value index of each request in flight */
	uint64_t *sent_ns;	/* ring of P: when it was handed to send() */
	unsigned head, count;	/* oldest request in flight, and how many */
	char *out;		/* requests not yet sent */
	size_t out_off, out_len;
	char in[IN_CAP];
	size_t in_len;
	bool shut;		/* we sent FIN: the server answers the rest, then closes */
};

/* Log-linear latency histogram: 64 sub-buckets per power of two (~1.6%). */
#define HBUCKETS	(64 * 60)
static uint64_t hist[HBUCKETS], hcount;

static unsigned hbucket(uint64_t v)
{
	int m;

	if (v < 64)
		return (unsigned)v;
	m = 63 - __builtin_clzll(v);
	return (unsigned)(m - 5) * 64 + (unsigned)((v >> (m - 6)) & 63);
}

static uint64_t hvalue(unsigned b)
{
	return b < 64 ? b : (64ull + b % 64) << (b / 64 + 5 - 6);
}

static double hpct(double q)
{
	uint64_t want = (uint64_t)(q * (double)hcount), seen = 0;

	for (unsigned b = 0; b < HBUCKETS; b++) {
		seen += hist[b];
		if (seen > want)
			return (double)hvalue(b);
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t values[NVALUES];
static char refs[NVALUES][LINE_MAX_];
static unsigned pipeline = 1, bad_every, max_crashed;
static uint64_t requests = 10000, issued, answered, crashed, rng = 0x853c49e6748fea9bull;
static bool quiet;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static _Noreturn void die(const char *what, unsigned ci)
{
	fprintf(stderr, "service_load: FAIL: %s (connection %u; %" PRIu64 " of %" PRIu64
		" replies received)\n", what, ci, answered, issued);
	exit(1);
}

/* Queue requests on c while it has fewer than P in flight. */
static void top_up(struct lconn *c, uint64_t now, bool sending)
{
	while (sending && c->count < pipeline && issued < requests) {
		unsigned slot = (c->head + c->count) % pipeline;
		uint32_t k;
		int len;

		if (bad_every && issued % bad_every == bad_every - 1) {
			k = KIND_BAD;
			len = snprintf(c->out + c->out_len, LINE_MAX_, "%" PRIu64 "x\n",
				       next_rand() % 1000);
		} else {
			k = (uint32_t)(next_rand() % NVALUES);
			len = snprintf(c->out + c->out_len, LINE_MAX_, "%" PRIu64 "\n",
				       values[k]);
		}
		c->out_len += (size_t)len;
		c->kind[slot] = k;
		c->sent_ns[slot] = now;
		c->count++;
		issued++;
	}
}

static int do_send(struct lconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (k < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->out_off += (size_t)k;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

/* Read and check replies. Returns how many, or -1 when the server closed. */
static int do_recv(struct lconn *c, unsigned ci, uint64_t now)
{
	ssize_t k = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
	size_t off = 0;
	int got = 0;

	if (k == 0)
		return -1;
	if (k < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	c->in_len += (size_t)k;
	for (;;) {
		char *line = c->in + off, *nl = memchr(line, '\n', c->in_len - off);
		char msg[160];
		uint32_t kind;
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - line);
		*nl = 0;
		off += len + 1;
		if (c->count == 0) {
			snprintf(msg, sizeof(msg), "unexpected reply \"%s\"", line);
			die(msg, ci);
		}
		kind = c->kind[c->head];
		if (kind != KIND_BAD && strcmp(line, "ERR crashed") == 0) {
			if (++crashed > max_crashed) {
				snprintf(msg, sizeof(msg), "%" PRIu64 " \"ERR crashed\" replies, "
					 "at most %u allowed", crashed, max_crashed);
				die(msg, ci);
			}
		} else if (strcmp(line, kind == KIND_BAD ? "ERR badrequest" : refs[kind]) != 0) {
			snprintf(msg, sizeof(msg), "reply \"%.40s\" to N=%" PRIu64 ", want \"%s\"",
				 line, kind == KIND_BAD ? 0 : values[kind],
				 kind == KIND_BAD ? "ERR badrequest" : refs[kind]);
			die(msg, ci);
		}
		hist[hbucket(now - c->sent_ns[c->head])]++;
		hcount++;
		c->head = (c->head + 1) % pipeline;
		c->count--;
		answered++;
		got++;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (c->in_len == IN_CAP)
		die("reply line too long", ci);
	return got;
}

static int connect_to(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	/* A blocking connect, bounded: SO_SNDTIMEO applies to connect(). */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void set_events(int ep, struct lconn *c, unsigned ci, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.u32 = ci };

	if (want != c->events && epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = want;
}

static void usage(void)
{
	fprintf(stderr, "usage: service_load --port PORT [--conns C] [--requests R] "
			"[--pipeline P] [--seconds S] [--nmax N] [--bad-every K] "
			"[--max-crashed K] [--stall-ms T] [--quiet]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "conns", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'r' },
		{ "pipeline", required_argument, NULL, 'P' },
		{ "seconds", required_argument, NULL, 's' },
		{ "nmax", required_argument, NULL, 'n' },
		{ "bad-every", required_argument, NULL, 'b' },
		{ "max-crashed", required_argument, NULL, 'x' },
		{ "stall-ms", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ 0 },
	};
	unsigned port = 0, conns = 10, open_conns, i;
	uint64_t nmax = 20000, stall_ns = 0, start, send_end, stall_end, last = 0;
	double seconds = 10;
	struct lconn *cs;
	int o, ep;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end = NULL;
		double v = o == '?' || o == 'q' ? 0 : strtod(optarg, &end);

		if (o == '?' || (end && *end) || v < 0)
			usage();
		switch (o) {
		case 'p': port = (unsigned)v; break;
		case 'c': conns = (unsigned)v; break;
		case 'r': requests = (uint64_t)v; break;
		case 'P': pipeline = (unsigned)v; break;
		case 's': seconds = v; break;
		case 'n': nmax = (uint64_t)v; break;
		case 'b': bad_every = (unsigned)v; break;
		case 'x': max_crashed = (unsigned)v; break;
		case 't': stall_ns = (uint64_t)(v * 1e6); break;
		case 'q': quiet = true; break;
		}
	}
	if (optind != argc || port == 0 || port > 65535 || conns == 0 || pipeline == 0 ||
	    pipeline > 1000000 || seconds <= 0 || seconds > 3600)
		usage();

	/* The references: NVALUES values of N and service_work of each. */
	for (i = 0; i < NVALUES; i++) {
		values[i] = next_rand() % (nmax + 1);
		snprintf(refs[i], LINE_MAX_, "%" PRIu64, service_work(values[i]));
	}

	ep = epoll_create1(EPOLL_CLOEXEC);
	cs = calloc(conns, sizeof(*cs));
	if (ep < 0 || !cs)
		die("out of memory", 0);
	for (i = 0; i < conns; i++) {
		struct lconn *c = &cs[i];
		struct epoll_event ev = { .events = 0, .data.u32 = i };

		c->kind = calloc(pipeline, sizeof(*c->kind));
		c->sent_ns = calloc(pipeline, sizeof(*c->sent_ns));
		c->out = malloc((size_t)pipeline * LINE_MAX_);
		c->fd = connect_to(port);
		if (!c->kind || !c->sent_ns || !c->out)
			die("out of memory", i);
		if (c->fd < 0)
			die(strerror(errno), i);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("epoll_ctl", i);
	}

	open_conns = conns;
	start = now_ns();
	send_end = start + (uint64_t)(seconds * 1e9);
	stall_end = start + stall_ns;
	for (;;) {
		struct epoll_event evs[256];
		uint64_t now = now_ns(), owed = 0;
		bool sending = issued < requests && now < send_end;
		bool reading = now >= stall_end;
		int n, timeout;

		for (i = 0; i < conns; i++) {
			struct lconn *c = &cs[i];

			if (c->fd < 0)
				continue;
			top_up(c, now, sending);
			if (c->out_off < c->out_len && do_send(c) < 0)
				die("send failed", i);
			if (!sending && !c->shut && c->out_off == c->out_len) {
				shutdown(c->fd, SHUT_WR);	/* the server must close then */
				c->shut = true;
			}
			owed += c->count;
			set_events(ep, c, i, (reading ? EPOLLIN : 0) |
						     (c->out_off < c->out_len ? EPOLLOUT : 0));
		}
		if (open_conns == 0)
			break;
		if (!sending && now > send_end + DRAIN_NS + stall_ns) {
			char msg[128];

			snprintf(msg, sizeof(msg), "timed out with %" PRIu64 " replies missing, "
				 "%u connections not closed by the server", owed, open_conns);
			die(msg, 0);
		}
		/* Wake for the end of the stall and of the send phase. */
		timeout = 100;
		if (!reading && (stall_end - now) / 1000000 < 100)
			timeout = (int)((stall_end - now) / 1000000) + 1;
		n = epoll_wait(ep, evs, 256, timeout);
		now = now_ns();
		for (int e = 0; e < n; e++) {
			struct lconn *c = &cs[evs[e].data.u32];

			if ((evs[e].events & EPOLLOUT) && do_send(c) < 0)
				die("send failed", evs[e].data.u32);
			if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				int got = do_recv(c, evs[e].data.u32, now);

				if (got > 0)
					last = now;
				if (got >= 0)
					continue;
				if (c->count)
					die("server closed with replies missing",
					    evs[e].data.u32);
				if (!c->shut)
					die("server closed the connection early",
					    evs[e].data.u32);
				close(c->fd);
				c->fd = -1;
				open_conns--;
			}
		}
	}
	for (i = 0; i < conns; i++)
		free(cs[i].kind), free(cs[i].sent_ns), free(cs[i].out);
	free(cs);
	close(ep);

	{
		double el = (double)(last - start) / 1e9, rps = el > 0 ? (double)answered / el : 0;
		double p50 = hpct(0.50) / 1e3, p99 = hpct(0.99) / 1e3;

		if (!quiet)
			printf("service_load: %u conns, pipeline %u, nmax %" PRIu64 ": %" PRIu64
			       " replies in %.2f s = %.0f requests/s, latency p50 %.1f us, "
			       "p99 %.1f us, %" PRIu64 " crashed\n",
			       conns, pipeline, nmax, answered, el, rps, p50, p99, crashed);
		printf("{\"workload\":\"service\",\"impl\":\"ringpool\",\"conns\":%u,"
		       "\"pipeline\":%u,\"nmax\":%" PRIu64 ",\"requests\":%" PRIu64
		       ",\"seconds\":%.3f,\"requests_per_s\":%.1f,\"p50_us\":%.1f,"
		       "\"p99_us\":%.1f,\"crashed\":%" PRIu64 "}\n",
		       conns, pipeline, nmax, answered, el, rps, p50, p99, crashed);
	}
	return 0;
}
