// SPDX-License-Identifier: GPL-2.0-only
/*
 * /dev/shmipc device calls and region files: CREATE, OPEN, UNLINK, LIST,
 * INFO, mmap rules, sharing between processes, permissions and lifetime
 * (the limits are limits_test.c's).
 */
#define _GNU_SOURCE
#include <grp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define PAGE 4096UL

FIXTURE(dev) {
	int dev;
	char name[SHMIPC_NAME_MAX];
};

FIXTURE_SETUP(dev)
{
	DEV_OPEN_OR_SKIP(self->dev);
	uname_of(self->name, "t");
}

FIXTURE_TEARDOWN(dev)
{
	region_unlink(self->dev, self->name);
	close(self->dev);
}

TEST_F(dev, version)
{
	ASSERT_EQ(SHMIPC_ABI_VERSION, xioctl(self->dev, SHMIPC_IOC_VERSION, NULL));
	/* Unknown commands, and region commands on the device, are -ENOTTY. */
	ASSERT_EQ(-ENOTTY, xioctl(self->dev, _IO(SHMIPC_IOC_MAGIC, 0x7f), NULL));
	ASSERT_EQ(-ENOTTY, xioctl(self->dev, SHMIPC_IOC_INFO, NULL));
	ASSERT_EQ(-ENOTTY, xioctl(self->dev, TCGETS, NULL));
}

TEST_F(dev, dev_mode)
{
	struct stat st;

	ASSERT_EQ(0, stat(SHMIPC_DEV, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(param_get("dev_mode"), (long long)(st.st_mode & 07777));
}

TEST_F(dev, create_map_info)
{
	struct shmipc_create c;
	struct shmipc_info info;
	unsigned char *p;
	int fd, flags;
	size_t i;

	fd = region_create(self->dev, self->name, 3 * PAGE + 1, 0640,
			   SHMIPC_CREATE_EXCL, &c);
	ASSERT_LE(0, fd);
	ASSERT_EQ(4 * PAGE, c.size);
	ASSERT_EQ(SHMIPC_CREATED, c.flags);
	flags = fcntl(fd, F_GETFD);
	ASSERT_TRUE(flags & FD_CLOEXEC);

	p = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < c.size; i++)
		ASSERT_EQ(0, p[i]);
	memset(p, 0x5a, c.size);

	ASSERT_EQ(0, region_info(fd, &info));
	ASSERT_STREQ(self->name, info.name);
	ASSERT_EQ(4 * PAGE, info.size);
	ASSERT_EQ(getuid(), info.uid);
	ASSERT_EQ(getgid(), info.gid);
	ASSERT_EQ(0640, info.mode);
	ASSERT_EQ(SHMIPC_ACCESS_RDWR, info.access);
	ASSERT_EQ(0, info.flags);
	ASSERT_EQ(1, info.nr_fds);
	ASSERT_EQ(1, info.nr_mappings);
	ASSERT_EQ(0, info.nr_waiters);
	ASSERT_NE(0, info.id);
	/* Region fds answer only region commands. */
	ASSERT_EQ(-ENOTTY, xioctl(fd, SHMIPC_IOC_VERSION, NULL));
	ASSERT_EQ(-EFAULT, xioctl(fd, SHMIPC_IOC_INFO, NULL));

	ASSERT_EQ(0, munmap(p, c.size));
	ASSERT_EQ(0, region_info(fd, &info));
	ASSERT_EQ(0, info.nr_mappings);
	close(fd);
}

TEST_F(dev, create_existing)
{
	struct shmipc_info a, b;
	struct shmipc_create c;
	int fd, fd2;

	fd = region_create(self->dev, self->name, 2 * PAGE, 0600, 0, &c);
	ASSERT_LE(0, fd);
	ASSERT_EQ(SHMIPC_CREATED, c.flags);
	/* Open-or-create finds it: same region, not created, its size. */
	fd2 = region_create(self->dev, self->name, PAGE, 0644, 0, &c);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, c.flags);
	ASSERT_EQ(2 * PAGE, c.size);
	ASSERT_EQ(0, region_info(fd, &a));
	ASSERT_EQ(0, region_info(fd2, &b));
	ASSERT_EQ(a.id, b.id);
	ASSERT_EQ(0600, b.mode);
	ASSERT_EQ(2, b.nr_fds);
	ASSERT_EQ(-EEXIST, region_create(self->dev, self->name, PAGE, 0600,
					 SHMIPC_CREATE_EXCL, NULL));
	ASSERT_EQ(-EINVAL, region_create(self->dev, self->name, 3 * PAGE, 0600,
					 0, NULL));
	close(fd2);
	close(fd);
}

