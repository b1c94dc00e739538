// SPDX-License-Identifier: MIT
/*
 * The POSIX backend: shm_open + ftruncate + mmap of "/shmipc.<name>",
 * shared (not private) futex(2) for wait/wake, and open file description
 * locks (F_OFD_SETLK) for liveness. It works wherever the module is not
 * loaded.
 *
 * Liveness. Each peer locks one byte of the region object, past its end
 * (LOCK_BASE + its slot), through a file description of its own. The
 * kernel drops the lock when the last reference to that description goes,
 * that is when the process dies, whatever killed it. Another process tests
 * the byte with F_OFD_GETLK. Nothing depends on pid numbers, /proc or pid
 * namespaces: two containers sharing /dev/shm but not pids see the same
 * locks. A peer that holds its lock is alive, by construction.
 *
 * fork(). A child shares its parent's file descriptions, and with them the
 * parent's locks, which would keep a dead parent alive while the child
 * lives. So the child, in an atfork handler, closes its copy of every lock
 * descriptor (the parent's lock stays, held by the parent alone), and on
 * its first call as a peer opens a description of its own (/proc/self/fd,
 * else the name again, checked to be the same object) and locks a slot.
 *
 * Names. Creating uses O_CREAT | O_EXCL (shm_open adds O_NOFOLLOW). With
 * SHMIPC_OPEN_CREATE but not EXCL, an object that already exists is adopted
 * only if the caller owns it and its mode gives group or others no write
 * access beyond what the caller asked for: otherwise another user could
 * have planted it to read the messages (-EPERM).
 *
 * Truncation. A peer with write access can shrink the object, and others
 * would then fault (SIGBUS) past its new end. A library installs no signal
 * handlers, so this is refused only at open (region.c checks the size the
 * header records); the kmod backend, whose sizes the kernel fixes, is the
 * one that protects against a peer that truncates later.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define LOCK_BASE	(1ull << 62)	/* the lock bytes: far past any region */
#define INIT_BYTE	(LOCK_BASE + SHMIPC_PEERS)
#define SIZE_WAIT_MS	1000
#define MAX_REGION	(1ull << TLSF_FL_MAX)

/* Every open posix handle, for the atfork child handler. */
static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shmipc *handles;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_mutex_lock(&handles_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&handles_mu);
}

/* See the top: the child gives up its share of the parent's locks. */
static void fork_child(void)
{
	struct shmipc *h;

	for (h = handles; h; h = h->next_posix)
		if (h->lock_fd >= 0) {
			close(h->lock_fd);
			h->lock_fd = -1;
		}
	pthread_mutex_unlock(&handles_mu);
}

