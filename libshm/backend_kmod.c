// SPDX-License-Identifier: MIT
/*
 * The kmod backend: /dev/shmipc CREATE/OPEN/UNLINK, and the region fd's
 * WAIT/WAKE ioctls (plain futex(2) fails with EFAULT on the module's pages).
 * The region fd is this process's attachment: its token comes from INFO,
 * the live tokens from the read-only status page, and a fork()ed child
 * gets an attachment of its own with ATTACH, mapped over the parent's at
 * the same address. The module fixes a region's size, so no peer can
 * truncate it under the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/shmipc.h>

#include "internal.h"

#define SHMIPC_DEVICE "/dev/shmipc"
#define STATUS_BYTES 4096

static int kmod_dev(void)
{
	int fd = open(SHMIPC_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int kmod_name(char dst[SHMIPC_NAME_MAX], const char *name)
{
	size_t len = strnlen(name, SHMIPC_NAME_MAX);

	if (!len || len >= SHMIPC_NAME_MAX)
		return -EINVAL;
	memset(dst, 0, SHMIPC_NAME_MAX);
	memcpy(dst, name, len);
	return 0;
}

static const volatile struct shmipc_status *kmod_status(struct shmipc *shm)
{
	return shm->status;
}

/* The status page and this fd's token; the page is the module's, read-only. */
static int kmod_info(struct shmipc *shm, struct shmipc_info *info)
{
	memset(info, 0, sizeof(*info));
	if (ioctl(shm->fd, SHMIPC_IOC_INFO, info))
		return -errno;
	shm->attach_id = info->peer_id;
	return 0;
}

static int kmod_open_fd(const char *name, size_t size, unsigned int mode,
			unsigned int flags, int *fdp, size_t *size_out,
			bool *created)
{
	int dev, err;

	dev = kmod_dev();
	if (dev < 0)
		return dev;
	if (flags & SHMIPC_OPEN_CREATE) {
		struct shmipc_create c = { .size = size, .mode = mode };

		if (flags & SHMIPC_OPEN_EXCL)
			c.flags = SHMIPC_CREATE_EXCL;
		err = kmod_name(c.name, name);
		if (!err && ioctl(dev, SHMIPC_IOC_CREATE, &c))
			err = -errno;
		if (!err) {
			*fdp = c.fd;
			*size_out = c.size;
			*created = c.flags & SHMIPC_CREATED;
		}
	} else {
		struct shmipc_open o = { .access = SHMIPC_ACCESS_RDWR };

		err = kmod_name(o.name, name);
		if (!err && ioctl(dev, SHMIPC_IOC_OPEN, &o))
			err = -errno;
		if (!err) {
			*fdp = o.fd;
			*size_out = o.size;
		}
	}
	close(dev);
	return err;
}

static int kmod_open(struct shmipc *shm, const char *name, size_t size,
		     unsigned int mode, unsigned int flags, bool *created)
{
	struct shmipc_info info;
	size_t got = 0;
	void *st;
	int err;

	*created = false;
	err = kmod_open_fd(name, size, mode, flags, &shm->fd, &got, created);
	if (err)
		return err;
	shm->size = got;
	st = mmap(NULL, STATUS_BYTES, PROT_READ, MAP_SHARED, shm->fd,
		  (off_t)SHMIPC_STATUS_OFFSET);
	if (st == MAP_FAILED) {
		err = -errno;
		goto close_fd;
	}
	shm->status = st;
	if (kmod_status(shm)->magic != SHMIPC_STATUS_MAGIC ||
	    kmod_status(shm)->max_peers != SHMIPC_PEERS) {
		err = -EPROTO;
		goto unmap;
	}
	err = kmod_info(shm, &info);
	if (err)
		goto unmap;
	/* Adopting an existing region: one another user could have planted? */
	if ((flags & SHMIPC_OPEN_CREATE) && !*created &&
	    (info.uid != geteuid() || (info.mode & 022 & ~mode))) {
		err = -EPERM;
		goto unmap;
	}
	return 0;

unmap:
	munmap(st, STATUS_BYTES);
	shm->status = NULL;
close_fd:
	close(shm->fd);
	shm->fd = -1;
	if (*created) {
		shmipc_backend_kmod.unlink(name);
		*created = false;
	}
	return err;
}

static void kmod_close(struct shmipc *shm)
{
	if (shm->status)
		munmap((void *)shm->status, STATUS_BYTES);
	shm->status = NULL;
	if (shm->fd >= 0)
		close(shm->fd);
	shm->fd = -1;
}

