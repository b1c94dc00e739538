// SPDX-License-Identifier: MIT
/*
 * The heap: a TLSF allocator (Masmano et al., "TLSF: a new dynamic memory
 * allocator for real-time systems") in the region, shared by every process
 * under the region's heap lock. O(1) allocate and free: two-level segregated
 * free lists, found through a first-level and per-row second-level bitmap.
 * Immediate coalescing. Everything is an offset from the region's start.
 *
 * A block is a 48-byte header followed by its payload (a multiple of 16
 * bytes). Free blocks keep their list links in the first 16 payload bytes.
 * The heap ends with a used, empty sentinel block so merging stops there.
 *
 * Crash safety. A process killed while holding the heap lock leaves its pid
 * in the lock word; the next process to take the lock sees the pid dead,
 * takes the lock over and rebuilds the free lists by walking the physical
 * block chain (heap_rebuild()). That is safe because every operation keeps
 * the chain walkable after each single store:
 *  - a split writes the new tail block's header inside the old payload first,
 *    and only then shrinks the old block's size (one 8-byte store, the
 *    commit); before it, the tail is invisible garbage inside a payload;
 *  - a merge removes both blocks from their lists, then grows the surviving
 *    block's size (the commit); the swallowed header becomes payload;
 *  - free and used are a flag in the size word, flipped by one store.
 * prev_phys links, list links, bitmaps and counters are derived data that
 * the rebuild recomputes; adjacent free blocks left by an interrupted merge
 * are merged by it. What an interrupted allocation had taken stays allocated,
 * reserved by its peer, and goes back when that peer is reclaimed.
 *
 * Ownership. Each used block's header has an owner word, a state and a peer
 * token: PLAIN (allocated with shmipc_alloc(): the region's for good),
 * RESV (a reservation: a message being written, a registry entry being
 * created), HELD (a message its peer received and has not released), BCAST
 * (a broadcast message: one holder bit per subscriber that still owes a
 * release, and a reference per set bit). A queued point-to-point message
 * keeps the owner word its sender or last receiver left; queues, not the
 * word, say it is queued. shmipc_heap_reclaim() frees a dead peer's RESV
 * and HELD blocks that no queue refers to, and clears dead subscribers'
 * bits; peer.c and channel.c argue why a block cannot enter a queue after
 * the queues were read.
 *
 * Defensive reading: every offset read from the region is checked (inside the
 * heap, aligned, header magic) before it is followed, and every walk is
 * bounded by the number of blocks the heap can hold. A corrupted heap gives
 * -EFAULT, never a wild access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define BLK_HDR		48u
#define BLK_MIN		16u		/* smallest payload: two list links */
#define BLK_FREE	1ull
#define BLK_FLAGS	(TLSF_ALIGN - 1ull)
#define BLK_MAGIC	0x424c4b31u	/* "BLK1" */
#define MAX_ALIGN	4096u

struct blk {
	uint64_t prev_phys;	/* header offset of the block before; derived */
	uint64_t size;		/* payload bytes | BLK_FREE */
	uint32_t magic;
	_Atomic uint32_t owner;	/* SHMIPC_OWN_* | token */
	_Atomic uint32_t refs;	/* message references (channel.c) */
	_Atomic uint32_t holders; /* broadcast: subscribers that owe a release */
	uint32_t chan;		/* broadcast: the channel's tag */
	uint32_t pad[3];
};

struct links {
	uint64_t next;
	uint64_t prev;
};

_Static_assert(sizeof(struct blk) == BLK_HDR, "block header is 48 bytes");
_Static_assert(TLSF_FL_COUNT <= 32, "first-level bitmap is 32 bits");

static uint64_t bsize(const struct blk *b)
{
	return b->size & ~BLK_FLAGS;
}

static bool bfree(const struct blk *b)
{
	return b->size & BLK_FREE;
}

/* The header at @off if it is a plausible block of this heap, else NULL. */
static struct blk *blk_at(const struct shmipc *shm, uint64_t off)
{
	struct blk *b;
	uint64_t size;

