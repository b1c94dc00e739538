// SPDX-License-Identifier: GPL-2.0-only
/*
 * libshm registry of named buffers, and four processes sharing one region
 * for heap and registry work at once. Either backend.
 */
#define _GNU_SOURCE
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"

FIXTURE(reg) {
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
	struct shmipc_heap_stats st0;
};

FIXTURE_SETUP(reg)
{
	struct shmipc_options o = {
		.size = 4 << 20, .flags = SHMIPC_OPEN_CREATE, .registry_capacity = 8,
	};

	uname_of(self->name, "reg");
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(self->name, &o, &self->shm));
	ASSERT_EQ(0, shmipc_heap_stats(self->shm, &self->st0));
}

FIXTURE_TEARDOWN(reg)
{
	shmipc_close(self->shm);
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

static uint64_t free_bytes(struct shmipc *shm)
{
	struct shmipc_heap_stats st;

	return shmipc_heap_stats(shm, &st) ? 0 : st.free;
}

TEST_F(reg, lifecycle)
{
	struct shmipc_buffer a, f, t;
	char *p;

	ASSERT_EQ(0, shmipc_buffer_create(self->shm, "events", 7, 1000, &a));
	ASSERT_STREQ("events", a.name);
	ASSERT_EQ(7, a.kind);
	ASSERT_EQ(1000, a.size);
	ASSERT_EQ(getpid(), a.creator_pid);
	ASSERT_EQ(2, a.refs);		/* the name's and the creator's */
	ASSERT_EQ(SHMIPC_BUFFER_LIVE, a.state);
	p = shmipc_ptr(self->shm, a.offset, a.size);
	ASSERT_NE(NULL, p);
	strcpy(p, "payload");
	ASSERT_EQ(-EEXIST, shmipc_buffer_create(self->shm, "events", 7, 10, &t));

	/* find does not take a reference, however often it is called. */
	ASSERT_EQ(0, shmipc_buffer_find(self->shm, "events", &f));
	ASSERT_EQ(0, shmipc_buffer_find(self->shm, "events", &f));
	ASSERT_EQ(2, f.refs);
	ASSERT_EQ(a.id, f.id);
	ASSERT_EQ(0, shmipc_buffer_take(self->shm, "events", &t));
	ASSERT_EQ(3, t.refs);
	ASSERT_STREQ("payload", (char *)shmipc_ptr(self->shm, t.offset, 8));

	/* Removed: unnamed at once, memory kept while referenced. */
	ASSERT_EQ(0, shmipc_buffer_remove(self->shm, "events"));
	ASSERT_EQ(-ENOENT, shmipc_buffer_find(self->shm, "events", &f));
	ASSERT_EQ(-ENOENT, shmipc_buffer_remove(self->shm, "events"));
	ASSERT_STREQ("payload", p);
	/* The name can be used again meanwhile. */
	ASSERT_EQ(0, shmipc_buffer_create(self->shm, "events", 1, 16, &f));
	ASSERT_NE(f.id, a.id);
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &t));
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &a));
	/* Every reference gone: the slot and the block are free again. */
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(self->shm, &a));
	ASSERT_EQ(0, shmipc_buffer_remove(self->shm, "events"));
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &f));
	ASSERT_EQ(self->st0.free, free_bytes(self->shm));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

TEST_F(reg, release_checks)
{
	struct shmipc_buffer a, bad;

	ASSERT_EQ(0, shmipc_buffer_create(self->shm, "x", 0, 64, &a));
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &a));
	/* The name's own reference is not the caller's to release. */
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(self->shm, &a));
	bad = a;
	bad.id += 1 << 20;		/* another generation */
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(self->shm, &bad));
	bad.id = 999;			/* no such slot */
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(self->shm, &bad));
	ASSERT_EQ(-EINVAL, shmipc_buffer_release(self->shm, NULL));
	ASSERT_EQ(-EINVAL, shmipc_buffer_create(self->shm, "bad/name", 0, 1, &a));
	ASSERT_EQ(-EINVAL, shmipc_buffer_create(self->shm, "", 0, 1, &a));
	ASSERT_EQ(-EINVAL, shmipc_buffer_create(self->shm, "zero", 0, 0, &a));
	ASSERT_EQ(-ENOMEM, shmipc_buffer_create(self->shm, "huge", 0, 1ull << 40, &a));
	ASSERT_EQ(-ENOENT, shmipc_buffer_find(self->shm, "huge", &a));
	ASSERT_EQ(0, shmipc_buffer_remove(self->shm, "x"));
	ASSERT_EQ(self->st0.free, free_bytes(self->shm));
}

