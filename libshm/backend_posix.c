// SPDX-License-Identifier: MIT
/*
 * The POSIX backend: shm_open + ftruncate + mmap of "/shmipc.<name>", and
 * shared (not private) futex(2) for wait/wake. It works wherever the module
 * is not loaded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int posix_path(const char *name, char *path, size_t len)
{
	int n = snprintf(path, len, "/shmipc.%s", name);

	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/*
 * The creator sizes the object right after creating it; an opener that
 * comes in between sees size 0 and waits a little for it.
 */
static int posix_size(int fd, size_t *size)
{
	struct stat st;
	int i;

	for (i = 0; i < 1000; i++) {
		if (fstat(fd, &st))
			return -errno;
		if (st.st_size > 0) {
			*size = (size_t)st.st_size;
			return 0;
		}
		usleep(1000);
	}
	return -EAGAIN;
}

static int posix_open(const char *name, size_t size, unsigned int mode,
		      unsigned int flags, int *fdp, size_t *size_out,
		      bool *created)
{
	char path[96];
	int fd, err;

	err = posix_path(name, path, sizeof(path));
	if (err)
		return err;
	*created = false;
	/* Whole pages, and the same answers as the kmod backend's CREATE. */
	size = (size + (size_t)sysconf(_SC_PAGESIZE) - 1) &
	       ~((size_t)sysconf(_SC_PAGESIZE) - 1);
	if (flags & SHMIPC_OPEN_CREATE) {
		fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd >= 0) {
			if (fchmod(fd, mode) || ftruncate(fd, (off_t)size)) {
				err = -errno;
				shm_unlink(path);
				close(fd);
				return err;
			}
			*created = true;
			*fdp = fd;
			*size_out = size;
			return 0;
		}
		if (errno != EEXIST || (flags & SHMIPC_OPEN_EXCL))
			return -errno;
	}
	fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = posix_size(fd, size_out);
	if (!err && (flags & SHMIPC_OPEN_CREATE) && *size_out < size)
		err = -EINVAL;		/* exists, smaller than asked for */
	if (err) {
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
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

/* Tokens come from the region's peer table (peer.c). */
static int posix_attach(struct shmipc *shm, bool again)
{
	(void)shm;
	(void)again;
	return 0;
}

static void posix_detach(struct shmipc *shm)
{
	(void)shm;
}

/*
 * The token is in its table slot with a pid that exists, is not a zombie
 * (dead, its parent has not reaped it yet), and started when the peer did:
 * a pid reused since then has another start time. Where /proc does not
 * show the pid (another pid namespace's /proc), signal 0 has the last word.
 */
static bool posix_alive(struct shmipc *shm, uint32_t token)
{
	struct shmipc_peer_rec *r = &shm->peers[token & SHMIPC_PEER_MASK];
	uint64_t v = atomic_load(&r->idpid), st, now;
	uint32_t pid = (uint32_t)(v >> 32);
	bool gone;

	if ((uint32_t)v != token || !shmipc_pid_alive(pid))
		return false;
	st = atomic_load(&r->start_time);
	now = shmipc_proc_stat(pid, &gone);
	if (gone)
		return false;
	return !st || !now || now == st;
}

static uint32_t posix_deaths(struct shmipc *shm)
{
	(void)shm;
	return 0;
}

const struct shmipc_backend_ops shmipc_backend_posix = {
	.name = "posix",
	.open = posix_open,
	.unlink = posix_unlink,
	.wait = posix_wait,
	.wake = posix_wake,
	.attach = posix_attach,
	.detach = posix_detach,
	.alive = posix_alive,
	.deaths = posix_deaths,
};