	if (off < shm->heap_off || off >= shm->heap_end ||
	    shm->heap_end - off < BLK_HDR || (off - shm->heap_off) % TLSF_ALIGN)
		return NULL;
	b = (struct blk *)(shm->base + off);
	size = bsize(b);
	if (b->magic != BLK_MAGIC || size > shm->heap_end - off - BLK_HDR)
		return NULL;
	return b;
}

/* A free block with room for its list links, else NULL. */
static struct blk *free_at(const struct shmipc *shm, uint64_t off)
{
	struct blk *b = blk_at(shm, off);

	return b && bfree(b) && bsize(b) >= BLK_MIN ? b : NULL;
}

static struct links *links_of(const struct shmipc *shm, uint64_t off)
{
	return (struct links *)(shm->base + off + BLK_HDR);
}

static uint64_t max_blocks(const struct shmipc *shm)
{
	return (shm->heap_end - shm->heap_off) / (BLK_HDR + BLK_MIN) + 1;
}

static unsigned int fls64(uint64_t x)
{
	return 63u - (unsigned int)__builtin_clzll(x);
}

static void mapping_insert(uint64_t size, unsigned int *fl, unsigned int *sl)
{
	unsigned int f;

	if (size < TLSF_SMALL) {
		*fl = 0;
		*sl = (unsigned int)(size / (TLSF_SMALL / TLSF_SL_COUNT));
		return;
	}
	f = fls64(size);
	*sl = (unsigned int)(size >> (f - TLSF_SL_LOG2)) ^ TLSF_SL_COUNT;
	*fl = f - (TLSF_FL_SHIFT - 1);
}

/* The list whose every block is at least @size: round up to the next class. */
static void mapping_search(uint64_t size, unsigned int *fl, unsigned int *sl)
{
	if (size >= TLSF_SMALL)
		size += (1ull << (fls64(size) - TLSF_SL_LOG2)) - 1;
	mapping_insert(size, fl, sl);
}

static int insert_free(struct shmipc *shm, uint64_t off, struct blk *b)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct links *l = links_of(shm, off);
	unsigned int fl, sl;
	uint64_t head;

	mapping_insert(bsize(b), &fl, &sl);
	if (fl >= TLSF_FL_COUNT || bsize(b) < BLK_MIN)
		return -EFAULT;
	head = h->heads[fl][sl];
	if (head) {
		if (!free_at(shm, head))
			return -EFAULT;
		links_of(shm, head)->prev = off;
	}
	l->next = head;
	l->prev = 0;
	h->heads[fl][sl] = off;
	h->fl_bitmap |= 1u << fl;
	h->sl_bitmap[fl] |= 1u << sl;
	return 0;
}

static int remove_free(struct shmipc *shm, uint64_t off, struct blk *b)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct links *l = links_of(shm, off);
	uint64_t next, prev;
	unsigned int fl, sl;

	if (bsize(b) < BLK_MIN)		/* no room for links: corrupted */
		return -EFAULT;
	next = l->next;
	prev = l->prev;
	mapping_insert(bsize(b), &fl, &sl);
	if (fl >= TLSF_FL_COUNT || (next && !free_at(shm, next)) ||
	    (prev && !free_at(shm, prev)))
		return -EFAULT;
	if (next)
		links_of(shm, next)->prev = prev;
	if (prev) {
		links_of(shm, prev)->next = next;
	} else {
		if (h->heads[fl][sl] != off)
			return -EFAULT;
		h->heads[fl][sl] = next;
		if (!next) {
			h->sl_bitmap[fl] &= ~(1u << sl);
			if (!h->sl_bitmap[fl])
				h->fl_bitmap &= ~(1u << fl);
		}
	}
	return 0;
}

