// SPDX-License-Identifier: MIT
/*
 * Received messages as their holders see them. A receiver holds one shared
 * reference on a heap payload (a point-to-point message's count in its
 * block, a broadcast message's holder bit: block.c), and the region records
 * that it holds it (the owner word), so that a reclaim gives it back if the
 * receiver dies. Inline payloads (up to 64 bytes) are copies and hold
 * nothing shared.
 *
 * The held table. Each region handle keeps, in the process, an entry per
 * heap message it received and has not released: the payload, the holder,
 * a generation and the process's own reference count (1, plus one per
 * shmipc_msg_ref()). A struct shmipc_msg carries a ticket, (generation,
 * index), naming its entry. Releasing checks the ticket against the entry
 * (the same generation, payload and holder, still held) before it touches
 * anything shared, and the entry's generation moves when it is reused: so a
 * second release of one message, or a release of a struct that recv never
 * filled, is -EINVAL and frees nothing, never another process's message.
 * The last local release gives back the shared reference; extra references
 * never reach the region, so a reclaim drops exactly what a dead process
 * held.
 *
 * Inline messages hold nothing shared, so they need no entry, and the
 * hot path of small messages touches no shared or contended word for them:
 * the ticket is a seal, a hash of the message's fields keyed by a secret
 * of the handle (SEAL_BIT set), and the struct counts its own extra
 * references in its holder field. Releasing checks the seal, and the last
 * release breaks it, so releasing the same struct again, or one no recv
 * filled, is -EINVAL (a forged seal passes with probability 2^-31, and
 * frees nothing even then). A copy of an inline message is the caller's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define SEAL_BIT	0x80000000u	/* the ticket of an inline message */
#define INDEX_BITS	16
#define INDEX_MASK	((1u << INDEX_BITS) - 1)
#define GEN_MASK	((1u << (31 - INDEX_BITS)) - 1)	/* below SEAL_BIT */

_Static_assert(SHMIPC_HELD_CHUNK * SHMIPC_HELD_CHUNKS <= 1u << INDEX_BITS,
	       "a ticket's index names every entry");

/*
 * The table is lock-free on the receive and release paths: a free list of
 * entry indices with a tagged head (the tag defeats ABA), and an entry's
 * generation and references in one word that every change moves with a
 * compare-and-swap. Chunks of entries are only ever added (under @grow) and
 * freed when the handle closes, so an index once valid stays readable.
 */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ x >> 33;
}

static uint64_t new_secret(void)
{
	struct timespec ts;
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != sizeof(s)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)getpid();
	}
	return mix(s);
}

void shmipc_held_init(struct shmipc *shm)
{
	memset(&shm->held, 0, sizeof(shm->held));
	shm->held.secret = new_secret();
	pthread_mutex_init(&shm->held.grow, NULL);
}

/* The seal of inline message @m (see the top). */
static uint32_t seal(const struct shmipc_held *h, const struct shmipc_msg *m)
{
	uint64_t x = h->secret ^ m->seq ^ (uint64_t)m->type << 32 ^ m->size ^
		     (uint64_t)m->sender << 48 ^ (uint64_t)(uintptr_t)m->data;

	return (uint32_t)mix(x) | SEAL_BIT;
}

/* An inline message just received: sealed, no extra reference. */
void shmipc_held_seal(struct shmipc *shm, struct shmipc_msg *m)
{
	m->holder = 0;
	m->ticket = seal(&shm->held, m);
}

/*
 * A fork()ed child starts with an empty table: what the parent received is
 * the parent's to release. (Another thread of the parent may have held
 * @grow at the fork, so it is made anew rather than destroyed.)
 */
void shmipc_held_reset(struct shmipc *shm)
{
	uint32_t i, n = atomic_load(&shm->held.nchunks);

	for (i = 0; i < n; i++)
		free(atomic_load(&shm->held.chunk[i]));
	memset(&shm->held, 0, sizeof(shm->held));
	shm->held.secret = new_secret();
	pthread_mutex_init(&shm->held.grow, NULL);
}