TEST_F(reg, full_and_list)
{
	struct shmipc_buffer b[8], l[16];
	unsigned int total;
	char n[16];
	int i;

	for (i = 0; i < 8; i++) {
		snprintf(n, sizeof(n), "b%d", i);
		ASSERT_EQ(0, shmipc_buffer_create(self->shm, n, i, 100 + i, &b[i]));
	}
	ASSERT_EQ(-ENOSPC, shmipc_buffer_create(self->shm, "b8", 0, 1, &l[0]));
	ASSERT_EQ(8, shmipc_buffer_list(self->shm, l, 16, &total));
	ASSERT_EQ(8, total);
	ASSERT_EQ(3, shmipc_buffer_list(self->shm, l, 3, &total));
	ASSERT_EQ(8, total);
	ASSERT_EQ(0, shmipc_buffer_list(self->shm, NULL, 0, &total));
	ASSERT_EQ(-EINVAL, shmipc_buffer_list(self->shm, NULL, 1, &total));
	for (i = 0; i < 8; i++) {
		snprintf(n, sizeof(n), "b%d", i);
		ASSERT_EQ(0, shmipc_buffer_remove(self->shm, n));
		ASSERT_EQ(0, shmipc_buffer_release(self->shm, &b[i]));
	}
	ASSERT_EQ(0, shmipc_buffer_list(self->shm, l, 16, &total));
	ASSERT_EQ(0, total);
	ASSERT_EQ(self->st0.free, free_bytes(self->shm));
}

/* Another process finds the buffer by name and reads it through its map. */
TEST_F(reg, across_processes)
{
	struct shmipc_buffer a;
	int status;
	pid_t pid;

	ASSERT_EQ(0, shmipc_buffer_create(self->shm, "shared", 3, 32, &a));
	strcpy(shmipc_ptr(self->shm, a.offset, 32), "from the parent");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct shmipc *shm;
		struct shmipc_buffer t;
		int ok;

		if (shmipc_open(self->name, NULL, &shm) ||
		    shmipc_buffer_take(shm, "shared", &t))
			_exit(1);
		ok = t.kind == 3 &&
		     !strcmp(shmipc_ptr(shm, t.offset, 32), "from the parent");
		strcpy(shmipc_ptr(shm, t.offset, 32), "child was here");
		if (shmipc_buffer_release(shm, &t))
			_exit(2);
		shmipc_close(shm);
		_exit(ok ? 0 : 3);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_STREQ("child was here", (char *)shmipc_ptr(self->shm, a.offset, 32));
	ASSERT_EQ(0, shmipc_buffer_find(self->shm, "shared", &a));
	ASSERT_EQ(2, a.refs);
	ASSERT_EQ(0, shmipc_buffer_remove(self->shm, "shared"));
	ASSERT_EQ(0, shmipc_buffer_release(self->shm, &a));
	ASSERT_EQ(self->st0.free, free_bytes(self->shm));
}

/* One worker: 100,000 mixed heap and registry operations. */
static int stress_worker(const char *region, int id)
{
	struct { uint64_t off; uint32_t size, tag; } live[256] = { { 0 } };
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (id + 1);
	struct shmipc *shm;
	unsigned char *base;
	int op, n = 0;

	if (shmipc_open(region, NULL, &shm))
		return 10;
	base = shmipc_base(shm);
	for (op = 0; op < 100000; op++) {
		unsigned int r;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		r = (unsigned int)(rng >> 20);
		if (r % 16 == 0) {
			/* Registry: names shared by all workers. */
			struct shmipc_buffer b;
			char name[16];

			snprintf(name, sizeof(name), "s%u", r % 5);
			if (r % 3 == 0) {
				if (!shmipc_buffer_create(shm, name, id, 64, &b) &&
				    shmipc_buffer_release(shm, &b))
					return 11;
			} else if (r % 3 == 1) {
				if (!shmipc_buffer_take(shm, name, &b) &&
				    shmipc_buffer_release(shm, &b))
					return 12;
			} else {
				int err = shmipc_buffer_remove(shm, name);

				if (err && err != -ENOENT)
					return 13;
			}
		} else if (n < 256 && (n == 0 || r % 2)) {
			uint32_t size = 1 + r % 2048;

			if (shmipc_alloc(shm, size, &live[n].off))
				continue;
			live[n].size = size;
			live[n].tag = (uint32_t)(id * 1000003 + op);
			memset(base + live[n].off, (int)(live[n].tag & 0xff), size);
			n++;
		} else {
			int i = (int)(r % (unsigned int)n);
			uint32_t k;

			for (k = 0; k < live[i].size; k++)
				if (base[live[i].off + k] != (live[i].tag & 0xff))
					return 14;	/* someone wrote into my block */
			if (shmipc_free(shm, live[i].off))
				return 15;
			live[i] = live[--n];
		}
	}
	while (n)
		if (shmipc_free(shm, live[--n].off))
			return 16;
	shmipc_close(shm);
	return 0;
}

TEST_F_TIMEOUT(reg, four_process_stress, 600)
{
	struct shmipc_buffer b;
	pid_t pids[4];
	int i, status;

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (!pids[i])
			_exit(stress_worker(self->name, i));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("worker %d", i);
	}
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	/* Drop the names still standing; then every byte is back. */
	for (i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		if (!shmipc_buffer_find(self->shm, name, &b))
			ASSERT_EQ(0, shmipc_buffer_remove(self->shm, name));
	}
	ASSERT_EQ(self->st0.free, free_bytes(self->shm));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

TEST_HARNESS_MAIN
