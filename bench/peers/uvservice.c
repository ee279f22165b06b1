/* SPDX-License-Identifier: MIT */
/*
 * examples/service.c's protocol served the libuv way, the peer of ringpool's
 * epoll loop + rp_pool_fd: one uv loop owns the TCP sockets; each request
 * line becomes a uv_work_t queued with uv_queue_work (its work_cb computes
 * service_work(N) on libuv's thread pool, UV_THREADPOOL_SIZE = --workers),
 * and its after_work_cb, back on the loop, marks the request done. A
 * uv_check handle then writes, once per loop iteration, every reply that is
 * at the head of its connection's window, so replies leave in request order
 * per connection and coalesce into one uv_write. Backpressure as in
 * service.c: a connection is not read while CONN_WINDOW of its requests are
 * unanswered or OUT_HIGH bytes wait to be written. Replies: "H\n",
 * "ERR badrequest\n", "ERR failed\n", "ERR busy\n" (over --max-conns); no
 * "ERR crashed": a crashing task takes the whole process down (the price of
 * no isolation). SIGINT/SIGTERM: close everything, exit 0.
 * Usage: peer_uvservice [--port P] [--workers N] [--max-conns N]
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define WORK_CAP	(1ull << 22)	/* as in service.c */
#define MAX_LINE	64		/* longest request line, newline included */
#define CONN_WINDOW	256		/* requests read and not yet answered, per connection */
#define OUT_HIGH	16384		/* stop reading while this much output is unsent */
#define REPLY_MAX	24		/* longest reply line */
#define IN_CAP		4096
#define ST_BADREQ	(-EBADMSG)

/* Must match examples/service.c. */
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

struct conn;

struct req {
	uv_work_t work;		/* work.data: the connection */
	uint64_t n, value;
	int status;		/* 0 or ST_BADREQ */
	bool done;
};

struct conn {
	uv_tcp_t tcp;		/* tcp.data: the server */
	struct req win[CONN_WINDOW];	/* request i is win[i % CONN_WINDOW] */
	uint64_t next_req, next_reply;
	unsigned inflight;	/* queued work whose after_work_cb has not run */
	unsigned writes;	/* uv_write requests not completed */
	bool eof, discard, reading, closed, dirty;
	struct conn *next_dirty;
	size_t in_len;
	char in[IN_CAP];
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_check_t flusher;
	uv_signal_t sigint, sigterm;
	struct conn *dirty;	/* connections with replies to write */
	unsigned nconns, max_conns;
	uint64_t answered;
};

struct wreq {
	uv_write_t w;
	struct conn *c;
	char buf[];
};

static void conn_update(struct server *s, struct conn *c);

/* Free once closed, with no work in flight and off the dirty list. */
static void conn_release(struct conn *c)
{
	if (c->closed && c->inflight == 0 && c->writes == 0 && !c->dirty)
		free(c);
}

static void on_close(uv_handle_t *h)
{
	struct conn *c = (struct conn *)h;
	struct server *s = h->data;

	s->nconns--;
	c->closed = true;
	conn_release(c);
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void mark_dirty(struct server *s, struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = s->dirty;
	s->dirty = c;
}

/* ---- the pool ------------------------------------------------------------ */

static void work_cb(uv_work_t *w)
{
	struct req *r = (struct req *)w;

	r->value = service_work(r->n);
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct req *r = (struct req *)w;
	struct conn *c = w->data;
	struct server *s = c->tcp.data;

	r->done = true;
	r->status = status;	/* 0 (nothing calls uv_cancel): anything else is "ERR failed" */
	c->inflight--;
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		conn_release(c);
	else
		mark_dirty(s, c);
}

/* ---- requests in ----------------------------------------------------------- */

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

static bool can_take(const struct conn *c)
{
	return c->next_req - c->next_reply < CONN_WINDOW &&
	       uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) < OUT_HIGH;
}