static void atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int posix_path(const char *name, char *path, size_t len)
{
	int n = snprintf(path, len, "/shmipc.%s", name);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* One byte lock or test on the lock descriptor; 0 or -errno. */
static int lock_op(int fd, int cmd, short type, uint64_t at, short *found)
{
	struct flock fl = {
		.l_type = type,
		.l_whence = SEEK_SET,
		.l_start = (off_t)at,
		.l_len = 1,
	};

	if (fd < 0)
		return -EBADF;
	if (fcntl(fd, cmd, &fl))
		return -errno;
	if (found)
		*found = fl.l_type;
	return 0;
}

/* Is byte @at locked by another file description? Errors say yes: a peer
 * is never judged dead on a failure to look. */
static bool locked(struct shmipc *shm, uint64_t at)
{
	short type = F_UNLCK;

	return lock_op(shm->lock_fd, F_OFD_GETLK, F_WRLCK, at, &type) ||
	       type != F_UNLCK;
}

/*
 * A file description of the region object of its own, for the locks: from
 * /proc/self/fd when it is mounted (the same object even if the name was
 * removed), else the name again, which must still be the same object.
 */
static int open_lock_fd(struct shmipc *shm)
{
	char proc[64], path[96];
	struct stat st;
	int fd;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", shm->fd);
	fd = open(proc, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (posix_path(shm->name, path, sizeof(path)))
			return -ENOENT;
		fd = shm_open(path, O_RDWR, 0);
		if (fd < 0)
			return -errno;
	}
	if (fstat(fd, &st) || (uint64_t)st.st_dev != shm->dev ||
	    (uint64_t)st.st_ino != shm->ino) {
		close(fd);
		return -ENOENT;		/* removed and made anew meanwhile */
	}
	return fd;
}

/*
 * The creator sizes the object right after creating it; an opener that
 * comes in between sees size 0 and waits a little for it.
 */
static int posix_size(int fd, struct stat *st)
{
	int i;

	for (i = 0; i < SIZE_WAIT_MS; i++) {
		if (fstat(fd, st))
			return -errno;
		if (st->st_size > 0)
			return 0;
		usleep(1000);
	}
	return -EAGAIN;
}

static int posix_create(const char *path, size_t size, unsigned int mode, int *fdp)
{
	int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, mode);
	int err;

	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) || ftruncate(fd, (off_t)size)) {
		err = -errno;
		shm_unlink(path);
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

/* An existing object: a regular file, and with CREATE, one we could have made. */
static int posix_adopt(const char *path, unsigned int mode, unsigned int flags,
		       int *fdp, struct stat *st)
{
	int fd = shm_open(path, O_RDWR, 0);
	int err;

	if (fd < 0)
		return -errno;
	err = posix_size(fd, st);
	if (!err && !S_ISREG(st->st_mode))
		err = -EPERM;
	if (!err && (flags & SHMIPC_OPEN_CREATE) &&
	    (st->st_uid != geteuid() || (st->st_mode & 022 & ~mode)))
		err = -EPERM;	/* planted by someone else: see the top */
	if (err) {
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

static int posix_open(struct shmipc *shm, const char *name, size_t size,
		      unsigned int mode, unsigned int flags, bool *created)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct stat st;
	char path[96];
	int fd = -1, err;

	err = posix_path(name, path, sizeof(path));
	if (err)
		return err;
	if (size > MAX_REGION)
		return -E2BIG;
	/* Whole pages, and the same answers as the kmod backend's CREATE. */
	size = (size + page - 1) & ~(page - 1);
	*created = false;
	err = -ENOENT;
	if (flags & SHMIPC_OPEN_CREATE) {
		err = posix_create(path, size, mode, &fd);
		if (!err)
			*created = true;
		else if (err != -EEXIST || (flags & SHMIPC_OPEN_EXCL))
			return err;
	}
	if (!*created) {
		err = posix_adopt(path, mode, flags, &fd, &st);
		if (err)
			return err;
		if ((flags & SHMIPC_OPEN_CREATE) && (size_t)st.st_size < size)
			err = -EINVAL;	/* exists, smaller than asked for */
		size = (size_t)st.st_size;
	} else if (fstat(fd, &st)) {
		err = -errno;
	}
	if (err)
		goto close_fd;
	shm->fd = fd;
	shm->size = size;
	shm->dev = (uint64_t)st.st_dev;
	shm->ino = (uint64_t)st.st_ino;
	shm->lock_fd = open_lock_fd(shm);
	if (shm->lock_fd < 0) {
		err = shm->lock_fd;
		goto close_fd;
	}
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&handles_mu);
	shm->next_posix = handles;
	handles = shm;
	pthread_mutex_unlock(&handles_mu);
	return 0;

close_fd:
	close(fd);
	shm->fd = -1;
	if (*created)
		shm_unlink(path);
	*created = false;
	return err;
}

static void posix_close(struct shmipc *shm)
{
	struct shmipc **p;

	pthread_mutex_lock(&handles_mu);
	for (p = &handles; *p; p = &(*p)->next_posix)
		if (*p == shm) {
			*p = shm->next_posix;
			break;
		}
	pthread_mutex_unlock(&handles_mu);
	if (shm->lock_fd >= 0)
		close(shm->lock_fd);
	shm->lock_fd = -1;
	if (shm->fd >= 0)
		close(shm->fd);
	shm->fd = -1;
}

static int posix_unlink(const char *name)
{
	char path[96];
	int err = posix_path(name, path, sizeof(path));

	if (err)
		return err;
	return shm_unlink(path) ? -errno : 0;
}

static int posix_wait(struct shmipc *shm, _Atomic uint32_t *word,
		      uint32_t expected, int64_t deadline_ns, const uint32_t *deaths)
{
	struct timespec ts = {
		.tv_sec = deadline_ns / 1000000000,
		.tv_nsec = deadline_ns % 1000000000,
	};
	long ret;

	(void)shm;
	(void)deaths;	/* no one to wake us at a death: callers poll */
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline. */
	ret = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected,
		      deadline_ns ? &ts : NULL, NULL, FUTEX_BITSET_MATCH_ANY);
	if (ret == 0)
		return 0;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static int posix_wake(struct shmipc *shm, _Atomic uint32_t *word,
		      uint32_t count)
{
	long ret;

	(void)shm;
	ret = syscall(SYS_futex, word, FUTEX_WAKE,
		      count > INT32_MAX ? INT32_MAX : count, NULL, NULL, 0);
	return ret < 0 ? -errno : (int)ret;
}

/* The initialization claim is the lock of INIT_BYTE; its id is 1. */
static int posix_init_claim(struct shmipc *shm, uint32_t *id)
{
	int err = lock_op(shm->lock_fd, F_OFD_SETLK, F_WRLCK, INIT_BYTE, NULL);

	if (err == -EAGAIN || err == -EACCES)
		return -EBUSY;
	if (!err)
		*id = 1;
	return err;
}

static bool posix_init_alive(struct shmipc *shm, uint32_t id)
{
	return id == 1 && locked(shm, INIT_BYTE);
}

static void posix_init_done(struct shmipc *shm)
{
	lock_op(shm->lock_fd, F_OFD_SETLK, F_UNLCK, INIT_BYTE, NULL);
}

/* Locks a free slot's byte: a slot whose byte nobody holds has no live peer. */
static int posix_attach(struct shmipc *shm, bool again, uint32_t gen,
			uint32_t *token)
{
	uint32_t k, slot;
	int err;

	if (again || shm->lock_fd < 0) {
		if (shm->lock_fd >= 0)
			close(shm->lock_fd);
		shm->lock_fd = open_lock_fd(shm);
		if (shm->lock_fd < 0)
			return shm->lock_fd;
	}
	for (k = 0, slot = (uint32_t)getpid() % SHMIPC_PEERS; k < SHMIPC_PEERS;
	     k++, slot = (slot + 1) % SHMIPC_PEERS) {
		err = lock_op(shm->lock_fd, F_OFD_SETLK, F_WRLCK, LOCK_BASE + slot,
			      NULL);
		if (err == -EAGAIN || err == -EACCES)
			continue;
		if (err)
			return err;
		shm->attach_id = slot;
		*token = gen << 9 | slot;
		return 0;
	}
	return -EUSERS;
}

static void posix_detach(struct shmipc *shm)
{
	lock_op(shm->lock_fd, F_OFD_SETLK, F_UNLCK, LOCK_BASE + shm->attach_id, NULL);
}

static bool posix_alive(struct shmipc *shm, uint32_t token, uint32_t recorded)
{
	return recorded == token && locked(shm, LOCK_BASE + (token & SHMIPC_PEER_MASK));
}

static uint32_t posix_deaths(struct shmipc *shm)
{
	(void)shm;
	return 0;
}

/*
 * Nothing wakes a posix sleeper at a death: it polls the pidfds of the
 * peers it was given (the process's exit wakes it) until @deadline, which
 * the caller keeps short, or sleeps on @word.
 */
static int posix_watch(struct shmipc *shm, _Atomic uint32_t *word,
		       uint32_t expected, uint32_t deaths, const uint32_t *pids,
		       unsigned int npids, int64_t deadline)
{
	struct pollfd fds[SHMIPC_PEERS];
	unsigned int i, n = 0;
	int64_t left;

	(void)deaths;
#ifdef SYS_pidfd_open
	for (i = 0; i < npids && n < SHMIPC_PEERS; i++) {
		int fd = (int)syscall(SYS_pidfd_open, (pid_t)pids[i], 0);

		if (fd >= 0)
			fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
#else
	(void)pids;
	(void)npids;
#endif
	if (!n)
		return posix_wait(shm, word, expected, deadline, NULL);
	left = deadline ? (deadline - shmipc_now_ns() + 999999) / 1000000 : -1;
	if (deadline && left < 0)
		left = 0;
	poll(fds, n, left > INT32_MAX ? INT32_MAX : (int)left);
	for (i = 0; i < n; i++)
		close(fds[i].fd);
	return 0;
}

const struct shmipc_backend_ops shmipc_backend_posix = {
	.name = "posix",
	.open = posix_open,
	.close = posix_close,
	.unlink = posix_unlink,
	.wait = posix_wait,
	.wake = posix_wake,
	.init_claim = posix_init_claim,
	.init_alive = posix_init_alive,
	.init_done = posix_init_done,
	.attach = posix_attach,
	.detach = posix_detach,
	.alive = posix_alive,
	.deaths = posix_deaths,
	.watch = posix_watch,
};
