/* SPDX-License-Identifier: MIT */
/*
 * rpmap internals shared by its files: the run's settings (fixed before the
 * pool forks, so forked workers read them as plain globals; exec'd workers
 * get them from their initializer), the batch wire format between parent
 * and workers, input segments and batches, the output writer. rpmap uses
 * the library's public header only (ringpool.h).
 *
 * Layers: input.c cuts whole records into batches; task.c is what runs in a
 * worker (built-ins, the plugin shim, the exec'd worker's setup); engine.c
 * submits batches, collects results in order and recovers from failures;
 * output.c writes and draws progress; main.c parses options and ties them
 * together.
 */
#ifndef RPMAP_H
#define RPMAP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "builtin.h"
#include "ringpool.h"

/* ---- the function being mapped ---- */

enum rpmap_recmode {
	RPMAP_LINES,		/* records end with '\n' */
	RPMAP_NUL,		/* records end with '\0' */
	RPMAP_BLOCK,		/* records are `block` bytes (the last may be short) */
	RPMAP_MEMBERS,		/* records are whole gzip members or zstd frames
				 * (split.h), of the kind fnconf.members says */
	RPMAP_CHUNKS,		/* a record is a batch: whole `sep` records of
				 * at most `block` bytes (rpmap_chunk_len): --pipe */
};

/*
 * Settings of this run; set by main.c before the first pool is created.
 * Forked workers inherit them; exec'd workers (--spawn) get them from
 * rpmap_worker_init, which also maps the input again.
 */
struct rpmap_fn {
	const struct rpmap_builtin *bi;	/* the function's row (builtin.h) */
	struct rpmap_fnconf conf;	/* what its argument and options made of it */
	enum rpmap_recmode mode;
	char sep;		/* LINES/NUL: the separator */
	size_t block;		/* BLOCK: record size */
	const char *map;	/* a regular input file, mapped before the fork:
				 * its first record (file offset map_start) */
	uint64_t map_size;	/* bytes from there */
	uint64_t map_start;
	uint64_t timeout_ns;	/* --timeout: a record running longer fails; 0 = none */
};

extern struct rpmap_fn rpmap_fn;

/* ---- batch wire format (all 8-byte aligned, native endian) ---- */

/*
 * Task input: this header, then the batch's records back to back, exactly
 * as read (separators included); or, when map_len is not 0, nothing more:
 * the records are map_len bytes at map_off in rpmap_fn.map, the input
 * file, which every worker has mapped (no copy of the input at all). The
 * worker splits the records again.
 */
struct rpmap_task_hdr {
	uint64_t first;		/* index of the first record (plugins see it as t->seq) */
	uint32_t nrec;		/* records in the batch, or 0: "count them yourself" */
	uint32_t cap;		/* result bytes to reserve (header included) */
	uint64_t map_off;
	uint64_t map_len;
};

/*
 * Task result: this header, out_len output bytes, padding to 8, then nfail
 * struct rpmap_fail entries in record order. A result with ndone < nrec
 * stopped early because the next record's output did not fit; the parent
 * runs the rest again.
 */
struct rpmap_res_hdr {
	uint32_t nrec;		/* records in the batch (counted by the worker) */
	uint32_t ndone;		/* records processed, from the first */
	uint32_t nfail;		/* of which failed (no output) */
	uint32_t magic;
	uint64_t out_len;
	uint64_t run_ns;	/* time spent in the batch */
	uint64_t need;		/* ndone < nrec: the result bytes record ndone
				 * asked for (separator not counted), 0 if not
				 * known */
};

/*
 * The largest result of one record, in bytes, its separator not counted:
 * rpmap offers a record no more (a plugin's rp_task_result asking more
 * gets NULL, and the record fails with "result too large"). It is also
 * the most --max-record allows, so identity and upper always have room.
 * --help, rpmap.1 and README state this number.
 */
#define RPMAP_MAX_RESULT	(256u << 20)

#define RPMAP_RES_MAGIC 0x72706d31u	/* "rpm1" */

/*
 * Initializer arguments for exec'd workers (--spawn): the run's settings,
 * and where to find again what a forked worker would have inherited. Fds
 * are the parent's, opened in the worker as /proc/PPID/fd/N.
 */
struct rpmap_init {
	struct rpmap_fn fn;	/* pointers in it are the parent's: not used */
	char name[32];		/* the row's name (its argument is fn.conf.arg) */
	int32_t ppid;
	int32_t map_fd;		/* -1: the input is not mapped */
	uint64_t map_dev, map_ino;	/* the mapped input, checked in the worker */
};

