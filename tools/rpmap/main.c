/* SPDX-License-Identifier: MIT */
/*
 * rpmap: map a function over the records of a stream, in parallel, keeping
 * their order. Parses the options, loads the plugin (before the pool forks,
 * so its address is valid in every forked worker; exec'd workers load it
 * again by path), sets up signals, and hands over to the engine. See
 * rpmap.1 and README.md in this folder. rpmap_exe.c's main() calls
 * rpmap_main; rpmap-mpi shares rpmap_cli_parse (rpmaplib.h).
 */
#include "rpmaplib.h"
#include "split.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "rpmap: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'rpmap --help' for more information.\n");
	exit(2);
}

/* The built-ins' usages, for a message: "identity, upper, ...". */
static void builtin_names(char *buf, size_t n)
{
	size_t len = 0;

	buf[0] = 0;
	for (const struct rpmap_builtin *b = rpmap_builtins; b->name; b++)
		if (!(b->flags & RPMAP_BI_HIDDEN) && len < n)
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "",
						b->usage);
}

/*
 * FUNCTION: a row of the built-ins table by its name (the part before the
 * first ':', the rest its argument), or else PLUGIN.so:SYMBOL, loaded now.
 * Sets rpmap_fn.bi and .conf. Exits 2 on error.
 */
static void parse_function(const char *f)
{
	const char *colon = strchr(f, ':');
	char name[32], why[PATH_MAX + 512], names[512];
	const struct rpmap_builtin *bi = NULL;
	int r;

	if (snprintf(name, sizeof(name), "%.*s", (int)(colon ? colon - f : (long)strlen(f)), f) <
	    (int)sizeof(name))
		bi = rpmap_builtin_find(name);
	if (bi && (bi->flags & RPMAP_BI_HIDDEN))
		bi = NULL;
	if (!bi && !colon) {
		builtin_names(names, sizeof(names));
		fprintf(stderr, "rpmap: unknown function '%s' (built-ins: %s; or PLUGIN.so:SYMBOL)\n"
				"Try 'rpmap --help' for more information.\n",
			f, names);
		exit(2);
	}
	if (!bi) {
		bi = rpmap_builtin_find("plugin");	/* the whole of f is its argument */
		colon = NULL;
		r = bi->parse(f, &rpmap_fn.conf, why, sizeof(why));
	} else if (bi->parse) {
		r = bi->parse(colon ? colon + 1 : NULL, &rpmap_fn.conf, why, sizeof(why));
	} else {
		r = colon ? -EINVAL : 0;
		snprintf(why, sizeof(why), "%s takes no argument ('%s')", bi->name, f);
	}
	if (r == -EINVAL)
		die_usage("%s", why);
	if (r) {
		fprintf(stderr, "rpmap: %s\n", why);
		exit(2);
	}
	/* Exec'd workers parse the same text again (a plugin keeps its own). */
	if (!rpmap_fn.conf.arg[0] && colon &&
	    snprintf(rpmap_fn.conf.arg, sizeof(rpmap_fn.conf.arg), "%s", colon + 1) >=
		    (int)sizeof(rpmap_fn.conf.arg))
		die_usage("argument too long: %s", f);
	rpmap_fn.bi = bi;
}

/*
 * --pipe CMD: the hidden "pipe" row, and its records: chunks of whole
 * lines (or NUL records with -0) of at most --block bytes (default 1M, as
 * parallel --pipe), one command per chunk. A command that fails runs
 * again, up to --retries times. A command running longer than --timeout is
 * killed by the worker itself; the library's deadline, 2 s after the last
 * try's, only backs it up (a worker killed cannot kill its command). Exits
 * 2 on error.
 */
static void parse_pipe(const char *cmd, unsigned retries)
{
	char why[256];
	int r;

	rpmap_fn.bi = rpmap_builtin_find("pipe");
	r = rpmap_fn.bi->parse(cmd, &rpmap_fn.conf, why, sizeof(why));
	if (r == -EINVAL)
		die_usage("%s", why);
	if (r) {
		fprintf(stderr, "rpmap: %s\n", why);
		exit(2);
	}
	if (rpmap_fn.mode != RPMAP_BLOCK)
		rpmap_fn.block = 1u << 20;
	rpmap_fn.sep = rpmap_fn.mode == RPMAP_NUL ? '\0' : '\n';
	rpmap_fn.mode = RPMAP_CHUNKS;
	rpmap_fn.conf.cmd_timeout_ns = rpmap_fn.timeout_ns;
	rpmap_fn.conf.cmd_retries = retries;
	if (rpmap_fn.timeout_ns)
		rpmap_fn.timeout_ns = rpmap_fn.timeout_ns * (retries + 1) + 2000000000ull;
}