void shmipc_held_fini(struct shmipc *shm)
{
	uint32_t i, n = atomic_load(&shm->held.nchunks);

	for (i = 0; i < n; i++)
		free(atomic_load(&shm->held.chunk[i]));
	pthread_mutex_destroy(&shm->held.grow);
	memset(&shm->held, 0, sizeof(shm->held));
}

static struct shmipc_held_ent *ent(struct shmipc_held *h, uint32_t idx)
{
	struct shmipc_held_ent *c = atomic_load_explicit(&h->chunk[idx / SHMIPC_HELD_CHUNK],
							 memory_order_acquire);

	return &c[idx % SHMIPC_HELD_CHUNK];
}

static uint64_t state(uint32_t gen, uint32_t refs)
{
	return (uint64_t)gen << 32 | refs;
}

/* Entry @idx goes back on the free list. */
static void push_free(struct shmipc_held *h, uint32_t idx)
{
	struct shmipc_held_ent *e = ent(h, idx);
	uint64_t head = atomic_load_explicit(&h->free_head, memory_order_relaxed), nh;

	do {
		atomic_store_explicit(&e->next_free, (uint32_t)head, memory_order_relaxed);
		nh = ((head >> 32) + 1) << 32 | (idx + 1);
	} while (!atomic_compare_exchange_weak_explicit(&h->free_head, &head, nh,
							memory_order_release,
							memory_order_relaxed));
}

/* One more chunk of free entries, unless another thread added one. */
static int grow(struct shmipc_held *h, uint32_t seen)
{
	struct shmipc_held_ent *c;
	uint32_t n, i;
	int err = 0;

	pthread_mutex_lock(&h->grow);
	n = atomic_load(&h->nchunks);
	if (n != seen)
		goto unlock;		/* someone did */
	if (n == SHMIPC_HELD_CHUNKS) {
		err = -ENOBUFS;
		goto unlock;
	}
	c = calloc(SHMIPC_HELD_CHUNK, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto unlock;
	}
	atomic_store_explicit(&h->chunk[n], c, memory_order_release);
	atomic_store_explicit(&h->nchunks, n + 1, memory_order_release);
	for (i = SHMIPC_HELD_CHUNK; i; i--)
		push_free(h, n * SHMIPC_HELD_CHUNK + i - 1);
unlock:
	pthread_mutex_unlock(&h->grow);
	return err;
}

/* Takes an index off the free list. */
static int pop_free(struct shmipc_held *h, uint32_t *idx)
{
	uint64_t head = atomic_load_explicit(&h->free_head, memory_order_acquire), nh;
	int err;

	for (;;) {
		uint32_t first = (uint32_t)head;

		if (!first) {
			err = grow(h, atomic_load(&h->nchunks));
			if (err)
				return err;
			head = atomic_load_explicit(&h->free_head, memory_order_acquire);
			continue;
		}
		nh = ((head >> 32) + 1) << 32 |
		     atomic_load_explicit(&ent(h, first - 1)->next_free, memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(&h->free_head, &head, nh,
							  memory_order_acquire,
							  memory_order_acquire)) {
			*idx = first - 1;
			return 0;
		}
	}
}

/* Records a message just received; *@ticket names it for release. */
int shmipc_held_add(struct shmipc *shm, uint64_t off, uint32_t holder,
		    uint32_t *ticket)
{
	struct shmipc_held *h = &shm->held;
	struct shmipc_held_ent *e;
	uint32_t idx, gen;
	int err;

	err = pop_free(h, &idx);
	if (err)
		return err;
	e = ent(h, idx);
	gen = (uint32_t)(atomic_load_explicit(&e->state, memory_order_relaxed) >> 32) + 1;
	gen &= GEN_MASK;
	if (!gen)
		gen = 1;
	atomic_store_explicit(&e->off, off, memory_order_relaxed);
	atomic_store_explicit(&e->holder, holder, memory_order_relaxed);
	atomic_store_explicit(&e->state, state(gen, 1), memory_order_release);
	*ticket = gen << INDEX_BITS | idx;
	return 0;
}