/* Why a record failed (struct rpmap_fail.why). */
enum rpmap_why {
	RPMAP_WHY_STATUS,	/* status: what the function returned (or RP_EMSGSIZE) */
	RPMAP_WHY_TIMEOUT,	/* it ran longer than --timeout (measured by its worker) */
};

/* One entry of a result's failure table: records rec .. rec + count - 1
 * failed, and where their output would have been. */
struct rpmap_fail {
	uint32_t rec;		/* index within the batch */
	uint32_t count;		/* records (1 but for a whole batch's failure) */
	int32_t status;
	uint32_t why;		/* enum rpmap_why */
	uint64_t out_off;	/* output bytes before the records' place */
};

/* task.c: the task function every batch runs (in a worker). */
int rpmap_batch_task(struct rp_task *t, const void *in, size_t len);

/*
 * workerinit.c: the initializer of exec'd workers (args: struct
 * rpmap_init). Sets rpmap_fn, loads the plugin, maps the input. Returns 0
 * or -errno (pool creation then fails with it).
 */
int rpmap_worker_init(unsigned worker, const void *args, size_t len, void **state);

/* task.c: upper bound of a batch's result (header included): `bytes` input
 * bytes in `nrec` records (nrec 0: unknown); 0 if the row has no bound. */
uint64_t rpmap_result_bound(uint64_t bytes, uint64_t nrec);

/* ---- input: segments and batches (input.c) ---- */

struct rpmap_seg {
	char *buf;
	size_t cap, fill;
	unsigned refs;		/* batches pointing into it, +1 while current */
	bool mapped;		/* the whole input file, mapped: never freed */
	void *map_base;		/* mapped: the mapping (buf is in its first page) */
	size_t map_len;
	struct rpmap_seg *next;	/* free list */
};

struct rpmap_batch {
	struct rpmap_seg *seg;
	const char *data;
	size_t len;
	uint64_t first;		/* index of the first record; valid if counted */
	uint64_t off;		/* input byte offset of the first record */
	uint32_t nrec;		/* 0 if not counted by the parent */
	bool counted;
	bool large;		/* one record too large for the pool's rings */
	bool unterminated;	/* ends with the input's last record, which lacks
				 * its separator */
	uint64_t out_bound;	/* MEMBERS: what its records decode to (at most) */
	struct rpmap_batch *next;	/* free list */
};

struct rpmap_limits {
	size_t bytes;		/* target input bytes per batch */
	uint32_t recs;		/* most records per batch */
	size_t max_in;		/* largest task input the pool takes (bytes of records) */
	uint64_t max_res;	/* largest result the pool takes */
	bool count;		/* the parent must count records */
};

/* Which file the input is, for the output's same-file check. */
struct rpmap_file_id {
	bool known;		/* fstat worked */
	bool left;		/* bytes are left to read (not a regular file: always) */
	uint64_t dev, ino;
};

struct rpmap_input {
	int fd;
	struct rpmap_file_id id;
	const char *name;
	bool regular;		/* a regular file: reads never block long */
	bool mapped;		/* a regular file, mapped whole (rpmap_fn.map) */
	bool eof;
	uint64_t start;		/* regular files: the offset read from (stdin's
				 * offset when rpmap started) */
	uint64_t size;		/* regular files: bytes from there, else 0 */
	size_t read_size;	/* bytes per read() */
	size_t max_record;	/* longest record accepted */
	struct rpmap_seg *cur;
	size_t cut;		/* start of the next batch in cur */
	size_t scanned;		/* cur has no separator in [cut, scanned) */
	uint64_t cut_off;	/* input offset of cut */
	uint64_t next_index;	/* counted mode: index of the record at cut */
	const char *why;	/* MEMBERS: why the cut at cut_off failed */
	bool serial;		/* MEMBERS: the engine stopped at cut, where the
				 * input cannot be split (rpmap_decode_rest) */
	const char *const *paths;	/* several inputs (files.c), or NULL */
	unsigned npaths, ipath;	/* how many; the one being read */
	struct rpmap_seg *free_segs;
	unsigned nfree;
	struct rpmap_batch *free_batches;
};

/*
 * Open (path NULL or "-": stdin). With may_map, a non-empty regular file is
 * mapped whole (read-only, private) and published in rpmap_fn.map, so call
 * this before the pool forks; other inputs are read in 1 MiB pieces.
 * Returns 0 or -errno.
 */
int rpmap_input_open(struct rpmap_input *in, const char *path, size_t max_record, bool may_map);

/* The input is bytes [start, start + size) of the regular file in->fd
 * (rpmap_input_open, and a range's: rpmap_input_open_range in range.c):
 * mapped whole when not empty and may_map (failing that, read()). */
