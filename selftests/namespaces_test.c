// SPDX-License-Identifier: GPL-2.0-only
/*
 * Namespaces: WAIT deadlines read in the caller's time namespace, and, on
 * kernels where the module keeps a registry per IPC namespace (6.12), the
 * split of names between IPC namespaces, the namespace in debugfs, the
 * capabilities that count in the namespace's user namespace, and the
 * removal of the names of a namespace nobody can enter any more.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define PAGE 4096UL
#define WAIT_NS 200000000LL	/* each wait in the time namespace */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	if (!ok)
		ok = -errno;
	close(fd);
	return ok == 1 ? 0 : ok;
}

struct timens_report {
	int abs_ret, rel_ret;
	int64_t abs_ns, rel_ns;		/* how long each wait took */
	int64_t clock;			/* CLOCK_MONOTONIC in the namespace */
};

/*
 * A child in a new time namespace, whose CLOCK_MONOTONIC is @offset_s
 * seconds off the host's, waits WAIT_NS on a word that does not change:
 * once to an absolute deadline read on its own clock, once with
 * SHMIPC_WAIT_RELATIVE. Each must time out after WAIT_NS, not an hour
 * later, nor at once.
 */
static void timens_waits(struct __test_metadata *_metadata, long offset_s)
{
	char text[64], name[SHMIPC_NAME_MAX];
	struct timens_report rep;
	struct pollfd pfd;
	int dev, fd, p[2], status, err;
	pid_t child;

	DEV_OPEN_OR_SKIP(dev);
	fd = region_create(dev, uname_of(name, "timens"), PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	region_unlink(dev, name);
	if (unshare(CLONE_NEWTIME))
		SKIP(return, "no time namespaces here: %s", strerror(errno));
	snprintf(text, sizeof(text), "monotonic %ld 0", offset_s);
	err = write_file("/proc/self/timens_offsets", text);
	ASSERT_EQ(0, err) TH_LOG("timens_offsets \"%s\": %s", text, strerror(-err));
	ASSERT_EQ(0, pipe(p));
	child = fork();		/* the first process of the namespace */
	ASSERT_LE(0, child);
	if (!child) {
		struct shmipc_wait w = { .offset = 0, .expected = 0 };
		int64_t t0;

		rep.clock = t0 = mono_ns();
		w.deadline_ns = t0 + WAIT_NS;
		rep.abs_ret = (int)xioctl(fd, SHMIPC_IOC_WAIT, &w);
		rep.abs_ns = mono_ns() - t0;
		t0 = mono_ns();
		w.flags = SHMIPC_WAIT_RELATIVE;
		w.deadline_ns = WAIT_NS;
		rep.rel_ret = (int)xioctl(fd, SHMIPC_IOC_WAIT, &w);
		rep.rel_ns = mono_ns() - t0;
		_exit(write(p[1], &rep, sizeof(rep)) == sizeof(rep) ? 0 : 1);
	}
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 30000) != 1) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		ASSERT_TRUE(0) TH_LOG("two %lld ms waits took over 30 s",
				      WAIT_NS / 1000000);
	}
	ASSERT_EQ(sizeof(rep), read(p[0], &rep, sizeof(rep)));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	/* The namespace is in effect: the child's clock is off ours. */
	ASSERT_GT(5LL * 1000000000, llabs(rep.clock - mono_ns() -
					  offset_s * 1000000000LL));
	ASSERT_EQ(-ETIMEDOUT, rep.abs_ret);
	ASSERT_LE(WAIT_NS, rep.abs_ns);
	ASSERT_GT(10LL * 1000000000, rep.abs_ns);
	ASSERT_EQ(-ETIMEDOUT, rep.rel_ret);
	ASSERT_LE(WAIT_NS, rep.rel_ns);
	ASSERT_GT(10LL * 1000000000, rep.rel_ns);
	close(p[0]);
	close(p[1]);
	close(fd);
	close(dev);
}

/* An hour ahead: without the conversion, the wait would last an hour. */
TEST(time_namespace_ahead)
{
	timens_waits(_metadata, 3600);
}

/* Behind (by half the uptime): without it, the wait would end at once. */
TEST(time_namespace_behind)
{
	int64_t up_s = mono_ns() / 1000000000;

	if (up_s < 2)
		SKIP(return, "up for %lld s: too soon to go back", (long long)up_s);
	timens_waits(_metadata, -(long)(up_s / 2));
}

