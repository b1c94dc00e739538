// SPDX-License-Identifier: MIT
/*
 * The kmod backend: /dev/shmipc CREATE/OPEN/UNLINK, and the region fd's
 * WAIT/WAKE ioctls (plain futex(2) fails with EFAULT on the module's pages).
 * The region fd is this process's attachment: its token comes from INFO,
 * the live tokens from the read-only status page, and a fork()ed child
 * gets an attachment of its own with ATTACH, mapped over the parent's at
 * the same address.
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

static int kmod_dev(void)
{
	int fd = open(SHMIPC_DEVICE, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int kmod_name(char dst[SHMIPC_NAME_MAX], const char *name)
{
	size_t len = strlen(name);

	if (!len || len >= SHMIPC_NAME_MAX)
		return -EINVAL;
	memset(dst, 0, SHMIPC_NAME_MAX);
	memcpy(dst, name, len);
	return 0;
}

static int kmod_open(const char *name, size_t size, unsigned int mode,
		     unsigned int flags, int *fdp, size_t *size_out,
		     bool *created)
{
	int dev, err;

	dev = kmod_dev();
	if (dev < 0)
		return dev;
	*created = false;
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

static const volatile struct shmipc_status *kmod_status(struct shmipc *shm)
{
	return shm->status;
}

static int kmod_attach(struct shmipc *shm, bool again)
{
	struct shmipc_info info;
	void *st;

	if (again) {	/* a fork()ed child: an attachment of its own */
		struct shmipc_attach_req a = { 0 };

		if (ioctl(shm->fd, SHMIPC_IOC_ATTACH, &a))
			return -errno;
		if (dup3(a.fd, shm->fd, O_CLOEXEC) < 0) {
			int err = -errno;

			close(a.fd);
			return err;
		}
		close(a.fd);
		/* The mappings too, in place: they hold their file. */
		if (mmap(shm->base, shm->size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, shm->fd, 0) == MAP_FAILED ||
		    mmap((void *)shm->status, 4096, PROT_READ, MAP_SHARED | MAP_FIXED,
			 shm->fd, (off_t)SHMIPC_STATUS_OFFSET) == MAP_FAILED)
			return -errno;
	} else {
		st = mmap(NULL, 4096, PROT_READ, MAP_SHARED, shm->fd,
			  (off_t)SHMIPC_STATUS_OFFSET);
		if (st == MAP_FAILED)
			return -errno;
		shm->status = st;
		if (kmod_status(shm)->magic != SHMIPC_STATUS_MAGIC ||
		    kmod_status(shm)->max_peers != SHMIPC_PEERS)
			return -EPROTO;
	}
	if (ioctl(shm->fd, SHMIPC_IOC_INFO, &info))
		return -errno;
	shm->token = info.peer_id;
	return 0;
}

static void kmod_detach(struct shmipc *shm)
{
	if (shm->status)
		munmap((void *)shm->status, 4096);
	shm->status = NULL;
}

/* One load: the module clears a token before it counts the death. */
static bool kmod_alive(struct shmipc *shm, uint32_t token)
{
	return kmod_status(shm)->peers[token & SHMIPC_PEER_SLOT_MASK] == token;
}

static uint32_t kmod_deaths(struct shmipc *shm)
{
	uint32_t d = kmod_status(shm)->deaths;

	atomic_thread_fence(memory_order_acquire);
	return d;
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

const struct shmipc_backend_ops shmipc_backend_kmod = {
	.name = "kmod",
	.open = kmod_open,
	.unlink = kmod_unlink,
	.wait = kmod_wait,
	.wake = kmod_wake,
	.attach = kmod_attach,
	.detach = kmod_detach,
	.alive = kmod_alive,
	.deaths = kmod_deaths,
};