/* First block of a list that holds blocks of at least @size, or 0. */
static uint64_t find_suitable(struct shmipc *shm, uint64_t size)
{
	struct shmipc_heap_ctl *h = shm->heap;
	unsigned int fl, sl;
	uint32_t map;

	mapping_search(size, &fl, &sl);
	if (fl >= TLSF_FL_COUNT)
		return 0;
	map = h->sl_bitmap[fl] & (~0u << sl);
	if (!map) {
		map = fl + 1 < 32 ? h->fl_bitmap & (~0u << (fl + 1)) : 0;
		if (!map)
			return 0;
		fl = (unsigned int)__builtin_ctz(map);
		if (fl >= TLSF_FL_COUNT)
			return 0;
		map = h->sl_bitmap[fl];
		if (!map)
			return 0;
	}
	sl = (unsigned int)__builtin_ctz(map);
	return h->heads[fl][sl];
}

/* Points the block after @off (if any) back at it. */
static void link_next(struct shmipc *shm, uint64_t off, struct blk *b)
{
	struct blk *n = blk_at(shm, off + BLK_HDR + bsize(b));

	if (n)
		n->prev_phys = off;
}

/*
 * Splits free-flagged block @off after @front payload bytes. The back part's
 * header is written inside the payload first; the store that shrinks the
 * front block is the commit (see the top of the file). Both parts stay
 * free-flagged and on no list; the caller lists the one it does not use.
 */
static struct blk *split_block(struct shmipc *shm, uint64_t off, struct blk *b,
			       uint64_t front)
{
	uint64_t back_off = off + BLK_HDR + front;
	struct blk *back = (struct blk *)(shm->base + back_off);

	*back = (struct blk){
		.prev_phys = off,
		.size = (bsize(b) - front - BLK_HDR) | BLK_FREE,
		.magic = BLK_MAGIC,
	};
	b->size = front | BLK_FREE;	/* commit */
	link_next(shm, back_off, back);
	shm->heap->free_bytes -= BLK_HDR;
	return back;
}

/*
 * Takes block @off (free-flagged, on no list) for @adj payload bytes: the
 * tail beyond goes back as a free block when it can hold one.
 */
static int use_block(struct shmipc *shm, uint64_t off, struct blk *b,
		     uint64_t adj, uint32_t own)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t size = bsize(b);
	int err;

	if (size - adj >= BLK_HDR + BLK_MIN) {
		err = insert_free(shm, off + BLK_HDR + adj,
				  split_block(shm, off, b, adj));
		if (err)
			return err;
		size = adj;
	}
	atomic_store_explicit(&b->owner, own, memory_order_relaxed);
	atomic_store_explicit(&b->refs, 0, memory_order_relaxed);
	atomic_store_explicit(&b->holders, 0, memory_order_relaxed);
	b->chan = 0;
	b->size = size;			/* used */
	h->free_bytes -= size;
	h->used_blocks++;
	h->allocations++;
	return 0;
}

/*
 * Recomputes everything derived from the physical chain: prev links, merges
 * of adjacent free blocks, lists, bitmaps, free bytes and used blocks.
 */
static int heap_rebuild(struct shmipc *shm)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t off, prev = 0, n, limit = max_blocks(shm);
	int pass, err;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			h->fl_bitmap = 0;
			memset(h->sl_bitmap, 0, sizeof(h->sl_bitmap));
			memset(h->heads, 0, sizeof(h->heads));
			h->free_bytes = 0;
			h->used_blocks = 0;
		}
		off = shm->heap_off;
		prev = 0;
		for (n = 0;; n++) {
			struct blk *b = blk_at(shm, off);
			struct blk *p = prev ? (struct blk *)(shm->base + prev) : NULL;

			if (!b || n > limit)
				return -EFAULT;
			if (!bsize(b) && !bfree(b)) {	/* the sentinel */
				if (off + BLK_HDR != shm->heap_end)
					return -EFAULT;
				b->prev_phys = prev;
				break;
			}
			if (pass == 0 && p && bfree(p) && bfree(b)) {
				/* An interrupted merge: finish it. */
				p->size = (bsize(p) + BLK_HDR + bsize(b)) | BLK_FREE;
				off = prev + BLK_HDR + bsize(p);
				continue;
			}
			b->prev_phys = prev;
			if (pass == 1) {
				if (bfree(b)) {
					if (bsize(b) < BLK_MIN)
						return -EFAULT;
					err = insert_free(shm, off, b);
					if (err)
						return err;
					h->free_bytes += bsize(b);
				} else {
					h->used_blocks++;
				}
			}
			prev = off;
			off += BLK_HDR + bsize(b);
		}
	}
	return 0;
}