void rpmap_input_regular(struct rpmap_input *in, uint64_t start, uint64_t size, bool may_map);

/*
 * files.c: several inputs read in order as one stream (FILE... on the
 * command line), never mapped. A record never spans two files: each file's
 * end is an end of input to the cutter (a last line without its newline is
 * a record; a short block; a member cut short is truncated).
 * rpmap_inputs_open opens the first (paths[0]; "-" is stdin); when the
 * input is done, rpmap_input_next opens the next. rpmap_input_next returns
 * 1 (opened: cut on), 0 (no more files), or -errno (reported).
 */
int rpmap_inputs_open(struct rpmap_input *in, const char *const *paths, unsigned n,
		      size_t max_record);
int rpmap_input_next(struct rpmap_input *in);

/* files.c: whether the output (outpath, NULL for stdout) is one of the
 * input files (a regular file with bytes to read): its path, or NULL. */
const char *rpmap_inputs_clash(const char *const *paths, unsigned n, const char *outpath);

/*
 * Cut the next batch out of the buffered input, whole records only. Returns
 * 1 and fills *out (which holds a reference on its segment until
 * rpmap_batch_free), 0 if no complete record is buffered (call
 * rpmap_input_fill, or the input is done if in->eof), -E2BIG if a record
 * exceeds max_record (nothing is cut), or -ENODATA if the mapped input
 * file shrank under the read (nothing is cut; see rpmap_input_faulted).
 * MEMBERS: -ENOTSUP if the next member cannot be split (decode the rest
 * serially: rpmap_decode_rest), -EBADMSG if the input is not a stream of
 * such members there (in->why says why; nothing is cut).
 */
int rpmap_input_cut(struct rpmap_input *in, const struct rpmap_limits *lim,
		    struct rpmap_batch **out);

/*
 * Read more input. With may_block false and a non-regular input that has
 * nothing to read now, returns -EAGAIN. Returns bytes read (0 at end of
 * input, then in->eof is set), or -errno (EINTR is returned, not retried).
 */
ssize_t rpmap_input_fill(struct rpmap_input *in, bool may_block);

/* True when nothing is buffered and the input is at its end. */
bool rpmap_input_done(const struct rpmap_input *in);

/* Locate record i (0-based within the batch): pointer and length with its
 * separator. O(i) for lines. Returns false if the batch has fewer records,
 * or if the mapped input shrank under the read (rpmap_input_faulted). */
bool rpmap_batch_record(const struct rpmap_batch *b, uint32_t i, const char **p, size_t *len);

/* True once a read of the input mapping in this process failed because the
 * file shrank (SIGBUS, caught): every later result is suspect. Sticky. */
bool rpmap_input_faulted(void);

/* Bytes of the input (from in->start, at most in->size) that the file
 * still holds: in->size unless a mapped input file shrank. One fstat. */
uint64_t rpmap_input_avail(const struct rpmap_input *in);

/*
 * The mapped input file shrank: end the input at the last whole record the
 * file still holds, so that nothing past its end is cut again (what was cut
 * already, the engine checks as its results come). Returns that end, an
 * input offset (from in->start).
 */
uint64_t rpmap_input_clip(struct rpmap_input *in);

/* ---- decompression (decode.c) ---- */

struct rpmap_output;

/* The whole member at p (n bytes, none past the batch's end): its length,
 * and what it decodes to at most (*out_max, if not NULL); 0 if there is
 * no whole member there. */
size_t rpmap_member_len(const char *p, size_t n, uint64_t *out_max);

/*
 * The input could not be split at in->cut (rpmap_input_cut returned
 * -ENOTSUP and the engine wrote everything before it): decode the rest of
 * the input serially to out. Returns 0, or 2 (reported: corrupt or
 * truncated input, a read error; output errors are out's, sticky).
 */
int rpmap_decode_rest(struct rpmap_input *in, struct rpmap_output *out);

/* ---- the input mapping (inmap.c) ---- */

/* Map the regular input file whole from in->start as its one segment, and
 * arm the SIGBUS guard for it. Call before the pool forks. Returns 0, or
 * -errno (nothing changed: the file is then read()). */
int rpmap_map_input(struct rpmap_input *in);

/* Run fn(arg) with the guard armed: a read of the input mapping past the
 * file's end (it shrank) jumps back out. Returns fn's value, or -ENODATA
 * if a read faulted (rpmap_input_faulted is then true). Parent only. */
int rpmap_map_guarded(int (*fn)(void *arg), void *arg);

/* Drop the pages holding [p, p + n) of the input mapping (a worker or the
 * parent is done with them; they fault in again if needed). */
void rpmap_map_drop(const char *p, size_t n);

