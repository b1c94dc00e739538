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
 * The header's owner word and its 24-byte user area belong to block.c: the
 * heap stores the owner word it is given at allocation (under the lock, so
 * that a block is never allocated without an owner) and zeroes the rest.
 *
 * Crash safety. A process killed while holding the heap lock leaves its
 * token in the lock word; the next process to take the lock finds it dead,
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
 * with the owner word it was given, and goes back when that owner is
 * reclaimed (block.c).
 *
 * Reading (shared.h): a block is looked at through a view, made by one
 * load of its size word and magic, checked against the heap's bounds, which
 * the handle cached when it validated the region. Every size used later is
 * the view's, never the header's again, so a peer that rewrites a header
 * between two steps cannot make a split or a merge write outside the block
 * that was checked. Every list entry is checked before it is followed, every
 * walk is bounded by the number of blocks the heap can hold, and a corrupted
 * heap gives -EFAULT, never a wild access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	_Atomic uint32_t owner;	/* block.c's: SHMIPC_OWN_* | token */
	unsigned char user[SHMIPC_BLK_USER];	/* block.c's */
};

struct links {
	uint64_t next;
	uint64_t prev;
};

_Static_assert(sizeof(struct blk) == BLK_HDR, "block header is 48 bytes");
_Static_assert(TLSF_FL_COUNT <= 32, "first-level bitmap is 32 bits");

/* A block as one load of its header found it, checked (see the top). */
struct view {
	uint64_t off;		/* of the header */
	uint64_t size;		/* payload bytes */
	bool free;
	struct blk *b;
};

/*
 * One unsigned comparison checks that the header lies inside the heap: an
 * @off below heap_off wraps to a huge @rel. (A validated heap holds at
 * least two headers, so the right-hand side cannot wrap.)
 */
static inline bool view_at(const struct shmipc *shm, uint64_t off, struct view *v)
{
	uint64_t lo = shm->heap_off, hi = shm->heap_end, rel = off - lo, word;
	struct blk *b;

	if (rel > hi - lo - BLK_HDR || (rel & (TLSF_ALIGN - 1)))
		return false;
	b = (struct blk *)(shm->base + off);
	word = shm_ld64(&b->size);
	if (shm_ld32(&b->magic) != BLK_MAGIC ||
	    (word & ~BLK_FLAGS) > hi - off - BLK_HDR)
		return false;
	v->off = off;
	v->size = word & ~BLK_FLAGS;
	v->free = word & BLK_FREE;
	v->b = b;
	return true;
}

static bool is_sentinel(const struct view *v)
{
	return !v->size && !v->free;
}

/* A free block with room for its list links. */
static bool free_view(const struct shmipc *shm, uint64_t off, struct view *v)
{
	return view_at(shm, off, v) && v->free && v->size >= BLK_MIN;
}

/* The used block whose payload is at @off (an @off below BLK_HDR wraps). */
static inline bool used_view(const struct shmipc *shm, uint64_t off, struct view *v)
{
	return view_at(shm, off - BLK_HDR, v) && !v->free && v->size;
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

static int insert_free(struct shmipc *shm, const struct view *v)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct links *l = links_of(shm, v->off);
	unsigned int fl, sl;
	struct view hv;
	uint64_t head;

	if (v->size < BLK_MIN)
		return -EFAULT;
	mapping_insert(v->size, &fl, &sl);
	if (fl >= TLSF_FL_COUNT)
		return -EFAULT;
	head = shm_ld64(&h->heads[fl][sl]);
	if (head) {
		if (!free_view(shm, head, &hv))
			return -EFAULT;
		shm_st64(&links_of(shm, head)->prev, v->off);
	}
	shm_st64(&l->next, head);
	shm_st64(&l->prev, 0);
	shm_st64(&h->heads[fl][sl], v->off);
	shm_st32(&h->fl_bitmap, shm_ld32(&h->fl_bitmap) | 1u << fl);
	shm_st32(&h->sl_bitmap[fl], shm_ld32(&h->sl_bitmap[fl]) | 1u << sl);
	return 0;
}