TEST_F(dev, create_bad_args)
{
	static const char *const bad_names[] = {
		"", "a/b", "with space", "tab\there", "del\x7f", "\x80high",
	};
	struct shmipc_create c;
	unsigned int i;

	ASSERT_EQ(-EINVAL, region_create(self->dev, self->name, 0, 0600, 0, NULL));
	ASSERT_EQ(-EINVAL, region_create(self->dev, self->name, PAGE, 01600, 0, NULL));
	ASSERT_EQ(-EINVAL, region_create(self->dev, self->name, PAGE, 0600, 2, NULL));
	ASSERT_EQ(-EINVAL, region_create(self->dev, self->name, PAGE, 0600,
					 1U << 31, NULL));
	ASSERT_EQ(-E2BIG, region_create(self->dev, self->name, UINT64_MAX, 0600,
					0, NULL));
	ASSERT_EQ(-E2BIG, region_create(self->dev, self->name,
					param_get("max_region_size") + 1, 0600,
					0, NULL));
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
		ASSERT_EQ(-EINVAL, region_create(self->dev, bad_names[i], PAGE,
						 0600, 0, NULL));

	memset(&c, 0, sizeof(c));
	c.size = PAGE;
	c.mode = 0600;
	memset(c.name, 'x', sizeof(c.name));	/* no NUL */
	ASSERT_EQ(-EINVAL, xioctl(self->dev, SHMIPC_IOC_CREATE, &c));
	set_name(c.name, self->name);
	c.name[SHMIPC_NAME_MAX - 1] = 'x';	/* garbage after the NUL */
	ASSERT_EQ(-EINVAL, xioctl(self->dev, SHMIPC_IOC_CREATE, &c));
	set_name(c.name, self->name);
	c.reserved[2] = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->dev, SHMIPC_IOC_CREATE, &c));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_CREATE, NULL));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_CREATE,
				  (void *)0xffffffff81000000UL));
	/* Nothing was created by any of it. */
	ASSERT_EQ(-ENOENT, region_open(self->dev, self->name,
				       SHMIPC_ACCESS_RDONLY, NULL));
}

TEST_F(dev, create_unwritable_result)
{
	struct shmipc_create *c;
	void *ro;

	/* The answer cannot be written back: no fd, and no region left. */
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	c = ro;
	set_name(c->name, self->name);
	c->size = PAGE;
	c->mode = 0600;
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_CREATE, c));
	ASSERT_EQ(-ENOENT, region_open(self->dev, self->name,
				       SHMIPC_ACCESS_RDONLY, NULL));
	munmap(ro, PAGE);
}

TEST_F(dev, open_access)
{
	uint64_t size = 0;
	struct shmipc_info info;
	char *w, *r;
	int fd, rw, ro;

	fd = region_create(self->dev, self->name, 2 * PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	rw = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, &size);
	ASSERT_LE(0, rw);
	ASSERT_EQ(2 * PAGE, size);
	ASSERT_TRUE(fcntl(rw, F_GETFD) & FD_CLOEXEC);
	ro = region_open(self->dev, self->name, SHMIPC_ACCESS_RDONLY, &size);
	ASSERT_LE(0, ro);
	ASSERT_EQ(0, region_info(ro, &info));
	ASSERT_EQ(SHMIPC_ACCESS_READ, info.access);
	ASSERT_EQ(3, info.nr_fds);

	w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
	ASSERT_NE(MAP_FAILED, w);
	/* A read-only fd never gives a writable mapping. */
	ASSERT_EQ(MAP_FAILED, mmap(NULL, size, PROT_READ | PROT_WRITE,
				   MAP_SHARED, ro, 0));
	ASSERT_EQ(EACCES, errno);
	r = mmap(NULL, size, PROT_READ, MAP_SHARED, ro, 0);
	ASSERT_NE(MAP_FAILED, r);
	ASSERT_EQ(-1, mprotect(r, size, PROT_READ | PROT_WRITE));
	ASSERT_EQ(EACCES, errno);
	strcpy(w + PAGE, "through another fd");
	ASSERT_STREQ("through another fd", r + PAGE);
	munmap(r, size);
	munmap(w, size);
	close(ro);
	close(rw);
	close(fd);
}

