// SPDX-License-Identifier: MIT
/*
 * The registry: a fixed table of named heap blocks in the region, so that
 * processes can find what others created. Operations run under the
 * registry lock (a region lock whose holder is known); the heap lock nests
 * inside it, never the other way round.
 *
 * Crash safety. Each operation ends in one store that commits it:
 *  - create allocates the block reserved by its peer, fills a FREE slot,
 *    makes the block the region's, then stores LIVE with the name's
 *    reference and the creator's (a channel: the name's; its creator is
 *    the first endpoint, recorded in the block); dying before that store
 *    leaves the slot FREE and the block reserved by a dead peer, which its
 *    reclaim frees;
 *  - take, release and remove change state and references together, in one
 *    64-bit store;
 *  - dropping the last reference stores (REMOVED, 0), then (for a channel)
 *    gives back the payloads still queued, then frees the slot, then frees
 *    the block: a holder dying after the first store leaves
 *    (REMOVED, 0), which the next holder of the lock finishes
 *    (registry_recover()); dying after the second leaks the block rather
 *    than risk freeing one that was since reallocated.
 * A channel also stays while any process has it open: its endpoints
 * (channel.c), not registry references, count those, so that a process
 * killed with channels open is removed from them by its reclaim.
 *
 * Every entry is read into locals and checked before use; an entry that
 * does not check out is skipped by lookups and gives -EFAULT when named.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define ID_INDEX_BITS	20	/* capacity is at most 65536 */

static uint64_t sr_make(uint32_t state, uint32_t refs)
{
	return (uint64_t)state << 32 | refs;
}

static uint32_t sr_state(uint64_t sr)
{
	return (uint32_t)(sr >> 32);
}

static uint32_t sr_refs(uint64_t sr)
{
	return (uint32_t)sr;
}

uint32_t shmipc_chan_tag(uint64_t id)
{
	return (uint32_t)((id >> ID_INDEX_BITS) & 0x7fff) << 17 |
	       (uint32_t)((id & ((1u << ID_INDEX_BITS) - 1)) + 1);
}

/* The entry's block, if it lies inside the heap. */
static bool entry_block_ok(const struct shmipc *shm, uint64_t off, uint64_t size)
{
	return off >= shm->heap_off && off <= shm->heap_end &&
	       size <= shm->heap_end - off;
}

/*
 * Frees slot @i, then its block (in that order, see the top), unless it is
 * a channel some process still has open.
 */
static void release_slot(struct shmipc *shm, uint32_t i)
{
	struct shmipc_reg_entry *e = &shm->entries[i];
	uint64_t off = e->offset, size = e->size;
	bool chan = e->kind == SHMIPC_KIND_CHANNEL;

	if (!entry_block_ok(shm, off, size))
		return;
	if (chan && shmipc_chan_in_use(shm, off, size))
		return;
	if (chan)	/* give back queued payloads */
		shmipc_chan_drain(shm, off, size,
				  shmipc_chan_tag(e->generation << ID_INDEX_BITS | i));
	e->state_refs = sr_make(SHMIPC_REG_FREE, 0);
	shmipc_heap_free(shm, off);	/* -EINVAL for a bad offset: nothing to free */
}

/* Finishes every removal whose last holder died or left. */
static void registry_recover(struct shmipc *shm)
{
	uint32_t i;

	for (i = 0; i < shm->reg_capacity; i++) {
		uint64_t sr = shm->entries[i].state_refs;

		if (sr_state(sr) == SHMIPC_REG_REMOVED && !sr_refs(sr))
			release_slot(shm, i);
	}
}

static int reg_lock(struct shmipc *shm)
{
	bool recovered;
	int err = shmipc_lock_acquire(shm, &shm->reg->lock, &recovered);

	if (!err && recovered)
		registry_recover(shm);
	return err;
}

static void reg_unlock(struct shmipc *shm)
{
	shmipc_lock_release(shm, &shm->reg->lock);
}

