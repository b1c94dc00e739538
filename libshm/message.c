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
 * message it received and has not released: the payload, the holder, a
 * generation and the process's own reference count (1, plus one per
 * shmipc_msg_ref()). A struct shmipc_msg carries a ticket, (generation,
 * index), naming its entry. Releasing checks the ticket against the entry
 * (the same generation, payload and holder, still held) before it touches
 * anything shared, and the entry's generation moves when it is reused: so a
 * second release of one message, or a release of a struct that recv never
 * filled, is -EINVAL and frees nothing, never another process's message.
 * The last local release gives back the shared reference; extra references
 * never reach the region, so a reclaim drops exactly what a dead process
 * held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define INDEX_BITS	20
#define INDEX_MASK	((1u << INDEX_BITS) - 1)
#define GEN_MASK	((1u << (32 - INDEX_BITS)) - 1)

_Static_assert(SHMIPC_HELD_CHUNK * SHMIPC_HELD_CHUNKS <= 1u << INDEX_BITS,
	       "a ticket's index names every entry");

void shmipc_held_init(struct shmipc *shm)
{
	memset(&shm->held, 0, sizeof(shm->held));
	pthread_mutex_init(&shm->held.mu, NULL);
}

void shmipc_held_fini(struct shmipc *shm)
{
	uint32_t i;

	for (i = 0; i < shm->held.nchunks; i++)
		free(shm->held.chunk[i]);
	pthread_mutex_destroy(&shm->held.mu);
	memset(&shm->held, 0, sizeof(shm->held));
}

static struct shmipc_held_ent *ent(struct shmipc_held *h, uint32_t idx)
{
	return &h->chunk[idx / SHMIPC_HELD_CHUNK][idx % SHMIPC_HELD_CHUNK];
}

/* One more chunk of free entries; the lock is held. */
static int grow(struct shmipc_held *h)
{
	struct shmipc_held_ent *c;
	uint32_t i, base;

	if (h->nchunks == SHMIPC_HELD_CHUNKS)
		return -ENOBUFS;
	c = calloc(SHMIPC_HELD_CHUNK, sizeof(*c));
	if (!c)
		return -ENOMEM;
	base = h->nchunks * SHMIPC_HELD_CHUNK;
	for (i = 0; i < SHMIPC_HELD_CHUNK; i++)
		c[i].next_free = i + 1 < SHMIPC_HELD_CHUNK ? base + i + 2 : h->free_head;
	h->chunk[h->nchunks++] = c;
	h->free_head = base + 1;
	return 0;
}

/* Records a message just received; *@ticket names it for release. */
int shmipc_held_add(struct shmipc *shm, uint64_t off, uint32_t holder,
		    uint32_t *ticket)
{
	struct shmipc_held *h = &shm->held;
	struct shmipc_held_ent *e;
	uint32_t idx;
	int err = 0;

	pthread_mutex_lock(&h->mu);
	if (!h->free_head)
		err = grow(h);
	if (!err) {
		idx = h->free_head - 1;
		e = ent(h, idx);
		h->free_head = e->next_free;
		e->gen = (e->gen + 1) & GEN_MASK;
		if (!e->gen)
			e->gen = 1;
		e->off = off;
		e->holder = holder;
		e->refs = 1;
		h->count++;
		*ticket = e->gen << INDEX_BITS | idx;
	}
	pthread_mutex_unlock(&h->mu);
	return err;
}

/* The held entry @m's ticket names, if @m is still it; the lock is held. */
static struct shmipc_held_ent *lookup(struct shmipc_held *h, const struct shmipc_msg *m)
{
	uint32_t idx = m->ticket & INDEX_MASK, gen = m->ticket >> INDEX_BITS;
	struct shmipc_held_ent *e;

	if (idx / SHMIPC_HELD_CHUNK >= h->nchunks)
		return NULL;
	e = ent(h, idx);
	if (!e->refs || !gen || e->gen != gen || e->off != m->offset ||
	    e->holder != m->holder)
		return NULL;
	return e;
}

/* Entry @idx goes back on the free list; the lock is held. */
static void put_entry(struct shmipc_held *h, uint32_t idx)
{
	struct shmipc_held_ent *e = ent(h, idx);

	e->refs = 0;
	e->next_free = h->free_head;
	h->free_head = idx + 1;
	h->count--;
}

int shmipc_held_ref(struct shmipc *shm, const struct shmipc_msg *m)
{
	struct shmipc_held *h = &shm->held;
	struct shmipc_held_ent *e;
	int err = 0;

	pthread_mutex_lock(&h->mu);
	e = lookup(h, m);
	if (!e)
		err = -EINVAL;
	else if (e->refs == UINT32_MAX)
		err = -EOVERFLOW;
	else
		e->refs++;
	pthread_mutex_unlock(&h->mu);
	return err;
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

int shmipc_held_release(struct shmipc *shm, const struct shmipc_msg *m)
{
	struct shmipc_held *h = &shm->held;
	struct shmipc_held_ent *e;
	uint64_t off = 0;
	uint32_t holder = 0;
	bool last = false;

	pthread_mutex_lock(&h->mu);
	e = lookup(h, m);
	if (e && !--e->refs) {
		last = true;
		off = e->off;
		holder = e->holder;
		put_entry(h, m->ticket & INDEX_MASK);
	}
	pthread_mutex_unlock(&h->mu);
	if (!e)
		return -EINVAL;		/* released already, or never received */
	return last ? shmipc_msg_put(shm, off, holder) : 0;
}

/* Closing: every message still held goes back. */
void shmipc_held_release_all(struct shmipc *shm)
{
	struct shmipc_held *h = &shm->held;
	uint32_t c, i;

	pthread_mutex_lock(&h->mu);
	for (c = 0; c < h->nchunks; c++)
		for (i = 0; i < SHMIPC_HELD_CHUNK; i++) {
			struct shmipc_held_ent *e = &h->chunk[c][i];

			if (!e->refs)
				continue;
			shmipc_msg_put(shm, e->off, e->holder);
			put_entry(h, c * SHMIPC_HELD_CHUNK + i);
		}
	pthread_mutex_unlock(&h->mu);
}