/* 'Y' or 'N' from the module's read-only ipc_namespaces parameter, or 0. */
static char per_ipc_ns(void)
{
	char c = 0;
	int fd = open(PARAM_DIR "ipc_namespaces", O_RDONLY);

	if (fd >= 0 && read(fd, &c, 1) != 1)
		c = 0;
	if (fd >= 0)
		close(fd);
	return c;
}

#define SKIP_UNLESS_PER_NS() do {						\
	char c_ = per_ipc_ns();							\
									\
	ASSERT_TRUE(c_ == 'Y' || c_ == 'N') TH_LOG("no ipc_namespaces parameter"); \
	if (c_ == 'N')								\
		SKIP(return, "one registry for the host on this kernel: it "	\
		     "exports no put_ipc_ns/init_ipc_ns to modules (6.1)");	\
} while (0)

/* The inode number of /proc/@pid/ns/ipc, as debugfs shows it. */
static unsigned long ipc_ns_of(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/ipc", pid);
	return stat(path, &st) ? 0 : st.st_ino;
}

/*
 * How many debugfs lines show a region named @name in namespace @ns, or,
 * with @ns 0, in any namespace.
 */
static int debugfs_count(const char *name, unsigned long ns)
{
	char line[512], n[SHMIPC_NAME_MAX];
	unsigned long long bytes;
	unsigned int live, named;
	unsigned long v;
	int found = 0;
	FILE *f;

	module_totals(&live, &named, &bytes);	/* mounts debugfs */
	f = fopen(DEBUGFS_REGIONS, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*u %63s %*u %*u %*u %*o %*d %*d %*d %*s %*u %*u %lu",
			   n, &v) == 2 && !strcmp(n, name) && (!ns || v == ns))
			found++;
	fclose(f);
	return found;
}

/* Is @name among the names LIST shows the caller? */
static int listed(int dev, const char *name)
{
	struct shmipc_list_entry ents[256];
	struct shmipc_list l = { .entries = (uintptr_t)ents, .capacity = 256 };
	uint32_t i;

	if (xioctl(dev, SHMIPC_IOC_LIST, &l))
		return -1;
	for (i = 0; i < l.count; i++)
		if (!strcmp(ents[i].name, name))
			return 1;
	return 0;
}

/*
 * A child in a new IPC namespace sees none of the host's names, creates
 * one of the same spelling as a region of its own, and one the host does
 * not see. Once the namespace has no process left, its names go.
 */
TEST(ipc_namespace_split)
{
	char host_name[SHMIPC_NAME_MAX], ns_name[SHMIPC_NAME_MAX];
	struct shmipc_create c;
	struct shmipc_info hi, ci;
	int dev, hfd, fd, up[2], down[2], status, i;
	pid_t child;
	char byte;

	DEV_OPEN_OR_SKIP(dev);
	SKIP_UNLESS_PER_NS();
	uname_of(host_name, "ns-host");
	hfd = region_create(dev, host_name, PAGE, 0600, 0, NULL);
	ASSERT_LE(0, hfd);
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		snprintf(ns_name, sizeof(ns_name), "ns-only-%d", (int)getpid());
		close(down[1]);
		if (unshare(CLONE_NEWIPC))
			_exit(10);
		if (region_open(dev, host_name, SHMIPC_ACCESS_RDONLY, NULL) != -ENOENT)
			_exit(11);
		if (listed(dev, host_name) != 0)
			_exit(12);
		fd = region_create(dev, host_name, 2 * PAGE, 0600, 0, &c);
		if (fd < 0 || !(c.flags & SHMIPC_CREATED) || c.size != 2 * PAGE)
			_exit(13);
		if (region_create(dev, ns_name, PAGE, 0600, 0, NULL) < 0)
			_exit(14);
		if (write(up[1], "r", 1) != 1)
			_exit(15);
		while (read(down[0], &byte, 1) > 0)
			;
		_exit(0);	/* leaves ns_name named, in a dying namespace */
	}
	close(down[0]);
	ASSERT_EQ(1, read(up[0], &byte, 1)) TH_LOG("the child failed early");
	snprintf(ns_name, sizeof(ns_name), "ns-only-%d", (int)child);

	/* Each side has its own region of that name; the child's is apart. */
	ASSERT_EQ(-ENOENT, region_open(dev, ns_name, SHMIPC_ACCESS_RDONLY, NULL));
	ASSERT_EQ(-ENOENT, region_unlink(dev, ns_name));
	ASSERT_EQ(0, listed(dev, ns_name));
	ASSERT_EQ(1, listed(dev, host_name));
	fd = region_open(dev, host_name, SHMIPC_ACCESS_RDONLY, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, region_info(fd, &ci));
	ASSERT_EQ(0, region_info(hfd, &hi));
	ASSERT_EQ(hi.id, ci.id);
	ASSERT_EQ(PAGE, ci.size);
	close(fd);
	/* debugfs names each region's namespace. */
	ASSERT_NE(0, ipc_ns_of(child));
	ASSERT_NE(ipc_ns_of(getpid()), ipc_ns_of(child));
	ASSERT_EQ(1, debugfs_count(ns_name, ipc_ns_of(child)));
	ASSERT_EQ(1, debugfs_count(host_name, ipc_ns_of(child)));
	ASSERT_EQ(1, debugfs_count(host_name, ipc_ns_of(getpid())));

	/* The namespace dies with the child: its names go within seconds. */
	close(down[1]);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	for (i = 0; i < 300 && debugfs_count(ns_name, 0); i++)
		usleep(100000);
	ASSERT_EQ(0, debugfs_count(ns_name, 0)) TH_LOG("%s outlived its namespace",
						     ns_name);
	ASSERT_EQ(1, debugfs_count(host_name, 0));
	ASSERT_EQ(1, listed(dev, host_name));
	ASSERT_EQ(0, region_unlink(dev, host_name));
	close(hfd);
	close(up[0]);
	close(up[1]);
	close(dev);
}