/* Copies entry @i out if it checks out: a known state, a NUL in the name,
 * the block inside the heap. */
static int entry_read(struct shmipc *shm, uint32_t i, struct shmipc_buffer *out)
{
	const struct shmipc_reg_entry *e = &shm->entries[i];
	uint64_t sr = e->state_refs, off = e->offset, size = e->size;
	uint64_t gen = e->generation;
	uint32_t state = sr_state(sr);

	if (state != SHMIPC_REG_LIVE && state != SHMIPC_REG_REMOVED)
		return -ENOENT;
	memcpy(out->name, e->name, sizeof(out->name));
	if (!memchr(out->name, 0, sizeof(out->name)) ||
	    (!sr_refs(sr) && state == SHMIPC_REG_LIVE) ||
	    !entry_block_ok(shm, off, size))
		return -EFAULT;
	out->kind = e->kind;
	out->creator_pid = e->creator;
	out->offset = off;
	out->size = size;
	out->refs = sr_refs(sr);
	out->state = state;
	out->id = gen << ID_INDEX_BITS | i;
	return 0;
}

/* The slot of the LIVE entry named @name, or -ENOENT. */
static int find_live(struct shmipc *shm, const char *name)
{
	uint32_t i;

	for (i = 0; i < shm->reg_capacity; i++) {
		const struct shmipc_reg_entry *e = &shm->entries[i];

		if (sr_state(e->state_refs) == SHMIPC_REG_LIVE &&
		    !strncmp(e->name, name, sizeof(e->name)))
			return (int)i;
	}
	return -ENOENT;
}

void shmipc_registry_init(struct shmipc *shm, uint64_t off, uint32_t capacity)
{
	struct shmipc_reg_hdr *r = (struct shmipc_reg_hdr *)(shm->base + off);

	/* The region's zeroed pages are already FREE entries. */
	r->capacity = capacity;
	r->generation = 0;
	r->magic = SHMIPC_REG_MAGIC;
}

int shmipc_registry_validate(struct shmipc *shm, uint64_t off, uint64_t end,
			     uint32_t capacity)
{
	const struct shmipc_reg_hdr *r = (const struct shmipc_reg_hdr *)(shm->base + off);
	uint64_t need = sizeof(*r) + (uint64_t)capacity * sizeof(struct shmipc_reg_entry);

	if (off % 64 || off > end || end - off < need ||
	    r->magic != SHMIPC_REG_MAGIC || r->capacity != capacity)
		return -EPROTO;
	shm->reg = (struct shmipc_reg_hdr *)(shm->base + off);
	shm->entries = (struct shmipc_reg_entry *)(shm->base + off + sizeof(*r));
	shm->reg_capacity = capacity;
	return 0;
}

SHMIPC_API int shmipc_buffer_create(struct shmipc *shm, const char *name,
				    uint32_t kind, size_t size,
				    struct shmipc_buffer *out)
{
	int err = shmipc_registry_create(shm, name, kind, size, 16, 2, NULL, NULL, out);

	shmipc_reclaim_due(shm);
	return err;
}

/*
 * shmipc_buffer_create() with the block aligned to @align bytes and, when
 * @init is given, filled by it before the entry is committed: nobody can
 * find the buffer before it is complete.
 */