static int heap_lock(struct shmipc *shm)
{
	bool recovered;
	int err;

	err = shmipc_lock_acquire(shm, &shm->heap->lock, &recovered);
	if (err || !recovered)
		return err;
	shm->heap->recoveries++;
	err = heap_rebuild(shm);
	if (err)
		shmipc_lock_release(shm, &shm->heap->lock);
	return err;
}

static void heap_unlock(struct shmipc *shm)
{
	shmipc_lock_release(shm, &shm->heap->lock);
}

int shmipc_heap_init(struct shmipc *shm, uint64_t heap_off, uint64_t heap_size)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t payload;
	struct blk *b, *s;

	heap_size &= ~(uint64_t)(TLSF_ALIGN - 1);
	if (heap_size < 2 * BLK_HDR + BLK_MIN || heap_size >= (1ull << TLSF_FL_MAX))
		return -EINVAL;
	shm->heap_off = heap_off;
	shm->heap_end = heap_off + heap_size;
	memset(h, 0, sizeof(*h));
	h->heap_off = heap_off;
	h->heap_size = heap_size;
	payload = heap_size - 2 * BLK_HDR;
	b = (struct blk *)(shm->base + heap_off);
	*b = (struct blk){ .size = payload | BLK_FREE, .magic = BLK_MAGIC };
	s = (struct blk *)(shm->base + heap_off + BLK_HDR + payload);
	*s = (struct blk){ .prev_phys = heap_off, .size = 0, .magic = BLK_MAGIC };
	h->free_bytes = payload;
	h->magic = SHMIPC_HEAP_MAGIC;
	return insert_free(shm, heap_off, b);
}

/* Checks the control block an opener found, and narrows the heap to it. */
int shmipc_heap_validate(struct shmipc *shm)
{
	const struct shmipc_heap_ctl *h = shm->heap;
	uint64_t off = h->heap_off, size = h->heap_size;

	if (h->magic != SHMIPC_HEAP_MAGIC || off != shm->heap_off ||
	    size > shm->heap_end - off || size < 2 * BLK_HDR + BLK_MIN ||
	    size % TLSF_ALIGN)
		return -EPROTO;
	shm->heap_end = off + size;
	return 0;
}

int shmipc_heap_alloc(struct shmipc *shm, size_t size, size_t align,
		      uint32_t own, uint64_t *out)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t adj, want, off;
	uint32_t me;
	struct blk *b;
	int err;

	if (!out || align > MAX_ALIGN || (align & (align - 1)))
		return -EINVAL;
	err = shmipc_self(shm, &me);
	if (err)
		return err;
	own |= me;
	if (align < TLSF_ALIGN)
		align = TLSF_ALIGN;
	if (size > shm->heap_end - shm->heap_off)
		goto too_big;
	adj = size < BLK_MIN ? BLK_MIN : (size + TLSF_ALIGN - 1) & ~(uint64_t)(TLSF_ALIGN - 1);
	/* Room to move the payload up to the alignment, leaving a free block. */
	want = align > TLSF_ALIGN ? adj + align + BLK_HDR + BLK_MIN : adj;

	err = heap_lock(shm);
	if (err)
		return err;
	off = find_suitable(shm, want);
	if (!off) {
		h->failures++;
		heap_unlock(shm);
		return -ENOMEM;
	}
	b = free_at(shm, off);
	if (!b || bsize(b) < want) {
		err = -EFAULT;
		goto unlock;
	}
	err = remove_free(shm, off, b);
	if (err)
		goto unlock;
	if (align > TLSF_ALIGN) {
		uint64_t p = off + BLK_HDR;
		uint64_t aligned = (p + align - 1) & ~(uint64_t)(align - 1);

		while (aligned != p && aligned - p < BLK_HDR + BLK_MIN)
			aligned += align;
		if (aligned != p) {
			/* Split the gap off in front, as a free block. */
			struct blk *a = split_block(shm, off, b,
						    aligned - p - BLK_HDR);

			err = insert_free(shm, off, b);
			if (err)
				goto unlock;
			off = aligned - BLK_HDR;
			b = a;
		}
	}
	err = use_block(shm, off, b, adj, own);
	if (!err)
		*out = off + BLK_HDR;