static int remove_free(struct shmipc *shm, const struct view *v)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct links *l = links_of(shm, v->off);
	uint64_t next, prev;
	unsigned int fl, sl;
	struct view nv, pv;
	uint32_t map;

	if (v->size < BLK_MIN)		/* no room for links: corrupted */
		return -EFAULT;
	next = shm_ld64(&l->next);
	prev = shm_ld64(&l->prev);
	mapping_insert(v->size, &fl, &sl);
	if (fl >= TLSF_FL_COUNT || (next && !free_view(shm, next, &nv)) ||
	    (prev && !free_view(shm, prev, &pv)))
		return -EFAULT;
	if (next)
		shm_st64(&links_of(shm, next)->prev, prev);
	if (prev) {
		shm_st64(&links_of(shm, prev)->next, next);
		return 0;
	}
	if (shm_ld64(&h->heads[fl][sl]) != v->off)
		return -EFAULT;
	shm_st64(&h->heads[fl][sl], next);
	if (!next) {
		map = shm_ld32(&h->sl_bitmap[fl]) & ~(1u << sl);
		shm_st32(&h->sl_bitmap[fl], map);
		if (!map)
			shm_st32(&h->fl_bitmap, shm_ld32(&h->fl_bitmap) & ~(1u << fl));
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
	map = shm_ld32(&h->sl_bitmap[fl]) & (~0u << sl);
	if (!map) {
		map = fl + 1 < 32 ? shm_ld32(&h->fl_bitmap) & (~0u << (fl + 1)) : 0;
		if (!map)
			return 0;
		fl = (unsigned int)__builtin_ctz(map);
		if (fl >= TLSF_FL_COUNT)
			return 0;
		map = shm_ld32(&h->sl_bitmap[fl]);
		if (!map)
			return 0;
	}
	sl = (unsigned int)__builtin_ctz(map);
	return shm_ld64(&h->heads[fl][sl]);
}

/* Points the block after the one at @off of @size (if any) back at it. */
static void link_next(struct shmipc *shm, uint64_t off, uint64_t size)
{
	struct view n;

	if (view_at(shm, off + BLK_HDR + size, &n))
		shm_st64(&n.b->prev_phys, off);
}

/*
 * Splits free-flagged block @v after @front payload bytes (the caller has
 * checked front + BLK_HDR + BLK_MIN <= v->size). The back part's header is
 * written inside the payload first; the store that shrinks the front block
 * is the commit (see the top). Both parts stay free-flagged and on no
 * list; *@back gets the back part and @v shrinks to the front.
 */
static void split_block(struct shmipc *shm, struct view *v, uint64_t front,
			struct view *back)
{
	uint64_t back_off = v->off + BLK_HDR + front;
	struct blk *bb = (struct blk *)(shm->base + back_off);
	uint64_t back_size = v->size - front - BLK_HDR;

	memset(bb, 0, sizeof(*bb));
	shm_st64(&bb->prev_phys, v->off);
	shm_st64(&bb->size, back_size | BLK_FREE);
	shm_st32(&bb->magic, BLK_MAGIC);
	shm_st64(&v->b->size, front | BLK_FREE);	/* commit */
	link_next(shm, back_off, back_size);
	shm_st64(&shm->heap->free_bytes, shm_ld64(&shm->heap->free_bytes) - BLK_HDR);
	*back = (struct view){ back_off, back_size, true, bb };
	v->size = front;
}

/*
 * Takes free block @v (on no list) for @adj payload bytes with owner word
 * @own: the tail beyond goes back as a free block when it can hold one.
 */
static int use_block(struct shmipc *shm, struct view *v, uint64_t adj,
		     uint32_t own)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct view back;
	int err;

	if (v->size - adj >= BLK_HDR + BLK_MIN) {
		split_block(shm, v, adj, &back);
		err = insert_free(shm, &back);
		if (err)
			return err;
	}
	atomic_store_explicit(&v->b->owner, own, memory_order_relaxed);
	memset(v->b->user, 0, sizeof(v->b->user));
	shm_st64(&v->b->size, v->size);			/* used */
	shm_st64(&h->free_bytes, shm_ld64(&h->free_bytes) - v->size);
	shm_st64(&h->used_blocks, shm_ld64(&h->used_blocks) + 1);
	shm_st64(&h->allocations, shm_ld64(&h->allocations) + 1);
	return 0;
}

