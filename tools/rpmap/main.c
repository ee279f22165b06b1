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

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RPMAP_VERSION "0.1.0"

static const char usage_text[] =
"Usage: rpmap [OPTION]... FUNCTION\n"
"Map FUNCTION over the records of the input, in parallel worker processes,\n"
"and write the results in input order.\n"
"\n"
"FUNCTION is a built-in or PLUGIN.so:SYMBOL:\n"
"  identity          each record unchanged\n"
"  upper             ASCII a-z to A-Z (like tr a-z A-Z)\n"
"  crc32             one line of lowercase hex per record: the CRC-32 of the\n"
"                    record without its separator\n"
"  count[:N]         burn CPU: N increments per record (default 10000000),\n"
"                    print N as a decimal line\n"
"  gzip[:LEVEL]      each record becomes one gzip member (zlib, level 0-9,\n"
"                    default 6); the output is one gzip file. Records are\n"
"                    --block 128k unless another record option is given\n"
"  PLUGIN.so:SYMBOL  a ringpool task function (rp_task_fn) exported by a shared\n"
"                    object; it gets each record without its separator, and\n"
"                    rpmap writes its result followed by the separator\n"
"A record's result is at most 256 MiB (more fails: \"result too large\").\n"
"\n"
"Records (default: lines):\n"
"      --lines            records end with a newline; a last line without one is\n"
"                         a record, and the output keeps the missing newline\n"
"  -0, --null             records end with a NUL byte\n"
"  -b, --block SIZE       records are SIZE bytes (k, M suffixes; 1 to 64M, and\n"
"                         at most --max-record); the last may be shorter\n"
"      --max-record SIZE  refuse longer records (default 64M, at most 256M)\n"
"\n"
"Input and output:\n"
"  -i, --input FILE       read FILE (default: standard input)\n"
"  -o, --output FILE      write FILE (default: standard output)\n"
"\n"
"Parallelism:\n"
"  -j, --jobs N           worker processes (default: online CPUs)\n"
"  -u, --unordered        write results as they finish (records inside a task\n"
"                         keep their order)\n"
"      --chunk N          at most N records per task, 1 to 1048576 (default:\n"
"                         adaptive, about 2 ms of work or --batch bytes per task)\n"
"      --batch SIZE       input bytes per task, 1k to 16M (default 64k)\n"
"\n"
"Failures:\n"
"  -k, --keep-going       report failed records on stderr (index, input byte,\n"
"                         cause) and go on; without it, the first failure stops\n"
"                         rpmap after every result before it is written\n"
"      --timeout MS       a record that runs longer than MS milliseconds fails\n"
"                         (\"timed out after MS ms\"); its worker is killed and\n"
"                         replaced. Not retried\n"
"      --retries N        run a record whose worker dies (a crash, an exit) again,\n"
"                         up to N times (0-1000, default 0), counted per record\n"
"\n"
"Workers:\n"
"      --spawn            start each worker by exec of rpmap itself instead of\n"
"                         fork; plugins are loaded again in each worker\n"
"      --max-tasks-per-worker N\n"
"                         replace each worker after it has run N tasks (a task\n"
"                         is a batch of records: see --chunk); bounds a plugin\n"
"                         that leaks\n"
"      --max-rss SIZE     replace a worker once its peak resident size is over\n"
"                         SIZE (checked every 64 tasks; it counts the shared\n"
"                         rings the worker touched, 4M with the default rings)\n"
"\n"
"Reporting:\n"
"      --stats            print the pool's statistics on stderr at the end\n"
"      --progress         progress bar on stderr (default when it is a terminal)\n"
"      --no-progress      no progress bar\n"
"  -h, --help             this text\n"
"  -V, --version          version\n"
"\n"
"Exit status: 0 all records done; 1 some records failed; 2 usage, plugin or\n"
"I/O error, or an input file that shrank while read; after Ctrl-C, rpmap\n"
"writes every result in flight and dies by SIGINT (130); when the reader of\n"
"its output goes away (EPIPE), it stops quietly and dies by SIGPIPE (141),\n"
"like cat.\n"
"\n"
"Examples:\n"
"  rpmap gzip < big.log > big.log.gz        # parallel gzip, one member per 128k\n"
"  rpmap -j 8 upper -i in.txt -o out.txt\n"
"  rpmap crc32 -0 < names0\n"
"  rpmap --keep-going ./plugins/rev.so:rev < lines\n"
"  rpmap -k --timeout 500 --retries 2 ./parse.so:parse < lines   # flaky plugin\n";

static void die_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "rpmap: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'rpmap --help' for more information.\n");
	exit(2);
}

/* "128k", "1M", "4096": bytes. Returns false on junk or overflow. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: return false;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

static bool parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/*
 * Built-in name, or plugin "PATH:SYMBOL" loaded now (its absolute path and
 * symbol go to o, for exec'd workers). Exits 2 on error.
 */
