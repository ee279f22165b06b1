/* SPDX-License-Identifier: MIT */
/*
 * One command per batch. The pipes are made O_CLOEXEC and moved above fd 2,
 * the child gets them as 0 and 1 through posix_spawn file actions (plus
 * closefrom(3), so nothing else of the worker's leaks into it), and the
 * parent's ends are non-blocking: one poll loop writes the batch, reads the
 * output and watches the child's pidfd, until the child is reaped and its
 * stdout is at EOF, or the deadline passes.
 */
#include "pipecmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct rpmap_cmd {
	char **argv;
	char *words;		/* the split copy argv points into */
	bool shell;
};

/* First words that only a shell understands (keywords, builtins without
 * a program of the same name). */
static const char *const shell_words[] = {
	".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done",
	"elif", "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for",
	"function", "getopts", "hash", "if", "in", "jobs", "local", "read", "readonly",
	"return", "select", "set", "shift", "source", "then", "time", "times", "trap",
	"type", "ulimit", "umask", "unalias", "unset", "until", "wait", "while",
};

static bool plain_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr(" \t-_./,:+@%^", ch));
}

static bool needs_shell(const char *cmd, const char *first, size_t first_len)
{
	for (const char *p = cmd; *p; p++)
		if (!plain_char((unsigned char)*p))
			return true;
	for (size_t i = 0; i < sizeof(shell_words) / sizeof(shell_words[0]); i++)
		if (strlen(shell_words[i]) == first_len && !memcmp(shell_words[i], first, first_len))
			return true;
	return false;
}

int rpmap_cmd_parse(const char *cmd, struct rpmap_cmd **out)
{
	const char *first = cmd + strspn(cmd, " \t");
	size_t first_len = strcspn(first, " \t"), n = 0;
	struct rpmap_cmd *c;

	*out = NULL;
	if (!first_len)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->shell = needs_shell(cmd, first, first_len);
	c->words = strdup(cmd);
	c->argv = calloc(c->shell ? 4 : strlen(cmd) / 2 + 2, sizeof(char *));
	if (!c->words || !c->argv) {
		rpmap_cmd_free(c);
		return -ENOMEM;
	}
	if (c->shell) {
		c->argv[0] = "/bin/sh";
		c->argv[1] = "-c";
		c->argv[2] = c->words;
	} else {
		for (char *tok = strtok(c->words, " \t"); tok; tok = strtok(NULL, " \t"))
			c->argv[n++] = tok;
	}
	*out = c;
	return 0;
}

void rpmap_cmd_free(struct rpmap_cmd *c)
{
	if (!c)
		return;
	free(c->argv);
	free(c->words);
	free(c);
}

bool rpmap_cmd_shell(const struct rpmap_cmd *c)
{
	return c->shell;
}

char *const *rpmap_cmd_argv(const struct rpmap_cmd *c)
{
	return c->argv;
}

/* ---- running it ---- */

