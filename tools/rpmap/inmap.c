/* SPDX-License-Identifier: MIT */
/*
 * The input mapping: a regular input file is mapped whole before the
 * workers are forked, so tasks carry only offsets and nothing is copied on
 * the way in; pages are dropped once their batches are done. A file
 * truncated while mapped raises SIGBUS on a read past its new end: the
 * parent's reads run under a guard that turns it into an error, and the
 * engine learns the file's new size from rpmap_input_avail and ends the
 * input at its last whole record (rpmap_input_clip).
 */
#include "rpmap.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

int rpmap_map_guarded(int (*fn)(void *arg), void *arg)
{
	int r;

	if (sigsetjmp(bus_env, 0)) {
		bus_faulted = true;
		return -ENODATA;
	}
	bus_armed = 1;
	r = fn(arg);
	bus_armed = 0;
	return r;
}

static size_t page_size(void)
{
	long pg = sysconf(_SC_PAGESIZE);

	return pg > 0 ? (size_t)pg : 4096;
}

/* Map a regular file whole from in->start (stdin may have been read up to
 * there already), as one segment that is never freed. Returns 0, or -errno
 * (the input is then read instead). */
int rpmap_map_input(struct rpmap_input *in)
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

/* Bytes of the whole records at the start of [p, p + n) (O(n) at worst). */
static size_t whole_records(const char *p, size_t n)
{
	const char *sep;

	if (rpmap_fn.mode == RPMAP_BLOCK)
		return n - n % rpmap_fn.block;
	if (rpmap_fn.mode == RPMAP_MEMBERS) {	/* whole members, by their headers */
		size_t k, done = 0;

		while ((k = rpmap_member_len(p + done, n - done, NULL)))
			done += k;
		return done;
	}
	sep = memrchr(p, rpmap_fn.sep, n);	/* lines, NUL records, --pipe chunks */
	return sep ? (size_t)(sep + 1 - p) : 0;
}

struct whole {
	const char *p;
	size_t n;
};

static int whole_call(void *a)
{
	struct whole *w = a;

	w->n = whole_records(w->p, w->n);
	return 0;
}

/* whole_records, guarded; SIZE_MAX if the read faulted. */
static size_t whole_records_guarded(const char *p, size_t n)
{
	struct whole w = { p, n };

	return rpmap_map_guarded(whole_call, &w) ? SIZE_MAX : w.n;
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

