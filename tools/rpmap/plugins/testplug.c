/* SPDX-License-Identifier: MIT */
/*
 * A misbehaving rpmap plugin for the tests. `testfn` copies each record,
 * except that a record containing
 *   CRASH  dies with SIGSEGV,       FAIL  returns -EINVAL,
 *   EXIT   calls _exit(7),          BIG   writes a 3 MiB result (all 'x').
 * `slow` copies each record after sleeping 2 ms (for Ctrl-C tests);
 * `seq` prints the record index rpmap passes as t->seq.
 */
#include <ringpool.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int has(const void *in, size_t len, const char *w)
{
	return memmem(in, len, w, strlen(w)) != NULL;
}

static int copy(struct rp_task *t, const void *in, size_t len)
{
	void *out = rp_task_result(t, len);

	if (!out)
		return -ENOMEM;
	memcpy(out, in, len);
	return 0;
}

int testfn(struct rp_task *t, const void *in, size_t len)
{
	if (has(in, len, "CRASH"))
		raise(SIGSEGV);
	if (has(in, len, "EXIT"))
		_exit(7);
	if (has(in, len, "FAIL"))
		return -EINVAL;
	if (has(in, len, "BIG")) {
		size_t n = 3u << 20;
		char *out = rp_task_result(t, n);

		if (!out)
			return -ENOMEM;
		memset(out, 'x', n);
		return 0;
	}
	return copy(t, in, len);
}

int slow(struct rp_task *t, const void *in, size_t len)
{
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL);
	return copy(t, in, len);
}

int seq(struct rp_task *t, const void *in, size_t len)
{
	char *out = rp_task_result(t, 24);

	(void)in;
	(void)len;
	if (!out)
		return -ENOMEM;
	return rp_task_result_len(t, (size_t)snprintf(out, 24, "%llu",
							 (unsigned long long)t->seq));
}