int shmipc_registry_create(struct shmipc *shm, const char *name, uint32_t kind,
			   size_t size, size_t align, uint32_t refs,
			   void (*init)(void *data, size_t size, const void *arg),
			   const void *arg, struct shmipc_buffer *out)
{
	_Atomic uint32_t *own;
	struct shmipc_reg_entry *e = NULL;
	uint64_t off;
	uint32_t i;
	int err;

	err = shmipc_name_check(name);
	if (err)
		return err;
	if (!size || !out)
		return -EINVAL;
	err = reg_lock(shm);
	if (err)
		return err;
	if (find_live(shm, name) >= 0) {
		err = -EEXIST;
		goto unlock;
	}
	for (i = 0; i < shm->reg_capacity; i++)
		if (sr_state(shm->entries[i].state_refs) == SHMIPC_REG_FREE) {
			e = &shm->entries[i];
			break;
		}
	if (!e) {
		err = -ENOSPC;
		goto unlock;
	}
	err = shmipc_heap_alloc(shm, size, align, SHMIPC_OWN_RESV, &off);
	if (err)
		goto unlock;
	if (init)
		init(shm->base + off, size, arg);
	own = shmipc_block_owner(shm, off);
	if (own)	/* the region's now; the commit below names it */
		atomic_store(own, SHMIPC_OWN_PLAIN | (atomic_load(own) & ~SHMIPC_OWN_STATE));
	memset(e->name, 0, sizeof(e->name));
	strcpy(e->name, name);
	e->kind = kind;
	e->creator = shmipc_self_pid();
	e->offset = off;
	e->size = size;
	e->generation = ++shm->reg->generation;
	e->state_refs = sr_make(SHMIPC_REG_LIVE, refs);	/* commit */
	err = entry_read(shm, i, out);
unlock:
	reg_unlock(shm);
	return err;
}

/* find and take: @take adds the caller's reference. */
static int lookup(struct shmipc *shm, const char *name,
		  struct shmipc_buffer *out, bool take)
{
	struct shmipc_reg_entry *e;
	int i, err;

	err = shmipc_name_check(name);
	if (err)
		return err;
	if (!out)
		return -EINVAL;
	err = reg_lock(shm);
	if (err)
		return err;
	i = find_live(shm, name);
	if (i < 0) {
		err = i;
		goto unlock;
	}
	err = entry_read(shm, (uint32_t)i, out);
	if (err || !take)
		goto unlock;
	e = &shm->entries[i];
	if (out->refs == UINT32_MAX) {
		err = -EOVERFLOW;
		goto unlock;
	}
	e->state_refs = sr_make(SHMIPC_REG_LIVE, ++out->refs);
unlock:
	reg_unlock(shm);
	return err;
}

SHMIPC_API int shmipc_buffer_find(struct shmipc *shm, const char *name,
				  struct shmipc_buffer *out)
{
	return lookup(shm, name, out, false);
}

SHMIPC_API int shmipc_buffer_take(struct shmipc *shm, const char *name,
				  struct shmipc_buffer *out)
{
	int err = lookup(shm, name, out, true);

	shmipc_reclaim_due(shm);
	return err;
}

int shmipc_registry_with(struct shmipc *shm, const char *name,
			 int (*fn)(struct shmipc *shm, const struct shmipc_buffer *b,
				   void *arg),
			 void *arg, struct shmipc_buffer *out)
{
	int i, err;

	err = shmipc_name_check(name);
	if (err)
		return err;
	err = reg_lock(shm);
	if (err)
		return err;
	i = find_live(shm, name);
	err = i < 0 ? i : entry_read(shm, (uint32_t)i, out);
	if (!err)
		err = fn(shm, out, arg);
	reg_unlock(shm);
	return err;
}

int shmipc_registry_leave(struct shmipc *shm, const struct shmipc_buffer *b,
			  uint32_t token)
{
	uint64_t i = b->id & ((1u << ID_INDEX_BITS) - 1);
	struct shmipc_buffer cur;
	int err;

	if (i >= shm->reg_capacity)
		return -EINVAL;
	err = reg_lock(shm);
	if (err)
		return err;
	err = entry_read(shm, (uint32_t)i, &cur);
	if (!err && (cur.id != b->id || cur.kind != SHMIPC_KIND_CHANNEL))
		err = -EINVAL;
	if (!err) {
		shmipc_ep_remove((struct shmipc_chan_ctl *)(shm->base + cur.offset),
				 token, false);
		if (cur.state == SHMIPC_REG_REMOVED && !cur.refs)
			release_slot(shm, (uint32_t)i);
	}
	reg_unlock(shm);
	return err;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The registry's part of reclaiming dead peer rc->dead, under the registry
 * lock: its channel endpoints and claimed queue slots (channel.c), then
 * the heap pass, which needs every queue's payloads (read after the slot
 * repairs, so that a repaired message counts as queued), then the channels
 * and entries that only the dead peer kept.
 */