static int kmod_unlink(const char *name)
{
	struct shmipc_unlink u = { 0 };
	int dev, err;

	dev = kmod_dev();
	if (dev < 0)
		return dev;
	err = kmod_name(u.name, name);
	if (!err && ioctl(dev, SHMIPC_IOC_UNLINK, &u))
		err = -errno;
	close(dev);
	return err;
}

static int kmod_wait(struct shmipc *shm, _Atomic uint32_t *word,
		     uint32_t expected, int64_t deadline_ns, const uint32_t *deaths)
{
	struct shmipc_wait w = {
		.offset = (uint64_t)((unsigned char *)word - shm->base),
		.expected = expected,
		.deadline_ns = deadline_ns,
	};

	if (deaths) {
		w.flags = SHMIPC_WAIT_PEER_DEATH;
		w.deaths = *deaths;
	}
	return ioctl(shm->fd, SHMIPC_IOC_WAIT, &w) ? -errno : 0;
}

static int kmod_wake(struct shmipc *shm, _Atomic uint32_t *word,
		     uint32_t count)
{
	struct shmipc_wake k = {
		.offset = (uint64_t)((unsigned char *)word - shm->base),
		.count = count,
	};
	int ret = ioctl(shm->fd, SHMIPC_IOC_WAKE, &k);

	return ret < 0 ? -errno : ret;
}

/* One load: the module clears a token before it counts the death. */
static bool kmod_alive(struct shmipc *shm, uint32_t token, uint32_t recorded)
{
	(void)recorded;
	return kmod_status(shm)->peers[token & SHMIPC_PEER_SLOT_MASK] == token;
}

/* The initialization claim is this fd's attachment: alive while it is. */
static int kmod_init_claim(struct shmipc *shm, uint32_t *id)
{
	*id = shm->attach_id;
	return 0;
}

static bool kmod_init_alive(struct shmipc *shm, uint32_t id)
{
	return shm_token_ok(id) && kmod_alive(shm, id, id);
}

static void kmod_init_done(struct shmipc *shm)
{
	(void)shm;
}

static int kmod_attach(struct shmipc *shm, bool again, uint32_t gen,
		       uint32_t *token)
{
	struct shmipc_attach_req a = { 0 };
	struct shmipc_info info;
	int err;

	(void)gen;	/* the module's tokens have their own */
	if (again) {	/* a fork()ed child: an attachment of its own */
		if (ioctl(shm->fd, SHMIPC_IOC_ATTACH, &a))
			return -errno;
		if (dup3(a.fd, shm->fd, O_CLOEXEC) < 0) {
			err = -errno;
			close(a.fd);
			return err;
		}
		close(a.fd);
		/* The mappings too, in place: they hold their file. */
		if (mmap(shm->base, shm->size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, shm->fd, 0) == MAP_FAILED ||
		    mmap((void *)shm->status, STATUS_BYTES, PROT_READ,
			 MAP_SHARED | MAP_FIXED, shm->fd,
			 (off_t)SHMIPC_STATUS_OFFSET) == MAP_FAILED)
			return -errno;
		err = kmod_info(shm, &info);
		if (err)
			return err;
	}
	*token = shm->attach_id;
	return 0;
}

static void kmod_detach(struct shmipc *shm)
{
	(void)shm;	/* the attachment dies with its file, at close */
}

static uint32_t kmod_deaths(struct shmipc *shm)
{
	uint32_t d = kmod_status(shm)->deaths;

	atomic_thread_fence(memory_order_acquire);
	return d;
}

/* The module wakes death waiters at the death itself. */
static int kmod_watch(struct shmipc *shm, _Atomic uint32_t *word,
		      uint32_t expected, uint32_t deaths, const uint32_t *pids,
		      unsigned int npids, int64_t deadline)
{
	(void)pids;
	(void)npids;
	return kmod_wait(shm, word, expected, deadline, &deaths);
}

const struct shmipc_backend_ops shmipc_backend_kmod = {
	.name = "kmod",
	.death_wakeups = true,
	.open = kmod_open,
	.close = kmod_close,
	.unlink = kmod_unlink,
	.wait = kmod_wait,
	.wake = kmod_wake,
	.init_claim = kmod_init_claim,
	.init_alive = kmod_init_alive,
	.init_done = kmod_init_done,
	.attach = kmod_attach,
	.detach = kmod_detach,
	.alive = kmod_alive,
	.deaths = kmod_deaths,
	.watch = kmod_watch,
};
