// SPDX-License-Identifier: GPL-2.0-only
/*
 * Crash injection: a producer, a consumer or a broadcast subscriber is
 * killed with SIGKILL at a random instant, SHMIPC_CRASH_RUNS times each
 * (default 500), while the other processes go on. Each run checks:
 *
 *  - nobody hangs: every process is done within RUN_TIMEOUT_S, and every
 *    libshm call has a timeout well below it;
 *  - no message committed by a live producer is lost, and none of the
 *    victim producer's committed ones either: each producer counts, in
 *    shared memory, the sends that returned 0; every one of them arrives;
 *  - a killed consumer loses at most the one message it had received and
 *    not yet logged (it marks that window), and only then;
 *  - no message arrives twice;
 *  - live broadcast subscribers get every message, in order;
 *  - once every process is gone and the channel removed, the heap's free
 *    bytes are what they were before the run, and the heap checks out.
 *
 * The kill instant is drawn uniformly over 1.2 times the victim's working
 * life in a run without a kill (the median of five) (from its becoming a peer to the end of its
 * work), measured first, so kills land anywhere in it.
 *
 * Each variant ends the victim another way at that instant (a fifth as
 * many runs each), all with its region file still open elsewhere, so that
 * only the exit of the victim's process can tell the module of its death:
 *  - passed_fd: it passes its region fds to a holder over SCM_RIGHTS,
 *    closes its own and is killed;
 *  - forked: it forks a holder, closes its fds and is killed;
 *  - execed: it forks a holder and execs an image that exits at once (the
 *    fds are close-on-exec);
 *  - shared_table: it shares its fd table with a clone(CLONE_FILES) holder
 *    made when it became a peer, and is killed.
 * These are the kmod backend's: on the posix backend a peer is the open
 * file description that holds its lock, and a process that is handed that
 * description (or shares the table that holds it) keeps the peer alive, by
 * design (backend_posix.c), so the variants are skipped there.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "helpers.h"
#include "libshm.h"

#define REGION_SIZE	(8u << 20)
#define MSGS		200		/* per producer per run */
#define MAX_SIZE	3000
#define OP_TIMEOUT_MS	5000
#define RUN_TIMEOUT_S	30

enum role { KILL_PRODUCER, KILL_CONSUMER, KILL_SUBSCRIBER };
enum exit_path { PATH_KILL, PATH_PASSED_FD, PATH_FORKED, PATH_EXECED, PATH_SHARED_TABLE };

/* The exec'd image of PATH_EXECED: this binary, gone before main(). */
#define EXEC_IMAGE_ENV	"SHMIPC_CRASH_EXEC_IMAGE=1"
#define EXEC_IMAGE_EXIT	77
#define MAX_FDS		16

/* Shared by the processes of one run (an anonymous shared mapping). */
struct run {
	_Atomic uint32_t committed[2];		/* sends that returned 0 */
	_Atomic uint32_t got[2][MSGS];		/* mpmc: times each arrived */
	_Atomic uint32_t victim_inflight;	/* consumer victim in recv..log */
	_Atomic uint32_t producers_done;
	_Atomic uint32_t ready;
	_Atomic uint32_t errors;
	_Atomic uint32_t sub_got[3];		/* broadcast: per subscriber */
	_Atomic uint32_t sub_bad[3];		/* out of order or duplicate */
	_Atomic int64_t work_done_us;		/* the victim's work is over */
	_Atomic uint32_t victim_leaving;	/* it is closing its handles */
	_Atomic uint32_t victim_joined;		/* it is a peer */
	_Atomic int64_t joined_us;		/* since when */
	_Atomic int32_t holder;			/* pid holding the victim's files */
	_Atomic int32_t receiver;		/* PATH_PASSED_FD's holder */
};

__attribute__((constructor)) static void exec_image(void)
{
	const char *e = getenv("SHMIPC_CRASH_EXEC_IMAGE");

	if (e && !strcmp(e, "1"))
		_exit(EXEC_IMAGE_EXIT);
}

static uint64_t rng = 88172645463325252ULL;

static int64_t now_us(void)
{
	return mono_ns() / 1000;
}