TEST_F(dev, open_errors)
{
	struct shmipc_open o;
	int fd;

	ASSERT_EQ(-ENOENT, region_open(self->dev, self->name,
				       SHMIPC_ACCESS_RDWR, NULL));
	fd = region_create(self->dev, self->name, PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(-EINVAL, region_open(self->dev, self->name, 0, NULL));
	ASSERT_EQ(-EINVAL, region_open(self->dev, self->name,
				       SHMIPC_ACCESS_WRITE, NULL));
	ASSERT_EQ(-EINVAL, region_open(self->dev, self->name, 4, NULL));
	ASSERT_EQ(-EINVAL, region_open(self->dev, "bad/name",
				       SHMIPC_ACCESS_RDWR, NULL));
	memset(&o, 0, sizeof(o));
	set_name(o.name, self->name);
	o.access = SHMIPC_ACCESS_RDWR;
	o.reserved[1] = 7;
	ASSERT_EQ(-EINVAL, xioctl(self->dev, SHMIPC_IOC_OPEN, &o));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_OPEN, NULL));
	close(fd);
}

TEST_F(dev, unlink)
{
	struct shmipc_create c;
	struct shmipc_info a, b;
	struct shmipc_unlink u;
	char *p, *q;
	int fd, fd2;

	fd = region_create(self->dev, self->name, PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	strcpy(p, "old");

	memset(&u, 0, sizeof(u));
	set_name(u.name, self->name);
	u.reserved[0] = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->dev, SHMIPC_IOC_UNLINK, &u));
	ASSERT_EQ(-EINVAL, region_unlink(self->dev, ""));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_UNLINK, NULL));

	ASSERT_EQ(0, region_unlink(self->dev, self->name));
	ASSERT_EQ(-ENOENT, region_unlink(self->dev, self->name));
	ASSERT_EQ(-ENOENT, region_open(self->dev, self->name,
				       SHMIPC_ACCESS_RDWR, NULL));
	ASSERT_EQ(0, region_info(fd, &a));
	ASSERT_EQ(SHMIPC_INFO_UNLINKED, a.flags);
	/* The old region lives on through its fd and mapping. */
	ASSERT_STREQ("old", p);

	/* The name can be used again, for a new, zeroed region. */
	fd2 = region_create(self->dev, self->name, PAGE, 0600,
			    SHMIPC_CREATE_EXCL, &c);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, region_info(fd2, &b));
	ASSERT_NE(a.id, b.id);
	q = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd2, 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, q[0]);
	munmap(q, PAGE);
	munmap(p, PAGE);
	close(fd2);
	close(fd);
}