/*
 * Standard streams closed when rpmap started (e.g. `rpmap f <&-`): hold
 * each one's number with /dev/null, so that no fd rpmap or the library
 * opens later (-i, -o, the pool's) takes it and is then read
 * or written as if it were stdin or stdout. Call first, before anything
 * opens an fd. Returns a mask of the closed ones (bit n: fd n); the caller
 * refuses to use a closed one for data.
 */
static unsigned hold_closed_std_fds(void)
{
	unsigned closed = 0;

	for (int fd = 0; fd <= 2; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		closed |= 1u << fd;
		/* The lowest free number: fd itself, as the lower ones are open. */
		n = open("/dev/null", fd ? O_WRONLY : O_RDONLY);
		if (n >= 0 && n != fd) {
			dup2(n, fd);
			close(n);
		}
		if (n < 0)
			exit(2);	/* no /dev/null: nothing sane left to do */
	}
	return closed;
}

/* After --help or --version: 0, or 2 if the text could not be written
 * (stdout closed, full disk), like any other output error. */
static int print_done(unsigned closed)
{
	int err = (closed & 2) ? EBADF : fflush(stdout) ? errno : ferror(stdout) ? EIO : 0;

	if (!err)
		return 0;
	fprintf(stderr, "rpmap: standard output: %s\n", strerror(err));
	return 2;
}

/* The first Ctrl-C: finish what is in flight. A second, or SIGTERM: die
 * by it at once, after ending what the row started outside the workers
 * (--pipe commands, in their own process groups, would outlive rpmap). */
static pid_t parent_pid;	/* forked workers inherit the handler: only the parent acts */

static void on_signal(int sig)
{
	if (getpid() != parent_pid) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	if (sig == SIGINT && !rpmap_interrupted) {
		rpmap_interrupted = 1;
		return;
	}
	if (rpmap_fn.bi && rpmap_fn.bi->stop)
		rpmap_fn.bi->stop(&rpmap_fn.conf);
	signal(sig, SIG_DFL);
	raise(sig);
}

enum {
	OPT_LINES = 256, OPT_MAXREC, OPT_CHUNK, OPT_BATCH, OPT_TIMEOUT, OPT_RETRIES, OPT_SPAWN,
	OPT_STATS, OPT_PROGRESS, OPT_NOPROGRESS, OPT_MAXTASKS, OPT_MAXRSS, OPT_BGZF,
	OPT_PIPE, OPT_JOBLOG,
};

static const struct option longopts[] = {
	{ "jobs", required_argument, NULL, 'j' },
	{ "null", no_argument, NULL, '0' },
	{ "lines", no_argument, NULL, OPT_LINES },
	{ "block", required_argument, NULL, 'b' },
	{ "max-record", required_argument, NULL, OPT_MAXREC },
	{ "input", required_argument, NULL, 'i' },
	{ "output", required_argument, NULL, 'o' },
	{ "unordered", no_argument, NULL, 'u' },
	{ "chunk", required_argument, NULL, OPT_CHUNK },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "keep-going", no_argument, NULL, 'k' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "spawn", no_argument, NULL, OPT_SPAWN },
	{ "max-tasks-per-worker", required_argument, NULL, OPT_MAXTASKS },
	{ "max-rss", required_argument, NULL, OPT_MAXRSS },
	{ "stats", optional_argument, NULL, OPT_STATS },
	{ "joblog", required_argument, NULL, OPT_JOBLOG },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NOPROGRESS },
	{ "bgzf", no_argument, NULL, OPT_BGZF },
	{ "pipe", required_argument, NULL, OPT_PIPE },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Record and file options. Returns false if c is not one of them. */