unlock:
	heap_unlock(shm);
	return err;

too_big:
	err = heap_lock(shm);
	if (err)
		return err;
	h->failures++;
	heap_unlock(shm);
	return -ENOMEM;
}

SHMIPC_API int shmipc_alloc(struct shmipc *shm, size_t size, uint64_t *off)
{
	int err = shmipc_heap_alloc(shm, size, TLSF_ALIGN, SHMIPC_OWN_PLAIN, off);

	shmipc_reclaim_due(shm);
	return err;
}

SHMIPC_API int shmipc_alloc_aligned(struct shmipc *shm, size_t size,
				    size_t align, uint64_t *off)
{
	int err;

	if (!align)
		return -EINVAL;
	err = shmipc_heap_alloc(shm, size, align, SHMIPC_OWN_PLAIN, off);
	shmipc_reclaim_due(shm);
	return err;
}

/* The used block whose payload is at @off, or NULL. */
static struct blk *used_block(struct shmipc *shm, uint64_t off)
{
	struct blk *b;

	if (off < BLK_HDR)
		return NULL;
	b = blk_at(shm, off - BLK_HDR);
	return b && !bfree(b) && bsize(b) ? b : NULL;
}

/* Frees the used block at @payload; the heap lock is held. */
static int free_locked(struct shmipc *shm, uint64_t payload)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t off = payload - BLK_HDR;
	struct blk *b, *n, *p;

	b = used_block(shm, payload);
	if (!b)				/* not a block, or already free */
		return -EINVAL;
	b->size |= BLK_FREE;
	h->free_bytes += bsize(b);
	h->used_blocks--;

	n = blk_at(shm, off + BLK_HDR + bsize(b));
	if (!n)
		return -EFAULT;
	if (bfree(n)) {
		int err = remove_free(shm, off + BLK_HDR + bsize(b), n);

		if (err)
			return err;
		b->size = (bsize(b) + BLK_HDR + bsize(n)) | BLK_FREE;	/* commit */
		h->free_bytes += BLK_HDR;
		link_next(shm, off, b);
	}
	if (b->prev_phys) {
		uint64_t p_off = b->prev_phys;

		p = blk_at(shm, p_off);
		if (!p || p_off >= off || p_off + BLK_HDR + bsize(p) != off)
			return -EFAULT;
		if (bfree(p)) {
			int err = remove_free(shm, p_off, p);

			if (err)
				return err;
			p->size = (bsize(p) + BLK_HDR + bsize(b)) | BLK_FREE;	/* commit */
			h->free_bytes += BLK_HDR;
			link_next(shm, p_off, p);
			off = p_off;
			b = p;
		}
	}
	return insert_free(shm, off, b);
}

int shmipc_heap_free(struct shmipc *shm, uint64_t payload)
{
	int err = heap_lock(shm);

	if (err)
		return err;
	err = free_locked(shm, payload);
	heap_unlock(shm);
	return err;
}

SHMIPC_API int shmipc_free(struct shmipc *shm, uint64_t payload)
{
	int err = shmipc_heap_free(shm, payload);

	shmipc_reclaim_due(shm);
	return err;
}

/*
 * The reference count in the header of the used block whose payload is at
 * @off, or NULL. Read without the heap lock: the caller holds a reference
 * (or owns the block), so the block cannot be freed meanwhile.
 */