/* The victim ends its work: kills after this cannot find it a peer. */
static void victim_prepare(struct run *r);

static void joined(struct run *r, bool victim)
{
	if (!victim)
		return;
	victim_prepare(r);
	atomic_store(&r->joined_us, now_us());
	atomic_store(&r->victim_joined, 1);
}

static void leaving(struct run *r, bool victim)
{
	if (!victim)
		return;
	atomic_store(&r->work_done_us, now_us());
	atomic_store(&r->victim_leaving, 1);
}

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * The victim's side of its exit path. Everything the signal handler needs
 * is prepared beforehand, since it may interrupt any libshm call.
 */
static struct {
	enum exit_path path;
	struct run *r;
	int fds[MAX_FDS];	/* the region files open in the victim */
	int nfds;
	int sock;		/* PATH_PASSED_FD: to the holder */
} victim_ctx;

static pid_t raw_fork(unsigned long flags)
{
	return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
}

static void hold_forever(void)
{
	alarm(RUN_TIMEOUT_S * 3);	/* should its reaper be gone */
	for (;;)
		pause();
}

/* The files a death must not be detected through: the region's. */
static void find_region_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[64], target[128];

	victim_ctx.nfds = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && victim_ctx.nfds < MAX_FDS) {
		int fd = atoi(e->d_name);
		ssize_t n;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strncmp(target, "/dev/shmipc", 11) || !strncmp(target, "/dev/shm/", 9))
			victim_ctx.fds[victim_ctx.nfds++] = fd;
	}
	closedir(d);
}

static void close_region_fds(void)
{
	int i;

	for (i = 0; i < victim_ctx.nfds; i++)
		close(victim_ctx.fds[i]);
}

/* SIGUSR1: the victim's end, at whatever instruction it was. */
static void victim_exit(int sig)
{
	static char *const argv[] = { "libshm_crash_test", NULL };
	static char *const envp[] = { EXEC_IMAGE_ENV, NULL };
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)] = { 0 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	struct iovec iov;
	char byte = 0;
	pid_t pid;

	(void)sig;
	switch (victim_ctx.path) {
	case PATH_PASSED_FD:
		iov.iov_base = &byte;
		iov.iov_len = 1;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (victim_ctx.nfds) {
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * victim_ctx.nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * victim_ctx.nfds);
			memcpy(CMSG_DATA(cm), victim_ctx.fds, sizeof(int) * victim_ctx.nfds);
		}
		if (sendmsg(victim_ctx.sock, &mh, 0) != 1)
			_exit(40);
		close_region_fds();
		break;
	case PATH_FORKED:
	case PATH_EXECED:
		pid = raw_fork(0);
		if (pid == 0)
			hold_forever();
		if (pid < 0)
			_exit(41);
		atomic_store(&victim_ctx.r->holder, pid);
		if (victim_ctx.path == PATH_EXECED) {
			execve("/proc/self/exe", argv, envp);
			_exit(42);
		}
		close_region_fds();
		break;
	default:
		break;
	}
	kill(getpid(), SIGKILL);
}

/* Once the victim is a peer (its region files are open): its exit path. */
static void victim_prepare(struct run *r)
{
	pid_t pid;

	victim_ctx.r = r;
	find_region_fds();
	if (victim_ctx.path == PATH_SHARED_TABLE) {
		pid = raw_fork(CLONE_FILES);
		if (pid == 0)
			hold_forever();
		if (pid < 0)
			_exit(43);
		atomic_store(&r->holder, pid);
	}
}

static size_t msg_size(uint32_t p, uint32_t i)
{
	uint32_t h = (p * 2654435761u) ^ (i * 40503u);

	return h % 3 ? 8 + h % 56 : 65 + h % (MAX_SIZE - 65);	/* inline or heap */
}

static void fill(unsigned char *b, size_t n, uint32_t p, uint32_t i)
{
	size_t k;

	memcpy(b, &p, 4);
	memcpy(b + 4, &i, 4);
	for (k = 8; k < n; k++)
		b[k] = (unsigned char)(p * 31 + i * 7 + k);
}

