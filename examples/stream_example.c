/* SPDX-License-Identifier: MIT */
/*
 * imap and the zero-copy stream: lines from stdin are upper-cased in worker
 * processes and written to stdout in input order, with at most a bounded
 * number in flight, so memory stays flat on any input length.
 *   printf 'a\nb\n' | stream_example
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ringpool.h"

static int upper(struct rp_task *t, const void *in, size_t len)
{
	const char *s = in;
	char *out = rp_task_result(t, len);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	return 0;
}

static ssize_t read_line(void *arg, void *buf, size_t cap)
{
	if (!fgets(buf, (int)cap, arg))
		return RP_EOF;
	return (ssize_t)strlen(buf);
}

static int write_result(void *arg, const struct rp_result *r)
{
	if (r->status)
		return r->status;
	return fwrite(r->data, 1, r->len, arg) == r->len ? 0 : -EIO;
}

int main(void)
{
	struct rp_imap_opts opts = { .max_input = 4096, .max_in_flight = 256 };
	struct rp_config cfg;
	struct rp_pool *pool;
	int err;

	rp_config_init(&cfg);
	if (rp_pool_create(&pool, &cfg))
		return 1;
	err = rp_imap(pool, upper, read_line, stdin, write_result, stdout, &opts);
	rp_pool_destroy(pool);
	if (err)
		fprintf(stderr, "stream_example: %s\n", strerror(-err));
	return err != 0;
}
