// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attachments: the status page, tokens, death on release and on the
 * opener's exit (even while a forked child holds the fd), death wake-ups,
 * SHMIPC_IOC_PEERS, poll() and SHMIPC_IOC_ATTACH.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define SIZE	(4 * 4096UL)

FIXTURE(peers) {
	int dev, fd;
	char name[SHMIPC_NAME_MAX];
	const volatile struct shmipc_status *st;
	_Atomic uint32_t *w;
};

FIXTURE_SETUP(peers)
{
	DEV_OPEN_OR_SKIP(self->dev);
	uname_of(self->name, "p");
	self->fd = region_create(self->dev, self->name, SIZE, 0600, 0, NULL);
	ASSERT_LE(0, self->fd);
	self->st = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd,
			SHMIPC_STATUS_OFFSET);
	ASSERT_NE(MAP_FAILED, self->st);
	self->w = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	ASSERT_NE(MAP_FAILED, self->w);
}

FIXTURE_TEARDOWN(peers)
{
	munmap((void *)self->st, 4096);
	munmap((void *)self->w, SIZE);
	close(self->fd);
	region_unlink(self->dev, self->name);
	close(self->dev);
}

static uint32_t token_of(int fd)
{
	struct shmipc_info info;

	return region_info(fd, &info) ? 0 : info.peer_id;
}

static bool alive(const volatile struct shmipc_status *st, uint32_t t)
{
	return st->peers[t & SHMIPC_PEER_SLOT_MASK] == t;
}

TEST_F(peers, status_page)
{
	uint32_t t = token_of(self->fd);
	void *p;

	ASSERT_EQ(SHMIPC_STATUS_MAGIC, self->st->magic);
	ASSERT_EQ(SHMIPC_MAX_PEERS, self->st->max_peers);
	ASSERT_EQ(1, self->st->nr_alive);
	ASSERT_NE(0, t);
	ASSERT_GT(1U << 30, t);
	ASSERT_TRUE(alive(self->st, t));
	/* Read-only for good, one page only. */
	ASSERT_NE(0, mprotect((void *)self->st, 4096, PROT_READ | PROT_WRITE));
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 SHMIPC_STATUS_OFFSET);
	ASSERT_EQ(MAP_FAILED, p);
	ASSERT_EQ(EPERM, errno);
	p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, self->fd, SHMIPC_STATUS_OFFSET);
	ASSERT_EQ(MAP_FAILED, p);
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, self->fd, SHMIPC_STATUS_OFFSET);
	ASSERT_EQ(MAP_FAILED, p);
}

/* A second fd is a second attachment; closing it is a death. */
TEST_F(peers, release_is_death)
{
	uint32_t deaths = self->st->deaths, t;
	int fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);

	ASSERT_LE(0, fd);
	t = token_of(fd);
	ASSERT_NE(token_of(self->fd), t);
	ASSERT_TRUE(alive(self->st, t));
	ASSERT_EQ(2, self->st->nr_alive);
	close(fd);
	ASSERT_FALSE(alive(self->st, t));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	ASSERT_EQ(1, self->st->nr_alive);
}

/*
 * The opener's exit kills its attachment although a child it forked still
 * holds the fd (and a mapping); the child's exit is then no death.
 */
TEST_F(peers, opener_exit_with_child_holding_fd)
{
	uint32_t deaths = self->st->deaths, t;
	int pfd[2], status;
	pid_t opener, child;

	ASSERT_EQ(0, pipe(pfd));
	opener = fork();
	ASSERT_LE(0, opener);
	if (!opener) {
		int fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);

		t = token_of(fd);
		child = fork();
		if (!child) {	/* holds fd and mapping, then waits */
			void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

			(void)m;
			pause();
			_exit(0);
		}
		if (write(pfd[1], &t, sizeof(t)) != sizeof(t) ||
		    write(pfd[1], &child, sizeof(child)) != sizeof(child))
			_exit(1);
		_exit(0);
	}
	ASSERT_EQ(sizeof(t), read(pfd[0], &t, sizeof(t)));
	ASSERT_EQ(sizeof(child), read(pfd[0], &child, sizeof(child)));
	ASSERT_EQ(opener, waitpid(opener, &status, 0));
	ASSERT_FALSE(alive(self->st, t));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	kill(child, SIGKILL);
	usleep(100000);		/* reaped by init: the file goes now */
	ASSERT_EQ(deaths + 1, self->st->deaths);
	close(pfd[0]);
	close(pfd[1]);
}

