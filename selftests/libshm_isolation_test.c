// SPDX-License-Identifier: GPL-2.0-only
/*
 * Processes that do not share everything: a peer in another pid namespace
 * (a container sharing /dev/shm, or the device, but not pids, with its own
 * /proc) is alive to the others and they to it, and dies when it dies; a
 * region name another user planted is not adopted by a creating open; a
 * posix object truncated under the region is refused at open. Either
 * backend (the truncation test is posix's); the namespace and other-user
 * tests need root, or unprivileged user namespaces, and report SKIP
 * without them.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"

FIXTURE(iso) {
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
};

FIXTURE_SETUP(iso)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE,
				    .mode = 0666 };

	uname_of(self->name, "iso");
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(self->name, &o, &self->shm));
}

FIXTURE_TEARDOWN(iso)
{
	shmipc_close(self->shm);
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

static bool is_posix(struct shmipc *shm)
{
	return !strcmp(shmipc_backend_name(shm), "posix");
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok ? 0 : -EIO;
}

/*
 * Into new pid and mount namespaces (and a user namespace when not root),
 * with a /proc of the new pid namespace's own, as a container has. Returns
 * 0 in the caller, which must then fork: its child is pid 1 there.
 */
static int enter_container(void)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int flags = CLONE_NEWPID | CLONE_NEWNS;

	if (uid)
		flags |= CLONE_NEWUSER;
	if (unshare(flags))
		return -errno;
	if (uid) {
		snprintf(map, sizeof(map), "0 %u 1", uid);
		write_file("/proc/self/setgroups", "deny");
		if (write_file("/proc/self/uid_map", map))
			return -EPERM;
		snprintf(map, sizeof(map), "0 %u 1", gid);
		if (write_file("/proc/self/gid_map", map))
			return -EPERM;
	}
	/* Nothing mounted here may reach the host's mount table. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	return 0;
}

/* In the container's pid 1: its own /proc, as `unshare --mount-proc` does. */
static int mount_own_proc(void)
{
	return mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) ?
	       -errno : 0;
}

struct box {
	_Atomic int stage;		/* 1: a peer, holding; 2: go on; 3: done */
	_Atomic int err;
	_Atomic uint32_t token;
	_Atomic uint32_t pid_inside;
	_Atomic int reclaimed_parent;	/* what the inside peer's reclaim did */
	_Atomic int init_pid;		/* the namespace's pid 1, seen from outside */
};

static void wait_stage(struct box *b, int want)
{
	int64_t end = mono_ns() + 20000000000LL;

	while (atomic_load(&b->stage) < want && mono_ns() < end)
		usleep(1000);
}

/*
 * The peer inside the container: it reserves a payload and holds a
 * received message, lets the outside look at it, reclaims (which must not
 * touch the outside peer, which also holds a reservation), then commits
 * its reservation: had the outside judged it dead, the reservation would
 * have been freed under it.
 */
static int inside(const char *name, struct box *b, bool stay)
{
	struct shmipc_options o = { 0 };
	struct shmipc_chan *ch;
	struct shmipc_resv r;
	struct shmipc_msg m;
	struct shmipc *shm;
	int err;

	err = mount_own_proc();
	if (!err)
		err = shmipc_open(name, &o, &shm);
	if (!err)
		err = shmipc_chan_open(shm, "box", NULL, &ch);
	if (!err)
		err = shmipc_recv(ch, &m, 1000);
	if (!err)
		err = shmipc_reserve(ch, 3000, &r);
	if (err)
		return err;
	memset(r.data, 'i', r.size);
	atomic_store(&b->pid_inside, (uint32_t)getpid());
	atomic_store(&b->token, shmipc_peer_id(shm));
	atomic_store(&b->reclaimed_parent, shmipc_reclaim(shm));
	atomic_store(&b->stage, 1);
	if (stay)
		for (;;)
			pause();
	wait_stage(b, 2);
	err = shmipc_commit(ch, &r, 42, 1000);
	if (!err)
		err = shmipc_msg_release(&m);
	shmipc_chan_close(ch);
	shmipc_close(shm);
	return err;
}