/*
 * CAP_IPC_OWNER and CAP_SYS_ADMIN count in the user namespace that owns
 * the region's IPC namespace: uid 1001, root of a user namespace of its
 * own with a new IPC namespace, opens and removes there a region that
 * root of the host made with mode 0600.
 */
TEST(ipc_namespace_capabilities)
{
	char name[SHMIPC_NAME_MAX], path[64];
	int dev, up[2], down[2], status, nsfd;
	pid_t child, maker;
	char byte;

	DEV_OPEN_OR_SKIP(dev);
	SKIP_UNLESS_PER_NS();
	if (geteuid())
		SKIP(return, "needs root, to act as another user");
	uname_of(name, "ns-cap");
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		int fd;

		close(down[1]);
		if (setgroups(0, NULL) || setresgid(1001, 1001, 1001) ||
		    setresuid(1001, 1001, 1001))
			_exit(20);
		/* Its /proc/self files are its own again, uid_map included. */
		if (prctl(PR_SET_DUMPABLE, 1))
			_exit(20);
		if (unshare(CLONE_NEWUSER | CLONE_NEWIPC))
			_exit(21);
		if (write_file("/proc/self/setgroups", "deny") ||
		    write_file("/proc/self/uid_map", "0 1001 1") ||
		    write_file("/proc/self/gid_map", "0 1001 1"))
			_exit(22);
		if (write(up[1], "r", 1) != 1)
			_exit(23);
		if (read(down[0], &byte, 1) != 1)
			_exit(24);
		fd = region_open(dev, name, SHMIPC_ACCESS_RDWR, NULL);
		if (fd < 0)
			_exit(25);
		if (region_unlink(dev, name))
			_exit(26);
		close(fd);
		_exit(0);
	}
	close(down[0]);
	if (read(up[0], &byte, 1) != 1) {
		ASSERT_EQ(child, waitpid(child, &status, 0));
		if (WEXITSTATUS(status) == 21)
			SKIP(return, "no user namespace for uid 1001 here");
		ASSERT_TRUE(0) TH_LOG("the child failed: %d", WEXITSTATUS(status));
	}
	/* Root of the host makes a 0600 region inside the child's namespace. */
	maker = fork();
	ASSERT_LE(0, maker);
	if (!maker) {
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/ns/ipc", (int)child);
		nsfd = open(path, O_RDONLY);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWIPC))
			_exit(1);
		fd = region_create(dev, name, PAGE, 0600, SHMIPC_CREATE_EXCL, NULL);
		_exit(fd >= 0 ? 0 : 2);
	}
	ASSERT_EQ(maker, waitpid(maker, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(-ENOENT, region_open(dev, name, SHMIPC_ACCESS_RDONLY, NULL));
	ASSERT_EQ(1, write(down[1], "g", 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	close(up[0]);
	close(up[1]);
	close(down[1]);
	close(dev);
}

TEST_HARNESS_MAIN
