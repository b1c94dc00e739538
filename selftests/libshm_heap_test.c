// SPDX-License-Identifier: GPL-2.0-only
/*
 * libshm core: region open/close and layout, claimed initialization, and the
 * TLSF heap against a reference model. Runs on whichever backend
 * SHMIPC_BACKEND (or auto-detection) picks: posix on the host, kmod in the VM.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"
#include "internal.h"	/* the heap lock word, to kill its holder */

#define REGION_SIZE	(4u << 20)

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct shmipc *open_new(struct __test_metadata *_metadata,
			       const char *name, size_t size)
{
	struct shmipc_options o = { .size = size, .flags = SHMIPC_OPEN_CREATE };
	struct shmipc *shm;
	int err;

	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	err = shmipc_open(name, &o, &shm);
	EXPECT_EQ(0, err) TH_LOG("open %s: %s", name, shmipc_strerror(err));
	return err ? NULL : shm;
}

FIXTURE(heap) {
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
	struct shmipc_heap_stats st0;
};

FIXTURE_SETUP(heap)
{
	uname_of(self->name, "heap");
	self->shm = open_new(_metadata, self->name, REGION_SIZE);
	ASSERT_NE(NULL, self->shm);
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	ASSERT_EQ(0, shmipc_heap_stats(self->shm, &self->st0));
}