/* Runs inside() as pid 1 of a new pid namespace; the pid of its parent. */
static pid_t spawn_inside(const char *name, struct box *b, bool stay)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (enter_container()) {
		atomic_store(&b->err, -EPERM);
		atomic_store(&b->stage, 3);
		_exit(0);
	}
	pid = fork();
	if (!pid) {
		int err = inside(name, b, stay);

		atomic_store(&b->err, err);
		atomic_store(&b->stage, 3);
		_exit(err ? 1 : 0);
	}
	atomic_store(&b->init_pid, pid);
	waitpid(pid, NULL, 0);
	_exit(0);
}

TEST_F(iso, pid_namespace_liveness)
{
	struct shmipc_chan_options co = { .flags = SHMIPC_CHAN_CREATE };
	struct shmipc_reclaim_stats st0, st1;
	struct shmipc_peer_info peers[8];
	struct shmipc_chan *ch;
	struct shmipc_resv mine;
	struct shmipc_msg m;
	unsigned int i, n;
	int status, found;
	struct box *b;
	pid_t pid;
	char big[200] = { 0 };

	b = mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, shmipc_chan_open(self->shm, "box", &co, &ch));
	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 1, 0));
	ASSERT_EQ(0, shmipc_reserve(ch, 2000, &mine));
	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st0));

	pid = spawn_inside(self->name, b, false);
	ASSERT_LT(0, pid);
	wait_stage(b, 1);
	if (atomic_load(&b->err) == -EPERM) {
		waitpid(pid, NULL, 0);
		SKIP(return, "no pid namespaces here (needs root or user namespaces)");
	}
	ASSERT_EQ(0, atomic_load(&b->err));
	ASSERT_EQ(1, atomic_load(&b->stage));
	ASSERT_EQ(1, atomic_load(&b->pid_inside)) TH_LOG("pid 1 of its namespace");
	/* The inside peer found no one dead, the outside (us) included. */
	ASSERT_EQ(0, atomic_load(&b->reclaimed_parent));
	/* Outside, it is alive: listed so, and no reclaim touches it. */
	ASSERT_EQ(0, shmipc_reclaim(self->shm));
	n = (unsigned int)shmipc_peers(self->shm, peers, 8, NULL);
	for (i = 0, found = 0; i < n; i++)
		if (peers[i].id == atomic_load(&b->token)) {
			ASSERT_EQ(1, peers[i].alive);
			ASSERT_LE(3000, peers[i].reserved_bytes);
			found = 1;
		}
	ASSERT_EQ(1, found);
	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st1));
	ASSERT_EQ(st0.peers_died, st1.peers_died);
	/* It commits what it reserved: nobody freed it. */
	atomic_store(&b->stage, 2);
	wait_stage(b, 3);
	ASSERT_EQ(0, atomic_load(&b->err));
	ASSERT_EQ(0, shmipc_recv(ch, &m, 1000));
	ASSERT_EQ(42, m.type);
	ASSERT_EQ(3000, m.size);
	ASSERT_EQ('i', ((char *)m.data)[2999]);
	ASSERT_EQ(0, shmipc_msg_release(&m));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	/* And ours survived the inside peer's reclaim too. */
	ASSERT_EQ(0, shmipc_commit(ch, &mine, 7, 0));
	ASSERT_EQ(0, shmipc_recv(ch, &m, 0));
	ASSERT_EQ(7, m.type);
	ASSERT_EQ(0, shmipc_msg_release(&m));

	/* A peer in a namespace that is killed is dead, and reclaimed. */
	memset(b, 0, sizeof(*b));
	ASSERT_EQ(0, shmipc_send(ch, big, sizeof(big), 1, 0));
	pid = spawn_inside(self->name, b, true);
	wait_stage(b, 1);
	ASSERT_EQ(0, atomic_load(&b->err));
	ASSERT_EQ(-ETIMEDOUT, shmipc_peer_watch(self->shm, 20));
	kill(atomic_load(&b->init_pid), SIGKILL);	/* the namespace dies with it */
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(1, shmipc_peer_watch(self->shm, 5000));
	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st1));
	ASSERT_EQ(st0.peers_died + 1, st1.peers_died);
	shmipc_chan_close(ch);
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "box"));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	munmap(b, sizeof(*b));
}

