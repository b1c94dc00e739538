// SPDX-License-Identifier: GPL-2.0-only
/*
 * Randomized bad input: at least 100,000 ioctl calls on the device and on
 * region fds, with commands that are valid, nearly valid or random, and
 * arguments that are NULL, unmapped, kernel addresses, read-only, cut off
 * by an unmapped page, or structs with random and mutated fields; mixed with
 * random mmap()s. Every answer must be a documented one, no fd may leak,
 * and afterwards the kernel log must hold no BUG, WARNING or Oops.
 *
 * SHMIPC_FUZZ_SEED repeats a run; SHMIPC_FUZZ_CALLS changes its length.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/time.h>

#include "helpers.h"
#include "kselftest_harness.h"

#define PAGE	4096UL
#define POOL	8
#define ENTRIES	4096

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static const unsigned long known_cmds[] = {
	SHMIPC_IOC_VERSION, SHMIPC_IOC_CREATE, SHMIPC_IOC_OPEN,
	SHMIPC_IOC_UNLINK, SHMIPC_IOC_LIST, SHMIPC_IOC_WAIT,
	SHMIPC_IOC_WAKE, SHMIPC_IOC_INFO,
};

#define NCMDS (sizeof(known_cmds) / sizeof(known_cmds[0]))

static const int documented[] = {
	EINVAL, EFAULT, ENOTTY, EEXIST, ENOENT, EACCES, EPERM, E2BIG, ENOSPC,
	ENOMEM, EAGAIN, ETIMEDOUT, EINTR, EMFILE,
};

static bool is_documented(int err)
{
	unsigned int i;

	for (i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
		if (documented[i] == err)
			return true;
	return false;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static int count_fds(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n++;
	closedir(dir);
	return n;
}

/* A name from a small space, so creates, opens and unlinks meet. */
static void fuzz_name(char name[SHMIPC_NAME_MAX])
{
	static const char alpha[] = "abc/ \x01\xff";
	unsigned int i, len;

	memset(name, 0, SHMIPC_NAME_MAX);
	switch (rnd_below(8)) {
	case 0:		/* garbage, maybe unterminated */
		for (i = 0; i < SHMIPC_NAME_MAX; i++)
			name[i] = (char)rnd();
		return;
	case 1:		/* too long */
		memset(name, 'n', SHMIPC_NAME_MAX);
		return;
	case 2:		/* stray bytes after the NUL */
		strcpy(name, "fz-a");
		name[10 + rnd_below(50)] = (char)(rnd() | 1);
		return;
	case 3:		/* odd characters */
		len = 1 + rnd_below(6);
		for (i = 0; i < len; i++)
			name[i] = alpha[rnd_below(sizeof(alpha) - 1)];
		return;
	default:
		snprintf(name, SHMIPC_NAME_MAX, "fz-%u", (unsigned int)rnd_below(24));
	}
}

static uint64_t fuzz_size(void)
{
	switch (rnd_below(6)) {
	case 0:
		return 0;
	case 1:
		return rnd();
	case 2:
		return 1ULL << (20 + rnd_below(44));
	default:
		return 1 + rnd_below(64 * 1024);
	}
}

static uint32_t fuzz_u32(void)
{
	return rnd_below(4) ? (uint32_t)rnd_below(8) : (uint32_t)rnd();
}

/* The argument size @cmd encodes, capped to the 256 bytes the fuzzer fills. */
static size_t arg_size(unsigned long cmd)
{
	size_t size = _IOC_SIZE(cmd);

	return size < 255 ? size : 255;
}

