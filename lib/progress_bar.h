/* SPDX-License-Identifier: MIT */
/*
 * Internal to progress_bar.c: its pure line formatter, exposed so that tests
 * can check exact lines with a fixed elapsed time and width. Nothing else in
 * the library calls it.
 */
#ifndef RP_PROGRESS_BAR_H
#define RP_PROGRESS_BAR_H

#include <stddef.h>
#include <stdint.h>

/*
 * Format one progress line (no '\r', no escape codes, no '\n') into buf:
 *   desc:  45%|#########           | 450/1000 [00:02<00:03, 210.50 it/s, 2 failed]
 *   desc: 450 [00:02, 210.50 it/s]                     (total 0: unknown)
 * The line is at most min(width, cap - 1) bytes and always NUL-terminated
 * when cap > 0. Returns its length. Pure: reads no clock, writes nothing else.
 */
size_t rp__progress_format(char *buf, size_t cap, const char *desc, uint64_t done, uint64_t total,
			   uint64_t failed, double elapsed_s, unsigned width);

#endif