/* Runs @fn as user and group nobody (65534); its -errno, as a positive status. */
static int as_nobody(int (*fn)(const char *name), const char *name)
{
	int status;
	pid_t pid = fork();

	if (!pid) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(100);
		_exit(-fn(name) & 0x7f);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

static int plant_region(const char *name)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE,
				    .mode = 0666 };
	struct shmipc *shm;
	int err = shmipc_open(name, &o, &shm);

	if (!err)
		shmipc_close(shm);
	return err;
}

static int plant_object(const char *name)
{
	char path[96];
	int fd;

	snprintf(path, sizeof(path), "/shmipc.%s", name);
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
	if (fd < 0 || fchmod(fd, 0666) || ftruncate(fd, 1 << 20))
		return -errno;
	close(fd);
	return 0;
}

/*
 * Another user created the name first, writable by all: a creating open
 * refuses it (it would let that user read every message); an open without
 * CREATE trusts the name, as documented.
 */
TEST_F(iso, squatted_name_refused)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE };
	struct shmipc *shm;
	char name[SHMIPC_NAME_MAX];

	if (geteuid())
		SKIP(return, "needs root to act as another user");
	uname_of(name, "squat");
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, as_nobody(plant_region, name)) TH_LOG("planting, as nobody: errno");
	ASSERT_EQ(-EPERM, shmipc_open(name, &o, &shm));
	ASSERT_NE(NULL, strstr(shmipc_strerror(-EPERM), "another user"));
	o.flags |= SHMIPC_OPEN_EXCL;
	ASSERT_EQ(-EEXIST, shmipc_open(name, &o, &shm));
	o.flags = 0;
	ASSERT_EQ(0, shmipc_open(name, &o, &shm));
	shmipc_close(shm);
	ASSERT_EQ(0, shmipc_unlink(name, SHMIPC_BACKEND_AUTO));

	if (is_posix(self->shm)) {	/* a raw object, not even a region */
		ASSERT_EQ(0, as_nobody(plant_object, name));
		o.flags = SHMIPC_OPEN_CREATE;
		ASSERT_EQ(-EPERM, shmipc_open(name, &o, &shm));
		ASSERT_EQ(0, shmipc_unlink(name, SHMIPC_BACKEND_AUTO));
	}
}

/* One's own region, but writable by others beyond the mode asked: refused too. */
TEST_F(iso, writable_beyond_mode_refused)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE,
				    .mode = 0600 };
	struct shmipc *shm;

	/* The fixture made it 0666. */
	ASSERT_EQ(-EPERM, shmipc_open(self->name, &o, &shm));
	o.mode = 0644;
	ASSERT_EQ(-EPERM, shmipc_open(self->name, &o, &shm));
	o.mode = 0666;
	ASSERT_EQ(0, shmipc_open(self->name, &o, &shm));
	shmipc_close(shm);
}

/*
 * posix: a peer that truncates the object: refused at the next open, since
 * the header records the size the region was made with. (A process that
 * has it mapped already would fault past the new end; see libshm.h.)
 */
TEST_F(iso, truncated_object_refused)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE };
	char name[SHMIPC_NAME_MAX], path[96];
	struct shmipc *shm;
	int fd;

	if (!is_posix(self->shm))
		SKIP(return, "the module fixes region sizes");
	uname_of(name, "trunc");
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(name, &o, &shm));
	shmipc_close(shm);
	snprintf(path, sizeof(path), "/shmipc.%s", name);
	fd = shm_open(path, O_RDWR, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 256 << 10));
	close(fd);
	o.flags = 0;
	ASSERT_EQ(-EPROTO, shmipc_open(name, &o, &shm));
	ASSERT_EQ(0, shmipc_unlink(name, SHMIPC_BACKEND_AUTO));
}

TEST_HARNESS_MAIN