/*
 * The physical chain, block by block from the first, to the sentinel:
 * @fn(@v) for each block before it; -EFAULT if the chain breaks or runs
 * longer than the heap can hold. @fn may merge @v with blocks after it (it
 * updates @v); the walk goes on after @v as it then is.
 */
static int walk_chain(struct shmipc *shm,
		      int (*fn)(struct shmipc *shm, struct view *v, uint64_t prev,
				void *arg),
		      void *arg)
{
	uint64_t off = shm->heap_off, prev = 0, n, limit = max_blocks(shm);
	struct view v;
	int err;

	for (n = 0; n <= limit; n++) {
		if (!view_at(shm, off, &v))
			return -EFAULT;
		if (is_sentinel(&v)) {
			if (off + BLK_HDR != shm->heap_end)
				return -EFAULT;
			return fn(shm, &v, prev, arg);
		}
		err = fn(shm, &v, prev, arg);
		if (err)
			return err;
		prev = v.off;
		off = v.off + BLK_HDR + v.size;
	}
	return -EFAULT;
}

/* heap_rebuild(), pass 1: prev links, and merges an interrupted one left. */
static int rebuild_links(struct shmipc *shm, struct view *v, uint64_t prev,
			 void *arg)
{
	struct view *last = arg;

	(void)shm;
	shm_st64(&v->b->prev_phys, prev);
	if (!is_sentinel(v) && last->b && last->free && v->free &&
	    last->off == prev) {
		/* Two free blocks in a row: an interrupted merge; finish it. */
		last->size += BLK_HDR + v->size;
		shm_st64(&last->b->size, last->size | BLK_FREE);
		*v = *last;
		return 0;
	}
	*last = *v;
	return 0;
}

/* heap_rebuild(), pass 2: lists, bitmaps and counters. */
static int rebuild_lists(struct shmipc *shm, struct view *v, uint64_t prev,
			 void *arg)
{
	struct shmipc_heap_ctl *h = shm->heap;
	int err;

	(void)prev;
	(void)arg;
	if (is_sentinel(v))
		return 0;
	if (!v->free) {
		shm_st64(&h->used_blocks, shm_ld64(&h->used_blocks) + 1);
		return 0;
	}
	err = insert_free(shm, v);
	if (!err)
		shm_st64(&h->free_bytes, shm_ld64(&h->free_bytes) + v->size);
	return err;
}

/*
 * Recomputes everything derived from the physical chain: prev links, merges
 * of adjacent free blocks, lists, bitmaps, free bytes and used blocks.
 */
static int heap_rebuild(struct shmipc *shm)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct view last = { 0 };
	int err;

	err = walk_chain(shm, rebuild_links, &last);
	if (err)
		return err;
	shm_st32(&h->fl_bitmap, 0);
	memset(h->sl_bitmap, 0, sizeof(h->sl_bitmap));
	memset(h->heads, 0, sizeof(h->heads));
	shm_st64(&h->free_bytes, 0);
	shm_st64(&h->used_blocks, 0);
	return walk_chain(shm, rebuild_lists, NULL);
}

static int heap_lock(struct shmipc *shm)
{
	bool recovered;
	int err;

	err = shmipc_lock_acquire(shm, &shm->heap->lock, shm->token, &recovered);
	if (err || !recovered)
		return err;
	shm_st64(&shm->heap->recoveries, shm_ld64(&shm->heap->recoveries) + 1);
	err = heap_rebuild(shm);
	if (err)
		shmipc_lock_release(shm, &shm->heap->lock);
	return err;
}

static void heap_unlock(struct shmipc *shm)
{
	shmipc_lock_release(shm, &shm->heap->lock);
}