/* Count the batch's records that end within its first `bytes` bytes
 * (b->len: all of them; O(bytes)); 0 if the mapped input shrank under the
 * read (rpmap_input_faulted). */
uint32_t rpmap_batch_count(const struct rpmap_batch *b, size_t bytes);

void rpmap_batch_free(struct rpmap_input *in, struct rpmap_batch *b);
void rpmap_input_close(struct rpmap_input *in);

/* ---- output (output.c) ---- */

struct rpmap_output {
	int fd;
	const char *name;
	char *buf;
	size_t len, cap;
	uint64_t bytes;		/* handed to the kernel */
	int err;		/* first write error (-errno), sticky */
};

/*
 * Open (path NULL or "-": stdout). Refuses, before anything is truncated,
 * an output that is the input (same device and inode): a regular file or
 * a pipe named by path, or stdout when it is the input pipe or the input
 * regular file with bytes left to read (as cat does: `< F > F` has already
 * been emptied by the shell). Returns 0, -EEXIST for "is the input", or
 * another -errno.
 */
int rpmap_output_open(struct rpmap_output *o, const char *path, const struct rpmap_file_id *in);

/* Append n bytes; large pieces go straight to the kernel with writev.
 * Returns 0 or the sticky -errno (-EPIPE when the reader went away). */
int rpmap_output_write(struct rpmap_output *o, const void *p, size_t n);
int rpmap_output_flush(struct rpmap_output *o);
int rpmap_output_close(struct rpmap_output *o);

/* Progress on stderr: bytes of input (of total_bytes, 0: unknown, then
 * with a percentage and an ETA), records, failures, rate. */
struct rpmap_progress;
struct rpmap_progress *rpmap_progress_new(uint64_t total_bytes);
void rpmap_progress_update(struct rpmap_progress *pg, uint64_t bytes, uint64_t records,
			   uint64_t failed, bool last);
void rpmap_progress_free(struct rpmap_progress *pg);

/* ---- memory (mem.c) ---- */

/* Bytes of memory rpmap may still take (MemAvailable plus free swap, and
 * what its memory cgroup and their ancestors leave); UINT64_MAX if none of
 * it can be read. An estimate: re-read on each call. */
uint64_t rpmap_mem_available(void);

/* ---- engine (engine.c) ---- */

struct rpmap_opts {
	unsigned workers;
	bool workers_set;	/* -j given: never fewer workers to fit in memory */
	unsigned retries;	/* --retries: re-runs of a record whose worker died */
	uint64_t timeout_ms;	/* --timeout (also in rpmap_fn.timeout_ns); 0 = none */
	bool spawn;		/* --spawn: workers exec'd (RP_CFG_SPAWN) */
	uint64_t max_tasks;	/* --max-tasks-per-worker (cfg.max_tasks_per_worker) */
	uint64_t max_rss;	/* --max-rss (cfg.max_rss_bytes) */
	bool unordered;
	bool keep_going;
	int stats;		/* --stats: 1 text, 2 JSON (--stats=json) */
	FILE *joblog;		/* --joblog: one line per failed record, or NULL */
	int progress;		/* -1 auto, 0 off, 1 on */
	unsigned chunk;		/* records per task; 0 = adaptive */
	size_t batch_bytes;	/* target input bytes per task */
	bool part;		/* the output is not the stream's end (rpmap-mpi: a range
				 * before the last): no end block (builtin finish) */
};

/*
 * Map the whole input to the output. Returns the exit status: 0 every record
 * done, 1 some records failed, 2 an I/O or setup error (already reported),
 * 128 + SIGINT after Ctrl-C, or -EPIPE when the output's reader went away
 * (the caller ends quietly).
 */
int rpmap_run(const struct rpmap_opts *o, struct rpmap_input *in, struct rpmap_output *out);

/* Set by the SIGINT handler. */
extern volatile int rpmap_interrupted;

/* ---- option values (args.c) ---- */

/* "128k", "1M", "4096" (k, M, G; optional i, B): bytes. False on junk or
 * overflow. */
bool rpmap_parse_size(const char *s, uint64_t *out);
/* A decimal count within lo..hi. */
bool rpmap_parse_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* "500", "300ms", "5s", "1.5m", "2h", "250us": nanoseconds; a bare number
 * is milliseconds. False on junk, a sign, or overflow. */
bool rpmap_parse_time(const char *s, uint64_t *ns);

/* usage.c: the text of --help. */
extern const char rpmap_usage_text[];

/* Human-readable size: "128k", "1.5M". Returns buf. */
const char *rpmap_size_str(char *buf, size_t n, uint64_t v);

#endif