_Atomic uint32_t *shmipc_block_refs(struct shmipc *shm, uint64_t off)
{
	struct blk *b = used_block(shm, off);

	return b ? &b->refs : NULL;
}

/* The owner word of the used block at @off, or NULL; same rules. */
_Atomic uint32_t *shmipc_block_owner(struct shmipc *shm, uint64_t off)
{
	struct blk *b = used_block(shm, off);

	return b ? &b->owner : NULL;
}

/*
 * Makes the caller's block at @off a broadcast message of channel @tag, one
 * holder bit per subscriber in @holders; the owner word goes last. The bits
 * are the references: the block is free when the last one is cleared.
 */
void shmipc_block_bcast(struct shmipc *shm, uint64_t off, uint32_t tag,
			uint32_t holders)
{
	struct blk *b = used_block(shm, off);

	if (!b)
		return;
	b->chan = tag;
	atomic_store_explicit(&b->holders, holders, memory_order_relaxed);
	atomic_store_explicit(&b->owner, SHMIPC_OWN_BCAST, memory_order_release);
}

/* A broadcast block whose last bit is gone; the heap lock is held. */
static bool bcast_orphan(struct blk *b)
{
	return !bfree(b) && bsize(b) &&
	       (atomic_load(&b->owner) & SHMIPC_OWN_STATE) == SHMIPC_OWN_BCAST &&
	       !atomic_load(&b->holders);
}

/*
 * Clears @bit, in one atomic step that also tells whether it was the last.
 * The last clearer frees the block under the heap lock, after checking it
 * is still that orphan: if the clearer dies first, the heap pass of its
 * reclaim frees it (an orphan), and a late clearer finds it gone.
 */
static int bcast_clear(struct shmipc *shm, struct blk *b, uint64_t off,
		       unsigned int bit, bool locked)
{
	uint32_t m = 1u << bit, old;
	int err = 0;

	old = atomic_fetch_and_explicit(&b->holders, ~m, memory_order_acq_rel);
	if (!(old & m) || (old & ~m))
		return 0;
	if (!locked && (err = heap_lock(shm)))
		return err;
	b = used_block(shm, off);
	if (b && bcast_orphan(b))
		err = free_locked(shm, off);
	if (!locked)
		heap_unlock(shm);
	return err;
}

/*
 * Subscriber @bit gives back its reference on broadcast message @off. A
 * subscriber's own release (@check false) relies on its bit keeping the
 * block alive; anyone else's (@check) runs under the heap lock and first
 * checks that @off is a broadcast block of channel @tag.
 */
int shmipc_bcast_put(struct shmipc *shm, uint64_t off, unsigned int bit,
		     bool check, uint32_t tag)
{
	struct blk *b;
	int err;

	if (bit >= 32)
		return -EBADMSG;
	if (!check) {
		b = used_block(shm, off);
		return b ? bcast_clear(shm, b, off, bit, false) : -EBADMSG;
	}
	err = heap_lock(shm);
	if (err)
		return err;
	b = used_block(shm, off);
	if (b && (atomic_load(&b->owner) & SHMIPC_OWN_STATE) == SHMIPC_OWN_BCAST &&
	    b->chan == tag)
		err = bcast_clear(shm, b, off, bit, true);
	else
		err = -EBADMSG;
	heap_unlock(shm);
	return err;
}

/* Sets the owner word of used block @off, checked under the heap lock. */
int shmipc_block_set_owner(struct shmipc *shm, uint64_t off, uint32_t own)
{
	struct blk *b;
	int err = heap_lock(shm);

	if (err)
		return err;
	b = used_block(shm, off);
	if (b)
		atomic_store(&b->owner, own);
	heap_unlock(shm);
	return b ? 0 : -EBADMSG;
}

