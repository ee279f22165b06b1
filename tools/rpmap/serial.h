/* SPDX-License-Identifier: MIT */
/*
 * Serial decompression: the path for what split.h cannot cut (a plain gzip
 * member from gzip or pigz, a member past the caps). Streams any mix of
 * gzip members (zlib inflate: libdeflate has no streaming API) and zstd
 * frames (ZSTD_decompressStream), one after the other, in bounded memory,
 * with every CRC-32, ISIZE and checksum checked. Bytes after the last
 * member that do not start another one are an error, never ignored.
 */
#ifndef RPMAP_SERIAL_H
#define RPMAP_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rpmap_serial;

/* Returns 0 and *out, or -ENOMEM. */
int rpmap_serial_new(struct rpmap_serial **out);
void rpmap_serial_free(struct rpmap_serial *s);

/*
 * Decode from in[0..in_len) to out[0..out_cap); *in_used and *out_used say
 * how much was taken and written. Bytes not taken must be passed again
 * (followed by new ones) on the next call; `eof`: in ends the stream.
 *   1        the stream ended cleanly: eof, all input taken, every member
 *            complete and all its output written. Empty input is clean.
 *   0        call again: with more input if *in_used == in_len and !eof,
 *            with more output room if *out_used == out_cap, or with the
 *            rest of the input: it also returns after each member that
 *            ends, so a caller can go back to splitting there.
 *   -EBADMSG corrupt data, a bad CRC/ISIZE/checksum, a member cut short
 *            at eof, or garbage after a member: rpmap_serial_why() says
 *            which, naming the member (from 0) and its input byte offset.
 *   -ENOMEM
 * After a negative return the decoder is spent: free it.
 */
int rpmap_serial_decode(struct rpmap_serial *s, const void *in, size_t in_len, size_t *in_used,
			void *out, size_t out_cap, size_t *out_used, bool eof);

/* True between members (before the first, or after one ended): a caller
 * may go back to splitting (split.h) from the next input byte. */
bool rpmap_serial_between(const struct rpmap_serial *s);

/* Number members and input bytes from here on as if `members` members and
 * `offset` bytes came before (for the messages of a decoder that takes a
 * stream over in the middle). Call between members only. */
void rpmap_serial_rebase(struct rpmap_serial *s, uint64_t members, uint64_t offset);

/* Members completed so far, and input bytes taken (rebased). */
uint64_t rpmap_serial_members(const struct rpmap_serial *s);
uint64_t rpmap_serial_offset(const struct rpmap_serial *s);

/* The last error's message ("member 3 (input byte 1234): ..."). */
const char *rpmap_serial_why(const struct rpmap_serial *s);

#endif
