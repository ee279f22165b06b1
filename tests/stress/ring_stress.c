/* SPDX-License-Identifier: MIT */
/*
 * Ring stress test in the manner of DPDK's ring_stress_autotest: a parent and
 * a forked child (with its own mapping of the memfd region) stream records
 * both ways through the real shm/ ring and eventcount code, with random
 * sizes, bursts and pauses so that both sides fill, drain, sleep and wake.
 * Exits 0 only if each side checked all the other sent and saw no error.
 */
/*
 * Usage: ring_stress [--seconds N | --records N] [--cap BYTES] [--seed N]
 *                    [--spin N] [--pause-every N] [--pause-us N]
 *                    [--abort-every N] [--timeout-ms N] [--stall-ms N] [--oneway]
 *                    [--light]
 * --seconds N (default 30) runs for a time, --records N sends N records each
 * way; --oneway: the child only receives; --light: the child rings the parent
 * with rp_evc_notify_light() and the parent arms with rp_evc_prepare_heavy()
 * (membarrier), as lib's workers and parent do when the kernel allows.
 * A hang fails: every wait has a timeout (--timeout-ms) after which the
 * peer's liveness and progress are checked, and an alarm() watchdog ends a
 * run that overstays.
 */
#include "rp_region.h"
#include "stress_side.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child_pid;
static int child_status = -1;	/* wait status once reaped */
static pid_t parent_pid;

static void on_alarm(int sig)
{
	static const char msg[] = "ring_stress: watchdog: the run hung, failing\n";

	(void)sig;
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

/* Parent's liveness check after a timed-out wait: is the child still there? */
static bool child_alive(void *arg)
{
	int st;

	(void)arg;
	if (child_status != -1)
		return false;
	if (waitpid(child_pid, &st, WNOHANG) == child_pid) {
		child_status = st;
		return false;
	}
	return true;
}

static bool parent_alive(void *arg)
{
	(void)arg;
	return getppid() == parent_pid;
}

static uint64_t arg_u64(const char *opt, const char *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || !*v || *end) {
		fprintf(stderr, "ring_stress: bad value for %s\n", opt);
		exit(2);
	}
	return x;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ring_stress [--seconds N | --records N] [--cap BYTES] [--seed N]\n"
		"                   [--spin N] [--pause-every N] [--pause-us N]\n"
		"                   [--abort-every N] [--timeout-ms N] [--stall-ms N] [--oneway]\n"
		"                   [--light]\n");
	exit(2);
}

static void print_side(const char *who, const struct stress_stats *st)
{
	printf("  %s: sent %" PRIu64 " (%" PRIu64 " B), checked %" PRIu64 " (%" PRIu64
	       " B), sleeps %" PRIu64 ", wakes issued %" PRIu64 ", timeouts %" PRIu64
	       ", pauses %" PRIu64 ", aborts %" PRIu64 ", lost wake-ups %" PRIu64
	       ", errors %" PRIu64 "\n",
	       who, st->sent, st->bytes_sent, st->recv, st->bytes_recv, st->sleeps, st->wakes,
	       st->timeouts, st->pauses, st->aborts, st->lost_wakeups, st->errors);
	if (st->heavy_failed)
		printf("    membarrier failed %" PRIu64 " times (slept briefly instead)\n",
		       st->heavy_failed);
	if (st->errors)
		printf("    first error: %s\n", st->error);
}

