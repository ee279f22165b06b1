/* SPDX-License-Identifier: MIT */
/*
 * A command-line driver for rpmap's codec modules, for the differential
 * tests (codecs.sh) and the speed measurements (bench_codecs.sh): it runs
 * each module the way a built-in would, one block at a time, on stdin to
 * stdout. Not installed.
 *
 *   codectool gzip [-l LEVEL] [-b BLOCK] [--bgzf]   compress (BGZF: -b 65280)
 *   codectool zstd [-l LEVEL] [-b BLOCK]            compress
 *   codectool unsplit [-p PIECE] [--max-len N] [--max-out N] [-v]
 *       split + member decode, serial where it cannot split (and back)
 *   codectool serial [-p PIECE]                     serial decode only
 *   codectool pipe [-t MS] [--max-out N] CMD        run CMD on all of stdin
 *   codectool rand N [SEED]                         N pseudo-random bytes
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../codec_gzip.h"
#include "../codec_zstd.h"
#include "../pipecmd.h"
#include "../serial.h"
#include "../split.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "codectool: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(2);
}

static void write_all(const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(1, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write", errno);
		c += w;
		n -= (size_t)w;
	}
}

/* Read up to n bytes (short only at end of input). */
static size_t read_full(void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(0, (char *)p + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read", errno);
		if (!r)
			break;
		got += (size_t)r;
	}
	return got;
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		die(s, EINVAL);
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'M' || *end == 'm')
		v <<= 20;
	return v;
}

struct opts {
	int level;
	size_t block, piece;
	bool bgzf, verbose, level_set;
	uint64_t timeout_ms;
	struct rpmap_split_limits lim;
	size_t max_out;
	char **rest;
};

static void parse(int argc, char **argv, struct opts *o)
{
	bool block_set = false;
	int i;

	*o = (struct opts){ .block = 128 << 10, .piece = 1 << 20, .lim = rpmap_split_default };
	for (i = 2; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";

		if (!strcmp(a, "--bgzf")) {
			o->bgzf = true;
			continue;
		}
		if (!strcmp(a, "-v")) {
			o->verbose = true;
			continue;
		}
		if (!strcmp(a, "-l"))
			o->level = atoi(v), o->level_set = true;
		else if (!strcmp(a, "-b"))
			o->block = num(v), block_set = true;
		else if (!strcmp(a, "-p"))
			o->piece = num(v);
		else if (!strcmp(a, "-t"))
			o->timeout_ms = num(v);
		else if (!strcmp(a, "--max-len"))
			o->lim.max_len = num(v);
		else if (!strcmp(a, "--max-out"))
			o->lim.max_out = o->max_out = num(v);
		else
			die(a, EINVAL);
		i++;
	}
	if (o->bgzf && !block_set)
		o->block = RPMAP_BGZF_BLOCK;
	if (!o->block || !o->piece)
		die("block and piece sizes must be > 0", EINVAL);
	o->rest = argv + i;
}

/* gzip/zstd: one block at a time, as a built-in's per-record call would. */
static int compress(const struct opts *o, bool zstd)
{
	struct rpmap_gz *gz = NULL;
	struct rpmap_zst *zs = NULL;
	size_t bound, n;
	bool any = false;
	char *in, *out;
	int r;

	r = zstd ? rpmap_zst_new(&zs, o->level_set ? o->level : 3)
		 : rpmap_gz_new(&gz, o->level_set ? o->level : 6, o->bgzf);
	if (r)
		die("compressor", r);
	bound = zstd ? rpmap_zst_bound(o->block) : rpmap_gz_bound(o->bgzf, o->block);
	in = malloc(o->block);
	out = malloc(bound);
	if (!in || !out)
		die("malloc", ENOMEM);
	/* Empty input still makes one (empty) member, except BGZF (EOF block). */
	while ((n = read_full(in, o->block)) || (!any && !o->bgzf)) {
		ssize_t z = zstd ? rpmap_zst_compress(zs, out, bound, in, n)
				 : rpmap_gz_compress(gz, out, bound, in, n);

		if (z < 0)
			die("compress", (int)z);
		write_all(out, (size_t)z);
		any = true;
		if (n < o->block)
			break;
	}
	if (o->bgzf)
		write_all(rpmap_bgzf_eof, RPMAP_BGZF_EOF_LEN);
	free(in);
	free(out);
	rpmap_gz_free(gz);
	rpmap_zst_free(zs);
	return 0;
}