struct run {
	const struct rpmap_cmd_opts *o;
	const char *in;
	size_t len, off;
	struct rpmap_buf *out;
	size_t out_base;	/* out->len before: max_out counts from here */
	int in_w, out_r, pidfd;
	pid_t pid;
	bool reaped;
	int wstatus;
	uint64_t deadline;	/* CLOCK_MONOTONIC ns, 0: none */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Move *fd above 2 (0-2 may be free in a worker whose stdio was closed,
 * and the child's dup2 onto 0 and 1 must not clobber them). */
static int move_high(int *fd)
{
	int h;

	if (*fd > 2)
		return 0;
	h = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (h < 0)
		return -errno;
	close(*fd);
	*fd = h;
	return 0;
}

/* Two pipes, all ends O_CLOEXEC and above 2; the parent's ends non-blocking. */
static int make_pipes(int in[2], int out[2])
{
	int r = 0;

	in[0] = in[1] = out[0] = out[1] = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		r = -errno;
	for (int i = 0; i < 2 && !r; i++) {
		r = move_high(&in[i]);
		if (!r)
			r = move_high(&out[i]);
	}
	if (!r && (fcntl(in[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0))
		r = -errno;
	/* 1 MiB pipes (the default pipe-max-size) where allowed: a chunk goes
	 * in a few writes instead of one per 4 KiB page (a 64 KiB pipe's
	 * non-blocking writes take what is free: on 1 MiB chunks of tr, 7x
	 * fewer syscalls). Best effort: the size is only an optimisation. */
	for (int i = 0; i < 2 && !r; i++)
		(void)fcntl(i ? out[0] : in[1], F_SETPIPE_SZ, 1 << 20);
	if (r)
		for (int i = 0; i < 2; i++) {
			close_fd(&in[i]);
			close_fd(&out[i]);
		}
	return r;
}

/* Start the child on in_r/out_w. Returns 0 and *pid, or -errno. */
static int spawn(const struct rpmap_cmd *c, int in_r, int out_w, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	if ((r = posix_spawn_file_actions_init(&fa)))
		return -r;
	if ((r = posix_spawnattr_init(&at))) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	/* Ignored signals stay ignored across exec (rpmap ignores SIGPIPE,
	 * workers SIGINT): give the command the defaults a shell would. */
	r = posix_spawnattr_setsigmask(&at, &none);
	r = r ? r : posix_spawnattr_setsigdefault(&at, &all);
	r = r ? r : posix_spawnattr_setpgroup(&at, 0);
	r = r ? r : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
							  POSIX_SPAWN_SETPGROUP);
	r = r ? r : posix_spawn_file_actions_adddup2(&fa, in_r, 0);
	r = r ? r : posix_spawn_file_actions_adddup2(&fa, out_w, 1);
#ifdef RPMAP_HAVE_ADDCLOSEFROM
	r = r ? r : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	if (!r)
		r = c->shell ? posix_spawn(pid, c->argv[0], &fa, &at, c->argv, environ)
			     : posix_spawnp(pid, c->argv[0], &fa, &at, c->argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* Reap the child if it has ended. Returns 0, or -ECHILD if it is gone
 * without a status (someone else reaped it). */
static int try_reap(struct run *r, bool block)
{
	pid_t p;

	if (r->reaped)
		return 0;
	do
		p = waitpid(r->pid, &r->wstatus, block ? 0 : WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == r->pid)
		r->reaped = true;
	return p < 0 ? -ECHILD : 0;
}

/* Feed the command what the pipe takes now. EPIPE: it closed its stdin. */
static void write_some(struct run *r)
{
	ssize_t w = write(r->in_w, r->in + r->off, r->len - r->off);

	if (w > 0)
		r->off += (size_t)w;
	else if (w < 0 && errno != EAGAIN && errno != EINTR)
		close_fd(&r->in_w);	/* EPIPE, or worse: either way, no reader */
	if (r->off == r->len)
		close_fd(&r->in_w);
}

/* Take what the command wrote. Returns 0, 1 if it wrote more than
 * max_out, or -ENOMEM. */
static int read_some(struct run *r)
{
	struct rpmap_buf *b = r->out;
	size_t room, taken = b->len - r->out_base;
	ssize_t n;

	if (b->cap - b->len < 65536) {
		size_t cap = b->cap * 2 > b->len + 65536 ? b->cap * 2 : b->len + 65536;
		char *d = realloc(b->data, cap);

		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	room = b->cap - b->len;
	if (r->o && r->o->max_out && room > r->o->max_out - taken + 1)
		room = r->o->max_out - taken + 1;	/* one more byte shows an overflow */
	n = read(r->out_r, b->data + b->len, room);
	if (n > 0)
		b->len += (size_t)n;
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		close_fd(&r->out_r);
	return r->o && r->o->max_out && b->len - r->out_base > r->o->max_out ? 1 : 0;
}

/* Milliseconds to poll: until the deadline (rounded up), at most 10 ms
 * without a pidfd (the exit is then seen by polling waitpid). Returns -2
 * if the deadline has passed. */
static int poll_ms(const struct run *r)
{
	int ms = !r->reaped && r->pidfd < 0 ? 10 : -1;
	uint64_t t, left;

	if (!r->deadline)
		return ms;
	t = now_ns();
	if (t >= r->deadline)
		return -2;
	left = (r->deadline - t + 999999) / 1000000;
	return ms < 0 || left < (uint64_t)ms ? (int)(left > INT32_MAX ? INT32_MAX : left) : ms;
}

/* The loop. Returns 0 when the child is reaped and its stdout at EOF, 1 at
 * the deadline, 2 on overflow, or -errno. */
static int pump(struct run *r)
{
	while (!r->reaped || r->out_r >= 0) {
		struct pollfd p[3];
		int n = 0, iw = -1, ir = -1, ms = poll_ms(r), k;

		if (ms == -2)
			return 1;
		if (r->in_w >= 0) {
			iw = n;
			p[n++] = (struct pollfd){ .fd = r->in_w, .events = POLLOUT };
		}
		if (r->out_r >= 0) {
			ir = n;
			p[n++] = (struct pollfd){ .fd = r->out_r, .events = POLLIN };
		}
		if (!r->reaped && r->pidfd >= 0)
			p[n++] = (struct pollfd){ .fd = r->pidfd, .events = POLLIN };
		k = poll(p, (nfds_t)n, ms);
		if (k < 0 && errno != EINTR)
			return -errno;
		if (k > 0 && iw >= 0 && p[iw].revents)
			write_some(r);
		if (k > 0 && ir >= 0 && p[ir].revents) {
			k = read_some(r);
			if (k)
				return k < 0 ? k : 2;
		}
		/* Reap once it can have ended: its pidfd said so, or its stdout
		 * is closed, or (no pidfd) on each turn. */
		if ((r->pidfd < 0 || r->out_r < 0 || (k > 0 && p[n - 1].revents)) &&
		    try_reap(r, false))
			return -ECHILD;
	}
	return 0;
}

static bool sigchld_ignored(void)
{
	struct sigaction sa;

	return sigaction(SIGCHLD, NULL, &sa) == 0 &&
	       (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT));
}

/* Start, pump, end: the run with SIGPIPE already blocked. */
static int run_blocked(const struct rpmap_cmd *c, struct run *r, struct rpmap_cmd_status *st)
{
	int in[2], out[2], res;

	res = make_pipes(in, out);
	if (res)
		return res;
	res = spawn(c, in[0], out[1], &r->pid);
	close_fd(&in[0]);
	close_fd(&out[1]);
	r->in_w = in[1];
	r->out_r = out[0];
	if (res) {
		close_fd(&r->in_w);
		close_fd(&r->out_r);
		return res;
	}
	if (r->o && r->o->started)
		r->o->started(r->pid, r->o->arg);
	r->pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);	/* -1 before Linux 5.3 */
	if (!r->len)
		close_fd(&r->in_w);
	res = pump(r);
	if (res > 0 || res < 0) {
		/* Timeout, overflow or our own error: the whole group goes. */
		kill(-r->pid, SIGKILL);
		st->timed_out = res == 1;
		st->overflow = res == 2;
	}
	close_fd(&r->in_w);
	close_fd(&r->out_r);
	if (try_reap(r, true) && res >= 0)
		res = -ECHILD;
	close_fd(&r->pidfd);
	st->in_taken = r->off;
	if (r->reaped) {
		st->exit_code = WIFEXITED(r->wstatus) ? WEXITSTATUS(r->wstatus) : 0;
		st->signal = WIFSIGNALED(r->wstatus) ? WTERMSIG(r->wstatus) : 0;
	}
	return res < 0 ? res : 0;
}

int rpmap_cmd_run(const struct rpmap_cmd *c, const void *in, size_t len, struct rpmap_buf *out,
		  const struct rpmap_cmd_opts *o, struct rpmap_cmd_status *st)
{
	static const struct timespec zero = { 0, 0 };
	struct run r = { .o = o, .in = in, .len = len, .out = out, .out_base = out->len,
			 .in_w = -1, .out_r = -1, .pidfd = -1 };
	sigset_t pipe_set, old, pending;
	uint64_t t0 = now_ns();
	bool was_pending;
	int res;

	*st = (struct rpmap_cmd_status){ 0 };
	if (sigchld_ignored())
		return -ECHILD;
	if (o && o->timeout_ns)
		r.deadline = t0 + o->timeout_ns;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	res = pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	if (res)
		return -res;
	was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
	res = run_blocked(c, &r, st);
	/* Take back the SIGPIPE our writes raised (not one that was there). */
	if (!was_pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) > 0 || errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	st->run_ns = now_ns() - t0;
	return res;
}

const char *rpmap_cmd_describe(const struct rpmap_cmd_status *st, uint64_t timeout_ns, char *buf,
			       size_t n)
{
	if (st->timed_out)
		snprintf(buf, n, "timed out after %llu ms",
			 (unsigned long long)(timeout_ns / 1000000));
	else if (st->overflow)
		snprintf(buf, n, "output over the limit");
	else if (st->signal)
		snprintf(buf, n, "killed by signal %d (%s)", st->signal, strsignal(st->signal));
	else
		snprintf(buf, n, "exit status %d", st->exit_code);
	return buf;
}