static bool record_option(int c, struct rpmap_cli *a)
{
	uint64_t v;

	switch (c) {
	case '0':
		rpmap_fn.mode = RPMAP_NUL;
		rpmap_fn.sep = '\0';
		break;
	case OPT_LINES:
		rpmap_fn.mode = RPMAP_LINES;
		rpmap_fn.sep = '\n';
		break;
	case 'b':
		if (!rpmap_parse_size(optarg, &v) || v < 1 || v > (64u << 20))
			die_usage("--block: size must be 1 to 64M, not '%s'", optarg);
		rpmap_fn.mode = RPMAP_BLOCK;
		rpmap_fn.block = (size_t)v;
		break;
	case OPT_MAXREC:
		if (!rpmap_parse_size(optarg, &v) || v < (1u << 20) || v > (256u << 20))
			die_usage("--max-record: size must be 1M to 256M, not '%s'", optarg);
		a->max_record = v;
		return true;
	case 'i':
		if (a->inpath)	/* not "the last one wins": a mistake */
			die_usage("-i given twice (also '%s'): one input file", optarg);
		a->inpath = optarg;
		return true;
	case 'o':
		a->outpath = optarg;
		return true;
	case OPT_BGZF:
		rpmap_fn.conf.bgzf = true;
		return true;
	case 'f':
		a->force = true;
		return true;
	case OPT_PIPE:
		a->pipe = optarg;
		return true;
	default:
		return false;
	}
	a->mode_set = true;
	return true;
}

/* Parallelism and failure options. Returns false if c is not one of them. */
static bool work_option(int c, struct rpmap_opts *o)
{
	uint64_t v;

	switch (c) {
	case 'j':
		if (!rpmap_parse_uint(optarg, 0, RP_MAX_WORKERS, &v))
			die_usage("-j: workers must be 0-256, not '%s'", optarg);
		if (v == 0) {	/* every CPU this process may run on, as by default */
			struct rp_config cfg;

			rp_config_init(&cfg);
			v = cfg.workers;
		}
		o->workers = (unsigned)v;
		o->workers_set = true;
		break;
	case 'u':
		o->unordered = true;
		break;
	case OPT_CHUNK:
		if (!rpmap_parse_uint(optarg, 1, 1u << 20, &v))
			die_usage("--chunk: must be 1 to 1048576, not '%s'", optarg);
		o->chunk = (unsigned)v;
		break;
	case OPT_BATCH:
		if (!rpmap_parse_size(optarg, &v) || v < 1024 || v > (16u << 20))
			die_usage("--batch: size must be 1k to 16M, not '%s'", optarg);
		o->batch_bytes = (size_t)v;
		break;
	case 'k':
		o->keep_going = true;
		break;
	case OPT_TIMEOUT:
		/* Whole milliseconds (rounded up): the library's deadlines are
		 * at least 1 ms, and messages say "after N ms". */
		if (!rpmap_parse_time(optarg, &v) || v == 0 || v > UINT32_MAX * 1000000ull)
			die_usage("--timeout: a time (500, 300ms, 5s, 2m; at least 1ms) expected, "
				  "not '%s'", optarg);
		o->timeout_ms = (v + 999999) / 1000000;
		rpmap_fn.timeout_ns = o->timeout_ms * 1000000ull;
		break;
	case OPT_RETRIES:
		if (!rpmap_parse_uint(optarg, 0, 1000, &v))
			die_usage("--retries: a count from 0 to 1000 expected, not '%s'", optarg);
		o->retries = (unsigned)v;
		break;
	default:
		return false;
	}
	return true;
}

/* Worker and reporting options. Returns false if c is not one of them. */
static bool worker_option(int c, struct rpmap_opts *o)
{
	uint64_t v;

	switch (c) {
	case OPT_SPAWN:
		o->spawn = true;
		break;
	case OPT_MAXTASKS:
		if (!rpmap_parse_uint(optarg, 1, UINT64_MAX, &v))
			die_usage("--max-tasks-per-worker: a count of 1 or more expected, not '%s'",
				  optarg);
		o->max_tasks = v;
		break;
	case OPT_MAXRSS:
		if (!rpmap_parse_size(optarg, &v) || v < 1)
			die_usage("--max-rss: a size (k, M, G suffixes) expected, not '%s'", optarg);
		o->max_rss = v;
		break;
	case OPT_STATS:
		if (optarg && strcmp(optarg, "json") && strcmp(optarg, "text"))
			die_usage("--stats: 'json' or 'text' expected, not '%s'", optarg);
		o->stats = optarg && !strcmp(optarg, "json") ? 2 : 1;
		break;
	case OPT_JOBLOG:
		/* Opened now, before the workers fork; closed at exit. */
		o->joblog = fopen(optarg, "we");
		if (!o->joblog) {
			fprintf(stderr, "rpmap: --joblog %s: %s\n", optarg, strerror(errno));
			exit(2);
		}
		fputs("record\tinput_byte\tcause\n", o->joblog);
		break;
	case OPT_PROGRESS:
		o->progress = 1;
		break;
	case OPT_NOPROGRESS:
		o->progress = 0;
		break;
	default:
		return false;
	}
	return true;
}

