// SPDX-License-Identifier: MIT
/*
 * Regions: picking a backend, mapping the region between two guard pages,
 * the header, and the claim that lets exactly one process lay a new region
 * out. What goes in each part is the part's own file's (peer.c, heap.c,
 * registry.c); the API edge (api.c) calls them in turn.
 *
 * The initialization claim. Of many processes opening a new region at once,
 * exactly one lays it out: the one that holds the backend's claim (kmod:
 * its attachment, which dies with it; posix: an OFD lock) and moves the
 * state word from FRESH, or from the id of a claimer that is no longer
 * alive, to its own id. The others sleep on the word until it reads READY.
 * Everything the initializer writes happens before its release store of
 * READY, which an opener loads with acquire before it reads the header.
 *
 * The header is read once, at open, and checked (shared.h, rules 1-3): the
 * parts' offsets must be in order, aligned and inside the mapping, and the
 * size it records must be the size of the object mapped, so a region that a
 * peer truncated (posix) is refused here rather than faulting later.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define MIN_HEAP		4096u
#define MAX_REGION		(1ull << TLSF_FL_MAX)
#define INIT_POLL_NS		10000000

#define ALIGN_UP(x, a)		(((x) + (a) - 1) & ~((uint64_t)(a) - 1))

int shmipc_backend_pick(enum shmipc_backend b,
			const struct shmipc_backend_ops **ops)
{
	const char *env;

	if (b == SHMIPC_BACKEND_AUTO) {
		env = getenv("SHMIPC_BACKEND");
		if (env && *env) {
			if (!strcmp(env, "kmod"))
				b = SHMIPC_BACKEND_KMOD;
			else if (!strcmp(env, "posix"))
				b = SHMIPC_BACKEND_POSIX;
			else
				return -EINVAL;	/* unknown backend name */
		} else {
			b = access("/dev/shmipc", F_OK) ? SHMIPC_BACKEND_POSIX :
							  SHMIPC_BACKEND_KMOD;
		}
	}
	switch (b) {
	case SHMIPC_BACKEND_KMOD:
		*ops = &shmipc_backend_kmod;
		return 0;
	case SHMIPC_BACKEND_POSIX:
		*ops = &shmipc_backend_posix;
		return 0;
	default:
		return -EINVAL;
	}
}

/* 1 to 63 printable ASCII bytes other than '/' and space. */
int shmipc_name_check(const char *name)
{
	size_t len, i;

	if (!name)
		return -EINVAL;
	len = strnlen(name, 64);
	if (!len || len == 64)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e ||
		    name[i] == '/')
			return -EINVAL;
	return 0;
}

/*
 * Opens the region through the backend and maps it between two PROT_NONE
 * guard pages: an access just outside the region faults at once instead of
 * landing in whatever memory happens to follow it.
 */
int shmipc_region_map(struct shmipc *shm, const char *name, size_t size,
		      unsigned int mode, unsigned int flags, bool *created)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *map, *base;
	int err;

	if (size > MAX_REGION)
		return -E2BIG;
	err = shm->ops->open(shm, name, size, mode, flags, created);
	if (err)
		return err;
	err = -EPROTO;
	if (shm->size < sizeof(struct shmipc_hdr) || shm->size > MAX_REGION)
		goto close;
	map = mmap(NULL, shm->size + 2 * page, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		goto close;
	}
	base = mmap((char *)map + page, shm->size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_FIXED, shm->fd, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		munmap(map, shm->size + 2 * page);
		goto close;
	}
	shm->map = map;
	shm->map_len = shm->size + 2 * page;
	shm->base = base;
	shm->hdr = base;
	return 0;

close:
	shm->ops->close(shm);
	if (*created)
		shm->ops->unlink(name);
	*created = false;
	return err;
}

void shmipc_region_unmap(struct shmipc *shm)
{
	if (shm->map)
		munmap(shm->map, shm->map_len);
	shm->map = NULL;
	shm->base = NULL;
	shm->ops->close(shm);
}

/*
 * Returns 1 when the caller holds the initialization claim and must lay the
 * region out (then shmipc_region_publish()), 0 when it is READY. See the
 * top of the file.
 */
int shmipc_region_claim(struct shmipc *shm, unsigned int timeout_ms)
{
	int64_t deadline = shmipc_deadline((int)(timeout_ms > INT32_MAX ?
						 INT32_MAX : timeout_ms));
	_Atomic uint32_t *state = &shm->hdr->state;

	for (;;) {
		uint32_t st = atomic_load_explicit(state, memory_order_acquire);
		uint32_t id;
		int err;

		if (st == SHMIPC_STATE_READY)
			return 0;
		if (st != SHMIPC_STATE_FRESH && !shm_token_ok(st))
			return -EPROTO;		/* not a shmipc region */
		if (st == SHMIPC_STATE_FRESH || !shm->ops->init_alive(shm, st)) {
			err = shm->ops->init_claim(shm, &id);
			if (!err) {
				if (atomic_compare_exchange_strong(state, &st, id))
					return 1;
				shm->ops->init_done(shm);
				continue;
			}
			if (err != -EBUSY)
				return err;
		}
		if (shmipc_expired(deadline))
			return -ETIMEDOUT;
		shm->ops->wait(shm, state, st, shmipc_sooner(deadline, INIT_POLL_NS),
			       NULL);
	}
}

