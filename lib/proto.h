/* SPDX-License-Identifier: MIT */
/*
 * What crosses the region between the parent and its workers: the header
 * (written by the parent, read-only to workers), each worker's control block,
 * record tags and worker states. Both sides include this; where each piece
 * lives is in layout.h. Nothing here is a pointer.
 */
#ifndef RP_PROTO_H
#define RP_PROTO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ringpool.h"
#include "rp_compiler.h"
#include "rp_evc.h"

#define RP_SHARED_MAGIC		0x52504f4cu	/* "RPOL" */
#define RP_SHARED_VERSION	2u

/* Worker states (rp_wctl.state), written by the worker. */
enum {
	RP_WS_STARTING = 0,
	RP_WS_READY = 1,
	RP_WS_FAILED = 2,	/* start-up failed; init_err says why */
	RP_WS_EXITING = 3,
	RP_WS_RECYCLED = 4,	/* left on purpose (max tasks or RSS): replace it */
	RP_WS_POPULATING = 5,	/* allocating its rings: a SIGKILL now is the
				 * OOM killer (workers volunteer as its victims) */
};

/* Task and result records are published at least every this many, and
 * task records as soon as this many bytes of them are unpublished. */
#define RP_PUBLISH_BATCH 32u
#define RP_PUBLISH_BYTES 16384u

/* Task record tag: low 8 bits are the function index; bit 8 marks a chunk. */
#define RP_TAG_FN_MASK	0xffu
#define RP_TAG_CHUNK	(1u << 8)

/*
 * A function as workers find it: by address in a forked worker (same
 * image), by (module, offset from the module's load bias) in an exec'd one.
 * module 0 is the main program; others index rp_shared.modules.
 */
struct rp_fn_entry {
	uint64_t addr;		/* fork: the function's address */
	uint64_t offset;	/* spawn: address - module load bias */
	uint32_t module;	/* spawn: RP_MOD_NONE if it could not be resolved */
	uint32_t pad;
};

#define RP_MAX_MODULES	16
#define RP_MOD_PATH	512
#define RP_MOD_NONE	UINT32_MAX

/* Index of the initializer and exit hook in the function table's tail. */
#define RP_FN_INIT	(RP_MAX_FNS)
#define RP_FN_EXIT	(RP_MAX_FNS + 1)

/* The header: written by the parent only (workers map it read-only). */
struct rp_shared {
	uint32_t magic;
	uint32_t version;
	uint64_t token;		/* random per pool: an exec'd worker checks it */
	uint64_t size;
	/* The layout (layout.h), loaded and validated by each worker. */
	uint64_t page;
	uint64_t hdr_len;
	uint64_t init_args_off;	/* initializer argument bytes, in the header */
	uint64_t init_args_len;
	uint64_t bell_off;
	uint64_t blocks_off;
	uint64_t block_len;
	uint64_t wctl_len;
	uint64_t ring_len;
	uint64_t ring_bytes;
	uint32_t nworkers;
	uint32_t nfns;		/* entries below nfns are valid */
	uint64_t spin_ns;
	uint64_t init_fn;	/* fork mode: addresses in the same image */
	uint64_t exit_fn;
	uint64_t max_tasks;	/* recycle a worker after this many records (0: never) */
	uint64_t max_rss;	/* recycle when its peak RSS exceeds this (0: never) */
	uint32_t pdeathsig;	/* 1: workers set PR_SET_PDEATHSIG (main-thread parent) */
	int32_t efd;		/* the completion eventfd, inherited by workers; -1: none */
	int32_t parent_pid;
	/* 1: the parent arms the doorbell with rp_evc_prepare_heavy(), so
	 * registered workers may ring it with rp_evc_notify_light(). */
	uint32_t light_notify;
	uint32_t nmodules;
	uint32_t spawn;		/* 1: workers are exec'd (RP_CFG_SPAWN) */
	_Alignas(RP_CACHELINE) struct rp_fn_entry fns[RP_MAX_FNS + 2];
	char modules[RP_MAX_MODULES][RP_MOD_PATH];	/* [0] unused: main program */
};

struct rp_wctl {
	/* Parent -> worker: the worker sleeps on wake; stop asks it to exit. */
	_Alignas(RP_CACHELINE) struct rp_evc wake;
	_Atomic uint32_t stop;
	/* Worker -> parent. */
	_Alignas(RP_CACHELINE) _Atomic uint32_t state;
	_Atomic int32_t init_err;
	_Atomic uint64_t futex_waits;
	_Atomic uint64_t futex_wakes;
	_Atomic uint64_t tasks_done;
	_Atomic uint64_t busy_ticks;
	/* The record being run (seq + 1; 0 when idle) and since when (ticks),
	 * for per-task timeouts and for knowing which task a death hit. */
	_Atomic uint64_t cur_seq;
	_Atomic uint64_t cur_start;
	/* rp_task_mark: the running record's own progress mark + 1 (0: none);
	 * cur_start restarts at each mark. A hint for the host, read after
	 * the worker died. */
	_Atomic uint64_t cur_mark;
};

_Static_assert(offsetof(struct rp_wctl, state) % RP_CACHELINE == 0, "worker line apart");
_Static_assert(sizeof(struct rp_wctl) % RP_CACHELINE == 0, "wctl array stays aligned");

#endif