TEST_F(dev, list)
{
	struct shmipc_list_entry ents[64];
	struct shmipc_list l;
	char names[3][SHMIPC_NAME_MAX];
	int fds[3], seen = 0;
	unsigned int i, j;

	for (i = 0; i < 3; i++) {
		snprintf(names[i], sizeof(names[i]), "%.50s.%u", self->name, i);
		fds[i] = region_create(self->dev, names[i], (i + 1) * PAGE,
				       0600 + i, 0, NULL);
		ASSERT_LE(0, fds[i]);
	}

	memset(&l, 0, sizeof(l));
	ASSERT_EQ(0, xioctl(self->dev, SHMIPC_IOC_LIST, &l));
	ASSERT_EQ(0, l.count);
	ASSERT_LE(3, l.total);
	ASSERT_GE(64, l.total) TH_LOG("other regions fill the list");

	memset(&l, 0, sizeof(l));
	l.entries = (uintptr_t)ents;
	l.capacity = 64;
	ASSERT_EQ(0, xioctl(self->dev, SHMIPC_IOC_LIST, &l));
	ASSERT_EQ(l.total, l.count);
	for (i = 0; i < l.count; i++)
		for (j = 0; j < 3; j++)
			if (!strcmp(ents[i].name, names[j])) {
				ASSERT_EQ((j + 1) * PAGE, ents[i].size);
				ASSERT_EQ(0600 + j, ents[i].mode);
				ASSERT_EQ(getuid(), ents[i].uid);
				ASSERT_EQ(1, ents[i].nr_fds);
				seen |= 1 << j;
			}
	ASSERT_EQ(7, seen);

	l.capacity = 1;
	ASSERT_EQ(0, xioctl(self->dev, SHMIPC_IOC_LIST, &l));
	ASSERT_EQ(1, l.count);

	l.entries = 16;		/* unmapped */
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_LIST, &l));
	l.entries = (uintptr_t)ents;
	l.reserved[0] = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->dev, SHMIPC_IOC_LIST, &l));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_LIST, NULL));

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, region_unlink(self->dev, names[i]));
		close(fds[i]);
	}
}

TEST_F(dev, mmap_rules)
{
	char *p, *q;
	int fd;

	fd = region_create(self->dev, self->name, 4 * PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, fd, 0));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ | PROT_EXEC,
				   MAP_SHARED, fd, 0));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd,
				   4 * PAGE));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, fd,
				   3 * PAGE));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, 5 * PAGE, PROT_READ, MAP_SHARED, fd, 0));
	ASSERT_EQ(EINVAL, errno);

	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(-1, mprotect(p, PAGE, PROT_READ | PROT_EXEC));
	ASSERT_EQ(EACCES, errno);
	/* No growth by mremap. */
	ASSERT_EQ(MAP_FAILED, mremap(p, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE));
	strcpy(p + 2 * PAGE, "page two");

	/* A window at a page offset sees the same bytes. */
	q = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 2 * PAGE);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_STREQ("page two", q);
	munmap(q, PAGE);
	munmap(p, 4 * PAGE);
	close(fd);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* A child opens by name, one inherits the fd, one gets it by SCM_RIGHTS. */
TEST_F(dev, two_processes)
{
	int fd, sv[2], status, i;
	volatile char *p;
	pid_t pid;

	fd = region_create(self->dev, self->name, PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

	for (i = 0; i < 3; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			int cfd = fd;
			char *c;

			if (i == 0)
				cfd = region_open(self->dev, self->name,
						  SHMIPC_ACCESS_RDWR, NULL);
			else if (i == 2)
				cfd = recv_fd(sv[1]);
			if (cfd < 0)
				_exit(10);
			c = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				 MAP_SHARED, cfd, 0);
			if (c == MAP_FAILED)
				_exit(11);
			c[i] = 'A' + i;
			_exit(0);
		}
		if (i == 2)
			ASSERT_EQ(0, send_fd(sv[0], fd));
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
		ASSERT_EQ('A' + i, p[i]);
	}
	/* And the other way: the child reads what the parent wrote. */
	p[100] = 42;
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(p[100] == 42 ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	close(sv[0]);
	close(sv[1]);
	munmap((void *)p, PAGE);
	close(fd);
}

/* Runs @fn in a child with the given ids; returns its exit code. */
static int as_user(uid_t uid, gid_t gid, int (*fn)(int dev, const char *name),
		   int dev, const char *name)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 100;
	if (!pid) {
		if (setgroups(0, NULL) || setgid(gid) || setuid(uid))
			_exit(101);
		_exit(fn(dev, name));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 102;
	return WEXITSTATUS(status);
}

