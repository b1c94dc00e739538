// SPDX-License-Identifier: MIT
/*
 * Block ownership: who holds a heap block, recorded in the block itself so
 * that a reclaim finds what a dead peer held. A used block's header has an
 * owner word (heap.c stores it at allocation, under the heap lock), a state
 * and a peer token:
 *
 *   PLAIN   allocated with shmipc_alloc(), or a registry entry's block: the
 *           region's for good;
 *   RESV    reserved by its peer: a message being written, a registry entry
 *           being created; freed if the peer dies before it is published;
 *   HELD    a point-to-point message its peer received and has not
 *           released; released if the peer dies;
 *   BCAST   a broadcast message: one holder bit per subscriber that still
 *           owes a release (the bits are the references).
 *
 * and a user area with the message's reference count (point-to-point), and
 * the holder bits and channel tag (broadcast). A queued point-to-point
 * message keeps the owner word its sender or last receiver left; queues, not
 * the word, say it is queued, and reclaim.c argues why reading the queues
 * before the owner words is safe.
 *
 * Every word here is read once and checked (shared.h): a reference count
 * of 0 is not decremented, a holder bit that is not set is not cleared, and
 * a block is freed only after the heap has checked, under its lock, that it
 * is still the one the caller meant.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define PUT_TRIES	64

struct blk_user {
	_Atomic uint32_t refs;		/* point-to-point message references */
	_Atomic uint32_t holders;	/* broadcast: subscribers that owe a release */
	_Atomic uint32_t chan;		/* broadcast: the channel's tag */
	uint32_t pad[3];
};
_Static_assert(sizeof(struct blk_user) == SHMIPC_BLK_USER, "user area size");

static struct blk_user *user_of(const struct shmipc_blk *b)
{
	return b->user;
}

int shmipc_block_alloc(struct shmipc *shm, size_t size, size_t align,
		       uint32_t state, uint64_t *off)
{
	return shmipc_heap_alloc(shm, size, align, state | shm->token, off);
}

static int set_owner(struct shmipc *shm, const struct shmipc_blk *b, void *arg)
{
	(void)shm;
	atomic_store(b->owner, *(const uint32_t *)arg);
	return 0;
}

/* Sets the owner word of used block @off, checked under the heap lock. */
int shmipc_block_set_owner(struct shmipc *shm, uint64_t off, uint32_t own)
{
	return shmipc_heap_with(shm, off, set_owner, &own);
}

/* The sender's block becomes a message with one reference, before it is queued. */
int shmipc_block_send(struct shmipc *shm, uint64_t off)
{
	struct shmipc_blk b;
	int err = shmipc_heap_block(shm, off, &b);

	if (!err)
		atomic_store_explicit(&user_of(&b)->refs, 1, memory_order_relaxed);
	return err;
}

/*
 * A received payload becomes the caller's: a reclaim finds it if the
 * caller dies. The caller's release store that gives the slot back orders
 * this store before the slot can be seen free (see reclaim.c).
 */
int shmipc_block_hold(struct shmipc *shm, uint64_t off)
{
	struct shmipc_blk b;
	int err = shmipc_heap_block(shm, off, &b);

	if (!err)
		atomic_store_explicit(b.owner, SHMIPC_OWN_HELD | shm->token,
				      memory_order_relaxed);
	return err;
}