/*
 * Places the parts (header, heap control, peer table, registry, heap) and
 * writes their offsets in the header; the caller holds the claim and then
 * initializes each part. A previous claimer may have died half-way, so
 * everything but the state word starts from zero.
 */
int shmipc_region_layout(struct shmipc *shm, uint32_t registry_cap,
			 struct shmipc_parts *p)
{
	struct shmipc_hdr *hdr = shm->hdr;

	if (registry_cap > SHMIPC_REG_MAX)
		return -EINVAL;
	p->heap_ctl_off = ALIGN_UP(sizeof(*hdr), 64);
	p->heap_ctl_len = sizeof(struct shmipc_heap_ctl);
	p->peers_off = ALIGN_UP(p->heap_ctl_off + p->heap_ctl_len, 64);
	p->peers_len = (uint64_t)SHMIPC_PEERS * sizeof(struct shmipc_peer_rec);
	p->peers_capacity = SHMIPC_PEERS;
	p->registry_off = p->peers_off + p->peers_len;
	p->registry_capacity = registry_cap;
	p->registry_len = sizeof(struct shmipc_reg_hdr) +
			  (uint64_t)registry_cap * sizeof(struct shmipc_reg_entry);
	p->heap_off = ALIGN_UP(p->registry_off + p->registry_len, 64);
	if (p->heap_off + MIN_HEAP > shm->size)
		return -EINVAL;
	p->heap_size = shm->size - p->heap_off;

	shm_st64(&hdr->magic, 0);
	shm_st32(&hdr->version, 0);
	memset(&hdr->size, 0, sizeof(*hdr) - offsetof(struct shmipc_hdr, size));
	memset(shm->base + p->heap_ctl_off, 0, p->heap_off - p->heap_ctl_off);
	hdr->size = shm->size;
	hdr->heap_ctl_off = p->heap_ctl_off;
	hdr->peers_off = p->peers_off;
	hdr->peers_capacity = p->peers_capacity;
	hdr->registry_off = p->registry_off;
	hdr->registry_capacity = registry_cap;
	hdr->heap_off = p->heap_off;
	hdr->heap_size = p->heap_size;
	return 0;
}

/* Ends the claim: READY when @ok, else FRESH again for another to try. */
void shmipc_region_publish(struct shmipc *shm, bool ok)
{
	struct shmipc_hdr *hdr = shm->hdr;

	if (ok) {
		shm_st32(&hdr->version, SHMIPC_LAYOUT_VERSION);
		shm_st64(&hdr->magic, SHMIPC_HDR_MAGIC);
	}
	/* Publish: everything above happens-before a reader's acquire of READY. */
	atomic_store_explicit(&hdr->state, ok ? SHMIPC_STATE_READY : SHMIPC_STATE_FRESH,
			      memory_order_release);
	shm->ops->init_done(shm);
	shm->ops->wake(shm, &hdr->state, UINT32_MAX);
}

/* Reads the header once, checks every field (see the top), fills @p. */
int shmipc_region_validate(struct shmipc *shm, struct shmipc_parts *p)
{
	const struct shmipc_hdr *hdr = shm->hdr;
	uint64_t magic = shm_ld64(&hdr->magic), size = shm_ld64(&hdr->size);
	uint32_t version = shm_ld32(&hdr->version);
	uint64_t end;

	if (magic != SHMIPC_HDR_MAGIC)
		return -EPROTO;
	if (version != SHMIPC_LAYOUT_VERSION)
		return -EPROTONOSUPPORT;
	if (size != shm->size)
		return -EPROTO;		/* truncated, or not the size it was made */
	p->heap_ctl_off = shm_ld64(&hdr->heap_ctl_off);
	p->peers_off = shm_ld64(&hdr->peers_off);
	p->peers_capacity = shm_ld32(&hdr->peers_capacity);
	p->registry_off = shm_ld64(&hdr->registry_off);
	p->registry_capacity = shm_ld32(&hdr->registry_capacity);
	p->heap_off = shm_ld64(&hdr->heap_off);
	p->heap_size = shm_ld64(&hdr->heap_size);
	if (p->peers_capacity != SHMIPC_PEERS ||
	    p->registry_capacity > SHMIPC_REG_MAX)
		return -EPROTO;
	p->heap_ctl_len = sizeof(struct shmipc_heap_ctl);
	p->peers_len = (uint64_t)SHMIPC_PEERS * sizeof(struct shmipc_peer_rec);
	p->registry_len = sizeof(struct shmipc_reg_hdr) +
			  (uint64_t)p->registry_capacity * sizeof(struct shmipc_reg_entry);
	/* In order, aligned, none overlapping the next, all inside the region. */
	end = p->heap_off;
	if (p->heap_ctl_off % 64 || p->peers_off % 64 || p->registry_off % 64 ||
	    p->heap_off % 64 ||
	    p->heap_ctl_off < sizeof(*hdr) ||
	    !shm_range_ok(p->heap_ctl_off, p->heap_ctl_len, 0, p->peers_off) ||
	    !shm_range_ok(p->peers_off, p->peers_len, 0, p->registry_off) ||
	    !shm_range_ok(p->registry_off, p->registry_len, 0, end) ||
	    end > size || p->heap_size != size - end)
		return -EPROTO;
	return 0;
}
