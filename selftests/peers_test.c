// SPDX-License-Identifier: GPL-2.0-only
/*
 * Attachments: the status page, tokens, death on release and on the
 * opener's exit whoever holds the fd then (a forked child, a process it
 * was passed to, a clone sharing the fd table, the image it exec'd), no
 * death for a thread's exit or a failed call, death wake-ups, PEERS across
 * pid reuse, poll(), SHMIPC_IOC_ATTACH and the fair share of slots.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define SIZE	(4 * 4096UL)

/*
 * The image opener_execs runs: this very program, exec'd with
 * SHMIPC_TEST_IMAGE=W,R in its environment, says on fd W that it runs,
 * waits for EOF on fd R and exits, before the harness starts.
 */
__attribute__((constructor)) static void exec_image(void)
{
	const char *env = getenv("SHMIPC_TEST_IMAGE");
	int w, r;
	char c;

	if (!env || sscanf(env, "%d,%d", &w, &r) != 2)
		return;
	if (write(w, "x", 1) != 1)
		_exit(1);
	while (read(r, &c, 1) > 0)
		;
	_exit(0);
}

FIXTURE(peers) {
	int dev, fd;
	char name[SHMIPC_NAME_MAX];
	const volatile struct shmipc_status *st;
	_Atomic uint32_t *w;
};