int shmipc_heap_init(struct shmipc *shm, const struct shmipc_parts *p)
{
	struct shmipc_heap_ctl *h = (struct shmipc_heap_ctl *)(shm->base + p->heap_ctl_off);
	uint64_t size = p->heap_size & ~(uint64_t)(TLSF_ALIGN - 1), payload;
	struct blk *s;
	struct view v;

	if (size < 2 * BLK_HDR + BLK_MIN || size >= (1ull << TLSF_FL_MAX))
		return -EINVAL;
	shm->heap = h;
	shm->heap_off = p->heap_off;
	shm->heap_end = p->heap_off + size;
	memset(h, 0, sizeof(*h));
	h->heap_off = p->heap_off;
	h->heap_size = size;
	payload = size - 2 * BLK_HDR;
	v = (struct view){ p->heap_off, payload, true,
			   (struct blk *)(shm->base + p->heap_off) };
	*v.b = (struct blk){ .size = payload | BLK_FREE, .magic = BLK_MAGIC };
	s = (struct blk *)(shm->base + p->heap_off + BLK_HDR + payload);
	*s = (struct blk){ .prev_phys = p->heap_off, .size = 0, .magic = BLK_MAGIC };
	h->free_bytes = payload;
	h->magic = SHMIPC_HEAP_MAGIC;
	return insert_free(shm, &v);
}

/* Checks the control block an opener found, and narrows the heap to it. */
int shmipc_heap_validate(struct shmipc *shm, const struct shmipc_parts *p)
{
	const struct shmipc_heap_ctl *h = shmipc_span(shm, p->heap_ctl_off,
						      sizeof(struct shmipc_heap_ctl));
	uint64_t off, size;

	if (!h || shm_ld32(&h->magic) != SHMIPC_HEAP_MAGIC)
		return -EPROTO;
	off = shm_ld64(&h->heap_off);
	size = shm_ld64(&h->heap_size);
	if (off != p->heap_off || size > p->heap_size ||
	    size < 2 * BLK_HDR + BLK_MIN || size % TLSF_ALIGN)
		return -EPROTO;
	shm->heap = (struct shmipc_heap_ctl *)h;
	shm->heap_off = off;
	shm->heap_end = off + size;
	return 0;
}

static int alloc_locked(struct shmipc *shm, uint64_t adj, uint64_t want,
			size_t align, uint32_t own, uint64_t *out)
{
	uint64_t off = find_suitable(shm, want);
	struct view v, front;
	int err;

	if (!off)
		return -ENOMEM;
	if (!free_view(shm, off, &v) || v.size < want)
		return -EFAULT;
	err = remove_free(shm, &v);
	if (err)
		return err;
	if (align > TLSF_ALIGN) {
		uint64_t p = v.off + BLK_HDR;
		uint64_t aligned = (p + align - 1) & ~(uint64_t)(align - 1);

		while (aligned != p && aligned - p < BLK_HDR + BLK_MIN)
			aligned += align;
		if (aligned != p) {
			/* Split the gap off in front, as a free block. */
			front = v;
			split_block(shm, &front, aligned - p - BLK_HDR, &v);
			err = insert_free(shm, &front);
			if (err)
				return err;
		}
	}
	err = use_block(shm, &v, adj, own);
	if (!err)
		*out = v.off + BLK_HDR;
	return err;
}

/*
 * A block of at least @size bytes aligned to @align, its owner word @owner;
 * -ENOMEM when the heap has no room.
 */
int shmipc_heap_alloc(struct shmipc *shm, size_t size, size_t align,
		      uint32_t owner, uint64_t *out)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t adj, want;
	int err;

	if (align > MAX_ALIGN || (align & (align - 1)))
		return -EINVAL;
	if (align < TLSF_ALIGN)
		align = TLSF_ALIGN;
	err = heap_lock(shm);
	if (err)
		return err;
	if (size > shm->heap_end - shm->heap_off) {
		err = -ENOMEM;
	} else {
		adj = size < BLK_MIN ? BLK_MIN :
		      (size + TLSF_ALIGN - 1) & ~(uint64_t)(TLSF_ALIGN - 1);
		/* Room to move the payload up to the alignment, leaving a free block. */
		want = align > TLSF_ALIGN ? adj + align + BLK_HDR + BLK_MIN : adj;
		err = alloc_locked(shm, adj, want, align, owner, out);
	}
	if (err == -ENOMEM)
		shm_st64(&h->failures, shm_ld64(&h->failures) + 1);
	heap_unlock(shm);
	return err;
}