/* Fills @buf with a plausible struct for @cmd, then maybe spoils a field. */
static void fuzz_struct(unsigned long cmd, void *buf, void *entries)
{
	union {
		struct shmipc_create c;
		struct shmipc_open o;
		struct shmipc_unlink u;
		struct shmipc_list l;
		struct shmipc_wait w;
		struct shmipc_wake k;
	} *a = buf;

	memset(buf, 0, 256);
	switch (cmd) {
	case SHMIPC_IOC_CREATE:
		fuzz_name(a->c.name);
		a->c.size = fuzz_size();
		a->c.mode = rnd_below(4) ? 0600 : (uint32_t)rnd();
		a->c.flags = fuzz_u32() & (rnd_below(4) ? 1 : ~0U);
		break;
	case SHMIPC_IOC_OPEN:
		fuzz_name(a->o.name);
		a->o.access = fuzz_u32();
		break;
	case SHMIPC_IOC_UNLINK:
		fuzz_name(a->u.name);
		break;
	case SHMIPC_IOC_LIST:
		a->l.capacity = rnd_below(4) ? (uint32_t)rnd_below(64) : (uint32_t)rnd();
		break;
	case SHMIPC_IOC_WAIT:
		a->w.offset = rnd_below(4) ? rnd_below(2 * 65536) : rnd();
		a->w.expected = fuzz_u32();
		a->w.deadline_ns = rnd_below(3) ? 0 :
				   mono_ns() + (int64_t)rnd_below(2000000);
		if (!rnd_below(8))
			a->w.deadline_ns = (int64_t)rnd();
		break;
	case SHMIPC_IOC_WAKE:
		a->k.offset = rnd_below(4) ? rnd_below(2 * 65536) : rnd();
		a->k.count = fuzz_u32();
		break;
	}
	if (!rnd_below(5))	/* one random byte anywhere, reserved included */
		((unsigned char *)buf)[rnd_below(arg_size(cmd) + 1)] = (unsigned char)rnd();
	/*
	 * Set after the mutation: the kernel writes where this points, and a
	 * pointer nudged into the fuzzer's own heap would corrupt the fuzzer,
	 * not test the module. Random values are almost never mapped.
	 */
	if (cmd == SHMIPC_IOC_LIST)
		a->l.entries = rnd_below(3) ? (uintptr_t)entries : rnd();
}

/* Fails the test if the kernel log shows a BUG, WARNING, Oops or trace. */
static void check_kernel_log(struct __test_metadata *_metadata)
{
	static const char *const bad[] = {
		"BUG:", "WARNING:", "Oops", "general protection fault",
		"Call Trace", "kernel BUG", "UBSAN", "KASAN",
	};
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	unsigned int i, found = 0;
	char *buf;
	int n;

	ASSERT_LT(0, len);
	buf = calloc(1, len + 1);
	ASSERT_NE(NULL, buf);
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	ASSERT_LE(0, n);
	buf[n] = 0;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strstr(buf, bad[i])) {
			ksft_print_msg("kernel log has \"%s\"\n", bad[i]);
			found++;
		}
	free(buf);
	EXPECT_EQ(0, found);
}

/* Unlinks every region the fuzzer may have named. */
static void unlink_fuzz_regions(int dev)
{
	struct shmipc_list_entry ents[256];
	struct shmipc_list l = { .entries = (uintptr_t)ents, .capacity = 256 };
	unsigned int i;

	if (xioctl(dev, SHMIPC_IOC_LIST, &l))
		return;
	for (i = 0; i < l.count; i++)
		if (!strncmp(ents[i].name, "fz-", 3))
			region_unlink(dev, ents[i].name);
}

struct pool {
	int fd[POOL];
	void *map[POOL];
	size_t len[POOL];
};

static void pool_put_fd(struct pool *p, int fd)
{
	unsigned int slot = rnd_below(POOL);

	if (p->fd[slot] >= 0)
		close(p->fd[slot]);
	p->fd[slot] = fd;
}

static int pool_any_fd(struct pool *p, int dev)
{
	int fd = p->fd[rnd_below(POOL)];

	return fd >= 0 ? fd : dev;
}

/* A random mmap() of a pool fd; a mapping that succeeds is touched. */
static void fuzz_mmap(struct pool *p, int dev)
{
	static const int prots[] = {
		PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC,
		PROT_WRITE, PROT_READ | PROT_WRITE | PROT_EXEC, PROT_NONE,
	};
	int prot = prots[rnd_below(sizeof(prots) / sizeof(prots[0]))];
	int flags = rnd_below(4) ? MAP_SHARED : MAP_PRIVATE;
	size_t len = (1 + rnd_below(20)) * PAGE;
	off_t off = rnd_below(8) ? (off_t)(rnd_below(20) * PAGE) : (off_t)(rnd() & ~(PAGE - 1) & INT64_MAX);
	unsigned int slot = rnd_below(POOL);
	volatile unsigned char *m;

	m = mmap(NULL, len, prot, flags, pool_any_fd(p, dev), off);
	if (m == MAP_FAILED)
		return;
	if (prot & PROT_WRITE)
		m[rnd_below(len)] = (unsigned char)rnd();
	else if (prot & PROT_READ)
		(void)m[rnd_below(len)];
	if (p->map[slot])
		munmap(p->map[slot], p->len[slot]);
	p->map[slot] = (void *)m;
	p->len[slot] = len;
}

FIXTURE(fuzz) {
	int dev;
};

FIXTURE_SETUP(fuzz)
{
	DEV_OPEN_OR_SKIP(self->dev);
}

FIXTURE_TEARDOWN(fuzz)
{
	unlink_fuzz_regions(self->dev);
	close(self->dev);
}