static bool is_queued(const struct shmipc_reclaim *rc, uint64_t off)
{
	size_t lo = 0, hi = rc->nqueued;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rc->queued[mid] == off)
			return true;
		if (rc->queued[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int doom(uint64_t **v, size_t *n, size_t *cap, uint64_t off)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 64;
		uint64_t *d = realloc(*v, c * sizeof(*d));

		if (!d)
			return -ENOMEM;
		*v = d;
		*cap = c;
	}
	(*v)[(*n)++] = off;
	return 0;
}

/*
 * The heap pass of a reclaim (peer.c), under the heap lock: frees dead
 * peer rc->dead's reserved and held blocks that no queue refers to
 * (rc->queued, sorted), and clears the holder bits of its dead
 * subscriptions. Blocks are collected during the walk and freed after it,
 * since freeing merges blocks under the walk's feet.
 */
int shmipc_heap_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc)
{
	uint64_t off = shm->heap_off, n, limit = max_blocks(shm);
	uint64_t *doomed = NULL;
	size_t ndoomed = 0, cap = 0, i;
	int err = heap_lock(shm);

	if (err)
		return err;
	for (n = 0; n <= limit; n++) {
		struct blk *b = blk_at(shm, off);
		uint32_t own, st;
		unsigned int k;

		if (!b) {
			err = -EFAULT;
			break;
		}
		if (!bsize(b) && !bfree(b))	/* the sentinel */
			break;
		own = atomic_load(&b->owner);
		st = own & SHMIPC_OWN_STATE;
		if (!bfree(b) && (st == SHMIPC_OWN_RESV || st == SHMIPC_OWN_HELD) &&
		    (own & ~SHMIPC_OWN_STATE) == rc->dead &&
		    !is_queued(rc, off + BLK_HDR)) {
			err = doom(&doomed, &ndoomed, &cap, off + BLK_HDR);
			if (err)
				break;
			rc->bytes += bsize(b);
			if (st == SHMIPC_OWN_HELD)
				rc->msgs++;
		}
		for (k = 0; !bfree(b) && st == SHMIPC_OWN_BCAST && k < rc->nsubs; k++) {
			uint32_t m = 1u << rc->subs[k].idx;

			if (b->chan == rc->subs[k].tag &&
			    (atomic_fetch_and(&b->holders, ~m) & m))
				rc->msgs++;
		}
		/* The last bit gone, by us or by a releaser that died: freed. */
		if (!err && bcast_orphan(b)) {
			err = doom(&doomed, &ndoomed, &cap, off + BLK_HDR);
			rc->bytes += bsize(b);
		}
		if (err)
			break;
		off += BLK_HDR + bsize(b);
	}
	for (i = 0; i < ndoomed; i++)
		free_locked(shm, doomed[i]);
	heap_unlock(shm);
	free(doomed);
	return err;
}

/* Sums, per peer slot, what live blocks its token holds. */
int shmipc_heap_holdings(struct shmipc *shm, struct shmipc_holdings *h)
{
	uint64_t off = shm->heap_off, n, limit = max_blocks(shm);
	int err = heap_lock(shm);

	if (err)
		return err;
	for (n = 0; n <= limit; n++) {
		struct blk *b = blk_at(shm, off);
		uint32_t own, tok;
		struct shmipc_holdings *p;

		if (!b) {
			err = -EFAULT;
			break;
		}
		if (!bsize(b) && !bfree(b))
			break;
		own = atomic_load(&b->owner);
		tok = own & ~SHMIPC_OWN_STATE;
		p = &h[tok & SHMIPC_PEER_MASK];
		if (!bfree(b) && tok && p->token == tok) {
			if ((own & SHMIPC_OWN_STATE) == SHMIPC_OWN_RESV)
				p->resv_bytes += bsize(b);
			else if ((own & SHMIPC_OWN_STATE) == SHMIPC_OWN_HELD) {
				p->held_msgs++;
				p->held_bytes += bsize(b);
			}
		}
		off += BLK_HDR + bsize(b);
	}
	heap_unlock(shm);
	return err;
}

/* The payload size of the used block at @off, or 0; same rules as above. */
uint64_t shmipc_block_size(struct shmipc *shm, uint64_t off)
{
	struct blk *b = used_block(shm, off);

	return b ? bsize(b) : 0;
}

