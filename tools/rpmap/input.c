/* SPDX-License-Identifier: MIT */
/*
 * Input: large reads into segments, and batches of whole records cut from
 * them. A batch points into its segment (no copy) and holds a reference
 * until its results are written, so a failed batch can be run again; a
 * record that straddles the end of a segment is carried (copied) to the
 * start of the next one. Memory is the segments pinned by batches in
 * flight, so it stays flat whatever the input's length.
 *
 * A regular file is instead mapped whole, before the workers are forked:
 * it is then one segment, tasks carry only offsets, and workers read the
 * records from their own copy of the mapping. Pages are dropped from the
 * mapping once their batches are done (file-backed, so memory stays flat
 * here too), and nothing is copied on the way in.
 */
#include "rpmap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FREE_SEGS	4
#define MIN_READ	(256u << 10)	/* start a new segment below this much room */

/*
 * The parent's reads of the input mapping, guarded. A file truncated while
 * it is mapped makes a read of a page past its new end raise SIGBUS: in
 * the parent the handler jumps back out of the read (which then fails with
 * -ENODATA, and rpmap_input_faulted says so from then on); in a worker,
 * where nothing is armed, the signal kills it, and the engine learns from
 * the file's size (rpmap_input_avail) what happened. Pages past the new
 * end that were never read fault; the bytes past it in its last page read
 * as zeros, which the engine's size check catches too.
 */
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;
static bool bus_faulted;
static const char *bus_lo, *bus_hi;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	const char *a = si->si_addr;

	(void)uc;
	if (bus_armed && a >= bus_lo && a < bus_hi) {
		bus_armed = 0;
		siglongjmp(bus_env, 1);
	}
	/* Not a read of ours: the default action, at the same instruction. */
	signal(sig, SIG_DFL);
}

/* Arm the handler for a mapping (before the workers are forked: they
 * inherit it, never armed, so SIGBUS kills them as it would have). */
static void guard_mapping(const struct rpmap_seg *s)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/* SA_NODEFER: the jump leaves the handler without sigreturn, and
	 * SIGBUS must not stay blocked after it. */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	bus_lo = s->map_base;
	bus_hi = bus_lo + s->map_len;
	sigaction(SIGBUS, &sa, NULL);
}

bool rpmap_input_faulted(void)
{
	return bus_faulted;
}

/* Run `call` with the guard armed if b's data is mapped; on a fault, set
 * the flag and evaluate to `failed`. A macro: sigsetjmp must be called in
 * the frame that stays live while the read runs. */
#define GUARDED(mapped, call, failed)                                                  \
	do {                                                                           \
		if (!(mapped))                                                         \
			return call;                                                   \
		if (sigsetjmp(bus_env, 0)) {                                           \
			bus_faulted = true;                                            \
			return failed;                                                 \
		}                                                                      \
		bus_armed = 1;                                                         \
		__typeof__(call) r_ = call;                                            \
		bus_armed = 0;                                                         \
		return r_;                                                             \
	} while (0)

static size_t page_size(void)
{
	long pg = sysconf(_SC_PAGESIZE);

	return pg > 0 ? (size_t)pg : 4096;
}

/* Map a regular file whole from in->start (stdin may have been read up to
 * there already), as one segment that is never freed. Returns 0, or -errno
 * (the input is then read instead). */
static int map_input(struct rpmap_input *in)
{
	struct rpmap_seg *s = calloc(1, sizeof(*s));
	size_t skew = (size_t)(in->start % page_size()), len = skew + (size_t)in->size;
	char *m;

	if (!s)
		return -ENOMEM;
	m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, in->fd, (off_t)(in->start - skew));
	if (m == MAP_FAILED) {
		free(s);
		return -errno;
	}
	madvise(m, len, MADV_SEQUENTIAL);
	s->map_base = m;
	s->map_len = len;
	s->buf = m + skew;
	s->cap = s->fill = (size_t)in->size;
	s->refs = 1;
	s->mapped = true;
	in->cur = s;
	in->mapped = true;
	in->eof = true;
	rpmap_fn.map = m + skew;
	rpmap_fn.map_size = in->size;
	rpmap_fn.map_start = in->start;
	guard_mapping(s);
	return 0;
}

