/* SPDX-License-Identifier: MIT */
/*
 * The --pipe row: each record is a chunk of whole lines (or NUL records) of
 * about --block bytes, and the worker runs the command once per chunk
 * (pipecmd.h: no shell unless CMD has shell syntax), the chunk on its
 * stdin, its stdout the chunk's output; one that fails runs again, up to
 * --retries times. The workers stay; only the command starts per chunk. How a failed run ended travels in the record's status
 * (an exit code, or SIGNAL_BASE + the signal), which explain() words.
 *
 * Commands run in their own process group (a timeout kills the whole
 * pipeline), so a worker's death does not end them: each running command's
 * group is noted in a slot of a shared page (made by parse in the parent,
 * inherited by forked workers), and the row's stop kills those groups when
 * rpmap stops early or is killed by SIGINT or SIGTERM.
 */
#include "builtin.h"
#include "pipecmd.h"
#include "rpmap.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SIGNAL_BASE	1000	/* status: SIGNAL_BASE + signal */
#define OVERFLOW	2000	/* status: output over RPMAP_MAX_RESULT */
#define NO_START	3000	/* status: NO_START + errno: could not run it */

#define SLOTS	1024	/* running commands noted at once (1024 workers: plenty) */

/* Process groups of the running commands, 0 for a free slot, and at
 * [SLOTS] the "stopping" flag; shared by the parent and its forked workers
 * (exec'd ones make their own: not tracked). */
static _Atomic int32_t *slots;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "slots are read in a signal handler");

/* rpmap_cmd_opts.started: note the command's group in a free slot (arg:
 * where to keep the slot's index, -1 if none was free). */
static void note_started(pid_t pid, void *arg)
{
	int *k = arg;

	*k = -1;
	for (int i = 0; slots && i < SLOTS; i++) {
		int32_t free_slot = 0;

		/* seq_cst, pairs with stop's flag store and sweep: either stop
		 * sees this slot, or the flag load below sees stop (Dekker). */
		if (atomic_compare_exchange_strong(&slots[i], &free_slot, (int32_t)pid)) {
			*k = i;
			break;
		}
	}
	/* seq_cst load, pairs with stop's store: a command started while rpmap
	 * stops ends at once. */
	if (slots && atomic_load(&slots[SLOTS]))
		kill(-pid, SIGKILL);
}

void rpmap_pipe_stop(const struct rpmap_fnconf *c)
{
	(void)c;
	if (!slots)
		return;
	atomic_store(&slots[SLOTS], 1);	/* seq_cst: pairs with note_started's load */
	for (int i = 0; i < SLOTS; i++) {
		/* seq_cst, pairs with note_started's CAS. Async-signal-safe. */
		int32_t pg = atomic_load(&slots[i]);

		if (pg > 0)
			kill(-pg, SIGKILL);
	}
}

int rpmap_pipe_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n)
{
	int r;

	if (!arg || !*arg) {
		snprintf(why, n, "--pipe: empty command");
		return -EINVAL;
	}
	if (snprintf(c->arg, sizeof(c->arg), "%s", arg) >= (int)sizeof(c->arg)) {
		snprintf(why, n, "--pipe: command longer than %zu bytes", sizeof(c->arg) - 1);
		return -EINVAL;
	}
	if (!slots) {
		void *m = mmap(NULL, (SLOTS + 1) * sizeof(*slots), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		slots = m == MAP_FAILED ? NULL : m;	/* zeroed: all free */
	}
	r = rpmap_cmd_parse(arg, &c->cmd);
	if (r)
		snprintf(why, n, "--pipe: %s", r == -EINVAL ? "blank command" : strerror(-r));
	return r;
}

/* The chunk's status for a run that failed (0 if it did not). */
static int run_status(const struct rpmap_cmd_status *st)
{
	if (st->timed_out)
		return RP_ETIMEDOUT;
	if (st->overflow)
		return OVERFLOW;
	if (st->signal)
		return SIGNAL_BASE + st->signal;
	return st->exit_code;
}

int64_t rpmap_pipe_record(const struct rpmap_fnconf *c, struct rpmap_rec *r)
{
	static struct rpmap_buf out;	/* this worker's, kept between chunks */
	int slot = -1;
	struct rpmap_cmd_opts o = { .timeout_ns = c->cmd_timeout_ns, .max_out = RPMAP_MAX_RESULT,
				    .started = note_started, .arg = &slot };
	struct rpmap_cmd_status st;
	int e;

	for (unsigned try = 0;; try++) {
		out.len = 0;
		e = rpmap_cmd_run(c->cmd, r->p, r->n, &out, &o, &st);
		if (slot >= 0)	/* reaped: free its slot (relaxed: only a pid to kill) */
			atomic_store_explicit(&slots[slot], 0, memory_order_relaxed);
		slot = -1;
		if (e) {
			r->status = e == -ENOMEM ? -ENOMEM : NO_START - e;
			return -1;	/* not retried: it would not start again */
		}
		if (rpmap_cmd_ok(&st))
			break;
		if (try == c->cmd_retries) {
			r->status = run_status(&st);
			return -1;
		}
	}
	/* Not enough room: it runs again where its output fits (--pipe
	 * commands are expected to give the same output for the same input). */
	r->need = out.len;
	if (out.len > r->room || r->room - out.len < r->keep)
		return -2;
	memcpy(r->out, out.data, out.len);
	if (out.cap > (4u << 20)) {	/* give a rare large buffer back */
		free(out.data);
		out = (struct rpmap_buf){ 0 };
	}
	return (int64_t)r->need;
}

const char *rpmap_pipe_explain(const struct rpmap_fnconf *c, const char *p, size_t n,
			       int status)
{
	static char why[128];

	(void)p;
	(void)n;
	if (status == RP_ETIMEDOUT)
		snprintf(why, sizeof(why), "command timed out after %llu ms (killed)",
			 (unsigned long long)(c->cmd_timeout_ns / 1000000));
	else if (status == OVERFLOW)
		snprintf(why, sizeof(why), "command wrote more than %u MiB", RPMAP_MAX_RESULT >> 20);
	else if (status > NO_START)
		snprintf(why, sizeof(why), "cannot run the command: %s", strerror(status - NO_START));
	else if (status > SIGNAL_BASE)
		snprintf(why, sizeof(why), "command killed by signal %d (%s)", status - SIGNAL_BASE,
			 strsignal(status - SIGNAL_BASE));
	else if (status > 0)
		snprintf(why, sizeof(why), "command exited with status %d", status);
	else
		return NULL;
	return why;
}
