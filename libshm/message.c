// SPDX-License-Identifier: MIT
/*
 * Messages as their holders see them: the reference a receiver holds on a
 * heap payload (a point-to-point message's count in its block header, a
 * broadcast message's holder bit), the mark that makes a received payload
 * its receiver's for a reclaim, and shmipc_msg_ref()/shmipc_msg_release().
 * Inline payloads (up to 64 bytes) are copies and hold nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Drops one reference on the payload at @off (0: inline, nothing to do). */
int shmipc_payload_put(struct shmipc *shm, uint64_t off)
{
	_Atomic uint32_t *refs;
	uint32_t old;

	if (!off)
		return 0;
	refs = shmipc_block_refs(shm, off);
	if (!refs)
		return -EBADMSG;
	old = atomic_fetch_sub_explicit(refs, 1, memory_order_acq_rel);
	if (old == 1)
		return shmipc_heap_free(shm, off);
	return old ? 0 : -EBADMSG;
}

/* A holder's release: a broadcast subscriber's bit, or the reference. */
int shmipc_msg_put(struct shmipc *shm, uint64_t off, uint32_t holder)
{
	if (!off)
		return 0;
	if (holder)
		return shmipc_bcast_put(shm, off, holder - 1, false, 0);
	return shmipc_payload_put(shm, off);
}

/* A received payload becomes @me's: a reclaim finds it if @me dies. */
int shmipc_mark_held(struct shmipc *shm, const struct shmipc_desc *d, uint32_t me)
{
	_Atomic uint32_t *own;

	if (d->size & SHMIPC_DESC_INLINE || !d->offset)
		return 0;
	own = shmipc_block_owner(shm, d->offset);
	if (!own)
		return -EBADMSG;
	atomic_store_explicit(own, SHMIPC_OWN_HELD | me, memory_order_relaxed);
	return 0;
}

/*
 * Extra references live in the process, not the region: the region knows
 * only that this peer holds the message, so a reclaim drops exactly what a
 * dead process held. The last local release gives back the shared one.
 */
SHMIPC_API int shmipc_msg_ref(struct shmipc_msg *msg)
{
	struct shmipc *shm;
	unsigned int i, n;

	if (!msg || !msg->shm)
		return -EINVAL;
	if (!msg->offset)	/* inline: the caller's copy is its own */
		return 0;
	shm = msg->shm;
	if (!shmipc_block_refs(shm, msg->offset))
		return -EBADMSG;
	pthread_mutex_lock(&shm->refs_lock);
	n = atomic_load(&shm->nextra);
	for (i = 0; i < n && shm->extra[i].off != msg->offset; i++)
		;
	if (i == n) {
		if (n == shm->extra_cap) {
			unsigned int cap = n ? 2 * n : 16;
			struct shmipc_extra_ref *x = realloc(shm->extra, cap * sizeof(*x));

			if (!x) {
				pthread_mutex_unlock(&shm->refs_lock);
				return -ENOMEM;
			}
			shm->extra = x;
			shm->extra_cap = cap;
		}
		shm->extra[n] = (struct shmipc_extra_ref){ .off = msg->offset };
		atomic_store(&shm->nextra, n + 1);
	}
	shm->extra[i].n++;
	pthread_mutex_unlock(&shm->refs_lock);
	return 0;
}

SHMIPC_API int shmipc_msg_release(struct shmipc_msg *msg)
{
	struct shmipc *shm;

	if (!msg || !msg->shm)
		return -EINVAL;
	shm = msg->shm;
	if (msg->offset && atomic_load_explicit(&shm->nextra, memory_order_relaxed)) {
		unsigned int i, n;

		pthread_mutex_lock(&shm->refs_lock);
		n = atomic_load(&shm->nextra);
		for (i = 0; i < n; i++) {
			if (shm->extra[i].off != msg->offset)
				continue;
			if (!--shm->extra[i].n) {
				shm->extra[i] = shm->extra[n - 1];
				atomic_store(&shm->nextra, n - 1);
			}
			pthread_mutex_unlock(&shm->refs_lock);
			return 0;
		}
		pthread_mutex_unlock(&shm->refs_lock);
	}
	return shmipc_msg_put(shm, msg->offset, msg->holder);
}