int rpmap_input_open(struct rpmap_input *in, const char *path, size_t max_record)
{
	struct stat st;
	off_t at;

	memset(in, 0, sizeof(*in));
	in->read_size = 1u << 20;
	in->max_record = max_record;
	if (!path || !strcmp(path, "-")) {
		in->fd = 0;
		in->name = "standard input";
	} else {
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		in->name = path;
		if (in->fd < 0)
			return -errno;
	}
	if (fstat(in->fd, &st) < 0)
		return 0;	/* read() will say what is wrong */
	in->id = (struct rpmap_file_id){ .known = true, .dev = (uint64_t)st.st_dev,
					 .ino = (uint64_t)st.st_ino, .left = true };
	if (!S_ISREG(st.st_mode))
		return 0;
	/* Like cat, start where the file's offset is (`{ head -n 1 >/dev/null;
	 * rpmap f; } < F`): the records are the bytes from there. */
	at = lseek(in->fd, 0, SEEK_CUR);
	in->start = at > 0 && at < st.st_size ? (uint64_t)at : at > 0 ? (uint64_t)st.st_size : 0;
	in->regular = true;
	in->size = (uint64_t)st.st_size - in->start;
	in->id.left = in->size > 0;
	posix_fadvise(in->fd, (off_t)in->start, 0, POSIX_FADV_SEQUENTIAL);
	if (in->size && in->size == (size_t)in->size && map_input(in) == 0)
		return 0;
	return 0;
}

/*
 * Drop the pages around [p, p + n) from the input mapping: the mapping is
 * private, read-only and never written, so a page dropped while another
 * batch still needs it only faults in again from the page cache. The range
 * is widened to 64 KiB boundaries because a page fault also maps the
 * cached pages around it (fault-around, 64 KiB): without that, pages of
 * other workers' batches would pile up. Keeps the resident size flat on
 * files larger than memory.
 */