TEST_F_TIMEOUT(fuzz, random_ioctls, 1200)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
	const char *env = getenv("SHMIPC_FUZZ_SEED");
	unsigned long calls = 100000, done = 0, unexpected = 0, ok = 0;
	unsigned char *area, *ro, *buf;
	struct shmipc_list_entry *entries;
	struct pool pool;
	int fds_before, i;

	rng_state = env ? strtoull(env, NULL, 0) : (uint64_t)mono_ns() ^ getpid();
	if (!rng_state)
		rng_state = 1;
	env = getenv("SHMIPC_FUZZ_CALLS");
	if (env)
		calls = strtoul(env, NULL, 0);
	TH_LOG("seed %#llx, %lu calls", (unsigned long long)rng_state, calls);

	fds_before = count_fds();
	/* Two pages then a hole: a struct placed at the end is cut off. */
	area = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(0, mprotect(area + 2 * PAGE, PAGE, PROT_NONE));
	ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	/* Room for every region the fuzzer and the other tests can name. */
	entries = mmap(NULL, ENTRIES * sizeof(*entries), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, entries);
	buf = area;

	memset(&pool, 0, sizeof(pool));
	for (i = 0; i < POOL; i++)
		pool.fd[i] = -1;
	pool.fd[0] = region_create(self->dev, "fz-pool", 64 * 1024, 0600, 0, NULL);
	ASSERT_LE(0, pool.fd[0]);
	pool.fd[1] = region_open(self->dev, "fz-pool", SHMIPC_ACCESS_RDONLY, NULL);
	ASSERT_LE(0, pool.fd[1]);

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));

	while (done < calls) {
		unsigned long cmd;
		unsigned int k;
		void *arg;
		int target;
		long ret;

		if (!rnd_below(50)) {
			fuzz_mmap(&pool, self->dev);
			continue;
		}
		target = rnd_below(3) ? pool_any_fd(&pool, self->dev) : self->dev;
		k = rnd_below(10);
		if (k < 7)
			cmd = known_cmds[rnd_below(NCMDS)];
		else if (k < 9)
			cmd = _IOC(rnd_below(4), SHMIPC_IOC_MAGIC, rnd_below(0x20),
				   rnd_below(512));
		else
			cmd = (uint32_t)rnd();

		switch (rnd_below(10)) {
		case 0:
			arg = NULL;
			break;
		case 1:
			arg = (void *)(uintptr_t)(16 + rnd_below(PAGE));
			break;
		case 2:
			arg = (void *)0xffffffff81000000UL;
			break;
		case 3:
			arg = (void *)(0xffff888000000000UL + rnd_below(1 << 20) * 8);
			break;
		case 4:
			arg = ro;
			break;
		case 5:		/* the struct's tail runs into the hole */
			arg = area + 2 * PAGE - 1 - rnd_below(arg_size(cmd) + 1);
			fuzz_struct(cmd, buf, entries);
			memcpy(arg, buf, (size_t)(area + 2 * PAGE - (unsigned char *)arg));
			break;
		case 6:
			for (k = 0; k < 256; k++)
				buf[k] = (unsigned char)rnd();
			arg = buf;
			break;
		default:
			fuzz_struct(cmd, buf, entries);
			arg = buf;
		}

		ret = ioctl(target, cmd, arg);
		done++;
		if (ret >= 0) {
			ok++;
			/* Wherever the answer went, it was written: keep its fd. */
			if (cmd == SHMIPC_IOC_CREATE)
				pool_put_fd(&pool, ((struct shmipc_create *)arg)->fd);
			else if (cmd == SHMIPC_IOC_OPEN)
				pool_put_fd(&pool, ((struct shmipc_open *)arg)->fd);
		} else if (_IOC_TYPE(cmd) == SHMIPC_IOC_MAGIC && !is_documented(errno)) {
			if (unexpected++ < 10)
				TH_LOG("cmd %#lx on fd %d: unexpected %s", cmd,
				       target, strerror(errno));
		}
	}

	it.it_value.tv_usec = 0;
	it.it_interval.tv_usec = 0;
	setitimer(ITIMER_REAL, &it, NULL);
	for (i = 0; i < POOL; i++) {
		if (pool.fd[i] >= 0)
			close(pool.fd[i]);
		if (pool.map[i])
			munmap(pool.map[i], pool.len[i]);
	}
	unlink_fuzz_regions(self->dev);
	TH_LOG("%lu calls, %lu succeeded", done, ok);
	EXPECT_EQ(0, unexpected);
	EXPECT_EQ(fds_before, count_fds());
	check_kernel_log(_metadata);
	munmap(entries, ENTRIES * sizeof(*entries));
	munmap(ro, PAGE);
	munmap(area, 3 * PAGE);
}

TEST_HARNESS_MAIN