static int try_create_0640(int dev, const char *name)
{
	int fd = region_create(dev, name, PAGE, 0640, SHMIPC_CREATE_EXCL, NULL);

	/* Leave it named; the fd closes with the child. */
	return fd < 0 ? 1 : 0;
}

/* Exit code: 0 read ok and write denied, 1 read denied, 2 other. */
static int try_open(int dev, const char *name)
{
	int r = region_open(dev, name, SHMIPC_ACCESS_RDONLY, NULL);
	int w = region_open(dev, name, SHMIPC_ACCESS_RDWR, NULL);
	int c = region_create(dev, name, PAGE, 0600, 0, NULL);

	if (r == -EACCES && w == -EACCES && c == -EACCES)
		return 1;
	if (r >= 0 && w == -EACCES && c == -EACCES)
		return 0;
	return 2;
}

static int try_unlink(int dev, const char *name)
{
	return region_unlink(dev, name) == -EPERM ? 0 : 1;
}

static int try_rdwr(int dev, const char *name)
{
	return region_open(dev, name, SHMIPC_ACCESS_RDWR, NULL) >= 0 ? 0 : 1;
}

TEST_F(dev, permissions)
{
	struct shmipc_info info;
	int fd;

	if (geteuid())
		SKIP(return, "needs root to switch users");
	/* Owner 1000:1000, mode 0640. */
	ASSERT_EQ(0, as_user(1000, 1000, try_create_0640, self->dev, self->name));
	fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDONLY, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, region_info(fd, &info));
	ASSERT_EQ(1000, info.uid);
	ASSERT_EQ(1000, info.gid);
	ASSERT_EQ(0640, info.mode);
	close(fd);

	ASSERT_EQ(0, as_user(1000, 1000, try_rdwr, self->dev, self->name));
	/* Same group: read only. Other: nothing. */
	ASSERT_EQ(0, as_user(1001, 1000, try_open, self->dev, self->name));
	ASSERT_EQ(1, as_user(1002, 1002, try_open, self->dev, self->name));
	ASSERT_EQ(1, as_user(65534, 65534, try_open, self->dev, self->name));
	/* Only the owner or CAP_SYS_ADMIN unlinks. */
	ASSERT_EQ(0, as_user(1001, 1000, try_unlink, self->dev, self->name));
	/* CAP_IPC_OWNER (root here) overrides the mode. */
	fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);
	ASSERT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, region_unlink(self->dev, self->name));
}

/* Unlink while mapped; the memory goes with the last mapping. */
TEST_F(dev, lifetime)
{
	const size_t size = 16 << 20;
	unsigned long long b0, b1, b2;
	unsigned int live0, live1, live2, named;
	struct shmipc_info info;
	char *p;
	int fd;

	ASSERT_EQ(0, module_totals(&live0, &named, &b0));
	fd = region_create(self->dev, self->name, size, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0xa5, size);
	ASSERT_EQ(0, region_unlink(self->dev, self->name));
	close(fd);

	/* Named no more, but alive and counted while mapped. */
	ASSERT_EQ(0, module_totals(&live1, &named, &b1));
	ASSERT_EQ(live0 + 1, live1);
	ASSERT_EQ(b0 + size, b1);
	ASSERT_EQ((char)0xa5, p[size - 1]);

	ASSERT_EQ(0, munmap(p, size));
	ASSERT_EQ(0, module_totals(&live2, &named, &b2));
	ASSERT_EQ(live0, live2);
	ASSERT_EQ(b0, b2);

	/* An fd alone keeps it too, until it is closed. */
	fd = region_create(self->dev, self->name, PAGE, 0600, 0, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, region_unlink(self->dev, self->name));
	ASSERT_EQ(0, region_info(fd, &info));
	ASSERT_EQ(SHMIPC_INFO_UNLINKED, info.flags);
	ASSERT_EQ(0, module_totals(&live1, &named, &b1));
	ASSERT_EQ(b0 + PAGE, b1);
	close(fd);
	ASSERT_EQ(0, module_totals(&live2, &named, &b2));
	ASSERT_EQ(b0, b2);
}

TEST_HARNESS_MAIN