static bool check(const struct shmipc_msg *m, uint32_t *p, uint32_t *i)
{
	const unsigned char *b = m->data;
	size_t k;

	if (m->size < 8)
		return false;
	memcpy(p, b, 4);
	memcpy(i, b + 4, 4);
	if (*p > 1 || *i >= MSGS || m->size != msg_size(*p, *i))
		return false;
	for (k = 8; k < m->size; k++)
		if (b[k] != (unsigned char)(*p * 31 + *i * 7 + k))
			return false;
	return true;
}

static void producer(struct shmipc *shm, const char *chan, struct run *r,
		     uint32_t p, bool victim)
{
	unsigned char buf[MAX_SIZE];
	struct shmipc_chan *ch;
	uint32_t i;

	if (shmipc_chan_open(shm, chan, NULL, &ch))
		_exit(10);
	joined(r, victim);
	atomic_fetch_add(&r->ready, 1);
	for (i = 0; i < MSGS; i++) {
		size_t n = msg_size(p, i);
		int err;

		if (i % 2) {
			fill(buf, n, p, i);
			err = shmipc_send(ch, buf, n, i, OP_TIMEOUT_MS);
		} else {
			struct shmipc_resv rv;

			err = shmipc_reserve(ch, n, &rv);
			if (!err) {
				fill(rv.data, n, p, i);
				err = shmipc_commit(ch, &rv, i, OP_TIMEOUT_MS);
			}
		}
		if (err)
			_exit(11);
		atomic_store(&r->committed[p], i + 1);
		sched_yield();	/* a steadier pace: kill instants spread over it */
	}
	atomic_fetch_add(&r->producers_done, 1);
	leaving(r, victim);
	shmipc_chan_close(ch);
	shmipc_close(shm);
	_exit(0);
}

/* Receives until the producers are done and the queue stays empty. */
static void consumer(struct shmipc *shm, const char *chan, struct run *r,
		     bool victim, unsigned int producers)
{
	struct shmipc_chan *ch;
	struct shmipc_msg m;
	int idle = 0;

	if (shmipc_chan_open(shm, chan, NULL, &ch))
		_exit(20);
	joined(r, victim);
	atomic_fetch_add(&r->ready, 1);
	for (;;) {
		uint32_t p, i;
		int err;

		if (victim)
			atomic_store(&r->victim_inflight, 1);
		err = shmipc_recv(ch, &m, 10);
		if (err == -ETIMEDOUT || err == -EAGAIN) {
			if (victim)
				atomic_store(&r->victim_inflight, 0);
			if (atomic_load(&r->producers_done) >= producers && ++idle > 2) {
				leaving(r, victim);
				break;
			}
			continue;
		}
		if (err)
			_exit(21);
		idle = 0;
		if (!check(&m, &p, &i)) {
			atomic_fetch_add(&r->errors, 1);
		} else {
			atomic_fetch_add(&r->got[p][i], 1);
		}
		if (victim)
			atomic_store(&r->victim_inflight, 0);
		if (shmipc_msg_release(&m))
			_exit(22);
	}
	shmipc_chan_close(ch);
	shmipc_close(shm);
	_exit(0);
}

static void subscriber(struct shmipc *shm, const char *chan, struct run *r,
		       unsigned int k, bool victim)
{
	struct shmipc_chan_options o = { .flags = SHMIPC_CHAN_SUBSCRIBE };
	struct shmipc_chan *ch;
	struct shmipc_msg m;
	uint32_t next = 0;

	if (shmipc_chan_open(shm, chan, &o, &ch))
		_exit(30);
	joined(r, victim);
	atomic_fetch_add(&r->ready, 1);
	while (next < MSGS) {
		uint32_t p, i;
		int err = shmipc_recv(ch, &m, OP_TIMEOUT_MS);

		if (err)
			_exit(31);
		if (!check(&m, &p, &i) || i != next)
			atomic_fetch_add(&r->sub_bad[k], 1);
		next = i + 1;
		atomic_fetch_add(&r->sub_got[k], 1);
		if (shmipc_msg_release(&m))
			_exit(32);
	}
	leaving(r, victim);
	shmipc_chan_close(ch);
	shmipc_close(shm);
	_exit(0);
}