/* A death wakes PEER_DEATH waiters with -EOWNERDEAD, and only them. */
TEST_F(peers, death_wakes_waiters)
{
	struct shmipc_wait w = { .offset = 0, .expected = 0,
				 .flags = SHMIPC_WAIT_PEER_DEATH };
	uint32_t deaths;
	int64_t t0;
	pid_t victim;
	int status;

	w.deaths = self->st->deaths + 1;	/* stale: at once */
	ASSERT_EQ(-EOWNERDEAD, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
	w.deaths = self->st->deaths;
	w.deadline_ns = mono_ns() + 50000000;	/* no death: times out */
	ASSERT_EQ(-ETIMEDOUT, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));

	deaths = self->st->deaths;
	victim = fork();
	ASSERT_LE(0, victim);
	if (!victim) {
		int fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);

		(void)fd;
		usleep(200000);
		raise(SIGKILL);
	}
	t0 = mono_ns();
	w.deadline_ns = t0 + 10000000000LL;
	/*
	 * Woken by the victim's death: its file goes while it exits, before
	 * it can be reaped, so the death count tells, not waitpid().
	 */
	w.deaths = deaths;	/* a death before the call: at once */
	ASSERT_EQ(-EOWNERDEAD, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	ASSERT_EQ(victim, waitpid(victim, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_GT(5000000000LL, mono_ns() - t0);
	/* A plain waiter sleeps through deaths. */
	w.flags = 0;
	w.deaths = 0;
	w.deadline_ns = mono_ns() + 20000000;
	ASSERT_EQ(-ETIMEDOUT, xioctl(self->fd, SHMIPC_IOC_WAIT, &w));
}

TEST_F(peers, list_poll_attach)
{
	struct shmipc_peer_entry ents[SHMIPC_MAX_PEERS];
	struct shmipc_peers pa = { .entries = (uintptr_t)ents, .capacity = 4 };
	struct shmipc_attach_req at = { 0 };
	struct pollfd pfd = { .fd = self->fd, .events = POLLPRI };
	unsigned int i, self_seen = 0;
	uint32_t t2;

	ASSERT_EQ(0, xioctl(self->fd, SHMIPC_IOC_PEERS, &pa));
	ASSERT_EQ(0, poll(&pfd, 1, 0));		/* no death since */
	ASSERT_EQ(0, xioctl(self->fd, SHMIPC_IOC_ATTACH, &at));
	ASSERT_LE(0, at.fd);
	t2 = token_of(at.fd);
	ASSERT_NE(token_of(self->fd), t2);
	ASSERT_TRUE(alive(self->st, t2));
	ASSERT_EQ(0, xioctl(self->fd, SHMIPC_IOC_PEERS, &pa));
	ASSERT_EQ(2, pa.total);
	ASSERT_EQ(2, pa.count);
	for (i = 0; i < pa.count; i++) {
		ASSERT_EQ(getpid(), ents[i].pid);
		if (ents[i].flags & SHMIPC_PEER_SELF) {
			ASSERT_EQ(token_of(self->fd), ents[i].id);
			self_seen++;
		}
	}
	ASSERT_EQ(1, self_seen);
	close(at.fd);
	ASSERT_EQ(1, poll(&pfd, 1, 1000));
	ASSERT_TRUE(pfd.revents & POLLPRI);
	ASSERT_EQ(0, xioctl(self->fd, SHMIPC_IOC_PEERS, &pa));	/* seen */
	ASSERT_EQ(1, pa.total);
	ASSERT_EQ(0, poll(&pfd, 1, 0));
	pa.capacity = SHMIPC_MAX_PEERS + 1;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_PEERS, &pa));
	pa.capacity = 0;
	pa.reserved[0] = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_PEERS, &pa));
	at.reserved[1] = 1;
	ASSERT_EQ(-EINVAL, xioctl(self->fd, SHMIPC_IOC_ATTACH, &at));
}

/* SHMIPC_MAX_PEERS attachments, then -EUSERS; a close frees a slot. */
TEST_F(peers, table_full)
{
	struct rlimit rl = { 2048, 2048 };
	int fds[SHMIPC_MAX_PEERS], i, n = 0;

	setrlimit(RLIMIT_NOFILE, &rl);
	for (i = 0; i < SHMIPC_MAX_PEERS - 1; i++) {
		fds[i] = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);
		ASSERT_LE(0, fds[i]) TH_LOG("attachment %d", i + 2);
		n++;
	}
	ASSERT_EQ(SHMIPC_MAX_PEERS, self->st->nr_alive);
	ASSERT_EQ(-EUSERS, region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL));
	close(fds[0]);
	fds[0] = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);
	ASSERT_LE(0, fds[0]);
	for (i = 0; i < n; i++)
		close(fds[i]);
	ASSERT_EQ(1, self->st->nr_alive);
}

TEST_HARNESS_MAIN
