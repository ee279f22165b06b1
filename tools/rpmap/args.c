/* SPDX-License-Identifier: MIT */
/*
 * Option values: sizes with k/M/G suffixes, bounded counts, and time values
 * with units (a bare number is milliseconds, as --timeout always took).
 * Pure functions of their text, so main.c stays about the options.
 */
#include "rpmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* "128k", "1M", "4096": bytes. Returns false on junk or overflow. */
bool rpmap_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: return false;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

bool rpmap_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Units of a time value, in nanoseconds; the first match wins ("ms"
 * before "m"). */
static const struct { const char *name; double ns; } time_units[] = {
	{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "sec", 1e9 },
	{ "min", 60e9 }, { "m", 60e9 }, { "h", 3600e9 }, { "", 1e6 },
};

bool rpmap_parse_time(const char *s, uint64_t *ns)
{
	char *end;
	double v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0 && v < 1e30))
		return false;	/* NaN, inf and overflow too */
	for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++) {
		if (strcmp(end, time_units[i].name))
			continue;
		v *= time_units[i].ns;
		if (v > 18e18)
			return false;
		*ns = (uint64_t)(v + 0.5);
		return true;
	}
	return false;
}
