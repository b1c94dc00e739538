/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Small helpers shared by the shmipc selftests: ioctl wrappers that return
 * -errno, names unique to the calling process, the module's parameters and
 * the totals of its debugfs view.
 */
#ifndef SHMIPC_SELFTEST_HELPERS_H
#define SHMIPC_SELFTEST_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/shmipc.h>

#define SHMIPC_DEV	"/dev/shmipc"
#define PARAM_DIR	"/sys/module/shmipc/parameters/"
#define DEBUGFS_DIR	"/sys/kernel/debug"
#define DEBUGFS_REGIONS	DEBUGFS_DIR "/shmipc/regions"

/*
 * Opens the device into @fd, or, where the module is not loaded (no
 * /dev/shmipc), reports the test as skipped; any other failure fails it.
 * For a FIXTURE_SETUP or a TEST body (it uses the harness's macros).
 */
#define DEV_OPEN_OR_SKIP(fd) do {						\
	(fd) = open(SHMIPC_DEV, O_RDWR | O_CLOEXEC);				\
	if ((fd) < 0 && (errno == ENOENT || errno == ENODEV || errno == ENXIO))	\
		SKIP(return, "%s absent: the module is not loaded", SHMIPC_DEV); \
	ASSERT_LE(0, (fd)) TH_LOG("open %s: %s", SHMIPC_DEV, strerror(errno)); \
} while (0)

static inline long xioctl(int fd, unsigned long cmd, void *arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline void set_name(char dst[SHMIPC_NAME_MAX], const char *src)
{
	memset(dst, 0, SHMIPC_NAME_MAX);
	memcpy(dst, src, strnlen(src, SHMIPC_NAME_MAX - 1));
}

/* "<base>-<pid>", so concurrent or repeated runs never share a name. */
static inline const char *uname_of(char buf[SHMIPC_NAME_MAX], const char *base)
{
	snprintf(buf, SHMIPC_NAME_MAX, "%s-%d", base, (int)getpid());
	return buf;
}

/* Returns the region fd or -errno; @out, when given, gets the answer. */
static inline int region_create(int dev, const char *name, uint64_t size,
				uint32_t mode, uint32_t flags,
				struct shmipc_create *out)
{
	struct shmipc_create c = { .size = size, .mode = mode, .flags = flags };
	long ret;

	set_name(c.name, name);
	ret = xioctl(dev, SHMIPC_IOC_CREATE, &c);
	if (out)
		*out = c;
	return ret < 0 ? (int)ret : c.fd;
}

static inline int region_open(int dev, const char *name, uint32_t access,
			      uint64_t *size)
{
	struct shmipc_open o = { .access = access };
	long ret;

	set_name(o.name, name);
	ret = xioctl(dev, SHMIPC_IOC_OPEN, &o);
	if (ret < 0)
		return (int)ret;
	if (size)
		*size = o.size;
	return o.fd;
}

static inline int region_unlink(int dev, const char *name)
{
	struct shmipc_unlink u = { 0 };

	set_name(u.name, name);
	return (int)xioctl(dev, SHMIPC_IOC_UNLINK, &u);
}

static inline int region_info(int rfd, struct shmipc_info *info)
{
	memset(info, 0, sizeof(*info));
	return (int)xioctl(rfd, SHMIPC_IOC_INFO, info);
}

static inline int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int word_wait(int rfd, uint64_t off, uint32_t expected,
			    int64_t deadline_ns)
{
	struct shmipc_wait w = {
		.offset = off, .expected = expected, .deadline_ns = deadline_ns,
	};

	return (int)xioctl(rfd, SHMIPC_IOC_WAIT, &w);
}

static inline int word_wake(int rfd, uint64_t off, uint32_t count)
{
	struct shmipc_wake w = { .offset = off, .count = count };

	return (int)xioctl(rfd, SHMIPC_IOC_WAKE, &w);
}

/* Reads a numeric module parameter; -1 when it cannot. */
static inline long long param_get(const char *name)
{
	char path[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static inline int param_set(const char *name, unsigned long long v)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), PARAM_DIR "%s", name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	ok = fprintf(f, "%llu\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

/* The module-wide totals line of <debugfs>/shmipc/regions. */
static inline int module_totals(unsigned int *live, unsigned int *named,
				unsigned long long *bytes)
{
	char line[512];
	int found = -ENOENT;
	FILE *f;

	f = fopen(DEBUGFS_REGIONS, "r");
	if (!f && errno == ENOENT) {
		mount("none", DEBUGFS_DIR, "debugfs", 0, NULL);
		f = fopen(DEBUGFS_REGIONS, "r");
	}
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "total regions %u named %u bytes %llu",
			   live, named, bytes) == 3)
			found = 0;
	fclose(f);
	return found;
}

#endif /* SHMIPC_SELFTEST_HELPERS_H */