int shmipc_registry_reclaim(struct shmipc *shm, struct shmipc_reclaim *rc)
{
	struct shmipc_buffer b;
	uint32_t i;
	int err = reg_lock(shm);

	if (err)
		return err;
	for (i = 0; i < shm->reg_capacity; i++)
		if (!entry_read(shm, i, &b) && b.kind == SHMIPC_KIND_CHANNEL)
			shmipc_chan_reclaim(shm, rc, b.offset, b.size,
					    shmipc_chan_tag(b.id));
	for (i = 0; i < shm->reg_capacity; i++)
		if (!entry_read(shm, i, &b) && b.kind == SHMIPC_KIND_CHANNEL)
			shmipc_chan_queued(shm, rc, b.offset, b.size);
	if (!rc->err) {
		if (rc->nqueued)
			qsort(rc->queued, rc->nqueued, sizeof(*rc->queued), cmp_u64);
		err = shmipc_heap_reclaim(shm, rc);
	} else {
		err = rc->err;
	}
	shmipc_chan_reclaim_done(shm, rc);
	registry_recover(shm);
	reg_unlock(shm);
	return err;
}

SHMIPC_API int shmipc_buffer_release(struct shmipc *shm,
				     const struct shmipc_buffer *buf)
{
	uint64_t i = buf ? buf->id & ((1u << ID_INDEX_BITS) - 1) : 0;
	struct shmipc_buffer cur;
	struct shmipc_reg_entry *e;
	int err;

	if (!buf || i >= shm->reg_capacity)
		return -EINVAL;
	err = reg_lock(shm);
	if (err)
		return err;
	e = &shm->entries[i];
	err = entry_read(shm, (uint32_t)i, &cur);
	if (err || cur.id != buf->id || !cur.refs ||
	    (cur.state == SHMIPC_REG_LIVE && cur.refs < 2)) {
		err = err == -EFAULT ? err : -EINVAL;	/* stale or not taken */
		goto unlock;
	}
	e->state_refs = sr_make(cur.state, cur.refs - 1);
	if (cur.refs == 1)
		release_slot(shm, (uint32_t)i);
unlock:
	reg_unlock(shm);
	return err;
}

/* Drops the name of entry @b, under the registry lock. */
static int remove_name(struct shmipc *shm, const struct shmipc_buffer *b, void *arg)
{
	uint32_t i = (uint32_t)(b->id & ((1u << ID_INDEX_BITS) - 1));

	(void)arg;
	shm->entries[i].state_refs = sr_make(SHMIPC_REG_REMOVED, b->refs - 1);	/* commit */
	if (b->refs == 1)
		release_slot(shm, i);
	return 0;
}

SHMIPC_API int shmipc_buffer_remove(struct shmipc *shm, const char *name)
{
	struct shmipc_buffer cur;

	return shmipc_registry_with(shm, name, remove_name, NULL, &cur);
}

SHMIPC_API int shmipc_buffer_list(struct shmipc *shm, struct shmipc_buffer *bufs,
				  unsigned int cap, unsigned int *total)
{
	unsigned int n = 0, all = 0;
	struct shmipc_buffer b;
	uint32_t i;
	int err;

	if (cap && !bufs)
		return -EINVAL;
	err = reg_lock(shm);
	if (err)
		return err;
	for (i = 0; i < shm->reg_capacity; i++) {
		if (entry_read(shm, i, &b))
			continue;
		all++;
		if (n < cap)
			bufs[n++] = b;
	}
	reg_unlock(shm);
	if (total)
		*total = all;
	return (int)n;
}