SHMIPC_API int shmipc_alloc_size(struct shmipc *shm, uint64_t off, size_t *size)
{
	struct blk *b;
	int err = heap_lock(shm);

	if (err)
		return err;
	b = used_block(shm, off);
	if (b)
		*size = bsize(b);
	heap_unlock(shm);
	return b ? 0 : -EINVAL;
}

SHMIPC_API int shmipc_heap_stats(struct shmipc *shm, struct shmipc_heap_stats *st)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t largest = 0, n, limit = max_blocks(shm);
	int fl, sl, err;

	err = heap_lock(shm);
	if (err)
		return err;
	/* The largest block sits in the highest non-empty list. */
	for (fl = TLSF_FL_COUNT - 1; fl >= 0 && !largest; fl--) {
		if (!(h->fl_bitmap & (1u << fl)))
			continue;
		for (sl = TLSF_SL_COUNT - 1; sl >= 0 && !largest; sl--) {
			uint64_t off = h->heads[fl][sl];

			for (n = 0; off && n < limit; n++) {
				struct blk *b = free_at(shm, off);

				if (!b)
					break;
				if (bsize(b) > largest)
					largest = bsize(b);
				off = links_of(shm, off)->next;
			}
		}
	}
	st->total = h->heap_size;
	st->free = h->free_bytes;
	st->largest_free = largest;
	st->allocations = h->allocations;
	st->failures = h->failures;
	st->used_blocks = h->used_blocks;
	st->recoveries = h->recoveries;
	heap_unlock(shm);
	return 0;
}

/* Every list entry is a free block of its class, linked both ways. */
static int check_lists(struct shmipc *shm, uint64_t *nfree)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t limit = max_blocks(shm);
	unsigned int fl, sl;

	*nfree = 0;
	for (fl = 0; fl < TLSF_FL_COUNT; fl++) {
		for (sl = 0; sl < TLSF_SL_COUNT; sl++) {
			uint64_t off = h->heads[fl][sl], prev = 0, n;
			bool bit = (h->fl_bitmap >> fl & 1) && (h->sl_bitmap[fl] >> sl & 1);

			if (!!off != bit)
				return -EFAULT;
			for (n = 0; off; n++) {
				struct blk *b = free_at(shm, off);
				unsigned int f, s;

				if (!b || n > limit ||
				    links_of(shm, off)->prev != prev)
					return -EFAULT;
				mapping_insert(bsize(b), &f, &s);
				if (f != fl || s != sl)
					return -EFAULT;
				(*nfree)++;
				prev = off;
				off = links_of(shm, off)->next;
			}
		}
	}
	return 0;
}

SHMIPC_API int shmipc_heap_check(struct shmipc *shm)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t off = shm->heap_off, prev = 0, n, limit = max_blocks(shm);
	uint64_t free_bytes = 0, used = 0, nfree = 0, listed;
	bool prev_free = false;
	int err;

	err = heap_lock(shm);
	if (err)
		return err;
	err = -EFAULT;
	for (n = 0; n <= limit; n++) {
		struct blk *b = blk_at(shm, off);

		if (!b || b->prev_phys != prev)
			goto unlock;
		if (!bsize(b) && !bfree(b)) {
			if (off + BLK_HDR != shm->heap_end)
				goto unlock;
			err = 0;
			break;
		}
		if (bfree(b)) {
			if (prev_free || bsize(b) < BLK_MIN)	/* not coalesced */
				goto unlock;
			free_bytes += bsize(b);
			nfree++;
		} else {
			used++;
		}
		prev_free = bfree(b);
		prev = off;
		off += BLK_HDR + bsize(b);
	}
	if (!err)
		err = check_lists(shm, &listed);
	if (!err && (listed != nfree || free_bytes != h->free_bytes ||
		     used != h->used_blocks))
		err = -EFAULT;
unlock:
	heap_unlock(shm);
	return err;
}