FIXTURE_TEARDOWN(heap)
{
	shmipc_close(self->shm);
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

TEST_F(heap, layout_and_stats)
{
	struct shmipc_heap_stats *st = &self->st0;

	ASSERT_EQ(REGION_SIZE, shmipc_size(self->shm));
	ASSERT_LT(REGION_SIZE / 2, st->total);
	ASSERT_GE(REGION_SIZE, st->total);
	ASSERT_EQ(st->free, st->largest_free);
	ASSERT_EQ(0, st->used_blocks);
	TH_LOG("backend %s: heap %llu bytes, %llu free",
	       shmipc_backend_name(self->shm), (unsigned long long)st->total,
	       (unsigned long long)st->free);
}

struct live {
	uint64_t off;
	size_t size;
	unsigned char tag;
};

/* Random allocs and frees checked against a model of what is live. */
TEST_F_TIMEOUT(heap, random_vs_model, 300)
{
	static struct live live[2048];
	struct shmipc_heap_stats st;
	unsigned int n = 0, i, j, op;
	unsigned char *base = shmipc_base(self->shm);

	for (op = 0; op < 200000; op++) {
		if (n < 2048 && (n == 0 || rnd() % 100 < 55)) {
			size_t size = rnd() % 8 ? 1 + rnd() % 512 : 1 + rnd() % 65536;
			size_t align = rnd() % 8 ? 16 : (size_t)16 << (rnd() % 9);
			uint64_t off;
			int err = align == 16 ? shmipc_alloc(self->shm, size, &off) :
				  shmipc_alloc_aligned(self->shm, size, align, &off);

			if (err == -ENOMEM)
				continue;
			ASSERT_EQ(0, err);
			ASSERT_EQ(0, off % align);
			ASSERT_NE(NULL, shmipc_ptr(self->shm, off, size));
			live[n] = (struct live){ off, size, (unsigned char)(op | 1) };
			memset(base + off, live[n].tag, size);
			n++;
		} else {
			i = rnd() % n;
			/* Nobody wrote over it: no overlap with any other block. */
			for (j = 0; j < live[i].size; j++)
				ASSERT_EQ(live[i].tag, base[live[i].off + j]);
			ASSERT_EQ(0, shmipc_free(self->shm, live[i].off));
			live[i] = live[--n];
		}
		if (op % 20000 == 0)
			ASSERT_EQ(0, shmipc_heap_check(self->shm));
	}
	while (n) {
		ASSERT_EQ(0, shmipc_free(self->shm, live[--n].off));
	}
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	ASSERT_EQ(0, shmipc_heap_stats(self->shm, &st));
	/* Every byte came back and coalesced into one block. */
	ASSERT_EQ(self->st0.free, st.free);
	ASSERT_EQ(self->st0.largest_free, st.largest_free);
	ASSERT_EQ(0, st.used_blocks);
}

TEST_F(heap, exhaustion_and_bad_frees)
{
	static uint64_t offs[1 << 16];
	struct shmipc_heap_stats st;
	unsigned int n = 0;
	uint64_t off;
	size_t usable;

	while (n < (1 << 16) && shmipc_alloc(self->shm, 1000, &offs[n]) == 0)
		n++;
	ASSERT_LT(100, n);
	ASSERT_EQ(-ENOMEM, shmipc_alloc(self->shm, 1000, &off));
	ASSERT_EQ(-ENOMEM, shmipc_alloc(self->shm, REGION_SIZE * 2, &off));
	ASSERT_EQ(0, shmipc_heap_stats(self->shm, &st));
	ASSERT_LE(2, st.failures);
	ASSERT_EQ(0, shmipc_alloc_size(self->shm, offs[0], &usable));
	ASSERT_LE(1000, usable);

	ASSERT_EQ(0, shmipc_free(self->shm, offs[0]));
	ASSERT_EQ(-EINVAL, shmipc_free(self->shm, offs[0])) TH_LOG("double free");
	ASSERT_EQ(-EINVAL, shmipc_free(self->shm, offs[1] + 16));
	ASSERT_EQ(-EINVAL, shmipc_free(self->shm, 0));
	ASSERT_EQ(-EINVAL, shmipc_free(self->shm, UINT64_MAX));
	ASSERT_EQ(-EINVAL, shmipc_alloc_aligned(self->shm, 10, 8192, &off));
	ASSERT_EQ(-EINVAL, shmipc_alloc_aligned(self->shm, 10, 48, &off));
	while (n > 1)
		ASSERT_EQ(0, shmipc_free(self->shm, offs[--n]));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	ASSERT_EQ(0, shmipc_heap_stats(self->shm, &st));
	ASSERT_EQ(self->st0.free, st.free);
}

/* Two handles map the region at two addresses; offsets work in both. */
TEST_F(heap, position_independent)
{
	struct shmipc *other;
	uint64_t off;
	char *a, *b;

	ASSERT_EQ(0, shmipc_open(self->name, NULL, &other));
	ASSERT_NE(shmipc_base(self->shm), shmipc_base(other));
	ASSERT_EQ(0, shmipc_alloc(self->shm, 64, &off));
	a = shmipc_ptr(self->shm, off, 64);
	b = shmipc_ptr(other, off, 64);
	strcpy(a, "seen through both");
	ASSERT_STREQ("seen through both", b);
	ASSERT_EQ(0, shmipc_free(other, off));
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
	shmipc_close(other);
	/* Closing a handle changed nothing shared. */
	ASSERT_EQ(0, shmipc_heap_check(self->shm));
}

/* 8 processes open one new region at once: one initializes, all agree. */
TEST(init_race)
{
	char name[SHMIPC_NAME_MAX];
	int round, i;

	uname_of(name, "race");
	for (round = 0; round < 100; round++) {
		pid_t pids[8];
		int status;

		shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
		for (i = 0; i < 8; i++) {
			pids[i] = fork();
			ASSERT_LE(0, pids[i]);
			if (!pids[i]) {
				struct shmipc_options o = {
					.size = 1 << 20, .flags = SHMIPC_OPEN_CREATE,
				};
				struct shmipc *shm;
				uint64_t off;

				if (shmipc_open(name, &o, &shm))
					_exit(1);
				if (shmipc_alloc(shm, 100, &off) || shmipc_heap_check(shm))
					_exit(2);
				_exit(0);
			}
		}
		for (i = 0; i < 8; i++) {
			ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
			ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("round %d", round);
		}
	}
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
}

/* A region whose initializer died is claimed again by the next opener. */
TEST(dead_claimer)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE };
	char name[SHMIPC_NAME_MAX];
	struct shmipc *shm;
	_Atomic uint32_t *state;
	int status;
	pid_t dead;

	uname_of(name, "claim");
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	dead = fork();
	ASSERT_LE(0, dead);
	if (!dead)
		_exit(0);
	ASSERT_EQ(dead, waitpid(dead, &status, 0));

	ASSERT_EQ(0, shmipc_open(name, &o, &shm));
	/*
	 * Make it look like a claimer that died stopped half-way: its claim id
	 * (any id whose holder does not live) in the state word.
	 */
	state = (_Atomic uint32_t *)((char *)shmipc_base(shm) + 12);
	ASSERT_EQ(0xffffffffu, *state);
	*state = (uint32_t)dead;
	memset((char *)shmipc_base(shm) + 16, 0xee, 64);
	shmipc_close(shm);

	o.flags = 0;
	ASSERT_EQ(0, shmipc_open(name, &o, &shm));
	ASSERT_EQ(0, shmipc_heap_check(shm));
	shmipc_close(shm);
	ASSERT_EQ(0, shmipc_unlink(name, SHMIPC_BACKEND_AUTO));
}