FIXTURE_SETUP(peers)
{
	DEV_OPEN_OR_SKIP(self->dev);
	/* Orphans (holders whose opener exited) are ours to reap. */
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
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

static void send_all(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		_exit(99);
}

static int recv_all(int fd, void *p, size_t n)
{
	return read(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static void kill_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/* Does PEERS on @fd list an attachment of @pid, or token @t? */
static int peers_list(int fd, pid_t pid, uint32_t t, uint32_t *total)
{
	struct shmipc_peer_entry ents[SHMIPC_MAX_PEERS];
	struct shmipc_peers pa = { .entries = (uintptr_t)ents,
				   .capacity = SHMIPC_MAX_PEERS };
	uint32_t i;
	int found = 0;

	if (xioctl(fd, SHMIPC_IOC_PEERS, &pa))
		return -1;
	for (i = 0; i < pa.count; i++)
		if (ents[i].pid == pid || ents[i].id == t)
			found = 1;
	*total = pa.total;
	return found;
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
 * Forks an opener that opens the region, has @hold make a process that
 * keeps its fd open, and exits. Returns that holder once the opener is
 * reaped (the fixture is their subreaper), or -1; the opener's token in *@t.
 */
static pid_t opener_leaves_holder(int dev, const char *name, pid_t (*hold)(int fd),
				  uint32_t *t)
{
	pid_t opener, holder = -1;
	int pfd[2], status;

	if (pipe(pfd))
		return -1;
	opener = fork();
	if (!opener) {
		int fd = region_open(dev, name, SHMIPC_ACCESS_RDWR, NULL);
		uint32_t tok = token_of(fd);
		pid_t h = hold(fd);

		if (h < 0)
			_exit(1);
		send_all(pfd[1], &tok, sizeof(tok));
		send_all(pfd[1], &h, sizeof(h));
		_exit(0);
	}
	if (opener < 0 || recv_all(pfd[0], t, sizeof(*t)) ||
	    recv_all(pfd[0], &holder, sizeof(holder)) ||
	    waitpid(opener, &status, 0) != opener || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		holder = -1;
	close(pfd[0]);
	close(pfd[1]);
	return holder;
}

/*
 * The opener's exit, with @hold's holder keeping the file open, is one
 * death; the holder's exit later is none.
 */
static void holder_outlives_opener(struct __test_metadata *_metadata,
				   FIXTURE_DATA(peers) *self, pid_t (*hold)(int fd))
{
	uint32_t deaths = self->st->deaths, t;
	pid_t holder = opener_leaves_holder(self->dev, self->name, hold, &t);

	ASSERT_LT(0, holder);
	ASSERT_FALSE(alive(self->st, t));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	kill_reap(holder);
	ASSERT_EQ(deaths + 1, self->st->deaths);
}

/* A forked child that holds the fd and a mapping of it. */
static pid_t fork_holder(int fd)
{
	pid_t child = fork();

	if (!child) {
		void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

		(void)m;
		pause();
		_exit(0);
	}
	return child;
}

/*
 * The opener's exit kills its attachment although a child it forked still
 * holds the fd (and a mapping); the child's exit is then no death.
 */
TEST_F(peers, opener_exit_with_child_holding_fd)
{
	holder_outlives_opener(_metadata, self, fork_holder);
}

/*
 * The opener passes its fd over SCM_RIGHTS, closes its copy and exits:
 * its attachment dies although the file lives on, and PEERS, asked on
 * that very file, no longer lists it.
 */
TEST_F(peers, opener_passes_fd_and_exits)
{
	uint32_t deaths = self->st->deaths, t, total;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &t, .iov_len = sizeof(t) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct shmipc_info info;
	int sv[2], status, fd;
	pid_t opener;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
	opener = fork();
	ASSERT_LE(0, opener);
	if (!opener) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);
		t = token_of(fd);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(sv[1], &msg, 0) != sizeof(t))
			_exit(1);
		close(fd);
		_exit(0);
	}
	ASSERT_EQ(sizeof(t), recvmsg(sv[0], &msg, 0));
	ASSERT_NE(NULL, CMSG_FIRSTHDR(&msg));
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	ASSERT_EQ(t, token_of(fd));
	ASSERT_EQ(opener, waitpid(opener, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* Reaped: the death is in the status page already. */
	ASSERT_FALSE(alive(self->st, t));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	ASSERT_EQ(1, self->st->nr_alive);
	ASSERT_EQ(0, peers_list(fd, opener, t, &total));
	ASSERT_EQ(1, total);
	/* The file still works; closing it is no second death. */
	ASSERT_EQ(0, region_info(fd, &info));
	ASSERT_EQ(t, info.peer_id);
	close(fd);
	ASSERT_EQ(deaths + 1, self->st->deaths);
	close(sv[0]);
	close(sv[1]);
}

/*
 * After the opener died, while its file lives on, its pid number goes to
 * another process: PEERS names neither the dead attachment nor the
 * newcomer (who never opened the region).
 */
TEST_F(peers, pid_reuse_after_death)
{
	uint32_t t, total;
	int pfd[2], hold[2], status, fd, tries;
	pid_t opener, holder, again = -1;
	FILE *f;

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, pipe(hold));
	opener = fork();
	ASSERT_LE(0, opener);
	if (!opener) {		/* leaves its fd to a holder, then exits */
		fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);
		t = token_of(fd);
		holder = fork();
		if (!holder) {
			pause();
			_exit(0);
		}
		send_all(pfd[1], &t, sizeof(t));
		send_all(pfd[1], &holder, sizeof(holder));
		_exit(0);
	}
	ASSERT_EQ(0, recv_all(pfd[0], &t, sizeof(t)));
	ASSERT_EQ(0, recv_all(pfd[0], &holder, sizeof(holder)));
	ASSERT_EQ(opener, waitpid(opener, &status, 0));
	ASSERT_FALSE(alive(self->st, t));

	/* The next pid is the opener's: /proc/sys/kernel/ns_last_pid. */
	for (tries = 0; tries < 20 && again != opener; tries++) {
		if (again > 0)
			kill_reap(again);
		f = fopen("/proc/sys/kernel/ns_last_pid", "w");
		if (!f) {
			kill_reap(holder);
			SKIP(return, "cannot set ns_last_pid: %s", strerror(errno));
		}
		fprintf(f, "%d", opener - 1);
		if (fclose(f)) {
			kill_reap(holder);
			SKIP(return, "cannot set ns_last_pid: %s", strerror(errno));
		}
		again = fork();
		ASSERT_LE(0, again);
		if (!again) {
			char c;

			close(hold[1]);
			while (read(hold[0], &c, 1) > 0)
				;
			_exit(0);
		}
	}
	if (again != opener) {
		kill_reap(again);
		kill_reap(holder);
		SKIP(return, "pid %d was not handed out again", opener);
	}
	ASSERT_EQ(0, peers_list(self->fd, opener, t, &total));
	ASSERT_EQ(1, total);
	ASSERT_EQ(1, self->st->nr_alive);
	kill_reap(holder);
	close(hold[1]);
	ASSERT_EQ(again, waitpid(again, &status, 0));
	close(hold[0]);
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * The opener forks a holder, then execs (the fd is close-on-exec): the
 * exec is no death, the new image's exit is.
 */
TEST_F(peers, opener_execs)
{
	uint32_t deaths = self->st->deaths, t;
	int pfd[2], up[2], down[2], status;
	pid_t opener, holder;
	char c, env[64];

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	opener = fork();
	ASSERT_LE(0, opener);
	if (!opener) {
		int fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);

		t = token_of(fd);
		holder = fork();
		if (!holder) {
			close(down[1]);
			close(up[1]);
			pause();
			_exit(0);
		}
		send_all(pfd[1], &t, sizeof(t));
		send_all(pfd[1], &holder, sizeof(holder));
		close(down[1]);
		snprintf(env, sizeof(env), "SHMIPC_TEST_IMAGE=%d,%d", up[1], down[0]);
		putenv(env);
		execl("/proc/self/exe", "shmipc-exec-image", (char *)NULL);
		_exit(2);
	}
	close(up[1]);
	close(down[0]);
	ASSERT_EQ(0, recv_all(pfd[0], &t, sizeof(t)));
	ASSERT_EQ(0, recv_all(pfd[0], &holder, sizeof(holder)));
	ASSERT_EQ(1, read(up[0], &c, 1));	/* the new image runs */
	ASSERT_TRUE(alive(self->st, t));
	ASSERT_EQ(deaths, self->st->deaths);
	close(down[1]);				/* ... and exits */
	ASSERT_EQ(opener, waitpid(opener, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_FALSE(alive(self->st, t));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	kill_reap(holder);
	ASSERT_EQ(deaths + 1, self->st->deaths);
	close(up[0]);
	close(pfd[0]);
	close(pfd[1]);
}

static char clone_stack[64 * 1024] __attribute__((aligned(16)));

static int clone_holder(void *arg)
{
	pause();
	return 0;
}

/* A clone() child that shares the fd table, and with it the fd. */
static pid_t clone_files_holder(int fd)
{
	return clone(clone_holder, clone_stack + sizeof(clone_stack),
		     CLONE_FILES | SIGCHLD, NULL);
}

/*
 * The opener shares its fd table with a clone(CLONE_FILES) child and
 * exits: the table, and the fd in it, live on in the child; the
 * attachment does not.
 */
TEST_F(peers, opener_shares_fd_table)
{
	holder_outlives_opener(_metadata, self, clone_files_holder);
}

static void *private_table_thread(void *arg)
{
	int fd = *(int *)arg;

	if (unshare(CLONE_FILES))
		return (void *)1;
	/* Its own copy of the table holds the fd too: its exit closes it. */
	if (fcntl(fd, F_GETFD) < 0)
		return (void *)2;
	return NULL;
}

/*
 * A thread with a private fd table that holds the region fd exits: its
 * exit closes that copy of the fd (while the thread is exiting, in the
 * opener's thread group), and that is no death.
 */
TEST_F(peers, private_table_thread_exits)
{
	uint32_t deaths = self->st->deaths, t = token_of(self->fd);
	pthread_t th;
	void *ret;

	ASSERT_EQ(0, pthread_create(&th, NULL, private_table_thread, &self->fd));
	ASSERT_EQ(0, pthread_join(th, &ret));
	ASSERT_EQ(NULL, ret);
	ASSERT_TRUE(alive(self->st, t));
	ASSERT_EQ(deaths, self->st->deaths);
	ASSERT_EQ(t, token_of(self->fd));
}

static void *leader_gone_thread(void *arg)
{
	int rfd = *(int *)arg;
	char c;

	while (read(rfd, &c, 1) > 0)
		;
	_exit(0);
}

/* The state letter of task @tid of process @pid, or 0. */
static char task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * The opener's main thread exits first (a zombie leader): the process
 * runs on in its other thread, and so does the attachment, until that
 * thread exits too.
 */
TEST_F(peers, leader_exits_before_group)
{
	uint32_t deaths = self->st->deaths, t;
	int pfd[2], go[2], status, i;
	pid_t opener;

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, pipe(go));
	opener = fork();
	ASSERT_LE(0, opener);
	if (!opener) {
		int fd = region_open(self->dev, self->name, SHMIPC_ACCESS_RDWR, NULL);
		pthread_t th;

		close(go[1]);
		t = token_of(fd);
		if (pthread_create(&th, NULL, leader_gone_thread, &go[0]))
			_exit(1);
		send_all(pfd[1], &t, sizeof(t));
		syscall(SYS_exit, 0);	/* this thread only */
	}
	close(go[0]);
	ASSERT_EQ(0, recv_all(pfd[0], &t, sizeof(t)));
	for (i = 0; i < 5000 && task_state(opener, opener) != 'Z'; i++)
		usleep(1000);
	ASSERT_EQ('Z', task_state(opener, opener));
	ASSERT_TRUE(alive(self->st, t));
	ASSERT_EQ(deaths, self->st->deaths);
	close(go[1]);		/* the last thread exits */
	ASSERT_EQ(opener, waitpid(opener, &status, 0));
	ASSERT_FALSE(alive(self->st, t));
	ASSERT_EQ(deaths + 1, self->st->deaths);
	close(pfd[0]);
	close(pfd[1]);
}

struct death_waiter {
	int fd;
	uint32_t deaths;
	int ret;
};

static void *death_waiter(void *arg)
{
	struct death_waiter *d = arg;
	struct shmipc_wait w = { .flags = SHMIPC_WAIT_PEER_DEATH |
					  SHMIPC_WAIT_RELATIVE,
				 .deaths = d->deaths,
				 .deadline_ns = 500000000 };

	d->ret = (int)xioctl(d->fd, SHMIPC_IOC_WAIT, &w);
	return NULL;
}

static int count_fds(void)
{
	char path[64];
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/*
 * CREATE, OPEN and ATTACH that fail at the last step (their answer
 * cannot be written back) leave no fd, no attachment and no death: no
 * death waiter wakes, no poll()er sees EPOLLPRI.
 */
TEST_F(peers, failed_calls_are_no_death)
{
	struct death_waiter d = { .fd = self->fd, .deaths = self->st->deaths };
	struct pollfd pfd = { .fd = self->fd, .events = POLLPRI };
	struct shmipc_create *c;
	struct shmipc_open *o;
	struct shmipc_attach_req *at;
	uint32_t nr = self->st->nr_alive;
	pthread_t th;
	void *page;
	int fds;

	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	c = page;
	set_name(c->name, self->name);
	c->size = 4096;
	c->mode = 0600;
	o = (void *)(c + 1);
	set_name(o->name, self->name);
	o->access = SHMIPC_ACCESS_RDWR;
	at = (void *)(o + 1);
	ASSERT_EQ(0, mprotect(page, 4096, PROT_READ));	/* no answer back */

	fds = count_fds();
	ASSERT_EQ(0, pthread_create(&th, NULL, death_waiter, &d));
	usleep(50000);
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_CREATE, c));
	ASSERT_EQ(-EFAULT, xioctl(self->dev, SHMIPC_IOC_OPEN, o));
	ASSERT_EQ(-EFAULT, xioctl(self->fd, SHMIPC_IOC_ATTACH, at));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(-ETIMEDOUT, d.ret);
	ASSERT_EQ(d.deaths, self->st->deaths);
	ASSERT_EQ(nr, self->st->nr_alive);
	ASSERT_EQ(0, poll(&pfd, 1, 0));
	ASSERT_EQ(fds, count_fds());
	munmap(page, 4096);
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

/*
 * As user @uid, opens @name until refused; reports the count and the
 * refusal on @wfd, then holds every fd until killed.
 */
static void open_all_as(int dev, const char *name, uid_t uid, int wfd)
{
	int n = 0, ret;

	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid))
		_exit(1);
	while ((ret = region_open(dev, name, SHMIPC_ACCESS_RDWR, NULL)) >= 0)
		n++;
	send_all(wfd, &n, sizeof(n));
	send_all(wfd, &ret, sizeof(ret));
	pause();
	_exit(0);
}

/*
 * Other users cannot fill the table: each gets at most
 * SHMIPC_USER_SLOTS, and together they leave SHMIPC_OWNER_SLOTS to the
 * owner (and CAP_IPC_OWNER).
 */
TEST_F(peers, fair_slots)
{
	struct rlimit rl = { 2048, 2048 };
	const volatile struct shmipc_status *st;
	static const uid_t uids[] = { 1001, 1002, 1003, 1004 };
	int others = SHMIPC_MAX_PEERS - SHMIPC_OWNER_SLOTS;
	int expect, got, fds[SHMIPC_MAX_PEERS], pfd[2], fd, i, n, ret;
	uint32_t deaths;
	pid_t pids[4];
	char name[SHMIPC_NAME_MAX];

	if (geteuid())
		SKIP(return, "needs root, to act as other users");
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	uname_of(name, "fair");
	fd = region_create(self->dev, name, SIZE, 0666, 0, NULL);
	ASSERT_LE(0, fd);
	st = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, SHMIPC_STATUS_OFFSET);
	ASSERT_NE(MAP_FAILED, st);
	ASSERT_EQ(0, pipe(pfd));
	n = 1;		/* the owner's first */
	for (i = 0; i < 4; i++) {
		expect = others - n < SHMIPC_USER_SLOTS ? others - n :
							  SHMIPC_USER_SLOTS;
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i])
			open_all_as(self->dev, name, uids[i], pfd[1]);
		ASSERT_EQ(0, recv_all(pfd[0], &got, sizeof(got)));
		ASSERT_EQ(0, recv_all(pfd[0], &ret, sizeof(ret)));
		ASSERT_EQ(expect, got) TH_LOG("uid %d", uids[i]);
		ASSERT_EQ(-EUSERS, ret);
		n += got;
		ASSERT_EQ(n, st->nr_alive);
	}
	ASSERT_EQ(others, st->nr_alive);
	/* The owner still gets the rest, then the table is full. */
	for (i = 0; (fds[i] = region_open(self->dev, name, SHMIPC_ACCESS_RDWR,
					  NULL)) >= 0; i++)
		;
	ASSERT_EQ(-EUSERS, fds[i]);
	ASSERT_EQ(SHMIPC_OWNER_SLOTS, i);
	ASSERT_EQ(SHMIPC_MAX_PEERS, st->nr_alive);
	deaths = st->deaths;
	for (n = 0; n < 4; n++)
		kill_reap(pids[n]);
	ASSERT_EQ(deaths + others - 1, st->deaths);
	while (i--)
		close(fds[i]);
	ASSERT_EQ(1, st->nr_alive);
	munmap((void *)st, 4096);
	close(fd);
	region_unlink(self->dev, name);
	close(pfd[0]);
	close(pfd[1]);
}

TEST_HARNESS_MAIN
