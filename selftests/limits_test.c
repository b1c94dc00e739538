// SPDX-License-Identifier: GPL-2.0-only
/*
 * The module's limits, each tried from a second user as well: the size of
 * one region (after rounding to pages), live regions in all and per user,
 * bytes in all and per user, and racing CREATEs of one name near a limit,
 * which must charge it once. Needs root, to set the module's parameters
 * and to act as other users. (The attachment slots' fair share is
 * peers_test.c's.)
 */
#define _GNU_SOURCE
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define PAGE 4096UL

FIXTURE(limits) {
	int dev;
	char name[SHMIPC_NAME_MAX];
	long long saved[5];
};

static const char *const limit_params[] = {
	"max_region_size", "max_regions", "max_total_bytes", "max_user_bytes",
	"max_user_regions",
};

#define NR_PARAMS (sizeof(limit_params) / sizeof(limit_params[0]))

FIXTURE_SETUP(limits)
{
	unsigned int i;

	DEV_OPEN_OR_SKIP(self->dev);
	uname_of(self->name, "lim");
	for (i = 0; i < NR_PARAMS; i++)
		self->saved[i] = param_get(limit_params[i]);
	if (geteuid() || self->saved[0] < 0)
		SKIP(return, "needs root and writable module parameters");
}

FIXTURE_TEARDOWN(limits)
{
	unsigned int i;

	for (i = 0; i < NR_PARAMS; i++)
		if (self->saved[i] >= 0)
			param_set(limit_params[i], self->saved[i]);
	region_unlink(self->dev, self->name);
	close(self->dev);
}

/* Forks a child that becomes @uid and exits with fn()'s value. */
static pid_t spawn_as(uid_t uid, int (*fn)(int dev, int arg), int dev, int arg)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid))
		_exit(101);
	_exit(fn(dev, arg));
}

