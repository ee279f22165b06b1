/* SPDX-License-Identifier: MIT */
/*
 * The --pipe runner: which commands need a shell; output larger than every
 * pipe buffer while the input is still being written; exit codes, signals,
 * timeouts (the whole process group), output caps; a command that stops
 * reading; missing programs; no fd leaks; the child's signal state; a
 * caller with closed stdio, ignored SIGCHLD, or a signal storm (EINTR).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "../pipecmd.h"

static struct rpmap_cmd *parse(const char *s)
{
	struct rpmap_cmd *c;

	cr_assert_eq(rpmap_cmd_parse(s, &c), 0, "%s", s);
	return c;
}

/* Run s on in[0..len) with opts o; returns the call's result. */
static int run(const char *s, const void *in, size_t len, const struct rpmap_cmd_opts *o,
	       struct rpmap_buf *out, struct rpmap_cmd_status *st)
{
	struct rpmap_cmd *c = parse(s);
	int r = rpmap_cmd_run(c, in, len, out, o, st);

	rpmap_cmd_free(c);
	return r;
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

Test(pipecmd, parse, .timeout = 30)
{
	static const char *const plain[] = { "tr a-z A-Z", "  cat  ", "sort -k2,2 -t:",
					     "gzip -c -9", "./a.out --x=1" };
	static const char *const shell[] = { "a | b", "exit 3", "cd /tmp", "FOO=1 env", "echo ~",
					     "echo $HOME", "cat 'x y'", "echo *", ". ./x", "a;b",
					     "if true", "grep é" };
	struct rpmap_cmd *c;

	for (size_t i = 0; i < 4; i++) {
		c = parse(plain[i]);
		cr_assert(!rpmap_cmd_shell(c), "%s", plain[i]);
		rpmap_cmd_free(c);
	}
	/* '=' is shell syntax (an assignment): plain[4] goes to the shell. */
	c = parse(plain[4]);
	cr_assert(rpmap_cmd_shell(c));
	rpmap_cmd_free(c);
	for (size_t i = 0; i < sizeof(shell) / sizeof(shell[0]); i++) {
		c = parse(shell[i]);
		cr_assert(rpmap_cmd_shell(c), "%s", shell[i]);
		cr_assert_str_eq(rpmap_cmd_argv(c)[2], shell[i]);
		rpmap_cmd_free(c);
	}
	c = parse("  sort -k2,2   -t: ");
	cr_assert_str_eq(rpmap_cmd_argv(c)[0], "sort");
	cr_assert_str_eq(rpmap_cmd_argv(c)[1], "-k2,2");
	cr_assert_str_eq(rpmap_cmd_argv(c)[2], "-t:");
	cr_assert_null(rpmap_cmd_argv(c)[3]);
	rpmap_cmd_free(c);
	cr_assert_eq(rpmap_cmd_parse("", &c), -EINVAL);
	cr_assert_eq(rpmap_cmd_parse(" \t ", &c), -EINVAL);
}

/* 8 MiB through tr, both ways at once: no deadlock, bytes exact. */
Test(pipecmd, large_both_ways, .timeout = 60)
{
	size_t n = 8 << 20;
	char *in = malloc(n);
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	int fds = open_fds();

	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	cr_assert_eq(run("tr a-z A-Z", in, n, NULL, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	cr_assert_eq(out.len, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(out.data[i], (char)('A' + i % 26));
	cr_assert_eq(st.in_taken, n);
	/* The output is appended; an empty batch runs too. */
	cr_assert_eq(run("sh -c 'cat; echo end'", "", 0, NULL, &out, &st), 0);
	cr_assert_eq(out.len, n + 4);
	cr_assert_eq(memcmp(out.data + n, "end\n", 4), 0);
	cr_assert_eq(open_fds(), fds, "fds leaked");
	free(out.data);
	free(in);
}

Test(pipecmd, exit_codes_and_signals, .timeout = 30)
{
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	char msg[64];

	cr_assert_eq(run("exit 3", "x", 1, NULL, &out, &st), 0);
	cr_assert_eq(st.exit_code, 3);
	cr_assert(!rpmap_cmd_ok(&st));
	cr_assert_str_eq(rpmap_cmd_describe(&st, 0, msg, sizeof(msg)), "exit status 3");
	cr_assert_eq(run("kill -TERM $$", "x", 1, NULL, &out, &st), 0);
	cr_assert_eq(st.signal, SIGTERM);
	cr_assert(!rpmap_cmd_ok(&st));
	cr_assert_eq(run("false", "", 0, NULL, &out, &st), 0);
	cr_assert_eq(st.exit_code, 1);
	cr_assert_eq(run("/no/such/program", "x", 1, NULL, &out, &st), -ENOENT);
	cr_assert_eq(run("no-such-program-rpmap", "x", 1, NULL, &out, &st), -ENOENT);
	cr_assert_eq(run("/etc/passwd", "x", 1, NULL, &out, &st), -EACCES);
	/* Through the shell, a missing program is the shell's 127. */
	cr_assert_eq(run("no-such-program-rpmap $HOME", "x", 1, NULL, &out, &st), 0);
	cr_assert_eq(st.exit_code, 127);
	free(out.data);
}

/* A command that stops reading early: not an error, and no SIGPIPE for us. */
Test(pipecmd, reader_leaves_early, .timeout = 30)
{
	size_t n = 4 << 20;
	char *in = malloc(n);
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;

	memset(in, 'y', n);
	signal(SIGPIPE, SIG_DFL);	/* a SIGPIPE would kill this test */
	cr_assert_eq(run("head -c 10", in, n, NULL, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	cr_assert_eq(out.len, 10);
	cr_assert_lt(st.in_taken, n);
	cr_assert_eq(run("true", in, n, NULL, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	free(out.data);
	free(in);
}

static pid_t started_pid;

/* Processes of group pgid that are not zombies (from /proc/PID/stat). */
static int live_members(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[300], buf[512], *p;
		FILE *f;
		size_t len;
		char state;
		int ppid, pgrp;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = 0;
		p = strrchr(buf, ')');	/* after the command name, which may hold anything */
		if (p && sscanf(p + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
		    state != 'Z')
			n++;
	}
	closedir(d);
	return n;
}

static void note_pid(pid_t pid, void *arg)
{
	*(int *)arg += 1;
	started_pid = pid;
}

/* The timeout kills the whole group: a pipeline's members too. */
Test(pipecmd, timeout_kills_group, .timeout = 30)
{
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	int calls = 0;
	struct rpmap_cmd_opts o = { .timeout_ns = 300 * 1000000ull, .started = note_pid,
				    .arg = &calls };
	char msg[64];

	cr_assert_eq(run("sleep 30 | sleep 31", "x", 1, &o, &out, &st), 0);
	cr_assert(st.timed_out);
	cr_assert_eq(st.signal, SIGKILL);
	cr_assert_lt(st.run_ns, 5000000000ull, "took %llu ns", (unsigned long long)st.run_ns);
	cr_assert_geq(st.run_ns, 300000000ull);
	cr_assert_eq(calls, 1);
	cr_assert_str_eq(rpmap_cmd_describe(&st, o.timeout_ns, msg, sizeof(msg)),
			 "timed out after 300 ms");
	/* Nothing of the group is left alive (its members may stay zombies
	 * a while: init reaps the orphans when it gets to it). */
	for (int i = 0; i < 100 && live_members(started_pid); i++)
		usleep(10000);
	cr_assert_eq(live_members(started_pid), 0);
	/* A command that closes stdout but keeps running is still bounded. */
	cr_assert_eq(run("exec >&-; sleep 30", "x", 1, &o, &out, &st), 0);
	cr_assert(st.timed_out);
	/* In time: no timeout. */
	cr_assert_eq(run("sleep 0.05", "x", 1, &o, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	free(out.data);
}

Test(pipecmd, output_cap, .timeout = 30)
{
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	struct rpmap_cmd_opts o = { .max_out = 1 << 20 };

	cr_assert_eq(run("yes", "", 0, &o, &out, &st), 0);
	cr_assert(st.overflow);
	cr_assert(!rpmap_cmd_ok(&st));
	cr_assert_leq(out.len, (1 << 20) + 1);
	out.len = 0;
	cr_assert_eq(run("head -c 1048576 /dev/zero", "", 0, &o, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st), "exactly the cap is fine");
	cr_assert_eq(out.len, 1 << 20);
	free(out.data);
}

/* Only 0, 1 and 2 reach the command, even fds without O_CLOEXEC; its
 * signals are at their defaults and unblocked whatever ours are. */
Test(pipecmd, child_environment, .timeout = 30)
{
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	int leak = dup(2);	/* no O_CLOEXEC */
	sigset_t block;

	cr_assert_geq(leak, 3);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	cr_assert_eq(run("ls /proc/$$/fd", "", 0, NULL, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	cr_assert_eq(out.len, 6);
	cr_assert_eq(memcmp(out.data, "0\n1\n2\n", 6), 0, "%.*s", (int)out.len, out.data);
	/* Read by the command itself, exec'd without a shell (a shell may
	 * block signals of its own while it waits for a child). */
	out.len = 0;
	cr_assert_eq(run("cat /proc/self/status", "", 0, NULL, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	cr_assert_lt(out.len, 65536);
	out.data[out.len] = 0;
	/* Signals 1-31 (the low 31 bits); 32 and 33 are glibc's own, which
	 * its posix_spawn sets to SIG_IGN when this process handles them. */
	cr_assert_not_null(strstr(out.data, "SigBlk:\t"));
	cr_assert_eq(strtoull(strstr(out.data, "SigBlk:\t") + 8, NULL, 16) & 0x7fffffff, 0);
	cr_assert_eq(strtoull(strstr(out.data, "SigIgn:\t") + 8, NULL, 16) & 0x7fffffff, 0,
		     "%s", out.data);
	close(leak);
	free(out.data);
}

/* With stdin and stdout closed, the pipes take fds 0 and 1: still right. */
Test(pipecmd, caller_stdio_closed, .timeout = 30)
{
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;

	close(0);
	close(1);
	cr_assert_eq(run("tr a-z A-Z", "abc", 3, NULL, &out, &st), 0);
	cr_assert(rpmap_cmd_ok(&st));
	cr_assert_eq(out.len, 3);
	cr_assert_eq(memcmp(out.data, "ABC", 3), 0);
	free(out.data);
}

Test(pipecmd, sigchld_ignored, .timeout = 30)
{
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;

	signal(SIGCHLD, SIG_IGN);
	cr_assert_eq(run("true", "", 0, NULL, &out, &st), -ECHILD);
	signal(SIGCHLD, SIG_DFL);
	cr_assert_eq(run("true", "", 0, NULL, &out, &st), 0);
	free(out.data);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/* A signal every 100 us (no SA_RESTART): every syscall may see EINTR. */
Test(pipecmd, eintr_storm, .timeout = 60)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 100 }, { 0, 100 } };
	size_t n = 2 << 20;
	char *in = malloc(n);
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	struct rpmap_cmd_opts o = { .timeout_ns = 20000000000ull };

	memset(in, 'q', n);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	for (int k = 0; k < 5; k++) {
		out.len = 0;
		cr_assert_eq(run("sh -c 'sleep 0.01; cat'", in, n, &o, &out, &st), 0);
		cr_assert(rpmap_cmd_ok(&st));
		cr_assert_eq(out.len, n);
		cr_assert_eq(memcmp(out.data, in, n), 0);
	}
	it = (struct itimerval){ 0 };
	setitimer(ITIMER_REAL, &it, NULL);
	free(out.data);
	free(in);
}
