/* SPDX-License-Identifier: MIT */
/*
 * Example rpmap plugin: reverse the bytes of each record. A plugin is an
 * ordinary ringpool task function: it reads the record (without its
 * separator) at `in`, reserves its result with rp_task_result, writes it,
 * and returns 0 (or a negative errno: the record is reported as failed).
 *
 *   cc -shared -fPIC -I<ringpool include dir> -o rev.so rev.c
 *   rpmap ./rev.so:rev < lines.txt
 */
#include <ringpool.h>

int rev(struct rp_task *t, const void *in, size_t len)
{
	const unsigned char *s = in;
	unsigned char *d = rp_task_result(t, len);

	if (!d)
		return -ENOMEM;	/* the record is reported; rpmap runs it alone first */
	for (size_t i = 0; i < len; i++)
		d[i] = s[len - 1 - i];
	return 0;
}