/* The input window of unsplit/serial: bytes [s, e) of buf are unused. */
struct window {
	char *buf;
	size_t cap, s, e;
	uint64_t base;		/* input offset of buf[0] */
	bool eof;
	size_t piece;
};

/* Read one more piece (at least `want` bytes buffered after s, if the
 * input has them). */
static void fill(struct window *w, size_t want)
{
	if (w->s && (w->e == w->s || w->s > w->cap / 2)) {
		memmove(w->buf, w->buf + w->s, w->e - w->s);
		w->base += w->s;
		w->e -= w->s;
		w->s = 0;
	}
	if (want < w->e - w->s + w->piece)
		want = w->e - w->s + w->piece;
	if (want > w->cap - w->s) {
		size_t cap = w->cap * 2 > w->s + want ? w->cap * 2 : w->s + want;

		w->buf = realloc(w->buf, cap);
		if (!w->buf)
			die("realloc", ENOMEM);
		w->cap = cap;
	}
	while (!w->eof && w->e - w->s < want) {
		size_t ask = w->cap - w->e < w->piece ? w->cap - w->e : w->piece;
		size_t n = read_full(w->buf + w->e, ask);

		w->e += n;
		w->eof = n < ask;
	}
}

static struct rpmap_serial *ser;
static char sbuf[1 << 16];

/* Decode serially from w->s. Returns 1 when the stream ends, 0 (only if
 * `resplit`) at the first member boundary after a member, -1 on error. */
static int serial_run(struct window *w, bool resplit, uint64_t *members)
{
	rpmap_serial_rebase(ser, *members, w->base + w->s);
	for (;;) {
		size_t used, produced;
		int r = rpmap_serial_decode(ser, w->buf + w->s, w->e - w->s, &used, sbuf,
					    sizeof(sbuf), &produced, w->eof);

		w->s += used;
		write_all(sbuf, produced);
		if (r < 0) {
			fprintf(stderr, "codectool: %s\n", rpmap_serial_why(ser));
			return -1;
		}
		*members = rpmap_serial_members(ser);
		if (r == 1)
			return 1;
		if (resplit && rpmap_serial_between(ser) && used)
			return 0;
		if (!used && !produced)
			fill(w, 0);
	}
}