static void parse_function(const char *f, struct rpmap_opts *o)
{
	const char *colon = strrchr(f, ':');
	size_t nlen = colon ? (size_t)(colon - f) : strlen(f);
	uint64_t v;

	if (!strcmp(f, "identity")) {
		rpmap_fn.kind = RPMAP_IDENTITY;
	} else if (!strcmp(f, "upper")) {
		rpmap_fn.kind = RPMAP_UPPER;
	} else if (!strcmp(f, "crc32")) {
		rpmap_fn.kind = RPMAP_CRC32;
	} else if (nlen == 5 && !strncmp(f, "count", 5)) {
		rpmap_fn.kind = RPMAP_COUNT;
		rpmap_fn.count = 10000000;
		if (colon && !parse_uint(colon + 1, 0, UINT64_MAX, &rpmap_fn.count))
			die_usage("count: bad increment count '%s'", colon + 1);
	} else if (nlen == 4 && !strncmp(f, "gzip", 4)) {
		rpmap_fn.kind = RPMAP_GZIP;
		rpmap_fn.level = 6;
		if (colon) {
			if (!parse_uint(colon + 1, 0, 9, &v))
				die_usage("gzip: level must be 0-9, not '%s'", colon + 1);
			rpmap_fn.level = (int)v;
		}
	} else if (colon && nlen) {
		char path[PATH_MAX];
		const char *sym = colon + 1;
		void *h, *fn;

		if (!*sym)
			die_usage("'%s': no symbol after ':' (PLUGIN.so:SYMBOL)", f);
		/* A bare name would be searched in the library path: mean the file. */
		if (snprintf(path, sizeof(path), "%s%.*s", memchr(f, '/', nlen) ? "" : "./",
			     (int)nlen, f) >= (int)sizeof(path))
			die_usage("plugin path too long: %s", f);
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h) {
			fprintf(stderr, "rpmap: %s: cannot load plugin: %s\n", path, dlerror());
			exit(2);
		}
		dlerror();
		fn = dlsym(h, sym);
		if (!fn) {
			fprintf(stderr, "rpmap: %s: no symbol '%s' in the plugin\n", path, sym);
			exit(2);
		}
		rpmap_fn.kind = RPMAP_PLUGIN;
		rpmap_fn.plugin = (rp_task_fn)(uintptr_t)fn;
		/* Exec'd workers open the very file: by absolute path. */
		/* A static buffer: it lives as long as the process (no leak). */
		static char resolved[PATH_MAX];

		o->plugin_path = realpath(path, resolved);
		o->plugin_sym = sym;
		if (!o->plugin_path || strlen(o->plugin_path) >= PATH_MAX || strlen(sym) >= 256) {
			fprintf(stderr, "rpmap: %s: cannot resolve the plugin's path\n", path);
			exit(2);
		}
	} else {
		die_usage("unknown function '%s' (built-ins: identity, upper, crc32, "
			  "count[:N], gzip[:LEVEL]; or PLUGIN.so:SYMBOL)", f);
	}
}

/*
 * Standard streams closed when rpmap started (e.g. `rpmap f <&-`): hold
 * each one's number with /dev/null, so that no fd rpmap or the library
 * opens later (the board, -i, -o, the pool's) takes it and is then read
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

static void on_sigint(int sig)
{
	(void)sig;
	rpmap_interrupted = 1;	/* SA_RESETHAND: a second Ctrl-C kills at once */
}