/*
 * Parse the command line into a and rpmap_fn, and load the function.
 * Returns -1 to go on, or the exit status (--help, --version, an error:
 * reported). Usage errors exit 2 at once.
 */
static int parse_args(int argc, char **argv, struct rpmap_cli *a)
{
	static const char *const dash = "-";
	int c;

	while ((c = getopt_long(argc, argv, "j:0b:i:o:ukfhV", longopts, NULL)) != -1) {
		if (record_option(c, a) || work_option(c, &a->o) || worker_option(c, &a->o))
			continue;
		if (c == 'h') {
			fputs(rpmap_usage_text, stdout);
			return print_done(a->closed);
		}
		if (c == 'V') {
			printf("rpmap %s\n", RINGPOOL_VERSION_STRING);
			return print_done(a->closed);
		}
		fprintf(stderr, "Try 'rpmap --help' for more information.\n");
		return 2;
	}
	if (!a->pipe && optind >= argc)
		die_usage("%s", "missing FUNCTION");
	if (optind + !a->pipe < argc) {	/* FILE... */
		if (a->inpath)
			die_usage("-i and FILE arguments ('%s'): one or the other", argv[argc - 1]);
		a->paths = (const char *const *)argv + optind + !a->pipe;
		a->npaths = (unsigned)(argc - optind - !a->pipe);
	} else {
		a->paths = a->inpath ? &a->inpath : (const char *const *)&dash;
		a->npaths = 1;
	}
	/* Like cat: a closed stream rpmap would read or write is an error. */
	for (unsigned i = 0; i < a->npaths; i++)
		if ((a->closed & 1) && !strcmp(a->paths[i], "-")) {
			fprintf(stderr, "rpmap: standard input: %s\n", strerror(EBADF));
			return 2;
		}
	if ((a->closed & 2) && (!a->outpath || !strcmp(a->outpath, "-"))) {
		fprintf(stderr, "rpmap: standard output: %s\n", strerror(EBADF));
		return 2;
	}
	if (a->pipe)
		parse_pipe(a->pipe, a->o.retries);
	else
		parse_function(argv[optind]);
	if (rpmap_fn.mode == RPMAP_BLOCK && rpmap_fn.block > a->max_record) {
		char b1[32], b2[32];

		fprintf(stderr, "rpmap: --block %s is longer than --max-record %s\n",
			rpmap_size_str(b1, sizeof(b1), rpmap_fn.block),
			rpmap_size_str(b2, sizeof(b2), a->max_record));
		return 2;
	}
	if (rpmap_fn.conf.bgzf && !(rpmap_fn.bi->flags & RPMAP_BI_BGZF))
		die_usage("--bgzf is an output mode of gzip, not of %s", rpmap_fn.bi->name);
	if (rpmap_fn.conf.members) {
		if (a->mode_set)
			die_usage("%s reads whole members: no record option (--lines, -0, --block)",
				  rpmap_fn.bi->name);
		if (a->o.unordered)
			die_usage("%s: -u would write the members' output out of order",
				  rpmap_fn.bi->name);
		rpmap_fn.mode = RPMAP_MEMBERS;
	}
	if (rpmap_fn.conf.block && !a->mode_set) {
		rpmap_fn.mode = RPMAP_BLOCK;
		rpmap_fn.block = rpmap_fn.conf.block;
	}
	if (a->o.progress < 0)
		a->o.progress = isatty(2);
	return -1;
}

/* EPIPE comes back from write(); Ctrl-C sets a flag the loop checks (no
 * SA_RESTART, so a blocked read() returns). */
static void set_signals(void)
{
	struct sigaction sa;

	signal(SIGPIPE, SIG_IGN);
	parent_pid = getpid();
	for (int sig = SIGINT; sig; sig = sig == SIGINT ? SIGTERM : 0) {
		memset(&sa, 0, sizeof(sa));
		sigaction(sig, NULL, &sa);
		if (sa.sa_handler == SIG_IGN)
			continue;	/* ignored (nohup, background): keep it so */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(sig, &sa, NULL);
	}
}