static pid_t spawn(struct shmipc *shm, const char *chan, struct run *r,
		   char what, uint32_t arg, bool victim)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	alarm(RUN_TIMEOUT_S);
	if (victim && victim_ctx.path != PATH_KILL) {
		struct sigaction sa = { .sa_handler = victim_exit };

		sigaction(SIGUSR1, &sa, NULL);
	}
	switch (what) {
	case 'p':
		producer(shm, chan, r, arg, victim);
		break;
	case 'c':
		consumer(shm, chan, r, victim, 2);
		break;
	default:
		subscriber(shm, chan, r, arg, victim);
	}
	_exit(99);
}

/* PATH_PASSED_FD's holder: keeps every fd it is sent until it is killed. */
static pid_t spawn_receiver(int sock, int other)
{
	pid_t pid = fork();
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	struct msghdr mh;
	struct iovec iov;
	char byte;

	if (pid)
		return pid;
	close(other);
	alarm(RUN_TIMEOUT_S * 3);
	for (;;) {
		iov.iov_base = &byte;
		iov.iov_len = 1;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		if (recvmsg(sock, &mh, 0) <= 0)
			hold_forever();
	}
}

/* Killed, or gone through its exec'd image. */
static bool victim_died(int status)
{
	return WIFSIGNALED(status) ||
	       (WIFEXITED(status) && WEXITSTATUS(status) == EXEC_IMAGE_EXIT);
}

FIXTURE(crash) {
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
	struct run *r;
	uint64_t free0;
	unsigned int runs;
	unsigned int peer_kills;	/* kills that found the victim a peer */
};

FIXTURE_VARIANT(crash) {
	enum exit_path path;
	unsigned int share;	/* of SHMIPC_CRASH_RUNS, in fifths */
};

FIXTURE_VARIANT_ADD(crash, sigkill) { .path = PATH_KILL, .share = 5 };
FIXTURE_VARIANT_ADD(crash, passed_fd) { .path = PATH_PASSED_FD, .share = 1 };
FIXTURE_VARIANT_ADD(crash, forked) { .path = PATH_FORKED, .share = 1 };
FIXTURE_VARIANT_ADD(crash, execed) { .path = PATH_EXECED, .share = 1 };
FIXTURE_VARIANT_ADD(crash, shared_table) { .path = PATH_SHARED_TABLE, .share = 1 };

static uint64_t free_bytes(struct shmipc *shm)
{
	struct shmipc_heap_stats st;

	return shmipc_heap_stats(shm, &st) ? 0 : st.free;
}

FIXTURE_SETUP(crash)
{
	struct shmipc_options o = { .size = REGION_SIZE, .flags = SHMIPC_OPEN_CREATE };
	const char *env = getenv("SHMIPC_CRASH_RUNS");

	self->runs = env ? (unsigned int)strtoul(env, NULL, 0) : 500;
	self->runs = self->runs * variant->share / 5;
	if (!self->runs)
		self->runs = 1;
	victim_ctx.path = variant->path;
	/* Holders outlive the victims that forked them: reaped here. */
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	self->r = mmap(NULL, sizeof(*self->r), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->r);
	rng ^= (uint64_t)mono_ns();
	uname_of(self->name, "crash");
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(self->name, &o, &self->shm));
	if (variant->path != PATH_KILL && strcmp(shmipc_backend_name(self->shm), "kmod"))
		SKIP(return, "posix: a process holding a peer's lock description keeps it alive");
	self->free0 = free_bytes(self->shm);
}