void rpmap_map_drop(const char *p, size_t n)
{
	uintptr_t g = 65536, a = (uintptr_t)p & ~(g - 1), e = ((uintptr_t)p + n + g - 1) & ~(g - 1);
	uintptr_t pg = page_size(), lo = (uintptr_t)rpmap_fn.map, hi = lo + rpmap_fn.map_size;

	lo &= ~(pg - 1);	/* the mapping starts at the page of the first byte */
	if (a < lo)
		a = lo;
	if (e > hi)
		e = (hi + pg - 1) & ~(pg - 1);
	if (e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
}

static void seg_put(struct rpmap_input *in, struct rpmap_seg *s)
{
	if (--s->refs)
		return;
	if (s->mapped) {
		munmap(s->map_base, s->map_len);
		free(s);
		return;
	}
	if (in->nfree < MAX_FREE_SEGS && s->cap == in->read_size + (size_t)MIN_READ) {
		s->next = in->free_segs;
		in->free_segs = s;
		in->nfree++;
		return;
	}
	free(s->buf);
	free(s);
}

/* A segment of at least `need` bytes; the common size comes from the free list. */
static struct rpmap_seg *seg_get(struct rpmap_input *in, size_t need)
{
	size_t std = in->read_size + MIN_READ;
	struct rpmap_seg *s;

	if (need <= std && in->free_segs) {
		s = in->free_segs;
		in->free_segs = s->next;
		in->nfree--;
	} else {
		/* A record that keeps growing doubles its segment: check the
		 * memory left first, or the OOM killer would, once it is touched. */
		if (need > std && need > rpmap_mem_available())
			return NULL;
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		s->cap = need <= std ? std : need;
		s->buf = malloc(s->cap);
		if (!s->buf) {
			free(s);
			return NULL;
		}
	}
	s->fill = 0;
	s->refs = 1;	/* the input's own reference while it is current */
	s->next = NULL;
	return s;
}

bool rpmap_input_done(const struct rpmap_input *in)
{
	return in->eof && (!in->cur || in->cut == in->cur->fill);
}

ssize_t rpmap_input_fill(struct rpmap_input *in, bool may_block)
{
	struct rpmap_seg *s = in->cur;
	ssize_t r;

	if (in->eof)
		return 0;
	if (!s || s->cap - s->fill < MIN_READ) {
		/* New segment: carry the incomplete tail over. */
		size_t carry = s ? s->fill - in->cut : 0;
		/* Standard size while the carry is small; a record that keeps
		 * growing doubles its segment (amortised O(1) copying). */
		size_t std = in->read_size + MIN_READ;
		struct rpmap_seg *n = seg_get(in, carry > std / 2 ? carry * 2 : std);

		if (!n)
			return -ENOMEM;
		if (carry)
			memcpy(n->buf, s->buf + in->cut, carry);
		n->fill = carry;
		if (s) {
			in->scanned = in->scanned - in->cut;
			seg_put(in, s);
		} else {
			in->scanned = 0;
		}
		in->cur = s = n;
		in->cut = 0;
	}
	if (!may_block && !in->regular) {
		struct pollfd pf = { .fd = in->fd, .events = POLLIN };

		if (poll(&pf, 1, 0) == 0)
			return -EAGAIN;
	}
	r = read(in->fd, s->buf + s->fill, s->cap - s->fill);
	if (r < 0)
		return -errno;
	if (r == 0) {
		in->eof = true;
		return 0;
	}
	s->fill += (size_t)r;
	return r;
}

/* Whether `bytes` of input in `nrec` records fit one task of the pool:
 * the input within max_in, the built-in's result bound within max_res. */
static bool task_fits(const struct rpmap_limits *lim, uint64_t bytes, uint64_t nrec)
{
	return bytes <= lim->max_in &&
	       (!lim->max_res || rpmap_result_bound(bytes, nrec) <= lim->max_res);
}

/*
 * The most records of `bs` bytes, at most k, that fit one task (at least
 * 1: a record that does not fit alone is the large-record path's). The
 * result bound grows with the records as well as with the bytes (crc32
 * writes 9 bytes per record, gzip a member header), so a batch of tiny
 * records is cut by its results, not by its input. Binary search: O(log k).
 */
static size_t blocks_that_fit(const struct rpmap_limits *lim, size_t bs, size_t k)
{
	size_t lo = 1, hi = k;

	if (task_fits(lim, (uint64_t)k * bs, k))
		return k;
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (task_fits(lim, (uint64_t)mid * bs, mid))
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* rpmap_input_cut without the guard. */
static int cut(struct rpmap_input *in, const struct rpmap_limits *lim, struct rpmap_batch **out)
{
	struct rpmap_seg *s = in->cur;
	const char *base, *p, *end;
	size_t target = lim->bytes;
	uint32_t nrec = 0;
	struct rpmap_batch *b;
	bool unterminated;

	*out = NULL;
	if (!s || in->cut == s->fill)
		return 0;
	base = s->buf + in->cut;
	end = s->buf + s->fill;
	p = base;
	if (rpmap_fn.mode == RPMAP_BLOCK) {
		size_t bs = rpmap_fn.block, avail = (size_t)(end - base), k;

		if (avail < bs && !in->eof)
			return 0;
		k = target / bs ? target / bs : 1;
		if (lim->recs && k > lim->recs)
			k = lim->recs;
		k = blocks_that_fit(lim, bs, k);
		if (k * bs > avail)
			k = in->eof ? (avail + bs - 1) / bs : avail / bs;
		p = base + (k * bs < avail ? k * bs : avail);
		nrec = (uint32_t)k;
	} else if (!lim->count) {
		/* Cheap functions: no per-record work here, just the last
		 * separator before the target. The worker counts. */
		size_t want = (size_t)(end - base) < target ? (size_t)(end - base) : target;
		const char *sep;

		if (want > lim->max_in)
			want = lim->max_in;
		sep = memrchr(base, rpmap_fn.sep, want);
		if (sep) {
			p = sep + 1;
		} else {
			/* One record longer than the target (or incomplete). */
			size_t from = in->scanned > in->cut ? in->scanned - in->cut : 0;
			const char *e = memchr(base + from, rpmap_fn.sep, (size_t)(end - base) - from);

			if (e)
				p = e + 1;
			else if (in->eof)
				p = end;
			else {
				in->scanned = s->fill;
				if (s->fill - in->cut > in->max_record)
					return -E2BIG;
				return 0;
			}
		}
	} else {
		/* Counted: walk record by record, honouring the record limit and
		 * the result bound. */
		uint64_t recs = lim->recs ? lim->recs : UINT32_MAX;

		while (p < end && nrec < recs) {
			size_t from = nrec == 0 && in->scanned > in->cut ? in->scanned - in->cut : 0;
			const char *e = memchr(p + from, rpmap_fn.sep, (size_t)(end - p) - from);
			const char *q = e ? e + 1 : in->eof ? end : NULL;

			if (!q) {
				if (nrec == 0) {
					in->scanned = s->fill;
					if (s->fill - in->cut > in->max_record)
						return -E2BIG;
				}
				break;
			}
			if (nrec && ((size_t)(q - base) > target ||
				     !task_fits(lim, (uint64_t)(q - base), nrec + 1)))
				break;
			p = q;
			nrec++;
		}
		if (!nrec)
			return 0;
	}
	if ((size_t)(p - base) > in->max_record && (rpmap_fn.mode != RPMAP_BLOCK))
		return -E2BIG;
	/* The last read of the data: nothing below changes the input's state
	 * before it (a fault of the mapping leaves the input as it was). */
	unterminated = rpmap_fn.mode != RPMAP_BLOCK && p > base && p[-1] != rpmap_fn.sep;
	b = in->free_batches;
	if (b)
		in->free_batches = b->next;
	else if (!(b = malloc(sizeof(*b))))
		return -ENOMEM;
	memset(b, 0, sizeof(*b));
	b->seg = s;
	s->refs++;
	b->data = base;
	b->len = (size_t)(p - base);
	b->off = in->cut_off;
	b->nrec = nrec;
	b->counted = nrec != 0;
	b->unterminated = unterminated;
	/* Only ever one record: every path above stops before a second
	 * record that would not fit (the one-record path is for it alone). */
	b->large = !task_fits(lim, b->len, nrec ? nrec : 1);
	b->first = in->next_index;
	if (b->counted)
		in->next_index += nrec;
	in->cut += b->len;
	in->cut_off += b->len;
	if (in->scanned < in->cut)
		in->scanned = in->cut;
	*out = b;
	return 1;
}

static bool batch_record(const struct rpmap_batch *b, uint32_t i, const char **pp, size_t *len)
{
	const char *p = b->data, *end = b->data + b->len;

	if (rpmap_fn.mode == RPMAP_BLOCK) {
		size_t off = (size_t)i * rpmap_fn.block;

		if (off >= b->len)
			return false;
		*pp = p + off;
		*len = b->len - off < rpmap_fn.block ? b->len - off : rpmap_fn.block;
		return true;
	}
	for (;;) {
		const char *e;

		if (p == end)
			return false;
		e = memchr(p, rpmap_fn.sep, (size_t)(end - p));
		e = e ? e + 1 : end;
		if (!i--) {
			*pp = p;
			*len = (size_t)(e - p);
			return true;
		}
		p = e;
	}
}

static uint32_t batch_count(const struct rpmap_batch *b, size_t bytes)
{
	const char *p = b->data, *end = b->data + (bytes < b->len ? bytes : b->len);
	uint32_t n = 0;

	if (rpmap_fn.mode == RPMAP_BLOCK)
		return (uint32_t)(bytes >= b->len ? (b->len + rpmap_fn.block - 1) / rpmap_fn.block
						  : bytes / rpmap_fn.block);
	while (p < end) {
		const char *e = memchr(p, rpmap_fn.sep, (size_t)(end - p));

		if (!e && bytes < b->len)
			break;	/* runs past `bytes` */
		n++;
		p = e ? e + 1 : end;
	}
	return n;
}

int rpmap_input_cut(struct rpmap_input *in, const struct rpmap_limits *lim,
		    struct rpmap_batch **out)
{
	*out = NULL;
	GUARDED(in->mapped, cut(in, lim, out), -ENODATA);
}

bool rpmap_batch_record(const struct rpmap_batch *b, uint32_t i, const char **pp, size_t *len)
{
	GUARDED(b->seg->mapped, batch_record(b, i, pp, len), false);
}

uint32_t rpmap_batch_count(const struct rpmap_batch *b, size_t bytes)
{
	GUARDED(b->seg->mapped, batch_count(b, bytes), 0);
}

/* Bytes of the whole records at the start of [p, p + n) (O(n) at worst). */
static size_t whole_records(const char *p, size_t n)
{
	const char *sep;

	if (rpmap_fn.mode == RPMAP_BLOCK)
		return n - n % rpmap_fn.block;
	sep = memrchr(p, rpmap_fn.sep, n);
	return sep ? (size_t)(sep + 1 - p) : 0;
}

static size_t whole_records_guarded(const char *p, size_t n)
{
	GUARDED(true, whole_records(p, n), SIZE_MAX);
}

uint64_t rpmap_input_clip(struct rpmap_input *in)
{
	struct rpmap_seg *s = in->cur;
	size_t n = SIZE_MAX;

	if (!in->mapped || !s)
		return in->cut_off;
	/* A fault here means it shrank again: look again. A read that keeps
	 * faulting with the size unchanged is an I/O error (also SIGBUS in a
	 * mapping): the input ends where it was cut. */
	for (int tries = 0; n == SIZE_MAX; tries++) {
		uint64_t avail = rpmap_input_avail(in);

		n = avail > in->cut_off ? (size_t)(avail - in->cut_off) : 0;
		if (n > s->fill - in->cut)
			n = s->fill - in->cut;
		n = tries < 3 ? whole_records_guarded(s->buf + in->cut, n) : 0;
	}
	s->fill = in->cut + n;
	if (in->scanned > s->fill)
		in->scanned = s->fill;
	return in->cut_off + n;
}

uint64_t rpmap_input_avail(const struct rpmap_input *in)
{
	struct stat st;

	if (!in->mapped || fstat(in->fd, &st) < 0)
		return in->size;
	if ((uint64_t)st.st_size <= in->start)
		return 0;
	return (uint64_t)st.st_size - in->start < in->size ? (uint64_t)st.st_size - in->start
							    : in->size;
}

void rpmap_batch_free(struct rpmap_input *in, struct rpmap_batch *b)
{
	if (!b)
		return;
	if (b->seg->mapped)
		rpmap_map_drop(b->data, b->len);
	seg_put(in, b->seg);
	b->next = in->free_batches;
	in->free_batches = b;
}

void rpmap_input_close(struct rpmap_input *in)
{
	struct rpmap_seg *s;
	struct rpmap_batch *b;

	if (in->cur)
		seg_put(in, in->cur);
	in->cur = NULL;
	while ((s = in->free_segs)) {
		in->free_segs = s->next;
		free(s->buf);
		free(s);
	}
	while ((b = in->free_batches)) {
		in->free_batches = b->next;
		free(b);
	}
	/* A mapped stdin is left where rpmap stopped reading, as read() would. */
	if (in->mapped && in->fd == 0)
		lseek(in->fd, (off_t)(in->start + in->cut_off), SEEK_SET);
	if (in->fd > 0)
		close(in->fd);
}
