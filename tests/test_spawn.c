/* SPDX-License-Identifier: MIT */
/*
 * The spawn start method and safe replacement in threaded parents: exec'd
 * workers find task functions again by (module, offset), the main program's
 * and a dlopen'ed plugin's; a function that cannot be placed is refused at
 * submit; and replacing workers while other threads of the parent hold the
 * stdio lock and a mutex of a library without atfork handlers does not
 * deadlock, in fork and spawn modes.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>

#include "rp_test_tasks.h"

static int task_pid(struct rp_task *t, const void *in, size_t len)
{
	uint64_t *out = rp_task_result(t, 8);

	*out = (uint64_t)getpid();
	return 0;
}

Test(spawn, workers_are_execd_and_find_functions, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_stats st;
	uint64_t in[100], out[100], pid = 0;

	rp_config_init(&c);
	c.workers = 2;
	c.flags = RP_CFG_SPAWN;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	for (int i = 0; i < 100; i++)
		in[i] = (uint64_t)i;
	cr_assert_eq(map_status(p, task_triple, in, 8, out, 8, 100), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(out[i], (uint64_t)i * 3 + 1);
	cr_assert_eq(apply_status(p, task_pid, NULL, 0, &pid, 8, NULL), 0);
	char path[64], exe[256] = "", self[256] = "";
	snprintf(path, sizeof(path), "/proc/%lu/exe", (unsigned long)pid);
	cr_assert_gt(readlink(path, exe, sizeof(exe) - 1), 0);
	cr_assert_gt(readlink("/proc/self/exe", self, sizeof(self) - 1), 0);
	cr_assert_str_eq(exe, self, "the worker runs this program's binary");
	snprintf(path, sizeof(path), "/proc/%lu/cmdline", (unsigned long)pid);
	FILE *f = fopen(path, "r");
	char cmd[64] = "";
	cr_assert_not_null(f);
	cr_assert_gt(fread(cmd, 1, sizeof(cmd) - 1, f), 0);
	fclose(f);
	cr_assert_eq(strncmp(cmd, "ringpool-worker-", 16), 0, "a fresh exec, not a fork (%s)", cmd);
	rp_pool_stats(p, &st);
	cr_assert_eq(st.spawned, 2u);
	rp_pool_destroy(p);
}

Test(spawn, plugin_loaded_by_path, .timeout = 30)
{
	void *h = dlopen(PLUGIN_PATH, RTLD_NOW);
	rp_task_fn fn;
	struct rp_config c;
	struct rp_pool *p;
	long long x = 12, y = 0;

	cr_assert_not_null(h, "%s", dlerror());
	fn = (rp_task_fn)dlsym(h, "plugin_square");
	cr_assert_not_null(fn);
	rp_config_init(&c);
	c.workers = 1;
	c.flags = RP_CFG_SPAWN;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	cr_assert_eq(apply_status(p, fn, &x, 8, &y, 8, NULL), 0);
	cr_assert_eq(y, 145);
	rp_pool_destroy(p);
	dlclose(h);
}

Test(spawn, unplaceable_function_is_refused_at_submit, .timeout = 30)
{
	struct rp_config c;
	struct rp_pool *p;
	uint64_t x = 1;
	/* An address in anonymous memory: no module to find it again in. */
	void *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(anon, MAP_FAILED);
	rp_config_init(&c);
	c.workers = 1;
	c.flags = RP_CFG_SPAWN;
	cr_assert_eq(rp_pool_create(&p, &c), 0);
	cr_assert_eq(rp_submit(p, (rp_task_fn)anon, &x, 8, 0, 0, NULL), -ENOENT);
	/* The pool is fine. */
	cr_assert_eq(apply_status(p, task_triple, &x, 8, &x, 8, NULL), 0);
	cr_assert_eq(x, 4u);
	rp_pool_destroy(p);
	munmap(anon, 4096);
}

/* A library lock without atfork handlers, held by another thread. */
static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t hold_until = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t held;

static void *holder(void *arg)
{
	pthread_mutex_lock(&lib_lock);
	flockfile(stdout);
	pthread_barrier_wait(&held);
	pthread_mutex_lock(&hold_until);	/* until the test lets go */
	pthread_mutex_unlock(&hold_until);
	funlockfile(stdout);
	pthread_mutex_unlock(&lib_lock);
	return NULL;
}

/* Uses both locks: deadlocks in a child forked while they were held. */
static int task_uses_locks(struct rp_task *t, const void *in, size_t len)
{
	char buf[32];
	uint64_t *out;

	pthread_mutex_lock(&lib_lock);
	pthread_mutex_unlock(&lib_lock);
	snprintf(buf, sizeof(buf), "%d", 1);
	fputs("", stdout);	/* takes the stdio lock */
	out = rp_task_result(t, 8);
	*out = 1;
	return 0;
}

static void replace_under_held_locks(unsigned flags)
{
	struct rp_config c;
	struct rp_pool *p;
	struct rp_stats st;
	pthread_t th;
	uint64_t one = 0;

	rp_config_init(&c);
	c.workers = 2;
	c.flags = flags;
	cr_assert_eq(rp_pool_create(&p, &c), 0);	/* single-threaded here */
	pthread_mutex_lock(&hold_until);
	pthread_barrier_init(&held, NULL, 2);
	cr_assert_eq(pthread_create(&th, NULL, holder, NULL), 0);
	pthread_barrier_wait(&held);
	/* Now kill workers: their replacements start while the locks are held. */
	for (int round = 0; round < 3; round++) {
		struct ctl_in k = { .action = ACT_KILL, .arg = SIGKILL };
		struct rp_result r;

		cr_assert_eq(rp_submit(p, task_ctl, &k, sizeof(k), 0, 0, NULL), 0);
		cr_assert_eq(rp_next(p, &r, 0), 0);
		cr_assert_eq(r.status, RP_ECRASHED);
		rp_release(p, &r);
		for (int i = 0; i < 4; i++) {
			cr_assert_eq(apply_status(p, task_uses_locks, NULL, 0, &one, 8, NULL), 0,
				     "a replacement deadlocked on a lock held at its start");
			cr_assert_eq(one, 1u);
		}
	}
	rp_pool_stats(p, &st);
	cr_assert_eq(st.restarts, 3u);
	cr_assert_geq(st.spawned, 3u, "replacements in a threaded parent are exec'd");
	pthread_mutex_unlock(&hold_until);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&held);
	rp_pool_destroy(p);
}

Test(spawn, threaded_parent_replacements_fork_mode, .timeout = 60)
{
	replace_under_held_locks(RP_CFG_FORK);
}

Test(spawn, threaded_parent_replacements_spawn_mode, .timeout = 60)
{
	replace_under_held_locks(RP_CFG_SPAWN);
}
