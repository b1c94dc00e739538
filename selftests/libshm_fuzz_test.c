// SPDX-License-Identifier: GPL-2.0-only
/*
 * A deterministic corrupter: in each round a fresh region gets some
 * allocations and named buffers, then random bytes of its header, allocator
 * control block, registry and block headers are overwritten, as a buggy
 * peer would, and the whole API is driven through the old handle and a new
 * one. Calls may fail, with a negative errno; the process must not crash
 * (ASan build on the host), hang (short lock and init timeouts), or write
 * outside the region. SHMIPC_FUZZ_SEED repeats a run.
 */
#define _GNU_SOURCE
#include "helpers.h"
#include "kselftest_harness.h"
#include "libshm.h"
#include "internal.h"	/* where the layout's parts are, to aim at them */

#define ROUNDS		1500
#define REGION		(256 << 10)

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Where the parts are, read before anything is corrupted. */
struct parts {
	uint64_t ctl, reg, heap, size;
};

/* An offset in one of the region's parts, chosen at random. */
static uint64_t target(const struct parts *p, const uint64_t *blocks,
		       unsigned int nblocks)
{
	uint64_t at;

	switch (rnd() % 6) {
	case 0:
		at = rnd() % sizeof(struct shmipc_hdr);
		break;
	case 1:
		at = p->ctl + rnd() % sizeof(struct shmipc_heap_ctl);
		break;
	case 2:
		at = p->reg + rnd() % (p->heap - p->reg);
		break;
	case 3:		/* a block header */
		at = nblocks ? blocks[rnd() % nblocks] - 32 + rnd() % 32 :
			       p->heap + rnd() % 64;
		break;
	case 4:		/* the heap's first and last blocks */
		at = rnd() % 2 ? p->heap + rnd() % 64 : p->size - 1 - rnd() % 64;
		break;
	default:
		at = rnd();
	}
	return at % p->size;
}

/* Drives every call once or more; only the absence of a crash counts. */
static unsigned int drive(struct shmipc *shm, uint64_t *blocks, unsigned int n)
{
	struct shmipc_buffer b, list[8];
	struct shmipc_heap_stats st;
	unsigned int total, errors = 0, i;
	uint64_t off;
	size_t size;

	errors += shmipc_heap_check(shm) != 0;
	errors += shmipc_heap_stats(shm, &st) != 0;
	for (i = 0; i < n; i++) {
		errors += shmipc_alloc_size(shm, blocks[i], &size) != 0;
		errors += shmipc_free(shm, blocks[i]) != 0;
	}
	for (i = 0; i < 8; i++) {
		if (!shmipc_alloc(shm, 1 + rnd() % 5000, &off))
			errors += shmipc_free(shm, off) != 0;
		else
			errors++;
		if (!shmipc_alloc_aligned(shm, 100, 256, &off))
			errors += shmipc_free(shm, off) != 0;
		errors += shmipc_free(shm, rnd() % (2 * REGION)) != 0;
	}
	errors += shmipc_buffer_list(shm, list, 8, &total) < 0;
	if (!shmipc_buffer_take(shm, "b1", &b))
		errors += shmipc_buffer_release(shm, &b) != 0;
	errors += shmipc_buffer_find(shm, "b2", &b) != 0;
	errors += shmipc_buffer_remove(shm, "b0") != 0;
	if (!shmipc_buffer_create(shm, "new", 1, 100, &b))
		errors += shmipc_buffer_release(shm, &b) != 0;
	b.id = rnd();
	errors += shmipc_buffer_release(shm, &b) != 0;
	errors += shmipc_heap_check(shm) != 0;
	return errors;
}

FIXTURE(fuzz) {
	char name[SHMIPC_NAME_MAX];
};

FIXTURE_SETUP(fuzz)
{
	const char *env = getenv("SHMIPC_FUZZ_SEED");

	uname_of(self->name, "corrupt");
	rng = env ? strtoull(env, NULL, 0) : (uint64_t)mono_ns() ^ getpid();
	if (!rng)
		rng = 1;
	TH_LOG("seed %#llx", (unsigned long long)rng);
}

FIXTURE_TEARDOWN(fuzz)
{
	shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
}

TEST_F_TIMEOUT(fuzz, corrupted_regions, 900)
{
	struct shmipc_options o = {
		.size = REGION, .flags = SHMIPC_OPEN_CREATE, .registry_capacity = 8,
		.init_timeout_ms = 20, .lock_timeout_ms = 20,
	};
	unsigned long errors = 0, refused = 0;
	int round;

	for (round = 0; round < ROUNDS; round++) {
		struct shmipc *shm, *other;
		struct shmipc_buffer b;
		struct parts parts;
		uint64_t blocks[16];
		unsigned int n = 0, i, flips;
		unsigned char *base;
		int err;

		shmipc_unlink(self->name, SHMIPC_BACKEND_AUTO);
		ASSERT_EQ(0, shmipc_open(self->name, &o, &shm));
		for (i = 0; i < 16; i++)
			if (!shmipc_alloc(shm, 1 + rnd() % 3000, &blocks[n]))
				n++;
		for (i = 0; i < 3; i++) {
			char bn[8];

			snprintf(bn, sizeof(bn), "b%u", i);
			ASSERT_EQ(0, shmipc_buffer_create(shm, bn, i, 64 + i, &b));
		}

		base = shmipc_base(shm);
		parts = (struct parts){
			shm->hdr->heap_ctl_off, shm->hdr->registry_off,
			shm->hdr->heap_off, shm->size,
		};
		flips = 1 + rnd() % 8;
		for (i = 0; i < flips; i++) {
			uint64_t at = target(&parts, blocks, n);

			if (rnd() % 2)
				base[at] ^= (unsigned char)(1u << (rnd() % 8));
			else
				base[at] = (unsigned char)rnd();
		}

		errors += drive(shm, blocks, n);
		o.flags = 0;
		err = shmipc_open(self->name, &o, &other);
		o.flags = SHMIPC_OPEN_CREATE;
		if (err) {
			ASSERT_GT(0, err);
			ASSERT_NE(NULL, shmipc_strerror(err));
			refused++;
		} else {
			errors += drive(other, NULL, 0);
			shmipc_close(other);
		}
		shmipc_close(shm);
	}
	TH_LOG("%d rounds: %lu calls failed cleanly, %lu opens refused",
	       ROUNDS, errors, refused);
}

TEST_HARNESS_MAIN
