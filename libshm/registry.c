// SPDX-License-Identifier: MIT
/*
 * The registry: a fixed table of named heap blocks in the region, so that
 * processes can find what others created. Generic: a kind above it (a
 * channel, endpoint.c) registers hooks that say whether an entry is still
 * in use and what to give back before its block is freed. Operations run
 * under the registry lock (a region lock whose holder is known); the heap
 * lock nests inside it, never the other way round.
 *
 * Crash safety. Each operation ends in one store that commits it:
 *  - create allocates the block reserved by its peer, fills a FREE slot,
 *    stores LIVE with the name's reference and the creator's (the commit),
 *    then makes the block the region's; dying before the commit leaves the
 *    slot FREE and the block reserved by a dead peer, which its reclaim
 *    frees; dying after it leaves a reserved block that a LIVE entry names,
 *    which the reclaim keeps (reclaim.c counts entries' blocks as referred
 *    to, like queued payloads);
 *  - take, release and remove change state and references together, in one
 *    64-bit store;
 *  - dropping the last reference stores (REMOVED, 0), then lets the kind
 *    give back what the block still holds, then frees the slot, then frees
 *    the block: a holder dying after the first store leaves (REMOVED, 0),
 *    which the next holder of the lock finishes (shmipc_registry_recover());
 *    dying after the third leaks the block rather than risk freeing one that
 *    was since reallocated.
 *
 * Every entry is read once into locals and checked before use (shared.h):
 * a known state, a NUL in the name, the block inside the heap. An entry that
 * does not check out is skipped by lookups and gives -EFAULT when named.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define ID_INDEX_BITS	20	/* capacity is at most 65536 */
#define ID_INDEX_MASK	((1u << ID_INDEX_BITS) - 1)

static struct shmipc_hooks kinds = SHMIPC_HOOKS_INIT;

void shmipc_registry_kind(const struct shmipc_kind *k)
{
	shmipc_hooks_add(&kinds, k);
}

static const struct shmipc_kind *kind_of(uint32_t kind)
{
	unsigned int i, n = shmipc_hooks_count(&kinds);

	for (i = 0; i < n; i++)
		if (((const struct shmipc_kind *)kinds.item[i])->kind == kind)
			return kinds.item[i];
	return NULL;
}

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

/* A 32-bit tag naming entry @id (slot and generation), never 0. */
uint32_t shmipc_registry_tag(uint64_t id)
{
	return (uint32_t)((id >> ID_INDEX_BITS) & 0x7fff) << 17 |
	       (uint32_t)((id & ID_INDEX_MASK) + 1);
}

static void entry_store_sr(struct shmipc *shm, uint32_t i, uint64_t sr)
{
	atomic_store(&shm->entries[i].state_refs, sr);
}

/*
 * Copies entry @i out if it checks out: a known state, a NUL in the name,
 * the block inside the heap. -ENOENT for a free slot.
 */
static int entry_read(struct shmipc *shm, uint32_t i, struct shmipc_buffer *out)
{
	const struct shmipc_reg_entry *e = &shm->entries[i];
	uint64_t sr = atomic_load(&((struct shmipc_reg_entry *)e)->state_refs);
	uint64_t off = shm_ld64(&e->offset), size = shm_ld64(&e->size);
	uint64_t gen = shm_ld64(&e->generation);
	uint32_t state = sr_state(sr);

	if (state != SHMIPC_REG_LIVE && state != SHMIPC_REG_REMOVED)
		return -ENOENT;
	memcpy(out->name, e->name, sizeof(out->name));
	if (!memchr(out->name, 0, sizeof(out->name)) ||
	    (!sr_refs(sr) && state == SHMIPC_REG_LIVE) || !size ||
	    !shm_range_ok(off, size, shm->heap_off, shm->heap_end))
		return -EFAULT;
	out->kind = shm_ld32(&e->kind);
	out->creator_pid = shm_ld32(&e->creator);
	out->offset = off;
	out->size = size;
	out->refs = sr_refs(sr);
	out->state = state;
	out->id = gen << ID_INDEX_BITS | i;
	return 0;
}

/* Frees the slot of @b, then its block (in that order, see the top),
 * unless its kind says it is still in use. */
static void release_slot(struct shmipc *shm, const struct shmipc_buffer *b)
{
	const struct shmipc_kind *k = kind_of(b->kind);
	uint32_t i = (uint32_t)(b->id & ID_INDEX_MASK);

	if (k && k->in_use && k->in_use(shm, b))
		return;
	if (k && k->drain)
		k->drain(shm, b);
	entry_store_sr(shm, i, sr_make(SHMIPC_REG_FREE, 0));
	shmipc_heap_free(shm, b->offset);	/* -EINVAL for a bad offset: nothing to free */
}