/*
 * Moves the references of the entry @m's ticket names by @delta, if @m is
 * still it (the same generation, payload and holder, still held): 0 and
 * the references left in *@left, or -EINVAL.
 */
static int adjust(struct shmipc_held *h, const struct shmipc_msg *m, int delta,
		  uint32_t *left)
{
	uint32_t idx = m->ticket & INDEX_MASK, gen = m->ticket >> INDEX_BITS;
	struct shmipc_held_ent *e;
	uint64_t st;

	if (!gen || idx / SHMIPC_HELD_CHUNK >=
		    atomic_load_explicit(&h->nchunks, memory_order_acquire))
		return -EINVAL;
	e = ent(h, idx);
	st = atomic_load_explicit(&e->state, memory_order_acquire);
	do {
		uint32_t refs = (uint32_t)st;

		if ((st >> 32) != gen || !refs ||
		    atomic_load_explicit(&e->off, memory_order_relaxed) != m->offset ||
		    atomic_load_explicit(&e->holder, memory_order_relaxed) != m->holder)
			return -EINVAL;
		if (delta > 0 && refs == UINT32_MAX)
			return -EOVERFLOW;
		*left = refs + (uint32_t)delta;
	} while (!atomic_compare_exchange_weak_explicit(&e->state, &st,
							state(gen, *left),
							memory_order_acq_rel,
							memory_order_acquire));
	return 0;
}

/* An inline message still sealed by this handle, not released for good. */
static bool sealed(const struct shmipc_held *h, const struct shmipc_msg *m)
{
	return !m->offset && (m->ticket & SEAL_BIT) && m->ticket == seal(h, m);
}

int shmipc_held_ref(struct shmipc *shm, struct shmipc_msg *m)
{
	uint32_t left;

	if (m->ticket & SEAL_BIT) {
		if (!sealed(&shm->held, m))
			return -EINVAL;
		if (m->holder == UINT32_MAX)
			return -EOVERFLOW;
		m->holder++;		/* the struct counts its own */
		return 0;
	}
	return adjust(&shm->held, m, 1, &left);
}

/* A holder's shared release: a broadcast subscriber's bit, or the reference. */
int shmipc_msg_put(struct shmipc *shm, uint64_t off, uint32_t holder)
{
	if (!off)
		return 0;
	if (holder)
		return shmipc_block_bcast_put(shm, off, holder - 1, false, 0);
	return shmipc_block_put(shm, off);
}

int shmipc_held_release(struct shmipc *shm, struct shmipc_msg *m)
{
	uint32_t left;
	int err;

	if (m->ticket & SEAL_BIT) {
		if (!sealed(&shm->held, m))
			return -EINVAL;
		if (m->holder)
			m->holder--;
		else
			m->ticket = 0;	/* released: the seal is broken */
		return 0;
	}
	err = adjust(&shm->held, m, -1, &left);

	if (err)
		return err;		/* released already, or never received */
	if (left)
		return 0;
	push_free(&shm->held, m->ticket & INDEX_MASK);
	return shmipc_msg_put(shm, m->offset, m->holder);
}

/* Closing: every message still held goes back. */
void shmipc_held_release_all(struct shmipc *shm)
{
	struct shmipc_held *h = &shm->held;
	uint32_t n = atomic_load(&h->nchunks), c, i;

	for (c = 0; c < n; c++)
		for (i = 0; i < SHMIPC_HELD_CHUNK; i++) {
			struct shmipc_held_ent *e = ent(h, c * SHMIPC_HELD_CHUNK + i);
			uint64_t st = atomic_load(&e->state);

			if (!(uint32_t)st ||
			    !atomic_compare_exchange_strong(&e->state, &st, st & ~0xffffffffull))
				continue;
			shmipc_msg_put(shm, atomic_load(&e->off), atomic_load(&e->holder));
			push_free(h, c * SHMIPC_HELD_CHUNK + i);
		}
}