/* A wrong magic or version is refused, and the region is left as it was. */
TEST(bad_header)
{
	struct shmipc_options o = { .size = 1 << 20, .flags = SHMIPC_OPEN_CREATE };
	char name[SHMIPC_NAME_MAX], saved[64];
	struct shmipc *shm, *s2 = NULL;
	unsigned char *base;

	uname_of(name, "hdr");
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(name, &o, &shm));
	base = shmipc_base(shm);
	memcpy(saved, base, sizeof(saved));
	base[0] ^= 0xff;			/* magic */
	ASSERT_EQ(-EPROTO, shmipc_open(name, NULL, &s2));
	ASSERT_EQ(NULL, s2);
	base[0] ^= 0xff;
	base[8] ^= 0x7f;			/* version */
	ASSERT_EQ(-EPROTONOSUPPORT, shmipc_open(name, NULL, &s2));
	ASSERT_EQ(NULL, s2);
	base[8] ^= 0x7f;
	ASSERT_EQ(0, memcmp(saved, base, sizeof(saved)));
	shmipc_close(shm);
	ASSERT_EQ(0, shmipc_unlink(name, SHMIPC_BACKEND_AUTO));
}

TEST(bad_options)
{
	struct shmipc_options o = { 0 };
	struct shmipc *shm;

	ASSERT_EQ(-EINVAL, shmipc_open("", NULL, &shm));
	ASSERT_EQ(-EINVAL, shmipc_open("a/b", NULL, &shm));
	ASSERT_EQ(-EINVAL, shmipc_open(NULL, NULL, &shm));
	o.flags = SHMIPC_OPEN_EXCL;
	ASSERT_EQ(-EINVAL, shmipc_open("x", &o, &shm));
	o.flags = 0x100;
	ASSERT_EQ(-EINVAL, shmipc_open("x", &o, &shm));
	o.flags = 0;
	o.reserved[3] = 1;
	ASSERT_EQ(-EINVAL, shmipc_open("x", &o, &shm));
	o.reserved[3] = 0;
	o.backend = 7;
	ASSERT_EQ(-EINVAL, shmipc_open("x", &o, &shm));
	ASSERT_EQ(-ENOENT, shmipc_open("surely-missing-region", NULL, &shm));
}

/* Both backends: sizes round up to pages; a smaller existing region is refused. */
TEST(sizes)
{
	struct shmipc_options o = { .size = 100000, .flags = SHMIPC_OPEN_CREATE };
	char name[SHMIPC_NAME_MAX];
	struct shmipc *a, *b;

	uname_of(name, "sizes");
	shmipc_unlink(name, SHMIPC_BACKEND_AUTO);
	ASSERT_EQ(0, shmipc_open(name, &o, &a));
	ASSERT_EQ(0, shmipc_size(a) % 4096);
	ASSERT_LE(100000, shmipc_size(a));
	o.size = 50000;
	ASSERT_EQ(0, shmipc_open(name, &o, &b));
	ASSERT_EQ(shmipc_size(a), shmipc_size(b));
	shmipc_close(b);
	o.size = 200000;
	ASSERT_EQ(-EINVAL, shmipc_open(name, &o, &b));
	o.flags |= SHMIPC_OPEN_EXCL;
	ASSERT_EQ(-EEXIST, shmipc_open(name, &o, &b));
	shmipc_close(a);
	ASSERT_EQ(0, shmipc_unlink(name, SHMIPC_BACKEND_AUTO));
	ASSERT_STREQ("Not a shmipc region, or its header is corrupted or records "
		     "another size (truncated?)", shmipc_strerror(-EPROTO));
}