static int reap(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int run_as(uid_t uid, int (*fn)(int dev, int arg), int dev, int arg)
{
	return reap(spawn_as(uid, fn, dev, arg));
}

TEST_F(limits, enforced)
{
	unsigned long long bytes;
	unsigned int live, named;
	int fd, pid, status;

	ASSERT_EQ(0, module_totals(&live, &named, &bytes));

	ASSERT_EQ(0, param_set("max_region_size", 2 * PAGE));
	ASSERT_EQ(-E2BIG, region_create(self->dev, self->name, 2 * PAGE + 1,
					0600, 0, NULL));
	ASSERT_EQ(0, param_set("max_region_size", self->saved[0]));

	ASSERT_EQ(0, param_set("max_regions", live + 1));
	fd = region_create(self->dev, self->name, PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-ENOSPC, region_create(self->dev, "lim-two", PAGE, 0600, 0,
					 NULL));
	ASSERT_EQ(0, param_set("max_regions", self->saved[1]));

	ASSERT_EQ(0, param_set("max_total_bytes", bytes + 3 * PAGE));
	ASSERT_EQ(-ENOSPC, region_create(self->dev, "lim-two", 3 * PAGE, 0600,
					 0, NULL));
	ASSERT_EQ(0, param_set("max_total_bytes", self->saved[2]));

	/* Per user: root's page counts against root, not against uid 1000. */
	ASSERT_EQ(0, param_set("max_user_bytes", 2 * PAGE));
	ASSERT_EQ(-ENOSPC, region_create(self->dev, "lim-two", 2 * PAGE, 0600,
					 0, NULL));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char n[SHMIPC_NAME_MAX];
		int a, b;

		if (setgid(1000) || setuid(1000))
			_exit(1);
		uname_of(n, "lim-user");
		a = region_create(self->dev, n, 2 * PAGE, 0600, 0, NULL);
		b = region_create(self->dev, "lim-user-more", PAGE, 0600, 0, NULL);
		region_unlink(self->dev, n);
		_exit(a >= 0 && b == -ENOSPC ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	close(fd);
}

/* max_region_size bounds the size rounded up to pages, not the request. */
TEST_F(limits, region_size_after_rounding)
{
	int fd;

	ASSERT_EQ(0, param_set("max_region_size", 2 * PAGE + 100));
	ASSERT_EQ(-E2BIG, region_create(self->dev, self->name, 2 * PAGE + 1,
					0600, 0, NULL));
	fd = region_create(self->dev, self->name, 2 * PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	close(fd);
}

/*
 * As the caller's user: creates regions until refused; the exit status
 * is how many (at most 100), plus 128 when the refusal was -ENOSPC. With
 * @hold, waits for a SIGTERM before it unlinks them and exits.
 */
static int create_until_refused(int dev, int hold)
{
	char name[SHMIPC_NAME_MAX];
	int fds[100], n, ret = 0, i;
	sigset_t set;

	for (n = 0; n < 100; n++) {
		snprintf(name, sizeof(name), "lim-u%d-%d", (int)getpid(), n);
		ret = region_create(dev, name, PAGE, 0600, SHMIPC_CREATE_EXCL,
				    NULL);
		if (ret < 0)
			break;
		fds[n] = ret;
	}
	if (hold) {
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		kill(getpid(), SIGSTOP);	/* the parent sees it stop */
		sigwait(&set, &i);
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "lim-u%d-%d", (int)getpid(), i);
		region_unlink(dev, name);
		close(fds[i]);
	}
	return n + (ret == -ENOSPC ? 128 : 0);
}

static int create_one(int dev, int unused)
{
	char name[SHMIPC_NAME_MAX];
	int fd;

	uname_of(name, "lim-one");
	fd = region_create(dev, name, PAGE, 0600, SHMIPC_CREATE_EXCL, NULL);
	if (fd < 0)
		return -fd;
	region_unlink(dev, name);
	return 0;
}

/*
 * max_user_regions: one user who reached it can create no more, while
 * other users still can.
 */
TEST_F(limits, user_regions)
{
	int status;
	pid_t hog;

	ASSERT_EQ(0, param_set("max_user_regions", 5));
	ASSERT_EQ(128 + 5, run_as(1001, create_until_refused, self->dev, 0));

	hog = spawn_as(1001, create_until_refused, self->dev, 1);
	ASSERT_LE(0, hog);
	ASSERT_EQ(hog, waitpid(hog, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status));
	/* 1001 holds its five: 1002 is not refused. */
	ASSERT_EQ(0, run_as(1002, create_one, self->dev, 0));
	kill(hog, SIGTERM);
	kill(hog, SIGCONT);
	ASSERT_EQ(128 + 5, reap(hog));
}

/* By default a user may hold a quarter of max_regions. */
TEST_F(limits, user_regions_default_share)
{
	unsigned long long bytes;
	unsigned int live, named;

	ASSERT_EQ(0, module_totals(&live, &named, &bytes));
	if (live > 20)
		SKIP(return, "%u live regions: no room to measure the share", live);
	ASSERT_EQ(0, param_set("max_user_regions", 0));
	ASSERT_EQ(0, param_set("max_regions", 40));
	ASSERT_EQ(128 + 10, run_as(1001, create_until_refused, self->dev, 0));
}

struct racer {
	int dev;
	const char *name;
	uint32_t flags;
	pthread_barrier_t *go;
	int fd;
};

static void *race_create(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->fd = region_create(r->dev, r->name, PAGE, 0600, r->flags, NULL);
	return NULL;
}

/*
 * Two CREATEs of one new name at once, with room for exactly one more
 * region: one creates it, the other opens it (or, with
 * SHMIPC_CREATE_EXCL, gets -EEXIST); neither is refused for a limit.
 */
TEST_F(limits, racing_creates_charge_once)
{
	struct racer r[2] = {
		{ .dev = self->dev, .name = self->name },
		{ .dev = self->dev, .name = self->name },
	};
	unsigned long long bytes;
	unsigned int live, named;
	pthread_barrier_t go;
	pthread_t th[2];
	int round, i, ok;

	ASSERT_EQ(0, module_totals(&live, &named, &bytes));
	ASSERT_EQ(0, param_set("max_regions", live + 1));
	ASSERT_EQ(0, pthread_barrier_init(&go, NULL, 2));
	for (round = 0; round < 400; round++) {
		for (i = 0; i < 2; i++) {
			r[i].go = &go;
			r[i].flags = round & 1 ? SHMIPC_CREATE_EXCL : 0;
			ASSERT_EQ(0, pthread_create(&th[i], NULL, race_create, &r[i]));
		}
		for (i = 0; i < 2; i++)
			ASSERT_EQ(0, pthread_join(th[i], NULL));
		for (i = 0, ok = 0; i < 2; i++) {
			ASSERT_NE(-ENOSPC, r[i].fd) TH_LOG("round %d", round);
			if (r[i].fd >= 0) {
				ok++;
				close(r[i].fd);
			} else {
				ASSERT_EQ(-EEXIST, r[i].fd);
			}
		}
		ASSERT_EQ(round & 1 ? 1 : 2, ok) TH_LOG("round %d", round);
		ASSERT_EQ(0, region_unlink(self->dev, self->name));
	}
	pthread_barrier_destroy(&go);
}

TEST_HARNESS_MAIN