/* Finishes every removal whose last holder died or left. The lock is held. */
void shmipc_registry_recover(struct shmipc *shm)
{
	struct shmipc_buffer b;
	uint32_t i;

	for (i = 0; i < shm->reg_capacity; i++)
		if (!entry_read(shm, i, &b) && b.state == SHMIPC_REG_REMOVED && !b.refs)
			release_slot(shm, &b);
}

int shmipc_registry_lock(struct shmipc *shm)
{
	bool recovered;
	int err = shmipc_lock_acquire(shm, &shm->reg->lock, shm->token, &recovered);

	if (!err && recovered)
		shmipc_registry_recover(shm);
	return err;
}

void shmipc_registry_unlock(struct shmipc *shm)
{
	shmipc_lock_release(shm, &shm->reg->lock);
}

/* Entry @i, for the reclaim driver (the lock is held). */
int shmipc_registry_get(struct shmipc *shm, uint32_t i, struct shmipc_buffer *out)
{
	return i < shm->reg_capacity ? entry_read(shm, i, out) : -ENOENT;
}

/* The slot of the LIVE entry named @name, or -ENOENT. */
static int find_live(struct shmipc *shm, const char *name, struct shmipc_buffer *out)
{
	uint32_t i;

	for (i = 0; i < shm->reg_capacity; i++)
		if (!entry_read(shm, i, out) && out->state == SHMIPC_REG_LIVE &&
		    !strncmp(out->name, name, sizeof(out->name)))
			return (int)i;
	return -ENOENT;
}

void shmipc_registry_init(struct shmipc *shm, const struct shmipc_parts *p)
{
	struct shmipc_reg_hdr *r = (struct shmipc_reg_hdr *)(shm->base + p->registry_off);

	/* The region's zeroed pages are already FREE entries. */
	r->capacity = p->registry_capacity;
	r->generation = 0;
	r->magic = SHMIPC_REG_MAGIC;
}

int shmipc_registry_validate(struct shmipc *shm, const struct shmipc_parts *p)
{
	struct shmipc_reg_hdr *r = shmipc_span(shm, p->registry_off, p->registry_len);

	if (!r || shm_ld32(&r->magic) != SHMIPC_REG_MAGIC ||
	    shm_ld32(&r->capacity) != p->registry_capacity)
		return -EPROTO;
	shm->reg = r;
	shm->entries = (struct shmipc_reg_entry *)(r + 1);
	shm->reg_capacity = p->registry_capacity;
	return 0;
}

/*
 * Creates entry @name of @kind with a block of @size bytes aligned to
 * @align and @refs references; @init, when given, fills the block before the
 * entry is committed, so nobody can find it before it is complete.
 */
int shmipc_registry_create(struct shmipc *shm, const char *name, uint32_t kind,
			   size_t size, size_t align, uint32_t refs,
			   void (*init)(void *data, size_t size, const void *arg),
			   const void *arg, struct shmipc_buffer *out)
{
	struct shmipc_reg_entry *e;
	struct shmipc_buffer cur;
	struct shmipc_blk blk;
	uint64_t off, gen;
	uint32_t i;
	int err;

	err = shmipc_name_check(name);
	if (err)
		return err;
	if (!size)
		return -EINVAL;
	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	if (find_live(shm, name, &cur) >= 0) {
		err = -EEXIST;
		goto unlock;
	}
	for (i = 0; i < shm->reg_capacity; i++)
		if (sr_state(atomic_load(&shm->entries[i].state_refs)) == SHMIPC_REG_FREE)
			break;
	if (i == shm->reg_capacity) {
		err = -ENOSPC;
		goto unlock;
	}
	err = shmipc_block_alloc(shm, size, align, SHMIPC_OWN_RESV, &off);
	if (err)
		goto unlock;
	if (init)
		init(shm->base + off, size, arg);
	e = &shm->entries[i];
	gen = shm_ld64(&shm->reg->generation) + 1;
	shm_st64(&shm->reg->generation, gen);
	memset(e->name, 0, sizeof(e->name));
	strcpy(e->name, name);
	shm_st32(&e->kind, kind);
	shm_st32(&e->creator, shmipc_self_pid());
	shm_st64(&e->offset, off);
	shm_st64(&e->size, size);
	shm_st64(&e->generation, gen);
	entry_store_sr(shm, i, sr_make(SHMIPC_REG_LIVE, refs));	/* commit */
	/* The region's now (see the top). */
	if (!shmipc_heap_block(shm, off, &blk))
		atomic_store(blk.owner, SHMIPC_OWN_PLAIN | shm->token);
	memset(out, 0, sizeof(*out));
	strcpy(out->name, name);
	out->kind = kind;
	out->creator_pid = shmipc_self_pid();
	out->offset = off;
	out->size = size;
	out->refs = refs;
	out->state = SHMIPC_REG_LIVE;
	out->id = gen << ID_INDEX_BITS | i;
unlock:
	shmipc_registry_unlock(shm);
	return err;
}

