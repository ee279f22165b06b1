/* SPDX-License-Identifier: MIT */
/*
 * The spawn start method: workers are fresh execs of the program's own
 * binary (/proc/self/exe) that inherit only the region's fd and the
 * completion eventfd. A library constructor recognises worker mode from the
 * RINGPOOL_WORKER environment variable, maps the region and runs the worker
 * loop before main() is reached. Functions are found again by (module,
 * offset from its load bias), never by raw address (fnaddr.c).
 *
 * The fork between fork() and execve() runs only async-signal-safe calls,
 * with argv and envp built beforehand, so spawning is safe from a
 * multi-threaded parent: replacements use it whenever the parent has become
 * multi-threaded, whatever the start method.
 */
#include "rp_internal.h"
#include "fnaddr.h"
#include "spawn.h"
#include "worker.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ENV_NAME "RINGPOOL_WORKER"

extern char **environ;

bool rp__multithreaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return true;	/* cannot tell: assume the worst */
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 1;
}

pid_t rp__spawn_exec(struct rp_pool *p, unsigned i)
{
	static char exe[] = "/proc/self/exe";
	char var[64], name[32];
	char *argv[2] = { name, NULL };
	char **envp;
	size_t n = 0, k;
	pid_t pid;

	snprintf(name, sizeof(name), "ringpool-worker-%u", i);
	snprintf(var, sizeof(var), ENV_NAME "=%d:%u:%d:%d:%016llx", p->procs.region.fd, i, p->procs.efd,
		 (int)getpid(), (unsigned long long)p->procs.token);
	while (environ && environ[n])
		n++;
	envp = malloc((n + 2) * sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (k = 0; k < n; k++)
		envp[k] = environ[k];
	envp[n] = var;
	envp[n + 1] = NULL;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		free(envp);
		return err;
	}
	if (pid == 0) {
		/* Async-signal-safe calls only from here to execve. */
		int fl, a = p->procs.region.fd, b = p->procs.efd >= 0 ? p->procs.efd : p->procs.region.fd;
		int lo = a < b ? a : b, hi = a < b ? b : a;

		rp__worker_stdio();
		/* Only the region and the eventfd cross the exec. */
		if (lo > 3)
			syscall(SYS_close_range, 3, lo - 1, 0);
		if (hi > lo + 1)
			syscall(SYS_close_range, lo + 1, hi - 1, 0);
		syscall(SYS_close_range, hi + 1, ~0u, 0);

		fl = fcntl(p->procs.region.fd, F_GETFD);
		fcntl(p->procs.region.fd, F_SETFD, fl & ~FD_CLOEXEC);
		if (p->procs.efd >= 0) {
			fl = fcntl(p->procs.efd, F_GETFD);
			fcntl(p->procs.efd, F_SETFD, fl & ~FD_CLOEXEC);
		}
		execve(exe, argv, envp);
		_exit(127);
	}
	free(envp);
	return pid;
}

/*
 * Is the region behind fd the pool that started us? Read its header
 * without mapping it. Returns 0, or a reason for a warning.
 */
static const char *not_our_region(int fd, uint64_t token)
{
	struct rp_shared h;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0)
		return "its fd is not a sealed memfd";
	if (pread(fd, &h, offsetof(struct rp_shared, nworkers), 0) !=
	    (ssize_t)offsetof(struct rp_shared, nworkers))
		return "its fd cannot be read";
	if (h.magic != RP_SHARED_MAGIC || h.version != RP_SHARED_VERSION)
		return "its fd is not a ringpool region";
	if (h.token != token)
		return "its token does not match the region";
	return NULL;
}

/*
 * Worker mode. Runs when the library is loaded into an exec'd worker, before
 * main(): with a static libringpool.a it runs among the program's own
 * constructors (in link order), so a program whose constructors start
 * threads or do work should not use spawn. A worker recognises itself
 * positively: RINGPOOL_WORKER names a sealed ringpool region whose token
 * matches, and its parent. Anything else (the variable set by mistake, or
 * inherited from an unrelated process) is ignored with a warning and main()
 * runs as usual.
 */
__attribute__((constructor)) static void rp__spawn_entry(void)
{
	const char *v = getenv(ENV_NAME), *why;
	unsigned long long token;
	unsigned idx;
	int fd, efd, ppid, n = 0;

	if (!v)
		return;
	if (sscanf(v, "%d:%u:%d:%d:%16llx%n", &fd, &idx, &efd, &ppid, &token, &n) != 5 ||
	    v[n] || fd < 3)
		why = "it is not of the form ringpool sets";
	else
		why = not_our_region(fd, (uint64_t)token);
	if (why) {
		fprintf(stderr, "ringpool: ignoring " ENV_NAME "=%.64s in the environment: %s\n",
			v, why);
		unsetenv(ENV_NAME);
		return;
	}
	unsetenv(ENV_NAME);
	if (getppid() != ppid)
		_exit(3);	/* a real worker whose parent has gone */
	rp__fn_exec_worker();
	/* The fds stay open in the worker; mark them close-on-exec again. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (efd >= 0)
		fcntl(efd, F_SETFD, FD_CLOEXEC);
	rp__worker_main(fd, idx);
}
