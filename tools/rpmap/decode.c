/* SPDX-License-Identifier: MIT */
/*
 * gunzip and unzstd: the parent's side of parallel decompression. The input
 * cutter (input.c) cuts whole members found by split.c; a worker decodes
 * each one alone (builtins.c). What cannot be split (a gzip member without
 * a size subfield, as gzip and pigz write them, or one past the caps) is
 * decoded here, serially, from that member to the end of the input, after
 * the engine has written everything before it.
 */
#include "rpmap.h"
#include "serial.h"
#include "split.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SERIAL_OUT	(1u << 20)

size_t rpmap_member_len(const char *p, size_t n, uint64_t *out_max)
{
	struct rpmap_member m;
	uint64_t need;
	const char *why;

	if (!n || rpmap_split_next(p, n, true, &rpmap_split_default, &m, &need, &why) != 1)
		return 0;
	if (out_max)
		*out_max = m.out_max;
	return (size_t)m.len;
}

/* Feed in[0..len) to the decoder and write what comes out. Returns 1 at the
 * stream's clean end, 0 for more input (*used: bytes taken), or 2 (reported). */
static int feed(struct rpmap_serial *s, struct rpmap_output *out, const char *in, size_t len,
		bool eof, size_t *used, char *buf)
{
	size_t taken = 0;

	for (;;) {
		size_t iu = 0, ou = 0;
		int r = rpmap_serial_decode(s, in + taken, len - taken, &iu, buf, SERIAL_OUT, &ou,
					    eof);

		taken += iu;
		if (ou && rpmap_output_write(out, buf, ou))
			return 2;	/* the caller reports the output's error */
		if (r == 1 || r < 0) {
			*used = taken;
			if (r == -EBADMSG)
				fprintf(stderr, "rpmap: corrupt input: %s\n", rpmap_serial_why(s));
			else if (r < 0)
				fprintf(stderr, "rpmap: %s\n", strerror(-r));
			return r == 1 ? 1 : 2;
		}
		if (!iu && !ou) {
			if (!eof)
				break;	/* it needs more input */
			fprintf(stderr, "rpmap: corrupt input: the decoder stopped at input "
					"byte %llu\n", (unsigned long long)rpmap_serial_offset(s));
			return 2;	/* not expected: never loop on it */
		}
		if (taken == len && ou < SERIAL_OUT && !eof)
			break;
	}
	*used = taken;
	return 0;
}

int rpmap_decode_rest(struct rpmap_input *in, struct rpmap_output *out)
{
	struct rpmap_serial *s;
	char *buf = malloc(SERIAL_OUT), *rd = NULL;
	size_t used, keep = 0;
	int r = 2;

	if (!buf || rpmap_serial_new(&s)) {
		free(buf);
		fprintf(stderr, "rpmap: out of memory\n");
		return 2;
	}
	/* Count members and bytes as the engine did, for the messages. */
	rpmap_serial_rebase(s, in->next_index, in->cut_off);
	r = feed(s, out, in->cur->buf + in->cut, in->cur->fill - in->cut, in->eof, &used, buf);
	keep = in->cur->fill - in->cut - used;
	if (r == 0 && !(rd = malloc(keep + SERIAL_OUT)))
		r = 2;
	if (rd)
		memmove(rd, in->cur->buf + in->cut + used, keep);
	while (r == 0) {
		ssize_t n = read(in->fd, rd + keep, SERIAL_OUT);

		if (n < 0) {
			fprintf(stderr, "rpmap: %s: %s\n", in->name, strerror(errno));
			r = 2;
			break;
		}
		if (n == 0 && (r = rpmap_input_next(in)) != 0) {
			r = r > 0 ? 0 : 2;	/* FILE...: on with the next one */
			continue;
		}
		keep += (size_t)n;
		r = feed(s, out, rd, keep, n == 0, &used, buf);
		keep -= used;
		memmove(rd, rd + used, keep);
	}
	free(rd);
	free(buf);
	rpmap_serial_free(s);
	return r == 1 ? 0 : 2;
}