static int unsplit(const struct opts *o, bool serial_only)
{
	struct window w = { .piece = o->piece };
	struct rpmap_dec *dec;
	struct rpmap_member m;
	uint64_t need = 0, split = 0, serial = 0, members = 0;
	char *out = NULL;
	size_t out_cap = 0;
	const char *why = NULL;
	int rc = 0;

	if (rpmap_dec_new(&dec) || rpmap_serial_new(&ser))
		die("decoder", ENOMEM);
	fill(&w, 0);
	while (w.e > w.s || !w.eof) {
		int r = serial_only ? -ENOTSUP
				    : rpmap_split_next(w.buf + w.s, w.e - w.s, w.eof, &o->lim, &m,
						       &need, &why);
		if (r == 0) {
			fill(&w, (size_t)need);
			continue;
		}
		if (r == -ENOTSUP || r == -EFBIG) {
			uint64_t before = members;

			if (o->verbose && !serial_only)
				fprintf(stderr, "codectool: serial from byte %llu: %s\n",
					(unsigned long long)(w.base + w.s), why);
			r = serial_run(&w, !serial_only, &members);
			serial += members - before;
			if (r < 0) {
				rc = 1;
				break;
			}
			if (r == 1)
				w.s = w.e;	/* the stream is done */
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "codectool: member %llu (input byte %llu): %s\n",
				(unsigned long long)members, (unsigned long long)(w.base + w.s), why);
			rc = 1;
			break;
		}
		if (m.out_max > out_cap) {
			out_cap = (size_t)m.out_max;
			out = realloc(out, out_cap ? out_cap : 1);
			if (!out)
				die("realloc", ENOMEM);
		}
		ssize_t n = rpmap_dec_member(dec, &m, w.buf + w.s, out, out_cap);

		if (n < 0) {
			fprintf(stderr, "codectool: member %llu (input byte %llu): %s\n",
				(unsigned long long)members, (unsigned long long)(w.base + w.s),
				n == -EBADMSG ? rpmap_dec_why(dec) : strerror((int)-n));
			rc = 1;
			break;
		}
		write_all(out, (size_t)n);
		w.s += (size_t)m.len;
		members++;
		split++;
	}
	if (o->verbose && !rc)
		fprintf(stderr, "codectool: %llu members split, %llu decoded serially\n",
			(unsigned long long)split, (unsigned long long)serial);
	rpmap_dec_free(dec);
	rpmap_serial_free(ser);
	free(out);
	free(w.buf);
	return rc;
}

static int pipe_cmd(const struct opts *o)
{
	struct rpmap_cmd_opts co = { .timeout_ns = o->timeout_ms * 1000000, .max_out = o->max_out };
	struct window w = { .piece = 1 << 20 };
	struct rpmap_buf out = { 0 };
	struct rpmap_cmd_status st;
	struct rpmap_cmd *c;
	char msg[128];
	int r;

	if (!o->rest[0])
		die("pipe: no command", EINVAL);
	r = rpmap_cmd_parse(o->rest[0], &c);
	if (r)
		die("pipe: parse", r);
	while (!w.eof)
		fill(&w, 0);
	r = rpmap_cmd_run(c, w.buf + w.s, w.e - w.s, &out, &co, &st);
	if (r)
		die(o->rest[0], r);
	write_all(out.data, out.len);
	if (o->verbose || !rpmap_cmd_ok(&st))
		fprintf(stderr, "codectool: %s%s (read %llu of %zu bytes)\n",
			rpmap_cmd_shell(c) ? "sh -c: " : "",
			rpmap_cmd_describe(&st, co.timeout_ns, msg, sizeof(msg)),
			(unsigned long long)st.in_taken, w.e - w.s);
	rpmap_cmd_free(c);
	free(out.data);
	free(w.buf);
	return rpmap_cmd_ok(&st) ? 0 : 1;
}

/* xorshift64*: incompressible and the same on every machine. */
static int rand_bytes(char **rest)
{
	uint64_t n = rest[0] ? num(rest[0]) : 0, x = rest[0] && rest[1] ? num(rest[1]) + 1 : 1;
	char buf[4096];

	while (n) {
		size_t k = n < sizeof(buf) ? (size_t)n : sizeof(buf);

		for (size_t i = 0; i < k; i++) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			buf[i] = (char)((x * 0x2545F4914F6CDD1Dull) >> 56);
		}
		write_all(buf, k);
		n -= k;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "rand"))
		return rand_bytes(argv + 2);
	parse(argc, argv, &o);
	if (!strcmp(cmd, "gzip"))
		return compress(&o, false);
	if (!strcmp(cmd, "zstd"))
		return compress(&o, true);
	if (!strcmp(cmd, "unsplit"))
		return unsplit(&o, false);
	if (!strcmp(cmd, "serial"))
		return unsplit(&o, true);
	if (!strcmp(cmd, "pipe"))
		return pipe_cmd(&o);
	fprintf(stderr, "usage: codectool gzip|zstd|unsplit|serial|pipe|rand ...\n");
	return 2;
}
