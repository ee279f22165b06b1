/* SPDX-License-Identifier: MIT */
/*
 * rpmap-gentext SIZE: write SIZE bytes of deterministic English-like text
 * (lines of 3-18 words drawn with a skewed distribution from a fixed,
 * generated vocabulary) to standard output, for rpmap's tests, demo and
 * benchmark. Same SIZE, same bytes, on every machine. Compresses about
 * like prose (gzip -6: roughly 1/3).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NWORDS 4096

static uint64_t s = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)	/* xorshift64* */
{
	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	return s * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv)
{
	static char words[NWORDS][12];
	static unsigned char wlen[NWORDS];
	static char buf[1 << 16];
	unsigned long long size, done = 0;
	size_t n = 0;
	char *end;

	if (argc != 2 || (size = strtoull(argv[1], &end, 10), *end && *end != 'M' && *end != 'k')) {
		fprintf(stderr, "usage: rpmap-gentext SIZE[k|M]\n");
		return 2;
	}
	size <<= *end == 'M' ? 20 : *end == 'k' ? 10 : 0;
	for (int i = 0; i < NWORDS; i++) {
		wlen[i] = (unsigned char)(2 + rnd() % 9);
		for (int k = 0; k < wlen[i]; k++)
			words[i][k] = "etaoinshrdlcumwfgypbvkjxqz"[(rnd() % 26) * (rnd() % 26) / 26];
	}
	while (done < size) {
		unsigned nw = 3 + (unsigned)(rnd() % 16);
		char line[256];
		size_t l = 0;

		for (unsigned k = 0; k < nw; k++) {
			/* Skewed: small indices (common words) much more often. */
			uint64_t r = rnd();
			unsigned w = (unsigned)(((r & 0xffff) * ((r >> 16) & 0xffff)) >> 20) % NWORDS;

			if (k)
				line[l++] = ' ';
			memcpy(line + l, words[w], wlen[w]);
			l += wlen[w];
		}
		line[l++] = '\n';
		if (done + l > size)
			l = (size_t)(size - done);
		if (n + l > sizeof(buf)) {
			if (write(1, buf, n) != (ssize_t)n)
				return 1;
			n = 0;
		}
		memcpy(buf + n, line, l);
		n += l;
		done += l;
	}
	if (n && write(1, buf, n) != (ssize_t)n)
		return 1;
	return 0;
}