/* The run, and for gunzip/unzstd what comes after it: the serial rest of
 * an input that could not be split, or the refusal of empty input.
 * Returns the exit status, or -EPIPE. */
static int run(struct rpmap_cli *a, struct rpmap_input *in, struct rpmap_output *out)
{
	int r = rpmap_run(&a->o, in, out);

	if (r == 0 && rpmap_fn.mode == RPMAP_MEMBERS && !in->cut_off && !in->serial) {
		/* As gzip -d, pigz -d, zstd -d and bgzip -d: not a compressed file. */
		fprintf(stderr, "rpmap: %s: empty input, not a %s stream\n", in->name,
			rpmap_fn.conf.members == 1 + RPMAP_MEMBER_GZIP ? "gzip" : "zstd");
		r = 2;
	}
	if (r == 0 && in->serial) {
		r = rpmap_decode_rest(in, out);	/* what could not be split */
		if (out->err == -EPIPE)
			r = -EPIPE;
	}
	return r;
}

int rpmap_cli_parse(int argc, char **argv, struct rpmap_cli *a)
{
	struct rp_config cfg;

	*a = (struct rpmap_cli){ .o = { .progress = -1, .batch_bytes = 64u << 10 },
				 .max_record = 64ull << 20 };
	a->closed = hold_closed_std_fds();	/* first: before anything opens an fd */
	rp_config_init(&cfg);
	a->o.workers = cfg.workers;
	rpmap_fn.mode = RPMAP_LINES;
	rpmap_fn.sep = '\n';
	return parse_args(argc, argv, a);
}

int rpmap_main(int argc, char **argv)
{
	struct rpmap_cli a;
	struct rpmap_input in;
	struct rpmap_output out;
	const char *name;
	int r;

	r = rpmap_cli_parse(argc, argv, &a);
	if (r >= 0)
		return r;
	for (unsigned i = 1; i < a.npaths; i++)	/* all there, before any output */
		if (strcmp(a.paths[i], "-") && access(a.paths[i], R_OK)) {
			fprintf(stderr, "rpmap: %s: %s\n", a.paths[i], strerror(errno));
			return 2;
		}
	if (a.npaths > 1 && (name = rpmap_inputs_clash(a.paths, a.npaths, a.outpath))) {
		fprintf(stderr, "rpmap: %s: input file is output file\n", name);
		return 2;	/* before the output is truncated */
	}
	r = rpmap_inputs_open(&in, a.paths, a.npaths, (size_t)a.max_record);
	if (r) {
		fprintf(stderr, "rpmap: %s: %s\n", a.paths[0], strerror(-r));
		return 2;
	}
	if (rpmap_fn.mode == RPMAP_BLOCK && in.read_size < rpmap_fn.block)
		in.read_size = rpmap_fn.block;	/* a pipe: whole blocks per read */
	r = rpmap_output_open(&out, a.outpath, &in.id);
	if (r == -EEXIST)
		fprintf(stderr, "rpmap: %s: input file is output file\n",
			a.outpath ? a.outpath : "standard output");
	else if (r)
		fprintf(stderr, "rpmap: %s: %s\n", a.outpath ? a.outpath : "standard output",
			strerror(-r));
	if (!r && (rpmap_fn.bi->flags & RPMAP_BI_BINARY) && !a.force && isatty(out.fd)) {
		/* As gzip, pigz and zstd do. */
		fprintf(stderr, "rpmap: %s: compressed data not written to a terminal (use -f to "
				"force)\n", out.name);
		rpmap_output_close(&out);
		r = 2;
	}
	if (r) {
		rpmap_input_close(&in);
		return 2;
	}
	set_signals();
	r = run(&a, &in, &out);
	rpmap_input_close(&in);
	if (r == -EPIPE) {
		/* End like any filter whose reader left: quietly, by SIGPIPE. */
		free(out.buf);
		signal(SIGPIPE, SIG_DFL);
		raise(SIGPIPE);
		return 141;
	}
	if (rpmap_output_close(&out) && r != 2) {
		fprintf(stderr, "rpmap: %s: %s\n", out.name, strerror(-out.err));
		r = 2;
	}
	if (r == 128 + SIGINT) {
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
	}
	return r;
}
