/* SPDX-License-Identifier: MIT */
/*
 * --pipe CMD: run a command on one batch, the batch on its stdin, its
 * stdout collected as the batch's result, its stderr inherited. Started
 * without a shell (posix_spawnp of the split words) when CMD has no shell
 * syntax, else as /bin/sh -c CMD. The parent writes and reads at once in
 * one poll loop, so any output size works; a timeout kills the command's
 * whole process group. How the command ended is reported, never judged.
 */
#ifndef RPMAP_PIPECMD_H
#define RPMAP_PIPECMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct rpmap_cmd;

/*
 * Parse CMD once (in the parent, before the workers start). Words are split
 * on blanks when every character is a letter, digit, blank or one of
 * - _ . / , : + @ % ^ and the first word is not a shell keyword or special
 * builtin (exit, cd, ., exec...); anything else runs as /bin/sh -c CMD.
 * Returns 0 and *out, -EINVAL for an empty or blank CMD, -ENOMEM.
 */
int rpmap_cmd_parse(const char *cmd, struct rpmap_cmd **out);
void rpmap_cmd_free(struct rpmap_cmd *c);

/* True if the command runs through /bin/sh -c. */
bool rpmap_cmd_shell(const struct rpmap_cmd *c);

/* The argv it runs (NULL-terminated; owned by c). */
char *const *rpmap_cmd_argv(const struct rpmap_cmd *c);

/* A growable private buffer; zero-initialize, free data when done. */
struct rpmap_buf {
	char *data;
	size_t len, cap;
};

struct rpmap_cmd_opts {
	uint64_t timeout_ns;	/* 0: none; else the command's group gets SIGKILL */
	size_t max_out;		/* 0: none; else more stdout than this is killed too */
	/* Called in the parent right after the start, with the command's pid
	 * (also its process group): a caller that may be killed while it
	 * waits can note it, so that someone else can kill(-pid) the group. */
	void (*started)(pid_t pid, void *arg);
	void *arg;
};

/* How one run ended. */
struct rpmap_cmd_status {
	int exit_code;		/* its exit status, when signal == 0 */
	int signal;		/* the signal that ended it, or 0 */
	bool timed_out;		/* killed at the timeout (signal is SIGKILL) */
	bool overflow;		/* killed for writing more than max_out */
	uint64_t in_taken;	/* input bytes it read before closing stdin */
	uint64_t run_ns;
};

/*
 * Run the command once on in[0..len): its stdout is appended to out (grown
 * with realloc). Returns 0 when the command was started and reaped: *st
 * says how it ended (rpmap_cmd_ok tells a success). A command that exits
 * without reading all its input is not an error by itself (st->in_taken).
 * Returns -errno if it could not run: posix_spawn's error (-ENOENT: no
 * such program, -EACCES...), -EMFILE/-ENFILE (pipes), -ENOMEM (out could
 * not grow: the command was killed and reaped), -ECHILD if SIGCHLD is
 * ignored in this process (exit statuses would be lost: restore SIG_DFL).
 * Signals: SIGPIPE is blocked in this thread while it runs (one raised by
 * a write to the command is taken back); the command starts with every
 * signal at its default action and an empty mask, in its own process
 * group. Every fd it gets but 0, 1 and 2 is closed (closefrom(3), glibc
 * 2.34+; older: only O_CLOEXEC protects). Not thread-safe with
 * other callers that reap children (waitpid(-1)).
 */
int rpmap_cmd_run(const struct rpmap_cmd *c, const void *in, size_t len, struct rpmap_buf *out,
		  const struct rpmap_cmd_opts *o, struct rpmap_cmd_status *st);

/* Did the run succeed (exit 0, no signal, no timeout, no overflow)? */
static inline bool rpmap_cmd_ok(const struct rpmap_cmd_status *st)
{
	return !st->signal && !st->exit_code && !st->timed_out && !st->overflow;
}

/* "exit status 3", "killed by signal 9 (Killed)", "timed out after 500 ms",
 * "output over the limit": for the batch's failure message. Returns buf. */
const char *rpmap_cmd_describe(const struct rpmap_cmd_status *st, uint64_t timeout_ns, char *buf,
			       size_t n);

#endif
