/* SPDX-License-Identifier: MIT */
/*
 * A program that links libringpool and does nothing else: run with a stray
 * RINGPOOL_WORKER in its environment, its main() must still run (issue 11,
 * item 7; test_promises).
 */
#include <stdio.h>

#include "ringpool.h"

int main(void)
{
	struct rp_config c;

	rp_config_init(&c);	/* a reference, so the library is linked in */
	printf("probe main ran\n");
	return 0;
}
