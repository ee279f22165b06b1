/* SPDX-License-Identifier: MIT */
/*
 * Configuration: zeros become defaults, then every field is checked.
 */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

struct rp_config;

/* *c = *in (NULL: all zeros) with every zero field set to its default. */
void rp__config_resolve(struct rp_config *c, const struct rp_config *in);

/* 0, or -EINVAL for a value out of range, an unknown or conflicting flag,
 * or a reserved field not zero. */
int rp__config_check(const struct rp_config *c);

/* CPUs this process may run on (its affinity mask), at least 1. */
unsigned rp__allowed_cpus(void);

#endif