enum {
	OPT_LINES = 256, OPT_MAXREC, OPT_CHUNK, OPT_BATCH, OPT_TIMEOUT, OPT_RETRIES, OPT_SPAWN,
	OPT_STATS, OPT_PROGRESS, OPT_NOPROGRESS, OPT_MAXTASKS, OPT_MAXRSS,
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
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NOPROGRESS },
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
		if (!parse_size(optarg, &v) || v < 1 || v > (64u << 20))
			die_usage("--block: size must be 1 to 64M, not '%s'", optarg);
		rpmap_fn.mode = RPMAP_BLOCK;
		rpmap_fn.block = (size_t)v;
		break;
	case OPT_MAXREC:
		if (!parse_size(optarg, &v) || v < (1u << 20) || v > (256u << 20))
			die_usage("--max-record: size must be 1M to 256M, not '%s'", optarg);
		a->max_record = v;
		return true;
	case 'i':
		a->inpath = optarg;
		return true;
	case 'o':
		a->outpath = optarg;
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
		if (!parse_uint(optarg, 1, RP_MAX_WORKERS, &v))
			die_usage("-j: workers must be 1-256, not '%s'", optarg);
		o->workers = (unsigned)v;
		o->workers_set = true;
		break;
	case 'u':
		o->unordered = true;
		break;
	case OPT_CHUNK:
		if (!parse_uint(optarg, 1, 1u << 20, &v))
			die_usage("--chunk: must be 1 to 1048576, not '%s'", optarg);
		o->chunk = (unsigned)v;
		break;
	case OPT_BATCH:
		if (!parse_size(optarg, &v) || v < 1024 || v > (16u << 20))
			die_usage("--batch: size must be 1k to 16M, not '%s'", optarg);
		o->batch_bytes = (size_t)v;
		break;
	case 'k':
		o->keep_going = true;
		break;
	case OPT_TIMEOUT:
		/* The library's task deadlines are at least 1 ms. */
		if (!parse_uint(optarg, 1, UINT32_MAX, &v))
			die_usage("--timeout: milliseconds (1 or more) expected, not '%s'", optarg);
		o->timeout_ms = v;
		rpmap_fn.timeout_ns = v * 1000000ull;
		break;
	case OPT_RETRIES:
		if (!parse_uint(optarg, 0, 1000, &v))
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
		if (!parse_uint(optarg, 1, UINT64_MAX, &v))
			die_usage("--max-tasks-per-worker: a count of 1 or more expected, not '%s'",
				  optarg);
		o->max_tasks = v;
		break;
	case OPT_MAXRSS:
		if (!parse_size(optarg, &v) || v < 1)
			die_usage("--max-rss: a size (k, M, G suffixes) expected, not '%s'", optarg);
		o->max_rss = v;
		break;
	case OPT_STATS:
		o->stats = true;
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
	int c;

	while ((c = getopt_long(argc, argv, "j:0b:i:o:ukhV", longopts, NULL)) != -1) {
		if (record_option(c, a) || work_option(c, &a->o) || worker_option(c, &a->o))
			continue;
		if (c == 'h') {
			fputs(usage_text, stdout);
			return print_done(a->closed);
		}
		if (c == 'V') {
			printf("rpmap %s (ringpool %d.%d)\n", RPMAP_VERSION, RINGPOOL_VERSION_MAJOR,
			       RINGPOOL_VERSION_MINOR);
			return print_done(a->closed);
		}
		fprintf(stderr, "Try 'rpmap --help' for more information.\n");
		return 2;
	}
	if (optind != argc - 1)
		die_usage("%s", optind >= argc ? "missing FUNCTION" : "one FUNCTION expected");
	/* Like cat: a closed stream rpmap would read or write is an error. */
	if ((a->closed & 1) && (!a->inpath || !strcmp(a->inpath, "-"))) {
		fprintf(stderr, "rpmap: standard input: %s\n", strerror(EBADF));
		return 2;
	}
	if ((a->closed & 2) && (!a->outpath || !strcmp(a->outpath, "-"))) {
		fprintf(stderr, "rpmap: standard output: %s\n", strerror(EBADF));
		return 2;
	}
	if (rpmap_task_setup()) {
		fprintf(stderr, "rpmap: cannot find the ringpool library's task functions\n");
		return 2;
	}
	parse_function(argv[optind], &a->o);
	if (rpmap_fn.mode == RPMAP_BLOCK && rpmap_fn.block > a->max_record) {
		char b1[32], b2[32];

		fprintf(stderr, "rpmap: --block %s is longer than --max-record %s\n",
			rpmap_size_str(b1, sizeof(b1), rpmap_fn.block),
			rpmap_size_str(b2, sizeof(b2), a->max_record));
		return 2;
	}
	if (rpmap_fn.kind == RPMAP_GZIP && !a->mode_set) {
		rpmap_fn.mode = RPMAP_BLOCK;
		rpmap_fn.block = 128u << 10;
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
	memset(&sa, 0, sizeof(sa));
	sigaction(SIGINT, NULL, &sa);
	if (sa.sa_handler != SIG_IGN) {	/* ignored (nohup, background): keep it so */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigint;
		sa.sa_flags = SA_RESETHAND;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
	}
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
	int r;

	r = rpmap_cli_parse(argc, argv, &a);
	if (r >= 0)
		return r;
	r = rpmap_input_open(&in, a.inpath, (size_t)a.max_record);
	if (r) {
		fprintf(stderr, "rpmap: %s: %s\n", a.inpath, strerror(-r));
		return 2;
	}
	r = rpmap_output_open(&out, a.outpath, &in.id);
	if (r == -EEXIST)
		fprintf(stderr, "rpmap: %s: input file is output file\n",
			a.outpath ? a.outpath : "standard output");
	else if (r)
		fprintf(stderr, "rpmap: %s: %s\n", a.outpath ? a.outpath : "standard output",
			strerror(-r));
	if (r) {
		rpmap_input_close(&in);
		return 2;
	}
	set_signals();
	r = rpmap_run(&a.o, &in, &out);
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