/* Frees the used block at @payload; the heap lock is held. */
static int free_locked(struct shmipc *shm, uint64_t payload)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct view v, n, p;
	uint64_t p_off;
	int err;

	if (!used_view(shm, payload, &v))	/* not a block, or already free */
		return -EINVAL;
	shm_st64(&v.b->size, v.size | BLK_FREE);
	v.free = true;
	shm_st64(&h->free_bytes, shm_ld64(&h->free_bytes) + v.size);
	shm_st64(&h->used_blocks, shm_ld64(&h->used_blocks) - 1);

	if (!view_at(shm, v.off + BLK_HDR + v.size, &n))
		return -EFAULT;
	if (n.free) {
		err = remove_free(shm, &n);
		if (err)
			return err;
		v.size += BLK_HDR + n.size;
		shm_st64(&v.b->size, v.size | BLK_FREE);	/* commit */
		shm_st64(&h->free_bytes, shm_ld64(&h->free_bytes) + BLK_HDR);
		link_next(shm, v.off, v.size);
	}
	p_off = shm_ld64(&v.b->prev_phys);
	if (p_off) {
		if (!view_at(shm, p_off, &p) || p_off >= v.off ||
		    p_off + BLK_HDR + p.size != v.off)
			return -EFAULT;
		if (p.free) {
			err = remove_free(shm, &p);
			if (err)
				return err;
			p.size += BLK_HDR + v.size;
			shm_st64(&p.b->size, p.size | BLK_FREE);	/* commit */
			shm_st64(&h->free_bytes, shm_ld64(&h->free_bytes) + BLK_HDR);
			link_next(shm, p.off, p.size);
			v = p;
		}
	}
	return insert_free(shm, &v);
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

static void blk_of(const struct shmipc *shm, const struct view *v,
		   struct shmipc_blk *b)
{
	(void)shm;
	b->off = v->off + BLK_HDR;
	b->size = v->size;
	b->owner = &v->b->owner;
	b->user = v->b->user;
}

/*
 * The used block whose payload is at @off, checked, without the heap lock:
 * the caller holds a reference on it (or owns it), so it cannot be freed
 * meanwhile, or only reads its header's atomics.
 */
int shmipc_heap_block(const struct shmipc *shm, uint64_t off, struct shmipc_blk *b)
{
	struct view v;

	if (!used_view(shm, off, &v))
		return -EBADMSG;
	blk_of(shm, &v, b);
	return 0;
}

struct walk_arg {
	shmipc_walk_fn fn;
	void *arg;
	uint64_t *doomed;
	size_t ndoomed, cap;
};

static int walk_used(struct shmipc *shm, struct view *v, uint64_t prev, void *arg)
{
	struct walk_arg *w = arg;
	struct shmipc_blk b;
	int ret;

	(void)prev;
	if (v->free || is_sentinel(v))
		return 0;
	blk_of(shm, v, &b);
	ret = w->fn(shm, &b, w->arg);
	if (ret <= 0)
		return ret;
	if (w->ndoomed == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		uint64_t *d = realloc(w->doomed, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		w->doomed = d;
		w->cap = cap;
	}
	w->doomed[w->ndoomed++] = b.off;
	return 0;
}

/*
 * The one walk of used blocks for the layers above (see internal.h).
 * Blocks @fn asks to free are collected and freed after the walk, since
 * freeing merges blocks under the walk's feet.
 */
int shmipc_heap_walk(struct shmipc *shm, shmipc_walk_fn fn, void *arg)
{
	struct walk_arg w = { .fn = fn, .arg = arg };
	size_t i;
	int err = heap_lock(shm);

	if (err)
		return err;
	err = walk_chain(shm, walk_used, &w);
	for (i = 0; i < w.ndoomed; i++)
		free_locked(shm, w.doomed[i]);
	heap_unlock(shm);
	free(w.doomed);
	return err;
}

int shmipc_heap_with(struct shmipc *shm, uint64_t off, shmipc_walk_fn fn, void *arg)
{
	struct shmipc_blk b;
	struct view v;
	int err = heap_lock(shm);

	if (err)
		return err;
	if (!used_view(shm, off, &v)) {
		err = -EBADMSG;
	} else {
		blk_of(shm, &v, &b);
		err = fn(shm, &b, arg);
		if (err == 1)
			err = free_locked(shm, off);
	}
	heap_unlock(shm);
	return err;
}

int shmipc_heap_size(struct shmipc *shm, uint64_t off, size_t *size)
{
	struct view v;
	int err = heap_lock(shm);

	if (err)
		return err;
	if (used_view(shm, off, &v))
		*size = (size_t)v.size;
	else
		err = -EINVAL;
	heap_unlock(shm);
	return err;
}

/* The largest free block: the highest non-empty list's longest entry. */
static uint64_t largest_free(struct shmipc *shm)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t largest = 0, n, limit = max_blocks(shm);
	uint32_t fmap = shm_ld32(&h->fl_bitmap);
	int fl, sl;

	for (fl = TLSF_FL_COUNT - 1; fl >= 0 && !largest; fl--) {
		if (!(fmap & (1u << fl)))
			continue;
		for (sl = TLSF_SL_COUNT - 1; sl >= 0 && !largest; sl--) {
			uint64_t off = shm_ld64(&h->heads[fl][sl]);
			struct view v;

			for (n = 0; off && n < limit; n++) {
				if (!free_view(shm, off, &v))
					break;
				if (v.size > largest)
					largest = v.size;
				off = shm_ld64(&links_of(shm, off)->next);
			}
		}
	}
	return largest;
}