/* An unknown backend name in the environment is refused, not guessed. */
TEST(unknown_backend)
{
	char *saved = getenv("SHMIPC_BACKEND");
	struct shmipc *shm;

	saved = saved ? strdup(saved) : NULL;
	setenv("SHMIPC_BACKEND", "bogus", 1);
	EXPECT_EQ(-EINVAL, shmipc_open("x", NULL, &shm));
	EXPECT_EQ(-EINVAL, shmipc_unlink("x", SHMIPC_BACKEND_AUTO));
	if (saved)
		setenv("SHMIPC_BACKEND", saved, 1);
	else
		unsetenv("SHMIPC_BACKEND");
	free(saved);
}

/*
 * A process allocating and freeing is stopped at a random moment at which
 * it holds the heap lock, then killed with SIGKILL, 200 times; after each
 * kill the heap must check out consistent (taking the lock recovers it from
 * the dead holder and rebuilds the free lists from the block chain).
 */
TEST_F_TIMEOUT(heap, killed_holders, 900)
{
	_Atomic uint32_t *word = &self->shm->heap->lock.word;
	struct shmipc_heap_stats st;
	int round;

	for (round = 0; round < 200; round++) {
		bool held = false;
		int status, tries, pfd[2];
		uint32_t token;
		pid_t pid;

		ASSERT_EQ(0, pipe(pfd));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			uint64_t offs[64] = { 0 };
			unsigned int i;

			/* The child is a peer of its own: tell the parent its token. */
			token = shmipc_peer_id(self->shm);
			if (write(pfd[1], &token, sizeof(token)) != sizeof(token))
				_exit(1);
			rng ^= (uint64_t)getpid() << 20;
			for (;;) {
				i = rnd() % 64;
				if (offs[i]) {
					shmipc_free(self->shm, offs[i]);
					offs[i] = 0;
				} else if (shmipc_alloc(self->shm, 1 + rnd() % 4000, &offs[i])) {
					offs[i] = 0;
				}
			}
		}
		ASSERT_EQ(sizeof(token), read(pfd[0], &token, sizeof(token)));
		close(pfd[0]);
		close(pfd[1]);
		usleep(rnd() % 2000);
		for (tries = 0; !held && tries < 100000; tries++) {
			long spins = 0;

			while ((atomic_load(word) & ~SHMIPC_LOCK_WAITERS) != token &&
			       ++spins < 10000000)
				;
			/* Freeze it, then see whether it still holds the lock. */
			kill(pid, SIGSTOP);
			ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
			held = (atomic_load(word) & ~SHMIPC_LOCK_WAITERS) == token;
			if (!held)
				kill(pid, SIGCONT);
		}
		kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(held) TH_LOG("round %d: never caught holding the lock", round);
		ASSERT_EQ(0, shmipc_heap_check(self->shm)) TH_LOG("round %d", round);
	}
	ASSERT_EQ(0, shmipc_heap_stats(self->shm, &st));
	ASSERT_EQ(200, st.recoveries);
	/* What the dead left allocated was theirs (shmipc_alloc: the region's). */
	shmipc_reclaim(self->shm);
	TH_LOG("200 holders killed, %llu recoveries, %llu blocks left by the dead",
	       (unsigned long long)st.recoveries, (unsigned long long)st.used_blocks);
}

TEST_HARNESS_MAIN