static void add_request(struct server *s, struct conn *c, bool ok, uint64_t n)
{
	struct req *r = &c->win[c->next_req++ % CONN_WINDOW];
	int err;

	r->n = n;
	r->done = !ok;
	r->status = ok ? 0 : ST_BADREQ;
	if (!ok) {
		mark_dirty(s, c);
		return;
	}
	r->work.data = c;
	err = uv_queue_work(s->loop, &r->work, work_cb, after_work_cb);
	if (err) {
		fprintf(stderr, "uvservice: uv_queue_work: %s\n", uv_strerror(err));
		exit(1);
	}
	c->inflight++;
}

/* Turn complete lines into requests while the window has room. */
static void conn_parse(struct server *s, struct conn *c)
{
	size_t off = 0;

	while (can_take(c) && off < c->in_len) {
		char *line = c->in + off, *nl = memchr(line, '\n', c->in_len - off);
		size_t len = nl ? (size_t)(nl - line) : c->in_len - off;
		uint64_t n = 0;

		if (!nl) {
			if (!c->discard && len < MAX_LINE)
				break;	/* wait for the rest of the line */
			if (!c->discard)
				add_request(s, c, false, 0);
			c->discard = true;
			off = c->in_len;
			break;
		}
		off += len + 1;
		if (c->discard) {	/* the end of an overlong line */
			c->discard = false;
			continue;
		}
		bool ok = len < MAX_LINE && parse_n(line, len, &n);

		add_request(s, c, ok, n);
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

/* ---- replies out ----------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
	struct wreq *wr = (struct wreq *)w;
	struct conn *c = wr->c;
	struct server *s = c->tcp.data;

	free(wr);
	c->writes--;
	if (status < 0)
		conn_close(c);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		conn_release(c);
	else
		conn_update(s, c);	/* room may have opened for more input */
}

/* Write every answered request at the head of the window, in one uv_write. */
static void conn_write(struct server *s, struct conn *c)
{
	struct wreq *wr = NULL;
	size_t len = 0;
	uv_buf_t b;

	while (c->next_reply < c->next_req) {
		struct req *r = &c->win[c->next_reply % CONN_WINDOW];

		if (!r->done)
			break;
		if (!wr && !(wr = malloc(sizeof(*wr) + CONN_WINDOW * REPLY_MAX))) {
			fprintf(stderr, "uvservice: out of memory\n");
			exit(1);
		}
		if (r->status == 0)
			len += (size_t)snprintf(wr->buf + len, REPLY_MAX, "%llu\n",
						(unsigned long long)r->value);
		else if (r->status == ST_BADREQ)
			len += (size_t)snprintf(wr->buf + len, REPLY_MAX, "ERR badrequest\n");
		else
			len += (size_t)snprintf(wr->buf + len, REPLY_MAX, "ERR failed\n");
		r->done = false;
		c->next_reply++;
		s->answered++;
	}
	if (!wr)
		return;
	wr->c = c;
	b = uv_buf_init(wr->buf, (unsigned)len);
	if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
		free(wr);
		conn_close(c);
		return;
	}
	c->writes++;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;

	(void)hint;
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(IN_CAP - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)st;
	struct server *s = st->data;

	(void)buf;
	if (nread > 0)
		c->in_len += (size_t)nread;
	else if (nread == UV_EOF)
		c->eof = true;
	else if (nread < 0) {
		conn_close(c);
		return;
	}
	conn_update(s, c);
}

/* Parse what the window allows, write what is answered, decide whether to read or close. */
static void conn_update(struct server *s, struct conn *c)
{
	bool want;

	conn_parse(s, c);
	conn_write(s, c);
	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->eof && c->next_reply == c->next_req && c->writes == 0) {
		conn_close(c);	/* everything owed was sent */
		return;
	}
	want = !c->eof && can_take(c) && c->in_len < IN_CAP;
	if (want && !c->reading)
		c->reading = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0;
	else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
}