int shmipc_heap_stats_get(struct shmipc *shm, struct shmipc_heap_stats *st)
{
	struct shmipc_heap_ctl *h = shm->heap;
	int err = heap_lock(shm);

	if (err)
		return err;
	st->total = shm->heap_end - shm->heap_off;
	st->free = shm_ld64(&h->free_bytes);
	st->largest_free = largest_free(shm);
	st->allocations = shm_ld64(&h->allocations);
	st->failures = shm_ld64(&h->failures);
	st->used_blocks = shm_ld64(&h->used_blocks);
	st->recoveries = shm_ld64(&h->recoveries);
	heap_unlock(shm);
	return 0;
}

/* Every list entry is a free block of its class, linked both ways. */
static int check_lists(struct shmipc *shm, uint64_t *nfree)
{
	struct shmipc_heap_ctl *h = shm->heap;
	uint64_t limit = max_blocks(shm);
	uint32_t fmap = shm_ld32(&h->fl_bitmap);
	unsigned int fl, sl;

	*nfree = 0;
	for (fl = 0; fl < TLSF_FL_COUNT; fl++) {
		uint32_t smap = shm_ld32(&h->sl_bitmap[fl]);

		for (sl = 0; sl < TLSF_SL_COUNT; sl++) {
			uint64_t off = shm_ld64(&h->heads[fl][sl]), prev = 0, n;
			bool bit = (fmap >> fl & 1) && (smap >> sl & 1);

			if (!!off != bit)
				return -EFAULT;
			for (n = 0; off; n++) {
				unsigned int f, s;
				struct view v;

				if (!free_view(shm, off, &v) || n > limit ||
				    shm_ld64(&links_of(shm, off)->prev) != prev)
					return -EFAULT;
				mapping_insert(v.size, &f, &s);
				if (f != fl || s != sl)
					return -EFAULT;
				(*nfree)++;
				prev = off;
				off = shm_ld64(&links_of(shm, off)->next);
			}
		}
	}
	return 0;
}

struct check_arg {
	uint64_t free_bytes, used, nfree;
	bool prev_free;
};

static int check_block(struct shmipc *shm, struct view *v, uint64_t prev, void *arg)
{
	struct check_arg *c = arg;

	(void)shm;
	if (shm_ld64(&v->b->prev_phys) != prev)
		return -EFAULT;
	if (is_sentinel(v))
		return 0;
	if (v->free) {
		if (c->prev_free || v->size < BLK_MIN)	/* not coalesced */
			return -EFAULT;
		c->free_bytes += v->size;
		c->nfree++;
	} else {
		c->used++;
	}
	c->prev_free = v->free;
	return 0;
}

int shmipc_heap_verify(struct shmipc *shm)
{
	struct shmipc_heap_ctl *h = shm->heap;
	struct check_arg c = { 0 };
	uint64_t listed;
	int err;

	err = heap_lock(shm);
	if (err)
		return err;
	err = walk_chain(shm, check_block, &c);
	if (!err)
		err = check_lists(shm, &listed);
	if (!err && (listed != c.nfree || c.free_bytes != shm_ld64(&h->free_bytes) ||
		     c.used != shm_ld64(&h->used_blocks)))
		err = -EFAULT;
	heap_unlock(shm);
	return err;
}
