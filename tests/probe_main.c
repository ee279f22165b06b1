/* SPDX-License-Identifier: MIT */
/*
 * A program that links libringpool (statically: the spawn constructor comes
 * with rp_pool_create) and does nothing else: run with a stray
 * RINGPOOL_WORKER in its environment, its main() must still run (issue 11,
 * item 7; test_promises).
 */
#include <stdio.h>

#include "ringpool.h"

int main(int argc, char **argv)
{
	struct rp_pool *p;

	(void)argv;
	if (argc > 99 && rp_pool_create(&p, NULL) == 0)	/* linked, never called */
		rp_pool_destroy(p);
	printf("probe main ran\n");
	return 0;
}
