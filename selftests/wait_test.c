// SPDX-License-Identifier: GPL-2.0-only
/*
 * SHMIPC_IOC_WAIT and SHMIPC_IOC_WAKE: futex semantics keyed by (region,
 * offset), timeouts, signals, and a two-process round-trip stress.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define PAGE 4096UL
#define SIZE (4 * PAGE)

FIXTURE(word) {
	int dev, fd;
	char name[SHMIPC_NAME_MAX];
	_Atomic uint32_t *w;	/* the whole region, as words */
};

FIXTURE_SETUP(word)
{
	DEV_OPEN_OR_SKIP(self->dev);
	uname_of(self->name, "w");
	self->fd = region_create(self->dev, self->name, SIZE, 0600, 0, NULL);
	ASSERT_LE(0, self->fd);
	self->w = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->w);
}

FIXTURE_TEARDOWN(word)
{
	munmap((void *)self->w, SIZE);
	close(self->fd);
	region_unlink(self->dev, self->name);
	close(self->dev);
}

TEST_F(word, bad_args)
{
	struct shmipc_wait w = { .offset = 0, .expected = 0, .deadline_ns = 1 };
	struct shmipc_wake k = { .offset = 0, .count = 1 };

	ASSERT_EQ(-EINVAL, word_wait(self->fd, 2, 0, 1));
	ASSERT_EQ(-EINVAL, word_wait(self->fd, SIZE, 0, 1));
	ASSERT_EQ(-EINVAL, word_wait(self->fd, SIZE - 2, 0, 1));
	ASSERT_EQ(-EINVAL, word_wait(self->fd, UINT64_MAX - 3, 0, 1));
	ASSERT_EQ(-EINVAL, word_wait(self->fd, 0, 0, -1));
	w.flags = SHMIPC_WAIT_FLAGS + 1;	/* past the defined bits */
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
	w.flags = 1U << 31;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
	w.flags = 0;
	w.deaths = 1;		/* a death count without the flag */
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
	w.deaths = 0;
	w.reserved = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
	ASSERT_EQ(-EFAULT, xioctl(self->fd, SHMIPC_IOC_WAIT, NULL));

	ASSERT_EQ(-EINVAL, word_wake(self->fd, 1, 1));
	ASSERT_EQ(-EINVAL, word_wake(self->fd, SIZE, 1));
	ASSERT_EQ(-EINVAL, word_wake(self->fd, UINT64_MAX & ~3ULL, 1));
	k.flags = 2;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_WAKE, &k));
	k.flags = 0;
	k.reserved = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_WAKE, &k));
	ASSERT_EQ(-EFAULT, xioctl(self->fd, SHMIPC_IOC_WAKE, NULL));
	/* Wait/wake are region calls, not device calls. */
	ASSERT_EQ(-ENOTTY, xioctl(self->dev, SHMIPC_IOC_WAIT, &w));
}

TEST_F(word, value_and_timeout)
{
	struct shmipc_wait rel = { .offset = 8, .expected = 0,
				   .flags = SHMIPC_WAIT_RELATIVE,
				   .deadline_ns = 50000000 };
	int64_t t0;

	self->w[SIZE / 4 - 1] = 7;
	/* The last word of the region is valid; a differing value returns. */
	ASSERT_EQ(-EAGAIN, word_wait(self->fd, SIZE - 4, 6, 0));
	ASSERT_EQ(-EAGAIN, word_wait(self->fd, 8, 1, 0));
	/* A deadline in the past times out at once, after the value check. */
	ASSERT_EQ(-ETIMEDOUT, word_wait(self->fd, SIZE - 4, 7, 1));
	t0 = mono_ns();
	ASSERT_EQ(-ETIMEDOUT, word_wait(self->fd, 8, 0, t0 + 50000000));
	ASSERT_LE(t0 + 50000000, mono_ns());
	/* A relative timeout counts from the call. */
	t0 = mono_ns();
	ASSERT_EQ(-ETIMEDOUT, xioctl(self->fd, SHMIPC_IOC_WAIT, &rel));
	ASSERT_LE(t0 + 50000000, mono_ns());
	rel.deadline_ns = INT64_MAX;	/* no overflow: the value is checked */
	rel.expected = 1;
	ASSERT_EQ(-EAGAIN, xioctl(self->fd, SHMIPC_IOC_WAIT, &rel));
	/* Nobody waits: wake finds no one. */
	ASSERT_EQ(0, word_wake(self->fd, 8, SHMIPC_WAKE_ALL));
	ASSERT_EQ(0, word_wake(self->fd, 8, 0));
}

/* Spawns @n children that wait on word @off (expected 0); returns once all sleep. */
static void spawn_waiters(struct __test_metadata *_metadata,
			  FIXTURE_DATA(word) *self, uint64_t off, int n,
			  pid_t *pids)
{
	struct shmipc_info info;
	int i, tries;

	for (i = 0; i < n; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i]) {
			int ret = word_wait(self->fd, off, 0,
					    mono_ns() + 20000000000LL);

			_exit(ret == 0 ? 0 : -ret);
		}
	}
	for (tries = 0; tries < 10000; tries++) {
		ASSERT_EQ(0, region_info(self->fd, &info));
		if (info.nr_waiters == (uint32_t)n)
			break;
		usleep(1000);
	}
	ASSERT_EQ(n, info.nr_waiters);
}