FIXTURE_TEARDOWN(crash)
{
	/* Holders left by a run that failed. */
	if (self->r && self->r != MAP_FAILED) {
		if (atomic_load(&self->r->holder) > 0)
			kill(atomic_load(&self->r->holder), SIGKILL);
		if (atomic_load(&self->r->receiver) > 0)
			kill(atomic_load(&self->r->receiver), SIGKILL);
	}
	munmap(self->r, sizeof(*self->r));
	shmipc_close(self->shm);
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

/*
 * One run; @kill_at_us < 0 kills nobody. Returns how long the victim
 * worked, in us, or -1 (with the harness told why).
 */
static int64_t one_run(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self,
		       enum role role, int64_t kill_at_us, unsigned int run)
{
	struct shmipc_chan_options o = {
		.mode = role == KILL_SUBSCRIBER ? SHMIPC_CHAN_BROADCAST : SHMIPC_CHAN_MPMC,
		.capacity = 16, .flags = SHMIPC_CHAN_CREATE,
	};
	struct run *r = self->r;
	struct shmipc_chan *ch;
	pid_t pids[4], victim, receiver = 0, holder;
	int64_t t0, end;
	int sv[2] = { -1, -1 };
	unsigned int n = 0, i, p, k, missing = 0;
	bool killed = false;
	int status;

	memset(r, 0, sizeof(*r));
	if (victim_ctx.path == PATH_PASSED_FD) {
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		receiver = spawn_receiver(sv[0], sv[1]);
		ASSERT_LT(0, receiver);
		atomic_store(&r->receiver, receiver);
		close(sv[0]);
		victim_ctx.sock = sv[1];
	}
	ASSERT_EQ(0, shmipc_chan_open(self->shm, "c", &o, &ch));
	shmipc_chan_close(ch);	/* it stays, named */
	if (role == KILL_SUBSCRIBER) {
		for (k = 0; k < 3; k++)
			pids[n++] = spawn(self->shm, "c", r, 's', k, k == 0);
		while (atomic_load(&r->ready) < 3)	/* subscribed first */
			usleep(100);
		pids[n++] = spawn(self->shm, "c", r, 'p', 0, false);
		atomic_store(&r->committed[1], MSGS);
	} else {
		pids[n++] = spawn(self->shm, "c", r, 'c', 0, role == KILL_CONSUMER);
		pids[n++] = spawn(self->shm, "c", r, 'c', 1, false);
		pids[n++] = spawn(self->shm, "c", r, 'p', 0, role == KILL_PRODUCER);
		pids[n++] = spawn(self->shm, "c", r, 'p', 1, false);
	}
	victim = role == KILL_PRODUCER ? pids[2] : pids[0];
	if (sv[1] >= 0)
		close(sv[1]);
	/* Kill instants count from when the victim became a peer. */
	end = now_us() + RUN_TIMEOUT_S * 1000000LL;
	while (!atomic_load(&r->victim_joined) && now_us() < end)
		usleep(10);
	t0 = atomic_load(&r->joined_us);
	if (kill_at_us >= 0) {
		while (now_us() - t0 < kill_at_us)
			;
		kill(victim, victim_ctx.path == PATH_KILL ||
			     victim_ctx.path == PATH_SHARED_TABLE ? SIGKILL : SIGUSR1);
		killed = true;
		if (atomic_load(&r->victim_joined) && !atomic_load(&r->victim_leaving))
			self->peer_kills++;
	}
	if (role == KILL_PRODUCER && killed) {
		/* The consumers wait for two producers: the dead one counts. */
		waitpid(victim, &status, 0);
		atomic_fetch_add(&r->producers_done, victim_died(status) ? 1 : 0);
		pids[2] = 0;
	}
	end = now_us() + RUN_TIMEOUT_S * 1000000LL;
	for (i = 0; i < n; i++) {
		if (!pids[i])
			continue;
		while (waitpid(pids[i], &status, WNOHANG) == 0) {
			if (now_us() > end) {
				kill(pids[i], SIGKILL);
				waitpid(pids[i], &status, 0);
				TH_LOG("run %u: process %u hung", run, i);
				return -1;
			}
			usleep(200);
		}
		if (pids[i] == victim && killed) {
			if (!victim_died(status) && !(WIFEXITED(status) && !WEXITSTATUS(status))) {
				TH_LOG("run %u: the victim ended with status %#x", run, status);
				return -1;
			}
			continue;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			TH_LOG("run %u: process %u ended with status %#x", run, i, status);
			return -1;
		}
	}
	/* The files the victim left open elsewhere go last. */
	holder = atomic_load(&r->holder);
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, &status, 0);
		atomic_store(&r->holder, 0);
	}
	if (receiver) {
		kill(receiver, SIGKILL);
		waitpid(receiver, &status, 0);
		atomic_store(&r->receiver, 0);
	}
	end = now_us();
	if (atomic_load(&r->errors)) {
		TH_LOG("run %u: %u corrupted messages", run, atomic_load(&r->errors));
		return -1;
	}
	if (role == KILL_SUBSCRIBER) {
		for (k = killed ? 1 : 0; k < 3; k++)
			if (atomic_load(&r->sub_got[k]) != MSGS || atomic_load(&r->sub_bad[k])) {
				TH_LOG("run %u: subscriber %u got %u, %u out of order", run, k,
				       atomic_load(&r->sub_got[k]), atomic_load(&r->sub_bad[k]));
				return -1;
			}
	} else {
		for (p = 0; p < 2; p++) {
			uint32_t c = atomic_load(&r->committed[p]);

			for (i = 0; i < MSGS; i++) {
				uint32_t g = atomic_load(&r->got[p][i]);

				if (g > 1 || (i > c && g)) {
					TH_LOG("run %u: message %u/%u arrived %u times (%u committed)",
					       run, p, i, g, c);
					return -1;
				}
				if (i < c && !g)
					missing++;
			}
		}
		if (missing > (role == KILL_CONSUMER && killed &&
			       atomic_load(&r->victim_inflight) ? 1u : 0u)) {
			TH_LOG("run %u: %u committed messages lost (victim in recv: %u)",
			       run, missing, atomic_load(&r->victim_inflight));
			return -1;
		}
	}
	ASSERT_EQ(0, shmipc_chan_remove(self->shm, "c"));
	shmipc_reclaim(self->shm);
	if (free_bytes(self->shm) != self->free0 || shmipc_heap_check(self->shm)) {
		TH_LOG("run %u: heap free %llu, was %llu", run,
		       (unsigned long long)free_bytes(self->shm),
		       (unsigned long long)self->free0);
		return -1;
	}
	/* A victim killed before the end of its work never said when. */
	return atomic_load(&r->work_done_us) ? atomic_load(&r->work_done_us) - t0 : 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void matrix(struct __test_metadata *_metadata, FIXTURE_DATA(crash) *self,
		   enum role role)
{
	struct shmipc_reclaim_stats st0, st;
	int64_t span, len, lens[5];
	unsigned int run, i;

	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st0));
	for (i = 0; i < 5; i++) {	/* calibration: runs without a kill */
		lens[i] = one_run(_metadata, self, role, -1, i);
		ASSERT_LE(0, lens[i]);
	}
	qsort(lens, 5, sizeof(lens[0]), cmp_i64);
	span = lens[2] * 6 / 5 + 1;	/* the median's */
	for (run = 0; run < self->runs; run++) {
		len = one_run(_metadata, self, role, (int64_t)(rnd() % (uint64_t)span), run);
		ASSERT_LE(0, len);
	}
	ASSERT_EQ(0, shmipc_reclaim_stats(self->shm, &st));
	/* Every kill that found the victim a peer left one to reclaim. */
	ASSERT_LE(self->peer_kills, st.peers_died - st0.peers_died);
	TH_LOG("%u kills over %lld us, %u while a peer: %llu peers reclaimed, %llu bytes and "
	       "%llu messages given back, %llu delivered again, %llu slots repaired",
	       self->runs, (long long)span, self->peer_kills,
	       (unsigned long long)(st.peers_died - st0.peers_died),
	       (unsigned long long)(st.bytes_reclaimed - st0.bytes_reclaimed),
	       (unsigned long long)(st.msgs_reclaimed - st0.msgs_reclaimed),
	       (unsigned long long)(st.msgs_redelivered - st0.msgs_redelivered),
	       (unsigned long long)(st.slots_repaired - st0.slots_repaired));
}

TEST_F_TIMEOUT(crash, kill_producer, 3600)
{
	matrix(_metadata, self, KILL_PRODUCER);
}

TEST_F_TIMEOUT(crash, kill_consumer, 3600)
{
	matrix(_metadata, self, KILL_CONSUMER);
}

TEST_F_TIMEOUT(crash, kill_subscriber, 3600)
{
	matrix(_metadata, self, KILL_SUBSCRIBER);
}

TEST_HARNESS_MAIN