/* Once per loop iteration, after the after_work callbacks: send what they answered. */
static void on_check(uv_check_t *h)
{
	struct server *s = h->data;

	while (s->dirty) {
		struct conn *c = s->dirty;

		s->dirty = c->next_dirty;
		c->dirty = false;
		if (uv_is_closing((uv_handle_t *)&c->tcp))
			conn_release(c);
		else
			conn_update(s, c);
	}
}

/* ---- accepting, shutdown, main ---------------------------------------------- */

static void on_busy_close(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct server *s = l->data;
	struct conn *c;

	if (status < 0)
		return;
	if (!(c = calloc(1, sizeof(*c))) || uv_tcp_init(s->loop, &c->tcp)) {
		free(c);
		return;
	}
	c->tcp.data = s;
	if (uv_accept(l, (uv_stream_t *)&c->tcp)) {
		uv_close((uv_handle_t *)&c->tcp, on_busy_close);
		return;
	}
	if (s->nconns == s->max_conns) {
		uv_buf_t b = uv_buf_init("ERR busy\n", 9);

		uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		uv_close((uv_handle_t *)&c->tcp, on_busy_close);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	s->nconns++;
	conn_update(s, c);
}

static void close_any(uv_handle_t *h, void *arg)
{
	struct server *s = arg;

	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && (uv_tcp_t *)h != &s->listener)
		conn_close((struct conn *)h);	/* work in flight is waited for */
	else
		uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct server *s = sig->data;

	fprintf(stderr, "uvservice: %s: %llu answered\n", strsignal(signum),
		(unsigned long long)s->answered);
	uv_walk(s->loop, close_any, s);	/* the loop ends once work in flight is done */
}

static void usage(void)
{
	fprintf(stderr, "usage: peer_uvservice [--port P] [--workers N] [--max-conns N]\n");
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
	struct server srv = { .max_conns = 1000 }, *s = &srv;
	struct sockaddr_storage ss;
	struct sockaddr_in addr;
	int o, err, namelen = sizeof(ss);
	long port = 0, workers = 0;
	char env[16];

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		long v = o == '?' ? -1 : strtol(optarg, &end, 10);

		if (o == '?' || *end || v < 0)
			usage();
		if (o == 'p' && v <= 65535)
			port = v;
		else if (o == 'w' && v >= 1 && v <= 1024)
			workers = v;
		else if (o == 'm' && v >= 1 && v <= 1000000)
			s->max_conns = (unsigned)v;
		else
			usage();
	}
	if (optind != argc)
		usage();
	if (workers) {	/* read once, when the pool starts: before any work */
		snprintf(env, sizeof(env), "%ld", workers);
		setenv("UV_THREADPOOL_SIZE", env, 1);
	}
	/* A reply to a client that is gone must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	s->loop = uv_default_loop();
	s->listener.data = s->flusher.data = s->sigint.data = s->sigterm.data = s;
	uv_ip4_addr("127.0.0.1", (int)port, &addr);
	if ((err = uv_tcp_init(s->loop, &s->listener)) ||
	    (err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0)) ||
	    (err = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection)) ||
	    (err = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &namelen)) ||
	    (err = uv_check_init(s->loop, &s->flusher)) ||
	    (err = uv_check_start(&s->flusher, on_check)) ||
	    (err = uv_signal_init(s->loop, &s->sigint)) ||
	    (err = uv_signal_start(&s->sigint, on_signal, SIGINT)) ||
	    (err = uv_signal_init(s->loop, &s->sigterm)) ||
	    (err = uv_signal_start(&s->sigterm, on_signal, SIGTERM))) {
		fprintf(stderr, "uvservice: setup failed: %s\n", uv_strerror(err));
		return 1;
	}
	uv_unref((uv_handle_t *)&s->flusher);
	printf("%u\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	uv_run(s->loop, UV_RUN_DEFAULT);
	err = uv_loop_close(s->loop);
	if (err)
		fprintf(stderr, "uvservice: uv_loop_close: %s\n", uv_strerror(err));
	return err ? 1 : 0;
}