static int reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * The module's bucket for a word: hash_64(offset, 5) as in kmod/wait.c.
 * Only used to aim a wake at another word of the same bucket.
 */
static unsigned int bucket_of(uint64_t off)
{
	return (unsigned int)((off * 0x61C8864680B583EBULL) >> (64 - 5));
}

TEST_F(word, wake_counts)
{
	uint64_t same = 68;
	pid_t pids[3];
	int i;

	while (bucket_of(same) != bucket_of(64))
		same += 4;
	ASSERT_GT(SIZE, same);
	spawn_waiters(_metadata, self, 64, 3, pids);
	/* Another word, even one in the same bucket, wakes no one. */
	ASSERT_EQ(0, word_wake(self->fd, 68, SHMIPC_WAKE_ALL));
	ASSERT_EQ(0, word_wake(self->fd, same, SHMIPC_WAKE_ALL));
	ASSERT_EQ(2, word_wake(self->fd, 64, 2));
	ASSERT_EQ(1, word_wake(self->fd, 64, SHMIPC_WAKE_ALL));
	ASSERT_EQ(0, word_wake(self->fd, 64, SHMIPC_WAKE_ALL));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, reap(pids[i]));
}

/* The key is (region, offset): another fd and mapping name the same word. */
TEST_F(word, keyed_by_region)
{
	_Atomic uint32_t *other;
	uint64_t size;
	pid_t pid;
	int fd2;

	fd2 = region_open(self->dev, self->name, SHMIPC_ACCESS_RDONLY, &size);
	ASSERT_LE(0, fd2);
	other = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, other);
	ASSERT_NE(other, self->w);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Sleeps through the read-only fd until the word changes. */
		while (other[100] == 0) {
			int ret = word_wait(fd2, 400, 0,
					    mono_ns() + 20000000000LL);

			if (ret && ret != -EAGAIN)
				_exit(-ret);
		}
		_exit(other[100] == 5 ? 0 : 99);
	}
	usleep(20000);
	self->w[100] = 5;
	word_wake(self->fd, 400, 1);
	ASSERT_EQ(0, reap(pid));
	munmap((void *)other, SIZE);
	close(fd2);
}

static void on_usr1(int sig)
{
	(void)sig;
}

TEST_F(word, eintr)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	struct shmipc_info info;
	pid_t pid;
	int tries;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int ret;

		/* Even with SA_RESTART the call is not restarted. */
		sigaction(SIGUSR1, &sa, NULL);
		ret = word_wait(self->fd, 12, 0, 0);
		_exit(ret == -EINTR ? 0 : 1);
	}
	for (tries = 0; tries < 10000; tries++) {
		ASSERT_EQ(0, region_info(self->fd, &info));
		if (info.nr_waiters == 1)
			break;
		usleep(1000);
	}
	ASSERT_EQ(1, info.nr_waiters);
	kill(pid, SIGUSR1);
	ASSERT_EQ(0, reap(pid));
	ASSERT_EQ(0, region_info(self->fd, &info));
	ASSERT_EQ(0, info.nr_waiters);
}

/* A fatal signal ends a waiter without a deadline. */
TEST_F(word, killed_waiter)
{
	struct shmipc_info info;
	int status, tries;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		word_wait(self->fd, 16, 0, 0);
		_exit(1);
	}
	for (tries = 0; tries < 10000; tries++) {
		ASSERT_EQ(0, region_info(self->fd, &info));
		if (info.nr_waiters == 1)
			break;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(0, region_info(self->fd, &info));
	ASSERT_EQ(0, info.nr_waiters);
}

#define ROUNDS 100000

/*
 * Ping-pong on one word: the parent turns it odd, the child turns it even,
 * each sleeping in WAIT until the other's turn is done. A lost wake-up shows
 * as a wait that reaches its (generous) deadline.
 */
static int pingpong_side(int fd, _Atomic uint32_t *turn, int parity,
			 unsigned long *sleeps)
{
	uint32_t i;

	for (i = parity; i < 2 * ROUNDS; i += 2) {
		uint32_t cur;

		/* Wait for my turn: the word equals i. */
		while ((cur = atomic_load(turn)) != i) {
			int ret = word_wait(fd, 0, cur,
					    mono_ns() + 10000000000LL);

			if (ret == 0)
				(*sleeps)++;
			else if (ret != -EAGAIN)
				return -ret;
		}
		atomic_store(turn, i + 1);
		if (word_wake(fd, 0, 1) < 0)
			return 200;
	}
	return 0;
}

TEST_F_TIMEOUT(word, pingpong_100k, 900)
{
	unsigned long sleeps = 0;
	pid_t pid;
	int ret;

	atomic_store(&self->w[0], 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		unsigned long child_sleeps = 0;

		_exit(pingpong_side(self->fd, &self->w[0], 1, &child_sleeps));
	}
	ret = pingpong_side(self->fd, &self->w[0], 0, &sleeps);
	ASSERT_EQ(0, ret) TH_LOG("parent: %s", strerror(ret));
	ASSERT_EQ(0, reap(pid));
	ASSERT_EQ(2 * ROUNDS, atomic_load(&self->w[0]));
	TH_LOG("%d round trips, parent slept %lu times", ROUNDS, sleeps);
	ASSERT_LT(0, sleeps);
}

TEST_HARNESS_MAIN