int main(int argc, char **argv)
{
	struct stress_cfg cfg = {
		.cap = 4096,
		.spin_max = 200,
		.pause_every = 64,
		.pause_max_us = 200,
		.wait_timeout_ns = 1000000000ull,
		.stall_ns = 10000000000ull,
	};
	uint64_t seconds = 30, t0, t1, wait_until;
	struct stress_side side;
	struct rp_region reg;
	struct stress_shared *sh;
	struct stress_stats kid;
	unsigned long errors = 0;
	int err, i;

	cfg.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v;

		if (!strcmp(o, "--oneway")) {
			cfg.oneway = true;
			continue;
		}
		if (!strcmp(o, "--light")) {
			cfg.light = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		v = argv[++i];
		if (!strcmp(o, "--seconds"))
			seconds = arg_u64(o, v), cfg.records = 0;
		else if (!strcmp(o, "--records"))
			cfg.records = arg_u64(o, v);
		else if (!strcmp(o, "--cap"))
			cfg.cap = arg_u64(o, v);
		else if (!strcmp(o, "--seed"))
			cfg.seed = arg_u64(o, v);
		else if (!strcmp(o, "--spin"))
			cfg.spin_max = (uint32_t)arg_u64(o, v);
		else if (!strcmp(o, "--pause-every"))
			cfg.pause_every = (uint32_t)arg_u64(o, v);
		else if (!strcmp(o, "--pause-us"))
			cfg.pause_max_us = (uint32_t)arg_u64(o, v);
		else if (!strcmp(o, "--abort-every"))
			cfg.abort_every = (uint32_t)arg_u64(o, v);
		else if (!strcmp(o, "--timeout-ms"))
			cfg.wait_timeout_ns = arg_u64(o, v) * 1000000ull;
		else if (!strcmp(o, "--stall-ms"))
			cfg.stall_ns = arg_u64(o, v) * 1000000ull;
		else
			usage();
	}
	if (cfg.abort_every == 1 || !cfg.wait_timeout_ns) {
		fprintf(stderr, "ring_stress: --abort-every must be 0 or > 1, --timeout-ms > 0\n");
		return 2;
	}
	if (cfg.light && !rp_membarrier_available()) {
		printf("ring_stress: --light: no MEMBARRIER_CMD_GLOBAL_EXPEDITED here; "
		       "using the symmetric pair\n");
		cfg.light = false;
	}

	err = rp_region_create(&reg, "rp-stress", stress_region_size(cfg.cap));
	if (!err)
		err = stress_layout(reg.base, cfg.cap);
	if (err) {
		fprintf(stderr, "ring_stress: region/ring setup (cap %" PRIu64 "): %s\n", cfg.cap,
			strerror(-err));
		return 2;
	}
	sh = reg.base;
	signal(SIGALRM, on_alarm);
	/* The watchdog: a hang fails. Records mode gets a generous fixed bound. */
	alarm((unsigned)(cfg.records ? 600 : seconds + 60));
	t0 = stress_now_ns();
	if (!cfg.records)
		cfg.deadline_ns = t0 + seconds * 1000000000ull;
	parent_pid = getpid();
	fflush(stdout);

	child_pid = fork();
	if (child_pid < 0) {
		perror("ring_stress: fork");
		return 2;
	}
	if (child_pid == 0) {
		struct rp_region mine;

		alarm(0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent_pid)
			_exit(4);
		/* A mapping of our own, at another address: only offsets are shared. */
		err = rp_region_attach(&mine, reg.fd);
		if (err)
			_exit(5);
		cfg.peer_alive = parent_alive;
		/* The parent's membarrier must reach us before we notify light. */
		if (cfg.light && rp_membarrier_register())
			_exit(7);
		if (stress_side_init(&side, mine.base, 1, &cfg))
			_exit(6);
		stress_side_run(&side);
		((struct stress_shared *)mine.base)->stats[1] = side.st;
		_exit(side.st.errors ? 1 : 0);
	}

	cfg.peer_alive = child_alive;
	err = stress_side_init(&side, reg.base, 0, &cfg);
	if (err) {
		fprintf(stderr, "ring_stress: attach: %s\n", strerror(-err));
		kill(child_pid, SIGKILL);
		return 2;
	}
	stress_side_run(&side);
	t1 = stress_now_ns();

	/* The child should be done within its own last wait timeout. */
	wait_until = stress_now_ns() + cfg.wait_timeout_ns + 10000000000ull;
	while (child_status == -1) {
		int st;

		if (waitpid(child_pid, &st, WNOHANG) == child_pid) {
			child_status = st;
			break;
		}
		if (stress_now_ns() > wait_until) {
			kill(child_pid, SIGKILL);
			waitpid(child_pid, &st, 0);
			child_status = st;
			printf("ring_stress: the child did not finish; killed\n");
			errors++;
			break;
		}
		usleep(1000);
	}
	alarm(0);

	memset(&kid, 0, sizeof(kid));
	if (WIFEXITED(child_status) && WEXITSTATUS(child_status) <= 1) {
		kid = sh->stats[1];	/* written before its exit, read after waitpid */
	} else {
		printf("ring_stress: child ended with %s %d\n",
		       WIFSIGNALED(child_status) ? "signal" : "status",
		       WIFSIGNALED(child_status) ? WTERMSIG(child_status)
						 : WEXITSTATUS(child_status));
		errors++;
	}

	printf("ring_stress: %.1f s, ring %" PRIu64 " B (max payload %" PRIu64 " B), seed %#" PRIx64
	       "%s\n", (double)(t1 - t0) / 1e9, cfg.cap, rp_ring_max_payload(cfg.cap), cfg.seed,
	       cfg.light ? ", light notify + membarrier" : "");
	print_side("parent (side 0)", &side.st);
	print_side("child  (side 1)", &kid);
	errors += side.st.errors + kid.errors;
	if (!errors && (side.st.sent != kid.recv || kid.sent != side.st.recv)) {
		printf("ring_stress: counts disagree\n");
		errors++;
	}
	printf("ring_stress: records checked %" PRIu64 ", bytes %" PRIu64 ", errors %lu\n",
	       side.st.recv + kid.recv, side.st.bytes_recv + kid.bytes_recv, errors);
	rp_region_destroy(&reg);
	return errors ? 1 : 0;
}