/* find and take: @take adds the caller's reference. */
int shmipc_registry_lookup(struct shmipc *shm, const char *name,
			   struct shmipc_buffer *out, bool take)
{
	int i, err;

	err = shmipc_name_check(name);
	if (err)
		return err;
	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	i = find_live(shm, name, out);
	if (i < 0) {
		err = i;
	} else if (take) {
		if (out->refs == UINT32_MAX)
			err = -EOVERFLOW;
		else
			entry_store_sr(shm, (uint32_t)i,
				       sr_make(SHMIPC_REG_LIVE, ++out->refs));
	}
	shmipc_registry_unlock(shm);
	return err;
}

/* Runs @fn under the registry lock on the LIVE entry @name. */
int shmipc_registry_with(struct shmipc *shm, const char *name, shmipc_entry_fn fn,
			 void *arg, struct shmipc_buffer *out)
{
	int i, err;

	err = shmipc_name_check(name);
	if (err)
		return err;
	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	i = find_live(shm, name, out);
	err = i < 0 ? i : fn(shm, out, arg);
	shmipc_registry_unlock(shm);
	return err;
}

/*
 * Runs @fn under the registry lock on entry @id, live or removed, if it is
 * still that entry (not a later one in its slot); then, if it is unnamed
 * and unreferenced, lets it go (release_slot(): its kind decides whether it
 * is still in use). For leaving a channel.
 */
int shmipc_registry_with_id(struct shmipc *shm, uint64_t id, shmipc_entry_fn fn,
			    void *arg)
{
	uint32_t i = (uint32_t)(id & ID_INDEX_MASK);
	struct shmipc_buffer cur;
	int err;

	if (i >= shm->reg_capacity)
		return -EINVAL;
	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	err = entry_read(shm, i, &cur);
	if (!err && cur.id != id)
		err = -EINVAL;
	if (!err)
		err = fn(shm, &cur, arg);
	if (!err && cur.state == SHMIPC_REG_REMOVED && !cur.refs)
		release_slot(shm, &cur);
	shmipc_registry_unlock(shm);
	return err;
}

int shmipc_registry_release(struct shmipc *shm, const struct shmipc_buffer *buf)
{
	uint32_t i = (uint32_t)(buf->id & ID_INDEX_MASK);
	struct shmipc_buffer cur;
	int err;

	if (i >= shm->reg_capacity)
		return -EINVAL;
	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	err = entry_read(shm, i, &cur);
	if (err || cur.id != buf->id || !cur.refs ||
	    (cur.state == SHMIPC_REG_LIVE && cur.refs < 2)) {
		err = err == -EFAULT ? err : -EINVAL;	/* stale or not taken */
		goto unlock;
	}
	entry_store_sr(shm, i, sr_make(cur.state, cur.refs - 1));
	cur.refs--;
	if (!cur.refs)
		release_slot(shm, &cur);
unlock:
	shmipc_registry_unlock(shm);
	return err;
}

/* Drops the name of entry @b (of kind *@arg, if not 0), under the lock. */
static int remove_name(struct shmipc *shm, const struct shmipc_buffer *b, void *arg)
{
	uint32_t kind = *(const uint32_t *)arg;
	struct shmipc_buffer cur = *b;

	if (kind && b->kind != kind)
		return -EINVAL;
	cur.state = SHMIPC_REG_REMOVED;
	cur.refs = b->refs - 1;
	entry_store_sr(shm, (uint32_t)(b->id & ID_INDEX_MASK),
		       sr_make(SHMIPC_REG_REMOVED, cur.refs));		/* commit */
	if (!cur.refs)
		release_slot(shm, &cur);
	return 0;
}

int shmipc_registry_remove(struct shmipc *shm, const char *name, uint32_t kind)
{
	struct shmipc_buffer cur;

	return shmipc_registry_with(shm, name, remove_name, &kind, &cur);
}

/* Entries of @kind (every entry with @any), like shmipc_buffer_list(). */
int shmipc_registry_list(struct shmipc *shm, uint32_t kind, bool any,
			 struct shmipc_buffer *bufs, unsigned int cap,
			 unsigned int *total)
{
	unsigned int n = 0, all = 0;
	struct shmipc_buffer b;
	uint32_t i;
	int err;

	err = shmipc_registry_lock(shm);
	if (err)
		return err;
	for (i = 0; i < shm->reg_capacity; i++) {
		if (entry_read(shm, i, &b) || (!any && b.kind != kind))
			continue;
		all++;
		if (n < cap)
			bufs[n++] = b;
	}
	shmipc_registry_unlock(shm);
	if (total)
		*total = all;
	return (int)n;
}
