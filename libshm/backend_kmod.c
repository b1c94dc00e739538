// SPDX-License-Identifier: MIT
/*
 * The kmod backend: /dev/shmipc CREATE/OPEN/UNLINK, and the region fd's
 * WAIT/WAKE ioctls (plain futex(2) fails with EFAULT on the module's pages).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
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
		     uint32_t expected, int64_t deadline_ns)
{
	struct shmipc_wait w = {
		.offset = (uint64_t)((unsigned char *)word - shm->base),
		.expected = expected,
		.deadline_ns = deadline_ns,
	};

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

const struct shmipc_backend_ops shmipc_backend_kmod = {
	.name = "kmod",
	.open = kmod_open,
	.unlink = kmod_unlink,
	.wait = kmod_wait,
	.wake = kmod_wake,
};
