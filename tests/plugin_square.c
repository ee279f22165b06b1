/* SPDX-License-Identifier: MIT */
/* A task function in a shared object, loaded by path at run time. */
#include <string.h>

#include "ringpool.h"

int plugin_square(struct rp_task *t, const void *in, size_t len)
{
	long long x, *out = rp_task_result(t, sizeof(*out));

	if (len != sizeof(x) || !out)
		return -22;
	memcpy(&x, in, sizeof(x));
	*out = x * x + 1;
	return 0;
}
