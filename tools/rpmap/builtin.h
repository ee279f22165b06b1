/* SPDX-License-Identifier: MIT */
/*
 * The built-ins table: every FUNCTION rpmap runs is one row of rpmap_builtins
 * (builtins.c): its name, how its argument is parsed (gzip:6), its result
 * bound, its per-record (or per-task) function, what it writes at the end,
 * and flags for what the engine must know. The engine, the input cutter and
 * the worker read the row, never a function's name: adding a built-in is a
 * row and its functions in builtins.c, plus its test and its docs.
 */
#ifndef RPMAP_BUILTIN_H
#define RPMAP_BUILTIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringpool.h"

struct rpmap_task_hdr;
struct rpmap_cmd;

/*
 * What a function's argument and options made of it. Set by the row's
 * parse in the parent; an exec'd worker gets the plain fields as they are
 * and calls parse again on `arg` to rebuild the rest (a plugin's address).
 */
struct rpmap_fnconf {
	char arg[4096 + 256];	/* the argument as parse keeps it (a plugin: its
				 * absolute path and symbol), "" for none */
	size_t block;		/* records are --block this many bytes unless a
				 * record option says otherwise (set by parse);
				 * 0: lines */
	int level;		/* gzip, zstd */
	uint64_t count;		/* count: increments per record */
	bool bgzf;		/* gzip --bgzf */
	int members;		/* gunzip, unzstd: records are members of this
				 * kind (1 + enum rpmap_member_kind), 0: not */
	uint64_t res_hint;	/* result bytes a main-pool task should hold (a
				 * decoded member), beyond what bound says */
	rp_task_fn plugin;	/* a plugin's function (rebuilt by parse) */
	struct rpmap_cmd *cmd;	/* --pipe: the command (rebuilt by parse) */
	uint64_t cmd_timeout_ns;	/* --pipe: a command running longer is killed */
	unsigned cmd_retries;	/* --pipe: runs again of a command that failed */
};

/* One record as a row's record function sees it. */
struct rpmap_rec {
	struct rp_task *t;	/* the batch's task (plugins run as sub-tasks of it) */
	uint64_t index;		/* the record's index in the input, from 0 */
	const char *p;		/* the record, with its separator if has_sep */
	size_t n;
	bool has_sep;
	char *out;		/* its output goes here ... */
	uint64_t room;		/* ... in at most room bytes */
	uint64_t keep;		/* of which the output must leave this many (its
				 * failure entry): plugins, whose size is not bounded */
	/* Set by the call: */
	int status;		/* returned -1: the record's failure */
	uint64_t need;		/* returned -2: the bytes it needs, 0 if not known */
};

/* RPMAP_BI_* flags of a row. */
#define RPMAP_BI_HIDDEN		(1u << 0)	/* not a FUNCTION name (plugin, --pipe) */
#define RPMAP_BI_COSTLY		(1u << 1)	/* a record's cost is unknown: tasks start
						 * at 16 records until it is measured */
#define RPMAP_BI_BINARY		(1u << 2)	/* compressed output: refused on a
						 * terminal unless --force */
#define RPMAP_BI_BGZF		(1u << 3)	/* takes --bgzf */
#define RPMAP_BI_STRICT		(1u << 4)	/* a failed record is corrupt input:
						 * rpmap stops with exit status 2 */

struct rpmap_builtin {
	const char *name;	/* FUNCTION as typed, before any ":ARG" */
	const char *usage;	/* "gzip[:LEVEL]", for messages */
	unsigned flags;		/* RPMAP_BI_* */
	double out_ratio;	/* no bound: first guess of output bytes per
				 * input byte (the engine learns it) */
	/*
	 * Parse ARG (NULL when FUNCTION has no ":ARG") into c. Runs in the
	 * parent, and again in each exec'd worker with c->arg (the spawn
	 * start method's re-init). Returns 0, or -errno with a message in
	 * why (n bytes). NULL: takes no argument.
	 */
	int (*parse)(const char *arg, struct rpmap_fnconf *c, char *why, size_t n);
	/* Result bytes of a batch: `bytes` input in `nrec` records (0: not
	 * counted), beyond the batch's header. NULL: no bound is known. */
	uint64_t (*bound)(const struct rpmap_fnconf *c, uint64_t bytes, uint64_t nrec);
	/* One record: returns its output's length, -1 (r->status) if it
	 * failed, -2 (r->need) if its output did not fit r->room. */
	int64_t (*record)(const struct rpmap_fnconf *c, struct rpmap_rec *r);
	/* Optional, a whole batch of lines or NUL records in one call,
	 * without counting them in the parent (identity, upper): writes the
	 * output of [p, end) to out (at most room bytes) and returns the
	 * records, or 0 if not taken (the records then go one by one). */
	uint32_t (*batch)(const struct rpmap_fnconf *c, char *out, uint64_t room, const char *p,
			  const char *end, char sep);
	/* Optional, in the parent at the end of a complete run: what to
	 * write after everything (an empty member for empty input, BGZF's
	 * end-of-file block). `empty`: the input had no bytes. Returns the
	 * bytes written to buf (cap >= 64). */
	size_t (*finish)(const struct rpmap_fnconf *c, bool empty, char *buf, size_t cap);
	/* Optional, in the parent when a record failed with `status`: what
	 * is wrong with it (n bytes at p), for the message; NULL: strerror. */
	const char *(*explain)(const struct rpmap_fnconf *c, const char *p, size_t n, int status);
	/* Optional, in the parent when rpmap stops before the end (a failure
	 * without -k, its reader gone, a second Ctrl-C, SIGTERM): end what the
	 * records started outside the workers (--pipe: the commands).
	 * Async-signal-safe: it may run in a signal handler. */
	void (*stop)(const struct rpmap_fnconf *c);
};

/* The table, ending with a row whose name is NULL. */
extern const struct rpmap_builtin rpmap_builtins[];

/* The row called `name` (hidden rows included: "plugin" runs
 * PLUGIN.so:SYMBOL), or NULL. */
const struct rpmap_builtin *rpmap_builtin_find(const char *name);

/* plugin.c: the plugin row's functions. Its argument is PATH:SYMBOL; parse
 * loads it (-EINVAL: malformed, -ENOENT: cannot be loaded). */
int rpmap_plugin_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n);
int64_t rpmap_plugin_record(const struct rpmap_fnconf *c, struct rpmap_rec *r);

/* pipe.c: the --pipe row's functions. Its argument is the command. */
int rpmap_pipe_parse(const char *arg, struct rpmap_fnconf *c, char *why, size_t n);
int64_t rpmap_pipe_record(const struct rpmap_fnconf *c, struct rpmap_rec *r);
const char *rpmap_pipe_explain(const struct rpmap_fnconf *c, const char *p, size_t n,
			       int status);
void rpmap_pipe_stop(const struct rpmap_fnconf *c);

#endif