/* Drops one reference on the message at @off; the last one frees it. */
int shmipc_block_put(struct shmipc *shm, uint64_t off)
{
	struct shmipc_blk b;
	uint32_t r;
	unsigned int n;
	int err = shmipc_heap_block(shm, off, &b);

	if (err)
		return err;
	r = atomic_load(&user_of(&b)->refs);
	for (n = 0; n < PUT_TRIES; n++) {
		if (!r)
			return -EBADMSG;	/* no reference to drop */
		if (atomic_compare_exchange_weak_explicit(&user_of(&b)->refs, &r, r - 1,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return r == 1 ? shmipc_heap_free(shm, off) : 0;
	}
	return -EBADMSG;		/* a word someone keeps rewriting */
}

/*
 * Makes the caller's block at @off a broadcast message of channel @tag, one
 * holder bit per subscriber in @holders; the owner word goes last.
 */
int shmipc_block_bcast(struct shmipc *shm, uint64_t off, uint32_t tag,
		       uint32_t holders)
{
	struct shmipc_blk b;
	int err = shmipc_heap_block(shm, off, &b);

	if (err)
		return err;
	atomic_store_explicit(&user_of(&b)->chan, tag, memory_order_relaxed);
	atomic_store_explicit(&user_of(&b)->holders, holders, memory_order_relaxed);
	atomic_store_explicit(b.owner, SHMIPC_OWN_BCAST, memory_order_release);
	return 0;
}

static bool is_bcast(const struct shmipc_blk *b)
{
	return (atomic_load(b->owner) & SHMIPC_OWN_STATE) == SHMIPC_OWN_BCAST;
}

/* A broadcast block whose last bit is gone: 1, free it. */
static int free_orphan(struct shmipc *shm, const struct shmipc_blk *b, void *arg)
{
	(void)shm;
	(void)arg;
	return is_bcast(b) && !atomic_load(&user_of(b)->holders) ? 1 : 0;
}

struct bcast_put_arg {
	uint32_t tag, mask;
};

/* Under the heap lock: clears a bit of a broadcast block of channel @tag. */
static int clear_checked(struct shmipc *shm, const struct shmipc_blk *b, void *arg)
{
	const struct bcast_put_arg *a = arg;
	uint32_t old;

	(void)shm;
	if (!is_bcast(b) || atomic_load(&user_of(b)->chan) != a->tag)
		return -EBADMSG;
	old = atomic_fetch_and_explicit(&user_of(b)->holders, ~a->mask,
					memory_order_acq_rel);
	return (old & a->mask) && !(old & ~a->mask) ? 1 : 0;
}

/*
 * Subscriber @bit gives back its reference on broadcast message @off. A
 * subscriber's own release (@check false) relies on its bit keeping the
 * block alive: it clears the bit in one atomic step that also tells whether
 * it was the last, and the last clearer frees the block under the heap
 * lock after checking it is still that orphan (if the clearer dies first,
 * the heap pass of its reclaim frees it, and a late clearer finds it gone).
 * Anyone else's (@check) runs under the heap lock and first checks that
 * @off is a broadcast block of channel @tag.
 */
int shmipc_block_bcast_put(struct shmipc *shm, uint64_t off, unsigned int bit,
			   bool check, uint32_t tag)
{
	struct bcast_put_arg a = { .tag = tag, .mask = 1u << (bit & 31) };
	struct shmipc_blk b;
	uint32_t old;
	int err;

	if (bit >= SHMIPC_MAX_SUBSCRIBERS)
		return -EBADMSG;
	if (check) {
		err = shmipc_heap_with(shm, off, clear_checked, &a);
		return err > 0 ? 0 : err;
	}
	err = shmipc_heap_block(shm, off, &b);
	if (err)
		return err;
	old = atomic_fetch_and_explicit(&user_of(&b)->holders, ~a.mask,
					memory_order_acq_rel);
	if (!(old & a.mask))
		return -EBADMSG;	/* this subscriber held nothing here */
	if (old & ~a.mask)
		return 0;
	err = shmipc_heap_with(shm, off, free_orphan, NULL);
	return err == -EBADMSG ? 0 : err;	/* gone already: a reclaim freed it */
}

/* A broadcast payload a dead publisher never published: its reservation again. */
int shmipc_block_unpublish(struct shmipc *shm, uint64_t off, uint32_t token)
{
	return shmipc_block_set_owner(shm, off, SHMIPC_OWN_RESV |
				      (token & (SHMIPC_TOKEN_LIMIT - 1)));
}

/* The payload size of the used block at @off, or 0. */
uint64_t shmipc_block_size(const struct shmipc *shm, uint64_t off)
{
	struct shmipc_blk b;

	return shmipc_heap_block(shm, off, &b) ? 0 : b.size;
}

static bool is_queued(const struct shmipc_block_reclaim *br, uint64_t off)
{
	size_t lo = 0, hi = br->nqueued;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (br->queued[mid] == off)
			return true;
		if (br->queued[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int reclaim_block(struct shmipc *shm, const struct shmipc_blk *b, void *arg)
{
	struct shmipc_block_reclaim *br = arg;
	uint32_t own = atomic_load(b->owner), st = own & SHMIPC_OWN_STATE;
	struct blk_user *u = user_of(b);
	unsigned int k;

	(void)shm;
	if ((st == SHMIPC_OWN_RESV || st == SHMIPC_OWN_HELD) &&
	    (own & ~SHMIPC_OWN_STATE) == br->dead && !is_queued(br, b->off)) {
		br->bytes += b->size;
		if (st == SHMIPC_OWN_HELD)
			br->msgs++;
		return 1;
	}
	if (st != SHMIPC_OWN_BCAST)
		return 0;
	for (k = 0; k < br->nsubs; k++) {
		uint32_t m = 1u << (br->subs[k].bit & 31);

		if (atomic_load(&u->chan) == br->subs[k].tag &&
		    (atomic_fetch_and(&u->holders, ~m) & m))
			br->msgs++;
	}
	/* The last bit gone, by us or by a releaser that died: freed. */
	if (!atomic_load(&u->holders)) {
		br->bytes += b->size;
		return 1;
	}
	return 0;
}

/*
 * The heap pass of a reclaim (reclaim.c), under the heap lock: frees dead
 * peer br->dead's reserved and held blocks that no queue refers to, clears
 * the holder bits of its dead subscriptions, and frees broadcast blocks no
 * bit holds any more.
 */
int shmipc_block_reclaim(struct shmipc *shm, struct shmipc_block_reclaim *br)
{
	return shmipc_heap_walk(shm, reclaim_block, br);
}

static int count_holdings(struct shmipc *shm, const struct shmipc_blk *b, void *arg)
{
	struct shmipc_holdings *h = arg;
	uint32_t own = atomic_load(b->owner), tok = own & ~SHMIPC_OWN_STATE;
	struct shmipc_holdings *p = &h[tok & SHMIPC_PEER_MASK];

	(void)shm;
	if (!tok || p->token != tok)
		return 0;
	if ((own & SHMIPC_OWN_STATE) == SHMIPC_OWN_RESV) {
		p->resv_bytes += b->size;
	} else if ((own & SHMIPC_OWN_STATE) == SHMIPC_OWN_HELD) {
		p->held_msgs++;
		p->held_bytes += b->size;
	}
	return 0;
}

/* Sums, per peer slot of @h (SHMIPC_PEERS entries), what its token holds. */
int shmipc_block_holdings(struct shmipc *shm, struct shmipc_holdings *h)
{
	return shmipc_heap_walk(shm, count_holdings, h);
}
