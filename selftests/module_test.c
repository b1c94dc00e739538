// SPDX-License-Identifier: GPL-2.0-only
/*
 * Module lifetime: a region fd or mapping pins the module; unloading with no
 * users frees every region, named ones included. Needs root and the path of
 * the module in SHMIPC_KO, to load it again afterwards; run it last.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "helpers.h"
#include "kselftest_harness.h"

static int module_unload(void)
{
	return syscall(SYS_delete_module, "shmipc", O_NONBLOCK) ? -errno : 0;
}

static int module_load(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

#define CG_ROOT	"/sys/fs/cgroup"
#define CG_TEST	CG_ROOT "/shmipc-test"

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* Moves the caller into a fresh memory cgroup of its own. */
static int join_memcg(void)
{
	char pid[32];

	if (access(CG_ROOT "/cgroup.controllers", F_OK) &&
	    mount("cgroup2", CG_ROOT, "cgroup2", 0, NULL))
		return -errno;
	if (write_str(CG_ROOT "/cgroup.subtree_control", "+memory"))
		return -EIO;
	if (mkdir(CG_TEST, 0755) && errno != EEXIST)
		return -errno;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	return write_str(CG_TEST "/cgroup.procs", pid);
}

static void leave_memcg(void)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	write_str(CG_ROOT "/cgroup.procs", pid);
	rmdir(CG_TEST);
}

/* Bytes charged to the test's memory cgroup, or -1. */
static long long memcg_bytes(void)
{
	long long v = -1;
	FILE *f = fopen(CG_TEST "/memory.current", "r");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

FIXTURE(mod) {
	const char *ko;
};

FIXTURE_SETUP(mod)
{
	self->ko = getenv("SHMIPC_KO");
	if (!self->ko || geteuid())
		SKIP(return, "needs root and SHMIPC_KO=<path of shmipc.ko>");
	if (access(SHMIPC_DEV, F_OK))
		ASSERT_EQ(0, module_load(self->ko));
}

FIXTURE_TEARDOWN(mod)
{
	if (self->ko && access(SHMIPC_DEV, F_OK))
		module_load(self->ko);
}

TEST_F(mod, pinned_by_fd_and_mapping)
{
	void *p;
	int dev, fd;

	dev = open(SHMIPC_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	ASSERT_EQ(-EAGAIN, module_unload()) TH_LOG("the device fd pins it");
	fd = region_create(dev, "pin", 4096, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, region_unlink(dev, "pin"));
	close(dev);
	ASSERT_EQ(-EAGAIN, module_unload()) TH_LOG("the region fd pins it");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	close(fd);
	ASSERT_EQ(-EAGAIN, module_unload()) TH_LOG("the mapping pins it");
	memset(p, 1, 4096);
	munmap(p, 4096);
	ASSERT_EQ(0, module_unload());
	ASSERT_EQ(0, module_load(self->ko));
}

/* A region the creator's memory cgroup cannot hold fails, leaving nothing. */
TEST_F(mod, memcg_limit_gives_enomem)
{
	unsigned long long b0, b1;
	unsigned int live0, live1, named;
	int dev;

	ASSERT_EQ(0, join_memcg());
	ASSERT_EQ(0, write_str(CG_TEST "/memory.max", "16777216"));
	dev = open(SHMIPC_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, module_totals(&live0, &named, &b0));
	ASSERT_EQ(-ENOMEM, region_create(dev, "too-big-for-cg", 64 << 20, 0600,
					 0, NULL));
	ASSERT_EQ(-ENOENT, region_open(dev, "too-big-for-cg",
				       SHMIPC_ACCESS_RDONLY, NULL));
	ASSERT_EQ(0, module_totals(&live1, &named, &b1));
	ASSERT_EQ(live0, live1);
	ASSERT_EQ(b0, b1);
	close(dev);
	ASSERT_EQ(0, write_str(CG_TEST "/memory.max", "max"));
	leave_memcg();
}

/*
 * Region pages are charged to the creator's memory cgroup, and unloading
 * the module with named regions but no users gives every byte back.
 */
TEST_F(mod, memcg_charge_and_unload_frees)
{
	const long long size = 64 << 20;
	long long m0, m1, m2;
	struct shmipc_list l = { 0 };
	char *p;
	int dev, fd, i;

	ASSERT_EQ(0, join_memcg());
	m0 = memcg_bytes();
	ASSERT_LE(0, m0);
	dev = open(SHMIPC_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	for (i = 0; i < 4; i++) {
		char name[SHMIPC_NAME_MAX];

		snprintf(name, sizeof(name), "keep-%d", i);
		fd = region_create(dev, name, size / 4, 0600, 0, NULL);
		ASSERT_LE(0, fd);
		p = mmap(NULL, size / 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, p);
		memset(p, 0x77, size / 4);
		munmap(p, size / 4);
		close(fd);
	}
	close(dev);
	m1 = memcg_bytes();
	TH_LOG("creating %lld KiB of regions charged %lld KiB", size >> 10,
	       (m1 - m0) >> 10);
	ASSERT_LE(m0 + size, m1);

	ASSERT_EQ(0, module_unload());
	m2 = memcg_bytes();
	TH_LOG("unloading gave back %lld KiB", (m1 - m2) >> 10);
	/* Per-cpu charge caches keep a few pages; allow 1/16. */
	ASSERT_LE(m1 - m2, m1);
	ASSERT_LE(size - size / 16, m1 - m2);
	leave_memcg();

	ASSERT_EQ(0, module_load(self->ko));
	dev = open(SHMIPC_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, dev);
	ASSERT_EQ(0, xioctl(dev, SHMIPC_IOC_LIST, &l));
	ASSERT_EQ(0, l.total);
	close(dev);
}

TEST_HARNESS_MAIN
